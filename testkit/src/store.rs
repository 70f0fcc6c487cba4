//! The object store: objects by type, namespace and name, the `resourceVersion` counter every
//! write bumps, uids, and the history of changes that watches resume from and that paged lists
//! read their snapshots from (as the API server's watch cache and etcd's MVCC history do). Every
//! change goes through [`Inner::commit`], which records it and broadcasts it to open watches.
//!
//! A stored object is kept parsed (for writes and selectors) and serialized once (for what gets,
//! lists and watches send), as [`Stored`], which requests copy pointers to under the lock. Past
//! versions, in the history, are kept serialized only, which bounds its memory to what was sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::faults::Faults;
use crate::object::{Stored, meta_only, to_bytes};
use crate::requests::RequestLog;
use crate::resource::{ResourceType, Served};
use crate::watch::{WatchCounters, WatchStats};

/// How long changes are kept for watches resuming from a resourceVersion and for paged lists,
/// as the API server's watch cache keeps about 75 seconds of events; older ones get `410 Gone`,
/// as after an etcd compaction.
const HISTORY_WINDOW: Duration = Duration::from_secs(75);
/// The most changes kept, whatever their age, which bounds memory under heavy write load.
const HISTORY_MAX: usize = 25_000;
/// How many changes a watch may fall behind before it is closed, as the API server closes a
/// watcher whose buffer is full; its client resumes from the last resourceVersion it saw.
pub(crate) const WATCH_BUFFER: usize = 4096;

/// `(namespace, name)` of an object within its type; the namespace is empty for cluster-scoped
/// objects.
pub(crate) type Key = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Modified,
    Deleted,
}

/// A change to one object, as recorded in the history and broadcast to watches.
#[derive(Debug)]
pub(crate) struct WatchEvent {
    pub(crate) rv: u64,
    /// The store prefix of the object's type ([`ResourceType::store_prefix`]).
    pub(crate) prefix: String,
    pub(crate) key: Key,
    pub(crate) change: Change,
    /// The object after the change (for a deletion, as it was last, at the deletion's
    /// resourceVersion), serialized.
    pub(crate) json: Bytes,
    /// The same parsed, while the store still holds it.
    value: Weak<Value>,
    /// The object before the change, serialized; `None` for a creation.
    pub(crate) old: Option<Bytes>,
    at: Instant,
    /// The object as `PartialObjectMetadata`, made once for every metadata-only watch.
    meta_json: OnceLock<Bytes>,
}

impl WatchEvent {
    /// The object as JSON, whole or metadata only, serialized once however many watches send it.
    pub(crate) fn object_json(&self, metadata_only: bool) -> Bytes {
        if metadata_only {
            self.meta_json
                .get_or_init(|| to_bytes(&meta_only(&self.object())))
                .clone()
        } else {
            self.json.clone()
        }
    }

    /// The object after the change, parsed.
    pub(crate) fn object(&self) -> Arc<Value> {
        self.value.upgrade().unwrap_or_else(|| Stored::parse(&self.json).value)
    }

    /// The object before the change, parsed.
    pub(crate) fn old_object(&self) -> Option<Arc<Value>> {
        self.old.as_ref().map(|o| Stored::parse(o).value)
    }
}

/// An object as it was at some resourceVersion: the stored one, or a past version from the
/// history.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Version<'a> {
    Current(&'a Stored),
    Past(&'a Bytes),
}

impl Version<'_> {
    pub(crate) fn stored(self) -> Stored {
        match self {
            Self::Current(s) => s.clone(),
            Self::Past(json) => Stored::parse(json),
        }
    }
}

/// A resourceVersion older than the kept history: `410 Gone` with reason `Expired`.
#[derive(Debug)]
pub(crate) struct Expired {
    pub(crate) current: u64,
}

/// Everything behind the store's lock.
pub(crate) struct Inner {
    pub(crate) rv: u64,
    uid: u64,
    /// By store prefix, then `(namespace, name)`.
    objects: HashMap<String, BTreeMap<Key, Stored>>,
    history: VecDeque<Arc<WatchEvent>>,
    /// Every change, to the open watches.
    events: broadcast::Sender<Arc<WatchEvent>>,
}

/// The state the server and the [`crate::StandIn`] handle share.
pub(crate) struct Shared {
    pub(crate) types: Vec<Arc<Served>>,
    inner: Mutex<Inner>,
    /// Bumped to end every open watch.
    pub(crate) epoch: watch::Sender<u64>,
    pub(crate) faults: Faults,
    pub(crate) requests: RequestLog,
    pub(crate) watches: WatchCounters,
}

impl Shared {
    pub(crate) fn new(types: Vec<ResourceType>) -> Self {
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let (epoch, _) = watch::channel(0);
        let inner = Inner {
            rv: 0,
            uid: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            events,
        };
        let mut inner = inner;
        // The namespaces every cluster has from the start.
        if let Some(ns) = types.iter().find(|t| t.group.is_empty() && t.plural == "namespaces") {
            for name in ["default", "kube-system"] {
                let uid = inner.next_uid();
                let object = json!({
                    "apiVersion": ns.api_version(),
                    "kind": ns.kind,
                    "metadata": {"name": name, "uid": uid, "creationTimestamp": crate::object::now()},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                });
                inner.commit(&ns.store_prefix(), (String::new(), name.into()), Change::Added, object);
            }
        }
        Self {
            types: types.into_iter().map(Served::new).collect(),
            inner: Mutex::new(inner),
            epoch,
            faults: Faults::default(),
            requests: RequestLog::default(),
            watches: WatchCounters::default(),
        }
    }

    /// The store, locked. A request that panicked while holding the lock leaves it poisoned;
    /// the store is still consistent enough for a test server (every change is one insert or
    /// removal plus its record), so later requests carry on rather than fail.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// End every open watch connection.
    pub(crate) fn drop_watches(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    pub(crate) fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats {
            resource_version: inner.rv,
            objects: inner.objects.values().map(BTreeMap::len).sum(),
            history: inner.history.len(),
            watches: self.watches.stats(),
        }
    }
}

/// The state of the stand-in, for tests and benchmarks.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// The current resourceVersion: how many changes were made.
    pub resource_version: u64,
    /// Objects stored.
    pub objects: usize,
    /// Changes kept for watches and paged lists.
    pub history: usize,
    pub watches: WatchStats,
}

impl Inner {
    /// A new uid, in the form of a version 4 UUID.
    pub(crate) fn next_uid(&mut self) -> String {
        self.uid += 1;
        format!("00000000-0000-4000-8000-{:012}", self.uid)
    }

    pub(crate) fn get(&self, prefix: &str, key: &Key) -> Option<&Stored> {
        self.objects.get(prefix)?.get(key)
    }

    /// Store a change to the object at `key` of the type under `prefix`: `object` for creations
    /// and modifications, the object as last seen for deletions. The change gets the next
    /// resourceVersion (written into the object), is kept in the history and goes to the open
    /// watches. Returns the object as stored.
    pub(crate) fn commit(&mut self, prefix: &str, key: Key, change: Change, mut object: Value) -> Stored {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let object = Stored::new(object);
        let objects = self.objects.entry(prefix.to_string()).or_default();
        let old = match change {
            Change::Deleted => objects.remove(&key),
            Change::Added | Change::Modified => objects.insert(key.clone(), object.clone()),
        };
        let event = Arc::new(WatchEvent {
            rv: self.rv,
            prefix: prefix.to_string(),
            key,
            change,
            json: object.json.clone(),
            value: Arc::downgrade(&object.value),
            old: old.map(|o| o.json),
            at: Instant::now(),
            meta_json: OnceLock::new(),
        });
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY_MAX || self.history.front().is_some_and(|e| e.at.elapsed() > HISTORY_WINDOW)
        {
            self.history.pop_front();
        }
        let _ = self.events.send(event);
        object
    }

    /// Forget the history up to now, as an etcd compaction does.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
    }

    /// Open a feed of the changes from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.events.subscribe()
    }

    /// Whether a reader at `rv` needs changes no longer kept.
    fn compacted_since(&self, rv: u64) -> bool {
        let oldest_kept = self.history.front().map(|e| e.rv).unwrap_or(self.rv + 1);
        rv < self.rv && rv + 1 < oldest_kept
    }

    fn expired(&self) -> Expired {
        Expired { current: self.rv }
    }

    /// The changes after `rv`, oldest first, or [`Expired`] when some are no longer kept.
    pub(crate) fn changes_since(&self, rv: u64) -> Result<Vec<Arc<WatchEvent>>, Expired> {
        if self.compacted_since(rv) {
            return Err(self.expired());
        }
        let first = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(first..).cloned().collect())
    }

    /// The objects of the type under `prefix`, in `namespace` (or all), after the key `after`
    /// (or from the first), in key order, as they were at resourceVersion `rv`: the current
    /// objects with the changes since `rv` undone. [`Expired`] when those changes are no longer
    /// kept, as etcd answers a read at a compacted revision.
    pub(crate) fn objects_at<'a>(
        &'a self,
        prefix: &str,
        namespace: Option<&'a str>,
        rv: u64,
        after: Option<&Key>,
    ) -> Result<impl Iterator<Item = (&'a Key, Version<'a>)> + 'a, Expired> {
        if self.compacted_since(rv) {
            return Err(self.expired());
        }
        let start = match (after, namespace) {
            (Some(k), Some(ns)) if k.0.as_str() >= ns => Bound::Excluded(k.clone()),
            (Some(k), None) => Bound::Excluded(k.clone()),
            (_, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let in_scope = move |k: &Key| namespace.is_none_or(|ns| k.0 == ns);
        // The state at `rv` of every object changed since: that before its first later change.
        let mut undone: BTreeMap<&'a Key, Option<&'a Bytes>> = BTreeMap::new();
        let first = self.history.partition_point(|e| e.rv <= rv);
        for e in self.history.range(first..).filter(|e| e.prefix == prefix) {
            if in_scope(&e.key) && bound_allows(&start, &e.key) {
                undone.entry(&e.key).or_insert(e.old.as_ref());
            }
        }
        let current = self
            .objects
            .get(prefix)
            .into_iter()
            .flat_map(move |m| m.range((start.clone(), Bound::Unbounded)))
            .take_while(move |(k, _)| in_scope(k))
            .map(|(k, o)| (k, Version::Current(o)));
        Ok(merge(current, undone))
    }
}

fn bound_allows(start: &Bound<Key>, key: &Key) -> bool {
    match start {
        Bound::Excluded(s) => key > s,
        Bound::Included(s) => key >= s,
        Bound::Unbounded => true,
    }
}

/// `current` in key order with `undone` laid over it: an object in both is as `undone` has it,
/// and gone if that is `None`.
fn merge<'a>(
    current: impl Iterator<Item = (&'a Key, Version<'a>)>,
    undone: BTreeMap<&'a Key, Option<&'a Bytes>>,
) -> impl Iterator<Item = (&'a Key, Version<'a>)> {
    let mut current = current.peekable();
    let mut undone = undone.into_iter().peekable();
    std::iter::from_fn(move || {
        loop {
            let from_undone = match (current.peek(), undone.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((c, _)), Some((u, _))) => u <= c,
            };
            if !from_undone {
                return current.next();
            }
            let (key, then) = undone.next()?;
            if current.peek().is_some_and(|(c, _)| *c == key) {
                current.next();
            }
            if let Some(then) = then {
                return Some((key, Version::Past(then)));
            }
        }
    })
}
