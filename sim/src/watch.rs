//! Watch: a bounded per-cluster event history and the streaming of events to watchers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::resources::{GroupResource, ResourceDef};
use crate::selectors::Selectors;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change recorded in the history. Objects are shared, never copied per watcher.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gr: GroupResource,
    pub namespace: String,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The previous state, so selector watchers can see objects leave or enter their view.
    pub prev: Option<Arc<Value>>,
}

/// The last `capacity` changes. Watches from a version older than the window get 410 Expired.
#[derive(Debug)]
pub struct History {
    changes: VecDeque<Arc<Change>>,
    capacity: usize,
    /// Every change with rv greater than this is retained.
    pub compacted_rv: u64,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            changes: VecDeque::new(),
            capacity: capacity.max(1),
            compacted_rv: 0,
        }
    }

    pub fn push(&mut self, c: Change) {
        self.changes.push_back(Arc::new(c));
        while self.changes.len() > self.capacity {
            if let Some(old) = self.changes.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.changes.len() > self.capacity {
            if let Some(old) = self.changes.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
    }

    /// Drops all retained history, as an etcd compaction would.
    pub fn compact(&mut self, current_rv: u64) {
        self.changes.clear();
        self.compacted_rv = current_rv;
    }

    /// Up to `max` changes after `since`, or Expired when `since` fell out of the window.
    pub fn since(&self, since: u64, max: usize) -> Result<Vec<Arc<Change>>, ApiError> {
        if since < self.compacted_rv {
            return Err(ApiError::Expired(since, self.compacted_rv + 1));
        }
        let start = self.changes.partition_point(|c| c.rv <= since);
        Ok(self.changes.iter().skip(start).take(max).cloned().collect())
    }
}

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
    pub fn encode(&self, kind: &str, obj: &Value, first: &mut bool) -> Bytes {
        match &self.table {
            Some(def) => {
                let mut t = crate::table::to_table(def, &[obj], json!({}));
                if !std::mem::replace(first, false) {
                    t["columnDefinitions"] = json!([]);
                }
                event_line(kind, &t, "")
            }
            None => event_line(kind, obj, &self.api_version),
        }
    }

    /// The event this change means for this watcher, if any. An object that stops matching
    /// is reported DELETED and one that starts matching ADDED.
    pub fn translate(&self, c: &Change) -> Option<(EventType, Arc<Value>)> {
        if c.gr != self.gr {
            return None;
        }
        if let Some(ns) = &self.namespace
            && *ns != c.namespace
        {
            return None;
        }
        let now = self.selectors.matches(&c.object);
        let before = c.prev.as_ref().is_some_and(|p| self.selectors.matches(p));
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
