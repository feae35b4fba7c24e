//! Fingerprinting JSON while it is read: the leaves [`flatten`](super::flatten) would take
//! from a [`serde_json::Value`] of it, without building the value. A member watch reads one
//! object per event and keeps only its fingerprint and a few fields, so the maps, keys and
//! strings of a tree it drops at once are not worth allocating.

use super::{
    Ctx, FieldPath, FingerprintBuilder, Leaf, PATH_ROOT, child_ctx, flatten, number_hash,
    path_index, path_key, path_len, str_hash,
};
use crate::core::hash::fnv1a64_from;
use serde::Deserializer;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

impl FingerprintBuilder {
    /// Reads the value at `at`, adding its leaves: `map.next_value_seed(builder.seed(at))`.
    pub fn seed(&mut self, at: FieldPath) -> Streamed<'_> {
        Streamed(Leaves {
            out: &mut self.leaves,
            path: at.hash,
            ctx: at.ctx,
        })
    }

    /// [`Self::seed`], keeping what the map at `at` holds under the keys `keep` names (read
    /// whole, for readers other than the comparison). Nothing is kept when it is not a map.
    pub fn seed_keeping<'b, 'k>(
        &'b mut self,
        at: FieldPath,
        keep: &'k [&'k str],
    ) -> StreamedKeeping<'b, 'k> {
        StreamedKeeping(Keeping {
            leaves: Leaves {
                out: &mut self.leaves,
                path: at.hash,
                ctx: at.ctx,
            },
            keep,
        })
    }
}

/// See [`FingerprintBuilder::seed`].
pub struct Streamed<'b>(Leaves<'b>);

impl<'de> DeserializeSeed<'de> for Streamed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self.0)
    }
}

/// See [`FingerprintBuilder::seed_keeping`].
pub struct StreamedKeeping<'b, 'k>(Keeping<'b, 'k>);

impl<'de> DeserializeSeed<'de> for StreamedKeeping<'_, '_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self.0)
    }
}

/// [`Leaves`] of a map, keeping some of its entries.
struct Keeping<'b, 'k> {
    leaves: Leaves<'b>,
    keep: &'k [&'k str],
}

impl<'de> Visitor<'de> for Keeping<'_, '_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Leaves { out, path, ctx } = self.leaves;
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let (child, child_ctx) = (path_key(path, &key), child_ctx(ctx, &key));
            if self.keep.contains(&key.as_str()) {
                let value = map.next_value::<Value>()?;
                flatten(&value, child, child_ctx, &mut |path, value| {
                    if let Some(value) = value {
                        out.push(Leaf::new(path, value));
                    }
                });
                kept.insert(key, value);
            } else {
                map.next_value_seed(Leaves {
                    out: &mut *out,
                    path: child,
                    ctx: child_ctx,
                })?;
            }
        }
        Ok(kept)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.leaves.visit_seq(seq).map(|()| Map::new())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.leaves.visit_bool(v).map(|()| Map::new())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.leaves.visit_i64(v).map(|()| Map::new())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.leaves.visit_u64(v).map(|()| Map::new())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.leaves.visit_f64(v).map(|()| Map::new())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.leaves.visit_str(v).map(|()| Map::new())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Map::new())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Map::new())
    }
}

/// The leaves of one value, pushed to `out` as they are read.
struct Leaves<'b> {
    out: &'b mut Vec<Leaf>,
    path: u64,
    ctx: Ctx,
}

impl Leaves<'_> {
    fn scalar(self, hash: u64) {
        self.out.push(Leaf::new(self.path, hash));
    }
}

impl<'de> DeserializeSeed<'de> for Leaves<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Leaves<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // Zero values (`null`, `false`, `0`, `""`, `[]`, `{}`) yield no leaf, as in `flatten`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((path, ctx)) = map.next_key_seed(KeyPath {
            parent: self.path,
            ctx: self.ctx,
        })? {
            map.next_value_seed(Leaves {
                out: &mut *self.out,
                path,
                ctx,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut len = 0usize;
        while seq
            .next_element_seed(Leaves {
                out: &mut *self.out,
                path: path_index(self.path, len),
                ctx: Ctx::Plain,
            })?
            .is_some()
        {
            len += 1;
        }
        if len > 0 {
            let hash = fnv1a64_from(PATH_ROOT, &(len as u64).to_le_bytes());
            self.out.push(Leaf::new(path_len(self.path), hash));
        }
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        if v {
            self.scalar(fnv1a64_from(fnv1a64_from(PATH_ROOT, b"o"), b"true"));
        }
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.number(serde_json::Number::from(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.number(serde_json::Number::from(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // What `Value` makes of a float JSON cannot hold (none it can parse): null.
        if let Some(n) = serde_json::Number::from_f64(v) {
            self.number(n);
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if !v.is_empty() {
            let hash = str_hash(v, self.ctx);
            self.scalar(hash);
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

impl Leaves<'_> {
    fn number(self, n: serde_json::Number) {
        if n.as_f64() != Some(0.0) {
            let hash = number_hash(&n, self.ctx);
            self.scalar(hash);
        }
    }
}

/// A map key, read as the path and context of its value (the key itself is not kept).
struct KeyPath {
    parent: u64,
    ctx: Ctx,
}

impl<'de> DeserializeSeed<'de> for KeyPath {
    type Value = (u64, Ctx);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(u64, Ctx), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyPath {
    type Value = (u64, Ctx);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E>(self, key: &str) -> Result<(u64, Ctx), E> {
        Ok((path_key(self.parent, key), child_ctx(self.ctx, key)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fingerprint;
    use super::*;
    use serde_json::{Value, json};

    fn streamed(text: &str) -> Fingerprint {
        let mut builder = FingerprintBuilder::default();
        let mut de = serde_json::Deserializer::from_str(text);
        builder
            .seed(FieldPath::root())
            .deserialize(&mut de)
            .expect("valid JSON");
        builder.finish()
    }

    /// Objects of every shape the comparison distinguishes: zero values of each kind, nested
    /// and empty lists, quantities written as strings and as numbers (in quantity maps and
    /// fields and outside them), numbers of each JSON form, escaped strings.
    fn samples() -> Vec<Value> {
        vec![
            json!({}),
            json!({"a": null, "b": false, "c": 0, "d": "", "e": [], "f": {}, "g": 0.0}),
            json!({"a": true, "b": -3, "c": 18446744073709551615u64, "d": 2.5, "e": 1.0, "f": 1e300}),
            json!({"list": [1, [2, []], {"x": [null, {}]}, "s", true], "empty": [[]]}),
            json!({"resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": 0.1, "memory": 1024}}}),
            json!({"sizeLimit": "1k", "storage": 2000, "other": "500m", "hard": {"pods": "10", "odd": "x"}}),
            json!({"esc": "a\"b\\c\nd\u{e9}", "k\"ey": {"\u{1F600}": 1}}),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx", "env": [{"name": "PAD", "value": "x".repeat(300)}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}}),
            json!([1, 2, {"a": "b"}]),
            json!("top"),
            json!(7),
            json!(null),
        ]
    }

    #[test]
    fn a_streamed_fingerprint_is_that_of_the_value() {
        for sample in samples() {
            let text = sample.to_string();
            assert_eq!(streamed(&text), Fingerprint::of(&sample), "{text}");
        }
    }

    #[test]
    fn a_streamed_fingerprint_tells_what_the_value_one_tells() {
        // Not only equal to the value's: as telling (a changed scalar, a zero value written
        // instead of a non-zero one, an extra list item each change it).
        let base = json!({"a": {"b": [1, "x"]}, "c": "1Gi"});
        for changed in [
            json!({"a": {"b": [1, "y"]}, "c": "1Gi"}),
            json!({"a": {"b": [1, "x", 2]}, "c": "1Gi"}),
            json!({"a": {"b": [0, "x"]}, "c": "1Gi"}),
            json!({"a": {"b": [1, "x"]}, "c": "2Gi"}),
        ] {
            assert_ne!(streamed(&base.to_string()), streamed(&changed.to_string()));
        }
    }

    #[test]
    fn kept_entries_are_read_whole_and_fingerprinted_too() {
        for sample in samples() {
            let text = sample.to_string();
            let mut builder = FingerprintBuilder::default();
            let mut de = serde_json::Deserializer::from_str(&text);
            let kept = builder
                .seed_keeping(FieldPath::root(), &["a", "list", "resources"])
                .deserialize(&mut de)
                .expect("valid JSON");
            assert_eq!(builder.finish(), Fingerprint::of(&sample), "{text}");
            for (key, value) in &kept {
                assert_eq!(Some(value), sample.get(key), "{text}");
            }
            for key in ["a", "list", "resources"] {
                assert_eq!(kept.contains_key(key), sample.get(key).is_some(), "{text}");
            }
        }
    }

    #[test]
    fn parts_added_one_by_one_make_the_whole() {
        let whole = json!({"metadata": {"name": "web", "uid": "u"}, "spec": {"replicas": 2}});
        let mut builder = FingerprintBuilder::default();
        let root = FieldPath::root();
        builder.value_omitting(
            root.key("metadata"),
            &whole["metadata"],
            &[super::super::Omit::whole("uid")],
        );
        let mut de = serde_json::Deserializer::from_str(r#"{"replicas": 2}"#);
        builder
            .seed(root.key("spec"))
            .deserialize(&mut de)
            .expect("valid");
        let expected = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2}});
        assert_eq!(builder.finish(), Fingerprint::of(&expected));
    }
}
