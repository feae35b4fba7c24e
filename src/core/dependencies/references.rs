//! What a pod template references: the ConfigMaps, Secrets and ServiceAccount its pods need
//! from their namespace.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{DependencyKind, DependencyRef};

/// The objects the pod template of a Deployment, ReplicaSet or Job (`spec.template.spec`)
/// references, each with whether it is required (`false` when every reference is
/// `optional: true`). Covered: volumes (`configMap`, `secret`, `projected` sources and the
/// `secretRef`s of CSI and other volume plugins), `envFrom`, `env[].valueFrom` of every
/// container, init container and ephemeral container, `imagePullSecrets` and
/// `serviceAccountName`. The `default` ServiceAccount is not listed: every namespace of every
/// cluster has its own.
pub fn references(workload: &Value) -> BTreeMap<DependencyRef, bool> {
    let mut found = Found::default();
    let Some(pod) = workload.pointer("/spec/template/spec") else {
        return found.0;
    };
    for volume in items(pod, "volumes") {
        if let Some(cm) = volume.get("configMap") {
            found.add(DependencyKind::ConfigMap, cm.get("name"), optional(cm));
        }
        if let Some(secret) = volume.get("secret") {
            found.add(
                DependencyKind::Secret,
                secret.get("secretName"),
                optional(secret),
            );
        }
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(cm) = source.get("configMap") {
                found.add(DependencyKind::ConfigMap, cm.get("name"), optional(cm));
            }
            if let Some(secret) = source.get("secret") {
                found.add(DependencyKind::Secret, secret.get("name"), optional(secret));
            }
        }
        // Volume plugins that read their credentials from a Secret of the namespace.
        for pointer in [
            "/csi/nodePublishSecretRef/name",
            "/cephfs/secretRef/name",
            "/rbd/secretRef/name",
            "/iscsi/secretRef/name",
            "/flexVolume/secretRef/name",
            "/scaleIO/secretRef/name",
            "/storageos/secretRef/name",
            "/azureFile/secretName",
        ] {
            found.add(DependencyKind::Secret, volume.pointer(pointer), false);
        }
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in items(pod, list) {
            for from in items(container, "envFrom") {
                if let Some(cm) = from.get("configMapRef") {
                    found.add(DependencyKind::ConfigMap, cm.get("name"), optional(cm));
                }
                if let Some(secret) = from.get("secretRef") {
                    found.add(DependencyKind::Secret, secret.get("name"), optional(secret));
                }
            }
            for env in items(container, "env") {
                if let Some(cm) = env.pointer("/valueFrom/configMapKeyRef") {
                    found.add(DependencyKind::ConfigMap, cm.get("name"), optional(cm));
                }
                if let Some(secret) = env.pointer("/valueFrom/secretKeyRef") {
                    found.add(DependencyKind::Secret, secret.get("name"), optional(secret));
                }
            }
        }
    }
    for secret in items(pod, "imagePullSecrets") {
        found.add(DependencyKind::Secret, secret.get("name"), false);
    }
    // `serviceAccount` is the deprecated spelling, used when the new one is absent.
    let account = pod
        .get("serviceAccountName")
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        .or_else(|| pod.get("serviceAccount"));
    if account.and_then(Value::as_str) != Some("default") {
        found.add(DependencyKind::ServiceAccount, account, false);
    }
    found.0
}

#[derive(Default)]
struct Found(BTreeMap<DependencyRef, bool>);

impl Found {
    /// Records a reference; required wins over optional.
    fn add(&mut self, kind: DependencyKind, name: Option<&Value>, optional: bool) {
        let Some(name) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) else {
            return;
        };
        let required = self
            .0
            .entry(DependencyRef {
                kind,
                name: name.to_string(),
            })
            .or_insert(false);
        *required |= !optional;
    }
}

fn items<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn optional(reference: &Value) -> bool {
    reference.get("optional").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(kind: DependencyKind, name: &str) -> DependencyRef {
        DependencyRef {
            kind,
            name: name.into(),
        }
    }

    fn workload(pod: Value) -> Value {
        json!({"spec": {"template": {"spec": pod}}})
    }

    #[test]
    fn every_kind_of_reference_is_found() {
        use DependencyKind::*;
        let pod = json!({
            "serviceAccountName": "runner",
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [
                {"name": "a", "configMap": {"name": "settings"}},
                {"name": "b", "secret": {"secretName": "tls"}},
                {"name": "c", "projected": {"sources": [
                    {"configMap": {"name": "projected-cm"}},
                    {"secret": {"name": "projected-secret", "optional": true}},
                    {"serviceAccountToken": {"path": "token"}}
                ]}},
                {"name": "d", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "csi-creds"}}},
                {"name": "e", "emptyDir": {}}
            ],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-env"}}]}],
            "containers": [{
                "name": "app",
                "envFrom": [{"secretRef": {"name": "app-secrets"}}],
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": true}}},
                    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "D", "value": "plain"}
                ]
            }],
            "ephemeralContainers": [{"name": "debug", "env": [
                {"name": "E", "valueFrom": {"secretKeyRef": {"name": "debug-token", "key": "t"}}}]}]
        });
        assert_eq!(
            references(&workload(pod)),
            BTreeMap::from([
                (of(ConfigMap, "init-env"), true),
                (of(ConfigMap, "projected-cm"), true),
                (of(ConfigMap, "settings"), true),
                (of(Secret, "app-secrets"), true),
                (of(Secret, "csi-creds"), true),
                (of(Secret, "db"), false),
                (of(Secret, "debug-token"), true),
                (of(Secret, "projected-secret"), false),
                (of(Secret, "registry"), true),
                (of(Secret, "tls"), true),
                (of(ServiceAccount, "runner"), true),
            ])
        );
    }

    #[test]
    fn required_wins_over_optional_and_defaults_are_skipped() {
        let pod = json!({
            "serviceAccountName": "default",
            "volumes": [{"name": "a", "configMap": {"name": "cm", "optional": true}}],
            "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]}]
        });
        assert_eq!(
            references(&workload(pod)),
            BTreeMap::from([(of(DependencyKind::ConfigMap, "cm"), true)])
        );
        // The deprecated field, and nothing at all.
        let old = json!({"serviceAccount": "legacy", "containers": [{"name": "c"}]});
        assert_eq!(
            references(&workload(old)),
            BTreeMap::from([(of(DependencyKind::ServiceAccount, "legacy"), true)])
        );
        assert!(references(&json!({"spec": {}})).is_empty());
        let nameless = json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {}}]}]});
        assert!(references(&workload(nameless)).is_empty());
    }
}
