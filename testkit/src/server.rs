//! [`StandIn`]: the running server, the kubeconfig that points at it, and what tests do to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::faults::Fault;
use crate::handlers::handle;
use crate::resource::load_types;
use crate::store::Shared;

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
        write_kubeconfig(&kubeconfig, addr)?;
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

    /// Fail the next `count` requests matching `verb` and `resource` with `status`.
    pub fn inject(&self, verb: &str, resource: &str, status: u16, count: u32) {
        self.shared.add_fault(Fault {
            verb: verb.into(),
            resource: resource.into(),
            status,
            count,
        });
    }

    /// End every open watch connection, as a restarting API server or a flaky network would.
    pub fn drop_watches(&self) {
        self.shared.drop_watches();
    }

    /// Answer nothing for `d`: requests wait, as with an unresponsive API server.
    pub fn pause(&self, d: Duration) {
        self.shared.pause(d);
    }

    /// An object as stored, by `group/plural` (e.g. `cognitosms.io/cognitosmsconfigs`, or
    /// `/secrets` for the core group), namespace ("" for cluster-scoped) and name.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.shared.lock();
        inner
            .objects
            .get(&(plural.to_string(), namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Forget watch history up to now, so that resuming an older watch gets `410 Gone`.
    pub fn compact(&self) {
        self.shared.lock().history.clear();
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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

/// A kubeconfig for the server at `addr`, with a token (any passes) and `default` namespace.
fn write_kubeconfig(path: &Path, addr: SocketAddr) -> std::io::Result<()> {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: standin\n  user:\n    token: standin\ncontexts:\n- name: standin\n  context:\n    \
             cluster: standin\n    user: standin\n    namespace: default\ncurrent-context: standin\n"
        ),
    )
}
