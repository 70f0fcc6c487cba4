//! Request routing: the stand-in's own controls (`control`), fixed paths (version, discovery),
//! then resource paths parsed into a [`Target`] and a verb, held while the server is paused,
//! checked against injected faults, handed to the verb's handler, and logged.

mod control;
mod patch;
mod read;
mod write;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures::FutureExt;
use serde_json::Value;

use crate::discovery;
use crate::requests::Described;
use crate::resource::Served;
use crate::response::{Reply, error, not_found, ok};
use crate::store::{Key, Shared};

/// A parsed resource path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) rt: Arc<Served>,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

impl Target {
    /// `/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]` or the same under `/apis/GROUP/VERSION`, for
    /// a type served.
    fn parse(types: &[Arc<Served>], parts: &[&str]) -> Option<Self> {
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

    /// Where the object `name` of this target is stored, within its type.
    fn key(&self, name: &str) -> Key {
        let ns = if self.rt.namespaced {
            self.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        (ns, name.to_string())
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

/// Where a request goes.
enum Route {
    /// Version and discovery documents.
    Fixed(Value),
    Resource(Target, Verb),
    NotFound(String),
    NotAllowed(Target),
}

impl Route {
    fn of(types: &[Arc<Served>], method: &Method, path: &str, q: &BTreeMap<String, String>) -> Self {
        if *method == Method::GET
            && let Some(v) = discovery::fixed(path, types)
        {
            return Self::Fixed(v);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let Some(list) = discovery::resource_list(types, &parts) {
            return Self::Fixed(list);
        }
        let Some(target) = Target::parse(types, &parts) else {
            return Self::NotFound(format!("the server could not find the requested resource {path}"));
        };
        match Verb::of(method, &target, q) {
            Some(verb) => Self::Resource(target, verb),
            None => Self::NotAllowed(target),
        }
    }

    /// The request as the log records it.
    fn describe(&self, method: &Method, path: &str, headers: &HeaderMap) -> Described {
        let mut d = Described {
            verb: method.as_str().to_lowercase(),
            resource: path.to_string(),
            user_agent: Some(header_text(headers, header::USER_AGENT)).filter(|u| !u.is_empty()),
            identity: identity(headers),
            ..Described::default()
        };
        if let Self::Resource(t, _) | Self::NotAllowed(t) = self {
            d.group = t.rt.group.clone();
            d.resource = t.rt.plural.clone();
            d.subresource = t.subresource.clone().unwrap_or_default();
            d.namespace = t.namespace.clone();
            d.name = t.name.clone();
        }
        if let Self::Resource(_, verb) = self {
            d.verb = verb.as_str().to_string();
        }
        d
    }
}

/// Who a request is made as: `Impersonate-User`, else the bearer token, which the stand-in
/// takes as the user's name (it authenticates any token).
fn identity(headers: &HeaderMap) -> Option<String> {
    let impersonated = header_text(headers, HeaderName::from_static("impersonate-user"));
    let authorization = header_text(headers, header::AUTHORIZATION);
    let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
    [impersonated.as_str(), token]
        .into_iter()
        .find(|i| !i.is_empty())
        .map(String::from)
}

/// The server's one handler: the stand-in's controls, or an API request, served (a panic
/// answers `500 InternalError`, as the API server's panic recovery does) and logged.
pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let path = uri.path().trim_end_matches('/').to_string();
    if let Some(r) = control::route(&s, &method, &path, &q, &body) {
        return r;
    }
    let route = Route::of(&s.types, &method, &path, &q);
    let described = route.describe(&method, &path, &headers);
    let served = AssertUnwindSafe(serve(s.clone(), route, q, &headers, &body)).catch_unwind();
    let response = served.await.unwrap_or_else(|_| {
        error(
            500,
            "InternalError",
            "an error on the server has prevented the request from succeeding",
        )
    });
    s.requests.record(&described, arrived, response.status().as_u16());
    response
}

/// Serve a request once the server is not paused and after any fault injected for it.
async fn serve(
    s: Arc<Shared>,
    route: Route,
    q: BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    s.faults.unpaused().await;
    let (target, verb) = match route {
        Route::Fixed(v) => return ok(StatusCode::OK, v),
        Route::NotFound(message) => return error(404, "NotFound", message),
        Route::NotAllowed(_) => return error(405, "MethodNotAllowed", "method not allowed"),
        Route::Resource(target, verb) => (target, verb),
    };
    if let Some(r) = s.faults.apply(verb.as_str(), &target.resource_name()).await {
        return r;
    }
    dispatch(s, verb, &target, &q, headers, body).unwrap_or_else(|r| r)
}

fn dispatch(
    s: Arc<Shared>,
    verb: Verb,
    target: &Target,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let accept = header_text(headers, header::ACCEPT);
    match verb {
        Verb::Get => read::get(&s, target, &accept),
        Verb::List => read::list(&s, target, q, &accept),
        Verb::Watch => Ok(crate::watch::watch(s, target, q, &accept)),
        Verb::Create => write::create(&s, target, body, q),
        Verb::Update => write::update(&s, target, body),
        Verb::Patch => patch::patch(&s, target, body, &header_text(headers, header::CONTENT_TYPE), q),
        Verb::Delete => write::delete(&s, target),
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
