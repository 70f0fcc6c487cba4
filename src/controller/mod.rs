//! The Kubernetes side: watch `CognitoSmsConfig` resources, run the shared reconcile under a
//! finalizer, write status, publish Events, and decide when to look again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::RwLock;

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use tokio::sync::watch;

use crate::leader::{Elector, LeaseSettings};
use crate::metrics::{Metrics, Outcome, OutcomeLabels, ReadinessCounts};
use crate::server::{self, Health};

use crate::aws::{Aws, AwsError};
use crate::crd::{CognitoSmsConfig, FINALIZER};
use crate::reconcile::{self, Env, Mode, Requeue, SecretCode, SecretSource};
use crate::sns::Code;
use crate::sns_cache::SnsCache;

/// Field manager for every write the operator makes.
pub const MANAGER: &str = "cognito-sms-operator";
/// Give up retrying a cleanup that keeps failing on a recoverable AWS error after this many
/// attempts, so that deleting a resource never hangs on AWS.
const CLEANUP_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("resource has no namespace")]
    MissingNamespace,
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("cleanup in AWS: {0}")]
    Cleanup(#[source] AwsError),
}

impl Error {
    /// Bounded label for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingNamespace => "invalid_object",
            Error::Kube(_) => "kubernetes",
            Error::Finalizer(_) => "finalizer",
            Error::Cleanup(_) => "aws_cleanup",
        }
    }
}

/// Exponential backoff with full jitter, per object.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before the `attempt`-th retry (1-based): uniformly random in [d/2, d] where
    /// d = min(base * 2^(attempt-1), max), so retries spread out and never storm.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespaces to watch; empty for all.
    pub namespaces: Vec<String>,
    /// How often a resource is reconciled when nothing changes, to repair drift made in AWS.
    pub resync: Duration,
    pub backoff: Backoff,
    /// How long the account's SNS state in a region is reused across resources.
    pub sns_cache_ttl: Duration,
}

/// Kubernetes API access the operator needs, as (API group, resource, verbs). The Helm chart's
/// RBAC rules are checked against this list, and the mock API tests check every call against it.
pub const KUBE_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    // Watch the resources; add and remove the finalizer (JSON patch).
    ("cognitosms.io", "cognitosmsconfigs", &["get", "list", "watch", "patch"]),
    // Write status (server-side apply).
    ("cognitosms.io", "cognitosmsconfigs/status", &["patch"]),
    // Needed where OwnerReferencesPermissionEnforcement guards finalizer changes.
    ("cognitosms.io", "cognitosmsconfigs/finalizers", &["update"]),
    // Watch Secret metadata to act on new codes at once; read a Secret when a code is needed.
    ("", "secrets", &["get", "list", "watch"]),
    // Publish events and update their series.
    ("events.k8s.io", "events", &["create", "patch"]),
    // Leader election.
    ("coordination.k8s.io", "leases", &["get", "create", "update"]),
];

/// The watched resources of the current leadership term.
#[derive(Debug, Clone, Default)]
pub struct Stores(Arc<RwLock<Vec<Store<CognitoSmsConfig>>>>);

impl Stores {
    fn replace(&self, stores: Vec<Store<CognitoSmsConfig>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = stores;
    }

    fn all(&self) -> Vec<Store<CognitoSmsConfig>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ReadinessCounts for Stores {
    fn readiness(&self) -> (i64, i64, i64) {
        let (mut ready, mut not_ready, mut unknown) = (0, 0, 0);
        for obj in self.all().iter().flat_map(|s| s.state()) {
            match obj
                .condition(crate::conditions::types::READY)
                .map(|c| c.status.as_str())
            {
                Some("True") => ready += 1,
                Some("False") => not_ready += 1,
                _ => unknown += 1,
            }
        }
        (ready, not_ready, unknown)
    }
}

pub struct Context {
    pub client: Client,
    pub aws: Aws,
    pub sns: Arc<SnsCache>,
    pub recorder: Recorder,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Every watched resource, to know which sandbox numbers other resources list.
    stores: Stores,
    failures: Mutex<HashMap<ObjectRef<CognitoSmsConfig>, u32>>,
}

impl Context {
    pub fn new(client: Client, aws: Aws, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let sns = Arc::new(SnsCache::new(settings.sns_cache_ttl));
        let stores = Stores::default();
        let metrics = Arc::new(Metrics::new(aws.calls.clone(), sns.clone(), Arc::new(stores.clone())));
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            sns,
            settings,
            metrics,
            stores,
            failures: Mutex::default(),
        }
    }

    fn claimed_elsewhere(&self, obj: &CognitoSmsConfig) -> HashSet<String> {
        claimed_by_others(&self.stores.all(), obj)
    }

    fn env<'a>(&'a self, secrets: &'a KubeSecrets, claimed: &'a HashSet<String>) -> Env<'a, KubeSecrets> {
        Env {
            aws: &self.aws,
            sns: &self.sns,
            secrets,
            claimed_elsewhere: claimed,
        }
    }

    fn next_failure(&self, obj: &CognitoSmsConfig) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(ObjectRef::from_obj(obj)).or_default();
        *n += 1;
        *n
    }

    fn clear_failures(&self, obj: &CognitoSmsConfig) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ObjectRef::from_obj(obj));
    }

    async fn publish(&self, obj: &CognitoSmsConfig, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// What makes a resource worth reconciling again: its spec (generation), its deletion and its
/// finalizers. The operator's own status writes do not qualify, so they never loop.
fn reconcile_worthy(obj: &CognitoSmsConfig) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.metadata.generation.hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    obj.finalizers().hash(&mut h);
    Some(h.finish())
}

/// Reconcile one object: the finalizer first, then Apply or Cleanup. Counted and timed.
pub async fn reconcile(obj: Arc<CognitoSmsConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = reconcile_inner(obj, ctx.clone()).await;
    ctx.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok((_, true)) => Outcome::Ready,
        Ok((_, false)) => Outcome::NotReady,
        Err(_) => Outcome::Error,
    };
    ctx.metrics.reconciles.get_or_create(&OutcomeLabels { outcome }).inc();
    result.map(|(action, _)| action)
}

/// The action, and whether the resource is Ready after it.
async fn reconcile_inner(obj: Arc<CognitoSmsConfig>, ctx: Arc<Context>) -> Result<(Action, bool), Error> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<CognitoSmsConfig> = Api::namespaced(ctx.client.clone(), &ns);
    let ready = std::sync::atomic::AtomicBool::new(false);
    let action = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => {
                let (action, is_ready) = apply(obj, &api, &ctx).await?;
                ready.store(is_ready, std::sync::atomic::Ordering::Relaxed);
                Ok(action)
            }
            Finalizer::Cleanup(obj) => cleanup(obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    Ok((action, ready.load(std::sync::atomic::Ordering::Relaxed)))
}

/// Verification codes from Secrets in the resource's namespace, read when needed.
pub struct KubeSecrets(Api<Secret>);

impl SecretSource for KubeSecrets {
    async fn code(&self, name: &str, key: &str) -> Result<Option<SecretCode>, String> {
        let secret = self.0.get_opt(name).await.map_err(|e| match e {
            kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
            other => other.to_string(),
        })?;
        let Some(secret) = secret else { return Ok(None) };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned());
        Ok(value.as_deref().and_then(Code::new).map(|code| SecretCode {
            code,
            version: secret.metadata.resource_version.clone(),
        }))
    }
}

async fn apply(
    obj: Arc<CognitoSmsConfig>,
    api: &Api<CognitoSmsConfig>,
    ctx: &Context,
) -> Result<(Action, bool), Error> {
    let secrets = KubeSecrets(Api::namespaced(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
    ));
    let claimed = ctx.claimed_elsewhere(&obj);
    let outcome = reconcile::reconcile(&ctx.env(&secrets, &claimed), &obj, Mode::Apply, Timestamp::now()).await;
    for change in &outcome.changes {
        tracing::info!(change = %change, "changed AWS");
        ctx.publish(&obj, EventType::Normal, change.event_reason(), change.to_string())
            .await;
    }
    if let Some(problem) = outcome.problem().filter(|c| c.status == "False") {
        tracing::warn!(reason = %problem.reason, message = %problem.message, "not ready");
        ctx.publish(&obj, EventType::Warning, &problem.reason, problem.message.clone())
            .await;
    }
    let patch = json!({
        "apiVersion": CognitoSmsConfig::api_version(&()),
        "kind": CognitoSmsConfig::kind(&()),
        "status": outcome.status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    let ready = outcome.problem().is_none();
    let action = match outcome.requeue {
        Requeue::Resync => {
            ctx.clear_failures(&obj);
            Action::requeue(ctx.settings.resync)
        }
        Requeue::Backoff => Action::requeue(ctx.settings.backoff.delay(ctx.next_failure(&obj))),
    };
    Ok((action, ready))
}

async fn cleanup(obj: Arc<CognitoSmsConfig>, ctx: &Context) -> Result<Action, Error> {
    let secrets = KubeSecrets(Api::namespaced(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
    ));
    let claimed = ctx.claimed_elsewhere(&obj);
    match reconcile::cleanup(&ctx.env(&secrets, &claimed), &obj, Mode::Apply).await {
        Ok(done) => {
            for change in &done.changes {
                ctx.publish(&obj, EventType::Normal, change.event_reason(), change.to_string())
                    .await;
            }
            for (reason, note) in done.kept {
                ctx.publish(&obj, EventType::Warning, reason, note).await;
            }
            ctx.clear_failures(&obj);
            Ok(Action::await_change())
        }
        Err(e) if !e.kind.is_terminal() && ctx.next_failure(&obj) < CLEANUP_ATTEMPTS => Err(Error::Cleanup(e)),
        Err(e) => {
            ctx.clear_failures(&obj);
            let note = format!("deletion policy not applied, AWS left as it is: {e}");
            ctx.publish(&obj, EventType::Warning, "CleanupFailed", note).await;
            Ok(Action::await_change())
        }
    }
}

pub fn error_policy(obj: Arc<CognitoSmsConfig>, error: &Error, ctx: Arc<Context>) -> Action {
    let attempt = ctx.next_failure(&obj);
    let delay = ctx.settings.backoff.delay(attempt);
    tracing::warn!(category = error.category(), error = %error, attempt, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

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
    let ctx = Arc::new(Context::new(client.clone(), aws, settings));
    let health = Arc::new(Health::default());
    let http = tokio::spawn(server::serve(
        listener,
        server::router(health.clone(), ctx.metrics.clone()),
        stop.clone(),
    ));

    let (leading_tx, mut leading) = watch::channel(lease.is_none());
    // Without election this replica always leads; the sender is kept so the channel stays open.
    let mut always_leading = None;
    let elector = match lease {
        Some(lease) => {
            tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "campaigning for the leader lease");
            let (elector_stop_tx, elector_stop) = watch::channel(false);
            let task = tokio::spawn(Elector::new(client.clone(), lease).run(leading_tx, elector_stop));
            Some((elector_stop_tx, task))
        }
        None => {
            always_leading = Some(leading_tx);
            None
        }
    };

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
    health.set_ready(false);
    if let Some((elector_stop_tx, task)) = elector {
        let _ = elector_stop_tx.send(true);
        let _ = task.await;
    }
    drop(always_leading);
    let _ = http.await;
    tracing::info!("stopped");
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
    let mut streams = vec![];
    let mut readers = vec![];
    for ns in &scopes {
        let (reader, writer) = reflector::store();
        let api: Api<CognitoSmsConfig> = match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let stream = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .predicate_filter(reconcile_worthy, Default::default());
        readers.push(reader.clone());
        streams.push((ns.clone(), stream, reader));
    }
    ctx.stores.replace(readers.clone());
    let established = async move {
        for r in readers {
            let _ = r.wait_until_ready().await;
        }
        health.set_ready(true);
        tracing::info!("watches established");
    };
    let controllers = streams.into_iter().map(|(ns, stream, reader)| {
        // Metadata only: the operator reads a Secret's data when it needs a code, and never keeps it.
        let secrets: Api<PartialObjectMeta<Secret>> = match &ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let index = reader.clone();
        let secret_changes = watcher(secrets, watcher::Config::default())
            .default_backoff()
            .touched_objects();
        let mut stop = stop.clone();
        Controller::for_stream(stream, reader)
            .watches_stream(secret_changes, move |secret: PartialObjectMeta<Secret>| {
                referencing(&index, &secret)
            })
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
    });
    let mut all = std::pin::pin!(futures::future::join_all(controllers));
    tokio::select! {
        _ = &mut all => return,
        _ = established => {}
    }
    all.await;
}

/// Sandbox numbers listed by the other resources that use the same SNS region (the operator
/// works in one AWS account, so the same region means the same sandbox list).
fn claimed_by_others(stores: &[Store<CognitoSmsConfig>], obj: &CognitoSmsConfig) -> HashSet<String> {
    let Some(region) = reconcile::sns_region_of(obj) else {
        return HashSet::new();
    };
    let me = ObjectRef::from_obj(obj);
    stores
        .iter()
        .flat_map(|s| s.state())
        .filter(|other| ObjectRef::from_obj(other.as_ref()) != me)
        .filter(|other| reconcile::sns_region_of(other).as_deref() == Some(region.as_str()))
        .flat_map(|other| {
            other
                .spec
                .sandbox_phone_numbers
                .iter()
                .map(|n| n.phone_number.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The resources that take verification codes from `secret`.
fn referencing(
    store: &Store<CognitoSmsConfig>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<CognitoSmsConfig>> {
    let (ns, name) = (secret.namespace(), secret.name_any());
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == ns)
        .filter(|r| {
            r.spec
                .sandbox_phone_numbers
                .iter()
                .any(|n| n.verification_code_ref.name == name)
        })
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str, pool: &str, numbers: &[(&str, &str)]) -> CognitoSmsConfig {
        let numbers: Vec<_> = numbers
            .iter()
            .map(|(n, secret)| json!({"phoneNumber": n, "verificationCodeRef": {"name": secret, "key": "code"}}))
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"userPoolId": pool, "sandboxPhoneNumbers": numbers}
        }))
        .unwrap()
    }

    fn store_of(objs: &[CognitoSmsConfig]) -> Store<CognitoSmsConfig> {
        let (reader, mut writer) = reflector::store();
        for o in objs {
            writer.apply_watcher_event(&watcher::Event::Apply(o.clone()));
        }
        reader
    }

    #[test]
    fn a_secret_change_wakes_the_resources_that_read_it() {
        let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "codes")]);
        let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "other")]);
        let c = obj("team", "c", "us-east-1_C", &[("+15550000003", "codes")]);
        let store = store_of(&[a.clone(), b, c]);
        let mut secret = PartialObjectMeta::<Secret>::default();
        secret.metadata.name = Some("codes".into());
        secret.metadata.namespace = Some("apps".into());
        assert_eq!(referencing(&store, &secret), vec![ObjectRef::from_obj(&a)]);
    }

    #[test]
    fn numbers_claimed_by_other_resources_in_the_same_region() {
        let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "s")]);
        let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "s")]);
        let c = obj("team", "c", "eu-west-1_C", &[("+15550000003", "s")]);
        let stores = [store_of(&[a.clone(), b, c])];
        assert_eq!(
            claimed_by_others(&stores, &a),
            HashSet::from(["+15550000002".to_string()])
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        for attempt in 1..=30 {
            let d = b.delay(attempt);
            let ceiling = Duration::from_secs(2)
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(b.max);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| b.delay(5)).collect();
        assert!(spread.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn status_writes_do_not_trigger_reconciles() {
        let obj: CognitoSmsConfig = serde_json::from_value(json!({
            "apiVersion": "cognitosms.io/v1alpha1", "kind": "CognitoSmsConfig",
            "metadata": {"name": "a", "namespace": "n", "generation": 1, "resourceVersion": "1"},
            "spec": {"userPoolId": "eu-west-1_Abc"}
        }))
        .unwrap();
        let mut with_status = obj.clone();
        with_status.status = Some(Default::default());
        with_status.metadata.resource_version = Some("2".into());
        assert_eq!(reconcile_worthy(&obj), reconcile_worthy(&with_status));
        let mut newer = obj.clone();
        newer.metadata.generation = Some(2);
        assert_ne!(reconcile_worthy(&obj), reconcile_worthy(&newer));
        let mut deleting = obj.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()));
        assert_ne!(reconcile_worthy(&obj), reconcile_worthy(&deleting));
    }
}
