//! What decoding a request body into the Go type of a built-in kind does to it: undeclared
//! fields are dropped (and reported, for `fieldValidation` Warn and Strict, as the strict
//! decoder names them: `spec.template.spec.containers[0].foo`), and the first value of the
//! wrong type fails the whole decode with Go's `encoding/json` message.

use base64::Engine;
use serde_json::Value;

use super::join;
use super::node::{NodeId, Schema, Type};

/// The outcome of decoding: the paths of the fields that were dropped.
pub type Unknown = Vec<String>;

/// Decodes `obj` in place against the schema: drops undeclared fields and returns their
/// paths, or the decoder's error message (`json: cannot unmarshal bool into Go struct field
/// ObjectMeta.metadata.labels of type string`).
pub fn decode(schema: &Schema, obj: &mut Value) -> Result<Unknown, String> {
    decode_at(schema, schema.root(), obj, "")
}

/// Decodes a value at `node`, with error paths relative to it (`prefix` is prepended to the
/// paths of dropped fields only).
pub fn decode_at(
    schema: &Schema,
    node: NodeId,
    value: &mut Value,
    prefix: &str,
) -> Result<Unknown, String> {
    let mut d = Decoder {
        schema,
        unknown: Vec::new(),
        error: None,
    };
    let go_struct = schema.node(node).go_struct().to_string();
    d.walk(node, value, prefix.to_string(), "", &go_struct);
    match d.error {
        Some(e) => Err(e),
        None => Ok(d.unknown),
    }
}

struct Decoder<'a> {
    schema: &'a Schema,
    unknown: Vec<String>,
    error: Option<String>,
}

/// The JSON kind names `encoding/json` uses in its messages.
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

/// Whether a JSON number fits a Go integer of this type.
fn fits(n: &serde_json::Number, go_type: &str) -> bool {
    let Some(i) = n.as_i64() else {
        return false;
    };
    match go_type {
        "int32" => i32::try_from(i).is_ok(),
        _ => true,
    }
}

const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// `resource.ParseQuantity` errors.
fn parse_quantity(s: &str) -> Result<(), &'static str> {
    let s = s.trim();
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(split);
    if num.is_empty() {
        return Err(QUANTITY_FORMAT);
    }
    let suffix_ok =
        suffix.trim_start_matches(['e', 'E', 'i', 'n', 'u', 'm', 'k', 'K', 'M', 'G', 'T', 'P']);
    let rest = suffix_ok.strip_prefix(['+', '-']).unwrap_or(suffix_ok);
    if !rest.chars().all(|c| c.is_ascii_digit()) {
        return Err(QUANTITY_FORMAT);
    }
    if num.matches('.').count() > 1 || num == "." {
        return Err("unable to parse numeric part of quantity");
    }
    let known = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    if !known.contains(&suffix) && !exponent {
        return Err("unable to parse quantity's suffix");
    }
    Ok(())
}

/// `base64.StdEncoding.DecodeString` errors.
fn check_base64(s: &str) -> Result<(), String> {
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(_) => Ok(()),
        Err(base64::DecodeError::InvalidByte(at, _)) => {
            Err(format!("illegal base64 data at input byte {at}"))
        }
        Err(_) => {
            let at = s.trim_end_matches('=').len() / 4 * 4;
            Err(format!("illegal base64 data at input byte {at}"))
        }
    }
}

impl Decoder<'_> {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    fn type_error(&mut self, value: &str, go_struct: &str, go_path: &str, go_type: &str) {
        let field = if go_path.is_empty() {
            format!("Go value of type {go_type}")
        } else {
            format!("Go struct field {go_struct}.{go_path} of type {go_type}")
        };
        self.fail(format!("json: cannot unmarshal {value} into {field}"));
    }

    /// `path` names fields as the strict decoder does (with indices), `go_path` as the type
    /// error does (field names only), `go_struct` is the innermost struct being decoded.
    fn walk(&mut self, id: NodeId, v: &mut Value, path: String, go_path: &str, go_struct: &str) {
        let schema = self.schema;
        let node = schema.node(id);
        if v.is_null() {
            return;
        }
        let go_type = node.go_type.as_str();
        match node.ty {
            Type::Any => {}
            Type::String => match v {
                Value::String(s) if node.format.as_deref() == Some("byte") => {
                    if let Err(e) = check_base64(s) {
                        self.fail(e);
                    }
                }
                Value::String(_) => {}
                other => self.type_error(&json_kind(other), go_struct, go_path, go_type),
            },
            Type::Boolean => {
                if !v.is_boolean() {
                    self.type_error(&json_kind(v), go_struct, go_path, go_type);
                }
            }
            Type::Number => {
                if !v.is_number() {
                    self.type_error(&json_kind(v), go_struct, go_path, go_type);
                }
            }
            Type::Integer | Type::IntOrString if node.format.as_deref() != Some("quantity") => {
                match v {
                    Value::String(_) if node.ty == Type::IntOrString => {}
                    Value::Number(n) if fits(n, go_type) => {}
                    Value::Number(n) => {
                        self.type_error(&format!("number {n}"), go_struct, go_path, go_type)
                    }
                    other => self.type_error(&json_kind(other), go_struct, go_path, go_type),
                }
            }
            Type::Integer | Type::IntOrString => {
                let parsed = match v {
                    Value::String(s) => parse_quantity(s),
                    Value::Number(n) => parse_quantity(&n.to_string()),
                    _ => Err(QUANTITY_FORMAT),
                };
                if let Err(e) = parsed {
                    self.fail(e.to_string());
                }
            }
            Type::Array => {
                let Value::Array(items) = v else {
                    self.type_error(&json_kind(v), go_struct, go_path, go_type);
                    return;
                };
                let Some(item) = node.items else { return };
                for (i, x) in items.iter_mut().enumerate() {
                    self.walk(item, x, format!("{path}[{i}]"), go_path, go_struct);
                }
            }
            Type::Object => {
                let Value::Object(map) = v else {
                    self.type_error(&json_kind(v), go_struct, go_path, go_type);
                    return;
                };
                if let Some(values) = node.additional {
                    for (k, x) in map.iter_mut() {
                        self.walk(values, x, join(&path, k), go_path, go_struct);
                    }
                    return;
                }
                let inner = node.go_struct();
                let mut dropped = Vec::new();
                for (k, x) in map.iter_mut() {
                    match node.properties.get(k) {
                        Some(child) => {
                            self.walk(*child, x, join(&path, k), &join(go_path, k), inner)
                        }
                        None if node.preserve_unknown => {}
                        None => dropped.push(k.clone()),
                    }
                }
                for k in dropped {
                    map.remove(&k);
                    self.unknown.push(join(&path, &k));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::schema::builtin;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    }

    #[test]
    fn drops_and_reports_unknown_fields() {
        let s = builtin::schema("apps", "Deployment").unwrap();
        let mut d = deployment();
        d["spec"]["foo"] = json!(1);
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = json!("x");
        d["metadata"]["bogus"] = json!({"a": 1});
        let unknown = decode(&s, &mut d).unwrap();
        assert_eq!(
            unknown,
            [
                "metadata.bogus",
                "spec.template.spec.containers[0].imagePullPolice",
                "spec.foo"
            ]
        );
        assert_eq!(d, deployment());
    }

    #[test]
    fn type_errors_name_the_go_field() {
        let s = builtin::schema("apps", "Deployment").unwrap();
        let mut d = deployment();
        d["spec"]["template"]["metadata"]["labels"]["app"] = json!(true);
        assert_eq!(
            decode(&s, &mut d).unwrap_err(),
            "json: cannot unmarshal bool into Go struct field ObjectMeta.spec.template.metadata.labels of type string"
        );
        let mut d = deployment();
        d["spec"]["replicas"] = json!(1.5);
        assert_eq!(
            decode(&s, &mut d).unwrap_err(),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"] = json!({"name": "x"});
        assert_eq!(
            decode(&s, &mut d).unwrap_err(),
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "lots"}});
        assert_eq!(decode(&s, &mut d).unwrap_err(), QUANTITY_FORMAT);
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "100m", "memory": 1.5}});
        assert!(decode(&s, &mut d).is_ok());
        // null is the zero value of every Go type.
        let mut d = deployment();
        d["spec"]["replicas"] = Value::Null;
        assert!(decode(&s, &mut d).is_ok());
    }

    #[test]
    fn int_or_string_and_bytes() {
        let svc = builtin::schema("", "Service").unwrap();
        let mut ok = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
        assert!(decode(&svc, &mut ok).is_ok());
        let mut bad = json!({"spec": {"ports": [{"port": 80, "targetPort": true}]}});
        assert_eq!(
            decode(&svc, &mut bad).unwrap_err(),
            "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32"
        );
        let secret = builtin::schema("", "Secret").unwrap();
        let mut ok = json!({"data": {"a": "aGVsbG8="}});
        assert!(decode(&secret, &mut ok).is_ok());
        let mut bad = json!({"data": {"a": "not base64!"}});
        assert_eq!(
            decode(&secret, &mut bad).unwrap_err(),
            "illegal base64 data at input byte 3"
        );
    }

    #[test]
    fn quantities() {
        for ok in ["1", "100m", "1.5Gi", "2e3", "+1k", "0.5"] {
            assert!(parse_quantity(ok).is_ok(), "{ok}");
        }
        for bad in ["lots", "", "1x", "1..5"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }
}
