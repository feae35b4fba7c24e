//! A skeletal OpenAPI v3 surface: enough for kubectl to see that every resource accepts the
//! `fieldValidation` parameter (so it validates server-side) without shipping any schemas.
//! OpenAPI v2 is an empty document: kubectl falls back to it for kinds the v3 surface does
//! not show yet (a CRD that is not established), finds no schema and leaves the kind to
//! the REST mapping, whose "no matches for kind" error is the one real servers give.

use serde_json::{Map, Value, json};

use crate::server::resources::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group versions with documents.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, versions) in reg.groups() {
        for v in versions {
            let p = gv_path(&g, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=0")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv>`: item paths whose PATCH and PUT operations name their kind and take
/// `fieldValidation`.
pub fn group_version(reg: &Registry, gv: &str) -> Option<Value> {
    let mut paths = Map::new();
    for d in reg.discoverable() {
        for v in &d.versions {
            if gv_path(&d.group, v) != gv {
                continue;
            }
            let gvk = json!({"group": d.group, "version": v, "kind": d.kind});
            let op = json!({
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "responses": {"200": {"description": "OK"}},
            });
            let base = if d.namespaced {
                format!("/{gv}/namespaces/{{namespace}}/{}", d.plural)
            } else {
                format!("/{gv}/{}", d.plural)
            };
            paths.insert(base.clone(), json!({"post": op}));
            paths.insert(format!("{base}/{{name}}"), json!({"patch": op, "put": op}));
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v2`: an empty document, as protobuf (what kubectl asks for) or JSON.
pub fn v2(accept: &str, git_version: &str) -> (&'static str, Vec<u8>) {
    if accept.contains("application/com.github.proto-openapi.spec.v2") {
        // An empty protobuf message: every field at its default. Clients ask for `…v2@v1.0`,
        // the server answers with the dotted spelling Go's media type parser accepts.
        return (
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Vec::new(),
        );
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": {},
        "definitions": {},
    });
    (
        "application/json",
        serde_json::to_vec(&doc).unwrap_or_default(),
    )
}
