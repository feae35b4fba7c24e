//! How requests are handled, beyond the bodies: who may learn what is served, preconditions of
//! server-side apply, resource versions, garbage collection after DELETE, the selector
//! grammars, list paging, and the validation of query options.

use std::time::Duration;

use http::Method;
use kubefed_sim::testing::eventually;
use serde_json::{Value, json};

use crate::target::{Raw, Target, targets, unique};

const JSON: &str = "application/json";
const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";
/// Generous: on a real server the garbage collector works from its informers.
const GC_WAIT: Duration = Duration::from_secs(30);

fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

async fn create_cm(t: &Target, ns: &str, obj: &Value) -> Value {
    let r = t
        .send(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            JSON,
            obj,
        )
        .await;
    assert_eq!(r.code, 201, "{}: create: {}", t.transport, r.body);
    r.body
}

fn cms(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

async fn get(t: &Target, path: &str) -> Raw {
    t.send(Method::GET, path, "", &Value::Null).await
}

/// A ServiceAccount without any role, and a client with its token.
async fn nobody(t: &Target, ns: &str) -> kube::Client {
    let r = t
        .send(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            JSON,
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}}),
        )
        .await;
    assert_eq!(r.code, 201, "service account: {}", r.body);
    let r = t
        .send(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/nobody/token"),
            JSON,
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}),
        )
        .await;
    assert_eq!(r.code, 201, "token: {}", r.body);
    t.client_as(r.body["status"]["token"].as_str().expect("token"))
}

#[tokio::test]
async fn authorization_comes_before_looking_up_what_is_served() {
    for t in targets().await {
        let ns = t.namespace("strict-authz").await;
        let client = nobody(&t, &ns).await;
        let user = format!("system:serviceaccount:{ns}:nobody");
        let send = |path: String| {
            let client = client.clone();
            async move { crate::target::send_with(&client, Method::GET, &path, "", &Value::Null).await }
        };
        // A group that is not served at all.
        let r = send("/apis/nothing.example.com/v1/widgets".into()).await;
        r.expect(403, "Forbidden", &t.transport);
        assert_eq!(
            r.message(),
            format!(
                "widgets.nothing.example.com is forbidden: User {user:?} cannot list resource \"widgets\" in API group \"nothing.example.com\" at the cluster scope"
            ),
            "{}",
            t.transport
        );
        // An unknown resource of a served group, named and namespaced.
        let r = send(format!("/api/v1/namespaces/{ns}/gizmos/g1")).await;
        r.expect(403, "Forbidden", &t.transport);
        assert_eq!(
            r.message(),
            format!(
                "gizmos \"g1\" is forbidden: User {user:?} cannot get resource \"gizmos\" in API group \"\" in the namespace {ns:?}"
            ),
            "{}",
            t.transport
        );
        // The admin still learns it is not there.
        get(&t, "/apis/nothing.example.com/v1/widgets")
            .await
            .expect(404, "NotFound", &t.transport);
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

#[tokio::test]
async fn apply_with_a_resource_version_is_a_precondition() {
    for t in targets().await {
        let ns = t.namespace("strict-ssa-rv").await;
        let cm = create_cm(&t, &ns, &configmap("cm", json!({}))).await;
        let rv = cm["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("{}/cm?fieldManager=strict", cms(&ns));
        // A field no other manager owns: only the precondition can refuse the apply.
        let apply = |rv: &str, v: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "resourceVersion": rv}, "data": {"applied": v}})
        };
        // Someone else changes it: the old version no longer holds.
        let r = t
            .send(
                Method::PATCH,
                &format!("{}/cm", cms(&ns)),
                MERGE,
                &json!({"data": {"other": "x"}}),
            )
            .await;
        assert_eq!(r.code, 200, "{}", r.body);
        let current = r.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t
            .send(Method::PATCH, &path, APPLY, &apply(&rv, "stale"))
            .await;
        r.expect(409, "Conflict", &t.transport);
        assert_eq!(
            r.message(),
            "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again",
            "{}",
            t.transport
        );
        let r = t
            .send(Method::PATCH, &path, APPLY, &apply(&current, "fresh"))
            .await;
        assert_eq!(r.code, 200, "{}: current version: {}", t.transport, r.body);
        assert_eq!(r.body["data"]["applied"], "fresh");
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

#[tokio::test]
async fn resource_versions_are_large_opaque_and_differ_between_clusters() {
    let mut firsts = Vec::new();
    for t in targets().await {
        let ns = t.namespace("strict-rv").await;
        let a = create_cm(&t, &ns, &configmap("a", json!({}))).await;
        let b = create_cm(&t, &ns, &configmap("b", json!({}))).await;
        let rv = |o: &Value| -> u64 {
            o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(rv(&a) > 1000, "{}: {}", t.transport, rv(&a));
        assert!(rv(&b) > rv(&a), "{}: versions increase", t.transport);
        firsts.push(rv(&a));
        // A watch from before the cluster's first version is too old.
        if t.sim().is_some() {
            let r = get(
                &t,
                &format!("{}?watch=true&resourceVersion=1&timeoutSeconds=1", cms(&ns)),
            )
            .await;
            assert!(
                r.code == 410 || r.body.to_string().contains("too old resource version"),
                "{}: {}",
                t.transport,
                r.body
            );
        }
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
    if firsts.len() > 1 {
        assert_ne!(
            firsts[0], firsts[1],
            "two clusters hand out different versions"
        );
    }
}

fn owned_by(name: &str, owner: &Value, block: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "ownerReferences": [{
               "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
               "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]}})
}

async fn exists(t: &Target, ns: &str, name: &str) -> bool {
    get(t, &format!("{}/{name}", cms(ns))).await.code == 200
}

#[tokio::test]
async fn deletion_cascades_run_after_the_request() {
    for t in targets().await {
        let ns = t.namespace("strict-gc").await;
        // Background: the owner goes at once, its dependent later.
        let owner = create_cm(&t, &ns, &configmap("bg-owner", json!({}))).await;
        create_cm(&t, &ns, &owned_by("bg-dep", &owner, false)).await;
        let r = t
            .send(
                Method::DELETE,
                &format!("{}/bg-owner?propagationPolicy=Background", cms(&ns)),
                "",
                &Value::Null,
            )
            .await;
        r.expect(200, "", &t.transport);
        assert_eq!(r.body["kind"], "Status", "{}", r.body);
        assert!(!exists(&t, &ns, "bg-owner").await);
        eventually("background dependent collected", GC_WAIT, || async {
            (!exists(&t, &ns, "bg-dep").await).then_some(())
        })
        .await;

        // Foreground: the owner stays, deleting, until its blocking dependent is gone.
        let owner = create_cm(&t, &ns, &configmap("fg-owner", json!({}))).await;
        create_cm(&t, &ns, &owned_by("fg-dep", &owner, true)).await;
        let r = t
            .send(
                Method::DELETE,
                &format!("{}/fg-owner?propagationPolicy=Foreground", cms(&ns)),
                "",
                &Value::Null,
            )
            .await;
        r.expect(200, "", &t.transport);
        assert_eq!(
            r.body["kind"], "ConfigMap",
            "{}: the owner is answered: {}",
            t.transport, r.body
        );
        assert!(
            r.body["metadata"]["deletionTimestamp"].is_string(),
            "{}",
            r.body
        );
        assert_eq!(
            r.body["metadata"]["finalizers"],
            json!(["foregroundDeletion"]),
            "{}",
            r.body
        );
        eventually(
            "foreground owner and dependent collected",
            GC_WAIT,
            || async {
                (!exists(&t, &ns, "fg-dep").await && !exists(&t, &ns, "fg-owner").await)
                    .then_some(())
            },
        )
        .await;

        // Orphan: the dependent stays, without the reference.
        let owner = create_cm(&t, &ns, &configmap("or-owner", json!({}))).await;
        create_cm(&t, &ns, &owned_by("or-dep", &owner, true)).await;
        let r = t
            .send(Method::DELETE, &format!("{}/or-owner", cms(&ns)), JSON,
                  &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}))
            .await;
        r.expect(200, "", &t.transport);
        assert_eq!(
            r.body["metadata"]["finalizers"],
            json!(["orphan"]),
            "{}",
            r.body
        );
        eventually("orphaned owner removed", GC_WAIT, || async {
            (!exists(&t, &ns, "or-owner").await).then_some(())
        })
        .await;
        let dep = get(&t, &format!("{}/or-dep", cms(&ns))).await;
        assert_eq!(dep.code, 200, "{}: the orphan stays", t.transport);
        assert!(
            dep.body["metadata"]["ownerReferences"].is_null(),
            "{}",
            dep.body
        );
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

#[tokio::test]
async fn label_and_field_selectors_follow_the_real_grammar() {
    for t in targets().await {
        let ns = t.namespace("strict-sel").await;
        create_cm(
            &t,
            &ns,
            &configmap("a", json!({"app": "web", "tier": "fe"})),
        )
        .await;
        create_cm(&t, &ns, &configmap("b", json!({"app": "db"}))).await;
        create_cm(&t, &ns, &configmap("c", json!({"n": "5"}))).await;
        let names = |r: &Raw| -> Vec<String> {
            let mut v: Vec<String> = r.body["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .filter(|n| n != "kube-root-ca.crt")
                .collect();
            v.sort();
            v
        };
        let list = |sel: &str| {
            let path = format!("{}?labelSelector={}", cms(&ns), urlencode(sel));
            let t = &t;
            async move { get(t, &path).await }
        };
        for (sel, want) in [
            ("app in (web,db)", vec!["a", "b"]),
            ("app notin (web)", vec!["b", "c"]),
            ("app,!tier", vec!["b"]),
            ("tier", vec!["a"]),
            ("n>3", vec!["c"]),
            ("app=web,tier==fe", vec!["a"]),
        ] {
            let r = list(sel).await;
            assert_eq!(r.code, 200, "{}: {sel}: {}", t.transport, r.body);
            assert_eq!(names(&r), want, "{}: {sel}", t.transport);
        }
        for (sel, message) in [
            (
                "app in web",
                "unable to parse requirement: found 'web' expected: '('",
            ),
            (
                "app web",
                "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt",
            ),
            ("app=web,", "found '', expected: identifier after ','"),
            (
                "=web",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
        ] {
            let r = list(sel).await;
            r.expect(400, "BadRequest", &format!("{}: {sel}", t.transport));
            assert_eq!(r.message(), message, "{}: {sel}", t.transport);
        }
        let r = get(&t, &format!("{}?fieldSelector=metadata.name", cms(&ns))).await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
            "{}",
            t.transport
        );
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn lists_page_with_continue_tokens() {
    for t in targets().await {
        let ns = t.namespace(&unique("strict-page")).await;
        for i in 0..5 {
            create_cm(
                &t,
                &ns,
                &configmap(&format!("cm-{i}"), json!({"paged": "yes"})),
            )
            .await;
        }
        let base = format!("{}?labelSelector=paged%3Dyes&limit=2", cms(&ns));
        let first = get(&t, &base).await;
        assert_eq!(first.code, 200, "{}", first.body);
        assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(first.body["metadata"]["remainingItemCount"], 3);
        let token = first.body["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_string();
        let rv = first.body["metadata"]["resourceVersion"].clone();
        let mut seen = 2;
        let mut next = Some(token.clone());
        while let Some(c) = next {
            let r = get(&t, &format!("{base}&continue={c}")).await;
            assert_eq!(r.code, 200, "{}", r.body);
            assert_eq!(
                r.body["metadata"]["resourceVersion"], rv,
                "pages share one version"
            );
            seen += r.body["items"].as_array().map(Vec::len).unwrap_or(0);
            next = r.body["metadata"]["continue"].as_str().map(str::to_string);
        }
        assert_eq!(seen, 5, "{}", t.transport);

        let r = get(&t, &format!("{base}&continue=not-a-token!")).await;
        r.expect(400, "BadRequest", &t.transport);
        assert!(
            r.message().starts_with("invalid continue token: continue key is not valid: illegal base64 data at input byte "),
            "{}: {}",
            t.transport,
            r.message()
        );
        let r = get(&t, &format!("{base}&continue={token}&resourceVersion=5")).await;
        r.expect(400, "BadRequest", &t.transport);
        assert_eq!(
            r.message(),
            "specifying resource version is not allowed when using continue"
        );

        // Expired once the first page's version is compacted (only a simulated server can be
        // made to compact on demand).
        if let Some(sim) = t.sim() {
            create_cm(&t, &ns, &configmap("later", json!({}))).await;
            sim.compact_history();
            let r = get(&t, &format!("{base}&continue={token}")).await;
            r.expect(410, "Expired", &t.transport);
            assert!(
                r.message().starts_with("The provided continue parameter is too old to display a consistent list result."),
                "{}",
                r.message()
            );
            let fresh = r.body["metadata"]["continue"]
                .as_str()
                .expect("a token to go on with");
            let r = get(&t, &format!("{base}&continue={fresh}")).await;
            assert_eq!(r.code, 200, "{}", r.body);
            assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
        }
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}

#[tokio::test]
async fn invalid_options_are_refused_with_each_cause() {
    for t in targets().await {
        let ns = t.namespace("strict-opts").await;
        create_cm(&t, &ns, &configmap("cm", json!({}))).await;
        let r = t
            .send(
                Method::DELETE,
                &format!("{}/cm?propagationPolicy=Sometimes", cms(&ns)),
                "",
                &Value::Null,
            )
            .await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(
            r.message(),
            r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil""#,
            "{}",
            t.transport
        );
        let r = t
            .send(
                Method::POST,
                &format!("{}?dryRun=Yes", cms(&ns)),
                JSON,
                &configmap("dry", json!({})),
            )
            .await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(
            r.message(),
            r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Yes"}: supported values: "All""#,
            "{}",
            t.transport
        );
        let r = t
            .send(
                Method::PATCH,
                &format!("{}/cm?dryRun=Yes&fieldValidation=Loud", cms(&ns)),
                MERGE,
                &json!({}),
            )
            .await;
        r.expect(422, "Invalid", &t.transport);
        assert_eq!(
            r.causes().len(),
            2,
            "{}: both causes: {}",
            t.transport,
            r.body
        );
        // Nothing was written by the refused requests.
        assert!(exists(&t, &ns, "cm").await);
        assert!(!exists(&t, &ns, "dry").await);
        t.cleanup(&[format!("/api/v1/namespaces/{ns}")]).await;
    }
}
