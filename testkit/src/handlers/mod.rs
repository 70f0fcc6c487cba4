//! Request routing: fixed paths (version, discovery, the stand-in's own controls), then resource
//! paths parsed into a [`Target`] and a verb, checked against injected faults, and handed to the
//! verb's handler.

mod patch;
mod read;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::json;

use crate::discovery;
use crate::faults::Fault;
use crate::resource::ResourceType;
use crate::response::{Reply, error, not_found, ok};
use crate::store::{Key, Shared};

/// A parsed resource path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) rt: ResourceType,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

impl Target {
    /// `/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]` or the same under `/apis/GROUP/VERSION`, for
    /// a type served.
    fn parse(types: &[ResourceType], parts: &[&str]) -> Option<Self> {
        let (group, version, rest) = match parts {
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
            _ => (None, rest),
        };
        let (plural, name, subresource) = match rest {
            [p] => (*p, None, None),
            [p, n] => (*p, Some(n.to_string()), None),
            [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
            _ => return None,
        };
        let rt = types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()?;
        Some(Self {
            rt,
            namespace,
            name,
            subresource,
        })
    }

    /// The name in the path, or "".
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Where the object `name` of this target is stored.
    fn key(&self, name: &str) -> Key {
        let ns = if self.rt.namespaced {
            self.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        (self.rt.store_prefix(), ns, name.to_string())
    }

    fn is_status(&self) -> bool {
        self.subresource.as_deref() == Some("status")
    }

    /// The resource as faults name it: `plural` or `plural/subresource`.
    fn resource_name(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.rt.plural),
            None => self.rt.plural.clone(),
        }
    }

    fn not_found(&self, name: &str) -> Response {
        not_found(&self.rt.plural, name)
    }
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    fn of(method: &Method, target: &Target, q: &BTreeMap<String, String>) -> Option<Self> {
        let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
        Some(match (method, &target.name, watch) {
            (&Method::GET, Some(_), _) => Self::Get,
            (&Method::GET, None, true) => Self::Watch,
            (&Method::GET, None, false) => Self::List,
            (&Method::POST, _, _) => Self::Create,
            (&Method::PUT, _, _) => Self::Update,
            (&Method::PATCH, _, _) => Self::Patch,
            (&Method::DELETE, _, _) => Self::Delete,
            _ => return None,
        })
    }

    /// The verb as faults name it.
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// The server's one handler.
pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.wait_while_paused().await;
    let path = uri.path().trim_end_matches('/').to_string();
    if let Some(r) = fixed_route(&s, &method, &path, &body) {
        return r;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(list) = discovery::resource_list(&s.types, &parts) {
        return ok(StatusCode::OK, list);
    }
    let Some(target) = Target::parse(&s.types, &parts) else {
        let message = format!("the server could not find the requested resource {path}");
        return error(404, "NotFound", message);
    };
    let Some(verb) = Verb::of(&method, &target, &q) else {
        return error(405, "MethodNotAllowed", "method not allowed");
    };
    if let Some(r) = s.injected_fault(verb.as_str(), &target.resource_name()) {
        return r;
    }
    dispatch(s, verb, target, q, &headers, &body).unwrap_or_else(|r| r)
}

/// Version, group discovery, and the stand-in's controls.
fn fixed_route(s: &Shared, method: &Method, path: &str, body: &[u8]) -> Option<Response> {
    match (method, path) {
        (&Method::GET, _) => discovery::fixed(path, &s.types).map(|v| ok(StatusCode::OK, v)),
        (&Method::POST, "/_standin/faults") => Some(match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                s.add_fault(f);
                ok(StatusCode::OK, json!({}))
            }
            Err(e) => error(400, "BadRequest", e.to_string()),
        }),
        (&Method::POST, "/_standin/drop-watches") => {
            s.drop_watches();
            Some(ok(StatusCode::OK, json!({})))
        }
        _ => None,
    }
}

fn dispatch(
    s: Arc<Shared>,
    verb: Verb,
    target: Target,
    q: BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let accept = header_text(headers, header::ACCEPT);
    match verb {
        Verb::Get => read::get(&s, &target, &accept),
        Verb::List => read::list(&s, &target, &q, &accept),
        Verb::Watch => Ok(crate::watch::watch(s, target, q, accept)),
        Verb::Create => write::create(&s, &target, body, &q),
        Verb::Update => write::update(&s, &target, body),
        Verb::Patch => patch::patch(&s, &target, body, &header_text(headers, header::CONTENT_TYPE)),
        Verb::Delete => write::delete(&s, &target),
    }
}

/// A header's value, or "" when it is missing or not text.
fn header_text(headers: &HeaderMap, name: HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
