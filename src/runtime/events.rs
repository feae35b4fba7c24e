//! Publishing Kubernetes events on the objects the controllers manage.
//!
//! Normal events stand for a write that happened and are always published. Warning events
//! are published once per change of outcome: a note equal to the last one published for the
//! same object and reason is skipped, so a failure retried with backoff costs one event (and
//! one log line), not one per retry. Failures to publish are only logged: an event is never
//! worth failing a reconciliation for.

use crate::core::events::{EventNote, Severity};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// Publishes events for one controller.
pub struct Publisher {
    recorder: Recorder,
    /// The `action` of every event, e.g. `Sync`.
    action: &'static str,
    /// Per object, the Warning notes last published, by reason.
    warned: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl Publisher {
    pub fn new(recorder: Recorder, action: &'static str) -> Self {
        Publisher {
            recorder,
            action,
            warned: Mutex::default(),
        }
    }

    /// Publishes one event.
    pub async fn publish(&self, reference: &ObjectReference, note: &EventNote) {
        let event = Event {
            type_: match note.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: note.reason.clone(),
            note: Some(note.note.clone()),
            action: self.action.to_string(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, reference).await {
            tracing::debug!(%err, reason = %note.reason, "cannot publish event");
        }
    }

    /// Publishes the notes of one pass over the object `key`: every Normal note, and each
    /// Warning note that differs from the last one published for its reason. Warning reasons
    /// absent from `notes` are forgotten, so they are published again when they recur.
    /// Returns the Warning notes published (for the log).
    pub async fn publish_changed(
        &self,
        key: &str,
        reference: &ObjectReference,
        notes: &[EventNote],
    ) -> Vec<EventNote> {
        let fresh: Vec<EventNote> = {
            let mut warned = self.warned.lock();
            let last = warned.entry(key.to_string()).or_default();
            let current: BTreeMap<String, String> = notes
                .iter()
                .filter(|n| n.severity == Severity::Warning)
                .map(|n| (n.reason.clone(), n.note.clone()))
                .collect();
            let fresh = notes
                .iter()
                .filter(|n| n.severity == Severity::Normal || last.get(&n.reason) != Some(&n.note))
                .cloned()
                .collect();
            if current.is_empty() {
                warned.remove(key);
            } else {
                *last = current;
            }
            fresh
        };
        for note in &fresh {
            self.publish(reference, note).await;
        }
        fresh
            .into_iter()
            .filter(|n| n.severity == Severity::Warning)
            .collect()
    }

    /// Forgets what was published for an object that is gone.
    pub fn forget(&self, key: &str) {
        self.warned.lock().remove(key);
    }
}
