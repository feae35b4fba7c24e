//! The objects the benchmark federates: a FederatedDeployment whose template carries a
//! revision label (to detect updates) and a padding env var (to set the object size).
//! Labels, not annotations: like KubeFed, the operator does not propagate template
//! annotations.

use serde_json::{Value, json};

/// Namespace of the federated objects (federated itself, so the operator creates it).
pub const NAMESPACE: &str = "bench";
/// Namespace the bare client writes into on members, apart from the operator's objects.
pub const LOWER_BOUND_NAMESPACE: &str = "bench-lower-bound";
pub const REVISION: &str = "bench.kubefed.io/revision";
pub const PAYLOAD: &str = "BENCH_PAYLOAD";
const IMAGE: &str = "nginx:1.25";
const REPLICAS: i64 = 2;
const MANAGED_LABEL: &str = "kubefed.io/managed";

pub struct Workload {
    payload: String,
}

impl Workload {
    pub fn new(payload_bytes: usize) -> Self {
        Workload {
            payload: "x".repeat(payload_bytes),
        }
    }

    /// The Deployment every member should end up with (also what the bare client applies).
    pub fn member_object(&self, name: &str, namespace: &str, revision: u64) -> Value {
        let mut obj = self.template(name, revision);
        obj["apiVersion"] = json!("apps/v1");
        obj["kind"] = json!("Deployment");
        obj["metadata"]["name"] = json!(name);
        obj["metadata"]["namespace"] = json!(namespace);
        obj["metadata"]["labels"][MANAGED_LABEL] = json!("true");
        obj
    }

    /// What the bare client applies: the member object without the `kubefed.io/managed`
    /// label, so the operator's member caches (which select on it) do not hold the lower
    /// bound's objects and the memory figure of that phase is the simulator's alone.
    pub fn lower_bound_object(&self, name: &str, namespace: &str, revision: u64) -> Value {
        let mut obj = self.member_object(name, namespace, revision);
        if let Some(labels) = obj["metadata"]["labels"].as_object_mut() {
            labels.remove(MANAGED_LABEL);
        }
        obj
    }

    /// A FederatedDeployment placed on every member.
    pub fn federated(&self, name: &str, revision: u64) -> Value {
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "template": self.template(name, revision),
                "placement": {"clusterSelector": {}}
            }
        })
    }

    /// Merge patch moving a FederatedDeployment's template to `revision`.
    pub fn revision_patch(revision: u64) -> Value {
        json!({"spec": {"template": {"metadata": {"labels": {REVISION: revision.to_string()}}}}})
    }

    fn template(&self, name: &str, revision: u64) -> Value {
        json!({
            "metadata": {"labels": {"app": name, REVISION: revision.to_string()}},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{
                        "name": "app",
                        "image": IMAGE,
                        "env": [{"name": PAYLOAD, "value": self.payload}]
                    }]}
                }
            }
        })
    }

    /// Checks a member object against what the federated object at `revision` asks for.
    pub fn check(&self, obj: &Value, revision: u64) -> Result<(), String> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        let expect = |pointer: &str, want: &Value| -> Result<(), String> {
            match obj.pointer(pointer) {
                Some(got) if got == want => Ok(()),
                got => Err(format!("{name}: {pointer} is {got:?}, expected {want}")),
            }
        };
        expect("/spec/replicas", &json!(REPLICAS))?;
        expect("/spec/template/spec/containers/0/image", &json!(IMAGE))?;
        expect("/spec/selector/matchLabels/app", &json!(name))?;
        expect("/metadata/labels/app", &json!(name))?;
        expect(
            &format!("/metadata/labels/{}", escape(MANAGED_LABEL)),
            &json!("true"),
        )?;
        expect(
            "/spec/template/spec/containers/0/env/0",
            &json!({"name": PAYLOAD, "value": self.payload}),
        )?;
        expect(
            &format!("/metadata/labels/{}", escape(REVISION)),
            &json!(revision.to_string()),
        )
    }
}

/// The revision a member object carries, if any.
pub fn revision_of(obj: &Value) -> Option<u64> {
    obj.pointer(&format!("/metadata/labels/{}", escape(REVISION)))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// JSON pointer escaping of one path segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_object_passes_its_own_check() {
        let w = Workload::new(16);
        let obj = w.member_object("a", NAMESPACE, 3);
        assert_eq!(w.check(&obj, 3), Ok(()));
        assert_eq!(revision_of(&obj), Some(3));
        assert!(w.check(&obj, 4).is_err());
    }

    #[test]
    fn wrong_image_is_reported() {
        let w = Workload::new(0);
        let mut obj = w.member_object("a", NAMESPACE, 1);
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
        assert!(w.check(&obj, 1).unwrap_err().contains("image"));
    }
}
