//! The object store: objects by type, namespace and name, the `resourceVersion` counter every
//! write bumps, uids, and the history of watch events that watches resume from (and that is
//! broadcast to open watches as it happens). The test controls (faults, pause) share its lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::faults::Fault;
use crate::resource::ResourceType;

/// How many watch events are kept for watches that resume from a resourceVersion; older ones get
/// `410 Gone`, as after an etcd compaction.
const EVENT_HISTORY: usize = 1000;

/// `(store prefix, namespace, name)`, the namespace empty for cluster-scoped objects; the
/// prefix is [`ResourceType::store_prefix`].
pub(crate) type Key = (String, String, String);

/// A change to one object, as recorded and as sent to watches.
#[derive(Debug, Clone)]
pub(crate) struct WatchEvent {
    pub(crate) rv: u64,
    /// The store prefix of the object's type.
    pub(crate) plural: String,
    pub(crate) namespace: Option<String>,
    pub(crate) type_: &'static str,
    pub(crate) object: Value,
}

/// Everything behind the one lock.
#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) rv: u64,
    uid: u64,
    pub(crate) objects: BTreeMap<Key, Value>,
    pub(crate) history: VecDeque<WatchEvent>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) paused_until: Option<tokio::time::Instant>,
}

/// The state the server and the [`crate::StandIn`] handle share.
pub(crate) struct Shared {
    pub(crate) types: Vec<ResourceType>,
    inner: Mutex<Inner>,
    /// Every recorded event, to the open watches.
    pub(crate) events: broadcast::Sender<WatchEvent>,
    /// Bumped to end every open watch.
    pub(crate) epoch: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(types: Vec<ResourceType>) -> Self {
        let (events, _) = broadcast::channel(4096);
        let (epoch, _) = watch::channel(0);
        Self {
            types,
            inner: Mutex::default(),
            events,
            epoch,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("state")
    }

    /// End every open watch connection.
    pub(crate) fn drop_watches(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Record a change (made at the current resourceVersion) to an object of the type stored
    /// under `prefix`, for watches now and later.
    pub(crate) fn record(&self, inner: &mut Inner, prefix: String, type_: &'static str, object: &Value) {
        let event = WatchEvent {
            rv: inner.rv,
            plural: prefix,
            namespace: object["metadata"]["namespace"].as_str().map(String::from),
            type_,
            object: object.clone(),
        };
        inner.history.push_back(event.clone());
        while inner.history.len() > EVENT_HISTORY {
            inner.history.pop_front();
        }
        let _ = self.events.send(event);
    }
}

impl Inner {
    /// The next resourceVersion.
    pub(crate) fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Bump the resourceVersion and write it into `obj`.
    pub(crate) fn stamp(&mut self, obj: &mut Value) {
        let rv = self.bump();
        set_resource_version(obj, rv);
    }

    /// A new uid, in the form of a version 4 UUID.
    pub(crate) fn next_uid(&mut self) -> String {
        self.uid += 1;
        format!("00000000-0000-4000-8000-{:012}", self.uid)
    }

    /// The objects of the type stored under `prefix`, in `namespace` or in all of them.
    pub(crate) fn objects_in<'a>(
        &'a self,
        prefix: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |((p, ns, _), _)| p == prefix && namespace.is_none_or(|want| want == ns))
            .map(|(_, o)| o)
    }

    /// Whether a watch from `since` needs events no longer kept.
    pub(crate) fn compacted_since(&self, since: u64) -> bool {
        let oldest_kept = self.history.front().map(|e| e.rv).unwrap_or(self.rv + 1);
        since < self.rv && since + 1 < oldest_kept
    }
}

pub(crate) fn set_resource_version(obj: &mut Value, rv: u64) {
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
}
