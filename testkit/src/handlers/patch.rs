//! `patch`: JSON patch (with `test`), JSON merge patch, strategic merge patch (treated as a
//! merge patch), and server-side apply (simplified, see [`patch`]).

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::Value;

use super::Target;
use super::write::{admit_new, insert_new, parse_body, replace};
use crate::response::{Reply, bad_request, error};
use crate::store::Shared;

/// The kinds of patch, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386), and `strategic-merge-patch+json` as if it
    /// were one.
    Merge,
    /// `application/apply-patch+yaml`.
    Apply,
}

impl Kind {
    fn of(content_type: &str) -> Self {
        if content_type.starts_with("application/apply-patch") {
            Self::Apply
        } else if content_type.starts_with("application/json-patch+json") {
            Self::Json
        } else {
            Self::Merge
        }
    }
}

/// JSON patch (with `test`), JSON merge patch, strategic merge patch (treated as a merge patch),
/// and server-side apply, applied as the API server does: to the object as it is when the patch
/// is applied, under the same lock as the write, so that no write in between is lost and no
/// conflict is made up; `409 Conflict` only when the patch itself names a resourceVersion that
/// is not the current one.
///
/// Apply is simplified: the applied object is merged into the current one (merge-patch rules:
/// lists replaced, explicit nulls remove), except that applying `status` to the status
/// subresource replaces `status` whole, as it does for a field manager that owns all of it.
/// Managed fields are not tracked, so conflicts between managers are not detected. Applying to
/// an object that does not exist creates it (not through `/status`, which is `404`).
pub(super) fn patch(s: &Shared, t: &Target, body: &[u8], content_type: &str, q: &BTreeMap<String, String>) -> Reply {
    let kind = Kind::of(content_type);
    let body = parse_body(body)?;
    let patch = parse_patch(kind, &body)?;
    let name = t.name();
    let mut inner = s.lock();
    let Some(current) = inner.get(&t.rt.store_prefix(), &t.key(name)).cloned() else {
        if kind == Kind::Apply && !t.is_status() {
            let target = Target {
                name: None,
                ..t.clone()
            };
            let obj = admit_new(&target, body, q)?;
            return insert_new(&mut inner, &target, obj);
        }
        return Err(t.not_found(name));
    };
    let mut doc = (*current.value).clone();
    match (kind, patch) {
        (Kind::Json, Some(ops)) => json_patch_like_the_api_server(&mut doc, ops)
            .map_err(|e| error(422, "Invalid", format!("the JSON patch could not be applied: {e}")))?,
        (Kind::Apply, _) if t.is_status() => doc["status"] = body.get("status").cloned().unwrap_or(Value::Null),
        _ => json_patch::merge(&mut doc, &body),
    }
    replace(&mut inner, t, doc)
}

/// The body as the patch its kind says it is (the operations of a JSON patch), or `400`.
fn parse_patch(kind: Kind, body: &Value) -> Result<Option<json_patch::Patch>, Response> {
    match kind {
        Kind::Json => serde_json::from_value(body.clone())
            .map(Some)
            .map_err(|e| bad_request(format!("invalid JSON patch: {e}"))),
        Kind::Merge | Kind::Apply if body.is_object() => Ok(None),
        Kind::Merge | Kind::Apply => Err(bad_request("invalid JSON merge patch: the patch is not an object")),
    }
}

/// RFC 6902, as the API server applies it: a `test` for `null` also passes when the path does
/// not exist.
fn json_patch_like_the_api_server(doc: &mut Value, ops: json_patch::Patch) -> Result<(), String> {
    for op in ops.0 {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
        {
            let path = t.path.to_string();
            match doc.pointer(&path) {
                None | Some(Value::Null) => continue,
                Some(other) => return Err(format!("test failed at {path}: found {other}")),
            }
        }
        json_patch::patch(doc, &json_patch::Patch(vec![op])).map_err(|e| e.to_string())?;
    }
    Ok(())
}
