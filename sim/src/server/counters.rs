//! Request counters, for assertions such as "no writes in steady state" or "no relists".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The verbs requests are counted under (the Kubernetes authorization verbs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// Discovery, health and version endpoints.
    NonResource,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::NonResource => "nonresource",
        }
    }

    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        )
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    by_verb_resource: Mutex<BTreeMap<(Verb, String), u64>>,
    effective_writes: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Requests by verb and resource (`deployments.apps`, `configmaps`; empty for non-resource).
    pub requests: BTreeMap<(Verb, String), u64>,
    /// Write requests that changed stored state.
    pub effective_writes: u64,
}

impl CounterSnapshot {
    /// Requests of one verb across resources.
    pub fn verb(&self, verb: Verb) -> u64 {
        self.requests
            .iter()
            .filter(|((v, _), _)| *v == verb)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests of one verb on one resource (`deployments.apps`).
    pub fn of(&self, verb: Verb, resource: &str) -> u64 {
        self.requests
            .get(&(verb, resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// All write requests (whether or not they changed anything).
    pub fn writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|((v, _), _)| v.is_write())
            .map(|(_, n)| n)
            .sum()
    }
}

impl Counters {
    pub fn record(&self, verb: Verb, resource: &str) {
        *self
            .by_verb_resource
            .lock()
            .entry((verb, resource.to_string()))
            .or_default() += 1;
    }

    pub fn record_effective_write(&self) {
        self.effective_writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.by_verb_resource.lock().clone(),
            effective_writes: self.effective_writes.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        self.by_verb_resource.lock().clear();
        self.effective_writes.store(0, Ordering::Relaxed);
    }
}

/// Connections accepted so far, by the protocol they speak.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    http1: AtomicU64,
    http2: AtomicU64,
}

/// A copy of [`ConnectionStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    pub http1: u64,
    pub http2: u64,
}

impl ConnectionStats {
    pub fn snapshot(&self) -> ConnectionCounts {
        ConnectionCounts {
            http1: self.http1.load(Ordering::Relaxed),
            http2: self.http2.load(Ordering::Relaxed),
        }
    }

    pub fn count(&self, protocol: Protocol) {
        let counter = match protocol {
            Protocol::Http1 => &self.http1,
            Protocol::Http2 => &self.http2,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What an accepted connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}
