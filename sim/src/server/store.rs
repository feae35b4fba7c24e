//! Object storage: compact JSON per resource (see [`Object`]), indexed by namespace and
//! name, plus an index of dependents by owner uid for garbage collection.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::server::object::Object;
use crate::server::resources::GroupResource;

/// Identity of a stored object. Cluster-scoped objects use an empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
}

type ByName = BTreeMap<String, Object>;

#[derive(Debug, Default)]
pub struct Store {
    data: HashMap<GroupResource, BTreeMap<String, ByName>>,
    dependents: HashMap<String, BTreeSet<ObjKey>>,
    uids: HashSet<Box<str>>,
    count: usize,
}

impl Store {
    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<&Object> {
        self.data.get(gr)?.get(ns)?.get(name)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Stores `obj`, returning the previous version.
    pub fn put(&mut self, key: &ObjKey, obj: Object) -> Option<Object> {
        let meta = obj.meta();
        if !meta.uid().is_empty() && !self.uids.contains(meta.uid()) {
            self.uids.insert(meta.uid().into());
        }
        let owners = meta.owner_uids();
        for owner in owners.iter().cloned() {
            self.dependents
                .entry(owner)
                .or_default()
                .insert(key.clone());
        }
        let prev = self
            .data
            .entry(key.gr.clone())
            .or_default()
            .entry(key.namespace.clone())
            .or_default()
            .insert(key.name.clone(), obj);
        match &prev {
            Some(p) => self.unindex_owners(key, p, &owners),
            None => self.count += 1,
        }
        prev
    }

    pub fn remove(&mut self, key: &ObjKey) -> Option<Object> {
        let by_ns = self.data.get_mut(&key.gr)?;
        let by_name = by_ns.get_mut(&key.namespace)?;
        let prev = by_name.remove(&key.name)?;
        if by_name.is_empty() {
            by_ns.remove(&key.namespace);
        }
        self.count -= 1;
        self.uids.remove(prev.meta().uid());
        self.unindex_owners(key, &prev, &[]);
        Some(prev)
    }

    fn unindex_owners(&mut self, key: &ObjKey, old: &Object, keep: &[String]) {
        for owner in old.meta().owner_uids() {
            if keep.contains(&owner) {
                continue;
            }
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    /// Whether an object with this uid exists.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.uids.contains(uid)
    }

    /// Objects whose ownerReferences name `owner_uid`.
    pub fn dependents_of(&self, owner_uid: &str) -> Vec<ObjKey> {
        self.dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects of a resource in one namespace (or all when `ns` is None), ordered by
    /// namespace then name, starting after `after` (a (namespace, name) pair) for paging.
    pub fn list<'a>(
        &'a self,
        gr: &GroupResource,
        ns: Option<&'a str>,
        after: Option<&'a (String, String)>,
    ) -> Box<dyn Iterator<Item = (&'a String, &'a Object)> + 'a> {
        let Some(by_ns) = self.data.get(gr) else {
            return Box::new(std::iter::empty());
        };
        let after_ok = move |n: &String, name: &String| match after {
            Some((an, aname)) => (n, name) > (an, aname),
            None => true,
        };
        match ns {
            Some(ns) => match by_ns.get_key_value(ns) {
                Some((n, by_name)) => {
                    Box::new(by_name.iter().filter(move |(name, _)| after_ok(n, name)))
                }
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(by_ns.iter().flat_map(move |(n, by_name)| {
                by_name.iter().filter(move |(name, _)| after_ok(n, name))
            })),
        }
    }

    /// Every object of a resource with its namespace and name, ordered by both.
    pub fn list_keyed<'a>(
        &'a self,
        gr: &GroupResource,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Object)> + 'a {
        self.data.get(gr).into_iter().flat_map(|by_ns| {
            by_ns.iter().flat_map(|(ns, by_name)| {
                by_name
                    .iter()
                    .map(move |(name, o)| (ns.as_str(), name.as_str(), o))
            })
        })
    }

    /// Whether no object of any resource lives in `ns` (cost: one lookup per resource).
    pub fn namespace_is_empty(&self, ns: &str) -> bool {
        self.data.values().all(|by_ns| !by_ns.contains_key(ns))
    }

    /// Keys of every object in a namespace, across resources.
    pub fn keys_in_namespace(&self, ns: &str) -> Vec<ObjKey> {
        let mut out = Vec::new();
        for (gr, by_ns) in &self.data {
            if let Some(by_name) = by_ns.get(ns) {
                out.extend(by_name.keys().map(|name| ObjKey {
                    gr: gr.clone(),
                    namespace: ns.to_string(),
                    name: name.clone(),
                }));
            }
        }
        out
    }

    /// Keys of every object of a resource.
    pub fn keys_of(&self, gr: &GroupResource) -> Vec<ObjKey> {
        let Some(by_ns) = self.data.get(gr) else {
            return Vec::new();
        };
        by_ns
            .iter()
            .flat_map(|(ns, by_name)| {
                by_name.keys().map(move |name| ObjKey {
                    gr: gr.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                })
            })
            .collect()
    }
}
