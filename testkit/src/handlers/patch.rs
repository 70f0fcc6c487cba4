//! `patch`: JSON patch (with `test`), JSON merge patch, strategic merge patch (treated as a
//! merge patch), and server-side apply (simplified, see [`patch`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Target;
use super::write::{create, parse_body, replace};
use crate::response::{Reply, error};
use crate::store::Shared;

/// JSON patch (with `test`), JSON merge patch, strategic merge patch (treated as a merge patch),
/// and server-side apply. Apply is simplified: the applied object is merged into the current one
/// (merge-patch rules: lists replaced, explicit nulls remove), except that applying `status` to
/// the status subresource replaces `status` whole, as it does for a field manager that owns all
/// of it. Managed fields are not tracked, so conflicts between managers are not detected.
pub(super) fn patch(s: &Shared, t: &Target, body: &[u8], content_type: &str) -> Reply {
    let name = t.name();
    let current = s.lock().objects.get(&t.key(name)).cloned();
    let apply = content_type.starts_with("application/apply-patch");
    let json_patch = content_type.starts_with("application/json-patch+json");
    let Some(mut doc) = current else {
        if apply {
            // Apply creates what does not exist.
            let target = Target {
                name: None,
                ..t.clone()
            };
            return create(s, &target, body, &BTreeMap::new());
        }
        return Err(t.not_found(name));
    };
    let body = parse_body(body)?;
    if json_patch {
        let ops: json_patch::Patch = serde_json::from_value(body.clone())
            .map_err(|e| error(400, "BadRequest", format!("invalid JSON patch: {e}")))?;
        json_patch_like_the_api_server(&mut doc, ops)
            .map_err(|e| error(422, "Invalid", format!("the JSON patch could not be applied: {e}")))?;
    } else if apply && t.is_status() {
        doc["status"] = body.get("status").cloned().unwrap_or(Value::Null);
    } else {
        json_patch::merge(&mut doc, &body);
    }
    // A merge or apply carries no precondition unless it names a resourceVersion.
    if !json_patch && body["metadata"].get("resourceVersion").is_none() {
        let inner = s.lock();
        if let Some(cur) = inner.objects.get(&t.key(name)) {
            doc["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
        }
    }
    replace(s, t, doc)
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
