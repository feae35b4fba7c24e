//! Kubeconfig files pointing at simulated clusters, and kube clients over HTTP.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::server::cluster::Cluster;

/// One cluster/user/context triple, all named `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigEntry {
    pub name: String,
    pub server: String,
    pub token: String,
    pub namespace: Option<String>,
    /// PEM of the CA to trust for https servers.
    pub certificate_authority: Option<String>,
}

/// A kubeconfig with any number of clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kubeconfig {
    pub entries: Vec<KubeconfigEntry>,
    pub current_context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("writing kubeconfig: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding kubeconfig: {0}")]
    Encode(String),
    #[cfg(feature = "kube")]
    #[error("loading kubeconfig: {0}")]
    Load(#[from] kube::config::KubeconfigError),
    #[cfg(feature = "kube")]
    #[error("building client: {0}")]
    Client(#[from] kube::Error),
}

impl Kubeconfig {
    pub fn push(&mut self, e: KubeconfigEntry) {
        if self.current_context.is_none() {
            self.current_context = Some(e.name.clone());
        }
        self.entries.retain(|x| x.name != e.name);
        self.entries.push(e);
    }

    pub fn to_value(&self) -> Value {
        let clusters: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut c = json!({"server": e.server});
                if let Some(ca) = &e.certificate_authority {
                    c["certificate-authority-data"] = json!(BASE64.encode(ca));
                }
                json!({"name": e.name, "cluster": c})
            })
            .collect();
        let users: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"name": e.name, "user": {"token": e.token}}))
            .collect();
        let contexts: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut c = json!({"cluster": e.name, "user": e.name});
                if let Some(ns) = &e.namespace {
                    c["namespace"] = json!(ns);
                }
                json!({"name": e.name, "context": c})
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": self.current_context.clone().unwrap_or_default(),
        })
    }

    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        serde_saphyr::to_string(&self.to_value())
            .map_err(|e| KubeconfigError::Encode(e.to_string()))
    }

    pub fn write(&self, path: &Path) -> Result<(), KubeconfigError> {
        std::fs::write(path, self.to_yaml()?)?;
        Ok(())
    }

    /// A `kube::Config` for one context of this kubeconfig.
    #[cfg(feature = "kube")]
    pub async fn kube_config(&self, context: &str) -> Result<kube::Config, KubeconfigError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.to_yaml()?)?;
        let opts = kube::config::KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        Ok(kube::Config::from_custom_kubeconfig(kc, &opts).await?)
    }
}

impl Cluster {
    /// The kubeconfig entry for this cluster's HTTPS listener (started if needed), as the
    /// cluster admin.
    pub async fn kubeconfig_entry(&self) -> Result<KubeconfigEntry, KubeconfigError> {
        let addr = self.serve_https().await?;
        Ok(KubeconfigEntry {
            name: self.name().to_string(),
            server: format!("https://{addr}"),
            token: self.admin_token().to_string(),
            namespace: None,
            certificate_authority: Some(crate::server::pki::CA_PEM.to_string()),
        })
    }

    /// A kubeconfig entry for the plain-HTTP listener (kube clients send tokens over plain
    /// HTTP; kubectl does not).
    pub async fn kubeconfig_entry_http(&self) -> Result<KubeconfigEntry, KubeconfigError> {
        let addr = self.serve_http().await?;
        Ok(KubeconfigEntry {
            name: self.name().to_string(),
            server: format!("http://{addr}"),
            token: self.admin_token().to_string(),
            namespace: None,
            certificate_authority: None,
        })
    }

    /// A single-cluster kubeconfig.
    pub async fn kubeconfig(&self) -> Result<Kubeconfig, KubeconfigError> {
        let mut kc = Kubeconfig::default();
        kc.push(self.kubeconfig_entry().await?);
        Ok(kc)
    }

    /// Writes a single-cluster kubeconfig to `path`.
    pub async fn write_kubeconfig(&self, path: &Path) -> Result<(), KubeconfigError> {
        self.kubeconfig().await?.write(path)
    }

    /// A `kube::Config` reaching this cluster over HTTPS.
    #[cfg(feature = "kube")]
    pub async fn https_config(&self) -> Result<kube::Config, KubeconfigError> {
        self.kubeconfig().await?.kube_config(self.name()).await
    }

    /// A `kube::Client` reaching this cluster over HTTPS.
    #[cfg(feature = "kube")]
    pub async fn https_client(&self) -> Result<kube::Client, KubeconfigError> {
        Ok(kube::Client::try_from(self.https_config().await?)?)
    }

    /// A `kube::Config` reaching this cluster over plain HTTP.
    #[cfg(feature = "kube")]
    pub async fn http_config(&self) -> Result<kube::Config, KubeconfigError> {
        let mut kc = Kubeconfig::default();
        kc.push(self.kubeconfig_entry_http().await?);
        kc.kube_config(self.name()).await
    }

    /// A `kube::Client` reaching this cluster over plain HTTP.
    #[cfg(feature = "kube")]
    pub async fn http_client(&self) -> Result<kube::Client, KubeconfigError> {
        Ok(kube::Client::try_from(self.http_config().await?)?)
    }
}
