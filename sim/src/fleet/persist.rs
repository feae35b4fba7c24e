//! Saving a cluster's objects to a JSON file and loading them back, so a fleet started
//! with a data directory keeps its state across process restarts.
//!
//! Objects are restored verbatim (uids, resource versions, timestamps), CRDs are served
//! again, and the resource version continues from the saved one. The watch history is not
//! saved: watches from before the restart get 410 Expired, as after an etcd compaction.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::server::cluster::Cluster;
use crate::server::crd;
use crate::server::engine::State;
use crate::server::resources::GroupResource;

/// Everything saved about one cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub name: String,
    pub resource_version: u64,
    /// The admin token, so kubeconfigs written before the restart keep working.
    pub admin_token: String,
    /// The listener address, reused when still free.
    #[serde(default)]
    pub addr: Option<String>,
    pub objects: Vec<SavedObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedObject {
    pub group: String,
    pub resource: String,
    pub object: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("reading or writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("decoding {path}: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("encoding the snapshot of {0}: {1}")]
    Encode(String, #[source] serde_json::Error),
}

/// A copy of every stored object of `cluster`.
pub fn snapshot(cluster: &Cluster, admin_token: &str, addr: Option<String>) -> Snapshot {
    let st = cluster.inner.state.lock();
    let mut objects = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for def in st.registry.all() {
        let gr = def.gr();
        if !seen.insert(gr.clone()) {
            continue;
        }
        for (_, o) in st.store.list(&gr, None, None) {
            objects.push(SavedObject {
                group: def.group.clone(),
                resource: def.plural.clone(),
                object: o.to_value(),
            });
        }
    }
    // CRDs first, so their resources are known when the rest is restored.
    objects.sort_by_key(|o| !crd::is_crd_gr(&GroupResource::new(&o.group, &o.resource)));
    Snapshot {
        name: cluster.name().to_string(),
        resource_version: st.rv,
        admin_token: admin_token.to_string(),
        addr,
        objects,
    }
}

/// Puts the saved objects back into a fresh cluster. Objects of resources the cluster does
/// not serve (a CRD that was not saved) are skipped and counted.
pub fn restore(cluster: &Cluster, snap: &Snapshot) -> usize {
    let mut st = cluster.inner.state.lock();
    let mut skipped = 0;
    for saved in &snap.objects {
        let gr = GroupResource::new(&saved.group, &saved.resource);
        if crd::is_crd_gr(&gr) {
            // A CRD that cannot be read is restored as data only, like any other object.
            let _ = st.register_crd(&saved.object);
            // Lets the establishing step finish CRDs saved while installing.
            st.touch(&gr);
        }
        let Some(def) = st.registry.by_gr(&gr) else {
            skipped += 1;
            continue;
        };
        let ns = crate::server::meta::namespace(&saved.object);
        let key = State::key(&def, ns, crate::server::meta::name(&saved.object));
        let rv = crate::server::meta::meta_str(&saved.object, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let stored = crate::server::object::Object::new(&saved.object, rv, &mut st.interner);
        st.store.put(&key, stored);
    }
    st.rv = st.rv.max(snap.resource_version);
    let rv = st.rv;
    st.history.compact(rv);
    skipped
}

/// Writes a snapshot atomically (temporary file, then rename).
pub fn save(path: &Path, snap: &Snapshot) -> Result<(), PersistError> {
    let io = |source| PersistError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = serde_json::to_vec(snap).map_err(|e| PersistError::Encode(snap.name.clone(), e))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a snapshot; `Ok(None)` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| PersistError::Decode {
            path: path.display().to_string(),
            source,
        })
}
