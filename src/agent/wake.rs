//! What woke the agent, so that a pass handles only the MemberWorks a change concerns: with
//! thousands of MemberWorks, re-checking every one of them on each event would make the
//! agent's work grow with the square of the objects it holds.

use std::collections::{HashMap, HashSet};

use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};

use crate::crds::member_work::{MemberWork, WorkResource};

/// One reason to run a pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Wake {
    /// Every MemberWork: a relist (changes may have been missed), the host back after
    /// failures, a retry.
    All,
    /// The MemberWork of this name changed or went.
    Work(String),
    /// The member's object of this type, namespace and name changed or went.
    Member(WorkResource, Option<String>, String),
    /// The member's watch of this type changed state (refused, not served, back).
    Type(WorkResource),
}

impl Wake {
    /// The wake-up a host watch event brings, if any: a change of one MemberWork, or the end
    /// of a relist. Failures bring none (the last known MemberWorks stand; the heartbeat
    /// wakes everything once the host answers again).
    pub fn of_host_event(event: &Event<MemberWork>) -> Option<Wake> {
        match event {
            Event::Apply(work) | Event::Delete(work) => Some(Wake::Work(work.name_any())),
            Event::InitDone => Some(Wake::All),
            Event::Init | Event::InitApply(_) => None,
        }
    }

    /// The wake-up a member watch event of type `resource` brings, if any.
    pub fn of_member_event<K: Resource>(resource: &WorkResource, event: &Event<K>) -> Option<Wake> {
        match event {
            Event::Apply(obj) | Event::Delete(obj) => Some(Wake::Member(
                resource.clone(),
                obj.meta().namespace.clone(),
                obj.meta().name.clone().unwrap_or_default(),
            )),
            // A relist may have missed deletions: every MemberWork of the type.
            Event::InitDone => Some(Wake::Type(resource.clone())),
            Event::Init | Event::InitApply(_) => None,
        }
    }
}

/// The wake-ups gathered for one pass.
#[derive(Debug, Default)]
pub struct Woken {
    all: bool,
    works: HashSet<String>,
    /// Member objects by type, as (namespace, name).
    members: HashMap<WorkResource, HashSet<(Option<String>, String)>>,
    types: HashSet<WorkResource>,
}

impl Woken {
    /// Everything: the first pass, a retry.
    pub fn all() -> Self {
        Woken {
            all: true,
            ..Default::default()
        }
    }

    pub fn add(&mut self, wake: Wake) {
        match wake {
            Wake::All => self.all = true,
            Wake::Work(name) => {
                self.works.insert(name);
            }
            Wake::Member(resource, namespace, name) => {
                self.members
                    .entry(resource)
                    .or_default()
                    .insert((namespace, name));
            }
            Wake::Type(resource) => {
                self.types.insert(resource);
            }
        }
    }

    /// Whether the pass handles `work`; `member` names its member object as (namespace,
    /// name), and is read only when a member object of its type woke the agent.
    pub fn selects(
        &self,
        work: &MemberWork,
        member: impl FnOnce() -> (Option<String>, String),
    ) -> bool {
        let resource = &work.spec.resource;
        self.all
            || self.types.contains(resource)
            || work
                .metadata
                .name
                .as_ref()
                .is_some_and(|n| self.works.contains(n))
            || self
                .members
                .get(resource)
                .is_some_and(|objects| objects.contains(&member()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::member_work::MemberWorkSpec;
    use kube::api::DynamicObject;
    use serde_json::json;

    fn resource(plural: &str) -> WorkResource {
        WorkResource {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: plural.into(),
            namespaced: true,
        }
    }

    fn work(name: &str, plural: &str) -> MemberWork {
        MemberWork::new(
            name,
            MemberWorkSpec {
                resource: resource(plural),
                ..Default::default()
            },
        )
    }

    fn member_object(ns: &str, name: &str) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": ns, "name": name}}))
        .unwrap()
    }

    #[test]
    fn a_pass_handles_only_what_its_wake_ups_concern() {
        let cm = work("configmaps.demo.cm", "configmaps");
        let target = (Some("demo".to_string()), "cm");
        let select = |wakes: Vec<Wake>| {
            let mut woken = Woken::default();
            for w in wakes {
                woken.add(w);
            }
            woken.selects(&cm, || (target.0.clone(), target.1.to_string()))
        };
        let demo = Some("demo".to_string());
        let cases: Vec<(Vec<Wake>, bool)> = vec![
            (vec![], false),
            (vec![Wake::All], true),
            (vec![Wake::Work("configmaps.demo.cm".into())], true),
            (vec![Wake::Work("configmaps.demo.other".into())], false),
            (
                vec![Wake::Member(
                    resource("configmaps"),
                    demo.clone(),
                    "cm".into(),
                )],
                true,
            ),
            // Same name, another namespace or type.
            (
                vec![Wake::Member(resource("configmaps"), None, "cm".into())],
                false,
            ),
            (
                vec![Wake::Member(resource("secrets"), demo.clone(), "cm".into())],
                false,
            ),
            (vec![Wake::Type(resource("configmaps"))], true),
            (vec![Wake::Type(resource("secrets"))], false),
        ];
        for (wakes, want) in cases {
            assert_eq!(select(wakes.clone()), want, "{wakes:?}");
        }
        assert!(Woken::all().selects(&cm, || unreachable!("not read for all")));
    }

    #[test]
    fn watch_events_become_wake_ups() {
        let cm = work("configmaps.demo.cm", "configmaps");
        assert_eq!(
            Wake::of_host_event(&Event::Apply(cm.clone())),
            Some(Wake::Work("configmaps.demo.cm".into()))
        );
        assert_eq!(
            Wake::of_host_event(&Event::Delete(cm.clone())),
            Some(Wake::Work("configmaps.demo.cm".into()))
        );
        assert_eq!(
            Wake::of_host_event(&Event::<MemberWork>::InitDone),
            Some(Wake::All)
        );
        assert_eq!(Wake::of_host_event(&Event::InitApply(cm)), None);
        let r = resource("configmaps");
        assert_eq!(
            Wake::of_member_event(&r, &Event::Apply(member_object("demo", "cm"))),
            Some(Wake::Member(r.clone(), Some("demo".into()), "cm".into()))
        );
        assert_eq!(
            Wake::of_member_event(&r, &Event::<DynamicObject>::InitDone),
            Some(Wake::Type(r.clone()))
        );
        assert_eq!(
            Wake::of_member_event(&r, &Event::InitApply(member_object("demo", "cm"))),
            None
        );
    }
}
