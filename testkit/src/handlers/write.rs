//! `create`, `update` (PUT) and `delete`, and the replacement of a stored object that updates
//! and patches share: optimistic concurrency, the status subresource, server-owned metadata,
//! `generation`, and deletion once the last finalizer is gone. A replacement runs under the
//! caller's lock, so that what it replaces is what the caller read (the API server's
//! `GuaranteedUpdate`).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Target;
use crate::admission::admit;
use crate::object::{Stored, has_finalizers, is_deleting, now, set_or_remove};
use crate::response::{Reply, bad_request, error};
use crate::store::{Change, Inner, Shared};

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
pub(super) fn parse_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .or_else(|_| serde_norway::from_slice(body))
        .map_err(|e| bad_request(format!("the request body is not valid JSON or YAML: {e}")))
}

/// `400 BadRequest` unless `obj` is something the API server can decode as an object: a JSON
/// object whose `metadata`, if any, is an object.
fn check_object(obj: &Value) -> Result<(), Response> {
    let problem = match obj {
        Value::Object(_) if obj["metadata"].is_null() || obj["metadata"].is_object() => return Ok(()),
        Value::Object(_) => "metadata is not an object",
        Value::Array(_) => "cannot unmarshal an array into an object",
        _ => "cannot unmarshal a JSON value that is not an object into an object",
    };
    Err(bad_request(format!(
        "the request body is not a Kubernetes object: {problem}"
    )))
}

/// An object as the answer, with `code`.
fn object_response(code: StatusCode, obj: &Stored) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(obj.json.clone()),
    )
        .into_response()
}

pub(super) fn create(s: &Shared, t: &Target, body: &[u8], q: &BTreeMap<String, String>) -> Reply {
    let obj = admit_new(t, parse_body(body)?, q)?;
    insert_new(&mut s.lock(), t, obj)
}

/// A new object as admitted: in the target's namespace, without `status` when that is a
/// subresource, defaulted and validated.
pub(super) fn admit_new(t: &Target, mut obj: Value, q: &BTreeMap<String, String>) -> Result<Value, Response> {
    check_object(&obj)?;
    if t.rt.namespaced {
        let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        obj["metadata"]["namespace"] = json!(ns);
    }
    if !obj["metadata"]["name"].is_string() {
        return Err(error(422, "Invalid", "metadata.name: Required value: name is required"));
    }
    if t.rt.status_subresource {
        set_or_remove(&mut obj, "status", None);
    }
    let strict = q.get("fieldValidation").is_some_and(|v| v == "Strict");
    admit(&t.rt, &mut obj, None, strict)?;
    Ok(obj)
}

/// Store an admitted new object, with the metadata the server sets: `409 AlreadyExists` if the
/// name is taken.
pub(super) fn insert_new(inner: &mut Inner, t: &Target, mut obj: Value) -> Reply {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let key = t.key(&name);
    let prefix = t.rt.store_prefix();
    if inner.get(&prefix, &key).is_some() {
        let message = format!("{} \"{name}\" already exists", t.rt.plural);
        return Err(error(409, "AlreadyExists", message));
    }
    obj["metadata"]["uid"] = json!(inner.next_uid());
    obj["metadata"]["creationTimestamp"] = json!(now());
    if t.rt.schema.is_some() {
        obj["metadata"]["generation"] = json!(1);
    }
    obj["apiVersion"] = json!(t.rt.api_version());
    obj["kind"] = json!(t.rt.kind);
    let stored = inner.commit(&prefix, key, Change::Added, obj);
    Ok(object_response(StatusCode::CREATED, &stored))
}

pub(super) fn update(s: &Shared, t: &Target, body: &[u8]) -> Reply {
    let new = parse_body(body)?;
    replace(&mut s.lock(), t, new)
}

/// Store `new` in place of the current object, as PUT, PATCH and apply do: for the main resource
/// `status` is kept as it was, for `/status` everything but `status` is; `resourceVersion` must
/// match when given; `generation` moves only when something other than metadata and status
/// changed; an object being deleted goes once its last finalizer is gone.
pub(super) fn replace(inner: &mut Inner, t: &Target, mut new: Value) -> Reply {
    check_object(&new)?;
    let name = t.name();
    let (prefix, key) = (t.rt.store_prefix(), t.key(name));
    let current = inner.get(&prefix, &key).cloned().ok_or_else(|| t.not_found(name))?;
    let (stored, current) = (current.clone(), &*current.value);
    check_resource_version(t, &new, current)?;
    if t.rt.status_subresource {
        split_status(t, &mut new, current);
    }
    for field in SERVER_OWNED {
        set_or_remove(&mut new["metadata"], field, current["metadata"].get(field));
    }
    new["apiVersion"] = json!(t.rt.api_version());
    new["kind"] = json!(t.rt.kind);
    admit(&t.rt, &mut new, Some(current), false)?;
    new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    if new == *current {
        // A write that changes nothing is not one: no new resourceVersion, no event.
        return Ok(object_response(StatusCode::OK, &stored));
    }
    if spec_changed(&new, current) && t.rt.schema.is_some() {
        let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    let change = if is_deleting(&new) && !has_finalizers(&new) {
        Change::Deleted
    } else {
        Change::Modified
    };
    let stored = inner.commit(&prefix, key, change, new);
    Ok(object_response(StatusCode::OK, &stored))
}

/// `409 Conflict` when `new` names a resourceVersion other than the current one.
fn check_resource_version(t: &Target, new: &Value, current: &Value) -> Result<(), Response> {
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

/// Whether something other than metadata and status changed, which moves `generation`.
fn spec_changed(new: &Value, current: &Value) -> bool {
    let spec = |v: &Value| {
        let fields = v.as_object().into_iter().flatten();
        fields.filter(|(k, _)| *k != "metadata" && *k != "status").count()
    };
    spec(new) != spec(current)
        || new
            .as_object()
            .into_iter()
            .flatten()
            .any(|(k, v)| k != "metadata" && k != "status" && current.get(k) != Some(v))
}

/// Delete, or with finalizers mark for deletion (`deletionTimestamp`) and answer `202`.
pub(super) fn delete(s: &Shared, t: &Target) -> Reply {
    let name = t.name();
    let (prefix, key) = (t.rt.store_prefix(), t.key(name));
    let mut inner = s.lock();
    let current = inner.get(&prefix, &key).cloned().ok_or_else(|| t.not_found(name))?;
    if !has_finalizers(&current.value) {
        let gone = inner.commit(&prefix, key, Change::Deleted, (*current.value).clone());
        return Ok(object_response(StatusCode::OK, &gone));
    }
    if is_deleting(&current.value) {
        return Ok(object_response(StatusCode::ACCEPTED, &current));
    }
    let mut obj = (*current.value).clone();
    obj["metadata"]["deletionTimestamp"] = json!(now());
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if let Some(g) = obj["metadata"]["generation"].as_i64() {
        obj["metadata"]["generation"] = json!(g + 1);
    }
    let marked = inner.commit(&prefix, key, Change::Modified, obj);
    Ok(object_response(StatusCode::ACCEPTED, &marked))
}
