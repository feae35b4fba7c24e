//! The ServiceAccount token controller: Secrets of type
//! `kubernetes.io/service-account-token` get `data.token`, `data["ca.crt"]` and
//! `data.namespace`, and the token authenticates as the ServiceAccount.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::auth::token::service_account_user;
use crate::server::cluster::Cluster;
use crate::server::engine::{At, Sub, WriteOpts};
use crate::server::meta;
use crate::server::reconciler::{self, Reconciler};

pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
const SA_NAME: &str = "kubernetes.io/service-account.name";
const SA_UID: &str = "kubernetes.io/service-account.uid";

/// A JWT-shaped token (unsigned: only this cluster's token table gives it meaning).
fn new_token(ns: &str, secret: &str, sa: &str, sa_uid: &str) -> String {
    let header = json!({"alg": "RS256", "kid": "kubefed-sim"});
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": ns,
        "kubernetes.io/serviceaccount/secret.name": secret,
        "kubernetes.io/serviceaccount/service-account.name": sa,
        "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        "sub": format!("system:serviceaccount:{ns}:{sa}"),
    });
    format!(
        "{}.{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string()),
        B64URL.encode(meta::new_uid())
    )
}

/// Starts the controller for `cluster`; abort the handle to stop it.
pub fn spawn(cluster: &Cluster) -> JoinHandle<()> {
    reconciler::spawn(cluster, TokenController::default(), Arc::new(Notify::new()))
}

#[derive(Default)]
struct TokenController {
    /// `State::changes_of` Secrets at the last pass.
    seen: Option<u64>,
    /// Secret uid → token registered with the cluster.
    known: HashMap<String, String>,
}

impl Reconciler for TokenController {
    fn reconcile(&mut self, cluster: &Cluster) -> Option<Instant> {
        let mut st = cluster.inner.state.lock();
        let def = st.registry.get("", "v1", "secrets")?;
        let changes = st.changes_of(&def.gr());
        if self.seen == Some(changes) {
            return None;
        }
        let sa_def = st.registry.get("", "v1", "serviceaccounts");
        let secrets: Vec<Arc<Value>> = st
            .store
            .list(&def.gr(), None, None)
            .map(|(_, o)| Arc::new(o.to_value()))
            .filter(|o| o["type"] == TOKEN_SECRET_TYPE)
            .collect();
        let mut live = HashMap::new();
        for secret in secrets {
            let ns = meta::namespace(&secret).to_string();
            let name = meta::name(&secret).to_string();
            let Some(sa) = meta::get_path(&secret, "metadata.annotations")
                .and_then(|a| a.get(SA_NAME))
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            let existing = meta::get_path(&secret, "data.token")
                .and_then(Value::as_str)
                .and_then(|t| BASE64.decode(t).ok())
                .and_then(|t| String::from_utf8(t).ok());
            let token = match existing {
                Some(t) => t,
                None => {
                    let sa_uid = sa_def
                        .as_ref()
                        .and_then(|d| st.get(d, &ns, &sa).ok())
                        .map(|o| meta::uid(&o).to_string())
                        .unwrap_or_default();
                    let token = new_token(&ns, &name, &sa, &sa_uid);
                    let mut candidate = (*secret).clone();
                    let data = &mut candidate["data"];
                    if !data.is_object() {
                        *data = json!({});
                    }
                    data["token"] = json!(BASE64.encode(&token));
                    data["ca.crt"] = json!(BASE64.encode(crate::server::pki::CA_PEM));
                    data["namespace"] = json!(BASE64.encode(&ns));
                    if !sa_uid.is_empty() {
                        candidate["metadata"]["annotations"][SA_UID] = json!(sa_uid);
                    }
                    let opts = WriteOpts {
                        manager: "kube-controller-manager".into(),
                        dry_run: false,
                        sub: Sub::Main,
                        apply: None,
                    };
                    let at = At {
                        def: &def,
                        ns: &ns,
                        name: &name,
                        version: "v1",
                    };
                    if let Err(e) = st.update(&at, &secret, candidate, &opts) {
                        tracing::debug!(secret = %name, error = %e, "filling a token secret failed");
                        continue;
                    }
                    token
                }
            };
            live.insert(meta::uid(&secret).to_string(), (token, ns, sa));
        }
        drop(st);
        for (uid, token) in &self.known {
            if live.get(uid).map(|(t, _, _)| t) != Some(token) {
                cluster.revoke_token(token);
            }
        }
        let mut known = HashMap::new();
        for (uid, (token, ns, sa)) in live {
            if self.known.get(&uid) != Some(&token) {
                cluster.add_token(&token, service_account_user(&ns, &sa));
            }
            known.insert(uid, token);
        }
        self.known = known;
        // Its own writes count too; the next pass sees them and finds nothing to do.
        self.seen = Some(changes);
        None
    }
}
