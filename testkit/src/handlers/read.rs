//! `get` and `list`, as the whole object, metadata only, or a Table.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Target;
use crate::object::meta_only;
use crate::response::{Reply, as_metadata, as_table, ok};
use crate::selectors::matches;
use crate::store::{Inner, Shared};
use crate::table::table;

/// Where `events.k8s.io/v1` Events are stored, which core `v1` Event lists show too.
const EVENTS_K8S_IO: &str = "events.k8s.io/events";

pub(super) fn get(s: &Shared, t: &Target, accept: &str) -> Reply {
    let name = t.name();
    if t.rt.plural == "namespaces" {
        return Ok(ok(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}),
        ));
    }
    let inner = s.lock();
    let o = inner.objects.get(&t.key(name)).ok_or_else(|| t.not_found(name))?;
    Ok(if as_metadata(accept) {
        ok(StatusCode::OK, meta_only(o))
    } else if as_table(accept) {
        ok(StatusCode::OK, table(&t.rt, std::slice::from_ref(o)))
    } else {
        ok(StatusCode::OK, o.clone())
    })
}

pub(super) fn list(s: &Shared, t: &Target, q: &BTreeMap<String, String>, accept: &str) -> Reply {
    let inner = s.lock();
    let all = selected(&inner, t, q);
    let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let mut meta = json!({"resourceVersion": inner.rv.to_string()});
    if start.saturating_add(limit) < all.len() {
        meta["continue"] = json!((start + limit).to_string());
        meta["remainingItemCount"] = json!(all.len() - start - limit);
    }
    if as_table(accept) {
        return Ok(ok(StatusCode::OK, table(&t.rt, &page)));
    }
    if as_metadata(accept) {
        let items: Vec<Value> = page.iter().map(meta_only).collect();
        return Ok(ok(
            StatusCode::OK,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta, "items": items}),
        ));
    }
    Ok(ok(
        StatusCode::OK,
        json!({"apiVersion": t.rt.api_version(), "kind": format!("{}List", t.rt.kind), "metadata": meta, "items": page}),
    ))
}

/// The objects a list shows, before paging: the target's type in its namespace (or all),
/// passing the selectors; for core Events, the `events.k8s.io` ones as well.
fn selected(inner: &Inner, t: &Target, q: &BTreeMap<String, String>) -> Vec<Value> {
    let namespace = t.namespace.as_deref();
    let core_events = t.rt.group.is_empty() && t.rt.plural == "events";
    let converted: Vec<Value> = if core_events {
        inner.objects_in(EVENTS_K8S_IO, namespace).map(as_core_event).collect()
    } else {
        vec![]
    };
    let prefix = t.rt.store_prefix();
    inner
        .objects_in(&prefix, namespace)
        .cloned()
        .chain(converted)
        .filter(|o| matches(o, q))
        .collect()
}

/// An `events.k8s.io/v1` Event as the core `v1` Event it also is (one storage, two views), so
/// that `kubectl describe` shows the operator's events.
fn as_core_event(e: &Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": e["metadata"].clone(),
        "involvedObject": e["regarding"].clone(),
        "reason": e["reason"].clone(),
        "message": e["note"].clone(),
        "type": e["type"].clone(),
        "action": e["action"].clone(),
        "source": {"component": e["reportingController"].clone()},
        "reportingComponent": e["reportingController"].clone(),
        "reportingInstance": e["reportingInstance"].clone(),
        "firstTimestamp": e["eventTime"].clone(),
        "lastTimestamp": e["series"]["lastObservedTime"].as_str().map(|t| json!(t)).unwrap_or(e["eventTime"].clone()),
        "count": e["series"]["count"].as_i64().unwrap_or(1),
    })
}
