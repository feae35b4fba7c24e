//! Watch semantics: initial events, live events, selectors, bookmarks, timeouts, 410 Expired
//! and kube-runtime's watcher recovering through a relist.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::targets;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use kubefed_sim::{Cluster, ClusterConfig, Verb};
use serde_json::json;
use tokio::time::timeout;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

type Events = futures::stream::BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>>;

async fn next(s: &mut Events) -> WatchEvent<ConfigMap> {
    timeout(Duration::from_secs(5), s.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event")
}

fn kind(e: &WatchEvent<ConfigMap>) -> (String, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED".into(), o.name_any()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.name_any()),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.name_any()),
        WatchEvent::Bookmark(_) => ("BOOKMARK".into(), String::new()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

fn ev(k: &str, n: &str) -> (String, String) {
    (k.to_string(), n.to_string())
}

#[tokio::test]
async fn live_events_and_initial_state() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        api.create(&PostParams::default(), &cm("pre", &[("t", "1")]))
            .await
            .unwrap();
        let mut s: Events = api
            .watch(&WatchParams::default().labels("t=1"), "0")
            .await
            .unwrap()
            .boxed();
        assert_eq!(
            kind(&next(&mut s).await),
            ev("ADDED", "pre"),
            "{}",
            t.transport
        );
        api.create(&PostParams::default(), &cm("live", &[("t", "1")]))
            .await
            .unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("ADDED", "live"));
        api.patch(
            "live",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("MODIFIED", "live"));
        api.delete("live", &Default::default()).await.unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("DELETED", "live"));

        // From a resource version: only later changes.
        let list = api.list(&Default::default()).await.unwrap();
        let rv = list.metadata.resource_version.clone().unwrap();
        api.create(&PostParams::default(), &cm("after", &[("t", "1")]))
            .await
            .unwrap();
        let mut s: Events = api
            .watch(&WatchParams::default().labels("t=1"), &rv)
            .await
            .unwrap()
            .boxed();
        assert_eq!(kind(&next(&mut s).await), ev("ADDED", "after"));
    }
}

#[tokio::test]
async fn selectors_apply_to_events() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        api.create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap();
        let wp = WatchParams::default().labels("app=web");
        let rv = api
            .list(&Default::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut s: Events = api.watch(&wp, &rv).await.unwrap().boxed();
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
        )
        .await
        .unwrap();
        assert_eq!(
            kind(&next(&mut s).await),
            ev("ADDED", "x"),
            "{}",
            t.transport
        );
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("MODIFIED", "x"));
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
        )
        .await
        .unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("DELETED", "x"));
        // Field selectors too.
        let wp = WatchParams::default().fields("metadata.name=y");
        let mut s: Events = api.watch(&wp, "0").await.unwrap().boxed();
        api.create(&PostParams::default(), &cm("z", &[]))
            .await
            .unwrap();
        api.create(&PostParams::default(), &cm("y", &[]))
            .await
            .unwrap();
        assert_eq!(kind(&next(&mut s).await), ev("ADDED", "y"));
    }
}

#[tokio::test]
async fn expired_versions_get_410() {
    for t in targets().await {
        t.cluster.set_history_size(5);
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        api.create(&PostParams::default(), &cm("first", &[]))
            .await
            .unwrap();
        let old = api.get("first").await.unwrap().resource_version().unwrap();
        for i in 0..10 {
            api.create(&PostParams::default(), &cm(&format!("n{i}"), &[]))
                .await
                .unwrap();
        }
        let mut s: Events = api
            .watch(&WatchParams::default(), &old)
            .await
            .unwrap()
            .boxed();
        match next(&mut s).await {
            WatchEvent::Error(e) => {
                assert_eq!(
                    (e.code, e.reason.as_str()),
                    (410, "Expired"),
                    "{}",
                    t.transport
                );
            }
            other => panic!("expected 410, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bookmarks_timeouts_and_streaming_lists() {
    let cluster = Cluster::with_config(
        "bookmarks",
        ClusterConfig {
            bookmark_interval: Duration::from_millis(100),
            ..Default::default()
        },
    );
    for client in [cluster.client(), cluster.http_client().await.unwrap()] {
        let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
        let rv = api
            .list(&Default::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut s: Events = api
            .watch(
                &WatchParams {
                    bookmarks: true,
                    ..Default::default()
                },
                &rv,
            )
            .await
            .unwrap()
            .boxed();
        assert_eq!(kind(&next(&mut s).await).0, "BOOKMARK");
        // timeoutSeconds ends the stream.
        let s = api
            .watch(&WatchParams::default().timeout(1), &rv)
            .await
            .unwrap();
        let all: Vec<_> = timeout(Duration::from_secs(5), s.collect::<Vec<_>>())
            .await
            .expect("stream ends");
        assert!(
            all.iter().all(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
            "{all:?}"
        );
        // Streaming list: initial events, then a bookmark marking their end.
        if api.get_opt("s1").await.unwrap().is_none() {
            api.create(&PostParams::default(), &cm("s1", &[("t", "1")]))
                .await
                .unwrap();
        }
        let mut s: Events = api
            .watch(&WatchParams::streaming_lists().labels("t=1"), "")
            .await
            .unwrap()
            .boxed();
        assert_eq!(kind(&next(&mut s).await), ev("ADDED", "s1"));
        match next(&mut s).await {
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
            }
            other => panic!("expected bookmark, got {other:?}"),
        }
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let done = || std::future::ready(f().then_some(()));
    kubefed_sim::testing::eventually(what, Duration::from_secs(5), done).await;
}

async fn relist_case(cluster: Cluster, client: Client) {
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    // Like a controller, keep consuming after errors: the 410 surfaces as one error item.
    let errors = Arc::new(AtomicUsize::new(0));
    let seen_errors = errors.clone();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().timeout(1)),
    )
    .applied_objects()
    .boxed();
    let task = tokio::spawn(stream.for_each(move |r| {
        if r.is_err() {
            seen_errors.fetch_add(1, Ordering::Relaxed);
        }
        async {}
    }));
    wait_for("initial sync", || {
        reader
            .get(&reflector::ObjectRef::new("a").within("default"))
            .is_some()
    })
    .await;
    assert_eq!(cluster.counters().of(Verb::List, "configmaps"), 1);
    // Changes elsewhere move the history window past the watcher's last version.
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    for i in 0..20 {
        let s = Secret {
            metadata: ObjectMeta {
                name: Some(format!("s{i}")),
                ..Default::default()
            },
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    cluster.compact_history();
    // The watch times out, re-watches from an expired version, gets 410 and relists.
    wait_for("relist", || {
        cluster.counters().of(Verb::List, "configmaps") >= 2
    })
    .await;
    api.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    wait_for("event after relist", || {
        reader
            .get(&reflector::ObjectRef::new("b").within("default"))
            .is_some()
    })
    .await;
    assert!(!task.is_finished(), "the watcher keeps running");
    assert!(errors.load(Ordering::Relaxed) <= 1);
    task.abort();
}

#[tokio::test]
async fn watcher_survives_expired_history() {
    let c = Cluster::new("relist-service");
    relist_case(c.clone(), c.client()).await;
    let c = Cluster::new("relist-http");
    let client = c.http_client().await.unwrap();
    relist_case(c, client).await;
}

#[tokio::test]
async fn watcher_with_streaming_lists() {
    let cluster = Cluster::new("streaming");
    let api: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    api.create(&PostParams::default(), &cm("one", &[]))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().streaming_lists()),
    )
    .applied_objects()
    .boxed();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    wait_for("initial events", || {
        reader
            .get(&reflector::ObjectRef::new("one").within("default"))
            .is_some()
    })
    .await;
    api.create(&PostParams::default(), &cm("two", &[]))
        .await
        .unwrap();
    wait_for("live event", || {
        reader
            .get(&reflector::ObjectRef::new("two").within("default"))
            .is_some()
    })
    .await;
    assert_eq!(
        cluster.counters().of(Verb::List, "configmaps"),
        0,
        "streaming lists do not list"
    );
    task.abort();
}
