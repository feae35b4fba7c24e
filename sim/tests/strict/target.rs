//! Where the strictness rules run: a simulated cluster in-process and over HTTPS (with RBAC
//! authorization on), or, when `KUBEFED_CONFORMANCE_KUBECONFIG` names a kubeconfig (and
//! optionally `KUBEFED_CONFORMANCE_CONTEXT` a context of it, as cluster admin), the real API
//! server behind it instead, so the same expectations can be checked against one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use kube::Client;
use kubefed_sim::Cluster;
use kubefed_sim::auth::rbac::Rbac;
use serde_json::{Value, json};

enum Reach {
    InProcess(Cluster),
    Config(Box<kube::Config>),
}

pub struct Target {
    pub transport: String,
    /// A cluster-admin client.
    pub client: Client,
    reach: Reach,
    /// Keeps a simulated cluster (and its listener) alive.
    _sim: Option<Cluster>,
}

/// A response as the wire carried it.
#[derive(Debug)]
pub struct Raw {
    pub code: u16,
    pub warnings: Vec<String>,
    pub body: Value,
}

impl Raw {
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// `(field, reason, message)` of every cause, sorted (the real server's order is not
    /// stable).
    pub fn causes(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = self.body["details"]["causes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("field"), s("reason"), s("message"))
            })
            .collect();
        out.sort();
        out
    }

    /// Asserts the status code and reason (`""` for statuses without one).
    pub fn expect(&self, code: u16, reason: &str, what: &str) -> &Self {
        assert_eq!(
            (self.code, self.reason()),
            (code, reason),
            "{what}: {:#}",
            self.body
        );
        self
    }
}

const ENV_KUBECONFIG: &str = "KUBEFED_CONFORMANCE_KUBECONFIG";
const ENV_CONTEXT: &str = "KUBEFED_CONFORMANCE_CONTEXT";

/// Whether the rules run against a real API server.
pub fn real() -> bool {
    std::env::var_os(ENV_KUBECONFIG).is_some()
}

/// The places to check: a real server when configured, else both transports of fresh
/// simulated clusters.
pub async fn targets() -> Vec<Target> {
    if let Some(path) = std::env::var_os(ENV_KUBECONFIG) {
        let kc =
            kube::config::Kubeconfig::read_from(&path).expect("read the conformance kubeconfig");
        let opts = kube::config::KubeConfigOptions {
            context: std::env::var(ENV_CONTEXT).ok(),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("conformance kubeconfig context");
        let client = Client::try_from(config.clone()).expect("client for the real server");
        return vec![Target {
            transport: format!("real server {}", config.cluster_url),
            client,
            reach: Reach::Config(Box::new(config)),
            _sim: None,
        }];
    }
    let with_rbac = |name: &str| {
        let c = Cluster::new(name);
        c.add_middleware(Arc::new(Rbac::new(&c)));
        c
    };
    let local = with_rbac("in-process");
    let remote = with_rbac("https");
    let config = remote.https_config().await.expect("https config");
    vec![
        Target {
            transport: "in-process".into(),
            client: local.client(),
            reach: Reach::InProcess(local.clone()),
            _sim: Some(local),
        },
        Target {
            transport: "https".into(),
            client: Client::try_from(config.clone()).expect("https client"),
            reach: Reach::Config(Box::new(config)),
            _sim: Some(remote),
        },
    ]
}

/// A name unique to this run, so runs against a real server do not collide.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{:x}", nanos ^ std::process::id())
}

impl Target {
    /// The simulated cluster behind this target (none for a real server).
    pub fn sim(&self) -> Option<&Cluster> {
        self._sim.as_ref()
    }

    /// A client authenticating with a bearer token instead of the admin credentials.
    pub fn client_as(&self, token: &str) -> Client {
        match &self.reach {
            Reach::InProcess(c) => Client::new(c.service_with_token(Some(token)), "default"),
            Reach::Config(config) => {
                let mut config = (**config).clone();
                config.auth_info =
                    serde_json::from_value(json!({"token": token})).expect("token auth info");
                Client::try_from(config).expect("client with token")
            }
        }
    }

    /// Sends a request as the admin and returns it as received.
    pub async fn send(&self, method: Method, path: &str, content_type: &str, body: &Value) -> Raw {
        send_with(&self.client, method, path, content_type, body).await
    }

    /// A fresh namespace for one test.
    pub async fn namespace(&self, prefix: &str) -> String {
        let ns = unique(prefix);
        let r = self
            .send(
                Method::POST,
                "/api/v1/namespaces",
                "application/json",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
        assert_eq!(r.code, 201, "create namespace: {}", r.body);
        ns
    }

    /// Creates a CRD and waits until its resource is served.
    pub async fn crd(&self, crd: &Value) {
        let r = self
            .send(
                Method::POST,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                "application/json",
                crd,
            )
            .await;
        assert_eq!(r.code, 201, "create CRD: {}", r.body);
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let version = crd["spec"]["versions"][0]["name"]
            .as_str()
            .unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let path = format!("/apis/{group}/{version}/{plural}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.send(Method::GET, &path, "", &Value::Null).await;
            if r.code == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "{path} never served: {}", r.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes what a test created on a real server (a simulated one is thrown away).
    pub async fn cleanup(&self, paths: &[String]) {
        if !real() {
            return;
        }
        for p in paths {
            let _ = self.send(Method::DELETE, p, "", &Value::Null).await;
        }
    }
}

/// Sends a request with a client and returns it as received.
pub async fn send_with(
    client: &Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Raw {
    let bytes = match body {
        Value::Null => Vec::new(),
        Value::String(s) => s.clone().into_bytes(),
        other => serde_json::to_vec(other).expect("json"),
    };
    let mut req = Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        req = req.header(http::header::CONTENT_TYPE, content_type);
    }
    let req = req.body(kube::client::Body::from(bytes)).expect("request");
    let resp = client.send(req).await.expect("response");
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let data: Bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = serde_json::from_slice(&data)
        .unwrap_or(Value::String(String::from_utf8_lossy(&data).into()));
    Raw {
        code,
        warnings,
        body,
    }
}
