//! Defaulting of built-in kinds, so objects read back carry the fields a real API server
//! adds (controllers comparing desired and live state must cope with them).

use serde_json::{Map, Value, json};

use crate::server::meta;

/// Sets `key` on `obj` when absent.
fn or_insert(obj: &mut Map<String, Value>, key: &str, v: Value) {
    obj.entry(key.to_string()).or_insert(v);
}

fn image_pull_policy(image: &str) -> &'static str {
    let tag = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else {
        match tag.split_once(':') {
            Some((_, "latest")) | None => "Always",
            Some(_) => "IfNotPresent",
        }
    }
}

fn container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let m = meta::as_map_mut(c);
    or_insert(m, "terminationMessagePath", json!("/dev/termination-log"));
    or_insert(m, "terminationMessagePolicy", json!("File"));
    or_insert(m, "imagePullPolicy", json!(image_pull_policy(&image)));
    or_insert(m, "resources", json!({}));
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            or_insert(meta::as_map_mut(p), "protocol", json!("TCP"));
        }
    }
}

/// Pod template defaults (`spec.template.spec`).
fn pod_spec(spec: &mut Value) {
    let m = meta::as_map_mut(spec);
    or_insert(m, "restartPolicy", json!("Always"));
    or_insert(m, "terminationGracePeriodSeconds", json!(30));
    or_insert(m, "dnsPolicy", json!("ClusterFirst"));
    or_insert(m, "securityContext", json!({}));
    or_insert(m, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
}

fn template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(spec);
    }
}

pub fn deployment(obj: &mut Value) {
    let spec = meta::as_map_mut(meta::as_map_mut(obj).entry("spec").or_insert(Value::Null));
    or_insert(spec, "replicas", json!(1));
    or_insert(spec, "revisionHistoryLimit", json!(10));
    or_insert(spec, "progressDeadlineSeconds", json!(600));
    let strategy = meta::as_map_mut(spec.entry("strategy").or_insert(Value::Null));
    or_insert(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = meta::as_map_mut(strategy.entry("rollingUpdate").or_insert(Value::Null));
        or_insert(ru, "maxUnavailable", json!("25%"));
        or_insert(ru, "maxSurge", json!("25%"));
    }
    template(obj);
}

pub fn replica_set(obj: &mut Value) {
    let spec = meta::as_map_mut(meta::as_map_mut(obj).entry("spec").or_insert(Value::Null));
    or_insert(spec, "replicas", json!(1));
    template(obj);
}

pub fn job(obj: &mut Value) {
    let spec = meta::as_map_mut(meta::as_map_mut(obj).entry("spec").or_insert(Value::Null));
    or_insert(spec, "backoffLimit", json!(6));
    or_insert(spec, "completions", json!(1));
    or_insert(spec, "parallelism", json!(1));
    or_insert(spec, "completionMode", json!("NonIndexed"));
    or_insert(spec, "suspend", json!(false));
    template(obj);
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        // Jobs default to Never restarting, not Always.
        if spec.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            spec["restartPolicy"] = json!("Never");
        }
    }
}

/// Service defaults; `current` keeps an allocated cluster IP across updates that omit it.
pub fn service(obj: &mut Value, current: Option<&Value>, allocate_ip: &mut dyn FnMut() -> String) {
    let spec = meta::as_map_mut(meta::as_map_mut(obj).entry("spec").or_insert(Value::Null));
    or_insert(spec, "type", json!("ClusterIP"));
    or_insert(spec, "sessionAffinity", json!("None"));
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if !external {
        let kept = current
            .and_then(|c| c.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(str::to_string);
        let missing = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            let ip = kept.unwrap_or_else(allocate_ip);
            spec.insert("clusterIP".into(), json!(ip));
        }
        if let Some(ip) = spec.get("clusterIP").cloned() {
            or_insert(spec, "clusterIPs", json!([ip]));
        }
        or_insert(spec, "ipFamilies", json!(["IPv4"]));
        or_insert(spec, "ipFamilyPolicy", json!("SingleStack"));
        or_insert(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            let port = p.get("port").cloned();
            let m = meta::as_map_mut(p);
            or_insert(m, "protocol", json!("TCP"));
            if let Some(port) = port {
                or_insert(m, "targetPort", port);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "b:1"}]}}}});
        deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        let once = d.clone();
        deployment(&mut d);
        assert_eq!(d, once, "defaulting is idempotent");
    }

    #[test]
    fn service_keeps_cluster_ip() {
        let mut n = 0;
        let mut alloc = || {
            n += 1;
            format!("10.96.0.{n}")
        };
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        service(&mut s, None, &mut alloc);
        assert_eq!(s["spec"]["clusterIP"], "10.96.0.1");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        let mut s2 = json!({"spec": {"ports": [{"port": 81}]}});
        service(&mut s2, Some(&s), &mut alloc);
        assert_eq!(s2["spec"]["clusterIP"], "10.96.0.1");
    }
}
