//! kube-runtime helpers against the simulator: the finalizer helper (JSON patch `test`
//! operations, deletion timestamps) and the events Recorder (events.k8s.io).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kubefed_sim::Cluster;

const FINALIZER: &str = "example.com/cleanup";

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("managed".into(), "yes".into())])),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn reconcile(obj: Arc<ConfigMap>, client: Arc<Client>) -> Result<Action, Error> {
    let api: Api<ConfigMap> = Api::default_namespaced((*client).clone());
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(_) => Ok::<_, kube::Error>(Action::await_change()),
            Finalizer::Cleanup(o) => {
                let marker = cm(&format!("cleaned-{}", o.name_any()));
                let mut marker = marker;
                marker.metadata.labels = None;
                api.create(&PostParams::default(), &marker).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

fn error_policy(_: Arc<ConfigMap>, _: &Error, _: Arc<Client>) -> Action {
    Action::requeue(Duration::from_millis(50))
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    kubefed_sim::testing::eventually(what, Duration::from_secs(5), || {
        let done = f();
        async move { done.await.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn finalizer_helper_round_trip() {
    let cluster = Cluster::new("finalizers");
    let client = cluster.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let controller = Controller::new(
        api.clone(),
        watcher::Config::default().labels("managed=yes"),
    )
    .run(reconcile, error_policy, Arc::new(client.clone()))
    .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    api.create(&PostParams::default(), &cm("guarded"))
        .await
        .unwrap();
    eventually("finalizer added", || async {
        api.get("guarded")
            .await
            .unwrap()
            .finalizers()
            .contains(&FINALIZER.to_string())
    })
    .await;
    api.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    eventually("object removed after cleanup", || async {
        api.get_opt("guarded").await.unwrap().is_none()
    })
    .await;
    assert!(api.get_opt("cleaned-guarded").await.unwrap().is_some());
    handle.abort();
}

#[tokio::test]
async fn event_recorder_publishes_series() {
    let cluster = Cluster::new("events");
    let client = cluster.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let obj = api
        .create(&PostParams::default(), &cm("subject"))
        .await
        .unwrap();
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: obj.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: obj.metadata.uid.clone(),
        ..Default::default()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "tests".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("all good".into()),
        action: "Sync".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::default_namespaced(client);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(e.reason.as_deref(), Some("Synced"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
}
