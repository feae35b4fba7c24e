//! Shared fixtures: every conformance test runs against both transports.

#![allow(dead_code)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};

#[allow(unused_imports)]
pub use kubefed_sim::testing::{Target, targets};

/// The HTTP status code of a kube API error.
pub fn code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.reason.clone(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub const WIDGET_CRD: &str = r#"{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {
    "group": "example.com",
    "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
      "additionalPrinterColumns": [{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}],
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
          "placements": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["cluster"],
                         "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}
    }]
  }
}"#;

/// Whether a CRD's names are accepted (its resource is served from then on).
pub fn names_accepted(crd: Option<&CustomResourceDefinition>) -> bool {
    crd.and_then(|c| c.status.as_ref()?.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "NamesAccepted" && c.status == "True")
        })
}

/// Waits (bounded) until the CRD `name` meets `cond`.
pub async fn wait_crd(
    client: &Client,
    name: &str,
    cond: impl kube::runtime::wait::Condition<CustomResourceDefinition>,
) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        await_condition(crds, name, cond),
    )
    .await
    .expect("CRD condition in time")
    .expect("watching the CRD")
    .expect("the CRD exists")
}

/// Creates a CRD and waits until it is established (served and in discovery), as a client of
/// a real API server must before using it.
pub async fn create_crd(client: &Client, crd: &str) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_str(crd).expect("CRD JSON");
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    wait_crd(client, &name, conditions::is_crd_established()).await
}
