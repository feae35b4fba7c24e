//! RBAC escalation prevention: a subject may only grant permissions it already holds. A
//! role's rules are broken down into single-verb, single-resource rules, each of which must
//! be covered by one of the subject's own rules; what is left over is reported compacted, as
//! the real server does (`{APIGroups:["apps"], Resources:["deployments"], Verbs:["create" "get"]}`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::server::meta::strings;
use crate::server::schema::gofmt;

/// One PolicyRule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    pub fn from_json(v: &Value) -> Self {
        Rule {
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            verbs: strings(v, "verbs"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rules of a Role or ClusterRole object.
    pub fn all_of(role: &Value) -> Vec<Rule> {
        role.get("rules")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().map(Rule::from_json).collect())
            .unwrap_or_default()
    }

    /// `* on *.*` and `* on *` non-resource URLs: what an aggregation rule requires.
    pub fn full_authority() -> Vec<Rule> {
        let all = || vec!["*".to_string()];
        vec![
            Rule {
                api_groups: all(),
                resources: all(),
                verbs: all(),
                ..Rule::default()
            },
            Rule {
                non_resource_urls: all(),
                verbs: all(),
                ..Rule::default()
            },
        ]
    }

    /// Rules with at most one group, resource, verb and name each.
    fn breakdown(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        for g in &self.api_groups {
            for r in &self.resources {
                for v in &self.verbs {
                    let base = Rule {
                        api_groups: vec![g.clone()],
                        resources: vec![r.clone()],
                        verbs: vec![v.clone()],
                        ..Rule::default()
                    };
                    if self.resource_names.is_empty() {
                        out.push(base);
                    } else {
                        for n in &self.resource_names {
                            out.push(Rule {
                                resource_names: vec![n.clone()],
                                ..base.clone()
                            });
                        }
                    }
                }
            }
        }
        for u in &self.non_resource_urls {
            for v in &self.verbs {
                out.push(Rule {
                    non_resource_urls: vec![u.clone()],
                    verbs: vec![v.clone()],
                    ..Rule::default()
                });
            }
        }
        out
    }

    /// Whether this (owner) rule covers a broken-down rule.
    fn covers(&self, sub: &Rule) -> bool {
        let verbs = has(&self.verbs, "*") || has_all(&self.verbs, &sub.verbs);
        let groups = has(&self.api_groups, "*") || has_all(&self.api_groups, &sub.api_groups);
        let resources = resources_cover(&self.resources, &sub.resources);
        let urls = sub
            .non_resource_urls
            .iter()
            .all(|p| self.non_resource_urls.iter().any(|o| url_covers(o, p)));
        let names = if sub.resource_names.is_empty() {
            self.resource_names.is_empty()
        } else {
            self.resource_names.is_empty() || has_all(&self.resource_names, &sub.resource_names)
        };
        verbs && groups && resources && urls && names
    }

    /// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let q = |xs: &[String]| {
            let quoted: Vec<String> = xs.iter().map(|x| gofmt::quote(x)).collect();
            format!("[{}]", quoted.join(" "))
        };
        let mut parts = Vec::new();
        for (label, xs) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !xs.is_empty() {
                parts.push(format!("{label}:{}", q(xs)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

fn has(set: &[String], x: &str) -> bool {
    set.iter().any(|s| s == x)
}

fn has_all(set: &[String], xs: &[String]) -> bool {
    xs.iter().all(|x| has(set, x))
}

fn resources_cover(owner: &[String], wanted: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, wanted) {
        return true;
    }
    wanted.iter().all(|r| {
        has(owner, r)
            || r.split_once('/')
                .is_some_and(|(_, sub)| has(owner, &format!("*/{sub}")))
    })
}

fn url_covers(owner: &str, path: &str) -> bool {
    owner == path
        || owner
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
}

/// The broken-down servant rules no owner rule covers.
pub fn uncovered(owner: &[Rule], servant: &[Rule]) -> Vec<Rule> {
    servant
        .iter()
        .flat_map(Rule::breakdown)
        .filter(|sub| !owner.iter().any(|o| o.covers(sub)))
        .collect()
}

/// Merges single group/resource rules that differ only by verb.
fn compact(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let mut simple: Vec<Rule> = Vec::new();
    for r in rules {
        let is_simple = r.resource_names.is_empty()
            && r.non_resource_urls.is_empty()
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            out.push(r);
            continue;
        }
        match simple
            .iter_mut()
            .find(|s| s.api_groups == r.api_groups && s.resources == r.resources)
        {
            Some(s) => s.verbs.extend(r.verbs),
            None => simple.push(r),
        }
    }
    out.extend(simple);
    out
}

/// The reason a grant is refused:
/// `user "u" (groups=["a" "b"]) is attempting to grant RBAC permissions not currently held:`
/// followed by the missing rules, one per line, sorted; resolution errors are appended.
pub fn not_held(user: &str, groups: &[String], missing: Vec<Rule>, errors: &[String]) -> String {
    let lines: BTreeSet<String> = compact(missing).iter().map(Rule::compact_string).collect();
    let quoted: Vec<String> = groups.iter().map(|g| gofmt::quote(g)).collect();
    let mut msg = format!(
        "user {} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        gofmt::quote(user),
        quoted.join(" "),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        let inner = match errors {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        msg.push_str(&format!("; resolution errors: [{inner}]"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::from_json(&v)
    }

    #[test]
    fn coverage() {
        let owner = [
            rule(
                json!({"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list"]}),
            ),
            rule(json!({"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["*"]})),
            rule(
                json!({"apiGroups": ["*"], "resources": ["leases"], "verbs": ["get"], "resourceNames": ["lock"]}),
            ),
            rule(json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]})),
        ];
        let ok = [
            rule(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})),
            rule(
                json!({"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["update"]}),
            ),
            rule(
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"], "resourceNames": ["lock"]}),
            ),
            rule(json!({"nonResourceURLs": ["/apis/apps"], "verbs": ["get"]})),
        ];
        assert!(uncovered(&owner, &ok).is_empty());
        let too_much = [
            rule(
                json!({"apiGroups": ["", "apps"], "resources": ["configmaps"], "verbs": ["get", "delete"]}),
            ),
            rule(
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}),
            ),
            rule(json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]})),
        ];
        let missing = uncovered(&owner, &too_much);
        assert_eq!(missing.len(), 5);
        let msg = not_held(
            "system:serviceaccount:ns:sa",
            &[
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
            missing,
            &[],
        );
        assert_eq!(
            msg,
            r#"user "system:serviceaccount:ns:sa" (groups=["system:serviceaccounts" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}
{APIGroups:["apps"], Resources:["configmaps"], Verbs:["get" "delete"]}
{APIGroups:["coordination.k8s.io"], Resources:["leases"], Verbs:["get"]}
{NonResourceURLs:["/metrics"], Verbs:["get"]}"#
        );
        let everything = Rule::full_authority();
        assert!(uncovered(&everything, &too_much).is_empty());
        assert_eq!(uncovered(&owner, &everything).len(), 2);
    }

    #[test]
    fn resolution_errors_are_appended() {
        let missing = vec![rule(
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}),
        )];
        let msg = not_held(
            "u",
            &[],
            missing,
            &[r#"clusterroles.rbac.authorization.k8s.io "x" not found"#.into()],
        );
        assert!(
            msg.ends_with(
                r#"; resolution errors: [clusterroles.rbac.authorization.k8s.io "x" not found]"#
            ),
            "{msg}"
        );
    }
}
