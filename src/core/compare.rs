//! Does a member object need a write? Compares the desired object with the member object as
//! seen through the watch cache, so that unchanged desired state issues no request.

use serde_json::Value;

use super::hash::fnv1a64_from;

pub mod streamed;

/// Keys whose values are maps of resource quantities (`resources.limits.cpu`, quota `hard`...):
/// the API server canonicalises quantities (`0.5` becomes `500m`), which is no drift.
const QUANTITY_MAPS: [&str; 6] = [
    "limits",
    "requests",
    "hard",
    "capacity",
    "allocatable",
    "overhead",
];

/// Keys whose value is itself a quantity.
const QUANTITY_FIELDS: [&str; 2] = ["sizeLimit", "storage"];

/// The fields of a member object that comparison reads, in a lean form: one leaf per non-zero
/// scalar (and one per non-empty list, for its length), sorted by path. A cache keeps this
/// instead of the object: 12 bytes per field ([`Leaf`]).
///
/// Built from the object without its status and the metadata the server maintains
/// ([`super::observation::without_server_fields`]). Values are hashed in a normal form, so
/// what the API server rewrites without changing (`1.0` for `1`, `500m` for `0.5` where
/// quantities live) hashes the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint(Box<[Leaf]>);

/// One field of a [`Fingerprint`]: 32 bits of its path hash (to find it) and the full 64-bit
/// hash of its value (what decides a write). Two paths may share 32 bits; lookups then see
/// every leaf with that path hash, so a shared path hash can cost a write but never hides a
/// change. The value is two halves so that a leaf takes 12 bytes, not 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leaf {
    path: u32,
    value: [u32; 2],
}

impl Leaf {
    fn new(path: u64, value: u64) -> Self {
        Leaf {
            path: short_path(path),
            value: [(value >> 32) as u32, value as u32],
        }
    }

    fn value(&self) -> u64 {
        (u64::from(self.value[0]) << 32) | u64::from(self.value[1])
    }
}

/// The 32 bits of a path hash a [`Leaf`] keeps (both halves folded in).
fn short_path(path: u64) -> u32 {
    ((path >> 32) ^ path) as u32
}

impl Fingerprint {
    /// The fingerprint of `observed` (already stripped of server fields).
    pub fn of(observed: &Value) -> Self {
        let mut leaves = Vec::new();
        flatten(observed, PATH_ROOT, Ctx::Plain, &mut |path, value| {
            if let Some(value) = value {
                leaves.push(Leaf::new(path, value));
            }
        });
        leaves.sort_unstable();
        leaves.dedup();
        Fingerprint(leaves.into_boxed_slice())
    }

    /// The fingerprint of `observed` without the fields `omit` names: the same as that of a
    /// copy with those fields removed, without making the copy.
    pub fn of_omitting(observed: &Value, omit: &[Omit]) -> Self {
        let mut leaves = Vec::new();
        flatten_omitting(observed, PATH_ROOT, Ctx::Plain, omit, &mut |path, value| {
            if let Some(value) = value {
                leaves.push(Leaf::new(path, value));
            }
        });
        leaves.sort_unstable();
        leaves.dedup();
        Fingerprint(leaves.into_boxed_slice())
    }

    /// Whether the object's value at `path` is `value` (`None`: zero or absent). With several
    /// leaves under the same 32-bit path hash, a non-zero value matches when one of them has
    /// it, and a zero one only when none is there.
    fn holds(&self, path: u64, value: Option<u64>) -> bool {
        let path = short_path(path);
        let start = self.0.partition_point(|leaf| leaf.path < path);
        let mut at = self.0[start..].iter().take_while(|leaf| leaf.path == path);
        match value {
            None => at.next().is_none(),
            Some(value) => at.any(|leaf| leaf.value() == value),
        }
    }

    /// How many leaves it holds (for sizing).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Heap bytes it keeps.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[Leaf]>(&self.0)
    }

    /// True when the member does not already hold `desired` and an apply is needed.
    ///
    /// The member normally has more than was applied (server defaults, other managers'
    /// fields), so this is a containment check rather than equality:
    /// - every desired non-zero leaf must be present with an equal value (this includes the
    ///   desired-hash annotation, which catches fields the operator stopped setting);
    /// - a desired zero value (`null`, `false`, `0`, `""`, `[]`, `{}`) matches an absent key,
    ///   because Go API types omit empty fields when serialising;
    /// - lists must have as many items as desired, and items are compared by position,
    ///   because defaulting adds fields inside list items (a container's
    ///   `terminationMessagePath`, a port's `protocol`) but does not add or drop items;
    /// - scalars are equal, numbers by value (`1 == 1.0`), quantities by amount
    ///   (`0.5 == 500m`).
    ///
    /// A field the member has and `desired` does not set never causes a write.
    pub fn needs_apply(&self, desired: &Value) -> bool {
        let mut differs = false;
        flatten(desired, PATH_ROOT, Ctx::Plain, &mut |path, value| {
            differs = differs || !self.holds(path, value);
        });
        differs
    }
}

/// Where a value sits in an object, for a [`FingerprintBuilder`]: its path hash and how its
/// scalars are compared.
#[derive(Clone, Copy)]
pub struct FieldPath {
    hash: u64,
    ctx: Ctx,
}

impl FieldPath {
    /// The object itself.
    pub fn root() -> Self {
        FieldPath {
            hash: PATH_ROOT,
            ctx: Ctx::Plain,
        }
    }

    /// The value under `key` of the map at this path.
    pub fn key(self, key: &str) -> Self {
        FieldPath {
            hash: path_key(self.hash, key),
            ctx: child_ctx(self.ctx, key),
        }
    }
}

/// A [`Fingerprint`] taken from an object's parts one by one (some read into a [`Value`], some
/// streamed from the JSON as it is read, see [`streamed`]): equal to the fingerprint of the
/// object they make up.
#[derive(Default)]
pub struct FingerprintBuilder {
    leaves: Vec<Leaf>,
}

impl FingerprintBuilder {
    /// Adds `value`, found at `at`, without what `omit` names within it.
    pub fn value_omitting(&mut self, at: FieldPath, value: &Value, omit: &[Omit]) {
        let leaves = &mut self.leaves;
        flatten_omitting(value, at.hash, at.ctx, omit, &mut |path, value| {
            if let Some(value) = value {
                leaves.push(Leaf::new(path, value));
            }
        });
    }

    pub fn finish(mut self) -> Fingerprint {
        self.leaves.sort_unstable();
        self.leaves.dedup();
        Fingerprint(self.leaves.into_boxed_slice())
    }
}

/// The path hash of the object itself.
const PATH_ROOT: u64 = 0xcbf2_9ce4_8422_2325;

/// The path of `key` in the map at `path` (the key's length first, so `a.b` inside `x` is not
/// `b` inside `x.a`).
fn path_key(path: u64, key: &str) -> u64 {
    let path = fnv1a64_from(path, b".");
    let path = fnv1a64_from(path, &(key.len() as u64).to_le_bytes());
    fnv1a64_from(path, key.as_bytes())
}

fn path_index(path: u64, index: usize) -> u64 {
    fnv1a64_from(fnv1a64_from(path, b"["), &(index as u64).to_le_bytes())
}

/// The path of a list's length leaf.
fn path_len(path: u64) -> u64 {
    fnv1a64_from(path, b"#")
}

/// A key of a map left out of a fingerprint: whole when `inside` is empty, else only the keys
/// `inside` names within its value.
#[derive(Debug)]
pub struct Omit {
    pub key: &'static str,
    pub inside: &'static [Omit],
}

impl Omit {
    /// `key`, with all it holds.
    pub const fn whole(key: &'static str) -> Omit {
        Omit { key, inside: &[] }
    }

    /// Only the keys `inside` names, within `key`'s value.
    pub const fn within(key: &'static str, inside: &'static [Omit]) -> Omit {
        Omit { key, inside }
    }

    /// Removes from `value` what `omit` names.
    pub fn remove(value: &mut Value, omit: &[Omit]) {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        for o in omit {
            if o.inside.is_empty() {
                map.remove(o.key);
            } else if let Some(child) = map.get_mut(o.key) {
                Omit::remove(child, o.inside);
            }
        }
    }
}

/// How the value under key `k` of a map in context `ctx` is compared.
fn child_ctx(ctx: Ctx, k: &str) -> Ctx {
    if ctx == Ctx::QuantityMap || QUANTITY_FIELDS.contains(&k) {
        Ctx::Quantity
    } else if QUANTITY_MAPS.contains(&k) {
        Ctx::QuantityMap
    } else {
        Ctx::Plain
    }
}

/// [`flatten`] without the keys `omit` names. A map whose keys are all omitted yields no leaf,
/// as the emptied map would (an empty map is a zero value).
fn flatten_omitting(
    v: &Value,
    path: u64,
    ctx: Ctx,
    omit: &[Omit],
    leaf: &mut impl FnMut(u64, Option<u64>),
) {
    let Value::Object(map) = v else {
        return flatten(v, path, ctx, leaf);
    };
    if omit.is_empty() {
        return flatten(v, path, ctx, leaf);
    }
    for (k, child) in map {
        let child_path = path_key(path, k);
        match omit.iter().find(|o| o.key == k) {
            Some(o) if o.inside.is_empty() => {}
            Some(o) => flatten_omitting(child, child_path, child_ctx(ctx, k), o.inside, leaf),
            None => flatten(child, child_path, child_ctx(ctx, k), leaf),
        }
    }
}

/// Calls `leaf` for every leaf of `v` with its path hash and its value hash, `None` for a
/// zero value (which matches an absent one).
fn flatten(v: &Value, path: u64, ctx: Ctx, leaf: &mut impl FnMut(u64, Option<u64>)) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                flatten(child, path_key(path, k), child_ctx(ctx, k), leaf);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            leaf(
                path_len(path),
                Some(fnv1a64_from(PATH_ROOT, &(items.len() as u64).to_le_bytes())),
            );
            for (i, item) in items.iter().enumerate() {
                flatten(item, path_index(path, i), Ctx::Plain, leaf);
            }
        }
        _ if is_zero(v) => leaf(path, None),
        _ => leaf(path, Some(value_hash(v, ctx))),
    }
}

/// The hash of a scalar in its normal form: numbers by value, quantities by amount.
fn value_hash(v: &Value, ctx: Ctx) -> u64 {
    match v {
        Value::Number(n) => number_hash(n, ctx),
        Value::String(s) => str_hash(s, ctx),
        other => fnv1a64_from(fnv1a64_from(PATH_ROOT, b"o"), other.to_string().as_bytes()),
    }
}

/// [`value_hash`] of a string.
fn str_hash(s: &str, ctx: Ctx) -> u64 {
    if ctx == Ctx::Quantity
        && let Some(amount) = parse_quantity(s)
    {
        return quantity_hash(amount);
    }
    fnv1a64_from(fnv1a64_from(PATH_ROOT, b"s"), s.as_bytes())
}

/// [`value_hash`] of a number.
fn number_hash(n: &serde_json::Number, ctx: Ctx) -> u64 {
    if ctx == Ctx::Quantity
        && let Some(amount) = parse_quantity(&n.to_string())
    {
        return quantity_hash(amount);
    }
    let integral = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    match (integral, n.as_u64()) {
        (Some(i), _) => fnv1a64_from(fnv1a64_from(PATH_ROOT, b"i"), &i.to_le_bytes()),
        (None, Some(u)) => fnv1a64_from(fnv1a64_from(PATH_ROOT, b"u"), &u.to_le_bytes()),
        (None, None) => fnv1a64_from(
            fnv1a64_from(PATH_ROOT, b"f"),
            &n.as_f64().unwrap_or_default().to_bits().to_le_bytes(),
        ),
    }
}

fn quantity_hash(amount: f64) -> u64 {
    // Twelve significant digits: the same amount written two ways may differ in the last
    // bits of its binary form.
    fnv1a64_from(PATH_ROOT, format!("q{amount:.11e}").as_bytes())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    /// A map whose values are quantities.
    QuantityMap,
    /// A quantity.
    Quantity,
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Parses a Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`, `1k`) to its amount.
fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let binary = [
        ("Ki", 1u32),
        ("Mi", 2),
        ("Gi", 3),
        ("Ti", 4),
        ("Pi", 5),
        ("Ei", 6),
    ];
    for (suffix, power) in binary {
        if let Some(num) = s.strip_suffix(suffix) {
            return parse_number(num).map(|n| n * 1024f64.powi(power as i32));
        }
    }
    // A decimal exponent (`1e3`, `1E-3`) uses e/E followed by a number; a bare trailing `E` is
    // the exa suffix.
    if let Some(pos) = s.find(['e', 'E'])
        && pos + 1 < s.len()
    {
        let (mantissa, exp) = (&s[..pos], &s[pos + 1..]);
        let exp: i32 = exp.parse().ok()?;
        return parse_number(mantissa).map(|n| n * 10f64.powi(exp));
    }
    let decimal = [
        ('n', -9),
        ('u', -6),
        ('m', -3),
        ('k', 3),
        ('M', 6),
        ('G', 9),
        ('T', 12),
        ('P', 15),
        ('E', 18),
    ];
    for (suffix, exp) in decimal {
        if let Some(num) = s.strip_suffix(suffix) {
            return parse_number(num).map(|n| n * 10f64.powi(exp));
        }
    }
    parse_number(s)
}

fn parse_number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits != ".";
    if valid { s.parse().ok() } else { None }
}

/// The part of `observed` that `desired` sets, in `desired`'s shape: map keys that `desired`
/// has (absent ones left out), lists item by item when both have as many items (else the
/// observed list), observed scalars. Comparing it with `desired` shows what an apply would
/// change, without the fields that only the member sets (defaults, status, other managers').
pub fn applied_view(observed: &Value, desired: &Value) -> Value {
    match (observed, desired) {
        (Value::Object(om), Value::Object(dm)) => Value::Object(
            dm.iter()
                .filter_map(|(k, dv)| om.get(k).map(|ov| (k.clone(), applied_view(ov, dv))))
                .collect(),
        ),
        (Value::Array(oa), Value::Array(da)) if oa.len() == da.len() => Value::Array(
            oa.iter()
                .zip(da)
                .map(|(ov, dv)| applied_view(ov, dv))
                .collect(),
        ),
        (observed, _) => observed.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::DESIRED_HASH_ANNOTATION;
    use crate::core::observation::without_server_fields;
    use crate::crds::federated::MANAGED_LABEL;
    use serde_json::json;

    /// The comparison as the plan makes it: against the fingerprint a cache keeps.
    fn needs_apply(desired: &Value, observed: &Value) -> bool {
        Fingerprint::of(&without_server_fields(observed)).needs_apply(desired)
    }

    fn desired_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo",
                "labels": {"app": "web", MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "00000000000000aa"}
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "hostNetwork": false,
                        "containers": [{
                            "name": "web", "image": "nginx:1.25",
                            "ports": [{"containerPort": 80}],
                            "args": [],
                            "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": 0.1}}
                        }]
                    }
                }
            }
        })
    }

    /// What the API server returns for `desired_deployment` after defaulting.
    fn observed_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u-1", "resourceVersion": "812",
                "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web", MANAGED_LABEL: "true"},
                "annotations": {
                    DESIRED_HASH_ANNOTATION: "00000000000000aa",
                    "deployment.kubernetes.io/revision": "1"
                },
                "managedFields": [{"manager": "kubefed", "operation": "Apply"}]
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "progressDeadlineSeconds": 600,
                "revisionHistoryLimit": 10,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web", "image": "nginx:1.25",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m"}},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 1}
        })
    }

    fn desired_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo",
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "1"}},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}
        })
    }

    fn observed_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo", "uid": "s", "resourceVersion": "5",
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "1"}},
            "spec": {
                "type": "NodePort", "selector": {"app": "web"},
                "clusterIP": "10.96.12.7", "clusterIPs": ["10.96.12.7"],
                "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 31234}]
            },
            "status": {"loadBalancer": {}}
        })
    }

    #[test]
    fn server_defaulted_objects_need_no_apply() {
        assert!(!needs_apply(&desired_deployment(), &observed_deployment()));
        assert!(!needs_apply(&desired_service(), &observed_service()));
    }

    #[test]
    fn drift_is_detected() {
        let d = desired_deployment();
        let mut o = observed_deployment();
        o["spec"]["replicas"] = json!(5);
        assert!(needs_apply(&d, &o), "changed replicas");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"] = json!([]);
        assert!(needs_apply(&d, &o), "removed container");

        let mut o = observed_deployment();
        let extra = o["spec"]["template"]["spec"]["containers"][0].clone();
        o["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(extra);
        assert!(needs_apply(&d, &o), "added container");

        let mut o = observed_deployment();
        o["metadata"]["labels"]["app"] = json!("other");
        assert!(needs_apply(&d, &o), "changed label");

        let mut o = observed_deployment();
        o["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app");
        assert!(needs_apply(&d, &o), "removed label");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:evil");
        assert!(needs_apply(&d, &o), "changed image");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("600m");
        assert!(needs_apply(&d, &o), "changed cpu limit");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        assert!(needs_apply(&d, &o), "bool flipped away from its zero value");

        let mut o = observed_service();
        o["spec"]["ports"][0]["port"] = json!(8080);
        assert!(needs_apply(&desired_service(), &o), "changed port");

        let mut o = observed_service();
        o["spec"]["type"] = json!("ClusterIP");
        assert!(needs_apply(&desired_service(), &o), "changed type");
    }

    /// The lean cache entry: what a member change does to the fingerprint a cache keeps, and
    /// whether the plan then writes.
    #[test]
    fn fingerprint_decides_writes() {
        let desired = desired_deployment();
        type Change = fn(&mut Value);
        let cases: [(&str, Change, bool); 14] = [
            ("as the server returned it", |_| {}, false),
            (
                "status changed",
                |o| o["status"]["readyReplicas"] = json!(1),
                false,
            ),
            (
                "new resourceVersion",
                |o| o["metadata"]["resourceVersion"] = json!("900"),
                false,
            ),
            (
                "managedFields changed",
                |o| o["metadata"]["managedFields"] = json!([]),
                false,
            ),
            (
                "another manager's annotation",
                |o| o["metadata"]["annotations"]["x"] = json!("y"),
                false,
            ),
            (
                "another manager's label",
                |o| o["metadata"]["labels"]["team"] = json!("a"),
                false,
            ),
            (
                "a server default changed",
                |o| o["spec"]["revisionHistoryLimit"] = json!(3),
                false,
            ),
            (
                "a default inside a list item changed",
                |o| {
                    o["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
                        json!("Always")
                },
                false,
            ),
            (
                "image changed",
                |o| o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:evil"),
                true,
            ),
            (
                "replicas changed",
                |o| o["spec"]["replicas"] = json!(5),
                true,
            ),
            (
                "desired hash changed",
                |o| o["metadata"]["annotations"][DESIRED_HASH_ANNOTATION] = json!("ff"),
                true,
            ),
            (
                "applied label removed",
                |o| {
                    o["metadata"]["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove("app");
                },
                true,
            ),
            (
                "zero-valued field set",
                |o| o["spec"]["template"]["spec"]["hostNetwork"] = json!(true),
                true,
            ),
            (
                "port changed",
                |o| {
                    o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] =
                        json!(81)
                },
                true,
            ),
        ];
        let unchanged = Fingerprint::of(&without_server_fields(&observed_deployment()));
        for (what, change, write) in cases {
            let mut observed = observed_deployment();
            change(&mut observed);
            let entry = Fingerprint::of(&without_server_fields(&observed));
            assert_eq!(entry.needs_apply(&desired), write, "{what}");
            if write {
                assert_ne!(entry, unchanged, "{what}: the entry must change");
            }
        }
        // An entry equal to the desired object's own fingerprint never writes; one that differs
        // in an applied field always does.
        let own = Fingerprint::of(&desired);
        assert!(!own.needs_apply(&desired));
        let mut other = desired.clone();
        other["spec"]["replicas"] = json!(4);
        assert!(Fingerprint::of(&other).needs_apply(&desired));
        // Small: one pair of hashes per field.
        assert!(unchanged.len() < 40, "{} leaves", unchanged.len());
    }

    /// Leaves whose paths share 32 bits of hash are all looked at: a value held by one of
    /// them matches, a zero value only when none is there, and a changed value never matches.
    #[test]
    fn shared_path_hashes_never_hide_a_change() {
        // Both paths fold to the same 32 bits (high half xor low half = 2).
        let (a, b) = (0x1_0000_0003_u64, 0x2_0000_0000_u64);
        assert_eq!(short_path(a), short_path(b));
        let mut leaves = vec![Leaf::new(a, 10), Leaf::new(b, 20)];
        leaves.sort_unstable();
        let f = Fingerprint(leaves.into_boxed_slice());
        assert!(f.holds(a, Some(10)) && f.holds(b, Some(20)));
        assert!(!f.holds(a, Some(11)), "a changed value is seen");
        assert!(
            !f.holds(a, None),
            "a zero value is not assumed while a leaf is there"
        );
        assert!(
            f.holds(0x5, None) && !f.holds(0x5, Some(10)),
            "another path"
        );
        assert_eq!(Leaf::new(a, u64::MAX - 1).value(), u64::MAX - 1);
    }

    /// The per-member-object budget of the lean cache entry: 12 bytes per field, under 40
    /// fields for a defaulted Deployment (32 here; the bench's keeps 29), so under 480 bytes.
    #[test]
    fn fingerprint_size_budget() {
        assert_eq!(std::mem::size_of::<Leaf>(), 12);
        assert_eq!(std::mem::size_of::<Fingerprint>(), 16);
        let f = Fingerprint::of(&without_server_fields(&observed_deployment()));
        assert_eq!(f.heap_bytes(), 12 * f.len());
        assert!(f.heap_bytes() < 12 * 40, "{} bytes", f.heap_bytes());
    }

    #[test]
    fn hash_annotation_difference_forces_apply() {
        let d = desired_deployment();
        let mut o = observed_deployment();
        o["metadata"]["annotations"][DESIRED_HASH_ANNOTATION] = json!("00000000000000bb");
        assert!(needs_apply(&d, &o));
        o["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(DESIRED_HASH_ANNOTATION);
        assert!(needs_apply(&d, &o));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(!needs_apply(&json!({"a": 1}), &json!({"a": 1.0})));
        assert!(!needs_apply(&json!({"a": 1.0}), &json!({"a": 1})));
        assert!(needs_apply(&json!({"a": 1}), &json!({"a": 2})));
        assert!(needs_apply(&json!({"a": 1}), &json!({"a": "1"})));
    }

    #[test]
    fn zero_values_match_absent_fields_only() {
        assert!(!needs_apply(
            &json!({"a": null, "b": [], "c": {}, "d": "", "e": false, "f": 0}),
            &json!({})
        ));
        assert!(needs_apply(&json!({"a": {}}), &json!({"a": 1})));
        assert!(needs_apply(&json!({"a": "x"}), &json!({})));
        // A desired null also matches an observed null.
        assert!(!needs_apply(&json!({"a": null}), &json!({"a": null})));
    }

    #[test]
    fn quantities_compare_by_amount_only_where_quantities_live() {
        for (a, b) in [
            ("0.5", "500m"),
            ("1Gi", "1024Mi"),
            ("1k", "1000"),
            ("2e3", "2k"),
            ("1E", "1000P"),
        ] {
            let d = json!({"limits": {"x": a}});
            let o = json!({"limits": {"x": b}});
            assert!(!needs_apply(&d, &o), "{a} vs {b}");
        }
        assert!(!needs_apply(
            &json!({"emptyDir": {"sizeLimit": "1Gi"}}),
            &json!({"emptyDir": {"sizeLimit": "1073741824"}})
        ));
        assert!(needs_apply(
            &json!({"limits": {"cpu": "1"}}),
            &json!({"limits": {"cpu": "2"}})
        ));
        // Outside quantity fields strings must be equal.
        assert!(needs_apply(
            &json!({"labels": {"x": "1k"}}),
            &json!({"labels": {"x": "1000"}})
        ));
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("abc"), None);
        assert_eq!(parse_quantity("."), None);
        assert_eq!(parse_quantity("1.2.3"), None);
    }

    #[test]
    fn applied_view_keeps_only_what_desired_sets() {
        let observed = json!({
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web", "other": "x"}},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "terminationMessagePath": "/dev/termination-log"}
            ]}}},
            "status": {"replicas": 5}
        });
        let desired = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "new": "y"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2"}
            ]}}}
        });
        assert_eq!(
            applied_view(&observed, &desired),
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1"}
                ]}}}
            })
        );
        // A list of another length is shown as the member has it.
        let fewer = json!({"items": [1, 2]});
        assert_eq!(applied_view(&fewer, &json!({"items": [1]})), fewer);
    }
}
