//! Watch: the streaming of history events to watchers (`?watch=true`), with selectors,
//! bookmarks, timeouts, Table rendering and 410 Expired.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::rest::table;
use crate::rest::{Ctx, Reply, Route, accept};
use crate::server::cluster::{Cluster, Inner};
use crate::server::error::{ApiError, ApiResult};
use crate::server::object::Object;
use crate::server::resources::{GroupResource, ResourceDef};
use crate::server::selectors::Selectors;
use crate::server::watch::{Change, EventType};

/// What a watcher is interested in.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    pub gr: GroupResource,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    /// apiVersion to stamp on objects served through this watch (CRDs served at several versions).
    pub api_version: String,
    pub kind: String,
    /// Set when the client asked for Table rendering (`kubectl get -w`).
    pub table: Option<Arc<ResourceDef>>,
}

impl WatchFilter {
    /// Encodes one event; Table watches carry column definitions on the first event only.
    pub fn encode(&self, kind: &str, obj: &Object, first: &mut bool) -> Bytes {
        match &self.table {
            Some(def) => {
                let mut t = crate::rest::table::to_table(def, &[&obj.to_value()], json!({}));
                if !std::mem::replace(first, false) {
                    t["columnDefinitions"] = json!([]);
                }
                event_line(kind, &t, "")
            }
            None => object_event_line(kind, obj, &self.api_version),
        }
    }

    /// The event this change means for this watcher, if any. An object that stops matching
    /// is reported DELETED and one that starts matching ADDED.
    pub fn translate(&self, c: &Change) -> Option<(EventType, Object)> {
        if c.gr != self.gr {
            return None;
        }
        if let Some(ns) = &self.namespace
            && *ns != c.namespace
        {
            return None;
        }
        let now = self.selectors.matches_object(&c.object);
        let before = c
            .prev
            .as_ref()
            .is_some_and(|p| self.selectors.matches_object(p));
        match c.kind {
            EventType::Added => now.then_some(EventType::Added),
            EventType::Deleted => now.then_some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }
        .map(|t| (t, c.object.clone()))
    }
}

/// One watch event line for a stored object, its bytes copied as they are.
fn object_event_line(kind: &str, obj: &Object, api_version: &str) -> Bytes {
    let mut line = Vec::with_capacity(4096);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    obj.write_json(&mut line, (!api_version.is_empty()).then_some(api_version));
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// Serializes one watch event line.
pub fn event_line(kind: &str, object: &Value, api_version: &str) -> Bytes {
    let mut line = if object.get("apiVersion").and_then(Value::as_str) == Some(api_version)
        || api_version.is_empty()
    {
        serde_json::to_vec(&json!({"type": kind, "object": object}))
    } else {
        let mut o = object.clone();
        o["apiVersion"] = json!(api_version);
        serde_json::to_vec(&json!({"type": kind, "object": o}))
    }
    .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub fn bookmark_line(kind: &str, api_version: &str, rv: u64, initial_end: bool) -> Bytes {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": kind, "apiVersion": api_version, "metadata": md}),
        "",
    )
}

pub fn error_line(err: &ApiError) -> Bytes {
    event_line("ERROR", &err.to_status(), "")
}

/// Parameters of one watch stream.
#[derive(Debug, Clone)]
pub struct WatchParams {
    pub filter: WatchFilter,
    pub since: u64,
    pub bookmarks: bool,
    pub bookmark_interval: Duration,
    pub timeout: Option<Duration>,
}

/// Capacity of the per-watcher channel: a slow reader blocks its own task (and eventually
/// falls out of the history window), never the server.
pub const WATCHER_BUFFER: usize = 64;

/// Sends a batch of lines; returns false when the client went away.
pub async fn send_all(tx: &mpsc::Sender<Bytes>, lines: Vec<Bytes>) -> bool {
    for l in lines {
        if tx.send(l).await.is_err() {
            return false;
        }
    }
    true
}

impl Cluster {
    pub(super) fn watch(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let q = ctx.query;
        let sel = q.selectors()?;
        let filter = WatchFilter {
            gr: t.def.gr(),
            namespace: t
                .namespace
                .clone()
                .or_else(|| sel.fields.namespace().map(str::to_string)),
            selectors: sel,
            api_version: t.def.api_version(&t.version),
            kind: t.def.kind.clone(),
            table: table::wants_table(accept(ctx.parts)).then(|| t.def.clone()),
        };
        let mut first = true;
        let rv = q.get("resourceVersion").unwrap_or_default();
        let send_initial = q.flag("sendInitialEvents");
        let initial = rv.is_empty() || rv == "0" || send_initial;
        let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
        let mut lines = Vec::new();
        let since = {
            let st = self.inner.state.lock();
            if initial {
                let page = st.list(
                    &t.def,
                    filter.namespace.as_deref(),
                    &filter.selectors,
                    None,
                    None,
                )?;
                for o in &page.items {
                    lines.push(filter.encode("ADDED", o, &mut first));
                }
                st.rv
            } else {
                let since: u64 = rv
                    .parse()
                    .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?;
                if since < st.history.compacted_rv {
                    lines.push(error_line(&ApiError::Expired(
                        since,
                        st.history.compacted_rv + 1,
                    )));
                    drop(st);
                    return Ok(self.finish_stream(tx, rx, lines));
                }
                since.min(st.rv)
            }
        };
        if send_initial {
            lines.push(bookmark_line(
                &filter.kind,
                &filter.api_version,
                since,
                true,
            ));
        }
        let params = WatchParams {
            filter,
            since,
            bookmarks: q.flag("allowWatchBookmarks"),
            bookmark_interval: self.inner.config.bookmark_interval,
            timeout: q
                .get("timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs),
        };
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(run_watch(weak, params, tx, lines, first));
        Ok(Reply::Stream(rx))
    }

    fn finish_stream(
        &self,
        tx: mpsc::Sender<Bytes>,
        rx: mpsc::Receiver<Bytes>,
        lines: Vec<Bytes>,
    ) -> Reply {
        tokio::spawn(async move {
            send_all(&tx, lines).await;
        });
        Reply::Stream(rx)
    }
}

/// Number of history entries a watcher takes per lock acquisition.
const WATCH_BATCH: usize = 256;

/// Streams changes to one watcher until the client goes away, the timeout passes, the
/// cluster is dropped, or the watcher falls out of the history window (410 Expired).
async fn run_watch(
    inner: Weak<Inner>,
    p: WatchParams,
    tx: mpsc::Sender<Bytes>,
    initial: Vec<Bytes>,
    mut first: bool,
) {
    if !send_all(&tx, initial).await {
        return;
    }
    let Some(mut notify) = inner.upgrade().map(|i| i.state.lock().subscribe()) else {
        return;
    };
    let mut since = p.since;
    let deadline = p.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut bookmarks = tokio::time::interval(p.bookmark_interval);
    bookmarks.tick().await;
    loop {
        let batch = {
            let Some(inner) = inner.upgrade() else { return };
            let st = inner.state.lock();
            if st.registry.by_gr(&p.filter.gr).is_none() {
                // The resource stopped being served (its CRD was deleted): end the watch.
                return;
            }
            st.history.since(since, WATCH_BATCH).map(|b| (b, st.rv))
        };
        match batch {
            Err(e) => {
                // If the client is gone there is nobody to tell.
                let _ = tx.send(error_line(&e)).await;
                return;
            }
            Ok((changes, current)) => {
                let complete = changes.len() < WATCH_BATCH;
                let mut lines = Vec::new();
                for c in &changes {
                    since = c.rv;
                    if let Some((t, o)) = p.filter.translate(c) {
                        lines.push(p.filter.encode(t.as_str(), &o, &mut first));
                    }
                }
                if complete {
                    since = since.max(current);
                }
                if !send_all(&tx, lines).await {
                    return;
                }
                if !complete {
                    continue;
                }
            }
        }
        let sleep_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = notify.changed() => if r.is_err() { return },
            _ = bookmarks.tick(), if p.bookmarks => {
                if tx.send(bookmark_line(&p.filter.kind, &p.filter.api_version, since, false)).await.is_err() {
                    return;
                }
            }
            _ = sleep_deadline => return,
            _ = tx.closed() => return,
        }
    }
}
