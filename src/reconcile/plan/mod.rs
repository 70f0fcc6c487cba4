//! Plan: from the spec, what was observed and the previous status to the ordered changes to
//! make; then, from what became of each change, to the next status. Pure: the clock and the
//! candidate for a new external ID come in as values.

mod account;
mod numbers;
mod role;

use std::collections::HashSet;
use std::ops::Range;

use aws_sdk_cognitoidentityprovider::types::UserPoolType;
use k8s_openapi::jiff::{Timestamp, Unit};

use super::execute::Applied;
use super::observe::{Observed, Read};
use super::{Requeue, SyncReport};
use crate::aws::{AwsError, ErrorKind};
use crate::conditions::{self, Finding, Findings, SmsFindings, reasons};
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus};
use crate::desired::{self, Change, SmsConfig};
use crate::regions::{self, RegionError};

use account::AccountPlan;
use role::{RolePlan, RoleState};

/// Where a valid spec points: the pool's region and the SNS region its SMS go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pool_region: String,
    pub sns_region: String,
}

/// The target of `res`, or why the spec cannot have one. Nothing is read for a resource whose
/// target is invalid.
pub fn target(res: &CognitoSmsConfig) -> Result<Target, RegionError> {
    let spec = &res.spec;
    let sns_region = regions::resolve_sns_region(&spec.user_pool_id, spec.sns_region.as_deref())?;
    let pool_region = regions::pool_region(&spec.user_pool_id).unwrap_or_default().to_string();
    Ok(Target {
        pool_region,
        sns_region,
    })
}

/// What a plan takes besides the resource and the observation.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub now: Timestamp,
    /// The external ID to use if the resource needs a new one (128 random bits, hex).
    pub fresh_external_id: String,
    /// Sandbox numbers that other resources using the same SNS region list.
    pub claimed_elsewhere: &'a HashSet<String>,
}

/// What one reconcile means to do, and how each outcome will be reported.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Everything known before any change is made.
    status: CognitoSmsConfigStatus,
    region: Finding,
    config: ConfigPlan,
    account: AccountPlan,
    changes: Vec<Change>,
    /// Whether what was observed already calls for a retry with backoff.
    requeue: Requeue,
}

/// The role and the pool's SMS configuration.
#[derive(Debug, Clone)]
enum ConfigPlan {
    /// Nothing will be changed; the findings are final.
    Settled { role: Finding, user_pool: Finding },
    /// The role's changes (perhaps none), then the pool's, which need the role.
    Changes {
        role_arn: String,
        role_changes: Range<usize>,
        role_ready: Finding,
        pool: PoolPlan,
    },
}

#[derive(Debug, Clone)]
enum PoolPlan {
    Settled(Finding),
    Update { change: usize, in_sync: Finding },
}

/// Collects whether anything calls for a retry with backoff.
#[derive(Debug, Default)]
struct Tally {
    requeue: Requeue,
}

/// What planning has found so far: the status fields known before any change, the ordered
/// changes, and whether a retry is called for. Each planning step adds to it and returns its
/// own part of the plan.
#[derive(Debug, Default)]
struct Draft {
    status: CognitoSmsConfigStatus,
    changes: Vec<Change>,
    tally: Tally,
}

impl Draft {
    /// Add `changes`; their indices in the plan.
    fn add(&mut self, changes: impl IntoIterator<Item = Change>) -> Range<usize> {
        let first = self.changes.len();
        self.changes.extend(changes);
        first..self.changes.len()
    }
}

impl Tally {
    fn retry(&mut self) {
        self.requeue = Requeue::Backoff;
    }

    /// A recoverable error calls for a retry; a terminal one waits for a person.
    fn note(&mut self, err: &AwsError) {
        if !err.kind.is_terminal() {
            self.retry();
        }
    }

    /// The finding for a check that failed on `err`.
    fn fail(&mut self, err: &AwsError) -> Finding {
        self.note(err);
        failure(err)
    }
}

/// A check that failed on an AWS error. IAM propagation is a matter of time, hence Unknown.
fn failure(err: &AwsError) -> Finding {
    let reason = match err.kind {
        ErrorKind::AccessDenied => reasons::ACCESS_DENIED,
        ErrorKind::Throttled => reasons::THROTTLED,
        ErrorKind::Unavailable => reasons::AWS_UNAVAILABLE,
        ErrorKind::InvalidRequest => reasons::AWS_REQUEST_REJECTED,
        ErrorKind::IamPropagation => reasons::IAM_PROPAGATION_PENDING,
        ErrorKind::NotFound | ErrorKind::Other => reasons::AWS_ERROR,
    };
    if err.kind == ErrorKind::IamPropagation {
        Finding::unknown(reason, err.to_string())
    } else {
        Finding::failed(reason, err.to_string())
    }
}

/// Findings of a dry run that would make `changes`.
fn pending(changes: &[Change]) -> Finding {
    Finding::unknown(
        reasons::CHANGES_PENDING,
        format!(
            "dry run, not applied: {}",
            changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
    )
}

fn waiting_for_role() -> Finding {
    Finding::unknown(reasons::WAITING_FOR_ROLE, "waiting for the IAM role to be ready")
}

/// The next status of a resource whose spec has no valid target: nothing was read or changed.
pub fn invalid(res: &CognitoSmsConfig, err: &RegionError, now: Timestamp) -> SyncReport {
    let reason = match err {
        RegionError::MalformedUserPoolId(_) => reasons::INVALID_USER_POOL_ID,
        RegionError::NotAllowed { .. } => reasons::SNS_REGION_NOT_ALLOWED,
    };
    let fix_first = Finding::unknown(reasons::INVALID_SPEC, "fix the spec first");
    let findings = Findings {
        sns_region: Finding::failed(reason, err.to_string()),
        role: fix_first.clone(),
        user_pool: fix_first,
    };
    let sms = SmsFindings::unknown(reasons::NOT_CHECKED, "fix the spec first");
    let previous = res.status.clone().unwrap_or_default();
    let status = CognitoSmsConfigStatus {
        external_id: previous.external_id.clone(),
        ..Default::default()
    };
    finish(res, status, &findings, &sms, vec![], Requeue::Resync, now)
}

/// The plan for `res` towards `target`, given what was observed.
pub fn plan(res: &CognitoSmsConfig, target: &Target, observed: Result<Observed, AwsError>, inputs: &Inputs) -> Plan {
    let previous = res.status.clone().unwrap_or_default();
    let mut draft = Draft {
        status: CognitoSmsConfigStatus {
            external_id: previous.external_id,
            sns_region: Some(target.sns_region.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let region = Finding::ok(
        reasons::SNS_REGION_ALLOWED,
        format!(
            "SNS region {} may be used by pools in {}",
            target.sns_region, target.pool_region
        ),
    );
    let (config, account) = match observed {
        Ok(observed) => {
            draft.status.account_id = Some(observed.account_id.clone());
            let config = plan_config(&mut draft, res, target, &observed, inputs);
            (config, account::plan(&mut draft, res, target, &observed, inputs))
        }
        Err(e) => {
            let f = draft.tally.fail(&e);
            let config = ConfigPlan::Settled {
                role: f.clone(),
                user_pool: f.clone(),
            };
            (config, AccountPlan::Settled(SmsFindings::all(f)))
        }
    };
    Plan {
        status: draft.status,
        region,
        config,
        account,
        changes: draft.changes,
        requeue: draft.tally.requeue,
    }
}

/// Steps 1, 2 and 7 of the guide: the role, then the pool's SMS configuration.
fn plan_config(
    draft: &mut Draft,
    res: &CognitoSmsConfig,
    target: &Target,
    observed: &Observed,
    inputs: &Inputs,
) -> ConfigPlan {
    let spec = &res.spec;
    if spec.role.managed.is_some() && spec.role.existing.is_some() {
        let msg = "set either role.managed or role.existing, not both";
        return ConfigPlan::Settled {
            role: Finding::failed(reasons::INVALID_SPEC, msg),
            user_pool: Finding::unknown(reasons::INVALID_SPEC, msg),
        };
    }
    let pool = match &observed.pool {
        Read::Found(pool) => pool,
        missing_or_failed => return pool_unavailable(res, target, observed, missing_or_failed, &mut draft.tally),
    };
    let pool_arn = pool.arn().map(String::from).unwrap_or_else(|| {
        format!(
            "arn:aws:cognito-idp:{}:{}:userpool/{}",
            target.pool_region, observed.account_id, spec.user_pool_id
        )
    });
    draft.status.user_pool_arn = Some(pool_arn.clone());
    let RolePlan { external_id, state } = role::plan(res, &observed.account_id, &pool_arn, &observed.role, inputs);
    draft.status.external_id = external_id;
    let (role_arn, role_changes, role_ready) = match state {
        RoleState::Blocked(finding, requeue) => {
            draft.tally.requeue = draft.tally.requeue.max(requeue);
            return ConfigPlan::Settled {
                role: finding,
                user_pool: waiting_for_role(),
            };
        }
        RoleState::Usable { arn, changes, ready } => (arn, changes, ready),
    };
    let role_changes = draft.add(role_changes);
    let desired = SmsConfig {
        sns_caller_arn: role_arn.clone(),
        external_id: draft.status.external_id.clone(),
        sns_region: Some(target.sns_region.clone()),
    };
    let pool = plan_pool(draft, pool, desired);
    ConfigPlan::Changes {
        role_arn,
        role_changes,
        role_ready,
        pool,
    }
}

fn pool_unavailable(
    res: &CognitoSmsConfig,
    target: &Target,
    observed: &Observed,
    read: &Read<UserPoolType>,
    tally: &mut Tally,
) -> ConfigPlan {
    match read {
        Read::Failed(e) => ConfigPlan::Settled {
            role: Finding::unknown(reasons::WAITING_FOR_USER_POOL, "waiting to read the user pool"),
            user_pool: tally.fail(e),
        },
        _ => {
            tally.retry();
            ConfigPlan::Settled {
                role: Finding::unknown(reasons::WAITING_FOR_USER_POOL, "waiting for the user pool to exist"),
                user_pool: Finding::failed(
                    reasons::USER_POOL_NOT_FOUND,
                    format!(
                        "user pool {} not found in {} for account {}: create it or fix spec.userPoolId",
                        res.spec.user_pool_id, target.pool_region, observed.account_id
                    ),
                ),
            }
        }
    }
}

/// Step 7: point the pool at the role, unless it already is or sends SMS another way.
fn plan_pool(draft: &mut Draft, pool: &UserPoolType, desired: SmsConfig) -> PoolPlan {
    let pool_id = pool.id().unwrap_or_default();
    if desired::sends_through_end_user_messaging(pool) {
        return PoolPlan::Settled(Finding::failed(
            reasons::SMS_THROUGH_END_USER_MESSAGING,
            format!(
                "user pool {pool_id} sends SMS through AWS End User Messaging SMS; this resource would replace that with \
                 SNS, so nothing was changed: remove the pool's End User Messaging configuration or delete this resource"
            ),
        ));
    }
    let in_sync = Finding::ok(
        reasons::SMS_CONFIGURATION_IN_SYNC,
        format!(
            "user pool {pool_id} sends SMS as {} through SNS in {}",
            desired.sns_caller_arn,
            desired.sns_region.as_deref().unwrap_or_default()
        ),
    );
    match desired::sms_configuration_change(pool, SmsConfig::of_pool(pool).as_ref(), &desired) {
        None => PoolPlan::Settled(in_sync),
        Some(change) => PoolPlan::Update {
            change: draft.add([change]).start,
            in_sync,
        },
    }
}

impl Plan {
    /// The changes to make, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The SNS region and account whose shared state the plan's sandbox changes touch.
    pub fn account_region(&self) -> Option<(&str, &str)> {
        Some((self.status.account_id.as_deref()?, self.status.sns_region.as_deref()?))
    }

    /// The report of the reconcile, given what became of each change (in the order of
    /// [`Plan::changes`]).
    pub fn conclude(self, res: &CognitoSmsConfig, applied: &[Applied], now: Timestamp) -> SyncReport {
        let mut tally = Tally { requeue: self.requeue };
        let mut status = self.status;
        let (role, user_pool) = conclude_config(self.config, &self.changes, applied, &mut status, &mut tally);
        let findings = Findings {
            sns_region: self.region,
            role,
            user_pool,
        };
        let sms = self.account.conclude(applied, &mut status, &mut tally);
        let made = self
            .changes
            .into_iter()
            .zip(applied)
            .filter(|(_, a)| a.is_made())
            .map(|(c, _)| c)
            .collect();
        finish(res, status, &findings, &sms, made, tally.requeue, now)
    }
}

/// The role's and the pool's findings after execution.
fn conclude_config(
    config: ConfigPlan,
    changes: &[Change],
    applied: &[Applied],
    status: &mut CognitoSmsConfigStatus,
    tally: &mut Tally,
) -> (Finding, Finding) {
    let (role_arn, role_changes, role_ready, pool) = match config {
        ConfigPlan::Settled { role, user_pool } => return (role, user_pool),
        ConfigPlan::Changes {
            role_arn,
            role_changes,
            role_ready,
            pool,
        } => (role_arn, role_changes, role_ready, pool),
    };
    if let Some(e) = applied[role_changes.clone()].iter().find_map(|a| match a {
        Applied::Failed(e) => Some(e),
        _ => None,
    }) {
        return (tally.fail(e), waiting_for_role());
    }
    let dry_run = applied[role_changes.clone()]
        .iter()
        .any(|a| matches!(a, Applied::DryRun));
    let role = if dry_run {
        pending(&changes[role_changes])
    } else {
        role_ready
    };
    let user_pool = match pool {
        PoolPlan::Settled(f) => f,
        PoolPlan::Update { change, in_sync } => match &applied[change] {
            Applied::Done | Applied::AlreadyDone => in_sync,
            Applied::DryRun => pending(std::slice::from_ref(&changes[change])),
            Applied::NotAttempted => waiting_for_role(),
            Applied::Failed(e) if e.kind == ErrorKind::IamPropagation => {
                tally.retry();
                propagating(&role_arn, e)
            }
            Applied::Failed(e) => tally.fail(e),
        },
    };
    status.role_arn = Some(role_arn);
    (role, user_pool)
}

fn propagating(role_arn: &str, e: &AwsError) -> Finding {
    Finding::unknown(
        reasons::IAM_PROPAGATION_PENDING,
        format!(
            "Cognito cannot use role {role_arn} yet ({}): IAM changes take a little while to propagate, retrying; \
             if this persists, check the role's trust policy and sns:Publish permission",
            e.code
        ),
    )
}

/// The report: status with conditions, the changes made, and when to look again.
fn finish(
    res: &CognitoSmsConfig,
    mut status: CognitoSmsConfigStatus,
    findings: &Findings,
    sms: &SmsFindings,
    changes: Vec<Change>,
    requeue: Requeue,
    now: Timestamp,
) -> SyncReport {
    let previous = res.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let generation = res.metadata.generation;
    status.observed_generation = generation;
    status.last_sync_time = Some(now.round(Unit::Second).unwrap_or(now).to_string());
    status.conditions = conditions::conditions(findings, sms, previous, generation, now);
    SyncReport {
        status,
        changes,
        requeue,
    }
}
