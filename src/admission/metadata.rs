//! Object metadata and Secret keys, with the API server's rules for names, labels, annotations
//! and finalizers (`k8s.io/apimachinery/pkg/util/validation`). The schema has already checked
//! their types; values of the wrong type are skipped here.

use serde_json::{Map, Value};

use super::{Kind, Violation, child, shown};

/// The most bytes all annotations of an object may take, keys and values together.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// What the metadata check found.
#[derive(Debug, Default)]
pub(super) struct Review {
    pub violations: Vec<Violation>,
    /// Whether a violation is one that keeps the API server from running the CRD's CEL rules: a
    /// missing name, or annotations too large.
    pub blocks_cel: bool,
}

/// Check the metadata of `object`, and the keys and values of a Secret's data. Paths are the
/// API server's: a label, annotation or finalizer is reported at the map or list that holds it,
/// and a key of `stringData` at `data`, which it is merged into before validation.
pub(super) fn review(kind: Kind, object: &Value) -> Review {
    let mut review = Review::default();
    let mut check = |path: String, problem: Option<String>| {
        review
            .violations
            .extend(problem.map(|message| Violation::new(path, message)));
    };
    let meta = &object["metadata"];
    match meta.get("name") {
        None => check("metadata.name".into(), Some("missing field `name`".into())),
        // A namespace's name is a label: it becomes part of DNS names.
        Some(Value::String(name)) if kind == Kind::Namespace => check("metadata.name".into(), dns1123_label(name)),
        Some(Value::String(name)) => check("metadata.name".into(), dns1123_subdomain(name)),
        Some(_) => {}
    }
    if let Some(namespace) = meta["namespace"]
        .as_str()
        .filter(|n| kind.namespaced() && !n.is_empty())
    {
        check("metadata.namespace".into(), dns1123_label(namespace));
    }
    for (key, value) in entries(meta, "labels") {
        check("metadata.labels".into(), qualified_name(key));
        let value = value.as_str().and_then(label_value);
        check("metadata.labels".into(), value.map(|v| format!("label {key}: {v}")));
    }
    for (key, _) in entries(meta, "annotations") {
        check("metadata.annotations".into(), qualified_name(&key.to_lowercase()));
    }
    let oversized = annotations_size(meta);
    let blocks_cel = meta.get("name").is_none() || oversized.is_some();
    check("metadata.annotations".into(), oversized);
    for finalizer in meta["finalizers"].as_array().into_iter().flatten() {
        check(
            "metadata.finalizers".into(),
            finalizer.as_str().and_then(qualified_name),
        );
    }
    if kind == Kind::Secret {
        for field in ["data", "stringData"] {
            for (key, value) in entries(object, field) {
                let path = child("data", key);
                let problem = config_map_key(key);
                if field == "data" {
                    check(path.clone(), problem);
                    check(path, base64(value));
                } else {
                    check(path, problem.map(|p| format!("{p} (in stringData)")));
                }
            }
        }
    }
    review.blocks_cel = blocks_cel;
    review
}

/// The fields of the object at `object[field]`, if it is one.
fn entries<'v>(object: &'v Value, field: &str) -> impl Iterator<Item = (&'v String, &'v Value)> {
    object[field].as_object().into_iter().flat_map(Map::iter)
}

/// A DNS label (RFC 1123), as namespaces are: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
fn dns1123_label(value: &str) -> Option<String> {
    let shape = value.len() <= 63 && is_label(value);
    (!shape).then(|| {
        format!(
            "{} is not a lowercase RFC 1123 label: at most 63 characters, lowercase letters, digits and '-', starting and ending with a letter or digit",
            shown(&value.into())
        )
    })
}

/// A DNS subdomain (RFC 1123), as object names are: labels joined by '.', at most 253.
fn dns1123_subdomain(value: &str) -> Option<String> {
    let shape = value.len() <= 253 && value.split('.').all(is_label);
    (!shape).then(|| {
        format!(
            "{} is not a lowercase RFC 1123 subdomain: at most 253 characters, lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
            shown(&value.into())
        )
    })
}

fn is_label(part: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    part.starts_with(alphanumeric) && part.ends_with(alphanumeric) && part.chars().all(|c| alphanumeric(c) || c == '-')
}

/// A label or annotation key, or a finalizer: an optional DNS subdomain prefix and '/', then a
/// name of at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or
/// digit.
fn qualified_name(value: &str) -> Option<String> {
    let (prefix, name) = match value.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value),
    };
    let prefix_ok = prefix.is_none_or(|p| dns1123_subdomain(p).is_none());
    let shape = prefix_ok && !name.is_empty() && name.len() <= 63 && is_name(name);
    (!shape).then(|| {
        format!(
            "{} is not a qualified name: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            shown(&value.into())
        )
    })
}

/// A label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending
/// with a letter or digit.
fn label_value(value: &str) -> Option<String> {
    let shape = value.is_empty() || (value.len() <= 63 && is_name(value));
    (!shape).then(|| {
        format!(
            "{} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            shown(&value.into())
        )
    })
}

fn is_name(name: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
        && name.chars().all(|c| alphanumeric(c) || matches!(c, '-' | '_' | '.'))
}

fn annotations_size(meta: &Value) -> Option<String> {
    let size: usize = entries(meta, "annotations")
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    (size > MAX_ANNOTATIONS_BYTES).then(|| format!("annotations take {size} bytes, more than {MAX_ANNOTATIONS_BYTES}"))
}

/// A key of a Secret's data: at most 253 letters, digits, '-', '_' and '.', not '.' or '..' and
/// not starting with '..'.
fn config_map_key(key: &str) -> Option<String> {
    let shape = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key != "."
        && !key.starts_with("..");
    (!shape).then(|| {
        format!(
            "{} is not a valid key: at most 253 letters, digits, '-', '_' or '.', and not '.' or starting with '..'",
            shown(&key.into())
        )
    })
}

/// A value of a Secret's `data`: base64, decoded as the Secret type decodes it.
fn base64(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    serde_json::from_value::<k8s_openapi::ByteString>(value.clone())
        .err()
        .map(|e| format!("{} is not valid base64: {e}", shown(&text.into())))
}
