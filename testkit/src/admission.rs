//! Admission of custom resources, as the API server does it for a CRD: the Secret `stringData`
//! fold for Secrets, the length limit of an Event's note, then for types with a schema: defaults, pruning (or, with
//! `fieldValidation=Strict`, rejection) of unknown fields, the schema's structural constraints,
//! and its CEL rules (`x-kubernetes-validations`). Rejections answer `422 Invalid` with the API
//! server's `Status` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::core::cel::Validator;
use serde_json::{Map, Value, json};

use crate::resource::{ResourceType, Served};
use crate::response::status_body;

/// The longest note the API server accepts on an `events.k8s.io` Event.
const MAX_EVENT_NOTE_BYTES: usize = 1024;

/// A rejected field: its path (empty for a CEL rule's message) and what is wrong with it.
type Cause = (String, String);

thread_local! {
    /// A CEL evaluator with the Kubernetes functions registered, made once per thread.
    static VALIDATOR: Validator = Validator::new();
}

/// Admit `obj` (replacing `old`, for updates) as the API server would, or the `422` rejecting it.
pub(crate) fn admit(rt: &Served, obj: &mut Value, old: Option<&Value>, strict: bool) -> Result<(), Response> {
    if rt.kind == "Secret" && rt.group.is_empty() {
        fold_string_data(obj);
    }
    if rt.kind == "Event" && rt.group == "events.k8s.io" {
        let note = obj["note"].as_str().unwrap_or_default();
        if note.len() > MAX_EVENT_NOTE_BYTES {
            let cause = (
                "note".to_string(),
                format!("Too long: may not be more than {MAX_EVENT_NOTE_BYTES} bytes"),
            );
            return Err(invalid(rt, obj["metadata"]["name"].as_str().unwrap_or(""), &[cause]));
        }
    }
    let Some(schema) = &rt.schema else { return Ok(()) };
    let mut checker = Checker { causes: vec![], strict };
    // metadata and apiVersion/kind are the server's business, not the schema's.
    let metadata = obj.get("metadata").cloned();
    checker.value(schema, obj, "");
    if let Some(m) = metadata {
        obj["metadata"] = m;
    }
    let mut causes = checker.causes;
    if causes.is_empty()
        && let Some(rules) = &rt.rules
        && let Err(errors) = VALIDATOR.with(|v| v.validate_compiled(rules, obj, old))
    {
        for e in errors.to_string().lines().filter(|l| !l.trim().is_empty()) {
            causes.push((String::new(), e.trim().to_string()));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(invalid(rt, obj["metadata"]["name"].as_str().unwrap_or(""), &causes))
}

/// `422 Invalid`, with the causes as `details.causes` and summed up in the message.
fn invalid(rt: &ResourceType, name: &str, causes: &[Cause]) -> Response {
    let details: Vec<Value> = causes
        .iter()
        .map(|(field, message)| json!({"reason": "FieldValueInvalid", "message": message, "field": field}))
        .collect();
    let summary: Vec<String> = causes
        .iter()
        .map(|(f, m)| if f.is_empty() { m.clone() } else { format!("{f}: {m}") })
        .collect();
    let mut body = status_body(
        422,
        "Invalid",
        format!("{}.{} \"{name}\" is invalid: {}", rt.kind, rt.group, summary.join(", ")),
    );
    body["details"] = json!({"name": name, "group": rt.group, "kind": rt.kind, "causes": details});
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// A Secret's `stringData` is write-only: the API server merges it into `data`, base64-encoded.
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    let Some(entries) = string_data.as_object() else { return };
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in entries {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Walks a value along its schema: applies defaults, prunes unknown fields, and collects what
/// breaks the schema's structural constraints.
struct Checker {
    causes: Vec<Cause>,
    /// Unknown fields are errors rather than pruned.
    strict: bool,
}

impl Checker {
    /// Normalise and check `v`, found at `path` (`.a.b[0]`, empty for the root), against `schema`.
    fn value(&mut self, schema: &Value, v: &mut Value, path: &str) {
        let here = field(path);
        if v.is_null() {
            if schema["nullable"].as_bool() != Some(true) && !path.is_empty() {
                self.causes
                    .push((here, "Invalid value: \"null\": must not be null".into()));
            }
            return;
        }
        let shown = short(v);
        if !type_ok(schema, v) {
            let expected = schema["type"].as_str().unwrap_or("?");
            self.causes
                .push((here, format!("Invalid value: {shown}: must be of type {expected}")));
            return;
        }
        let mut found: Vec<String> = enum_violation(schema, v, &shown).into_iter().collect();
        match v {
            Value::String(s) => found.extend(string_violations(schema, s, &shown)),
            Value::Number(n) => found.extend(number_violations(schema, n.as_f64().unwrap_or(0.0))),
            Value::Array(items) => {
                found.extend(array_violations(schema, items.len()));
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.value(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            Value::Object(map) => self.object(schema, map, path),
            _ => {}
        }
        self.causes.extend(found.into_iter().map(|m| (here.clone(), m)));
    }

    /// An object's properties: defaults, unknown fields, each known one, then `required`.
    fn object(&mut self, schema: &Value, map: &mut Map<String, Value>, path: &str) {
        if let Some(props) = schema["properties"].as_object() {
            apply_defaults(props, map);
            self.unknown_fields(schema, props, map, path);
            for (k, prop) in props {
                if let Some(v) = map.get_mut(k) {
                    self.value(prop, v, &child(path, k));
                }
            }
        } else if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            for (k, v) in map.iter_mut() {
                self.value(additional, v, &child(path, k));
            }
        }
        let required = schema["required"].as_array().into_iter().flatten();
        for r in required.filter_map(|r| r.as_str()) {
            if !map.contains_key(r) {
                self.causes.push((field(&child(path, r)), "Required value".into()));
            }
        }
    }

    /// Prune the fields `props` does not declare (unless the schema preserves them), noting them
    /// as errors when strict. The root's `apiVersion`, `kind` and `metadata` are left alone.
    fn unknown_fields(&mut self, schema: &Value, props: &Map<String, Value>, map: &mut Map<String, Value>, path: &str) {
        let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
        let unknown: Vec<String> = map.keys().filter(|k| !props.contains_key(*k)).cloned().collect();
        for k in unknown {
            if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) {
                continue;
            }
            if preserve {
                continue;
            }
            if self.strict {
                self.causes
                    .push((field(&child(path, &k)), "field not declared in schema".into()));
            }
            map.remove(&k);
        }
    }
}

/// Fill in the declared defaults of the properties that are missing.
fn apply_defaults(props: &Map<String, Value>, map: &mut Map<String, Value>) {
    for (k, prop) in props {
        if !map.contains_key(k)
            && let Some(d) = prop.get("default")
        {
            map.insert(k.clone(), d.clone());
        }
    }
}

fn type_ok(schema: &Value, v: &Value) -> bool {
    match schema["type"].as_str() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    }
}

fn enum_violation(schema: &Value, v: &Value, shown: &str) -> Option<String> {
    let allowed = schema["enum"].as_array().filter(|allowed| !allowed.contains(v))?;
    let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
    Some(format!(
        "Unsupported value: {shown}: supported values: {}",
        list.join(", ")
    ))
}

fn string_violations(schema: &Value, s: &str, shown: &str) -> Vec<String> {
    let mut found = vec![];
    let len = s.chars().count() as u64;
    if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
        found.push(format!("Invalid value: {shown}: should be at least {min} chars long"));
    }
    if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
        found.push(format!("Too long: may not be more than {max} bytes"));
    }
    if let Some(p) = schema["pattern"].as_str()
        && regex_lite::Regex::new(p).is_ok_and(|re| !re.is_match(s))
    {
        found.push(format!("Invalid value: {shown}: should match '{p}'"));
    }
    found
}

fn number_violations(schema: &Value, x: f64) -> Vec<String> {
    let mut found = vec![];
    if let Some(min) = schema["minimum"].as_f64().filter(|m| x < *m) {
        found.push(format!("Invalid value: {x}: should be greater than or equal to {min}"));
    }
    if let Some(max) = schema["maximum"].as_f64().filter(|m| x > *m) {
        found.push(format!("Invalid value: {x}: should be less than or equal to {max}"));
    }
    found
}

fn array_violations(schema: &Value, len: usize) -> Vec<String> {
    let mut found = vec![];
    if let Some(max) = schema["maxItems"].as_u64().filter(|m| len as u64 > *m) {
        found.push(format!("Too many: {len}: must have at most {max} items"));
    }
    if let Some(min) = schema["minItems"].as_u64().filter(|m| (len as u64) < *m) {
        found.push(format!("Invalid value: must have at least {min} items"));
    }
    found
}

/// A path as the API server names a field: `spec.a[0].b`.
fn field(path: &str) -> String {
    path.trim_start_matches('.').to_string()
}

fn child(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// A value as error messages show it, cut short (at a character boundary) past 60 characters.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}
