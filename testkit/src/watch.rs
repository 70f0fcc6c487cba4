//! Watches: from a `resourceVersion` (replaying the kept history) or from the current state
//! (each object `ADDED`), then live changes as they are committed, with `BOOKMARK`s each second
//! when allowed, `410 Gone` (as an `ERROR` event) once the history they need is compacted, and an
//! end at `timeoutSeconds`, when a test drops watches, or when the client falls more than
//! [`crate::store::WATCH_BUFFER`] changes behind (the API server closes such a watcher; its client resumes from
//! the last resourceVersion it saw, or relists on `410`).
//!
//! With label or field selectors, a change is sent as the API server's watch cache sends it: an
//! object that starts matching is `ADDED`, one that stops matching is `DELETED` (its previous
//! state, at the change's resourceVersion), and changes to objects matching neither before nor
//! after are not sent. While the server is paused, nothing is sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::handlers::Target;
use crate::object::{Stored, meta_only, to_bytes};
use crate::response::{as_metadata, json_body, status_body};
use crate::selectors::Selector;
use crate::store::{Change, Expired, Inner, Shared, WatchEvent};

/// How long a watch lasts without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// Counts of the watches served, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct WatchCounters {
    open: AtomicUsize,
    started: AtomicU64,
    closed_lagging: AtomicU64,
    events_sent: AtomicU64,
}

/// What the watches served so far did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WatchStats {
    /// Watches streaming now.
    pub open: usize,
    /// Watches started.
    pub started: u64,
    /// Watches closed because their client fell too far behind.
    pub closed_lagging: u64,
    /// `ADDED`, `MODIFIED` and `DELETED` events sent, over all watches.
    pub events_sent: u64,
}

impl WatchCounters {
    pub(crate) fn stats(&self) -> WatchStats {
        WatchStats {
            open: self.open.load(Ordering::Relaxed),
            started: self.started.load(Ordering::Relaxed),
            closed_lagging: self.closed_lagging.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
        }
    }
}

/// What a watch request asked for.
struct Options {
    /// Resume after this resourceVersion; from the current state when unset or `0`.
    since: Option<u64>,
    bookmarks: bool,
    timeout: Duration,
    metadata_only: bool,
}

impl Options {
    fn new(q: &BTreeMap<String, String>, accept: &str) -> Self {
        Self {
            since: q.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0),
            bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
            timeout: q
                .get("timeoutSeconds")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT),
            metadata_only: as_metadata(accept),
        }
    }
}

/// Which changes a watch wants, and how it sees them: its type's, in its namespace (or all),
/// through its selectors.
struct Filter {
    prefix: String,
    namespace: Option<String>,
    selector: Selector,
    metadata_only: bool,
}

impl Filter {
    /// The line a change makes on this watch, if any.
    fn line(&self, e: &WatchEvent) -> Option<Bytes> {
        if e.prefix != self.prefix || self.namespace.as_ref().is_some_and(|n| *n != e.key.0) {
            return None;
        }
        let (before, after) = if self.selector.is_empty() {
            (e.old.is_some(), e.change != Change::Deleted)
        } else {
            let matches = |o: Option<Arc<Value>>| o.is_some_and(|o| self.selector.matches(&o));
            (
                matches(e.old_object()),
                e.change != Change::Deleted && matches(Some(e.object())),
            )
        };
        let type_ = match (before, after) {
            (false, false) => return None,
            (false, true) => "ADDED",
            (true, true) => "MODIFIED",
            (true, false) if e.change == Change::Deleted => "DELETED",
            (true, false) => return Some(self.stopped_matching(e)),
        };
        Some(line(type_, &e.object_json(self.metadata_only)))
    }

    /// `DELETED` for an object that no longer matches: its previous state, at the change's
    /// resourceVersion.
    fn stopped_matching(&self, e: &WatchEvent) -> Bytes {
        let mut then = e.old_object().map(|o| (*o).clone()).unwrap_or_default();
        then["metadata"]["resourceVersion"] = json!(e.rv.to_string());
        line("DELETED", &self.show(&Stored::new(then)))
    }

    /// An object as this watch shows it.
    fn show(&self, o: &Stored) -> Bytes {
        if self.metadata_only {
            to_bytes(&meta_only(&o.value))
        } else {
            o.json.clone()
        }
    }
}

/// What a watch sends before live changes.
enum Replay {
    /// From the current state: each matching object, as `ADDED`.
    Objects(Vec<Stored>),
    /// From a resourceVersion: the kept changes after it.
    Changes(Vec<Arc<WatchEvent>>),
}

/// Answer a watch request with a stream of events.
pub(crate) fn watch(s: Arc<Shared>, t: &Target, q: &BTreeMap<String, String>, accept: &str) -> Response {
    let opts = Options::new(q, accept);
    let filter = Filter {
        prefix: t.rt.store_prefix(),
        namespace: t.namespace.clone(),
        selector: Selector::from_query(q),
        metadata_only: opts.metadata_only,
    };
    let (live, replay, start_rv) = {
        let inner = s.lock();
        (inner.subscribe(), first_events(&inner, &filter, opts.since), inner.rv)
    };
    let replay = match replay {
        Ok(replay) => replay,
        // Always the Status itself, also for metadata-only watches.
        Err(gone) => return json_body(Body::from(line("ERROR", &to_bytes(&gone_status(opts.since, &gone))))),
    };
    let mut epoch = s.epoch.subscribe();
    epoch.mark_unchanged();
    s.watches.started.fetch_add(1, Ordering::Relaxed);
    let feed = Feed {
        deadline: Instant::now() + opts.timeout,
        bookmarks: opts.bookmarks,
        filter,
        live,
        epoch,
        start_rv,
        bookmark_types: json!({"apiVersion": t.rt.api_version(), "kind": t.rt.kind}),
        shared: s,
    };
    let stream = async_stream(move |tx| feed.run(replay, tx));
    json_body(Body::from_stream(stream.map(Ok::<_, std::io::Error>)))
}

/// What a watch sends first: from `since`, the kept changes after it; else each current object
/// that matches, as the API server's synthetic `ADDED` events.
fn first_events(inner: &Inner, filter: &Filter, since: Option<u64>) -> Result<Replay, Expired> {
    let Some(since) = since else {
        let objects = inner.objects_at(&filter.prefix, filter.namespace.as_deref(), inner.rv, None)?;
        let objects = objects.map(|(_, o)| o.stored());
        return Ok(Replay::Objects(
            objects.filter(|o| filter.selector.matches(&o.value)).collect(),
        ));
    };
    inner.changes_since(since).map(Replay::Changes)
}

/// `410 Gone` for a watch from a resourceVersion older than the kept history.
fn gone_status(since: Option<u64>, gone: &Expired) -> Value {
    let since = since.unwrap_or_default();
    status_body(
        410,
        "Expired",
        format!("too old resource version: {since} ({})", gone.current),
    )
}

/// The live part of a watch.
struct Feed {
    deadline: Instant,
    bookmarks: bool,
    filter: Filter,
    live: broadcast::Receiver<Arc<WatchEvent>>,
    /// Changes when the watch is to be dropped.
    epoch: tokio::sync::watch::Receiver<u64>,
    /// The resourceVersion the watch started at: live changes up to it are already replayed.
    start_rv: u64,
    /// `apiVersion` and `kind` of bookmark objects.
    bookmark_types: Value,
    shared: Arc<Shared>,
}

/// Counts a watch as open while it lives.
struct OpenWatch<'a>(&'a WatchCounters);

impl<'a> OpenWatch<'a> {
    fn new(c: &'a WatchCounters) -> Self {
        c.open.fetch_add(1, Ordering::Relaxed);
        Self(c)
    }
}

impl Drop for OpenWatch<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Feed {
    /// Send `replay`, then live changes and bookmarks until the timeout, a dropped watch, a
    /// client gone or too far behind.
    async fn run(mut self, replay: Replay, tx: mpsc::Sender<Bytes>) {
        let shared = self.shared.clone();
        let _open = OpenWatch::new(&shared.watches);
        if !self.replay(replay, &tx).await {
            return;
        }
        // How far this watch has seen the changes, sent or filtered out: what bookmarks carry.
        let mut seen_rv = self.start_rv;
        let start = Instant::now() + BOOKMARK_INTERVAL;
        let mut tick = tokio::time::interval_at(start, BOOKMARK_INTERVAL);
        loop {
            let (line, event) = tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => return,
                _ = self.epoch.changed() => return,
                _ = tick.tick(), if self.bookmarks => (self.bookmark(seen_rv), false),
                e = self.live.recv() => match e {
                    Ok(e) if e.rv <= self.start_rv => continue,
                    Ok(e) => {
                        seen_rv = seen_rv.max(e.rv);
                        match self.filter.line(&e) {
                            Some(line) => (line, true),
                            None => continue,
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        shared.watches.closed_lagging.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if !self.send(&tx, line, event).await {
                return;
            }
        }
    }

    /// Send what comes before the live changes; false if the watch is over.
    async fn replay(&mut self, replay: Replay, tx: &mpsc::Sender<Bytes>) -> bool {
        match replay {
            Replay::Objects(objects) => {
                for o in objects {
                    let line = line("ADDED", &self.filter.show(&o));
                    if !self.send(tx, line, true).await {
                        return false;
                    }
                }
            }
            Replay::Changes(changes) => {
                for e in &changes {
                    let Some(line) = self.filter.line(e) else { continue };
                    if !self.send(tx, line, true).await {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Send a line (an event, counted, or a bookmark) once the server is not paused; false if
    /// the watch is over first (or the client gone).
    async fn send(&mut self, tx: &mpsc::Sender<Bytes>, line: Bytes, event: bool) -> bool {
        let shared = self.shared.clone();
        let sent = async {
            shared.faults.unpaused().await;
            tx.send(line).await.is_ok()
        };
        let sent = tokio::select! {
            sent = sent => sent,
            _ = tokio::time::sleep_until(self.deadline) => false,
            _ = self.epoch.changed() => false,
        };
        if sent && event {
            shared.watches.events_sent.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn bookmark(&self, rv: u64) -> Bytes {
        let mut object = self.bookmark_types.clone();
        object["metadata"] = json!({"resourceVersion": rv.to_string()});
        line("BOOKMARK", &to_bytes(&object))
    }
}

/// A watch event as a line of JSON, from the object already serialized.
fn line(type_: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(type_.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// A stream fed by a task through a channel.
fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = Bytes>
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}
