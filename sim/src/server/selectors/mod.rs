//! Label and field selectors as accepted in `labelSelector` / `fieldSelector` query parameters.

use serde_json::Value;

use crate::server::error::ApiError;
use crate::server::meta;
use crate::server::object::Object;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Eq(v), Some(x)) => v == x,
            (Op::Eq(_), None) => false,
            (Op::NotEq(v), x) => x != Some(v.as_str()),
            (Op::In(vs), Some(x)) => vs.iter().any(|v| v == x),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), x) => x.is_none_or(|x| !vs.iter().any(|v| v == x)),
            (Op::Exists, x) => x.is_some(),
            (Op::NotExists, x) => x.is_none(),
        }
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| ApiError::BadRequest(format!("unable to parse requirement: set {s:?}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_requirement(s: &str, allow_sets: bool) -> Result<Requirement, ApiError> {
    let bad = || ApiError::BadRequest(format!("unable to parse requirement: {s:?}"));
    if let Some(k) = s.strip_prefix('!') {
        return Ok(Requirement {
            key: k.trim().to_string(),
            op: Op::NotExists,
        });
    }
    if let Some((k, v)) = s.split_once("!=") {
        return Ok(Requirement {
            key: k.trim().to_string(),
            op: Op::NotEq(v.trim().to_string()),
        });
    }
    if let Some((k, v)) = s.split_once("==").or_else(|| s.split_once('=')) {
        return Ok(Requirement {
            key: k.trim().to_string(),
            op: Op::Eq(v.trim().to_string()),
        });
    }
    if allow_sets {
        let mut parts = s.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or_default().trim().to_string();
        let rest = parts.next().unwrap_or_default().trim();
        if let Some(set) = rest.strip_prefix("notin") {
            return Ok(Requirement {
                key,
                op: Op::NotIn(parse_set(set)?),
            });
        }
        if let Some(set) = rest.strip_prefix("in") {
            return Ok(Requirement {
                key,
                op: Op::In(parse_set(set)?),
            });
        }
        if rest.is_empty() && !key.is_empty() {
            return Ok(Requirement {
                key,
                op: Op::Exists,
            });
        }
    }
    Err(bad())
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        split_top(s)
            .into_iter()
            .map(|r| parse_requirement(r, true))
            .collect::<Result<Vec<_>, _>>()
            .map(LabelSelector)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = meta::labels(obj);
        self.0.iter().all(|r| {
            let v = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            r.matches(v)
        })
    }
}

/// A parsed `fieldSelector`; any dotted path is accepted (`metadata.name`, `status.phase`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<Requirement>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        split_top(s)
            .into_iter()
            .map(|r| parse_requirement(r, false))
            .collect::<Result<Vec<_>, _>>()
            .map(FieldSelector)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `metadata.namespace=x` requirement, which lets list narrow to one namespace index.
    pub fn namespace(&self) -> Option<&str> {
        self.0.iter().find_map(|r| match &r.op {
            Op::Eq(v) if r.key == "metadata.namespace" => Some(v.as_str()),
            _ => None,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| {
            let v = meta::get_path(obj, &r.key).map(meta::value_string);
            // Unset fields compare as empty strings, like the real field label conversion.
            r.matches(Some(v.as_deref().unwrap_or_default()))
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// Whether a stored object matches, decoding no more of it than the selectors need.
    pub fn matches_object(&self, obj: &Object) -> bool {
        if self.labels.0.is_empty() && self.fields.0.is_empty() {
            return true;
        }
        let meta = obj.meta();
        if !self.labels.0.iter().all(|r| r.matches(meta.label(&r.key))) {
            return false;
        }
        let by_meta = |key: &str| match key {
            "metadata.name" => Some(meta.name()),
            "metadata.namespace" => Some(meta.namespace()),
            _ => None,
        };
        if self.fields.0.iter().all(|r| by_meta(&r.key).is_some()) {
            return self.fields.0.iter().all(|r| r.matches(by_meta(&r.key)));
        }
        self.fields.matches(&obj.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_ops() {
        let o = json!({"metadata": {"name": "a", "labels": {"app": "web", "tier": "fe"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app", true),
            ("missing!=x", true),
            ("app=web,tier=be", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn field_ops() {
        let o = json!({"metadata": {"name": "a", "namespace": "ns"}});
        assert!(FieldSelector::parse("metadata.name=a").unwrap().matches(&o));
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns")
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("metadata.namespace=ns")
                .unwrap()
                .namespace(),
            Some("ns")
        );
    }
}
