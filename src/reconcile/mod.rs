//! One reconcile of one `CognitoSmsConfig` against AWS, shared by the controller and the one-shot
//! command: observe (every read) → plan (pure) → execute (every write, skipped in a dry run) →
//! the next status. Knows nothing of Kubernetes clients.

mod cleanup;
pub mod execute;
pub mod observe;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use k8s_openapi::jiff::Timestamp;

pub use crate::plan::{Requeue, SecretCode, SecretError, SyncReport};
pub use cleanup::{CleanupReport, NUMBER_RETAINED, ROLE_RETAINED, cleanup};
pub use execute::{AwsWrites, Writes};
pub use observe::{AwsReads, Reads, SecretSource};

use crate::account::{NumberAt, NumberIds};
use crate::account_cache::AccountCache;
use crate::aws::{self as aws, Aws, AwsError};
use crate::crd::CognitoSmsConfig;
use crate::desired::Desired;
use crate::plan;
use crate::plan::tenancy::Acting;
use crate::regions;

/// Whether changes are made or only planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

/// What a reconcile works with besides the resource itself.
pub struct Env<'a, R, W> {
    pub reads: R,
    pub writes: W,
    /// Sandbox numbers that other resources list in the same regions' sandboxes.
    pub claimed_elsewhere: &'a HashSet<NumberAt>,
    /// Which installation of the operator this is, as recorded on the pools it manages.
    pub installation: &'a str,
    /// How status identifies phone numbers, under this installation's key.
    pub number_ids: &'a NumberIds,
    /// The resource (`namespace/name`) of this installation that manages the pool, when it is
    /// not this one: then nothing is read or written in AWS.
    pub pool_managed_by: Option<String>,
    /// The account the reads and writes act in, and how it was chosen.
    pub acting: Acting,
}

impl<'a, S: SecretSource> Env<'a, AwsReads<'a, S>, AwsWrites<'a>> {
    /// The running operator's: AWS, the shared account cache and a source of Secrets.
    pub fn aws(
        aws: &'a Aws,
        cache: &'a AccountCache,
        secrets: &'a S,
        claimed_elsewhere: &'a HashSet<NumberAt>,
        installation: &'a str,
        number_ids: &'a NumberIds,
    ) -> Self {
        Env {
            reads: AwsReads { aws, cache, secrets },
            writes: AwsWrites { aws },
            claimed_elsewhere,
            installation,
            number_ids,
            pool_managed_by: None,
            acting: Acting::OperatorIdentity,
        }
    }
}

impl<R, W> Env<'_, R, W> {
    /// The same, for a resource whose pool `owner` (`namespace/name`) manages.
    pub fn with_pool_managed_by(self, owner: Option<String>) -> Self {
        Env {
            pool_managed_by: owner,
            ..self
        }
    }

    /// The same, acting in the account `acting` chose.
    pub fn acting(self, acting: Acting) -> Self {
        Env { acting, ..self }
    }
}

/// A new external ID: 128 random bits, hex.
pub fn generate_external_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The region whose SMS account state (sandbox, destination numbers) a resource's pool depends
/// on, when its spec is valid: the SNS region, or the pool's own region on the direct path.
pub fn sms_region_of(res: &CognitoSmsConfig) -> Option<String> {
    let spec = &res.spec;
    let direct = spec.end_user_messaging.is_some();
    regions::sms_region(&spec.user_pool_id, spec.sns_region.as_deref(), direct).ok()
}

/// Each sandbox number of a resource whose spec is valid, in the region whose sandbox verifies it.
pub fn numbers_of(res: &CognitoSmsConfig) -> Vec<NumberAt> {
    let Ok(spec) = Desired::parse(res) else {
        return vec![];
    };
    spec.placed_numbers()
        .into_iter()
        .filter_map(|(region, n)| Some(NumberAt::new(region.ok()?, &n.phone_number)))
        .collect()
}

/// [`sync`] within `deadline`, the backstop behind the AWS calls' own timeouts: a reconcile that
/// does not finish in time reports so and is retried with backoff.
pub async fn sync_within<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
    now: Timestamp,
    deadline: std::time::Duration,
) -> SyncReport {
    let progress = Progress::default();
    let report = match tokio::time::timeout(deadline, sync_recording(env, res, mode, now, &progress)).await {
        Ok(report) => report,
        Err(_) => {
            let Some(mut planned) = progress.take() else {
                return plan::timed_out(res, deadline, now);
            };
            // The writes that completed are reported (and remembered in status) as in any
            // reconcile; the one cut off may have taken effect, the rest were not tried.
            planned.cut_off(AwsError::new(
                "operator",
                "Reconcile",
                aws::ErrorKind::TimedOut,
                "Timeout",
                format!(
                    "cut off by the reconcile's deadline ({})",
                    humantime::format_duration(deadline)
                ),
            ));
            let report = conclude(env, res, planned, now);
            plan::cut_off(res, report, deadline, now)
        }
    };
    plan::tenancy::acted_in(res, report, &env.acting, now)
}

/// The plan of a reconcile while it is executed, kept outside it: a reconcile cut off by its
/// deadline still reports, and status remembers, each write it completed.
#[derive(Default)]
struct Progress(std::sync::Mutex<Option<plan::Plan>>);

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<plan::Plan>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self) -> Option<plan::Plan> {
        self.lock().take()
    }
}

/// Reconcile `res` once. Never fails: every problem ends up as a condition in the report.
pub async fn sync<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
    now: Timestamp,
) -> SyncReport {
    let report = sync_recording(env, res, mode, now, &Progress::default()).await;
    plan::tenancy::acted_in(res, report, &env.acting, now)
}

/// [`sync`], executing the plan in `progress`, where each write's outcome is recorded as it
/// completes.
async fn sync_recording<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
    now: Timestamp,
    progress: &Progress,
) -> SyncReport {
    let spec = match Desired::parse(res) {
        Ok(spec) => spec,
        Err(invalid) => return plan::invalid(res, &invalid, now),
    };
    if let Some(owner) = &env.pool_managed_by {
        return plan::claimed(res, &spec, owner, now);
    }
    let observed = observe::observe(&env.reads, res, &spec, env.installation, env.number_ids).await;
    if let Ok(observed) = &observed
        && let Some(report) = plan::owned_elsewhere(res, &spec, observed, env.installation, now)
    {
        return report;
    }
    let inputs = plan::Inputs {
        now,
        fresh_external_id: generate_external_id(),
        claimed_elsewhere: env.claimed_elsewhere,
        installation: env.installation,
        number_ids: env.number_ids,
    };
    let mut planned = plan::plan(res, &spec, observed, &inputs);
    match mode {
        Mode::Apply => {
            *progress.lock() = Some(planned);
            execute::execute(&env.writes, || progress.lock()).await;
            planned = progress
                .take()
                .expect("the plan stays in progress until the reconcile ends");
        }
        Mode::DryRun => planned.dry_run(),
    }
    conclude(env, res, planned, now)
}

/// The report of an executed plan; what is known of the account's SMS state in a region is
/// dropped when a write changed it.
fn conclude<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    planned: plan::Plan,
    now: Timestamp,
) -> SyncReport {
    for (account, region) in planned.touched_account_regions() {
        env.reads.forget_account_sms(account, region);
    }
    planned.conclude(res, now)
}
