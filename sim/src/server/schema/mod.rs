//! Schemas of served kinds and what the real API server does with them to request bodies:
//! decoding built-in kinds into their Go types (unknown fields, type errors), pruning,
//! defaulting and validating custom resources, and the typed conversion of server-side
//! apply configurations.
//!
//! Everything here is a pure function of a compiled [`Schema`] and a JSON value; the verb
//! handlers decide which of them a request goes through and turn a [`Rejection`] into the
//! status the real server answers with.
//!
//! - [`builtin`]: schemas of built-in kinds from k8s-openapi, compiled once per process.
//! - [`structural`]: schemas of custom resources from their CRD.
//! - [`decode`], [`prune`], [`defaults`], [`validate`], [`typed`]: the passes.
//! - [`field`], [`gofmt`]: messages as the real server spells them.

pub mod builtin;
pub mod decode;
pub mod defaults;
pub mod field;
pub mod gofmt;
pub mod node;
pub mod prune;
pub mod structural;
pub mod typed;
pub mod validate;

use std::sync::Arc;

use serde_json::Value;

pub use field::{BadValue, ErrorType, FieldError};
pub use node::Schema;

/// `fieldValidation`: what to do with unknown (and duplicate) fields of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

impl Directive {
    /// The directive of a request; the server defaults to Warn when none is given.
    pub fn parse(param: Option<&str>) -> Result<Self, FieldError> {
        match param.unwrap_or_default() {
            "" | "Warn" => Ok(Directive::Warn),
            "Ignore" => Ok(Directive::Ignore),
            "Strict" => Ok(Directive::Strict),
            other => Err(FieldError::new(
                ErrorType::NotSupported,
                "fieldValidation",
                BadValue::Json(Value::String(other.to_string())),
                r#"supported values: "", "Ignore", "Strict", "Warn""#,
            )),
        }
    }
}

/// Which rules a kind follows.
#[derive(Debug, Clone)]
pub enum KindSchema {
    /// Built-in kinds decode into Go types: unknown fields are dropped, wrong types fail.
    Builtin(Arc<Schema>),
    /// Custom resources are pruned, defaulted and validated against their CRD's schema.
    Custom(Arc<Schema>),
}

impl KindSchema {
    pub fn schema(&self) -> &Schema {
        match self {
            KindSchema::Builtin(s) | KindSchema::Custom(s) => s,
        }
    }
}

/// Why a body was refused, before it is spelled as a Status.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// 400 BadRequest: the body does not decode (`<Kind> in version "v1" cannot be handled
    /// as a <Kind>: ...` is added by the caller, who knows the kind).
    Decode(String),
    /// 422 on the patched object as a whole (`patch: Invalid value: "<json>": <message>`).
    Patch { patched: String, message: String },
    /// 500 of server-side apply's typed conversion (`failed to create typed patch object`).
    Typed(String),
    /// 422 Invalid with one cause per violation.
    Invalid(Vec<FieldError>),
}

/// How the decoded body was changed and what to warn about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// `Warning` headers to send (`unknown field "spec.foo"`).
    pub warnings: Vec<String>,
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn strict(unknown: &[String]) -> String {
    let fields: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {}", gofmt::quote(p)))
        .collect();
    format!("strict decoding error: {}", fields.join(", "))
}

/// Decodes a create or update body in place: drops what the kind does not declare and, for
/// custom resources, applies defaults. Unknown fields are refused, warned about or ignored
/// as the directive says.
pub fn decode_body(
    kind: &KindSchema,
    obj: &mut Value,
    directive: Directive,
) -> Result<Decoded, String> {
    let unknown = match kind {
        KindSchema::Builtin(s) => decode::decode(s, obj)?,
        KindSchema::Custom(s) => {
            let mut unknown = custom_metadata(s, obj)?;
            unknown.extend(prune::prune(s, obj));
            defaults::apply(s, obj);
            unknown
        }
    };
    if unknown.is_empty() {
        return Ok(Decoded::default());
    }
    match directive {
        Directive::Strict => Err(strict(&unknown)),
        Directive::Warn => Ok(Decoded {
            warnings: unknown
                .iter()
                .map(|p| format!("unknown field {}", gofmt::quote(p)))
                .collect(),
        }),
        Directive::Ignore => Ok(Decoded::default()),
    }
}

/// Custom resource metadata is decoded into ObjectMeta on its own, so its type errors name
/// fields relative to it (`ObjectMeta.labels`).
fn custom_metadata(s: &Schema, obj: &mut Value) -> Result<Vec<String>, String> {
    let Some(meta) = s.at("metadata") else {
        return Ok(Vec::new());
    };
    let Some(m) = obj.get_mut("metadata") else {
        return Ok(Vec::new());
    };
    decode::decode_at(s, meta, m, "metadata")
}

/// A patched object (JSON, merge or strategic merge patch) is decoded like a body, but the
/// real server reports failures as a 422 on the patch, showing the patched object (JSON and
/// merge patches) or, given the body of a strategic merge patch, that patch as Go prints a map.
pub fn decode_patched(
    kind: &KindSchema,
    obj: &mut Value,
    directive: Directive,
    smp: Option<&[u8]>,
) -> Result<Decoded, Rejection> {
    let patched = match smp {
        Some(_) => String::new(),
        None => obj.to_string(),
    };
    decode_body(kind, obj, directive).map_err(|message| {
        let patched = match smp.and_then(|b| serde_json::from_slice::<Value>(b).ok()) {
            Some(patch) => gofmt::v(&patch),
            None => patched,
        };
        Rejection::Patch { patched, message }
    })
}

/// The typed conversion of a server-side apply configuration; errors as one message.
pub fn check_apply(
    kind: &KindSchema,
    cfg: &Value,
    keys: typed::ListKeysFn<'_>,
) -> Result<(), String> {
    let errs = typed::errors(kind.schema(), cfg, keys);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(typed::render(&errs))
    }
}

/// Validates a custom resource (after pruning and defaulting); built-in kinds have no
/// schema-driven validation in the real server.
pub fn validate_object(kind: &KindSchema, obj: &Value) -> Result<(), Rejection> {
    let KindSchema::Custom(s) = kind else {
        return Ok(());
    };
    let errs = validate::validate(s, obj);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Invalid(errs))
    }
}

/// Prunes and defaults an object that server-side apply produced for a custom resource
/// (its configuration passed the typed check, but preserved fields may still hide nulls).
pub fn normalize_custom(kind: &KindSchema, obj: &mut Value) {
    if let KindSchema::Custom(s) = kind {
        prune::prune(s, obj);
        defaults::apply(s, obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> KindSchema {
        KindSchema::Builtin(builtin::schema("apps", "Deployment").unwrap())
    }

    #[test]
    fn directives() {
        assert_eq!(Directive::parse(None).unwrap(), Directive::Warn);
        assert_eq!(Directive::parse(Some("Strict")).unwrap(), Directive::Strict);
        assert_eq!(
            Directive::parse(Some("strict")).unwrap_err().to_string(),
            r#"fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
        );
    }

    #[test]
    fn unknown_fields_per_directive() {
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "spec": {"foo": 1, "bar": 2}});
        let mut o = body.clone();
        assert_eq!(
            decode_body(&deployment(), &mut o, Directive::Strict).unwrap_err(),
            r#"strict decoding error: unknown field "spec.bar", unknown field "spec.foo""#
        );
        let mut o = body.clone();
        let d = decode_body(&deployment(), &mut o, Directive::Warn).unwrap();
        assert_eq!(
            d.warnings,
            [r#"unknown field "spec.bar""#, r#"unknown field "spec.foo""#]
        );
        assert_eq!(o["spec"], json!({}));
        let mut o = body.clone();
        assert!(
            decode_body(&deployment(), &mut o, Directive::Ignore)
                .unwrap()
                .warnings
                .is_empty()
        );
        assert_eq!(o["spec"], json!({}));
        let mut o = body;
        match decode_patched(&deployment(), &mut o, Directive::Strict, None).unwrap_err() {
            Rejection::Patch { patched, message } => {
                assert!(patched.contains(r#""foo":1"#));
                assert!(message.starts_with("strict decoding error"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn custom_resources_are_pruned_defaulted_and_validated() {
        let kind = KindSchema::Custom(Arc::new(structural::compile(
            &json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "default": 1}}}}}),
        )));
        let mut o = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"foo": 1}});
        assert_eq!(
            decode_body(&kind, &mut o, Directive::Strict).unwrap_err(),
            r#"strict decoding error: unknown field "spec.foo""#
        );
        let mut o = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"foo": 1}});
        decode_body(&kind, &mut o, Directive::Ignore).unwrap();
        assert_eq!(o["spec"], json!({"replicas": 1}));
        let mut bad = json!({"metadata": {"labels": {"a": true}}});
        assert_eq!(
            decode_body(&kind, &mut bad, Directive::Ignore).unwrap_err(),
            "json: cannot unmarshal bool into Go struct field ObjectMeta.labels of type string"
        );
        assert!(matches!(
            validate_object(&kind, &json!({"spec": {"replicas": "x"}})),
            Err(Rejection::Invalid(_))
        ));
        assert!(validate_object(&deployment(), &json!({"spec": {"replicas": "x"}})).is_ok());
    }
}
