//! The watch history: a bounded per-cluster window of changes that watchers read from
//! (streaming them is the REST layer's business, see `rest::watch`).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::server::error::ApiError;
use crate::server::object::Object;
use crate::server::resources::GroupResource;

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
    pub object: Object,
    /// The previous state, so selector watchers can see objects leave or enter their view.
    pub prev: Option<Object>,
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
