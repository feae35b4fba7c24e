//! Custom resources are pruned, defaulted and validated against their CRD's structural
//! schema, the status subresource included.

use http::Method;
use serde_json::{Value, json};

use crate::target::{Target, targets, unique};

const JSON: &str = "application/json";

/// A CRD of kind `Gadget<suffix>` whose schema exercises every keyword.
fn crd(group: &str, plural: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "string", "enum": ["small", "large"]},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        "name": {"type": "string", "minLength": 2, "maxLength": 8, "pattern": "^[a-z]+$"},
                        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                        "port": {"x-kubernetes-int-or-string": true},
                        "comment": {"type": "string", "nullable": true},
                        "mode": {"type": "string", "default": "auto"},
                        "limits": {"type": "object", "default": {}, "properties": {
                            "cpu": {"type": "string", "default": "1"}}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string", "enum": ["Pending", "Ready"]},
                        "count": {"type": "integer", "minimum": 0}
                    }}
                }}}}]}
    })
}

struct Gadgets {
    group: String,
    plural: String,
    kind: String,
    ns: String,
}

impl Gadgets {
    fn path(&self) -> String {
        format!(
            "/apis/{}/v1/namespaces/{}/{}",
            self.group, self.ns, self.plural
        )
    }

    fn object(&self, name: &str, spec: Value) -> Value {
        json!({"apiVersion": format!("{}/v1", self.group), "kind": self.kind,
               "metadata": {"name": name}, "spec": spec})
    }
}

async fn each(f: impl AsyncFn(&Target, &Gadgets)) {
    for t in targets().await {
        let ns = t.namespace("strict-cr").await;
        let id = unique("g").replace('-', "");
        let g = Gadgets {
            group: "strict.kubefed.io".into(),
            plural: format!("gadgets{id}"),
            kind: format!("Gadget{id}"),
            ns,
        };
        t.crd(&crd(&g.group, &g.plural, &g.kind)).await;
        f(&t, &g).await;
        t.cleanup(&[
            format!(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}.{}",
                g.plural, g.group
            ),
            format!("/api/v1/namespaces/{}", g.ns),
        ])
        .await;
    }
}

#[tokio::test]
async fn undeclared_fields_are_pruned_unless_preserved() {
    each(async |t: &Target, g: &Gadgets| {
        let body = g.object("a", json!({"size": "small", "bogus": 1, "extra": {"anything": {"x": 1}},
            "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "nonsense": 1}, "data": {"k": "v"}}}));
        let r = t.send(Method::POST, &format!("{}?fieldValidation=Ignore", g.path()), JSON, &body).await;
        assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
        let spec = &r.body["spec"];
        assert!(spec.get("bogus").is_none(), "{}: {spec}", t.transport);
        assert_eq!(spec["extra"], json!({"anything": {"x": 1}}), "{}", t.transport);
        assert_eq!(spec["template"]["data"], json!({"k": "v"}), "{}", t.transport);
        assert!(spec["template"]["metadata"].get("nonsense").is_none(), "{}: {spec}", t.transport);
        let r = t.send(Method::POST, &format!("{}?fieldValidation=Strict", g.path()), JSON,
            &g.object("b", json!({"size": "small", "bogus": 1}))).await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            format!(r#"{} in version "v1" cannot be handled as a {}: strict decoding error: unknown field "spec.bogus""#, g.kind, g.kind),
            "{}", t.transport
        );
        let r = t.send(Method::POST, &g.path(), JSON, &g.object("c", json!({"size": "small", "bogus": 1}))).await;
        assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
        assert_eq!(r.warnings, [r#"299 - "unknown field \"spec.bogus\"""#], "{}", t.transport);
    })
    .await;
}

#[tokio::test]
async fn defaults_are_applied() {
    each(async |t: &Target, g: &Gadgets| {
        let r = t
            .send(
                Method::POST,
                &g.path(),
                JSON,
                &g.object("a", json!({"size": "large", "mode": null})),
            )
            .await;
        assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
        let spec = &r.body["spec"];
        assert_eq!(spec["replicas"], json!(1), "{}", t.transport);
        assert_eq!(
            spec["mode"],
            json!("auto"),
            "{}: null takes the default",
            t.transport
        );
        assert_eq!(
            spec["limits"],
            json!({"cpu": "1"}),
            "{}: defaults nest",
            t.transport
        );
        let r = t
            .send(
                Method::POST,
                &g.path(),
                JSON,
                &g.object(
                    "b",
                    json!({"size": "large", "replicas": 3, "comment": null}),
                ),
            )
            .await;
        assert_eq!(r.code, 201, "{}: {}", t.transport, r.body);
        assert_eq!(r.body["spec"]["replicas"], json!(3), "{}", t.transport);
        assert_eq!(
            r.body["spec"]["comment"],
            Value::Null,
            "{}: nullable keeps null",
            t.transport
        );
    })
    .await;
}

/// Every keyword's violation is one cause of one 422, as the real server lists them.
#[tokio::test]
async fn each_validation_keyword_is_a_cause() {
    each(async |t: &Target, g: &Gadgets| {
        let body = g.object("bad", json!({"size": "medium", "replicas": "string", "name": "ABCDEFGHIJ",
            "tags": [], "port": true, "template": {"metadata": {"name": "x"}}}));
        let r = t.send(Method::POST, &g.path(), JSON, &body).await;
        r.expect(422, "Invalid", &t.transport);
        let causes = r.causes();
        let expected = [
            ("spec.name", "FieldValueInvalid", "Invalid value: \"ABCDEFGHIJ\": spec.name in body should match '^[a-z]+$'"),
            ("spec.name", "FieldValueTooLong", "Too long: may not be more than 8 bytes"),
            ("spec.port", "FieldValueTypeInvalid", "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""),
            ("spec.replicas", "FieldValueTypeInvalid", "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""),
            ("spec.size", "FieldValueNotSupported", "Unsupported value: \"medium\": supported values: \"small\", \"large\""),
            ("spec.tags", "FieldValueInvalid", "Invalid value: 0: spec.tags in body should have at least 1 items"),
            ("spec.template.apiVersion", "FieldValueRequired", "Required value: must not be empty"),
            ("spec.template.kind", "FieldValueRequired", "Required value: must not be empty"),
        ];
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(f, r, m)| (f.to_string(), r.to_string(), m.to_string()))
            .collect();
        assert_eq!(causes, expected, "{}: {}", t.transport, r.message());
        let m = r.message();
        let head = format!("{}.{} \"bad\" is invalid: [", g.kind, g.group);
        assert!(m.starts_with(&head) && m.ends_with(']'), "{}: {m}", t.transport);
        for (field, _, body) in &expected {
            assert!(m.contains(&format!("{field}: {body}")), "{}: {m}", t.transport);
        }
        let r = t.send(Method::POST, &g.path(), JSON,
            &g.object("bounds", json!({"size": "small", "replicas": 11, "name": "a", "tags": ["a", "b", "c"]}))).await;
        r.expect(422, "Invalid", &t.transport);
        let fields: Vec<String> = r.causes().iter().map(|c| format!("{}: {}", c.0, c.2)).collect();
        assert_eq!(fields, [
            "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long",
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            "spec.tags: Too many: 3: must have at most 2 items",
        ], "{}", t.transport);
        let r = t.send(Method::POST, &g.path(), JSON, &g.object("missing", json!({"replicas": 0}))).await;
        r.expect(422, "Invalid", &t.transport);
        let fields: Vec<String> = r.causes().iter().map(|c| format!("{}: {}", c.0, c.2)).collect();
        assert_eq!(fields, [
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            "spec.size: Required value",
        ], "{}", t.transport);
    })
    .await;
}

/// Status writes go through the schema too: undeclared status fields are pruned and invalid
/// ones refused.
#[tokio::test]
async fn status_writes_follow_the_status_schema() {
    each(async |t: &Target, g: &Gadgets| {
        let created = t.send(Method::POST, &g.path(), JSON, &g.object("a", json!({"size": "small"}))).await;
        assert_eq!(created.code, 201, "{}", created.body);
        let status = format!("{}/a/status", g.path());
        let mut body = created.body.clone();
        body["status"] = json!({"phase": "Ready", "count": 2, "bogus": true});
        let r = t.send(Method::PUT, &status, JSON, &body).await;
        assert_eq!(r.code, 200, "{}: {}", t.transport, r.body);
        assert_eq!(r.body["status"], json!({"phase": "Ready", "count": 2}), "{}", t.transport);
        let mut body = r.body.clone();
        body["status"] = json!({"phase": "Broken", "count": -1});
        let r = t.send(Method::PUT, &status, JSON, &body).await;
        r.expect(422, "Invalid", &t.transport);
        let fields: Vec<String> = r.causes().iter().map(|c| format!("{}: {}", c.0, c.2)).collect();
        assert_eq!(fields, [
            "status.count: Invalid value: -1: status.count in body should be greater than or equal to 0",
            "status.phase: Unsupported value: \"Broken\": supported values: \"Pending\", \"Ready\"",
        ], "{}", t.transport);
        let r = t.send(Method::PATCH, &status, "application/merge-patch+json", &json!({"status": {"phase": "Gone"}})).await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(
            r.message(),
            format!("{}.{} \"a\" is invalid: status.phase: Unsupported value: \"Gone\": supported values: \"Pending\", \"Ready\"", g.kind, g.group),
            "{}", t.transport
        );
    })
    .await;
}

/// Server-side apply refuses fields the schema does not declare (and does not preserve).
#[tokio::test]
async fn apply_of_undeclared_fields_is_refused() {
    each(async |t: &Target, g: &Gadgets| {
        let mut body = g.object("a", json!({"size": "small", "bogus": 1}));
        body["metadata"]["namespace"] = json!(g.ns);
        let r = t.send(Method::PATCH, &format!("{}/a?fieldManager=test", g.path()), "application/apply-patch+yaml", &body).await;
        r.expect(500, "", &t.transport);
        assert_eq!(
            r.message(),
            format!("failed to create typed patch object ({}/a; {}/v1, Kind={}): .spec.bogus: field not declared in schema", g.ns, g.group, g.kind),
            "{}", t.transport
        );
        // Preserved fields apply, and the result is validated like any write.
        body["spec"] = json!({"size": "tiny", "extra": {"free": "form"}});
        let r = t.send(Method::PATCH, &format!("{}/a?fieldManager=test", g.path()), "application/apply-patch+yaml", &body).await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(r.causes()[0].0, "spec.size", "{}", t.transport);
    })
    .await;
}
