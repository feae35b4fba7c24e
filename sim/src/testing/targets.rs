//! One fresh cluster per transport, for tests that must hold whichever way a client connects.

use crate::Cluster;

pub struct Target {
    pub transport: &'static str,
    pub cluster: Cluster,
    pub client: kube::Client,
}

/// A fresh cluster per transport: in-process service, plain HTTP and HTTPS.
pub async fn targets() -> Vec<Target> {
    let a = Cluster::new("in-process");
    let b = Cluster::new("http");
    let c = Cluster::new("https");
    vec![
        Target {
            transport: "service",
            client: a.client(),
            cluster: a,
        },
        Target {
            transport: "http",
            client: b.http_client().await.expect("http client"),
            cluster: b,
        },
        Target {
            transport: "https",
            client: c.https_client().await.expect("https client"),
            cluster: c,
        },
    ]
}
