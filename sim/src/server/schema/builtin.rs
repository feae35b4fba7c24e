//! Schemas of the built-in kinds, compiled from the OpenAPI definitions k8s-openapi ships
//! (its `schemars` feature) rather than from hand-written tables. Compiled once per kind and
//! process, then shared by every simulated cluster.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::node::{Builder, Node, NodeId, Schema, Type};

/// The JSON Schema (draft 2020-12, definitions under `$defs`) of a k8s-openapi type.
fn json_schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default()
}

/// The generator of the schema of a served built-in kind.
fn generator(group: &str, kind: &str) -> Option<fn() -> Value> {
    use k8s_openapi::api::{apps, batch, coordination, core, events, networking, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    let g: fn() -> Value = match (group, kind) {
        ("", "Namespace") => json_schema_of::<core::v1::Namespace>,
        ("", "ConfigMap") => json_schema_of::<core::v1::ConfigMap>,
        ("", "Secret") => json_schema_of::<core::v1::Secret>,
        ("", "ServiceAccount") => json_schema_of::<core::v1::ServiceAccount>,
        ("", "Service") => json_schema_of::<core::v1::Service>,
        ("", "Event") => json_schema_of::<core::v1::Event>,
        ("events.k8s.io", "Event") => json_schema_of::<events::v1::Event>,
        ("apps", "Deployment") => json_schema_of::<apps::v1::Deployment>,
        ("apps", "ReplicaSet") => json_schema_of::<apps::v1::ReplicaSet>,
        ("batch", "Job") => json_schema_of::<batch::v1::Job>,
        ("networking.k8s.io", "Ingress") => json_schema_of::<networking::v1::Ingress>,
        ("rbac.authorization.k8s.io", "ClusterRole") => json_schema_of::<rbac::v1::ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            json_schema_of::<rbac::v1::ClusterRoleBinding>
        }
        ("rbac.authorization.k8s.io", "Role") => json_schema_of::<rbac::v1::Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => json_schema_of::<rbac::v1::RoleBinding>,
        ("coordination.k8s.io", "Lease") => json_schema_of::<coordination::v1::Lease>,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            json_schema_of::<apiextensions::v1::CustomResourceDefinition>
        }
        _ => return None,
    };
    Some(g)
}

type Cache = Mutex<HashMap<(String, String), Option<Arc<Schema>>>>;

static CACHE: LazyLock<Cache> = LazyLock::new(Cache::default);

/// The compiled schema of a built-in kind, or None for kinds without one.
pub fn schema(group: &str, kind: &str) -> Option<Arc<Schema>> {
    let key = (group.to_string(), kind.to_string());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(key)
        .or_insert_with(|| generator(group, kind).map(|g| Arc::new(compile(&g()))))
        .clone()
}

static OBJECT_META: LazyLock<Value> =
    LazyLock::new(json_schema_of::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>);

/// Compiles `metadata` (ObjectMeta) into another schema's builder: custom resources and
/// embedded resources carry the built-in ObjectMeta whatever their own schema says.
pub fn object_meta(b: &mut Builder) -> NodeId {
    let root = &*OBJECT_META;
    let empty = Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut c = Compiler {
        b,
        defs,
        by_ref: HashMap::new(),
    };
    let id = c.compile(root);
    c.b.get_mut(id).go_type = "v1.ObjectMeta".into();
    id
}

/// Compiles a root JSON Schema with `$defs`.
pub fn compile(root: &Value) -> Schema {
    let mut b = Builder::default();
    let empty = Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut c = Compiler {
        b: &mut b,
        defs,
        by_ref: HashMap::new(),
    };
    let id = c.compile(root);
    if let Some(title) = root.get("title").and_then(Value::as_str) {
        c.b.get_mut(id).go_type = go_name(title);
    }
    b.finish(id)
}

/// `io.k8s.api.core.v1.PodSpec` → `v1.PodSpec`, as Go prints a named type.
fn go_name(def: &str) -> String {
    let mut parts = def.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(pkg)) => format!("{pkg}.{name}"),
        (Some(name), None) => name.to_string(),
        _ => String::new(),
    }
}

struct Compiler<'a> {
    b: &'a mut Builder,
    defs: &'a Map<String, Value>,
    by_ref: HashMap<String, NodeId>,
}

impl Compiler<'_> {
    fn compile(&mut self, s: &Value) -> NodeId {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return self.reference(r.trim_start_matches("#/$defs/"));
        }
        let node = self.inline(s);
        self.b.push(node)
    }

    fn reference(&mut self, name: &str) -> NodeId {
        if let Some(id) = self.by_ref.get(name) {
            return *id;
        }
        if let Some(special) = special(name) {
            let id = self.b.push(special);
            self.by_ref.insert(name.to_string(), id);
            return id;
        }
        // Reserve the node first: definitions may refer to themselves (JSONSchemaProps).
        let id = self.b.push(Node::new(Type::Any));
        self.by_ref.insert(name.to_string(), id);
        let def = self.defs.get(name).cloned().unwrap_or(Value::Null);
        let mut node = self.inline(&def);
        if node.ty == Type::Object {
            node.go_type = go_name(name);
        }
        *self.b.get_mut(id) = node;
        id
    }

    fn inline(&mut self, s: &Value) -> Node {
        if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
            let mut n = Node::new(Type::IntOrString);
            n.go_type = "int32".into();
            return n;
        }
        if s.get("oneOf").is_some() || s.get("anyOf").is_some() {
            return any();
        }
        let format = s.get("format").and_then(Value::as_str).map(str::to_string);
        let ty = s.get("type").and_then(Value::as_str).unwrap_or_default();
        let mut n = match ty {
            "object" => {
                let props = s.get("properties").and_then(Value::as_object);
                let extra = s.get("additionalProperties").filter(|v| v.is_object());
                match (props, extra) {
                    (Some(props), _) => {
                        let mut n = Node::new(Type::Object);
                        n.preserve_unknown = false;
                        for (k, v) in props {
                            let id = self.compile(v);
                            n.properties.insert(k.clone(), id);
                        }
                        n
                    }
                    (None, Some(extra)) => {
                        let mut n = Node::new(Type::Object);
                        n.preserve_unknown = false;
                        let id = self.compile(extra);
                        n.go_type = format!("map[string]{}", self.b.get(id).go_type);
                        n.additional = Some(id);
                        n
                    }
                    // An object without declared fields holds anything (RawExtension).
                    (None, None) => any(),
                }
            }
            "array" => {
                let mut n = Node::new(Type::Array);
                let items = s.get("items").cloned().unwrap_or(Value::Null);
                let id = self.compile(&items);
                n.go_type = format!("[]{}", self.b.get(id).go_type);
                n.items = Some(id);
                n
            }
            "string" => {
                let mut n = Node::new(Type::String);
                n.go_type = if format.as_deref() == Some("byte") {
                    "[]uint8".into()
                } else {
                    "string".into()
                };
                n
            }
            "integer" => {
                let mut n = Node::new(Type::Integer);
                n.go_type = match format.as_deref() {
                    Some("int32") => "int32".into(),
                    _ => "int64".into(),
                };
                n
            }
            "number" => {
                let mut n = Node::new(Type::Number);
                n.go_type = "float64".into();
                n
            }
            "boolean" => {
                let mut n = Node::new(Type::Boolean);
                n.go_type = "bool".into();
                n
            }
            _ => any(),
        };
        n.format = format;
        n
    }
}

fn any() -> Node {
    let mut n = Node::new(Type::Any);
    n.go_type = "interface {}".into();
    n
}

/// Definitions whose Go types decode themselves rather than following their schema.
fn special(name: &str) -> Option<Node> {
    Some(match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let mut n = Node::new(Type::IntOrString);
            n.go_type = "int32".into();
            n
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let mut n = Node::new(Type::IntOrString);
            n.format = Some("quantity".into());
            n.go_type = "resource.Quantity".into();
            n
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let mut n = Node::new(Type::String);
            n.format = Some("date-time".into());
            n.go_type = "string".into();
            n
        }
        // Arbitrary JSON: any value, never pruned.
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
        | "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1" => any(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_schema_resolves_references() {
        let s = schema("apps", "Deployment").expect("deployment schema");
        let labels = s.at("spec.template.metadata.labels").expect("labels");
        let value = s.node(labels).additional.expect("map values");
        assert_eq!(s.node(value).ty, Type::String);
        assert_eq!(s.node(labels).go_type, "map[string]string");
        let containers = s.at("spec.template.spec.containers").expect("containers");
        assert_eq!(s.node(containers).go_type, "[]v1.Container");
        let meta = s.at("spec.template.metadata").expect("template metadata");
        assert_eq!(s.node(meta).go_struct(), "ObjectMeta");
        let replicas = s.at("spec.replicas").expect("replicas");
        assert_eq!(s.node(replicas).go_type, "int32");
        // The same definition is compiled once.
        assert_eq!(s.at("metadata"), Some(meta));
    }

    #[test]
    fn special_types() {
        let s = schema("", "Service").expect("service schema");
        let port = s.node(s.at("spec.ports").and_then(|p| s.node(p).items).unwrap());
        let target = s.node(port.properties["targetPort"]);
        assert_eq!(target.ty, Type::IntOrString);
        let s = schema("", "Secret").expect("secret");
        let data = s.node(s.at("data").unwrap()).additional.unwrap();
        assert_eq!(s.node(data).format.as_deref(), Some("byte"));
        let crd = schema("apiextensions.k8s.io", "CustomResourceDefinition").unwrap();
        let default = crd.at("spec.versions").unwrap();
        let v = crd.node(crd.node(default).items.unwrap());
        let schema_props = crd.node(crd.node(v.properties["schema"]).properties["openAPIV3Schema"]);
        assert_eq!(crd.node(schema_props.properties["default"]).ty, Type::Any);
        assert_eq!(
            crd.node(schema_props.properties["additionalProperties"]).ty,
            Type::Any
        );
        // Recursive definitions point back at themselves.
        let props = crd
            .node(schema_props.properties["properties"])
            .additional
            .unwrap();
        assert_eq!(
            crd.node(props).properties.len(),
            schema_props.properties.len()
        );
        assert!(schema("", "Pod").is_none());
    }

    #[test]
    fn cached_per_kind() {
        let a = schema("", "ConfigMap").unwrap();
        let b = schema("", "ConfigMap").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
