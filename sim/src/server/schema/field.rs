//! Field errors as the real server words them (`spec.replicas: Invalid value: "string": ...`)
//! and their aggregation into one message (`[a, b]` when there are several).

use serde_json::Value;

use super::gofmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    Duplicate,
}

impl ErrorType {
    /// The `reason` of the Status cause.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::Duplicate => "FieldValueDuplicate",
        }
    }

    fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::Duplicate => "Duplicate value",
        }
    }
}

/// The offending value of a field error.
#[derive(Debug, Clone, PartialEq)]
pub enum BadValue {
    Omitted,
    Json(Value),
    /// A Go `int` (item counts), printed with `%#v`.
    Count(i64),
    /// A Go `[]string` (repeatable query parameters), printed with `%#v`.
    Strings(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub ty: ErrorType,
    pub field: String,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub fn new(ty: ErrorType, field: &str, value: BadValue, detail: impl Into<String>) -> Self {
        FieldError {
            ty,
            field: field.to_string(),
            value,
            detail: detail.into(),
        }
    }

    pub fn required(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::Omitted, detail)
    }

    pub fn invalid(field: &str, value: &Value, detail: impl Into<String>) -> Self {
        Self::new(
            ErrorType::Invalid,
            field,
            BadValue::Json(value.clone()),
            detail,
        )
    }

    /// The message without the field (the Status cause message).
    pub fn body(&self) -> String {
        let mut s = match (&self.ty, &self.value) {
            (ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong, _)
            | (_, BadValue::Omitted) => self.ty.text().to_string(),
            (_, BadValue::Count(n)) => format!("{}: {n}", self.ty.text()),
            (_, BadValue::Strings(v)) => {
                let items: Vec<String> = v.iter().map(|s| gofmt::quote(s)).collect();
                format!("{}: []string{{{}}}", self.ty.text(), items.join(", "))
            }
            (_, BadValue::Json(v)) => {
                let shown = match v {
                    Value::Null => gofmt::quote("null"),
                    Value::String(s) => gofmt::quote(s),
                    Value::Bool(_) | Value::Number(_) => gofmt::v(v),
                    _ => gofmt::sharp_v(v),
                };
                format!("{}: {shown}", self.ty.text())
            }
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// One message for a list of errors, without duplicates: the message itself for one,
/// `[a, b]` for several.
pub fn aggregate(errors: &[FieldError]) -> String {
    let mut seen = std::collections::HashSet::new();
    let msgs: Vec<String> = errors
        .iter()
        .map(ToString::to_string)
        .filter(|m| seen.insert(m.clone()))
        .collect();
    match msgs.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", msgs.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages() {
        let e = FieldError::new(
            ErrorType::TypeInvalid,
            "spec.replicas",
            BadValue::Json(json!("string")),
            "spec.replicas in body must be of type integer: \"string\"",
        );
        assert_eq!(
            e.to_string(),
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        );
        assert_eq!(
            FieldError::required("spec.foo", "").to_string(),
            "spec.foo: Required value"
        );
        let too_many = FieldError::new(
            ErrorType::TooMany,
            "spec.items",
            BadValue::Count(4),
            "must have at most 3 items",
        );
        assert_eq!(
            too_many.to_string(),
            "spec.items: Too many: 4: must have at most 3 items"
        );
        let long = FieldError::new(
            ErrorType::TooLong,
            "spec.name",
            BadValue::Omitted,
            "may not be more than 5 bytes",
        );
        assert_eq!(
            long.to_string(),
            "spec.name: Too long: may not be more than 5 bytes"
        );
        let arr = FieldError::invalid("spec.x", &json!(["a"]), "bad");
        assert_eq!(
            arr.to_string(),
            r#"spec.x: Invalid value: []interface {}{"a"}: bad"#
        );
        assert_eq!(aggregate(std::slice::from_ref(&e)), e.to_string());
        assert_eq!(
            aggregate(&[e.clone(), e.clone(), long.clone()]),
            format!("[{e}, {long}]")
        );
    }
}
