//! The request log: every API request served (the stand-in's own `/_standin/` controls aside),
//! when, what it did and to what, how it was answered and by whom it was made, so that tests can
//! attribute writes to a client; the last [`LOG_CAPACITY`] are kept. Counts per verb, resource
//! and status code are kept apart from the log, so they cover every request since the start (or
//! the last clear).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many requests the log keeps; older ones are dropped first.
pub const LOG_CAPACITY: usize = 200_000;

/// One request as the stand-in answered it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    /// When it arrived: milliseconds since the stand-in started (monotonic).
    pub at_ms: u64,
    /// How long it took to answer (for a watch, to start streaming), in microseconds.
    pub latency_us: u64,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; for paths that are not
    /// resources (discovery), the HTTP method in lower case.
    pub verb: String,
    /// The API group, "" for the core group.
    pub group: String,
    /// The plural resource name, e.g. `cognitosmsconfigs`; for other paths, the path.
    pub resource: String,
    /// e.g. `status`, or "".
    pub subresource: String,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The name in the path: none for creates, lists and watches.
    pub name: Option<String>,
    /// The HTTP status code answered.
    pub code: u16,
    pub user_agent: Option<String>,
    /// Who made the request: the `Impersonate-User` header if any, else the bearer token (the
    /// stand-in takes any token as the name of its user; see [`crate::StandIn::kubeconfig_as`]).
    pub identity: Option<String>,
}

impl RequestRecord {
    /// `group/plural[/subresource]`, as [`crate::StandIn::writes`] names resources (`/secrets`
    /// for the core group).
    pub fn full_resource(&self) -> String {
        full_resource(&self.group, &self.resource, &self.subresource)
    }

    /// Whether the request was a write (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        is_write(&self.verb)
    }
}

/// How many requests of a verb to a resource were answered with a code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestCount {
    pub verb: String,
    /// `group/plural[/subresource]`.
    pub resource: String,
    pub code: u16,
    pub count: u64,
}

/// A request as it is kept: strings that repeat are shared.
#[derive(Debug)]
struct Entry {
    at: Duration,
    latency: Duration,
    verb: Arc<str>,
    group: Arc<str>,
    resource: Arc<str>,
    subresource: Arc<str>,
    namespace: Option<Arc<str>>,
    name: Option<Box<str>>,
    code: u16,
    user_agent: Option<Arc<str>>,
    identity: Option<Arc<str>>,
}

/// What a request is, before it is answered.
#[derive(Debug, Default, Clone)]
pub(crate) struct Described {
    pub(crate) verb: String,
    pub(crate) group: String,
    pub(crate) resource: String,
    pub(crate) subresource: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) identity: Option<String>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    counts: BTreeMap<(Arc<str>, Arc<str>, u16), u64>,
    strings: HashSet<Arc<str>>,
}

impl Log {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(found) = self.strings.get(s) {
            return found.clone();
        }
        let new: Arc<str> = Arc::from(s);
        self.strings.insert(new.clone());
        new
    }
}

/// The log and the counts.
pub(crate) struct RequestLog {
    started: Instant,
    log: Mutex<Log>,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            log: Mutex::default(),
        }
    }
}

impl RequestLog {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a request that arrived at `arrived` and was answered with `code`.
    pub(crate) fn record(&self, d: &Described, arrived: Instant, code: u16) {
        let mut log = self.log();
        let full = full_resource(&d.group, &d.resource, &d.subresource);
        let (verb, full) = (log.intern(&d.verb), log.intern(&full));
        *log.counts.entry((verb.clone(), full, code)).or_default() += 1;
        let entry = Entry {
            at: arrived.saturating_duration_since(self.started),
            latency: arrived.elapsed(),
            verb,
            group: log.intern(&d.group),
            resource: log.intern(&d.resource),
            subresource: log.intern(&d.subresource),
            namespace: d.namespace.as_deref().map(|n| log.intern(n)),
            name: d.name.as_deref().map(Box::from),
            code,
            user_agent: d.user_agent.as_deref().map(|u| log.intern(u)),
            identity: d.identity.as_deref().map(|i| log.intern(i)),
        };
        if log.entries.len() == LOG_CAPACITY {
            log.entries.pop_front();
        }
        log.entries.push_back(entry);
    }

    /// The kept requests that arrived at or after `since` (since the start), in the order they
    /// were answered.
    pub(crate) fn records(&self, since: Duration) -> Vec<RequestRecord> {
        let log = self.log();
        log.entries.iter().filter(|e| e.at >= since).map(to_record).collect()
    }

    pub(crate) fn counts(&self) -> Vec<RequestCount> {
        let log = self.log();
        log.counts
            .iter()
            .map(|((verb, resource, code), count)| RequestCount {
                verb: verb.to_string(),
                resource: resource.to_string(),
                code: *code,
                count: *count,
            })
            .collect()
    }

    /// Forget every request so far, and the counts.
    pub(crate) fn clear(&self) {
        let mut log = self.log();
        log.entries.clear();
        log.counts.clear();
        log.strings.clear();
    }
}

/// Whether `verb` writes: create, update, patch or delete.
pub(crate) fn is_write(verb: &str) -> bool {
    matches!(verb, "create" | "update" | "patch" | "delete")
}

fn full_resource(group: &str, resource: &str, subresource: &str) -> String {
    if subresource.is_empty() {
        format!("{group}/{resource}")
    } else {
        format!("{group}/{resource}/{subresource}")
    }
}

fn to_record(e: &Entry) -> RequestRecord {
    RequestRecord {
        at_ms: e.at.as_millis().try_into().unwrap_or(u64::MAX),
        latency_us: e.latency.as_micros().try_into().unwrap_or(u64::MAX),
        verb: e.verb.to_string(),
        group: e.group.to_string(),
        resource: e.resource.to_string(),
        subresource: e.subresource.to_string(),
        namespace: e.namespace.as_deref().map(String::from),
        name: e.name.as_deref().map(String::from),
        code: e.code,
        user_agent: e.user_agent.as_deref().map(String::from),
        identity: e.identity.as_deref().map(String::from),
    }
}
