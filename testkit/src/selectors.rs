//! Label and field selectors, for lists and watches.

use std::collections::BTreeMap;

use serde_json::Value;

/// Whether `obj` passes the request's `labelSelector` and `fieldSelector`, if any: equality-based
/// label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and field selectors (`=`, `==`, `!=`) on
/// any dotted field path (`metadata.name`, `involvedObject.uid`, ...).
pub(crate) fn matches(obj: &Value, q: &BTreeMap<String, String>) -> bool {
    let label_ok = q
        .get("labelSelector")
        .is_none_or(|sel| requirements(sel).all(|r| label_matches(&obj["metadata"]["labels"], r)));
    let field_ok = q
        .get("fieldSelector")
        .is_none_or(|sel| requirements(sel).all(|r| field_matches(obj, r)));
    label_ok && field_ok
}

/// The comma-separated requirements of a selector.
fn requirements(selector: &str) -> impl Iterator<Item = &str> {
    selector.split(',').filter(|c| !c.is_empty())
}

fn label_matches(labels: &Value, requirement: &str) -> bool {
    let c = requirement;
    if let Some((k, v)) = c.split_once("!=") {
        labels[k.trim()].as_str() != Some(v.trim())
    } else if let Some((k, v)) = c.split_once('=') {
        labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
    } else if let Some(k) = c.strip_prefix('!') {
        labels.get(k.trim()).is_none()
    } else {
        labels.get(c.trim()).is_some()
    }
}

fn field_matches(obj: &Value, requirement: &str) -> bool {
    let (k, v, eq) = match requirement.split_once("!=") {
        Some((k, v)) => (k, v, false),
        None => match requirement.split_once('=') {
            Some((k, v)) => (k, v.trim_start_matches('='), true),
            None => return false,
        },
    };
    // Any dotted field path, e.g. metadata.name or involvedObject.uid.
    let actual = k.trim().split('.').fold(obj, |cur, seg| &cur[seg]).as_str();
    (actual == Some(v.trim())) == eq
}
