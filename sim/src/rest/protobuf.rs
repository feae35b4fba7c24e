//! Decoding of the Kubernetes protobuf envelope for the request bodies kubectl's typed
//! commands send (`kubectl create namespace|configmap|secret|serviceaccount|deployment|job|
//! role|rolebinding|clusterrole|clusterrolebinding|service|token`). Only the fields those
//! kinds carry are known; unknown fields are skipped. Responses are always JSON, which
//! clients that offer protobuf also accept.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::server::error::ApiError;

const MAGIC: &[u8] = b"k8s\0";

type Fields = &'static [(u32, &'static str, Kind)];

#[derive(Clone, Copy)]
enum Kind {
    /// Strings, integers and booleans follow JSON `omitempty`: zero values are dropped, as
    /// the protobuf encoding always carries them.
    Str,
    Int,
    Bool,
    /// Pointer fields (`*int32`, `*bool`): zero is a real value.
    OptInt,
    OptBool,
    /// Required integers without `omitempty`.
    ReqInt,
    Msg(fn() -> Fields),
    RepMsg(fn() -> Fields),
    RepStr,
    MapStr,
    MapBytes,
    IntOrString,
    /// Known but not carried over (timestamps the server sets anyway).
    Skip,
}

use Kind::*;

fn object_meta() -> Fields {
    &[
        (1, "name", Str),
        (2, "generateName", Str),
        (3, "namespace", Str),
        (5, "uid", Str),
        (6, "resourceVersion", Str),
        (7, "generation", Int),
        (8, "creationTimestamp", Skip),
        (11, "labels", MapStr),
        (12, "annotations", MapStr),
        (13, "ownerReferences", RepMsg(owner_reference)),
        (14, "finalizers", RepStr),
    ]
}

fn owner_reference() -> Fields {
    &[
        (1, "kind", Str),
        (3, "name", Str),
        (4, "uid", Str),
        (5, "apiVersion", Str),
        (6, "controller", OptBool),
        (7, "blockOwnerDeletion", OptBool),
    ]
}

fn namespace() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(namespace_spec)),
    ]
}

fn namespace_spec() -> Fields {
    &[(1, "finalizers", RepStr)]
}

fn config_map() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "data", MapStr),
        (3, "binaryData", MapBytes),
        (4, "immutable", OptBool),
    ]
}

fn secret() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "data", MapBytes),
        (3, "type", Str),
        (4, "stringData", MapStr),
        (5, "immutable", OptBool),
    ]
}

fn service_account() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (3, "imagePullSecrets", RepMsg(local_object_reference)),
        (4, "automountServiceAccountToken", OptBool),
    ]
}

fn local_object_reference() -> Fields {
    &[(1, "name", Str)]
}

fn token_request() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(token_request_spec)),
    ]
}

fn token_request_spec() -> Fields {
    &[
        (1, "audiences", RepStr),
        (3, "boundObjectRef", Msg(bound_object_reference)),
        (4, "expirationSeconds", OptInt),
    ]
}

fn bound_object_reference() -> Fields {
    &[
        (1, "kind", Str),
        (2, "apiVersion", Str),
        (3, "name", Str),
        (4, "uid", Str),
    ]
}

fn deployment() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(deployment_spec)),
    ]
}

fn deployment_spec() -> Fields {
    &[
        (1, "replicas", OptInt),
        (2, "selector", Msg(label_selector)),
        (3, "template", Msg(pod_template_spec)),
        (4, "strategy", Msg(deployment_strategy)),
        (5, "minReadySeconds", Int),
        (6, "revisionHistoryLimit", OptInt),
        (7, "paused", Bool),
        (9, "progressDeadlineSeconds", OptInt),
    ]
}

fn deployment_strategy() -> Fields {
    &[(1, "type", Str)]
}

fn label_selector() -> Fields {
    &[
        (1, "matchLabels", MapStr),
        (2, "matchExpressions", RepMsg(label_selector_requirement)),
    ]
}

fn label_selector_requirement() -> Fields {
    &[(1, "key", Str), (2, "operator", Str), (3, "values", RepStr)]
}

fn pod_template_spec() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(pod_spec)),
    ]
}

fn pod_spec() -> Fields {
    &[
        (2, "containers", RepMsg(container)),
        (3, "restartPolicy", Str),
        (4, "terminationGracePeriodSeconds", OptInt),
        (7, "nodeSelector", MapStr),
        (8, "serviceAccountName", Str),
        (20, "initContainers", RepMsg(container)),
    ]
}

fn container() -> Fields {
    &[
        (1, "name", Str),
        (2, "image", Str),
        (3, "command", RepStr),
        (4, "args", RepStr),
        (5, "workingDir", Str),
        (6, "ports", RepMsg(container_port)),
        (7, "env", RepMsg(env_var)),
        (13, "terminationMessagePath", Str),
        (14, "imagePullPolicy", Str),
        (20, "terminationMessagePolicy", Str),
    ]
}

fn container_port() -> Fields {
    &[
        (1, "name", Str),
        (2, "hostPort", Int),
        (3, "containerPort", ReqInt),
        (4, "protocol", Str),
    ]
}

fn env_var() -> Fields {
    &[(1, "name", Str), (2, "value", Str)]
}

fn job() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(job_spec)),
    ]
}

fn job_spec() -> Fields {
    &[
        (1, "parallelism", OptInt),
        (2, "completions", OptInt),
        (3, "activeDeadlineSeconds", OptInt),
        (4, "selector", Msg(label_selector)),
        (6, "template", Msg(pod_template_spec)),
        (7, "backoffLimit", OptInt),
    ]
}

fn role() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "rules", RepMsg(policy_rule)),
    ]
}

fn policy_rule() -> Fields {
    &[
        (1, "verbs", RepStr),
        (3, "apiGroups", RepStr),
        (4, "resources", RepStr),
        (5, "resourceNames", RepStr),
        (6, "nonResourceURLs", RepStr),
    ]
}

fn role_binding() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "subjects", RepMsg(subject)),
        (3, "roleRef", Msg(role_ref)),
    ]
}

fn subject() -> Fields {
    &[
        (1, "kind", Str),
        (2, "apiGroup", Str),
        (3, "name", Str),
        (4, "namespace", Str),
    ]
}

fn role_ref() -> Fields {
    &[(1, "apiGroup", Str), (2, "kind", Str), (3, "name", Str)]
}

fn service() -> Fields {
    &[
        (1, "metadata", Msg(object_meta)),
        (2, "spec", Msg(service_spec)),
    ]
}

fn service_spec() -> Fields {
    &[
        (1, "ports", RepMsg(service_port)),
        (2, "selector", MapStr),
        (3, "clusterIP", Str),
        (4, "type", Str),
        (11, "externalName", Str),
    ]
}

fn service_port() -> Fields {
    &[
        (1, "name", Str),
        (2, "protocol", Str),
        (3, "port", ReqInt),
        (4, "targetPort", IntOrString),
        (5, "nodePort", Int),
    ]
}

fn schema_for(kind: &str) -> Option<Fields> {
    Some(match kind {
        "Namespace" => namespace(),
        "ConfigMap" => config_map(),
        "Secret" => secret(),
        "ServiceAccount" => service_account(),
        "TokenRequest" => token_request(),
        "Deployment" => deployment(),
        "Job" => job(),
        "Role" | "ClusterRole" => role(),
        "RoleBinding" | "ClusterRoleBinding" => role_binding(),
        "Service" => service(),
        _ => return None,
    })
}

fn unsupported(what: &str) -> ApiError {
    ApiError::UnsupportedMediaType(format!(
        "the body of the request was in an unknown format ({what}) - accepted media types include: application/json, application/yaml"
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn skip(&mut self, wire: u64) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.pos = self.pos.checked_add(8)?;
                Some(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos = self.pos.checked_add(4)?;
                Some(())
            }
            _ => None,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn string(b: &[u8]) -> Option<Value> {
    std::str::from_utf8(b).ok().map(|s| json!(s))
}

/// Decodes a map entry message `{key = 1; value = 2}`.
fn map_entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut key = String::new();
    let mut value = json!("");
    while !r.done() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => key = std::str::from_utf8(r.bytes()?).ok()?.to_string(),
            (2, 2) => {
                let v = r.bytes()?;
                value = if bytes_value {
                    json!(BASE64.encode(v))
                } else {
                    string(v)?
                };
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    Some((key, value))
}

fn int_or_string(b: &[u8]) -> Option<Value> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut ty, mut int, mut s) = (0u64, 0i64, String::new());
    while !r.done() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 0) => ty = r.varint()?,
            // int32 values are sign-extended varints.
            (2, 0) => int = r.varint()? as i64,
            (3, 2) => s = std::str::from_utf8(r.bytes()?).ok()?.to_string(),
            (_, wire) => r.skip(wire)?,
        }
    }
    Some(if ty == 1 { json!(s) } else { json!(int) })
}

fn message(b: &[u8], fields: Fields) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut r = Reader { buf: b, pos: 0 };
    while !r.done() {
        let tag = r.varint()?;
        let (num, wire) = (u32::try_from(tag >> 3).ok()?, tag & 7);
        let Some((_, name, kind)) = fields.iter().find(|(n, _, _)| *n == num) else {
            r.skip(wire)?;
            continue;
        };
        let name = name.to_string();
        match (*kind, wire) {
            (Str, 2) => {
                let v = string(r.bytes()?)?;
                if v != json!("") {
                    out.insert(name, v);
                }
            }
            (Int | OptInt | ReqInt, 0) => {
                // int32 values are sign-extended varints.
                let v = r.varint()? as i64;
                if v != 0 || !matches!(kind, Int) {
                    out.insert(name, json!(v));
                }
            }
            (Bool | OptBool, 0) => {
                let v = r.varint()? != 0;
                if v || matches!(kind, OptBool) {
                    out.insert(name, json!(v));
                }
            }
            (Msg(f), 2) => {
                out.insert(name, Value::Object(message(r.bytes()?, f())?));
            }
            (RepMsg(f), 2) => {
                let item = Value::Object(message(r.bytes()?, f())?);
                push(&mut out, name, item);
            }
            (RepStr, 2) => {
                let item = string(r.bytes()?)?;
                push(&mut out, name, item);
            }
            (MapStr | MapBytes, 2) => {
                let (k, v) = map_entry(r.bytes()?, matches!(kind, MapBytes))?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (IntOrString, 2) => {
                out.insert(name, int_or_string(r.bytes()?)?);
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    Some(out)
}

fn push(out: &mut Map<String, Value>, name: String, item: Value) {
    if let Some(a) = out.entry(name).or_insert_with(|| json!([])).as_array_mut() {
        a.push(item);
    }
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the JSON the rest of the server
/// understands.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| unsupported("protobuf without the k8s envelope"))?;
    let mut r = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    let bad = || unsupported("malformed protobuf");
    while !r.done() {
        let tag = r.varint().ok_or_else(bad)?;
        match (tag >> 3, tag & 7) {
            (1, 2) => {
                let tm = message(
                    r.bytes().ok_or_else(bad)?,
                    &[(1, "apiVersion", Str), (2, "kind", Str)],
                )
                .ok_or_else(bad)?;
                api_version = tm
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                kind = tm
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            (2, 2) => raw = r.bytes().ok_or_else(bad)?,
            (_, wire) => r.skip(wire).ok_or_else(bad)?,
        }
    }
    let fields =
        schema_for(&kind).ok_or_else(|| unsupported(&format!("protobuf for kind {kind:?}")))?;
    let mut obj = message(raw, fields).ok_or_else(bad)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let meta = [field(1, b"cm"), field(3, b"ns")].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"}, "data": {"a": "b"}})
        );
        let empty_name = [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, &field(1, &field(1, b""))),
        ]
        .concat();
        assert_eq!(decode(&empty_name).unwrap()["metadata"], json!({}));
    }
}
