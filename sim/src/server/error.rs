//! API errors rendered as `meta.k8s.io/v1` `Status` objects with the real HTTP codes.

use serde_json::{Value, json};

use crate::server::schema::{FieldError, Rejection, field};

/// Identifies the object an error is about, as shown in `Status.details`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub group: String,
    /// Resource (plural) for NotFound/AlreadyExists/Conflict, kind for Invalid — as the real server does.
    pub kind: String,
    pub name: String,
}

impl Target {
    pub fn new(group: &str, kind: &str, name: &str) -> Self {
        Target {
            group: group.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        }
    }

    /// `Deployment.apps` / `ConfigMap`: the kind as Invalid messages qualify it.
    fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// `deployments.apps "x"` / `configmaps "x"` as used in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            format!("{} {:?}", self.kind, self.name)
        } else {
            format!("{}.{} {:?}", self.kind, self.group, self.name)
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{} not found", .0.qualified())]
    NotFound(Target),
    #[error("{} already exists", .0.qualified())]
    AlreadyExists(Target),
    #[error("Operation cannot be fulfilled on {}: {}", .0.qualified(), .1)]
    Conflict(Target, String),
    #[error("{}.{} {:?} is invalid: {}", .0.kind, .0.group, .0.name, .1)]
    InvalidGrouped(Target, String),
    #[error("{} {:?} is invalid: {}", .0.kind, .0.name, .1)]
    Invalid(Target, String),
    /// 422 with one cause per field error (`Kind.group "x" is invalid: [a, b]`).
    #[error("{} {:?} is invalid: {}", .0.qualified_kind(), .0.name, field::aggregate(.1))]
    InvalidFields(Target, Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    /// 422 without a specific object, e.g. a JSON patch whose `test` operation failed.
    #[error("{0}")]
    Unprocessable(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("too old resource version: {0} ({1})")]
    Expired(u64, u64),
    /// A list's `continue` token from before the compacted history; carries a token that
    /// continues inconsistently, at the latest version.
    #[error(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
    )]
    ExpiredContinue(String),
    #[error("{0}")]
    Internal(String),
    /// A 500 without a reason, as the real server answers errors that are not API statuses
    /// (server-side apply's typed conversion of the applied configuration).
    #[error("{0}")]
    Unclassified(String),
    #[error("{0}")]
    ServiceUnavailable(String),
}

impl ApiError {
    /// Invalid with the kind spelled the way the real server does (`Deployment.apps "x" is invalid`).
    pub fn invalid(group: &str, kind: &str, name: &str, msg: impl Into<String>) -> Self {
        let t = Target::new(group, kind, name);
        if group.is_empty() {
            ApiError::Invalid(t, msg.into())
        } else {
            ApiError::InvalidGrouped(t, msg.into())
        }
    }

    /// The status of a body the schema refused: `kind`/`version` as the body names them,
    /// `name` the object's.
    pub fn rejected(group: &str, kind: &str, version: &str, name: &str, r: Rejection) -> Self {
        match r {
            Rejection::Decode(m) => ApiError::BadRequest(format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: {m}"
            )),
            Rejection::Patch { patched, message } => ApiError::InvalidFields(
                Target::default(),
                vec![FieldError::invalid(
                    "patch",
                    &Value::String(patched),
                    message,
                )],
            ),
            Rejection::Typed(m) => ApiError::Unclassified(m),
            Rejection::Invalid(errors) => {
                ApiError::InvalidFields(Target::new(group, kind, name), errors)
            }
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) | ApiError::NoRoute => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(..) => 409,
            ApiError::Invalid(..)
            | ApiError::InvalidGrouped(..)
            | ApiError::InvalidFields(..)
            | ApiError::Unprocessable(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Expired(..) | ApiError::ExpiredContinue(_) => 410,
            ApiError::Internal(_) | ApiError::Unclassified(_) => 500,
            ApiError::ServiceUnavailable(_) => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(..) => "Conflict",
            ApiError::Invalid(..)
            | ApiError::InvalidGrouped(..)
            | ApiError::InvalidFields(..)
            | ApiError::Unprocessable(_) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Expired(..) | ApiError::ExpiredContinue(_) => "Expired",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unclassified(_) => "",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
        }
    }

    fn target(&self) -> Option<&Target> {
        match self {
            ApiError::NotFound(t)
            | ApiError::AlreadyExists(t)
            | ApiError::Conflict(t, _)
            | ApiError::Invalid(t, _)
            | ApiError::InvalidGrouped(t, _)
            | ApiError::InvalidFields(t, _) => Some(t),
            _ => None,
        }
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if self.reason().is_empty()
            && let Some(o) = status.as_object_mut()
        {
            o.remove("reason");
        }
        if let ApiError::ExpiredContinue(token) = self {
            status["metadata"] = json!({"continue": token});
        }
        if matches!(self, ApiError::NoRoute | ApiError::MethodNotAllowed) {
            // The real server's generic 404 and 405 carry empty details.
            status["details"] = json!({});
        }
        if let Some(t) = self.target() {
            let mut details = json!({"name": t.name, "kind": t.kind});
            if !t.group.is_empty() {
                details["group"] = json!(t.group);
            }
            if let ApiError::InvalidFields(_, errors) = self {
                // Empty names and kinds are omitted, as for the patch as a whole (` "" is invalid`).
                details = json!({});
                for (k, v) in [("name", &t.name), ("group", &t.group), ("kind", &t.kind)] {
                    if !v.is_empty() {
                        details[k] = json!(v);
                    }
                }
                details["causes"] = errors
                    .iter()
                    .map(
                        |e| json!({"reason": e.ty.reason(), "message": e.body(), "field": e.field}),
                    )
                    .collect();
            }
            if let ApiError::Invalid(_, m) | ApiError::InvalidGrouped(_, m) = self {
                let field = m.split(':').next().unwrap_or_default();
                details["causes"] =
                    json!([{"reason": "FieldValueInvalid", "message": m, "field": field}]);
            }
            if let ApiError::Conflict(_, m) = self
                && m.starts_with("Apply failed")
            {
                details["causes"] = Value::Array(apply_conflict_causes(m));
            }
            status["details"] = details;
        }
        status
    }
}

/// `FieldManagerConflict` causes from an apply conflict message
/// (`conflict with "m":` headers followed by `- .field` lines).
fn apply_conflict_causes(m: &str) -> Vec<Value> {
    let mut manager = "";
    let mut causes = Vec::new();
    for line in m.lines() {
        if let Some(idx) = line.find("conflict with ") {
            manager = line[idx..].trim_end_matches(':');
        } else if let Some(field) = line.strip_prefix("- ") {
            causes.push(
                json!({"reason": "FieldManagerConflict", "message": manager, "field": field}),
            );
        }
    }
    causes
}

pub type ApiResult<T> = Result<T, ApiError>;
