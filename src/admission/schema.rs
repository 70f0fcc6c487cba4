//! The objects' OpenAPI v3 schemas, checked as the API server checks them: the CRD's
//! `openAPIV3Schema` (with its CEL rules) for `CognitoSmsConfig` and `CognitoSmsAccount`, the
//! Kubernetes API's own schema for `Secret`, `Namespace` and `metadata`.
//!
//! The schemas are OpenAPI v3.0 schemas, which are JSON Schema draft 4 with extensions; they are
//! adapted once, when first used, to plain draft 4 for the `jsonschema` crate:
//!
//! - `nullable: true` allows `null` (in `type` and `enum`);
//! - an object schema with `properties` and neither `additionalProperties` nor
//!   `x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`: unknown
//!   fields are refused, as the API server refuses them under `kubectl`'s default strict field
//!   validation (`--validate=strict`), where they would otherwise be pruned silently;
//! - `x-kubernetes-embedded-resource` objects also take `apiVersion`, `kind` and `metadata`, and
//!   `x-kubernetes-int-or-string` fields an integer or a string; the other `x-kubernetes-*`
//!   keywords mean nothing to JSON Schema and are ignored.
//!
//! `allOf`/`anyOf`/`oneOf`/`not` are left as they are: structural schemas only use them to
//! restrict fields declared elsewhere. Patterns run on the `regex` engine, which, like the API
//! server's Go `regexp`, has no backtracking.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt;
use kube::core::cel::CompiledSchema;
use serde_json::{Value, json};

use super::{Kind, Violation, child, shown};
use crate::crd::{CognitoSmsAccount, CognitoSmsConfig};

/// What the API server adds when a rule could not run on an object that already fails its
/// schema: CEL rules are skipped while a type, `required`, `enum`, or length or count limit fails.
const CEL_SKIPPED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// One kind's schema, compiled.
struct Compiled {
    /// The OpenAPI schema, for what the API server does before validating: drop the nulls.
    openapi: Value,
    validator: Validator,
    /// The CRD's CEL rules, for kinds that have them.
    cel: Option<CompiledSchema>,
}

static RESOURCE: LazyLock<Compiled> = LazyLock::new(custom::<CognitoSmsConfig>);
static ACCOUNT: LazyLock<Compiled> = LazyLock::new(custom::<CognitoSmsAccount>);
static SECRET: LazyLock<Compiled> = LazyLock::new(|| Compiled::new(kubernetes_schema::<Secret>(), None));
static NAMESPACE: LazyLock<Compiled> = LazyLock::new(|| Compiled::new(kubernetes_schema::<Namespace>(), None));

/// The schema of one of the operator's own kinds, from its CRD, with its CEL rules.
fn custom<K: CustomResourceExt>() -> Compiled {
    let crd = serde_json::to_value(K::crd()).expect("the CRD serializes to JSON");
    let rules = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let mut openapi = rules.clone();
    let properties = openapi["properties"]
        .as_object_mut()
        .expect("the CRD schema has properties");
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert("metadata".into(), kubernetes_schema::<ObjectMeta>());
    Compiled::new(openapi, Some(kube::core::cel::compile_schema(&rules)))
}

/// The OpenAPI schema of a Kubernetes API type, with its nested types written out in place.
fn kubernetes_schema<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).expect("the schema serializes to JSON")
}

impl Compiled {
    fn new(openapi: Value, cel: Option<CompiledSchema>) -> Self {
        let mut schema = openapi.clone();
        adapt(&mut schema);
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .should_validate_formats(true)
            .with_pattern_options(PatternOptions::regex())
            .build(&schema)
            .expect("the Kubernetes schemas are valid JSON Schema");
        Compiled {
            openapi,
            validator,
            cel,
        }
    }
}

/// Turn OpenAPI v3 schema `node` and the schemas nested in it into JSON Schema draft 4.
fn adapt(node: &mut Value) {
    let Some(schema) = node.as_object_mut() else { return };
    let flag = |name: &str| schema.get(name) == Some(&Value::Bool(true));
    let (nullable, embedded, int_or_string) = (
        flag("nullable"),
        flag("x-kubernetes-embedded-resource"),
        flag("x-kubernetes-int-or-string"),
    );
    let open = schema.contains_key("additionalProperties") || flag("x-kubernetes-preserve-unknown-fields");
    if int_or_string {
        schema.insert("type".into(), json!(["integer", "string"]));
    }
    if embedded && let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for field in ["apiVersion", "kind"] {
            properties.entry(field).or_insert_with(|| json!({"type": "string"}));
        }
        properties
            .entry("metadata")
            .or_insert_with(|| json!({"type": "object"}));
    }
    if nullable {
        allow_null(schema);
    }
    if schema.contains_key("properties") && !open {
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.values_mut().for_each(adapt);
    }
    for nested in ["items", "additionalProperties"] {
        if let Some(nested) = schema.get_mut(nested) {
            adapt(nested);
        }
    }
}

fn allow_null(schema: &mut serde_json::Map<String, Value>) {
    match schema.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            schema.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
        _ => {}
    }
    if let Some(Value::Array(options)) = schema.get_mut("enum")
        && !options.contains(&Value::Null)
    {
        options.push(Value::Null);
    }
}

/// What the schema check found.
pub(super) struct Review {
    pub violations: Vec<Violation>,
    /// Whether a violation keeps the API server from running the CRD's CEL rules.
    pub blocks_cel: bool,
}

/// Check `object` of `kind` against its schema, after dropping the nulls the API server drops.
pub(super) fn review(kind: Kind, object: &mut Value) -> Review {
    let compiled = compiled(kind);
    prune_nulls(&compiled.openapi, object);
    let mut violations = vec![];
    let mut blocks = false;
    for error in compiled.validator.iter_errors(object) {
        blocks |= blocks_cel(error.kind());
        violations.extend(describe(&error));
    }
    Review {
        violations,
        blocks_cel: blocks,
    }
}

/// Check `object` of `kind` against the CEL rules of its schema, if it has any: run them, or,
/// when `blocked` by the object's other violations, say that they were not run, as the API server
/// does.
pub(super) fn review_rules(kind: Kind, object: &Value, blocked: bool) -> Vec<Violation> {
    match &compiled(kind).cel {
        Some(_) if blocked => vec![Violation::new("", CEL_SKIPPED)],
        Some(rules) => cel(rules, object),
        None => vec![],
    }
}

fn compiled(kind: Kind) -> &'static Compiled {
    match kind {
        Kind::CognitoSmsConfig => &RESOURCE,
        Kind::CognitoSmsAccount => &ACCOUNT,
        Kind::Secret => &SECRET,
        Kind::Namespace => &NAMESPACE,
    }
}

/// The failures of the CEL rules, as the API server reports them.
fn cel(rules: &CompiledSchema, object: &Value) -> Vec<Violation> {
    thread_local! {
        // The CEL functions, registered once per thread: the validator is not `Sync`.
        static CEL: kube::core::cel::Validator = kube::core::cel::Validator::new();
    }
    let result = CEL.with(|cel| cel.validate_compiled(rules, object, None));
    let errors = result.err().map(|e| e.into_vec()).unwrap_or_default();
    errors
        .into_iter()
        .map(|e| Violation::new(e.field_path, e.message))
        .collect()
}

/// Remove the `null` values of fields that are not `nullable`, or put their default in their
/// place, as the API server does before it validates a custom resource (and as decoding into a
/// built-in type does, leaving the zero value).
fn prune_nulls(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|name, field| {
                let Some(field_schema) = schema["properties"].get(name).or(schema.get("additionalProperties")) else {
                    return true;
                };
                if !field.is_null() || field_schema["nullable"] == Value::Bool(true) {
                    prune_nulls(field_schema, field);
                    return true;
                }
                match field_schema.get("default") {
                    Some(default) => *field = default.clone(),
                    None => return false,
                }
                true
            });
        }
        Value::Array(items) => items.iter_mut().for_each(|item| prune_nulls(&schema["items"], item)),
        _ => {}
    }
}

/// The failures that stop the API server from running CEL rules.
fn blocks_cel(kind: &ValidationErrorKind) -> bool {
    matches!(
        kind,
        ValidationErrorKind::Type { .. }
            | ValidationErrorKind::Required { .. }
            | ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::MaxLength { .. }
            | ValidationErrorKind::MaxItems { .. }
            | ValidationErrorKind::MaxProperties { .. }
    )
}

/// A schema failure as violations: one per missing or unknown field, else one.
fn describe(error: &ValidationError) -> Vec<Violation> {
    let path = field_path(error.instance_path());
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Violation::new(child(&path, name), format!("missing field `{name}`"))]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation::unknown_field(child(&path, name), name))
            .collect(),
        kind => vec![Violation::new(path, message(kind, error))],
    }
}

/// What is wrong with the value at a failing location.
fn message(kind: &ValidationErrorKind, error: &ValidationError) -> String {
    let value = error.instance();
    let shown = shown(value);
    let count = match &**value {
        Value::Array(items) => items.len(),
        Value::Object(fields) => fields.len(),
        Value::String(text) => text.chars().count(),
        _ => 0,
    };
    match kind {
        ValidationErrorKind::Type { kind } => format!("{shown} is not of type {}", type_names(kind)),
        ValidationErrorKind::Enum { options } => match &**value {
            Value::String(s) => format!("unknown variant `{s}`, expected one of {}", variants(options)),
            _ => format!("{shown} is not one of {}", variants(options)),
        },
        ValidationErrorKind::Pattern { pattern } => format!("{shown} is not of the form `{pattern}`"),
        ValidationErrorKind::MinLength { limit } => format!("{shown} has {count} characters, fewer than {limit}"),
        ValidationErrorKind::MaxLength { limit } => format!("{shown} has {count} characters, more than {limit}"),
        ValidationErrorKind::MinItems { limit } => format!("has {count} items, fewer than {limit}"),
        ValidationErrorKind::MaxItems { limit } => format!("has {count} items, more than {limit}"),
        ValidationErrorKind::MinProperties { limit } => format!("has {count} fields, fewer than {limit}"),
        ValidationErrorKind::MaxProperties { limit } => format!("has {count} fields, more than {limit}"),
        ValidationErrorKind::Minimum { limit } => format!("{shown} is less than {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("{shown} is greater than {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("{shown} is not greater than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("{shown} is not less than {limit}"),
        ValidationErrorKind::Format { format } => format!("{shown} is not a valid {format}"),
        _ => error.to_string(),
    }
}

/// The types a value may have, leaving out the `null` that `nullable` adds.
fn type_names(kind: &TypeKind) -> String {
    let names: Vec<&str> = match kind {
        TypeKind::Single(t) => vec![t.as_str()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).filter(|t| *t != "null").collect(),
    };
    names.join(" or ")
}

fn variants(options: &Value) -> String {
    let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
    let names: Vec<String> = options
        .iter()
        .filter(|o| !o.is_null())
        .map(|o| format!("`{}`", o.as_str().map_or_else(|| o.to_string(), String::from)))
        .collect();
    names.join(", ")
}

/// A location in an object as the API server writes it: `spec.items[0].name`, `labels[a/b]`.
fn field_path(location: &Location) -> String {
    location.iter().fold(String::new(), |path, segment| match segment {
        LocationSegment::Index(i) => format!("{path}[{i}]"),
        LocationSegment::Property(name) => child(&path, &name),
    })
}
