//! Faults tests ask for: failing or holding requests of a verb and resource, and pausing the
//! whole server. (Dropping watches is [`crate::store::Shared::drop_watches`].) Failures carry the
//! API server's `Status` for their code (see [`crate::response::reason`]).

use std::sync::Mutex;
use std::time::Duration;

use axum::response::Response;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::response::injected;

/// A fault a test asked for: requests matching `verb` and `resource` are held for `hang_ms`,
/// then failed with `status` (or, when it is 0, served as usual), for its next `count` matching
/// requests, or until cleared when `count` is 0. Every fault a request matches applies to it:
/// their holds add up, and the first with a status fails it.
///
/// As JSON (`POST /_standin/faults`): `{"verb": "list", "resource": "cognitosmsconfigs",
/// "status": 503, "count": 2, "hang_ms": 5000}`; all but `verb` and `resource` may be left out.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Fault {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, or `*`.
    pub verb: String,
    /// Plural resource name, with `/status` (or another subresource) for the subresource, or `*`.
    pub resource: String,
    /// HTTP status to answer with; 0 to serve the request after the hang.
    #[serde(default)]
    pub status: u16,
    /// How many matching requests the fault applies to; 0 for every one until cleared.
    #[serde(default)]
    pub count: u32,
    /// How long to hold a matching request before answering it, in milliseconds.
    #[serde(default)]
    pub hang_ms: u64,
    /// `Retry-After` of a `429` (default 1 second).
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
}

impl Fault {
    /// Fail every matching request with `status` until cleared (see [`Fault::times`]).
    pub fn failing(verb: &str, resource: &str, status: u16) -> Self {
        Self {
            verb: verb.into(),
            resource: resource.into(),
            status,
            count: 0,
            hang_ms: 0,
            retry_after_seconds: None,
        }
    }

    /// Hold every matching request for `d`, then serve it, until cleared: a slow or unresponsive
    /// API server, for clients' timeouts on lists and watches.
    pub fn hanging(verb: &str, resource: &str, d: Duration) -> Self {
        Self::failing(verb, resource, 0).after(d)
    }

    /// Apply to the next `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.count = n;
        self
    }

    /// Hold matching requests for `d` before answering.
    pub fn after(mut self, d: Duration) -> Self {
        self.hang_ms = d.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    fn matches(&self, verb: &str, resource: &str) -> bool {
        (self.verb == "*" || self.verb == verb) && (self.resource == "*" || self.resource == resource)
    }
}

/// The faults asked for and the pause, apart from the store so that neither waits for the other.
pub(crate) struct Faults {
    active: Mutex<Vec<Fault>>,
    /// When a pause ends, if one is on.
    paused_until: watch::Sender<Option<Instant>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            active: Mutex::default(),
            paused_until: watch::channel(None).0,
        }
    }
}

impl Faults {
    fn active(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn add(&self, fault: Fault) {
        self.active().push(fault);
    }

    pub(crate) fn clear(&self) {
        self.active().clear();
    }

    /// Answer nothing until `d` from now (replacing any pause on); a zero `d` ends the pause.
    pub(crate) fn pause(&self, d: Duration) {
        self.paused_until.send_replace(Some(Instant::now() + d));
    }

    /// Resolves once the server is not paused.
    pub(crate) async fn unpaused(&self) {
        let mut rx = self.paused_until.subscribe();
        loop {
            let until = *rx.borrow_and_update();
            match until {
                Some(until) if until > Instant::now() => tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = rx.changed() => {}
                },
                _ => return,
            }
        }
    }

    /// Apply the faults a request matches, if any: hold it, then the failure to answer with.
    pub(crate) async fn apply(&self, verb: &str, resource: &str) -> Option<Response> {
        let matching = self.take(verb, resource);
        let hang: u64 = matching.iter().map(|f| f.hang_ms).sum();
        if hang > 0 {
            tokio::time::sleep(Duration::from_millis(hang)).await;
        }
        let failing = matching.iter().find(|f| f.status != 0)?;
        Some(injected(failing.status, verb, resource, failing.retry_after_seconds))
    }

    /// The faults matching, in the order they were added, counted off (and removed once used
    /// up).
    fn take(&self, verb: &str, resource: &str) -> Vec<Fault> {
        let mut matching = vec![];
        self.active().retain_mut(|f| {
            if !f.matches(verb, resource) {
                return true;
            }
            matching.push(f.clone());
            match f.count {
                0 => true,
                1 => false,
                _ => {
                    f.count -= 1;
                    true
                }
            }
        });
        matching
    }
}
