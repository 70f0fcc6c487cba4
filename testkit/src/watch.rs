//! Watches: from a `resourceVersion` (replaying the kept history) or from the current state
//! (each object `ADDED`), then live events as they are recorded, with `BOOKMARK`s each second
//! when allowed, `410 Gone` (as an `ERROR` event) once the history they need is compacted, and an
//! end at `timeoutSeconds` or when a test drops watches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::handlers::Target;
use crate::object::meta_only;
use crate::response::{as_metadata, json_body, status_body};
use crate::selectors::matches;
use crate::store::{Shared, WatchEvent};

/// How long a watch lasts without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

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

    /// One event as a line of the response.
    fn render(&self, type_: &str, object: &Value) -> Bytes {
        if self.metadata_only {
            line(type_, &meta_only(object))
        } else {
            line(type_, object)
        }
    }
}

/// Which events a watch wants: its type's, in its namespace (or all), passing its selectors.
struct Filter {
    prefix: String,
    namespace: Option<String>,
    query: BTreeMap<String, String>,
}

impl Filter {
    fn wants(&self, e: &WatchEvent) -> bool {
        e.plural == self.prefix
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| e.namespace.as_deref() == Some(n))
            && matches(&e.object, &self.query)
    }
}

/// Answer a watch request with a stream of events.
pub(crate) fn watch(s: Arc<Shared>, t: Target, q: BTreeMap<String, String>, accept: String) -> Response {
    let opts = Options::new(&q, &accept);
    let filter = Filter {
        prefix: t.rt.store_prefix(),
        namespace: t.namespace.clone(),
        query: q,
    };
    // Subscribe before reading history, so nothing falls between the two.
    let live = s.events.subscribe();
    let (replay, current_rv) = match starting_point(&s, &filter, opts.since) {
        Ok(start) => start,
        Err(gone) => return json_body(Body::from(opts.render("ERROR", &gone))),
    };
    let mut epoch = s.epoch.subscribe();
    epoch.mark_unchanged();
    let feed = Feed {
        opts,
        filter,
        live,
        epoch,
        current_rv,
        bookmark_types: json!({"apiVersion": t.rt.api_version(), "kind": t.rt.kind}),
    };
    let stream = async_stream(move |tx| feed.run(replay, tx));
    json_body(Body::from_stream(stream.map(Ok::<_, std::io::Error>)))
}

/// The events to send first and the resourceVersion they bring the watch to, or the `410 Gone`
/// status when `since` is older than the kept history.
fn starting_point(s: &Shared, filter: &Filter, since: Option<u64>) -> Result<(Vec<WatchEvent>, u64), Value> {
    let inner = s.lock();
    let replay: Vec<WatchEvent> = match since {
        Some(since) if inner.compacted_since(since) => {
            let message = format!("too old resource version: {since} ({})", inner.rv);
            return Err(status_body(410, "Expired", message));
        }
        Some(since) => inner
            .history
            .iter()
            .filter(|e| e.rv > since && filter.wants(e))
            .cloned()
            .collect(),
        None => inner
            .objects_in(&filter.prefix, filter.namespace.as_deref())
            .map(|o| WatchEvent {
                rv: inner.rv,
                plural: filter.prefix.clone(),
                namespace: None,
                type_: "ADDED",
                object: o.clone(),
            })
            .filter(|e| matches(&e.object, &filter.query))
            .collect(),
    };
    Ok((replay, inner.rv))
}

/// The live part of a watch.
struct Feed {
    opts: Options,
    filter: Filter,
    live: broadcast::Receiver<WatchEvent>,
    /// Changes when the watch is to be dropped.
    epoch: tokio::sync::watch::Receiver<u64>,
    /// The resourceVersion the watch started at: live events up to it are already replayed.
    current_rv: u64,
    /// `apiVersion` and `kind` of bookmark objects.
    bookmark_types: Value,
}

impl Feed {
    /// Send `replay`, then live events and bookmarks until the timeout, a dropped watch or a
    /// client gone.
    async fn run(mut self, replay: Vec<WatchEvent>, tx: mpsc::Sender<Bytes>) {
        let mut last_rv = self.current_rv;
        for e in replay {
            last_rv = last_rv.max(e.rv);
            if tx.send(self.opts.render(e.type_, &e.object)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(self.opts.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
        loop {
            let line = tokio::select! {
                _ = &mut deadline => return,
                _ = self.epoch.changed() => return,
                _ = tick.tick(), if self.opts.bookmarks => self.bookmark(last_rv),
                e = self.live.recv() => match e {
                    Ok(e) if e.rv > self.current_rv && self.filter.wants(&e) => {
                        last_rv = e.rv;
                        self.opts.render(e.type_, &e.object)
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }

    fn bookmark(&self, rv: u64) -> Bytes {
        let mut object = self.bookmark_types.clone();
        object["metadata"] = json!({"resourceVersion": rv.to_string()});
        line("BOOKMARK", &object)
    }
}

/// A watch event as a line of JSON.
fn line(type_: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    line.push(b'\n');
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
