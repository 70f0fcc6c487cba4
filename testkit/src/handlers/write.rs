//! `create`, `update` (PUT) and `delete`, and the replacement of a stored object that updates
//! and patches share: optimistic concurrency, the status subresource, server-owned metadata,
//! `generation`, and deletion once the last finalizer is gone.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Target;
use crate::admission::admit;
use crate::object::{has_finalizers, is_deleting, now, set_or_remove};
use crate::response::{Reply, error, ok};
use crate::store::{Shared, set_resource_version};

/// Metadata the server owns: writes cannot change it.
const SERVER_OWNED: [&str; 6] = [
    "uid",
    "creationTimestamp",
    "namespace",
    "name",
    "generation",
    "deletionTimestamp",
];

/// A request body, JSON or YAML.
pub(super) fn parse_body(body: &[u8]) -> Result<Value, axum::response::Response> {
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| {
            error(
                400,
                "BadRequest",
                format!("the request body is not valid JSON or YAML: {e}"),
            )
        })
}

pub(super) fn create(s: &Shared, t: &Target, body: &[u8], q: &BTreeMap<String, String>) -> Reply {
    let mut obj = parse_body(body)?;
    if t.rt.namespaced {
        let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        obj["metadata"]["namespace"] = json!(ns);
    }
    let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
        return Err(error(422, "Invalid", "metadata.name: Required value: name is required"));
    };
    if t.rt.status_subresource {
        set_or_remove(&mut obj, "status", None);
    }
    let strict = q.get("fieldValidation").is_some_and(|v| v == "Strict");
    admit(&t.rt, &mut obj, None, strict)?;
    let mut inner = s.lock();
    let k = t.key(&name);
    if inner.objects.contains_key(&k) {
        let message = format!("{} \"{name}\" already exists", t.rt.plural);
        return Err(error(409, "AlreadyExists", message));
    }
    let rv = inner.bump();
    obj["metadata"]["uid"] = json!(inner.next_uid());
    set_resource_version(&mut obj, rv);
    obj["metadata"]["creationTimestamp"] = json!(now());
    if t.rt.schema.is_some() {
        obj["metadata"]["generation"] = json!(1);
    }
    obj["apiVersion"] = json!(t.rt.api_version());
    obj["kind"] = json!(t.rt.kind);
    inner.objects.insert(k, obj.clone());
    s.record(&mut inner, t.rt.store_prefix(), "ADDED", &obj);
    Ok(ok(StatusCode::CREATED, obj))
}

pub(super) fn update(s: &Shared, t: &Target, body: &[u8]) -> Reply {
    replace(s, t, parse_body(body)?)
}

/// Store `new` in place of the current object, as PUT, PATCH and apply do: for the main resource
/// `status` is kept as it was, for `/status` everything but `status` is; `resourceVersion` must
/// match when given; `generation` moves only when something other than metadata and status
/// changed; an object being deleted goes once its last finalizer is gone.
pub(super) fn replace(s: &Shared, t: &Target, mut new: Value) -> Reply {
    let name = t.name();
    let mut inner = s.lock();
    let k = t.key(name);
    let current = inner.objects.get(&k).cloned().ok_or_else(|| t.not_found(name))?;
    check_resource_version(t, &new, &current)?;
    if t.rt.status_subresource {
        split_status(t, &mut new, &current);
    }
    for field in SERVER_OWNED {
        set_or_remove(&mut new["metadata"], field, current["metadata"].get(field));
    }
    new["apiVersion"] = json!(t.rt.api_version());
    new["kind"] = json!(t.rt.kind);
    admit(&t.rt, &mut new, Some(&current), false)?;
    if same_but_resource_version(&new, &current) {
        return Ok(ok(StatusCode::OK, current));
    }
    if spec_changed(&new, &current) && t.rt.schema.is_some() {
        let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    inner.stamp(&mut new);
    if is_deleting(&new) && !has_finalizers(&new) {
        inner.objects.remove(&k);
        s.record(&mut inner, t.rt.store_prefix(), "DELETED", &new);
    } else {
        inner.objects.insert(k, new.clone());
        s.record(&mut inner, t.rt.store_prefix(), "MODIFIED", &new);
    }
    Ok(ok(StatusCode::OK, new))
}

/// `409 Conflict` when `new` names a resourceVersion other than the current one.
fn check_resource_version(t: &Target, new: &Value, current: &Value) -> Result<(), axum::response::Response> {
    match new["metadata"]["resourceVersion"].as_str() {
        Some(rv) if rv != current["metadata"]["resourceVersion"].as_str().unwrap_or("") => Err(error(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                t.rt.plural,
                t.name()
            ),
        )),
        _ => Ok(()),
    }
}

/// With a status subresource, a write to `/status` changes `status` only, and a write to the
/// main resource everything but `status`.
fn split_status(t: &Target, new: &mut Value, current: &Value) {
    if t.is_status() {
        let status = new.get("status").cloned();
        *new = current.clone();
        set_or_remove(new, "status", status.as_ref());
    } else {
        set_or_remove(new, "status", current.get("status"));
    }
}

/// Whether nothing but the resourceVersion differs: a write that changes nothing.
fn same_but_resource_version(new: &Value, current: &Value) -> bool {
    let mut a = new.clone();
    let mut b = current.clone();
    a["metadata"]["resourceVersion"] = Value::Null;
    b["metadata"]["resourceVersion"] = Value::Null;
    a == b
}

/// Whether something other than metadata and status changed, which moves `generation`.
fn spec_changed(new: &Value, current: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(new) != strip(current)
}

/// Delete, or with finalizers mark for deletion (`deletionTimestamp`) and answer `202`.
pub(super) fn delete(s: &Shared, t: &Target) -> Reply {
    let name = t.name();
    let mut inner = s.lock();
    let k = t.key(name);
    let mut obj = inner.objects.get(&k).cloned().ok_or_else(|| t.not_found(name))?;
    if has_finalizers(&obj) {
        if !is_deleting(&obj) {
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if let Some(g) = obj["metadata"]["generation"].as_i64() {
                obj["metadata"]["generation"] = json!(g + 1);
            }
            inner.stamp(&mut obj);
            inner.objects.insert(k, obj.clone());
            s.record(&mut inner, t.rt.store_prefix(), "MODIFIED", &obj);
        }
        return Ok(ok(StatusCode::ACCEPTED, obj));
    }
    inner.objects.remove(&k);
    inner.stamp(&mut obj);
    s.record(&mut inner, t.rt.store_prefix(), "DELETED", &obj);
    Ok(ok(StatusCode::OK, obj))
}
