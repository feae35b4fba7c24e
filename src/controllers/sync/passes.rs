//! Events that arrive while a pass of their object runs.
//!
//! Most of them are the watches' echoes of the pass's own writes: the finalizer it added, and
//! the member objects it wrote (a member's watch event of a create often arrives before the
//! create's answer). Let through at once, they brought the object back for a pass that found
//! nothing changed, and the member event window for a second one. They are held instead until
//! the pass has recorded what it left behind; the worker then looks once at the federated
//! object and at each member's cache, and only what shows something else than the record
//! expects brings the object back (see [`crate::core::settle::Settled::expects`]). A pass
//! that did not settle leaves no record, so its held events always bring the object back.

use crate::members::cache::ObjectKey;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use tokio::sync::mpsc;

/// What of one object had events while a pass of it ran.
#[derive(Debug, Default, PartialEq)]
pub struct HeldEvents {
    /// The members whose caches had events of its member object.
    pub members: BTreeSet<String>,
    /// The host watch had an event of the federated object itself.
    pub host: bool,
}

pub type Held = (ObjectKey, HeldEvents);

pub struct PassesUnderWay {
    /// Per object a pass of which runs, what had events meanwhile.
    running: Mutex<HashMap<ObjectKey, HeldEvents>>,
    ended: mpsc::UnboundedSender<Held>,
    ended_rx: Mutex<Option<mpsc::UnboundedReceiver<Held>>>,
}

impl Default for PassesUnderWay {
    fn default() -> Self {
        let (ended, ended_rx) = mpsc::unbounded_channel();
        PassesUnderWay {
            running: Mutex::default(),
            ended,
            ended_rx: Mutex::new(Some(ended_rx)),
        }
    }
}

/// A pass under way; dropping it ends it, however the pass ends (also when cancelled).
pub struct Pass<'a> {
    passes: &'a PassesUnderWay,
    key: ObjectKey,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.passes.end(&self.key);
    }
}

impl PassesUnderWay {
    /// Starts a pass of `key`'s object (the controller runs one at a time per object).
    pub fn start(&self, key: &ObjectKey) -> Pass<'_> {
        self.running.lock().entry(key.clone()).or_default();
        Pass {
            passes: self,
            key: key.clone(),
        }
    }

    /// Holds a member event of `key`'s object in `cluster` when a pass of it runs; `false`
    /// (not held) when none does.
    pub fn hold(&self, key: &ObjectKey, cluster: &str) -> bool {
        match self.running.lock().get_mut(key) {
            Some(held) => {
                if !held.members.contains(cluster) {
                    held.members.insert(cluster.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Holds a host event of `key`'s federated object when a pass of it runs; `false` when
    /// none does.
    pub fn hold_host(&self, key: &ObjectKey) -> bool {
        match self.running.lock().get_mut(key) {
            Some(held) => {
                held.host = true;
                true
            }
            None => false,
        }
    }

    /// The events held by passes that ended, for the worker (once).
    pub fn take_ended(&self) -> Option<mpsc::UnboundedReceiver<Held>> {
        self.ended_rx.lock().take()
    }

    fn end(&self, key: &ObjectKey) {
        let held = self.running.lock().remove(key).unwrap_or_default();
        if held != HeldEvents::default() {
            // Without a worker listening there is nobody to bring the object back to.
            let _ = self.ended.send((key.clone(), held));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        (Some("demo".into()), name.into())
    }

    #[test]
    fn events_are_held_only_while_a_pass_runs_and_handed_over_at_its_end() {
        let passes = PassesUnderWay::default();
        let mut ended = passes.take_ended().unwrap();
        assert!(!passes.hold(&key("a"), "c1"), "no pass runs yet");
        let pass = passes.start(&key("a"));
        assert!(passes.hold(&key("a"), "c1"));
        assert!(passes.hold(&key("a"), "c2"));
        assert!(passes.hold(&key("a"), "c1"));
        assert!(
            !passes.hold(&key("b"), "c1"),
            "another object's pass does not run"
        );
        assert!(!passes.hold_host(&key("b")));
        assert!(
            ended.try_recv().is_err(),
            "nothing is handed over before the end"
        );
        drop(pass);
        let (object, held) = ended.try_recv().unwrap();
        assert_eq!(object, key("a"));
        assert_eq!(held.members, BTreeSet::from(["c1".into(), "c2".into()]));
        assert!(!held.host);
        assert!(!passes.hold(&key("a"), "c1"), "the pass ended");
        assert!(!passes.hold_host(&key("a")), "the pass ended");
    }

    #[test]
    fn a_host_event_alone_is_handed_over_too() {
        let passes = PassesUnderWay::default();
        let mut ended = passes.take_ended().unwrap();
        let pass = passes.start(&key("a"));
        assert!(passes.hold_host(&key("a")));
        drop(pass);
        let (object, held) = ended.try_recv().unwrap();
        assert_eq!(object, key("a"));
        assert_eq!(
            held,
            HeldEvents {
                members: BTreeSet::new(),
                host: true
            }
        );
    }

    #[test]
    fn a_pass_without_events_hands_nothing_over() {
        let passes = PassesUnderWay::default();
        let mut ended = passes.take_ended().unwrap();
        drop(passes.start(&key("a")));
        assert!(ended.try_recv().is_err());
        assert!(passes.take_ended().is_none(), "handed out once");
    }
}
