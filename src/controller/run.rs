//! The controller's lifetime: serve the endpoints, campaign for the Lease, and while leading,
//! watch the resources and the Secrets they read and reconcile them.

use std::net::SocketAddr;
use std::sync::Arc;

use std::future::Future;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use super::index::Index;
use super::secrets::SecretWatches;
use super::{Context, Settings, Tenancy, accounts, error_policy, number_key, reconcile, reconcile_worthy};
use crate::aws::Aws;
use crate::conditions::types;
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus};
use crate::leader::{Elector, LeaseSettings};
use crate::server::{self, Health};

/// How the process runs: where it serves probes and metrics, and whether it elects a leader.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub http: SocketAddr,
    /// `None` to reconcile without leader election (a single replica).
    pub lease: Option<LeaseSettings>,
}

/// Run until SIGTERM or SIGINT: serve the endpoints, campaign for the lease, and reconcile while
/// leading. On losing the lease, every in-flight reconcile is dropped at once and the replica
/// stands by again; on a signal, in-flight reconciles finish, then the lease is released.
pub async fn run(client: Client, aws: Aws, settings: Settings, runtime: Runtime) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(runtime.http).await?;
    run_until(client, aws, settings, runtime.lease, listener, async {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight reconciles");
    })
    .await;
    Ok(())
}

/// `run`, serving on `listener` and stopping when `shutdown` completes.
pub async fn run_until(
    client: Client,
    aws: Aws,
    settings: Settings,
    lease: Option<LeaseSettings>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut settings = settings;
    if settings.installation.is_none() {
        let mut stopping = stop.clone();
        tokio::select! {
            name = until_answered("name this installation", || installation_name(&client)) => settings.installation = Some(name),
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
    tracing::info!(
        installation = settings.installation.as_deref().unwrap_or_default(),
        "recording this installation on the user pools it manages"
    );
    let namespace = std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| client.default_namespace().to_string());
    if settings.number_ids.is_none() {
        let name = settings.number_id_key_secret.clone();
        let load = || number_key::load_or_create(&client, &namespace, &name);
        let mut stopping = stop.clone();
        tokio::select! {
            ids = until_answered("read the key of phone-number identifiers", load) => settings.number_ids = Some(ids),
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
    let (tenancy, watching) = Tenancy::start(
        &client,
        aws,
        settings.allow_operator_identity,
        &namespace,
        settings.installation.as_deref().unwrap_or_default(),
    );
    let watching = tokio::spawn(watching);
    let ctx = Arc::new(Context::new(client.clone(), tenancy, settings));
    let health = Arc::new(Health::default());
    let http = tokio::spawn(server::serve(
        listener,
        server::router(health.clone(), ctx.metrics.clone()),
        stop.clone(),
    ));
    let (campaign, leading) = Campaign::start(&client, lease);
    lead_while_elected(&client, &ctx, &health, leading, stop).await;
    health.set_ready(false);
    campaign.stop().await;
    watching.abort();
    let _ = http.await;
    tracing::info!("stopped");
}

/// The value of `ask`, asked again with a growing delay (1 s doubling up to 60 s) until it
/// answers: what the operator cannot start without, and may get once the API server is up or
/// RBAC is fixed.
async fn until_answered<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut ask: impl FnMut() -> F,
) -> T {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        match ask().await {
            Ok(answer) => return answer,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "cannot {what} yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(60));
            }
        }
    }
}

/// This installation's default name: the cluster's identity (the uid of its `kube-system`
/// namespace, which lives as long as the cluster) and the operator's namespace.
async fn installation_name(client: &Client) -> Result<String, String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let own = std::env::var("POD_NAMESPACE").ok().filter(|n| !n.is_empty());
    let ns = namespaces.get("kube-system").await.map_err(|e| {
        format!("{e}: reading namespace kube-system names this installation; set --installation to name it yourself")
    })?;
    let cluster = ns
        .uid()
        .filter(|uid| !uid.is_empty())
        .ok_or("namespace kube-system has no uid to name this installation by; set --installation")?;
    Ok(match own {
        Some(own) => format!("{cluster}/{own}"),
        None => cluster,
    })
}

/// Leader election, or its absence: the channel says whether this replica leads.
enum Campaign {
    Elector(watch::Sender<bool>, tokio::task::JoinHandle<()>),
    /// Without election this replica always leads; the sender keeps the channel open.
    AlwaysLeading {
        _open: watch::Sender<bool>,
    },
}

impl Campaign {
    fn start(client: &Client, lease: Option<LeaseSettings>) -> (Self, watch::Receiver<bool>) {
        let (leading_tx, leading) = watch::channel(lease.is_none());
        let campaign = match lease {
            Some(lease) => {
                tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "campaigning for the leader lease");
                let (stop_tx, stop) = watch::channel(false);
                let task = tokio::spawn(Elector::new(client.clone(), lease).run(leading_tx, stop));
                Campaign::Elector(stop_tx, task)
            }
            None => Campaign::AlwaysLeading { _open: leading_tx },
        };
        (campaign, leading)
    }

    /// Stop campaigning; a leader releases the Lease.
    async fn stop(self) {
        if let Campaign::Elector(stop_tx, task) = self {
            let _ = stop_tx.send(true);
            let _ = task.await;
        }
    }
}

/// Reconcile during each leadership term until `stop`.
async fn lead_while_elected(
    client: &Client,
    ctx: &Arc<Context>,
    health: &Arc<Health>,
    mut leading: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    let mut stopping = stop.clone();
    loop {
        health.set_ready(!*leading.borrow());
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            became = leading.wait_for(|l| *l) => if became.is_err() {
                tracing::error!("leader election stopped unexpectedly");
                break;
            },
        }
        ctx.metrics.leader.set(1);
        health.set_ready(false);
        // Another leader may have written status meanwhile: start from the cluster's.
        ctx.known.clear();
        let term = lead(client.clone(), ctx.clone(), health.clone(), stop.clone());
        tokio::select! {
            // Ends only once a stop signal has drained in-flight reconciles.
            _ = term => {
                ctx.metrics.leader.set(0);
                break;
            }
            lost = leading.wait_for(|l| !*l) => {
                // Dropping the controllers cancels every in-flight reconcile: no more writes.
                ctx.metrics.leader.set(0);
                if lost.is_err() {
                    tracing::error!("leader election stopped unexpectedly: reconciling stopped");
                    break;
                }
                tracing::warn!("no longer the leader: reconciling stopped, standing by");
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// One leadership term: watch and reconcile until `stop` (then drain in-flight reconciles).
async fn lead(client: Client, ctx: Arc<Context>, health: Arc<Health>, stop: watch::Receiver<bool>) {
    let scopes: Vec<Option<String>> = if ctx.settings.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.settings.namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = vec![];
    let mut readers = vec![];
    // Wakes the resource that takes over a pool, in the controller of its own watch scope.
    let (wake, woken): (Vec<_>, Vec<_>) = scopes.iter().map(|_| futures::channel::mpsc::unbounded()).unzip();
    let wake = Arc::new(wake);
    for ((scope, ns), woken) in scopes.into_iter().enumerate().zip(woken) {
        let waking = wake.clone();
        let (reader, writer) = reflector::store();
        let (secret_watches, secret_changes) = SecretWatches::new(client.clone());
        let indexed = ctx.clone();
        let caching = ctx.clone();
        let stream = watcher(
            api_in::<CognitoSmsConfig>(&client, ns.as_deref()),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff()
        .modify(move |obj| {
            // A status computed earlier is forgotten once the cluster shows it, before the
            // cache drops status.
            caching.known.seen(obj);
            trim(obj);
        })
        .reflect(writer)
        .inspect_ok(move |event| {
            let placed = |ns: &str| indexed.tenancy.account_of(ns);
            let changed = indexed.index.apply_placed(scope, event, &placed);
            for uid in &changed.removed {
                indexed.schedule.unwatch(uid);
            }
            for uid in &changed.added {
                indexed.schedule.watch(uid);
            }
            for (scope, manager) in changed.new_managers {
                if let Some(wake) = waking.get(scope) {
                    let _ = wake.unbounded_send(manager);
                }
            }
            follow_secrets(&secret_watches, &indexed.index, event);
        })
        .applied_objects()
        .predicate_filter(reconcile_worthy, Default::default());
        readers.push(reader.clone());
        let moved = moved_resources(&ctx, reader.clone());
        let woken = futures::stream::select(woken, moved);
        controllers.push(Box::pin(control(&ctx, &stop, reader, stream, secret_changes, woken)));
    }
    controllers.push(Box::pin(accounts::control(ctx.clone(), readers.clone(), stop.clone())));
    let established = async move {
        for r in readers {
            let _ = r.wait_until_ready().await;
        }
        health.set_ready(true);
        tracing::info!("watches established");
    };
    let mut all = std::pin::pin!(futures::future::join_all(controllers));
    tokio::select! {
        _ = &mut all => return,
        _ = established => {}
    }
    all.await;
}

/// The resources of `reader` that a change of a `CognitoSmsAccount` or of a namespace's labels may
/// move to another account: reconciled at once, so that the change takes effect.
fn moved_resources(
    ctx: &Arc<Context>,
    reader: Store<CognitoSmsConfig>,
) -> impl Stream<Item = kube::runtime::reflector::ObjectRef<CognitoSmsConfig>> + Send + 'static {
    let tenancy = ctx.tenancy.clone();
    ctx.tenancy.moves().flat_map(move |moved| {
        let resources = reader.state();
        let refs: Vec<_> = tenancy.moved_by(&moved, &resources).collect();
        futures::stream::iter(refs)
    })
}

/// Keep in the cache only what scheduling, the index and the readiness metrics read: the
/// reflector holds every resource for the life of the process. Managed fields, kubectl's
/// last-applied copy of the spec and the status (its conditions' messages above all) are most of
/// an object's size; of the status only the `Ready` condition's status and reason, the pool
/// the resource manages and the `CognitoSmsAccount` that selected it are kept. A reconcile reads the whole
/// resource from the API server.
fn trim(obj: &mut CognitoSmsConfig) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    if let Some(status) = obj.status.take() {
        let ready = status.conditions.into_iter().find(|c| c.type_ == types::READY);
        obj.status = Some(CognitoSmsConfigStatus {
            conditions: ready
                .map(|c| Condition {
                    message: String::new(),
                    ..c
                })
                .into_iter()
                .collect(),
            managed_user_pool_id: status.managed_user_pool_id,
            account: status.account.map(|a| crate::crd::SelectedAccount {
                selected_by: a.selected_by,
                account_id: a.account_id,
                role_arn: None,
            }),
            ..Default::default()
        });
    }
}

/// Watch Secrets in the namespace of a resource that changed while a resource there needs codes.
fn follow_secrets(watches: &SecretWatches, index: &Index, event: &watcher::Event<CognitoSmsConfig>) {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::Delete(obj) | watcher::Event::InitApply(obj) => {
            let ns = obj.namespace().unwrap_or_default();
            watches.follow(&ns, index.needs_codes(&ns));
        }
        watcher::Event::InitDone => watches.retain(|ns| index.needs_codes(ns)),
        watcher::Event::Init => {}
    }
}

/// The API of `K` in namespace `ns`, or in all namespaces.
fn api_in<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The controller of one watch scope: reconciles its resources, those reading a Secret whenever
/// the Secret changes, and those `woken` (a pool they name lost its manager), until `stop`
/// (then drains in-flight reconciles).
fn control<S, T, W>(
    ctx: &Arc<Context>,
    stop: &watch::Receiver<bool>,
    reader: Store<CognitoSmsConfig>,
    resources: S,
    secret_changes: T,
    woken: W,
) -> impl Future<Output = ()> + use<S, T, W>
where
    S: Stream<Item = Result<CognitoSmsConfig, watcher::Error>> + Send + 'static,
    T: Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static,
    W: Stream<Item = kube::runtime::reflector::ObjectRef<CognitoSmsConfig>> + Send + 'static,
{
    let indexed = ctx.clone();
    let mut stop = stop.clone();
    // No bound here: a reconcile waits for a slot of its own account (see `reconcile`), so that
    // one account's backlog never holds every slot.
    let config = controller::Config::default().concurrency(0);
    Controller::for_stream(resources, reader)
        .with_config(config)
        .watches_stream(secret_changes, move |secret: PartialObjectMeta<Secret>| {
            indexed
                .index
                .reading(&secret.namespace().unwrap_or_default(), &secret.name_any())
        })
        .reconcile_on(woken)
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile did not complete"),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::ConditionStatus;
    use crate::testing::{ResourceFixture, resource};
    use serde_json::json;

    #[test]
    fn the_cache_keeps_of_the_status_only_whether_the_resource_is_ready() {
        let status: CognitoSmsConfigStatus = serde_json::from_value(json!({
            "externalId": "e",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "account": {"accountId": "222222222222", "roleArn": "arn:aws:iam::222222222222:role/ops", "selectedBy": "payments"},
            "conditions": [
                {"type": "SandboxExited", "status": "False", "reason": "InSandbox", "message": "long text",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": "False", "reason": "WaitingForRole", "message": "more text",
                 "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
            ],
        }))
        .unwrap();
        let mut obj = resource("app", json!({"userPoolId": "us-east-1_Abc"})).with_status(status);
        obj.annotations_mut()
            .insert("kubectl.kubernetes.io/last-applied-configuration".into(), "{}".into());
        obj.annotations_mut().insert("team".into(), "a".into());
        trim(&mut obj);

        let kept = obj.status.as_ref().unwrap();
        assert_eq!(kept.external_id, None);
        assert_eq!(kept.role_arn, None);
        assert_eq!(kept.conditions.len(), 1);
        assert_eq!(
            crate::plan::tenancy::acted_account(&obj),
            Some("222222222222"),
            "the account it acted in, which the index files it under"
        );
        assert_eq!(
            (
                obj.ready(),
                kept.conditions[0].reason.as_str(),
                kept.conditions[0].message.as_str()
            ),
            (ConditionStatus::False, "WaitingForRole", "")
        );
        assert_eq!(obj.annotations().len(), 1, "{:?}", obj.annotations());
        assert_eq!(obj.spec.user_pool_id, "us-east-1_Abc");

        let mut new = resource("new", json!({"userPoolId": "us-east-1_Abc"}));
        trim(&mut new);
        assert_eq!(new.status, None, "a resource without status stays without");
    }
}
