//! `get` and `list`, as the whole object, metadata only, or a Table.
//!
//! Lists follow the API server's semantics for `resourceVersion`, `resourceVersionMatch`,
//! `limit` and `continue`: a list reads one snapshot, at the current resourceVersion, or at the
//! one asked for with `resourceVersionMatch=Exact` (or a `resourceVersion` other than `0` with a
//! `limit`, the legacy form of it); every page of a paged list reads the first page's snapshot and
//! carries its resourceVersion, so that a client watching from it misses nothing, as etcd serves
//! continued lists. Once the history the snapshot needs is compacted, the list (or its
//! continuation) gets `410 Expired`. Without selectors, a page that is not the last tells
//! `remainingItemCount`.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};

use super::Target;
use crate::object::{Stored, meta_only, to_bytes};
use crate::response::{Reply, as_metadata, as_table, bad_request, error, json_body, ok};
use crate::selectors::Selector;
use crate::store::{Expired, Inner, Key, Shared, Version};
use crate::table::table;

/// Where `events.k8s.io/v1` Events are stored, which core `v1` Event lists show too.
const EVENTS_K8S_IO: &str = "events.k8s.io/events";

pub(super) fn get(s: &Shared, t: &Target, accept: &str) -> Reply {
    let name = t.name();
    let stored = s.lock().get(&t.rt.store_prefix(), &t.key(name)).cloned();
    if t.rt.plural == "namespaces" && stored.is_none() {
        // Every namespace a test names exists; the ones every cluster has are stored, with uids.
        return Ok(ok(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}),
        ));
    }
    let o = stored.ok_or_else(|| t.not_found(name))?;
    Ok(if as_metadata(accept) {
        ok(StatusCode::OK, meta_only(&o.value))
    } else if as_table(accept) {
        ok(StatusCode::OK, table(&t.rt, &[&o.value]))
    } else {
        json_body(Body::from(o.json))
    })
}

/// Where a continued list goes on: its snapshot's resourceVersion and the last key it sent.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: u64,
    namespace: String,
    name: String,
}

impl Continue {
    fn parse(token: &str) -> Result<Self, axum::response::Response> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| bad_request(format!("continue key is not valid: {token}")))
    }

    fn token(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// What a list request asked for.
struct ListRequest {
    selector: Selector,
    limit: usize,
    /// The snapshot to read, when not the current state.
    at: Option<u64>,
    after: Option<Key>,
}

impl ListRequest {
    fn parse(q: &BTreeMap<String, String>) -> Result<Self, axum::response::Response> {
        let limit = q.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0);
        let rv: Option<u64> = q.get("resourceVersion").and_then(|v| v.parse().ok());
        let exact = match q.get("resourceVersionMatch").map(String::as_str) {
            Some("Exact") => rv,
            Some(_) => None,
            None => rv.filter(|rv| *rv > 0 && limit.is_some()),
        };
        let mut request = Self {
            selector: Selector::from_query(q),
            limit: limit.unwrap_or(usize::MAX),
            at: exact,
            after: None,
        };
        if let Some(token) = q.get("continue").filter(|c| !c.is_empty()) {
            let c = Continue::parse(token)?;
            request.at = Some(c.rv);
            request.after = Some((c.namespace, c.name));
        }
        Ok(request)
    }
}

/// A page of a list, read under the lock and rendered after.
struct Page {
    rv: u64,
    items: Vec<Stored>,
    /// The last key sent, when more follow, and how many follow if that is told.
    more: Option<(Key, Option<usize>)>,
}

pub(super) fn list(s: &Shared, t: &Target, q: &BTreeMap<String, String>, accept: &str) -> Reply {
    let request = ListRequest::parse(q)?;
    let page = page(&s.lock(), t, &request).map_err(|e| expired(e, &request))?;
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(((namespace, name), remaining)) = page.more {
        meta["continue"] = json!(
            Continue {
                rv: page.rv,
                namespace,
                name
            }
            .token()
        );
        if let Some(remaining) = remaining {
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    if as_table(accept) {
        let values: Vec<&Value> = page.items.iter().map(|o| &*o.value).collect();
        return Ok(ok(StatusCode::OK, table(&t.rt, &values)));
    }
    let body = if as_metadata(accept) {
        let items = page.items.iter().map(|o| to_bytes(&meta_only(&o.value)));
        list_body("meta.k8s.io/v1", "PartialObjectMetadataList", &meta, items)
    } else {
        let items = page.items.into_iter().map(|o| o.json);
        list_body(&t.rt.api_version(), &format!("{}List", t.rt.kind), &meta, items)
    };
    Ok(json_body(Body::from(body)))
}

/// A list as the API server sends it, from its items already serialized.
fn list_body(api_version: &str, kind: &str, metadata: &Value, items: impl Iterator<Item = Bytes>) -> Vec<u8> {
    let head = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    // `head` ends with `}`: go on with the items inside it.
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item);
    }
    out.extend_from_slice(b"]}");
    out
}

/// `410 Expired` for a list (or its continuation) whose snapshot is compacted.
fn expired(e: Expired, r: &ListRequest) -> axum::response::Response {
    let message = if r.after.is_some() {
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".to_string()
    } else {
        format!("too old resource version: {} ({})", r.at.unwrap_or_default(), e.current)
    };
    error(410, "Expired", message)
}

/// The page a list request reads: the target's type in its namespace (or all), passing the
/// selectors, after the continued key, at the snapshot; for core Events, the `events.k8s.io`
/// ones as well, seen as core Events.
fn page(inner: &Inner, t: &Target, r: &ListRequest) -> Result<Page, Expired> {
    let rv = r.at.unwrap_or(inner.rv);
    let namespace = t.namespace.as_deref();
    let versions = inner.objects_at(&t.rt.store_prefix(), namespace, rv, r.after.as_ref())?;
    if !(t.rt.group.is_empty() && t.rt.plural == "events") {
        return Ok(take_page(rv, versions, r));
    }
    let mut both: Vec<(Key, Stored)> = versions.map(|(k, v)| (k.clone(), v.stored())).collect();
    let converted = inner.objects_at(EVENTS_K8S_IO, namespace, rv, r.after.as_ref())?;
    both.extend(converted.map(|(k, v)| (k.clone(), Stored::new(as_core_event(&v.stored().value)))));
    both.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(take_page(rv, both.iter().map(|(k, o)| (k, Version::Current(o))), r))
}

/// The first `limit` objects of `versions` that pass the selectors. Past versions are parsed
/// only when looked at: the rest of the list is only counted.
fn take_page<'a>(rv: u64, mut versions: impl Iterator<Item = (&'a Key, Version<'a>)>, r: &ListRequest) -> Page {
    let (mut items, mut last, mut more) = (vec![], None, false);
    for (key, version) in versions.by_ref() {
        let o = version.stored();
        if !r.selector.matches(&o.value) {
            continue;
        }
        if items.len() == r.limit {
            more = true;
            break;
        }
        last = Some(key);
        items.push(o);
    }
    let more = more.then(|| {
        let remaining = r.selector.is_empty().then(|| 1 + versions.count());
        (last.cloned().unwrap_or_default(), remaining)
    });
    Page { rv, items, more }
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
