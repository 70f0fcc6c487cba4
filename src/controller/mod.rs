//! The Kubernetes driver: watch `CognitoSmsConfig` resources, run the shared reconcile (under a
//! finalizer when deleting the resource has something to do in AWS), write status, publish
//! Events, and decide when to look again.

mod accounts;
mod events;
mod finalizer;
mod index;
mod known;
mod number_key;
mod permissions;
mod run;
mod schedule;
mod secrets;
mod settings;
mod slots;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

pub use crate::acting::Tenancy;
pub use permissions::{
    ACCOUNT_PERMISSIONS, EXTERNAL_ID_PERMISSIONS, INSTALLATION_PERMISSIONS, KUBE_PERMISSIONS,
    NUMBER_ID_KEY_PERMISSIONS, SECRET_PERMISSIONS, permissions,
};
pub use run::{Runtime, run, run_until};
pub use schedule::Schedule;
pub use secrets::{KubeSecrets, SecretGrant};
pub use settings::{Backoff, Settings};

use crate::account::NumberIds;
use crate::account_cache::AccountCache;
use crate::aws::{Aws, AwsError};
use crate::conditions::{self, ConditionStatus, types};
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus, RESEND_CODES_ANNOTATION};
use crate::metrics::{ControllerState, ErrorLabels, Metrics, OutcomeLabels, Queue, ReconcileOutcome, Sources};
use crate::plan::{self, tenancy::Acting, tenancy::NotActing};
use crate::reconcile::{self, AwsReads, AwsWrites, Env, Mode, Requeue};
use slots::{Slot, Slots};

/// Field manager for every write the operator makes.
pub const MANAGER: &str = "cognito-sms-operator";
/// Give up retrying a cleanup that keeps failing on a recoverable AWS error after this many
/// attempts, so that deleting a resource never hangs on AWS. They are counted from the moment
/// deletion starts: failures of the resource before it was deleted do not use them up.
pub const CLEANUP_ATTEMPTS: u32 = 5;

/// Which kind of work an attempt was: failures of each are counted on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Apply,
    Cleanup,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("resource has no namespace")]
    MissingNamespace,
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot {action} the finalizer: {source}")]
    Finalizer {
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("cleanup in AWS: {0}")]
    Cleanup(#[source] AwsError),
}

impl Error {
    /// Bounded label for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingNamespace => "invalid_object",
            Error::Kube(_) | Error::Finalizer { .. } => "kubernetes",
            Error::Cleanup(_) => "aws_cleanup",
        }
    }
}

/// The watched resources and their schedule, as the metrics read them: kept up to date as the
/// watch and the reconciles go, so that a scrape costs the same with 10 or 10,000 resources.
#[derive(Debug)]
struct Watched {
    index: Arc<index::Index>,
    schedule: Arc<Schedule>,
}

impl ControllerState for Watched {
    fn readiness(&self) -> (i64, i64, i64) {
        let r = self.index.readiness();
        (r.ready, r.not_ready, r.unknown)
    }

    fn queue(&self) -> Queue {
        self.schedule.queue()
    }
}

pub struct Context {
    pub client: Client,
    /// Which account each resource acts in, and the clients acting there.
    pub tenancy: Arc<Tenancy>,
    pub account_cache: Arc<AccountCache>,
    events: events::Events,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Which resources list which sandbox numbers and read which Secrets, and which are Ready.
    index: Arc<index::Index>,
    /// When each resource is due again.
    schedule: Arc<Schedule>,
    /// Reconciles allowed to run at once in each AWS account, across every namespace watched.
    slots: Slots,
    /// Failed attempts in a row, per resource and phase.
    failures: Mutex<HashMap<(ObjectRef<CognitoSmsConfig>, Phase), u32>>,
    /// The status computed last for each resource in this leadership term.
    known: known::KnownStatuses,
    secret_grant: Arc<SecretGrant>,
    /// How status identifies phone numbers.
    number_ids: NumberIds,
}

impl Context {
    pub fn new(client: Client, tenancy: Arc<Tenancy>, settings: Settings) -> Self {
        let aws = tenancy.operator();
        let account_cache = Arc::new(AccountCache::new(settings.sns_cache_ttl));
        let index = Arc::new(index::Index::default());
        let schedule = Arc::new(Schedule::default());
        let metrics = Arc::new(Metrics::new(Sources {
            calls: aws.calls.clone(),
            limits: tenancy.clone(),
            cache: account_cache.clone(),
            controller: Arc::new(Watched {
                index: index.clone(),
                schedule: schedule.clone(),
            }),
        }));
        Self {
            events: events::Events::new(client.clone(), MANAGER, std::env::var("POD_NAME").ok()),
            client,
            tenancy,
            account_cache,
            metrics,
            failures: Mutex::default(),
            slots: Slots::new(settings.max_concurrent_reconciles),
            known: Default::default(),
            index,
            schedule,
            secret_grant: Arc::new(settings.secret_grant.clone()),
            number_ids: settings.number_ids.clone().unwrap_or_else(NumberIds::ephemeral),
            settings,
        }
    }

    /// What a reconcile of `obj` works with, acting as `acting` says.
    fn env<'a>(
        &'a self,
        aws: &'a Aws,
        acting: Acting,
        obj: &CognitoSmsConfig,
        secrets: &'a KubeSecrets,
        claimed: &'a std::collections::HashSet<crate::account::NumberAt>,
    ) -> Env<'a, AwsReads<'a, KubeSecrets>, AwsWrites<'a>> {
        let installation = self.settings.installation.as_deref().unwrap_or_default();
        Env::aws(
            aws,
            &self.account_cache,
            secrets,
            claimed,
            installation,
            &self.number_ids,
        )
        .with_pool_managed_by(self.index.pool_manager(obj, &acting))
        .acting(acting)
    }

    /// How long until `obj` is resynced: the configured period, lengthened so that resyncing every
    /// pool of its region, in the account `status` says it acted in, spends at most a share of
    /// that account's `UserPoolRead` budget there (every account has the same budgets).
    fn resync_period(&self, obj: &CognitoSmsConfig, status: &CognitoSmsConfigStatus) -> Duration {
        let region = crate::regions::pool_region(&obj.spec.user_pool_id).unwrap_or_default();
        let budget = self.tenancy.operator().limits.budget("cognito-idp", "UserPoolRead");
        let pools = self.index.pools_in(plan::tenancy::account_in(status), region);
        schedule::resync_period(self.settings.resync, pools, budget)
    }

    /// Failed attempts of `phase` so far for `obj`.
    fn failures(&self, obj: &CognitoSmsConfig, phase: Phase) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(&(ObjectRef::from_obj(obj), phase)).copied().unwrap_or(0)
    }

    /// Count one more failed attempt of `phase` for `obj`; the count so far.
    fn next_failure(&self, obj: &CognitoSmsConfig, phase: Phase) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry((ObjectRef::from_obj(obj), phase)).or_default();
        *n += 1;
        *n
    }

    fn clear_failures(&self, obj: &CognitoSmsConfig) {
        let key = ObjectRef::from_obj(obj);
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(o, _), _| *o != key);
    }

    async fn publish(&self, obj: &CognitoSmsConfig, type_: EventType, reason: &str, note: String) {
        if let Err(e) = self.events.publish(obj.object_ref(&()), type_, reason, note).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// What makes a resource worth reconciling again: its spec (generation), a request for new
/// verification codes, and its deletion. The operator's own writes (status, its finalizer) do
/// not qualify, so they never loop; a finalizer someone else removed is put back on the next
/// resync.
fn reconcile_worthy(obj: &CognitoSmsConfig) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.metadata.generation.hash(&mut h);
    obj.annotations().get(RESEND_CODES_ANNOTATION).hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

/// Reconcile one object: Apply, or Cleanup when it is being deleted. Counted and timed.
///
/// It runs once a slot of the account it acts in is free: each account has its own slots, so
/// that the resources of an account waiting for its AWS quota never hold up another account's.
/// Until then this future is small; the reconcile's own, much larger, is made only then.
pub async fn reconcile(obj: Arc<CognitoSmsConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.tenancy.ready().await;
    let account = match ctx.tenancy.account_of(&obj.namespace().unwrap_or_default()) {
        Some(account) => Slot::Account(account),
        // It will make no AWS call at all.
        None => Slot::NoAccount,
    };
    let _slot = ctx.slots.acquire(account).await;
    let started = std::time::Instant::now();
    ctx.schedule.started(&obj);
    let result = Box::pin(reconcile_inner(obj.clone(), ctx.clone())).await;
    ctx.schedule.finished(&obj);
    ctx.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok((_, Ran::Apply { ready: true })) => ReconcileOutcome::Ready,
        Ok((_, Ran::Apply { ready: false })) => ReconcileOutcome::NotReady,
        Ok((_, Ran::Cleanup)) => ReconcileOutcome::CleanedUp,
        Ok((_, Ran::Gone)) => ReconcileOutcome::Gone,
        Err(_) => ReconcileOutcome::Error,
    };
    ctx.metrics.reconciles.get_or_create(&OutcomeLabels { outcome }).inc();
    result.map(|(action, _)| action)
}

/// What one reconcile did.
#[derive(Debug, Clone, Copy)]
enum Ran {
    Apply {
        ready: bool,
    },
    Cleanup,
    /// The resource was gone, or recreated under its name, when it was read; or it is being
    /// deleted and holds nothing of the operator's.
    Gone,
}

/// The action, and what ran.
async fn reconcile_inner(cached: Arc<CognitoSmsConfig>, ctx: Arc<Context>) -> Result<(Action, Ran), Error> {
    let ns = cached.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<CognitoSmsConfig> = Api::namespaced(ctx.client.clone(), &ns);
    let gone = Ok((Action::await_change(), Ran::Gone));
    if cached.metadata.deletion_timestamp.is_some() {
        if finalizer::position(&cached).is_none() {
            return gone;
        }
        let Some(obj) = current(&api, &cached).await? else {
            return gone;
        };
        let action = cleanup(ctx.known.latest(obj.clone()), &ctx).await?;
        if let Some(at) = finalizer::position(&obj) {
            finalizer::remove(&api, &obj, at)
                .await
                .map_err(|source| Error::Finalizer {
                    action: "remove",
                    source,
                })?;
        }
        return Ok((action, Ran::Cleanup));
    }
    let obj = if never_given_status(&ctx, &cached) {
        cached
    } else if let Some(obj) = current(&api, &cached).await? {
        obj
    } else {
        return gone;
    };
    // The finalizer goes on before the first change in AWS, in the same reconcile.
    let obj = match (finalizer::wanted(&obj), finalizer::position(&obj)) {
        (true, None) => Arc::new(
            finalizer::add(&api, &obj)
                .await
                .map_err(|source| Error::Finalizer { action: "add", source })?,
        ),
        (false, Some(at)) => Arc::new(
            finalizer::remove(&api, &obj, at)
                .await
                .map_err(|source| Error::Finalizer {
                    action: "remove",
                    source,
                })?,
        ),
        _ => obj,
    };
    let (action, ready) = apply(obj, &api, &ctx).await?;
    Ok((action, Ran::Apply { ready }))
}

/// Whether the watch shows `cached` without any status, and this leader has computed none for it:
/// a new resource. The cache then holds everything a reconcile reads (`run::trim` drops only
/// managed fields, the last-applied annotation and status), so there is nothing to read back.
/// A new fleet's first reconciles save a request each.
fn never_given_status(ctx: &Context, cached: &CognitoSmsConfig) -> bool {
    cached.status.is_none() && !ctx.known.holds(cached)
}

/// The resource as the API server has it now, status included (the watch cache keeps only what
/// scheduling needs, see `run::trim`); `None` when it is gone or was recreated under its name,
/// which the watch brings as a resource of its own.
async fn current(
    api: &Api<CognitoSmsConfig>,
    cached: &CognitoSmsConfig,
) -> Result<Option<Arc<CognitoSmsConfig>>, Error> {
    let obj = api.get_opt(&cached.name_any()).await?;
    Ok(obj.filter(|o| o.uid() == cached.uid()).map(Arc::new))
}

fn secrets_of(ctx: &Context, obj: &CognitoSmsConfig) -> KubeSecrets {
    KubeSecrets::new(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
        ctx.secret_grant.clone(),
    )
}

/// Bring AWS in line with `stored` (as the API server has it) and write the status if it differs
/// from the stored one. Decisions start from the status this leader computed last.
async fn apply(
    stored: Arc<CognitoSmsConfig>,
    api: &Api<CognitoSmsConfig>,
    ctx: &Context,
) -> Result<(Action, bool), Error> {
    let obj = ctx.known.latest(stored.clone());
    let now = Timestamp::now();
    ctx.tenancy.ready().await;
    let report = match ctx.tenancy.acting_for(&obj).await {
        Ok((aws, acting)) => {
            let secrets = secrets_of(ctx, &obj);
            let claimed = ctx.index.claimed_by_others(&obj, &acting);
            let env = ctx.env(&aws, acting, &obj, &secrets, &claimed);
            let deadline = ctx.settings.reconcile_timeout;
            reconcile::sync_within(&env, &obj, Mode::Apply, now, deadline).await
        }
        Err(why) => plan::tenancy::not_acting(&obj, &why, now),
    };
    let unchanged = stored.status.as_ref() == Some(&report.status);
    // What AWS now looks like is known whether or not the status write below succeeds.
    if unchanged {
        ctx.known.forget(&obj);
    } else {
        ctx.known.remember(&obj, &report.status);
    }
    publish_report(ctx, &obj, &report).await;
    // A resync that finds nothing new writes nothing: no status patch wakes every watcher.
    if !unchanged {
        let patch = json!({
            "apiVersion": CognitoSmsConfig::api_version(&()),
            "kind": CognitoSmsConfig::kind(&()),
            "status": report.status,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    let ready = report.problem().is_none();
    let action = match report.requeue {
        Requeue::Resync => {
            ctx.clear_failures(&obj);
            let after = jittered(ctx.resync_period(&obj, &report.status));
            ctx.schedule.synced(&obj, after);
            Action::requeue(after)
        }
        Requeue::Backoff => {
            let after = ctx.settings.backoff.delay(ctx.next_failure(&obj, Phase::Apply));
            ctx.schedule.retry(&obj, after);
            Action::requeue(after)
        }
    };
    Ok((action, ready))
}

/// Events for what the reconcile changed in AWS, and a Warning when the resource is newly not
/// Ready (or not Ready for a new reason): a resync that finds the same problem says nothing new.
async fn publish_report(ctx: &Context, obj: &CognitoSmsConfig, report: &reconcile::SyncReport) {
    let before = obj.status.as_ref().map(|s| s.regions.as_slice()).unwrap_or_default();
    for (reason, note) in plan::region_changes(before, &report.status.regions, &obj.spec.user_pool_id) {
        tracing::info!(%note, "user pool regions changed");
        ctx.publish(obj, EventType::Normal, reason, note).await;
    }
    let conditions_before = obj.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    // Conditions that warn without holding back Ready: a Warning once, when they turn False.
    for type_ in [types::SPEND_HEADROOM, types::PUMPING_PROTECTION] {
        if let Some(warning) = conditions::newly_false(type_, conditions_before, &report.status.conditions) {
            tracing::warn!(condition = type_, message = %warning.message, "warning condition turned False");
            ctx.publish(obj, EventType::Warning, &warning.reason, warning.message.clone())
                .await;
        }
    }
    for change in &report.changes {
        tracing::info!(change = %change, "changed AWS");
        ctx.publish(obj, EventType::Normal, change.event_reason(), change.to_string())
            .await;
    }
    let Some(problem) = report
        .problem()
        .filter(|c| ConditionStatus::of(c) == ConditionStatus::False)
    else {
        return;
    };
    let before = obj.condition(&problem.type_);
    if before.is_some_and(|b| b.status == problem.status && b.reason == problem.reason && b.message == problem.message)
    {
        tracing::debug!(reason = %problem.reason, "still not ready");
        return;
    }
    tracing::warn!(reason = %problem.reason, message = %problem.message, "not ready");
    ctx.publish(obj, EventType::Warning, &problem.reason, problem.message.clone())
        .await;
}

/// `period`, give or take a tenth, so that resources created together do not all come due in the
/// same second.
fn jittered(period: Duration) -> Duration {
    period.mul_f64(0.9 + 0.2 * rand::random::<f64>())
}

/// Apply the deletion policy in the account `aws` acts in, within the reconcile's deadline.
async fn cleanup_in(
    aws: &Aws,
    acting: Acting,
    obj: &CognitoSmsConfig,
    ctx: &Context,
) -> Result<reconcile::CleanupReport, AwsError> {
    let secrets = secrets_of(ctx, obj);
    let claimed = ctx.index.claimed_by_others(obj, &acting);
    let deadline = ctx.settings.reconcile_timeout;
    let env = ctx.env(aws, acting, obj, &secrets, &claimed);
    let cleanup = tokio::time::timeout(deadline, reconcile::cleanup(&env, obj, Mode::Apply));
    cleanup.await.unwrap_or_else(|_| {
        let why = format!("did not finish within {}", humantime::format_duration(deadline));
        Err(AwsError::new(
            "operator",
            "Cleanup",
            crate::aws::ErrorKind::TimedOut,
            "Timeout",
            why,
        ))
    })
}

async fn cleanup(obj: Arc<CognitoSmsConfig>, ctx: &Context) -> Result<Action, Error> {
    ctx.tenancy.ready().await;
    let result = match ctx.tenancy.acting_for(&obj).await {
        Ok((aws, acting)) => cleanup_in(&aws, acting, &obj, ctx).await,
        Err(NotActing::AssumeRoleFailed(_, e)) => Err(*e),
        Err(why) => {
            let (finding, _) = plan::tenancy::finding(&obj, &why);
            Err(AwsError::new(
                "operator",
                "SelectAccount",
                crate::aws::ErrorKind::InvalidRequest,
                finding.reason,
                finding.message,
            ))
        }
    };
    match result {
        Ok(done) => {
            for change in &done.changes {
                ctx.publish(&obj, EventType::Normal, change.event_reason(), change.to_string())
                    .await;
            }
            for (reason, note) in done.kept {
                ctx.publish(&obj, EventType::Warning, reason, note).await;
            }
            ctx.clear_failures(&obj);
            ctx.known.forget(&obj);
            Ok(Action::await_change())
        }
        // `error_policy` counts this failure; give up on the last of CLEANUP_ATTEMPTS.
        Err(e) if !e.kind.is_terminal() && ctx.failures(&obj, Phase::Cleanup) + 1 < CLEANUP_ATTEMPTS => {
            Err(Error::Cleanup(e))
        }
        Err(e) => {
            ctx.clear_failures(&obj);
            let note = format!("deletion policy not applied, AWS left as it is: {e}");
            ctx.publish(&obj, EventType::Warning, "CleanupFailed", note).await;
            Ok(Action::await_change())
        }
    }
}

pub fn error_policy(obj: Arc<CognitoSmsConfig>, error: &Error, ctx: Arc<Context>) -> Action {
    let phase = match error {
        Error::Cleanup(_) => Phase::Cleanup,
        _ => Phase::Apply,
    };
    let attempt = ctx.next_failure(&obj, phase);
    let delay = ctx.settings.backoff.delay(attempt);
    let category = error.category();
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels { category })
        .inc();
    tracing::warn!(category, error = %error, attempt, retry_in = ?delay, "reconcile failed");
    ctx.schedule.retry(&obj, delay);
    Action::requeue(delay)
}

#[cfg(test)]
mod tests;
