//! The compiled form of an OpenAPI schema: an arena of nodes, one per (sub)schema, shared by
//! built-in kinds (compiled from k8s-openapi) and custom resources (compiled from a CRD's
//! structural schema). References and recursion are resolved at compile time, so walking an
//! object never looks anything up by name.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// Index of a node in its [`Schema`].
pub type NodeId = u32;

/// The JSON type a node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string`: an integer or a string (IntOrString, Quantity).
    IntOrString,
    /// No type: any JSON value, kept as is (RawExtension, apiextensions JSON, preserved fields).
    Any,
}

impl Type {
    /// The name the OpenAPI validator uses in its messages.
    pub fn openapi_name(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
            Type::IntOrString => "integer,string",
            Type::Any => "",
        }
    }
}

/// How items of a list are identified (`x-kubernetes-list-type`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

/// A numeric bound (`minimum`/`maximum` with their `exclusive*` flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub exclusive: bool,
}

/// Validation keywords of custom resource schemas; built-in kinds leave them empty because
/// their validation is hand-written in the real server, not schema-driven.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub required: Vec<String>,
    pub enumeration: Option<Vec<Value>>,
    pub pattern: Option<(String, Regex)>,
    pub minimum: Option<Bound>,
    pub maximum: Option<Bound>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub ty: Type,
    pub format: Option<String>,
    /// Declared fields of an object.
    pub properties: BTreeMap<String, NodeId>,
    /// Schema of the values of a map (`additionalProperties`).
    pub additional: Option<NodeId>,
    pub items: Option<NodeId>,
    /// `x-kubernetes-preserve-unknown-fields`: undeclared fields are kept.
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`: apiVersion, kind and metadata are implied.
    pub embedded: bool,
    pub nullable: bool,
    pub default: Option<Value>,
    pub list: ListType,
    pub checks: Checks,
    /// The Go type behind this node as `encoding/json` names it (`string`, `int32`,
    /// `v1.PodSpec`, `[]v1.Container`); empty for custom resources.
    pub go_type: String,
}

impl Node {
    pub fn new(ty: Type) -> Self {
        Node {
            ty,
            format: None,
            properties: BTreeMap::new(),
            additional: None,
            items: None,
            preserve_unknown: ty == Type::Any,
            embedded: false,
            nullable: false,
            default: None,
            list: ListType::Atomic,
            checks: Checks::default(),
            go_type: String::new(),
        }
    }

    /// The Go struct name of an object node (`ObjectMeta` for `v1.ObjectMeta`).
    pub fn go_struct(&self) -> &str {
        self.go_type
            .rsplit('.')
            .next()
            .unwrap_or(self.go_type.as_str())
    }
}

/// A compiled schema: its nodes and the root.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    root: NodeId,
}

impl Schema {
    pub fn new(nodes: Vec<Node>, root: NodeId) -> Self {
        Schema { nodes, root }
    }

    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The node for a child of an object node: a declared field or a map value.
    pub fn field(&self, parent: NodeId, key: &str) -> Option<NodeId> {
        let n = self.node(parent);
        n.properties.get(key).copied().or(n.additional)
    }

    /// The node at a dotted path of declared fields from the root (`status`, `spec.template`).
    pub fn at(&self, path: &str) -> Option<NodeId> {
        path.split('.')
            .filter(|s| !s.is_empty())
            .try_fold(self.root, |id, key| self.field(id, key))
    }
}

/// Collects nodes while a schema is compiled.
#[derive(Debug, Default)]
pub struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    pub fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    pub fn get_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    pub fn get(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn finish(self, root: NodeId) -> Schema {
        Schema::new(self.nodes, root)
    }
}
