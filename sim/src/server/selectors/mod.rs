//! Label and field selectors as accepted in `labelSelector` / `fieldSelector` query parameters,
//! parsed with the real server's grammars and refused with its messages.

mod label_parser;
pub mod names;

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
    /// `k>n` and `k<n`: the label value read as an integer.
    Gt(i64),
    Lt(i64),
}

impl Op {
    fn values(&self) -> Vec<String> {
        match self {
            Op::Eq(v) | Op::NotEq(v) => vec![v.clone()],
            Op::In(vs) | Op::NotIn(vs) => vs.clone(),
            _ => Vec::new(),
        }
    }
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
            (Op::Gt(n), Some(x)) => x.parse::<i64>().is_ok_and(|x| x > *n),
            (Op::Lt(n), Some(x)) => x.parse::<i64>().is_ok_and(|x| x < *n),
            (Op::Gt(_) | Op::Lt(_), None) => false,
        }
    }
}

/// Splits a field selector on commas not escaped with a backslash.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut term = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            term.push('\\');
            term.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut term));
        } else {
            term.push(c);
        }
    }
    if escaped {
        term.push('\\');
    }
    terms.push(term);
    terms
}

/// `lhs op rhs` at the first unescaped operator (`!=`, `==` or `=`, tried in that order at
/// each position).
fn split_term(term: &str) -> Option<(String, bool, String)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        for (op, negated) in [("!=", true), ("==", false), ("=", false)] {
            if term[i..].starts_with(op) {
                return Some((
                    term[..i].to_string(),
                    negated,
                    term[i + op.len()..].to_string(),
                ));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=`; any other escape is refused.
fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == ',' || c == '=' {
            // Go prints the rune with `%v`: its code point.
            return Err(format!(
                "invalid field selector: unescaped character in value: {}",
                u32::from(c)
            ));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('\\' | ',' | '=')) => out.push(e),
            Some(other) => {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{other}"
                ));
            }
            None => return Err("invalid field selector: invalid escape sequence: \\".into()),
        }
    }
    Ok(out)
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        label_parser::parse(s)
            .map(LabelSelector)
            .map_err(ApiError::BadRequest)
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
    /// Terms `field=value`, `field==value` and `field!=value`, commas and `=` in values escaped
    /// with a backslash. (Which fields a kind supports is not checked: any dotted path is
    /// matched.)
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut terms = split_terms(s);
        terms.sort();
        let mut out = Vec::new();
        for term in terms.iter().filter(|t| !t.is_empty()) {
            let (key, negated, value) = split_term(term).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ))
            })?;
            let value = unescape(&value).map_err(ApiError::BadRequest)?;
            let op = if negated {
                Op::NotEq(value)
            } else {
                Op::Eq(value)
            };
            out.push(Requirement { key, op });
        }
        Ok(FieldSelector(out))
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
    fn field_grammar() {
        let o = json!({"metadata": {"name": "a,b", "namespace": "ns"}});
        assert!(
            FieldSelector::parse(r"metadata.name=a\,b")
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(FieldSelector::parse("metadata.name in (a)").is_err());
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
