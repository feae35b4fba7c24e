//! Fault injection as seen through kube clients.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_sim::FaultSpec;
use kubefed_sim::Verb;
use kubefed_sim::fleet::{Fleet, FleetConfig};
use serde_json::json;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_refuses_connections_until_online() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let ns: Api<Namespace> = Api::all(member.https_client().await.unwrap());
    ns.get("default").await.unwrap();
    fleet
        .apply_fault("cluster1", &"offline".parse().unwrap())
        .await
        .unwrap();
    // A request already on a kept-alive connection sees it closed; the next one is refused,
    // as by a server that went down.
    let mut errors = Vec::new();
    for _ in 0..2 {
        let err = ns.get("default").await.unwrap_err();
        assert_eq!(api_code(&err), None, "a connection error: {err:?}");
        let refused = format!("{err:?}").to_lowercase().contains("refused");
        errors.push(err);
        if refused {
            break;
        }
    }
    assert!(
        format!("{:?}", errors.last())
            .to_lowercase()
            .contains("refused"),
        "{errors:?}"
    );
    fleet
        .apply_fault("cluster1", &FaultSpec::Online)
        .await
        .unwrap();
    ns.get("default").await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_requests_time_out_and_resume_when_cleared() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let mut config = member.kube_config().await.unwrap();
    config.read_timeout = Some(Duration::from_millis(300));
    let ns: Api<Namespace> = Api::all(kube::Client::try_from(config).unwrap());
    ns.get("default").await.unwrap();

    member.faults().apply(&FaultSpec::Hang);
    let started = Instant::now();
    let err = ns.get("default").await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(api_code(&err), None, "a client timeout: {err:?}");
    assert!(
        format!("{err:?}").to_lowercase().contains("timedout")
            || format!("{err:?}").to_lowercase().contains("timeout"),
        "{err:?}"
    );

    // A request waiting on a hung server proceeds once the fault clears.
    let in_process: Api<Namespace> = Api::all(member.client());
    let waiting = tokio::spawn(async move { in_process.get("default").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    member.faults().set_hang(false);
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_fails_health_checks_only() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let client = member.https_client().await.unwrap();
    member.faults().apply(&FaultSpec::Unhealthy);
    let req = http::Request::get("/healthz").body(Vec::new()).unwrap();
    let resp = client.send(req.map(Into::into)).await.unwrap();
    assert_eq!(resp.status(), 500);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("healthz check failed"), "{body}");
    client.apiserver_version().await.unwrap();
    Api::<Namespace>::all(client.clone())
        .get("default")
        .await
        .unwrap();

    member.faults().apply(&FaultSpec::Healthy);
    let req = http::Request::get("/healthz").body(Vec::new()).unwrap();
    let resp = client.send(req.map(Into::into)).await.unwrap();
    assert_eq!(resp.status(), 200);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_error_rates() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let ns: Api<Namespace> = Api::all(member.client());

    member.faults().apply(&"latency=80ms".parse().unwrap());
    let started = Instant::now();
    ns.get("default").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
    member.faults().set_latency(Duration::ZERO);

    member.faults().apply(&"errors=1".parse().unwrap());
    let err = ns.get("default").await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 500);
            assert_eq!(s.reason, "InternalError");
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    member.faults().apply(&"errors=1:429".parse().unwrap());
    let err = ns.get("default").await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert_eq!(s.reason, "TooManyRequests");
        }
        other => panic!("expected a 429, got {other:?}"),
    }

    // A fraction fails, and the same seed fails the same requests.
    let pattern = |seed: u64| {
        let ns = ns.clone();
        let faults = member.faults().clone();
        async move {
            faults.seed(seed);
            faults.set_errors(0.3, 500);
            let mut out = Vec::new();
            for _ in 0..40 {
                out.push(ns.get("default").await.is_ok());
            }
            out
        }
    };
    let a = pattern(42).await;
    let b = pattern(42).await;
    assert_eq!(a, b);
    let failed = a.iter().filter(|ok| !**ok).count();
    assert!((4..=24).contains(&failed), "{failed} of 40 failed");
    member.faults().clear();
    ns.get("default").await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_watches_are_recovered_by_the_watcher() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let client = member.https_client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // Every namespace holds the cluster's root CA ConfigMap; only the test's own matter.
    let mut names = watcher(cms.clone(), watcher::Config::default())
        .applied_objects()
        .map(|r| r.map(|cm| cm.metadata.name.unwrap_or_default()))
        .filter(|r| futures::future::ready(!matches!(r, Ok(n) if n == "kube-root-ca.crt")))
        .boxed();
    cms.create(&PostParams::default(), &configmap("before"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), names.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "before");
    // The watcher lists first; keep polling it until its watch stream is open.
    let poll = async {
        while member.faults().watch_streams_opened() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        _ = poll => {}
        item = names.next() => panic!("unexpected event {item:?}"),
    }
    let watches = member.faults().watch_streams_opened();
    let events = member.watch_events_sent();

    member.faults().apply(&FaultSpec::CutWatches);
    tokio::time::sleep(Duration::from_millis(100)).await;
    cms.create(&PostParams::default(), &configmap("after"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(&"after".to_string()) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), names.next()).await {
            Ok(Some(Ok(n))) => seen.push(n),
            Ok(Some(Err(_))) => {}
            _ => break,
        }
    }
    assert!(seen.contains(&"after".to_string()), "{seen:?}");
    assert!(
        member.faults().watch_streams_opened() > watches,
        "the watcher opened a new stream"
    );
    assert!(member.watch_events_sent() > events);
    assert!(
        member.counters().of(Verb::Watch, "configmaps") >= 2,
        "{:?}",
        member.counters()
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_switches_faults_and_capacity() {
    use kubefed_sim::fleet::admin;
    let fleet = std::sync::Arc::new(Fleet::start(FleetConfig::with_members(2)).await.unwrap());
    let (addr, task) = admin::serve(fleet.clone()).await.unwrap();
    let post =
        |path: &'static str, body: &'static str| admin::call(addr, http::Method::POST, path, body);

    post("/clusters/cluster2/fault", "offline").await.unwrap();
    assert!(!fleet.get("cluster2").unwrap().is_online().await);
    post("/clusters/cluster2/fault", "latency=20ms")
        .await
        .unwrap();
    post("/clusters/cluster2/capacity", "7").await.unwrap();
    let status = admin::call(addr, http::Method::GET, "/clusters", "")
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let c2 = &status[2];
    assert_eq!(c2["name"], "cluster2");
    assert_eq!(c2["online"], false);
    assert_eq!(c2["capacity"], 7);
    assert_eq!(c2["faults"]["latency_ms"], 20);

    post("/clusters/cluster2/fault", "clear").await.unwrap();
    let member = fleet.get("cluster2").unwrap();
    assert!(member.is_online().await);
    assert_eq!(member.faults().status().latency_ms, 0);
    Api::<Namespace>::all(member.https_client().await.unwrap())
        .get("default")
        .await
        .unwrap();

    let unknown = post("/clusters/cluster9/fault", "hang").await.unwrap_err();
    assert!(unknown.to_string().contains("cluster9"), "{unknown}");
    let bad = post("/clusters/cluster1/fault", "explode")
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("unknown fault"), "{bad}");
    let bad = post("/clusters/cluster1/capacity", "lots")
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("invalid capacity"), "{bad}");
    task.abort();
    fleet.shutdown().await;
}

/// A TLS client that trusts the fleet's CA.
fn tls_connector() -> tokio_rustls::TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(kubefed_sim::server::pki::CA_PEM.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How long a frozen server is given to (wrongly) answer before a check concludes it did not;
/// the same window suffices for the unfrozen control in each test.
const SILENCE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_member_accepts_connections_but_answers_no_tls_handshake_until_thawed() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let connector = tls_connector();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();

    // Control: an unfrozen member completes the handshake well within the window.
    let tcp = tokio::net::TcpStream::connect(member.addr()).await.unwrap();
    tokio::time::timeout(SILENCE, connector.connect(name.clone(), tcp))
        .await
        .expect("handshake with a running member")
        .unwrap();

    fleet
        .apply_fault("cluster1", &"freeze".parse().unwrap())
        .await
        .unwrap();
    assert!(member.faults().status().frozen);
    // The kernel still accepts the connection...
    let tcp = tokio::time::timeout(SILENCE, tokio::net::TcpStream::connect(member.addr()))
        .await
        .expect("connect is answered by the kernel")
        .unwrap();
    // ...but the server never answers the handshake, and does not close the connection.
    let mut handshake = Box::pin(connector.connect(name, tcp));
    assert!(
        tokio::time::timeout(SILENCE, &mut handshake).await.is_err(),
        "a frozen server answered the TLS handshake"
    );

    fleet
        .apply_fault("cluster1", &FaultSpec::Thaw)
        .await
        .unwrap();
    // The very same handshake is answered late.
    tokio::time::timeout(Duration::from_secs(5), handshake)
        .await
        .expect("handshake answered after thaw")
        .unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_watch_goes_silent_without_closing_and_resumes_on_thaw() {
    use kube::api::WatchEvent;
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let https = member.https_client().await.unwrap();
    for (transport, client) in [("https", https), ("in-process", member.client())] {
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut frozen = watch_from_now(&cms).await;
        // A watch that bypasses the faults shows when the event has been sent.
        let control: Api<ConfigMap> = Api::namespaced(member.cluster().client(), "default");
        let mut control = watch_from_now(&control).await;

        member.faults().apply(&FaultSpec::Freeze);
        let name = format!("during-freeze-{transport}");
        member
            .cluster()
            .create_object(
                "",
                "v1",
                "configmaps",
                "default",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
            )
            .unwrap();
        match tokio::time::timeout(Duration::from_secs(5), control.next()).await {
            Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                assert_eq!(cm.metadata.name.as_deref(), Some(name.as_str()))
            }
            other => panic!("control watch: {other:?}"),
        }
        // Silent, and not ended: `next()` neither yields an event nor the end of the stream.
        assert!(
            tokio::time::timeout(SILENCE, frozen.next()).await.is_err(),
            "{transport}: the watch of a frozen server moved"
        );

        member.faults().apply(&FaultSpec::Thaw);
        match tokio::time::timeout(Duration::from_secs(5), frozen.next()).await {
            Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                assert_eq!(cm.metadata.name.as_deref(), Some(name.as_str()))
            }
            other => panic!("{transport}: the same stream after thaw: {other:?}"),
        }
    }
    fleet.shutdown().await;
}

/// Current-thread runtime: requests released by the thaw run in the order they are woken.
#[tokio::test]
async fn thaw_answers_held_requests_late_in_order() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(member.client(), "default");
    member.faults().apply(&FaultSpec::Freeze);
    let mut pending = Vec::new();
    for (i, name) in ["first", "second", "third"].into_iter().enumerate() {
        let cms = cms.clone();
        pending.push(tokio::spawn(async move {
            cms.create(&PostParams::default(), &configmap(name)).await
        }));
        until("the request to be held", || {
            member.faults().held_requests() == i as u64 + 1
        })
        .await;
    }
    // A client that gives up while the server is frozen.
    let gave_up = tokio::time::timeout(SILENCE, cms.get("first")).await;
    assert!(gave_up.is_err(), "answered while frozen: {gave_up:?}");
    assert_eq!(member.faults().held_requests(), 3);
    assert!(
        member
            .cluster()
            .get_object("", "configmaps", "default", "first")
            .is_none(),
        "a frozen server processed a request"
    );

    member.faults().apply(&FaultSpec::Thaw);
    let mut versions = Vec::new();
    for p in pending {
        let cm = tokio::time::timeout(Duration::from_secs(5), p)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        versions.push(
            cm.metadata
                .resource_version
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert!(versions.is_sorted(), "answered out of order: {versions:?}");
    assert_eq!(member.faults().held_requests(), 0);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_abandoned_during_a_freeze_are_answered_after_thaw() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let mut config = member.kube_config().await.unwrap();
    config.read_timeout = Some(SILENCE);
    let cms: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    // Opens the connection, so the next request is written before the server stops reading.
    cms.get("kube-root-ca.crt").await.unwrap();
    let gets = || member.counters().of(Verb::Get, "configmaps");
    let before = gets();

    member.faults().apply(&FaultSpec::Freeze);
    let err = cms.get("kube-root-ca.crt").await.unwrap_err();
    assert_eq!(api_code(&err), None, "a client timeout: {err:?}");
    assert_eq!(gets(), before, "a frozen server read the request");

    member.faults().apply(&FaultSpec::Thaw);
    // The server reads the abandoned request, handles it and answers into a closed socket.
    until("the abandoned request to be handled", || {
        gets() == before + 1
    })
    .await;
    cms.get("kube-root-ca.crt").await.unwrap();
    fleet.shutdown().await;
}

/// A lagging watch: a write is answered before its event, which comes the watch latency
/// later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_latency_delays_events_behind_the_answers() {
    use futures::FutureExt;
    use kube::api::WatchEvent;
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(member.https_client().await.unwrap(), "default");
    let mut events = watch_from_now(&cms).await;
    let lag = Duration::from_millis(600);
    member
        .faults()
        .apply(&"watch-latency=600ms".parse().unwrap());
    assert_eq!(member.faults().status().watch_latency_ms, 600);
    let started = Instant::now();
    cms.create(&PostParams::default(), &configmap("lagging"))
        .await
        .unwrap();
    assert!(
        events.next().now_or_never().is_none(),
        "the event came with the answer"
    );
    match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
        Ok(Some(Ok(WatchEvent::Added(cm)))) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("lagging"))
        }
        other => panic!("the lagging event: {other:?}"),
    }
    assert!(
        started.elapsed() >= lag,
        "the event came {:?} after the create",
        started.elapsed()
    );
    member.faults().clear();
    assert_eq!(member.faults().status().watch_latency_ms, 0);
    fleet.shutdown().await;
}

/// A watch of the config maps of `cms` from their current resourceVersion on.
async fn watch_from_now(
    cms: &Api<ConfigMap>,
) -> futures::stream::BoxStream<'static, kube::Result<kube::api::WatchEvent<ConfigMap>>> {
    use kube::api::{ListParams, WatchParams};
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed()
}
