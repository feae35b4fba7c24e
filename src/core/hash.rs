//! Stable hashes: FNV-1a 64 (the same in every process and release, unlike std's
//! `RandomState`), so they can be stored in annotations and used for deterministic tie-breaking.

use serde_json::Value;

/// FNV-1a 64-bit hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_from(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a 64 continued from `state` (a previous hash), to hash a sequence piece by piece.
pub fn fnv1a64_from(state: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(state, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// Short, stable hash of a JSON value: FNV-1a 64 over a canonical encoding (keys sorted), as 16
/// hex digits. Not cryptographic: it only detects change.
pub fn hash_value(v: &Value) -> String {
    let mut buf = Vec::new();
    canonical(v, &mut buf);
    format!("{:016x}", fnv1a64(&buf))
}

fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                if let Some(child) = m.get(k) {
                    canonical(child, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, child) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(child, out);
            }
            out.push(b']');
        }
        other => out.extend(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn value_hash_ignores_key_order() {
        assert_eq!(
            hash_value(&json!({"a": 1, "b": [1, {"c": 2, "d": 3}]})),
            hash_value(&json!({"b": [1, {"d": 3, "c": 2}], "a": 1}))
        );
        assert_ne!(hash_value(&json!({"a": 1})), hash_value(&json!({"a": 2})));
    }
}
