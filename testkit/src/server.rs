//! [`StandIn`]: the running server, the kubeconfig that points at it, and what tests do to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::faults::Fault;
use crate::handlers::handle;
use crate::requests::{RequestCount, RequestRecord, is_write};
use crate::resource::load_types;
use crate::store::{Shared, Stats};

/// A running stand-in. Dropping it stops the server.
pub struct StandIn {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    shared: Arc<Shared>,
    _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
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
        let shared = Arc::new(Shared::new(load_types(crd_files)?));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = serve(listener, shared.clone());
        let dir = std::env::temp_dir().join(format!("kube-standin-{}-{}", std::process::id(), addr.port()));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(&kubeconfig, addr, "standin")?;
        Ok(Self {
            addr,
            kubeconfig,
            shared,
            _dir: TempDir(dir),
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fail the next `count` requests matching `verb` and `resource` with `status` (every one
    /// until [`StandIn::clear_faults`] when `count` is 0). See [`Fault`].
    pub fn inject(&self, verb: &str, resource: &str, status: u16, count: u32) {
        self.inject_fault(Fault::failing(verb, resource, status).times(count));
    }

    /// Add a fault: failing or holding matching requests (see [`Fault`]). Every fault a request
    /// matches applies: their holds add up, and the first added with a status fails it.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.faults.add(fault);
    }

    /// Remove every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// End every open watch connection, as a restarting API server or a flaky network would.
    pub fn drop_watches(&self) {
        self.shared.drop_watches();
    }

    /// Answer nothing for `d`, as an unresponsive API server: requests wait, and open watches
    /// send nothing (they resume afterwards, or end at their timeout). A new pause replaces the
    /// one on; `pause(Duration::ZERO)` ends it.
    pub fn pause(&self, d: Duration) {
        self.shared.faults.pause(d);
    }

    /// An object as stored, by `group/plural` (e.g. `cognitosms.io/cognitosmsconfigs`, or
    /// `/secrets` for the core group), namespace ("" for cluster-scoped) and name.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_string(), name.to_string());
        self.shared.lock().get(plural, &key).map(|o| (*o.value).clone())
    }

    /// Forget watch history up to now, so that resuming an older watch (or continuing an older
    /// paged list) gets `410 Gone`.
    pub fn compact(&self) {
        self.shared.lock().compact();
    }

    /// The requests served (the last [`crate::LOG_CAPACITY`]), in the order they were answered.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.records(Duration::ZERO)
    }

    /// Forget the requests served so far, and their counts.
    pub fn clear_requests(&self) {
        self.shared.requests.clear();
    }

    /// How many requests of each verb to each resource got each status code, since the start
    /// or [`StandIn::clear_requests`] (not limited to what the log keeps).
    pub fn request_counts(&self) -> Vec<RequestCount> {
        self.shared.requests.counts()
    }

    /// Successful writes (create, update, patch, delete answered 2xx) per resource, named
    /// `group/plural[/subresource]` (`/secrets` for the core group), from
    /// [`StandIn::request_counts`].
    pub fn writes(&self) -> BTreeMap<String, u64> {
        let mut writes = BTreeMap::new();
        let counts = self.request_counts();
        for c in counts
            .into_iter()
            .filter(|c| (200..300).contains(&c.code) && is_write(&c.verb))
        {
            *writes.entry(c.resource).or_default() += c.count;
        }
        writes
    }

    /// The current resourceVersion, the objects and history kept, and what watches did.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A kubeconfig for this server whose client is `identity` (its bearer token, which the
    /// stand-in takes as the user's name), so that the request log attributes its requests.
    pub fn kubeconfig_as(&self, identity: &str) -> std::io::Result<PathBuf> {
        let dir = self.kubeconfig.parent().unwrap_or(Path::new("."));
        let path = dir.join(format!("kubeconfig-{identity}"));
        write_kubeconfig(&path, self.addr, identity)?;
        Ok(path)
    }
}

impl Drop for StandIn {
    /// Stop accepting connections and end the open watches, so that the server's task ends
    /// once the requests in flight are answered.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.drop_watches();
    }
}

/// Serve on `listener` in the background until the returned sender is used or dropped.
fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> oneshot::Sender<()> {
    let app = Router::new().fallback(handle).with_state(shared);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    stop_tx
}

/// A kubeconfig for the server at `addr`, with `token` (any passes) and `default` namespace.
fn write_kubeconfig(path: &Path, addr: SocketAddr, token: &str) -> std::io::Result<()> {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: standin\n  user:\n    token: {token}\ncontexts:\n- name: standin\n  context:\n    \
             cluster: standin\n    user: standin\n    namespace: default\ncurrent-context: standin\n"
        ),
    )
}
