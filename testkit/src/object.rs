//! Objects as stored, and small helpers on objects as JSON: server timestamps, the metadata-only
//! view, deletion state.

use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Value, json};

/// An object as the store keeps it: parsed, and serialized once, for what gets, lists and
/// watches send. Cloning it copies two pointers.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) value: Arc<Value>,
    pub(crate) json: Bytes,
}

impl Stored {
    pub(crate) fn new(value: Value) -> Self {
        let json = to_bytes(&value);
        Self {
            value: Arc::new(value),
            json,
        }
    }

    /// A version kept serialized, parsed again.
    pub(crate) fn parse(json: &Bytes) -> Self {
        Self {
            value: Arc::new(serde_json::from_slice(json).unwrap_or(Value::Null)),
            json: json.clone(),
        }
    }
}

pub(crate) fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

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
