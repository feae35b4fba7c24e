//! `meta.k8s.io/v1` Table rendering for `kubectl get`: NAME, printer columns, AGE.

use serde_json::{Value, json};

use crate::server::meta;
use crate::server::resources::ResourceDef;

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn age(created: &str) -> String {
    let Ok(ts) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Built-in columns cheap enough to compute: (name, type, path).
fn builtin_columns(def: &ResourceDef) -> Vec<(&'static str, &'static str, &'static str)> {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => vec![("Status", "string", ".status.phase")],
        ("apps", "deployments") => vec![
            ("Up-to-date", "integer", ".status.updatedReplicas"),
            ("Available", "integer", ".status.availableReplicas"),
        ],
        ("apps", "replicasets") => vec![
            ("Desired", "integer", ".spec.replicas"),
            ("Current", "integer", ".status.replicas"),
            ("Ready", "integer", ".status.readyReplicas"),
        ],
        ("", "configmaps") | ("", "secrets") => vec![("Data", "integer", "#.data")],
        ("", "services") => vec![
            ("Type", "string", ".spec.type"),
            ("Cluster-IP", "string", ".spec.clusterIP"),
        ],
        _ => Vec::new(),
    }
}

pub fn to_table(def: &ResourceDef, items: &[&Value], list_meta: Value) -> Value {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
    ];
    let mut paths: Vec<String> = Vec::new();
    let mut dates: Vec<bool> = Vec::new();
    // Like the real server: a CRD's printer columns replace the default Age column, and
    // `date` columns are shown as an age.
    let custom_columns = def.is_crd && !def.printer_columns.is_empty();
    if def.is_crd {
        for c in &def.printer_columns {
            cols.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority}));
            paths.push(c.json_path.clone());
            dates.push(c.type_ == "date");
        }
    } else {
        for (n, t, p) in builtin_columns(def) {
            cols.push(
                json!({"name": n, "type": t, "format": "", "description": "", "priority": 0}),
            );
            paths.push(p.to_string());
            dates.push(false);
        }
    }
    if !custom_columns {
        cols.push(
            json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}),
        );
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![json!(meta::name(o))];
            for (p, is_date) in paths.iter().zip(&dates) {
                if *is_date {
                    let when = meta::json_path(o, p)
                        .first()
                        .and_then(|v| v.as_str())
                        .map(age);
                    cells.push(when.map_or(Value::Null, Value::String));
                    continue;
                }
                if let Some(count_of) = p.strip_prefix('#') {
                    // Number of entries, as kubectl shows for ConfigMap/Secret DATA.
                    let n = meta::get_path(o, count_of)
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len());
                    cells.push(json!(n));
                    continue;
                }
                let vals = meta::json_path(o, p);
                let cell = match vals.as_slice() {
                    [] => Value::Null,
                    [one] => (*one).clone(),
                    many => json!(many.iter().map(|v| meta::value_string(v)).collect::<Vec<_>>().join(",")),
                };
                cells.push(cell);
            }
            if !custom_columns {
                cells.push(json!(age(meta::meta_str(o, "creationTimestamp").unwrap_or_default())));
            }
            let md = meta::meta(o).cloned().unwrap_or_default();
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": cols,
        "rows": rows,
    })
}
