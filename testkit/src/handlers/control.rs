//! The stand-in's own controls under `/_standin/`, for tests and benchmarks that drive it over
//! HTTP (the same as the [`crate::StandIn`] methods): faults, pauses, dropped watches,
//! compaction, the request log and counts, and statistics. They are never paused, failed or
//! logged.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::response::{bad_request, error, ok};
use crate::store::Shared;

/// The answer to a `/_standin/...` request, or `None` for other paths.
pub(super) fn route(
    s: &Shared,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    body: &[u8],
) -> Option<Response> {
    let control = path.strip_prefix("/_standin/")?;
    let done = || ok(StatusCode::OK, json!({}));
    Some(match (method.as_str(), control) {
        ("POST", "faults") => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                s.faults.add(f);
                done()
            }
            Err(e) => bad_request(e.to_string()),
        },
        ("DELETE", "faults") => {
            s.faults.clear();
            done()
        }
        ("POST", "drop-watches") => {
            s.drop_watches();
            done()
        }
        ("POST", "pause") => match millis(q, body, "ms") {
            Some(ms) => {
                s.faults.pause(Duration::from_millis(ms));
                done()
            }
            None => bad_request("pause needs ms, in the query or as {\"ms\": N}"),
        },
        ("POST", "compact") => {
            s.lock().compact();
            done()
        }
        ("GET", "requests") => {
            let since = Duration::from_millis(millis(q, body, "since_ms").unwrap_or(0));
            ok(StatusCode::OK, json!({"requests": s.requests.records(since)}))
        }
        ("DELETE", "requests") => {
            s.requests.clear();
            done()
        }
        ("GET", "counts") => ok(StatusCode::OK, json!({"counts": s.requests.counts()})),
        ("GET", "stats") => ok(StatusCode::OK, json!(s.stats())),
        _ => error(404, "NotFound", format!("no control {method} {path}")),
    })
}

/// A number of milliseconds named `name`, from the query or a JSON body.
fn millis(q: &BTreeMap<String, String>, body: &[u8], name: &str) -> Option<u64> {
    q.get(name).and_then(|v| v.parse().ok()).or_else(|| {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b[name].as_u64())
    })
}
