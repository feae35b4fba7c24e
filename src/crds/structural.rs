//! Checks that a CRD schema is *structural*, as the Kubernetes API server requires for
//! `apiextensions.k8s.io/v1` CRDs (see "Specifying a structural schema" in the Kubernetes CRD
//! documentation), plus the related restrictions the server enforces on CRD schemas.
//!
//! The rules checked:
//! 1. every node (root, each property, each `additionalProperties`, each `items`) has a
//!    non-empty `type`, unless it sets `x-kubernetes-int-or-string` or
//!    `x-kubernetes-preserve-unknown-fields`;
//! 2. every property or item specified inside `allOf`/`anyOf`/`oneOf`/`not` is also specified
//!    outside of them;
//! 3. nothing inside `allOf`/`anyOf`/`oneOf`/`not` sets `description`, `type`, `default`,
//!    `additionalProperties`, `nullable` or an `x-kubernetes-*` extension, except the two
//!    int-or-string patterns;
//! 4. `metadata` at the root only restricts `name` and `generateName`;
//!
//! and the server's other CRD schema rules: no `$ref`, `$schema`, `id`, `definitions`,
//! `dependencies`, `additionalItems`, `patternProperties` or `uniqueItems: true`; `properties`
//! and `additionalProperties` are mutually exclusive and `additionalProperties` is a schema;
//! arrays have a single-schema `items`; `x-kubernetes-preserve-unknown-fields` is `true` when
//! set; embedded resources are objects; int-or-string nodes have no `type`; the root is an
//! object.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

const VALID_TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];

/// Every violation of the structural-schema rules in the schema of every version of `crd`,
/// each as `"<crd name> <version>: <path>: <problem>"`. Also reports versions without a schema.
pub fn crd_violations(crd: &CustomResourceDefinition) -> Vec<String> {
    let name = crd.metadata.name.as_deref().unwrap_or("<unnamed>");
    let mut found = Vec::new();
    for version in &crd.spec.versions {
        let schema = version
            .schema
            .as_ref()
            .and_then(|validation| validation.open_api_v3_schema.as_ref());
        match schema {
            None => found.push(format!("{name} {}: no openAPIV3Schema", version.name)),
            Some(schema) => found.extend(
                violations(schema)
                    .into_iter()
                    .map(|violation| format!("{name} {}: {violation}", version.name)),
            ),
        }
    }
    found
}

/// Every violation of the structural-schema rules in a CRD root schema, each as
/// `"<path>: <problem>"`. Empty means the API server will accept the schema.
pub fn violations(root: &JSONSchemaProps) -> Vec<String> {
    let mut found = Vec::new();
    if root.type_.as_deref() != Some("object") {
        found.push("<root>: type must be object".to_string());
    }
    check_node(root, "", &mut found);
    if let Some(metadata) = root.properties.as_ref().and_then(|p| p.get("metadata")) {
        check_metadata(metadata, &mut found);
    }
    found
}

fn display(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// Checks a node that is outside any logical junctor.
fn check_node(node: &JSONSchemaProps, path: &str, found: &mut Vec<String>) {
    let at = display(path);
    let preserves = node.x_kubernetes_preserve_unknown_fields == Some(true);
    let int_or_string = node.x_kubernetes_int_or_string == Some(true);

    match node.type_.as_deref() {
        None | Some("") if !preserves && !int_or_string => {
            found.push(format!(
                "{at}: type is required (or x-kubernetes-preserve-unknown-fields / x-kubernetes-int-or-string)"
            ));
        }
        Some(type_) if !type_.is_empty() && !VALID_TYPES.contains(&type_) => {
            found.push(format!("{at}: unknown type {type_:?}"));
        }
        _ => {}
    }
    if int_or_string && node.type_.as_deref().is_some_and(|t| !t.is_empty()) {
        found.push(format!(
            "{at}: x-kubernetes-int-or-string must not be combined with type"
        ));
    }
    if node.x_kubernetes_preserve_unknown_fields == Some(false) {
        found.push(format!(
            "{at}: x-kubernetes-preserve-unknown-fields must be true or unset"
        ));
    }
    if node.x_kubernetes_embedded_resource == Some(true) && node.type_.as_deref() != Some("object")
    {
        found.push(format!(
            "{at}: x-kubernetes-embedded-resource requires type object"
        ));
    }
    check_forbidden_keywords(node, at, found);

    if node.properties.is_some() && node.additional_properties.is_some() {
        found.push(format!(
            "{at}: properties and additionalProperties are mutually exclusive"
        ));
    }
    if (node.properties.is_some() || node.additional_properties.is_some())
        && node.type_.as_deref().is_some_and(|t| t != "object")
    {
        found.push(format!(
            "{at}: properties/additionalProperties require type object"
        ));
    }
    if node.items.is_some() && node.type_.as_deref().is_some_and(|t| t != "array") {
        found.push(format!("{at}: items requires type array"));
    }
    if node.type_.as_deref() == Some("array") && node.items.is_none() {
        found.push(format!("{at}: type array requires items"));
    }

    for (name, property) in node.properties.iter().flatten() {
        check_node(property, &format!("{path}.{name}"), found);
    }
    match &node.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(values)) => {
            check_node(values, &format!("{path}.additionalProperties"), found);
        }
        Some(JSONSchemaPropsOrBool::Bool(value)) => found.push(format!(
            "{at}: additionalProperties must be a schema, not {value}"
        )),
        None => {}
    }
    match &node.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => {
            check_node(items, &format!("{path}[*]"), found);
        }
        Some(JSONSchemaPropsOrArray::Schemas(_)) => {
            found.push(format!("{at}: items must be a single schema, not a list"));
        }
        None => {}
    }

    let junctors = [
        ("allOf", node.all_of.as_deref().unwrap_or_default()),
        ("anyOf", node.any_of.as_deref().unwrap_or_default()),
        ("oneOf", node.one_of.as_deref().unwrap_or_default()),
        (
            "not",
            node.not
                .as_deref()
                .map(std::slice::from_ref)
                .unwrap_or_default(),
        ),
    ];
    for (junctor, branches) in junctors {
        for (index, branch) in branches.iter().enumerate() {
            let branch_path = format!("{path}.{junctor}[{index}]");
            if int_or_string && is_int_or_string_pattern(junctor, branch) {
                continue;
            }
            check_junctor_branch(branch, node, &branch_path, found);
        }
    }
}

/// The two shapes the API server allows under `x-kubernetes-int-or-string: true`:
/// `anyOf: [{type: integer}, {type: string}]`, optionally wrapped in `allOf: [{anyOf: …}]`.
fn is_int_or_string_pattern(junctor: &str, branch: &JSONSchemaProps) -> bool {
    let only_type = |schema: &JSONSchemaProps, type_: &str| {
        schema.type_.as_deref() == Some(type_)
            && JSONSchemaProps {
                type_: None,
                ..schema.clone()
            } == JSONSchemaProps::default()
    };
    match junctor {
        "anyOf" => only_type(branch, "integer") || only_type(branch, "string"),
        "allOf" => branch.any_of.as_ref().is_some_and(|any_of| {
            any_of.len() == 2 && only_type(&any_of[0], "integer") && only_type(&any_of[1], "string")
        }),
        _ => false,
    }
}

/// Checks a node inside `allOf`/`anyOf`/`oneOf`/`not`: it may only add value validations to
/// properties and items that `outside` (the node at the same position outside junctors) has.
fn check_junctor_branch(
    branch: &JSONSchemaProps,
    outside: &JSONSchemaProps,
    path: &str,
    found: &mut Vec<String>,
) {
    let set_fields = [
        ("description", branch.description.is_some()),
        ("type", branch.type_.is_some()),
        ("default", branch.default.is_some()),
        (
            "additionalProperties",
            branch.additional_properties.is_some(),
        ),
        ("nullable", branch.nullable.is_some()),
        (
            "x-kubernetes-preserve-unknown-fields",
            branch.x_kubernetes_preserve_unknown_fields.is_some(),
        ),
        (
            "x-kubernetes-embedded-resource",
            branch.x_kubernetes_embedded_resource.is_some(),
        ),
        (
            "x-kubernetes-int-or-string",
            branch.x_kubernetes_int_or_string.is_some(),
        ),
        (
            "x-kubernetes-list-type",
            branch.x_kubernetes_list_type.is_some(),
        ),
        (
            "x-kubernetes-map-type",
            branch.x_kubernetes_map_type.is_some(),
        ),
        (
            "x-kubernetes-list-map-keys",
            branch.x_kubernetes_list_map_keys.is_some(),
        ),
        (
            "x-kubernetes-validations",
            branch.x_kubernetes_validations.is_some(),
        ),
    ];
    for (field, is_set) in set_fields {
        if is_set {
            found.push(format!(
                "{path}: {field} must not be set inside allOf/anyOf/oneOf/not"
            ));
        }
    }
    check_forbidden_keywords(branch, path, found);

    let outside_preserves = outside.x_kubernetes_preserve_unknown_fields == Some(true);
    for (name, property) in branch.properties.iter().flatten() {
        let property_path = format!("{path}.{name}");
        match outside.properties.as_ref().and_then(|p| p.get(name)) {
            Some(outside_property) => {
                check_junctor_branch(property, outside_property, &property_path, found);
            }
            None if outside_preserves => {}
            None => found.push(format!(
                "{property_path}: property specified inside a junctor must also be specified outside it"
            )),
        }
    }
    match (&branch.items, &outside.items) {
        (
            Some(JSONSchemaPropsOrArray::Schema(inner)),
            Some(JSONSchemaPropsOrArray::Schema(outer)),
        ) => {
            check_junctor_branch(inner, outer, &format!("{path}[*]"), found);
        }
        (Some(_), _) => found.push(format!(
            "{path}: items specified inside a junctor must also be specified outside it"
        )),
        (None, _) => {}
    }
    let nested = [
        ("allOf", branch.all_of.as_deref().unwrap_or_default()),
        ("anyOf", branch.any_of.as_deref().unwrap_or_default()),
        ("oneOf", branch.one_of.as_deref().unwrap_or_default()),
        (
            "not",
            branch
                .not
                .as_deref()
                .map(std::slice::from_ref)
                .unwrap_or_default(),
        ),
    ];
    for (junctor, branches) in nested {
        for (index, inner) in branches.iter().enumerate() {
            check_junctor_branch(inner, outside, &format!("{path}.{junctor}[{index}]"), found);
        }
    }
}

fn check_forbidden_keywords(node: &JSONSchemaProps, at: &str, found: &mut Vec<String>) {
    let forbidden = [
        ("$ref", node.ref_path.is_some()),
        ("$schema", node.schema.is_some()),
        ("id", node.id.is_some()),
        ("definitions", node.definitions.is_some()),
        ("dependencies", node.dependencies.is_some()),
        ("additionalItems", node.additional_items.is_some()),
        ("patternProperties", node.pattern_properties.is_some()),
        ("uniqueItems: true", node.unique_items == Some(true)),
    ];
    for (keyword, is_set) in forbidden {
        if is_set {
            found.push(format!("{at}: {keyword} is not allowed in CRD schemas"));
        }
    }
}

/// Rule 4: `metadata` may only be an object restricting `name` and `generateName`.
fn check_metadata(metadata: &JSONSchemaProps, found: &mut Vec<String>) {
    let allowed_shape = JSONSchemaProps {
        type_: metadata.type_.clone(),
        description: metadata.description.clone(),
        properties: metadata.properties.clone(),
        ..JSONSchemaProps::default()
    };
    if *metadata != allowed_shape {
        found.push(
            ".metadata: only type, description and restrictions of name/generateName are allowed"
                .to_string(),
        );
    }
    for name in metadata.properties.iter().flatten().map(|(name, _)| name) {
        if name != "name" && name != "generateName" {
            found.push(format!(
                ".metadata.{name}: only metadata.name and metadata.generateName may be restricted"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn schema(value: Value) -> JSONSchemaProps {
        serde_json::from_value(value).expect("valid JSONSchemaProps")
    }

    #[test]
    fn accepts_a_structural_schema() {
        let root = schema(json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "value": {"x-kubernetes-preserve-unknown-fields": true},
                        "port": {"x-kubernetes-int-or-string": true,
                                 "anyOf": [{"type": "integer"}, {"type": "string"}]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "list": {"type": "array", "items": {"type": "string"}},
                        "mode": {"type": "string", "nullable": true, "enum": ["a", "b"]},
                        "either": {
                            "type": "object",
                            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]
                        }
                    }
                }
            }
        }));
        assert_eq!(violations(&root), Vec::<String>::new());
    }

    #[test]
    fn reports_each_kind_of_violation() {
        let root = schema(json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
                "untyped": {"description": "no type"},
                "ref": {"$ref": "#/definitions/X", "type": "object"},
                "mixed": {"type": "object", "properties": {"a": {"type": "string"}},
                          "additionalProperties": {"type": "string"}},
                "arr": {"type": "array"},
                "junk": {"type": "object", "properties": {"a": {"type": "string"}},
                         "anyOf": [{"type": "object", "properties": {"b": {"type": "string"}}}]},
                "set": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "loose": {"type": "object", "additionalProperties": true},
                "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}
            }
        }));
        let found = violations(&root).join("\n");
        for expected in [
            ".metadata.labels: only metadata.name",
            ".untyped: type is required",
            ".ref: $ref is not allowed",
            ".mixed: properties and additionalProperties are mutually exclusive",
            ".arr: type array requires items",
            ".junk.anyOf[0]: type must not be set",
            ".junk.anyOf[0].b: property specified inside a junctor",
            ".set: uniqueItems: true is not allowed",
            ".loose: additionalProperties must be a schema",
            ".keep: x-kubernetes-preserve-unknown-fields must be true or unset",
        ] {
            assert!(
                found.contains(expected),
                "missing {expected:?} in:\n{found}"
            );
        }
    }

    #[test]
    fn root_must_be_an_object() {
        let found = violations(&schema(json!({"type": "string"})));
        assert_eq!(found, vec!["<root>: type must be object".to_string()]);
    }
}
