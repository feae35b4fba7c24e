//! Built-in kinds are checked against their schemas as a real server checks them.

use http::Method;
use serde_json::{Value, json};

use crate::target::{Target, targets};

const APPLY: &str = "application/apply-patch+yaml";
const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}}})
}

fn deployments(ns: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/deployments")
}

async fn each(f: impl AsyncFn(&Target, &str)) {
    for t in targets().await {
        let ns = t.namespace("strict").await;
        f(&t, &ns).await;
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

/// KubeFed's FederatedIngress sample still uses the v1beta1 backend (`serviceName`,
/// `servicePort`); networking.k8s.io/v1 declares neither, and apply refuses them with a 500.
#[tokio::test]
async fn apply_of_v1beta1_ingress_backend_fields_is_refused() {
    each(async |t: &Target, ns: &str| {
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "test-ingress", "namespace": ns},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"serviceName": "web", "servicePort": 80}}]}}]}});
        let path = format!("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/test-ingress?fieldManager=test");
        let r = t.send(Method::PATCH, &path, APPLY, &ingress).await;
        r.expect(500, "", &t.transport);
        let prefix = format!(
            "failed to create typed patch object ({ns}/test-ingress; networking.k8s.io/v1, Kind=Ingress): .spec.rules[0].http.paths[0].backend."
        );
        let m = r.message();
        // The server stops at the first undeclared field of a map, in map order.
        assert!(
            [".serviceName", ".servicePort"]
                .iter()
                .any(|f| m == format!("{prefix}{}: field not declared in schema", &f[1..])),
            "{}: {m}",
            t.transport
        );
        // Nothing was created.
        let get = t.send(Method::GET, &path, "", &Value::Null).await;
        get.expect(404, "NotFound", &t.transport);
    })
    .await;
}

#[tokio::test]
async fn apply_of_a_mistyped_label_is_refused() {
    each(async |t: &Target, ns: &str| {
        let mut d = deployment("web");
        d["metadata"]["namespace"] = json!(ns);
        d["spec"]["template"]["metadata"]["labels"]["app"] = json!(true);
        let path = format!("{}/web?fieldManager=test", deployments(ns));
        let r = t.send(Method::PATCH, &path, APPLY, &d).await;
        r.expect(500, "", &t.transport);
        assert_eq!(
            r.message(),
            format!(
                "failed to create typed patch object ({ns}/web; apps/v1, Kind=Deployment): .spec.template.metadata.labels.app: expected string, got &value.valueUnstructured{{Value:true}}"
            ),
            "{}",
            t.transport
        );
    })
    .await;
}

/// `fieldValidation` on create: Strict refuses, Warn (also the default) warns, Ignore drops.
#[tokio::test]
async fn create_honours_field_validation() {
    each(async |t: &Target, ns: &str| {
        let mut body = deployment("strict");
        body["spec"]["foo"] = json!(1);
        let r = t
            .send(Method::POST, &format!("{}?fieldValidation=Strict", deployments(ns)), JSON, &body)
            .await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#,
            "{}",
            t.transport
        );
        for (name, query) in [("warn", "?fieldValidation=Warn"), ("default", "")] {
            let mut body = deployment(name);
            body["spec"]["foo"] = json!(1);
            let r = t
                .send(Method::POST, &format!("{}{query}", deployments(ns)), JSON, &body)
                .await;
            assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
            assert_eq!(r.warnings, [r#"299 - "unknown field \"spec.foo\"""#], "{}", t.transport);
            assert!(r.body["spec"].get("foo").is_none(), "{}: stored {}", t.transport, r.body);
        }
        let mut body = deployment("ignore");
        body["spec"]["foo"] = json!(1);
        let r = t
            .send(Method::POST, &format!("{}?fieldValidation=Ignore", deployments(ns)), JSON, &body)
            .await;
        assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
        assert!(r.warnings.is_empty(), "{}: {:?}", t.transport, r.warnings);
        assert!(r.body["spec"].get("foo").is_none(), "{}", t.transport);
    })
    .await;
}

/// The same on update, with indices in the path of a field inside a list.
#[tokio::test]
async fn update_honours_field_validation() {
    each(async |t: &Target, ns: &str| {
        let created = t.send(Method::POST, &deployments(ns), JSON, &deployment("web")).await;
        assert_eq!(created.code, 201, "{}", created.body);
        let item = format!("{}/web", deployments(ns));
        // Controllers may have written the status since: update the latest version.
        let latest = || async {
            let mut body = t.send(Method::GET, &item, "", &Value::Null).await.body;
            body["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = json!("Always");
            body
        };
        let r = t
            .send(Method::PUT, &format!("{item}?fieldValidation=Strict"), JSON, &latest().await)
            .await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolice""#,
            "{}",
            t.transport
        );
        let r = t.send(Method::PUT, &item, JSON, &latest().await).await;
        assert_eq!(r.code, 200, "{}: {}", t.transport, r.body);
        assert_eq!(
            r.warnings,
            [r#"299 - "unknown field \"spec.template.spec.containers[0].imagePullPolice\"""#],
            "{}",
            t.transport
        );
        assert!(r.body["spec"]["template"]["spec"]["containers"][0].get("imagePullPolice").is_none());
    })
    .await;
}

/// A value of the wrong type fails decoding on create whatever `fieldValidation` says.
#[tokio::test]
async fn create_of_a_mistyped_field_is_a_bad_request() {
    each(async |t: &Target, ns: &str| {
        let mut body = deployment("web");
        body["metadata"]["labels"] = json!({"app": true});
        let r = t
            .send(Method::POST, &format!("{}?fieldValidation=Ignore", deployments(ns)), JSON, &body)
            .await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
            "{}",
            t.transport
        );
    })
    .await;
}

/// The result of a patch is decoded like a body: an unknown field it introduces is refused
/// under Strict as a 422 on the patch, and so is a value of the wrong type.
#[tokio::test]
async fn patch_results_are_validated() {
    each(async |t: &Target, ns: &str| {
        let created = t.send(Method::POST, &deployments(ns), JSON, &deployment("web")).await;
        assert_eq!(created.code, 201, "{}", created.body);
        let item = format!("{}/web", deployments(ns));
        let unknown = json!({"spec": {"foo": 1}});
        let r = t
            .send(Method::PATCH, &format!("{item}?fieldValidation=Strict"), MERGE, &unknown)
            .await;
        r.expect(422, "Invalid", &t.transport);
        let m = r.message();
        assert!(
            m.starts_with(r#" "" is invalid: patch: Invalid value: "{"#)
                && m.ends_with(r#"": strict decoding error: unknown field "spec.foo""#),
            "{}: {m}",
            t.transport
        );
        assert_eq!(r.causes().len(), 1, "{}", r.body);
        assert_eq!(r.causes()[0].0, "patch");
        let r = t.send(Method::PATCH, &item, MERGE, &unknown).await;
        assert_eq!(r.code, 200, "{}: {}", t.transport, r.body);
        assert_eq!(r.warnings, [r#"299 - "unknown field \"spec.foo\"""#]);
        let mistyped = json!({"spec": {"replicas": "three"}});
        let r = t.send(Method::PATCH, &item, MERGE, &mistyped).await;
        r.expect(422, "Invalid", &t.transport);
        assert!(
            r.message().ends_with(
                r#"": json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#
            ),
            "{}: {}",
            t.transport,
            r.message()
        );
        // Strategic merge patches are decoded the same way.
        let r = t
            .send(
                Method::PATCH,
                &format!("{item}?fieldValidation=Strict"),
                "application/strategic-merge-patch+json",
                &json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "bogus": 1}]}}}}),
            )
            .await;
        r.expect(422, "Invalid", &t.transport);
        // The patch, not the patched object, is shown, as Go prints a map.
        assert_eq!(
            r.message(),
            r#" "" is invalid: patch: Invalid value: "map[spec:map[template:map[spec:map[containers:[map[bogus:1 name:main]]]]]]": strict decoding error: unknown field "spec.template.spec.containers[0].bogus""#,
            "{}",
            t.transport
        );
    })
    .await;
}

/// An unknown `fieldValidation` value is refused before the body is looked at.
#[tokio::test]
async fn unknown_field_validation_directive_is_refused() {
    each(async |t: &Target, ns: &str| {
        let r = t
            .send(Method::POST, &format!("{}?fieldValidation=strict", deployments(ns)), JSON, &deployment("web"))
            .await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(
            r.message(),
            r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#,
            "{}",
            t.transport
        );
    })
    .await;
}
