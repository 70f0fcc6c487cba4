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

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;

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

pub struct Context {
    pub client: Client,
    pub aws: Aws,
    pub sns: SnsCache,
    pub recorder: Recorder,
    pub settings: Settings,
    /// Every watched resource, to know which sandbox numbers other resources list.
    stores: Vec<Store<CognitoSmsConfig>>,
    failures: Mutex<HashMap<ObjectRef<CognitoSmsConfig>, u32>>,
}

impl Context {
    pub fn new(client: Client, aws: Aws, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            sns: SnsCache::new(settings.sns_cache_ttl),
            settings,
            stores: vec![],
            failures: Mutex::default(),
        }
    }

    fn claimed_elsewhere(&self, obj: &CognitoSmsConfig) -> HashSet<String> {
        claimed_by_others(&self.stores, obj)
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

/// Reconcile one object: the finalizer first, then Apply or Cleanup.
pub async fn reconcile(obj: Arc<CognitoSmsConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<CognitoSmsConfig> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(obj, &api, &ctx).await,
            Finalizer::Cleanup(obj) => cleanup(obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
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

async fn apply(obj: Arc<CognitoSmsConfig>, api: &Api<CognitoSmsConfig>, ctx: &Context) -> Result<Action, Error> {
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
    Ok(match outcome.requeue {
        Requeue::Resync => {
            ctx.clear_failures(&obj);
            Action::requeue(ctx.settings.resync)
        }
        Requeue::Backoff => Action::requeue(ctx.settings.backoff.delay(ctx.next_failure(&obj))),
    })
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

/// Run the controller until the process is asked to stop.
pub async fn run(client: Client, aws: Aws, settings: Settings) {
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let mut ctx = Context::new(client.clone(), aws, settings);
    let mut streams = vec![];
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
        ctx.stores.push(reader.clone());
        streams.push((ns.clone(), stream, reader));
    }
    let ctx = Arc::new(ctx);
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
        Controller::for_stream(stream, reader)
            .watches_stream(secret_changes, move |secret: PartialObjectMeta<Secret>| {
                referencing(&index, &secret)
            })
            .shutdown_on_signal()
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                match result {
                    Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
                    Err(e) => tracing::debug!(error = %e, "reconcile did not complete"),
                }
            })
    });
    futures::future::join_all(controllers).await;
}

/// Sandbox numbers listed by the other resources that use the same SNS region (the operator
/// works in one AWS account, so the same region means the same sandbox list).
fn claimed_by_others(stores: &[Store<CognitoSmsConfig>], obj: &CognitoSmsConfig) -> HashSet<String> {
    let Some(region) = reconcile::sns_region_of(obj) else { return HashSet::new() };
    let me = ObjectRef::from_obj(obj);
    stores
        .iter()
        .flat_map(|s| s.state())
        .filter(|other| ObjectRef::from_obj(other.as_ref()) != me)
        .filter(|other| reconcile::sns_region_of(other).as_deref() == Some(region.as_str()))
        .flat_map(|other| other.spec.sandbox_phone_numbers.iter().map(|n| n.phone_number.clone()).collect::<Vec<_>>())
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
        assert_eq!(claimed_by_others(&stores, &a), HashSet::from(["+15550000002".to_string()]));
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
