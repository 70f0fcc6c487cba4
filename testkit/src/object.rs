//! Small helpers on objects as JSON: server timestamps, the metadata-only view, deletion state.

use serde_json::{Value, json};

/// Now, to the second, as the API server writes timestamps.
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// An object as `PartialObjectMetadata`, for metadata-only requests and Table rows.
pub(crate) fn meta_only(obj: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"].clone()})
}

pub(crate) fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty())
}

/// Whether deletion has started (`deletionTimestamp` set).
pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj["metadata"].get("deletionTimestamp").is_some_and(|d| !d.is_null())
}

/// Set `obj[field]` to `value`, or remove the field when there is none.
pub(crate) fn set_or_remove(obj: &mut Value, field: &str, value: Option<&Value>) {
    match value {
        Some(v) => obj[field] = v.clone(),
        None => {
            obj.as_object_mut().map(|m| m.remove(field));
        }
    }
}
