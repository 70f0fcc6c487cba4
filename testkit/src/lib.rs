//! A stand-in for the Kubernetes API server, for tests and the demo: never shipped.
//!
//! It serves, over HTTP on a loopback port, the parts of the API the operator and `kubectl` use,
//! following the API server's documented semantics: custom resources from CRD files (validated
//! against their `openAPIV3Schema` and CEL rules, defaults applied, unknown fields pruned),
//! `resourceVersion` and optimistic concurrency, `generation` bumped on spec changes only, the
//! status subresource, JSON merge patch, JSON patch (with `test`), server-side apply (simplified,
//! see `apply_patch`), finalizers and `deletionTimestamp`, list with `limit`/`continue` and label
//! and field selectors, watch from a `resourceVersion` with bookmarks, `410 Gone` and timeouts,
//! metadata-only lists and watches, Table output with the CRD's printer columns, and discovery.
//! Built in: Secrets, Events (`events.k8s.io/v1`), Leases, Namespaces.
//! Tests can inject faults: fail the next N requests of a verb and resource, drop watch
//! connections, pause.

// Request handlers pass finished HTTP responses up as their error value.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

/// How many watch events are kept for watches that resume from a resourceVersion; older ones get
/// `410 Gone`, as after an etcd compaction.
const EVENT_HISTORY: usize = 1000;

/// One kind of object the stand-in serves.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// The CRD's `openAPIV3Schema`, for custom resources.
    pub schema: Option<Value>,
    pub status_subresource: bool,
    pub printer_columns: Vec<Value>,
}

impl ResourceType {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            short_names: vec![],
            schema: None,
            status_subresource: false,
            printer_columns: vec![],
        }
    }

    /// A type from a CustomResourceDefinition document (its first served version).
    pub fn from_crd(crd: &Value) -> Option<Self> {
        let spec = crd.get("spec")?;
        let v = spec["versions"]
            .as_array()?
            .iter()
            .find(|v| v["served"].as_bool().unwrap_or(true))?;
        Some(Self {
            group: spec["group"].as_str()?.into(),
            version: v["name"].as_str()?.into(),
            plural: spec["names"]["plural"].as_str()?.into(),
            kind: spec["names"]["kind"].as_str()?.into(),
            namespaced: spec["scope"] == "Namespaced",
            short_names: spec["names"]["shortNames"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            status_subresource: v.pointer("/subresources/status").is_some(),
            printer_columns: v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default(),
        })
    }
}

/// A fault a test asked for.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Fault {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, or `*`.
    pub verb: String,
    /// Plural resource name, with `/status` for the subresource, or `*`.
    pub resource: String,
    /// HTTP status to answer with.
    pub status: u16,
    /// How many matching requests fail.
    pub count: u32,
}

#[derive(Debug, Clone)]
struct WatchEvent {
    rv: u64,
    plural: String,
    namespace: Option<String>,
    type_: &'static str,
    object: Value,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    uid: u64,
    /// (plural, namespace, name) → object
    objects: BTreeMap<(String, String, String), Value>,
    history: VecDeque<WatchEvent>,
    faults: Vec<Fault>,
    paused_until: Option<tokio::time::Instant>,
}

struct Shared {
    types: Vec<ResourceType>,
    inner: Mutex<Inner>,
    events: broadcast::Sender<WatchEvent>,
    epoch: tokio::sync::watch::Sender<u64>,
}

/// A running stand-in. Dropping it stops the server.
pub struct StandIn {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    shared: Arc<Shared>,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl StandIn {
    /// Serve the built-in types and the CRDs in `crd_files` on a free loopback port, and write a
    /// kubeconfig for it.
    pub async fn start(crd_files: &[PathBuf]) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("loopback address"), crd_files).await
    }

    pub async fn start_on(addr: SocketAddr, crd_files: &[PathBuf]) -> std::io::Result<Self> {
        let mut types = vec![
            ResourceType::builtin("", "v1", "secrets", "Secret", true),
            ResourceType::builtin("", "v1", "namespaces", "Namespace", false),
            ResourceType::builtin("", "v1", "events", "Event", true),
            ResourceType::builtin("events.k8s.io", "v1", "events", "Event", true),
            ResourceType::builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
        ];
        for file in crd_files {
            let text = std::fs::read_to_string(file)?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v = Value::deserialize_any(doc)?;
                if v["kind"] == "CustomResourceDefinition"
                    && let Some(t) = ResourceType::from_crd(&v)
                {
                    types.push(t);
                }
            }
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(4096);
        let (epoch, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            types,
            inner: Mutex::default(),
            events,
            epoch,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let dir = std::env::temp_dir().join(format!("kube-standin-{}-{}", std::process::id(), addr.port()));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: standin\n  user:\n    token: standin\ncontexts:\n- name: standin\n  context:\n    \
                 cluster: standin\n    user: standin\n    namespace: default\ncurrent-context: standin\n"
            ),
        )?;
        Ok(Self {
            addr,
            kubeconfig,
            shared,
            _dir: TempDir(dir),
            stop: Some(stop_tx),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fail the next `count` requests matching `verb` and `resource` with `status`.
    pub fn inject(&self, verb: &str, resource: &str, status: u16, count: u32) {
        self.shared.inner.lock().expect("state").faults.push(Fault {
            verb: verb.into(),
            resource: resource.into(),
            status,
            count,
        });
    }

    /// End every open watch connection, as a restarting API server or a flaky network would.
    pub fn drop_watches(&self) {
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    /// Answer nothing for `d`: requests wait, as with an unresponsive API server.
    pub fn pause(&self, d: Duration) {
        self.shared.inner.lock().expect("state").paused_until = Some(tokio::time::Instant::now() + d);
    }

    /// An object as stored, by plural resource name, namespace ("" for cluster-scoped) and name.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.shared.inner.lock().expect("state");
        inner
            .objects
            .get(&(plural.to_string(), namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Forget watch history up to now, so that resuming an older watch gets `410 Gone`.
    pub fn compact(&self) {
        self.shared.inner.lock().expect("state").history.clear();
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

trait DeserializeAny {
    fn deserialize_any(d: serde_yaml::Deserializer<'_>) -> std::io::Result<Value>;
}

impl DeserializeAny for Value {
    fn deserialize_any(d: serde_yaml::Deserializer<'_>) -> std::io::Result<Value> {
        serde::Deserialize::deserialize(d).map_err(std::io::Error::other)
    }
}

// --- requests ---------------------------------------------------------------------------------

/// A parsed resource path.
#[derive(Debug, Clone)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn status_body(code: u16, reason: &str, message: impl Into<String>) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message.into(), "reason": reason, "code": code
    })
}

fn error(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(status_body(code, reason, message))).into_response()
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pause = s.inner.lock().expect("state").paused_until;
    if let Some(until) = pause {
        tokio::time::sleep_until(until).await;
    }
    let path = uri.path().trim_end_matches('/').to_string();
    match (method.clone(), path.as_str()) {
        (Method::GET, "/version") => {
            return ok(
                StatusCode::OK,
                json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}),
            );
        }
        (Method::GET, "/api") => {
            return ok(
                StatusCode::OK,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            );
        }
        (Method::GET, "/apis") => return ok(StatusCode::OK, group_list(&s.types)),
        (Method::POST, "/_standin/faults") => {
            return match serde_json::from_slice::<Fault>(&body) {
                Ok(f) => {
                    s.inner.lock().expect("state").faults.push(f);
                    ok(StatusCode::OK, json!({}))
                }
                Err(e) => error(400, "BadRequest", e.to_string()),
            };
        }
        (Method::POST, "/_standin/drop-watches") => {
            s.epoch.send_modify(|e| *e += 1);
            return ok(StatusCode::OK, json!({}));
        }
        _ => {}
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(list) = resource_list(&s.types, &parts) {
        return ok(StatusCode::OK, list);
    }
    let target = match parse_target(&s.types, &parts) {
        Some(t) => t,
        None => {
            return error(
                404,
                "NotFound",
                format!("the server could not find the requested resource {path}"),
            );
        }
    };
    let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (&method, &target.name, watch) {
        (&Method::GET, Some(_), _) => "get",
        (&Method::GET, None, true) => "watch",
        (&Method::GET, None, false) => "list",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, _, _) => "delete",
        _ => return error(405, "MethodNotAllowed", "method not allowed"),
    };
    let resource_name = match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.rt.plural),
        None => target.rt.plural.clone(),
    };
    if let Some(code) = take_fault(&s, verb, &resource_name) {
        return error(
            code,
            "InternalError",
            format!("injected fault for {verb} {resource_name}"),
        );
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match verb {
        "get" => get(&s, &target, &accept),
        "list" => list(&s, &target, &q, &accept),
        "watch" => watch_stream(s.clone(), target, q, accept),
        "create" => create(&s, &target, &body, &q),
        "update" => update(&s, &target, &body),
        "patch" => patch(&s, &target, &body, &content_type),
        "delete" => delete(&s, &target),
        _ => error(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn take_fault(s: &Shared, verb: &str, resource: &str) -> Option<u16> {
    let mut inner = s.inner.lock().expect("state");
    let f = inner
        .faults
        .iter_mut()
        .find(|f| f.count > 0 && (f.verb == "*" || f.verb == verb) && (f.resource == "*" || f.resource == resource))?;
    f.count -= 1;
    Some(f.status)
}

fn group_list(types: &[ResourceType]) -> Value {
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        groups.insert(&t.group, &t.version);
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(types: &[ResourceType], parts: &[&str]) -> Option<Value> {
    let (group, version) = match parts {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let resources: Vec<Value> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .flat_map(|t| {
            let verbs = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
            let mut r = vec![json!({
                "name": t.plural, "singularName": t.kind.to_lowercase(), "namespaced": t.namespaced,
                "kind": t.kind, "verbs": verbs, "shortNames": t.short_names
            })];
            if t.status_subresource {
                r.push(
                    json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get", "patch", "update"]}),
                );
            }
            r
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

fn parse_target(types: &[ResourceType], parts: &[&str]) -> Option<Target> {
    let (group, version, rest) = match parts {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let find = |plural: &str| {
        types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Target {
        rt: find(plural)?,
        namespace,
        name,
        subresource: sub,
    })
}

fn key(t: &Target, name: &str) -> (String, String, String) {
    let ns = if t.rt.namespaced {
        t.namespace.clone().unwrap_or_default()
    } else {
        String::new()
    };
    (format!("{}/{}", t.rt.group, t.rt.plural), ns, name.to_string())
}

fn meta_only(obj: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"].clone()})
}

fn as_metadata(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

fn get(s: &Shared, t: &Target, accept: &str) -> Response {
    let name = t.name.as_deref().unwrap_or_default();
    if t.rt.plural == "namespaces" {
        return ok(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}),
        );
    }
    let inner = s.inner.lock().expect("state");
    match inner.objects.get(&key(t, name)) {
        Some(o) if as_metadata(accept) => ok(StatusCode::OK, meta_only(o)),
        Some(o) if accept.contains("as=Table") => ok(StatusCode::OK, table(&t.rt, std::slice::from_ref(o))),
        Some(o) => ok(StatusCode::OK, o.clone()),
        None => error(404, "NotFound", format!("{} \"{name}\" not found", t.rt.plural)),
    }
}

/// Equality-based label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and the field selectors
/// `metadata.name` and `metadata.namespace`.
fn matches(obj: &Value, q: &BTreeMap<String, String>) -> bool {
    let labels = &obj["metadata"]["labels"];
    let label_ok = q.get("labelSelector").is_none_or(|sel| {
        sel.split(',').filter(|c| !c.is_empty()).all(|c| {
            if let Some((k, v)) = c.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = c.split_once('=') {
                labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
            } else if let Some(k) = c.strip_prefix('!') {
                labels.get(k.trim()).is_none()
            } else {
                labels.get(c.trim()).is_some()
            }
        })
    });
    let field_ok = q.get("fieldSelector").is_none_or(|sel| {
        sel.split(',').filter(|c| !c.is_empty()).all(|c| {
            let (k, v, eq) = match c.split_once("!=") {
                Some((k, v)) => (k, v, false),
                None => match c.split_once('=') {
                    Some((k, v)) => (k, v.trim_start_matches('='), true),
                    None => return false,
                },
            };
            // Any dotted field path, e.g. metadata.name or involvedObject.uid.
            let actual = k.trim().split('.').fold(obj, |cur, seg| &cur[seg]).as_str();
            (actual == Some(v.trim())) == eq
        })
    });
    label_ok && field_ok
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

fn list(s: &Shared, t: &Target, q: &BTreeMap<String, String>, accept: &str) -> Response {
    let inner = s.inner.lock().expect("state");
    let prefix = format!("{}/{}", t.rt.group, t.rt.plural);
    let core_events = t.rt.group.is_empty() && t.rt.plural == "events";
    let converted: Vec<Value> = if core_events {
        inner
            .objects
            .iter()
            .filter(|((p, ns, _), _)| p == "events.k8s.io/events" && t.namespace.as_ref().is_none_or(|want| want == ns))
            .map(|(_, o)| as_core_event(o))
            .collect()
    } else {
        vec![]
    };
    let all: Vec<&Value> = inner
        .objects
        .iter()
        .filter(|((p, ns, _), _)| *p == prefix && t.namespace.as_ref().is_none_or(|want| want == ns))
        .map(|(_, o)| o)
        .chain(converted.iter())
        .filter(|o| matches(o, q))
        .collect();
    let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = all.iter().skip(start).take(limit).map(|o| (*o).clone()).collect();
    let mut meta = json!({"resourceVersion": inner.rv.to_string()});
    if start.saturating_add(limit) < all.len() {
        meta["continue"] = json!((start + limit).to_string());
        meta["remainingItemCount"] = json!(all.len() - start - limit);
    }
    if accept.contains("as=Table") {
        return ok(StatusCode::OK, table(&t.rt, &page));
    }
    if as_metadata(accept) {
        let items: Vec<Value> = page.iter().map(meta_only).collect();
        return ok(
            StatusCode::OK,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta, "items": items}),
        );
    }
    ok(
        StatusCode::OK,
        json!({"apiVersion": t.rt.api_version(), "kind": format!("{}List", t.rt.kind), "metadata": meta, "items": page}),
    )
}

/// `kubectl get` output: the CRD's printer columns, or name and age.
fn table(rt: &ResourceType, items: &[Value]) -> Value {
    let mut columns = vec![json!({"name": "Name", "type": "string", "format": "name", "priority": 0})];
    let mut paths = vec![];
    for c in &rt.printer_columns {
        columns.push(json!({"name": c["name"], "type": c["type"], "format": "", "priority": c["priority"].as_i64().unwrap_or(0)}));
        paths.push(c["jsonPath"].as_str().unwrap_or("").to_string());
    }
    if rt.printer_columns.is_empty() {
        columns.push(json!({"name": "Age", "type": "date", "format": "", "priority": 0}));
        paths.push(".metadata.creationTimestamp".into());
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(paths.iter().zip(&columns[1..]).map(|(p, c)| {
                let v = json_path(o, p);
                if c["type"] == "date" { age(&v) } else { v }
            }));
            json!({"cells": cells, "object": meta_only(o)})
        })
        .collect();
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": {}, "columnDefinitions": columns, "rows": rows})
}

/// A timestamp as kubectl shows an age: `42s`, `5m`, `3h`, `2d`.
fn age(v: &Value) -> Value {
    let Some(then) = v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return Value::Null;
    };
    let secs = (jiff::Timestamp::now().as_second() - then.as_second()).max(0);
    let text = match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    json!(text)
}

/// The JSONPath forms printer columns use: `.a.b` and `.a.b[?(@.k=="v")].c`.
fn json_path(obj: &Value, path: &str) -> Value {
    let filter = regex_lite::Regex::new(r#"^(.*)\[\?\(@\.(\w+)==["'](.*?)["']\)\](.*)$"#).expect("valid regex");
    let walk = |v: &Value, p: &str| -> Value {
        p.trim_start_matches('.')
            .split('.')
            .filter(|s| !s.is_empty())
            .fold(v.clone(), |cur, seg| cur[seg].clone())
    };
    if let Some(c) = filter.captures(path) {
        let list = walk(obj, &c[1]);
        let found = list
            .as_array()
            .and_then(|a| a.iter().find(|e| e[&c[2]].as_str() == Some(&c[3])).cloned());
        return found.map(|f| walk(&f, &c[4])).unwrap_or(Value::Null);
    }
    walk(obj, path)
}

fn bump(inner: &mut Inner) -> u64 {
    inner.rv += 1;
    inner.rv
}

fn record(s: &Shared, inner: &mut Inner, t: &Target, type_: &'static str, object: &Value) {
    let event = WatchEvent {
        rv: inner.rv,
        plural: format!("{}/{}", t.rt.group, t.rt.plural),
        namespace: object["metadata"]["namespace"].as_str().map(String::from),
        type_,
        object: object.clone(),
    };
    inner.history.push_back(event.clone());
    while inner.history.len() > EVENT_HISTORY {
        inner.history.pop_front();
    }
    let _ = s.events.send(event);
}

fn parse_body(body: &[u8]) -> Result<Value, Response> {
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

fn create(s: &Shared, t: &Target, body: &[u8], q: &BTreeMap<String, String>) -> Response {
    let mut obj = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if t.rt.namespaced {
        let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        obj["metadata"]["namespace"] = json!(ns);
    }
    let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
        return error(422, "Invalid", "metadata.name: Required value: name is required");
    };
    if t.rt.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    let strict = q.get("fieldValidation").is_some_and(|v| v == "Strict");
    if let Err(r) = admit(&t.rt, &mut obj, None, strict) {
        return r;
    }
    let mut inner = s.inner.lock().expect("state");
    let k = key(t, &name);
    if inner.objects.contains_key(&k) {
        return error(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.rt.plural),
        );
    }
    let rv = bump(&mut inner);
    inner.uid += 1;
    let uid = format!("00000000-0000-4000-8000-{:012}", inner.uid);
    let meta = &mut obj["metadata"];
    meta["uid"] = json!(uid);
    meta["resourceVersion"] = json!(rv.to_string());
    meta["creationTimestamp"] = json!(now());
    if t.rt.schema.is_some() {
        meta["generation"] = json!(1);
    }
    obj["apiVersion"] = json!(t.rt.api_version());
    obj["kind"] = json!(t.rt.kind);
    inner.objects.insert(k, obj.clone());
    record(s, &mut inner, t, "ADDED", &obj);
    ok(StatusCode::CREATED, obj)
}

/// Store `new` in place of the current object, as PUT, PATCH and apply do: for the main resource
/// `status` is kept as it was, for `/status` everything but `status` is; `resourceVersion` must
/// match when given; `generation` moves only when something other than metadata and status
/// changed; an object being deleted goes once its last finalizer is gone.
fn replace(s: &Shared, t: &Target, mut new: Value) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let mut inner = s.inner.lock().expect("state");
    let k = key(t, &name);
    let Some(current) = inner.objects.get(&k).cloned() else {
        return error(404, "NotFound", format!("{} \"{name}\" not found", t.rt.plural));
    };
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
        && rv != current["metadata"]["resourceVersion"].as_str().unwrap_or("")
    {
        return error(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                t.rt.plural
            ),
        );
    }
    let status_write = t.subresource.as_deref() == Some("status");
    if t.rt.status_subresource {
        if status_write {
            let status = new.get("status").cloned();
            new = current.clone();
            match status {
                Some(st) => new["status"] = st,
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
        } else {
            match current.get("status") {
                Some(st) => new["status"] = st.clone(),
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
    }
    // Fields the server owns.
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
        "deletionTimestamp",
    ] {
        match current["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                new["metadata"].as_object_mut().map(|m| m.remove(field));
            }
        }
    }
    new["apiVersion"] = json!(t.rt.api_version());
    new["kind"] = json!(t.rt.kind);
    if let Err(r) = admit(&t.rt, &mut new, Some(&current), false) {
        return r;
    }
    let unchanged = {
        let mut a = new.clone();
        let mut b = current.clone();
        a["metadata"]["resourceVersion"] = Value::Null;
        b["metadata"]["resourceVersion"] = Value::Null;
        a == b
    };
    if unchanged {
        return ok(StatusCode::OK, current);
    }
    let spec_changed = {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
            }
            v
        };
        strip(&new) != strip(&current)
    };
    if spec_changed && t.rt.schema.is_some() {
        let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    let rv = bump(&mut inner);
    new["metadata"]["resourceVersion"] = json!(rv.to_string());
    let deleting = new["metadata"].get("deletionTimestamp").is_some_and(|d| !d.is_null());
    let finalizers_left = new["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if deleting && !finalizers_left {
        inner.objects.remove(&k);
        record(s, &mut inner, t, "DELETED", &new);
    } else {
        inner.objects.insert(k, new.clone());
        record(s, &mut inner, t, "MODIFIED", &new);
    }
    ok(StatusCode::OK, new)
}

fn update(s: &Shared, t: &Target, body: &[u8]) -> Response {
    match parse_body(body) {
        Ok(v) => replace(s, t, v),
        Err(r) => r,
    }
}

/// JSON patch (with `test`), JSON merge patch, strategic merge patch (treated as a merge patch),
/// and server-side apply. Apply is simplified: the applied object is merged into the current one
/// (merge-patch rules: lists replaced, explicit nulls remove), except that applying `status` to
/// the status subresource replaces `status` whole, as it does for a field manager that owns all
/// of it. Managed fields are not tracked, so conflicts between managers are not detected.
fn patch(s: &Shared, t: &Target, body: &[u8], content_type: &str) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let current = {
        let inner = s.inner.lock().expect("state");
        inner.objects.get(&key(t, &name)).cloned()
    };
    let apply = content_type.starts_with("application/apply-patch");
    let Some(mut doc) = current else {
        if apply {
            // Apply creates what does not exist.
            return create(
                s,
                &Target {
                    name: None,
                    ..t.clone()
                },
                body,
                &BTreeMap::new(),
            );
        }
        return error(404, "NotFound", format!("{} \"{name}\" not found", t.rt.plural));
    };
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if content_type.starts_with("application/json-patch+json") {
        let ops: json_patch::Patch = match serde_json::from_value(body.clone()) {
            Ok(p) => p,
            Err(e) => return error(400, "BadRequest", format!("invalid JSON patch: {e}")),
        };
        if let Err(e) = json_patch_like_the_api_server(&mut doc, ops) {
            return error(422, "Invalid", format!("the JSON patch could not be applied: {e}"));
        }
    } else if apply && t.subresource.as_deref() == Some("status") {
        doc["status"] = body.get("status").cloned().unwrap_or(Value::Null);
    } else {
        json_patch::merge(&mut doc, &body);
    }
    if !content_type.starts_with("application/json-patch+json") {
        // A merge or apply carries no precondition unless it names a resourceVersion.
        if body["metadata"].get("resourceVersion").is_none() {
            let inner = s.inner.lock().expect("state");
            if let Some(cur) = inner.objects.get(&key(t, &name)) {
                doc["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
            }
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

fn delete(s: &Shared, t: &Target) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let mut inner = s.inner.lock().expect("state");
    let k = key(t, &name);
    let Some(mut obj) = inner.objects.get(&k).cloned() else {
        return error(404, "NotFound", format!("{} \"{name}\" not found", t.rt.plural));
    };
    let has_finalizers = obj["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if obj["metadata"].get("deletionTimestamp").is_none_or(|d| d.is_null()) {
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if let Some(g) = obj["metadata"]["generation"].as_i64() {
                obj["metadata"]["generation"] = json!(g + 1);
            }
            let rv = bump(&mut inner);
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.objects.insert(k, obj.clone());
            record(s, &mut inner, t, "MODIFIED", &obj);
        }
        return ok(StatusCode::ACCEPTED, obj);
    }
    inner.objects.remove(&k);
    let rv = bump(&mut inner);
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    record(s, &mut inner, t, "DELETED", &obj);
    ok(StatusCode::OK, obj)
}

fn watch_stream(s: Arc<Shared>, t: Target, q: BTreeMap<String, String>, accept: String) -> Response {
    let prefix = format!("{}/{}", t.rt.group, t.rt.plural);
    let since: Option<u64> = q.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let metadata_only = as_metadata(&accept);
    let wanted = {
        let prefix = prefix.clone();
        let ns = t.namespace.clone();
        let q = q.clone();
        move |e: &WatchEvent| {
            e.plural == prefix
                && ns.as_ref().is_none_or(|n| e.namespace.as_deref() == Some(n))
                && matches(&e.object, &q)
        }
    };
    let render = move |type_: &str, object: &Value| {
        let object = if metadata_only {
            meta_only(object)
        } else {
            object.clone()
        };
        let mut line = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    // Subscribe before reading history, so nothing falls between the two.
    let mut live = s.events.subscribe();
    let (replay, current_rv) = {
        let inner = s.inner.lock().expect("state");
        let oldest_kept = inner.history.front().map(|e| e.rv).unwrap_or(inner.rv + 1);
        if let Some(since) = since
            && since < inner.rv
            && since + 1 < oldest_kept
        {
            let gone = status_body(
                410,
                "Expired",
                format!("too old resource version: {since} ({})", inner.rv),
            );
            let line = render("ERROR", &gone);
            return Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(line))
                .unwrap_or_else(|_| error(500, "InternalError", "response"));
        }
        let replay: Vec<WatchEvent> = match since {
            Some(since) => inner
                .history
                .iter()
                .filter(|e| e.rv > since && wanted(e))
                .cloned()
                .collect(),
            None => inner
                .objects
                .iter()
                .filter(|((p, ns, _), _)| *p == prefix && t.namespace.as_ref().is_none_or(|n| n == ns))
                .map(|(_, o)| WatchEvent {
                    rv: inner.rv,
                    plural: prefix.clone(),
                    namespace: None,
                    type_: "ADDED",
                    object: o.clone(),
                })
                .filter(|e| matches(&e.object, &q))
                .collect(),
        };
        (replay, inner.rv)
    };
    let mut epoch = s.epoch.subscribe();
    epoch.mark_unchanged();
    let kind = t.rt.kind.clone();
    let api_version = t.rt.api_version();
    let stream = async_stream(move |tx| async move {
        let mut last_rv = current_rv;
        for e in replay {
            last_rv = last_rv.max(e.rv);
            if tx.send(render(e.type_, &e.object)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = epoch.changed() => return,
                _ = tick.tick(), if bookmarks => {
                    let bookmark = json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": last_rv.to_string()}});
                    let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": bookmark})).unwrap_or_default();
                    line.push(b'\n');
                    if tx.send(Bytes::from(line)).await.is_err() { return; }
                }
                e = live.recv() => match e {
                    Ok(e) if e.rv > current_rv && wanted(&e) => {
                        last_rv = e.rv;
                        if tx.send(render(e.type_, &e.object)).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream.map(Ok::<_, std::io::Error>)))
        .unwrap_or_else(|_| error(500, "InternalError", "response"))
}

/// A stream fed by a task through a channel.
fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = Bytes>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

// --- admission --------------------------------------------------------------------------------

/// Admission for custom resources: defaults, pruning (or, with `strict`, rejection) of unknown
/// fields, the schema's constraints, then its CEL rules. Errors answer 422 with the API server's
/// `Status` body.
fn admit(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, strict: bool) -> Result<(), Response> {
    if rt.kind == "Secret" && rt.group.is_empty() {
        fold_string_data(obj);
    }
    let Some(schema) = &rt.schema else { return Ok(()) };
    let mut causes = vec![];
    // metadata and apiVersion/kind are the server's business, not the schema's.
    let metadata = obj.get("metadata").cloned();
    normalize(schema, obj, "", &mut causes, strict);
    if let Some(m) = metadata {
        obj["metadata"] = m;
    }
    if causes.is_empty()
        && let Err(errors) = kube::core::cel::Validator::new().validate(schema, obj, old)
    {
        for e in errors.to_string().lines().filter(|l| !l.trim().is_empty()) {
            causes.push((String::new(), e.trim().to_string()));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let details: Vec<Value> = causes
        .iter()
        .map(|(field, message)| json!({"reason": "FieldValueInvalid", "message": message, "field": field}))
        .collect();
    let summary: Vec<String> = causes
        .iter()
        .map(|(f, m)| if f.is_empty() { m.clone() } else { format!("{f}: {m}") })
        .collect();
    let mut body = status_body(
        422,
        "Invalid",
        format!("{}.{} \"{name}\" is invalid: {}", rt.kind, rt.group, summary.join(", ")),
    );
    body["details"] = json!({"name": name, "group": rt.group, "kind": rt.kind, "causes": details});
    Err((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response())
}

/// A Secret's `stringData` is write-only: the API server merges it into `data`, base64-encoded.
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    let Some(entries) = string_data.as_object() else { return };
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in entries {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Apply defaults, prune unknown fields and check the structural constraints of `schema`.
fn normalize(schema: &Value, v: &mut Value, path: &str, causes: &mut Vec<(String, String)>, strict: bool) {
    let here = path.trim_start_matches('.').to_string();
    let mut found: Vec<String> = vec![];
    if v.is_null() {
        if schema["nullable"].as_bool() != Some(true) && !path.is_empty() {
            causes.push((here, "Invalid value: \"null\": must not be null".into()));
        }
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    };
    let shown = short(v);
    if !type_ok {
        causes.push((
            here,
            format!(
                "Invalid value: {shown}: must be of type {}",
                schema["type"].as_str().unwrap_or("?")
            ),
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        found.push(format!(
            "Unsupported value: {shown}: supported values: {}",
            list.join(", ")
        ));
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
                found.push(format!("Invalid value: {shown}: should be at least {min} chars long"));
            }
            if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
                found.push(format!("Too long: may not be more than {max} bytes"));
            }
            if let Some(p) = schema["pattern"].as_str()
                && regex_lite::Regex::new(p).is_ok_and(|re| !re.is_match(s))
            {
                found.push(format!("Invalid value: {shown}: should match '{p}'"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema["minimum"].as_f64().filter(|m| x < *m) {
                found.push(format!("Invalid value: {x}: should be greater than or equal to {min}"));
            }
            if let Some(max) = schema["maximum"].as_f64().filter(|m| x > *m) {
                found.push(format!("Invalid value: {x}: should be less than or equal to {max}"));
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64().filter(|m| items.len() as u64 > *m) {
                found.push(format!("Too many: {}: must have at most {max} items", items.len()));
            }
            if let Some(min) = schema["minItems"].as_u64().filter(|m| (items.len() as u64) < *m) {
                found.push(format!("Invalid value: must have at least {min} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    normalize(item_schema, item, &format!("{path}[{i}]"), causes, strict);
                }
            }
        }
        Value::Object(map) => normalize_object(schema, map, path, causes, strict),
        _ => {}
    }
    causes.extend(found.into_iter().map(|m| (here.clone(), m)));
}

fn normalize_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    causes: &mut Vec<(String, String)>,
    strict: bool,
) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
    if let Some(props) = schema["properties"].as_object() {
        for (k, prop) in props {
            if !map.contains_key(k)
                && let Some(d) = prop.get("default")
            {
                map.insert(k.clone(), d.clone());
            }
        }
        let unknown: Vec<String> = map.keys().filter(|k| !props.contains_key(*k)).cloned().collect();
        for k in unknown {
            if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) {
                continue;
            }
            if preserve {
                continue;
            }
            if strict {
                causes.push((
                    format!("{path}.{k}").trim_start_matches('.').to_string(),
                    "field not declared in schema".into(),
                ));
            }
            map.remove(&k);
        }
        for (k, prop) in props {
            if let Some(v) = map.get_mut(k) {
                normalize(prop, v, &format!("{path}.{k}"), causes, strict);
            }
        }
    } else if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        for (k, v) in map.iter_mut() {
            normalize(additional, v, &format!("{path}.{k}"), causes, strict);
        }
    }
    for r in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
    {
        if !map.contains_key(r) {
            causes.push((
                format!("{path}.{r}").trim_start_matches('.').to_string(),
                "Required value".into(),
            ));
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 { format!("{}...", &s[..57]) } else { s }
}

/// The CRD files of a repository's `crds/` folder.
pub fn crd_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
