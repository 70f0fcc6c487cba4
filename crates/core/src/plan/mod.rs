//! Plan: from the spec, what was observed and the previous status to the ordered changes to
//! make; then, from what became of each change, to the next status. Pure: the clock and the
//! candidate for a new external ID come in as values.

mod account;
mod config;
mod logs;
mod numbers;
pub mod observed;
mod protect;
pub mod reads;
mod replicas;
mod role;
mod spend;
mod step;
pub mod tenancy;

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use crate::account::{self as sms_account, Identity, NumberAt, NumberIds};
use crate::conditions::{self, Finding, Findings, SmsFindings, reasons};
use crate::conditions::{ConditionStatus, types};
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus};
use crate::desired::{self, Change, Desired, Invalid, Path};
use crate::error::{AwsError, ErrorKind};
use crate::regions::RegionError;

use account::AccountPlan;
use config::ConfigPlan;
use logs::LogsPlan;
pub use observed::{Observed, Read, RoleReads, SecretCode, SecretError};
use protect::ProtectPlan;
pub use replicas::{REPLICA_APPEARED, REPLICA_GONE, region_changes};
use step::Order;
pub use step::{Applied, Step};

/// When to look again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requeue {
    /// Everything that could be done is done, or only a person can make progress: come back on
    /// the resync period to catch drift.
    #[default]
    Resync,
    /// Something that fixes itself (IAM propagation, throttling, a pool not yet created): retry
    /// with backoff.
    Backoff,
}

/// What one reconcile did and found.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub status: CognitoSmsConfigStatus,
    /// Changes made (or, in a dry run, that would be made), in order.
    pub changes: Vec<Change>,
    pub requeue: Requeue,
}

impl SyncReport {
    /// The `Ready` condition when it is not True: the first failing check, for a Warning event.
    pub fn problem(&self) -> Option<&Condition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_ == types::READY && ConditionStatus::of(c) != ConditionStatus::True)
    }
}

/// The origination identity the spec names, as resolved against the account.
#[derive(Debug, Clone)]
enum NamedIdentity<'a> {
    NotNamed,
    Resolved(&'a Identity),
    /// Why it cannot be used.
    Unresolved(String),
}

/// What a plan takes besides the resource and the observation.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub now: Timestamp,
    /// The external ID to use if the resource needs a new one (128 random bits, hex).
    pub fresh_external_id: String,
    /// Sandbox numbers that other resources list in the same regions' sandboxes.
    pub claimed_elsewhere: &'a HashSet<NumberAt>,
    /// Which installation of the operator this is, as recorded on the pools it manages.
    pub installation: &'a str,
    /// How status identifies phone numbers, under this installation's key.
    pub number_ids: &'a NumberIds,
}

/// What one reconcile means to do, and how each outcome will be reported.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Everything known before any change is made.
    status: CognitoSmsConfigStatus,
    region: Finding,
    user_pool_id: String,
    config: ConfigPlan,
    logs: LogsPlan,
    protect: ProtectPlan,
    account: AccountPlan,
    /// Whether what was observed already calls for a retry with backoff.
    requeue: Requeue,
    /// Cognito's own diagnosis of the pool's SMS (`SmsConfigurationFailure`), when it applies.
    cognito_diagnosis: Option<String>,
    /// The change that records on the pool that this resource manages it, when it is not yet
    /// recorded and no update of the pool carries the record.
    claim: Option<Step>,
    /// `ReplicasConfigured` when the pool itself is not planned for.
    replicas_unplanned: Finding,
    /// The primary's row of `status.regions`, as read.
    primary_region: crate::crd::RegionStatus,
    /// `SpendLimitSufficient` as a secondary's region stops it, when one does.
    spend_elsewhere: Option<Finding>,
}

/// Collects whether anything calls for a retry with backoff.
#[derive(Debug, Default)]
struct Tally {
    requeue: Requeue,
}

/// What planning has found so far: the status fields known before any change, and whether a
/// retry is called for. Each planning step adds to it and returns its own part of the plan,
/// with its own changes.
#[derive(Debug, Default)]
struct Draft {
    status: CognitoSmsConfigStatus,
    tally: Tally,
    cognito_diagnosis: Option<String>,
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
        ErrorKind::Credentials => reasons::CREDENTIALS_REJECTED,
        ErrorKind::Throttled => reasons::THROTTLED,
        ErrorKind::Unavailable => reasons::AWS_UNAVAILABLE,
        ErrorKind::TimedOut => reasons::AWS_TIMED_OUT,
        ErrorKind::InvalidRequest => reasons::AWS_REQUEST_REJECTED,
        ErrorKind::IamPropagation => reasons::IAM_PROPAGATION_PENDING,
        ErrorKind::NotFound | ErrorKind::Other => reasons::AWS_ERROR,
    };
    if err.kind == ErrorKind::IamPropagation {
        Finding::unknown(reason, err.to_string())
    } else if err.kind == ErrorKind::Credentials {
        Finding::failed(
            reason,
            format!(
                "{err}; AWS refused the operator's credentials, which are retried with backoff as they are \
                 renewed: if this lasts, check the operator's AWS credentials (its IAM role for service accounts or \
                 Pod Identity association, or its access keys)"
            ),
        )
    } else {
        Finding::failed(reason, err.to_string())
    }
}

/// Findings of a dry run that would make `changes`.
fn pending<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Finding {
    Finding::unknown(
        reasons::CHANGES_PENDING,
        format!(
            "dry run, not applied: {}",
            changes
                .into_iter()
                .filter(|c| c.is_write())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    )
}

/// The next status of a resource whose spec cannot be planned for: nothing was read or changed.
pub fn invalid(res: &CognitoSmsConfig, err: &Invalid, now: Timestamp) -> SyncReport {
    let fix_first = Finding::unknown(reasons::INVALID_SPEC, "fix the spec first");
    let findings = match err {
        Invalid::Region(region) => {
            let reason = match region {
                RegionError::MalformedUserPoolId(_) => reasons::INVALID_USER_POOL_ID,
                RegionError::NotAllowed { .. } => reasons::SNS_REGION_NOT_ALLOWED,
                RegionError::NoDirectPath(_) => reasons::DIRECT_PATH_NOT_AVAILABLE,
                RegionError::SnsRegionWithDirectPath => reasons::INVALID_SPEC,
            };
            Findings {
                sns_region: Finding::failed(reason, region.to_string()),
                role: fix_first.clone(),
                user_pool: fix_first.clone(),
                replicas: fix_first.clone(),
                delivery_logs: fix_first,
            }
        }
        Invalid::BothRoles => Findings {
            sns_region: fix_first.clone(),
            role: Finding::failed(reasons::INVALID_SPEC, err.to_string()),
            user_pool: fix_first.clone(),
            replicas: fix_first.clone(),
            delivery_logs: fix_first,
        },
    };
    let sms = SmsFindings::unknown(reasons::NOT_CHECKED, "fix the spec first");
    let previous = res.status.clone().unwrap_or_default();
    let status = remembered(previous);
    finish(res, status, &findings, &sms, vec![], Requeue::Resync, now)
}

/// What a status remembers that AWS does not say again on the next read, and that must survive
/// any reconcile that reads nothing: the external ID, the numbers this operator added and the
/// codes refused, the last resend request acknowledged, the pool managed, its Regions.
fn remembered(previous: CognitoSmsConfigStatus) -> CognitoSmsConfigStatus {
    CognitoSmsConfigStatus {
        external_id: previous.external_id,
        sandbox_phone_numbers: previous.sandbox_phone_numbers,
        resend_codes_request: previous.resend_codes_request,
        managed_user_pool_id: previous.managed_user_pool_id,
        // Until its protect configuration is read again.
        protect: previous.protect,
        // Until the pool's log delivery is read again: only what this resource set is removed.
        delivery_logs: previous.delivery_logs,
        // Until the pool's Regions are listed again.
        regions: previous.regions,
        ..Default::default()
    }
}

/// The report of a reconcile that did not finish within `deadline`: the conditions as they were,
/// but `Ready`, which says why, and a retry with backoff. What the reconcile changed before the
/// deadline is seen by the next one.
pub fn timed_out(res: &CognitoSmsConfig, deadline: std::time::Duration, now: Timestamp) -> SyncReport {
    let finding = Finding::unknown(
        reasons::RECONCILE_TIMED_OUT,
        format!(
            "the reconcile did not finish within {}: AWS answered too slowly or not at all; retrying with backoff",
            humantime::format_duration(deadline)
        ),
    );
    only_ready(
        res,
        res.status.clone().unwrap_or_default(),
        &finding,
        Requeue::Backoff,
        now,
    )
}

/// The report of a reconcile cut off by `deadline` after it planned: `report` concludes what it
/// completed (so status remembers those writes), and `Ready` says it was cut off, with a retry
/// with backoff.
pub fn cut_off(
    res: &CognitoSmsConfig,
    report: SyncReport,
    deadline: std::time::Duration,
    now: Timestamp,
) -> SyncReport {
    let finding = Finding::unknown(
        reasons::RECONCILE_TIMED_OUT,
        format!(
            "the reconcile did not finish within {}; the changes it completed are recorded, the rest will be \
             retried",
            humantime::format_duration(deadline)
        ),
    );
    let SyncReport { status, changes, .. } = report;
    SyncReport {
        changes,
        ..only_ready(res, status, &finding, Requeue::Backoff, now)
    }
}

/// The report for a resource whose pool `owner` (`namespace/name`), another resource of this
/// installation, manages: nothing was read or written; everything the status remembers stays.
pub fn claimed(res: &CognitoSmsConfig, spec: &Desired, owner: &str, now: Timestamp) -> SyncReport {
    let finding = Finding::failed(
        reasons::POOL_CLAIMED,
        desired::claimed_message(&spec.user_pool_id, owner),
    );
    let status = CognitoSmsConfigStatus {
        managed_user_pool_id: None,
        ..res.status.clone().unwrap_or_default()
    };
    only_ready(res, status, &finding, Requeue::Resync, now)
}

/// The report for a resource whose pool, as `observed`, another installation of the operator
/// manages; `None` when it does not. Nothing is written, and the status keeps what it remembers.
pub fn owned_elsewhere(
    res: &CognitoSmsConfig,
    spec: &Desired,
    observed: &Observed,
    installation: &str,
    now: Timestamp,
) -> Option<SyncReport> {
    let Read::Found(pool) = &observed.pool else {
        return None;
    };
    let desired::PoolOwnership::OtherInstallation {
        installation: theirs,
        resource,
    } = desired::pool_ownership(&pool.tags, installation, &spec.owner)
    else {
        return None;
    };
    let arn = config::pool_arn(pool, spec, &observed.account_id);
    let message = desired::owned_elsewhere_message(&spec.user_pool_id, &arn, &theirs, resource.as_deref());
    let finding = Finding::failed(reasons::POOL_OWNED_ELSEWHERE, message);
    let status = CognitoSmsConfigStatus {
        managed_user_pool_id: None,
        user_pool_arn: Some(arn),
        account_id: Some(observed.account_id.clone()),
        ..res.status.clone().unwrap_or_default()
    };
    Some(only_ready(res, status, &finding, Requeue::Resync, now))
}

/// `status` with its `Ready` condition replaced by `finding`; no change made.
fn only_ready(
    res: &CognitoSmsConfig,
    mut status: CognitoSmsConfigStatus,
    finding: &Finding,
    requeue: Requeue,
    now: Timestamp,
) -> SyncReport {
    let generation = res.metadata.generation;
    let ready = conditions::to_condition(conditions::types::READY, finding, &status.conditions, generation, now);
    status.conditions.retain(|c| c.type_ != conditions::types::READY);
    status.conditions.insert(0, ready);
    SyncReport {
        status,
        changes: vec![],
        requeue,
    }
}

/// `SnsRegionValid`: which region the pool's SMS go through, and that the guide allows it.
fn region_finding(spec: &Desired) -> Finding {
    match &spec.path {
        Path::Sns { region } => Finding::ok(
            reasons::SNS_REGION_ALLOWED,
            format!("SNS region {region} may be used by pools in {}", spec.pool_region),
        ),
        Path::Direct(_) => Finding::ok(
            reasons::DIRECT_PATH_AVAILABLE,
            format!(
                "the pool sends directly through AWS End User Messaging SMS in its own region {}; no SNS region is used",
                spec.pool_region
            ),
        ),
    }
}

/// The origination identity the spec names, resolved against the account.
fn named_identity<'a>(spec: &Desired, observed: &'a Observed) -> NamedIdentity<'a> {
    let Some(reference) = spec.direct().and_then(|d| d.origination_identity.as_deref()) else {
        return NamedIdentity::NotNamed;
    };
    match &observed.account_sms {
        Read::Found(account) => match sms_account::resolve(account, reference, spec.sms_region()) {
            Ok(identity) => NamedIdentity::Resolved(identity),
            Err(why) => NamedIdentity::Unresolved(why),
        },
        _ => NamedIdentity::Unresolved(format!(
            "cannot resolve {reference} until the account's origination identities in {} can be read",
            spec.sms_region()
        )),
    }
}

/// The plan for `res`, whose spec is `spec`, given what was observed.
pub fn plan(res: &CognitoSmsConfig, spec: &Desired, observed: Result<Observed, AwsError>, inputs: &Inputs) -> Plan {
    let previous = res.status.clone().unwrap_or_default();
    let mut draft = Draft {
        // What status remembers stays until a read of the account replaces the numbers' part.
        status: CognitoSmsConfigStatus {
            delivery_path: Some(spec.delivery_path()),
            sns_region: match &spec.path {
                Path::Sns { region } => Some(region.clone()),
                Path::Direct(_) => None,
            },
            ..remembered(previous.clone())
        },
        ..Default::default()
    };
    let mut claim = None;
    let replicas_unplanned = replicas::unplanned(observed.as_ref().ok());
    let primary_region = match &observed {
        Ok(observed) => replicas::primary_row(spec, observed, false),
        Err(_) => crate::crd::RegionStatus::default(),
    };
    let spend_elsewhere = observed.as_ref().ok().and_then(|o| replicas::spend_elsewhere(spec, o));
    let (config, logs, protect, account) = match observed {
        Ok(observed) => {
            draft.status.account_id = Some(observed.account_id.clone());
            let identity = named_identity(spec, &observed);
            if let NamedIdentity::Resolved(i) = &identity {
                draft.status.origination_identity_arn = Some(i.arn.clone());
            }
            let mut config = config::plan(&mut draft, spec, &observed, &identity, inputs);
            let logs = logs::plan(&mut draft, spec, &observed, &previous);
            let protect = protect::plan(&mut draft, spec, &observed, &previous);
            let account = account::plan(&mut draft, spec, &previous, &observed, &identity, inputs);
            if let ConfigPlan::Changes { pool, .. } = &mut config {
                claim = claim_pool(&mut draft, spec, &observed, inputs.installation, pool.update_mut());
            } else {
                draft.status.managed_user_pool_id = manager_of(spec, &observed.pool);
            }
            (config, logs, protect, account)
        }
        Err(e) => {
            let f = draft.tally.fail(&e);
            let config = ConfigPlan::Settled {
                role: f.clone(),
                user_pool: f.clone(),
            };
            let logs = LogsPlan::settled(f.clone());
            let protect = ProtectPlan::unread(f.clone(), previous.protect.clone());
            (config, logs, protect, AccountPlan::Settled(SmsFindings::all(f)))
        }
    };
    Plan {
        status: draft.status,
        region: region_finding(spec),
        user_pool_id: spec.user_pool_id.clone(),
        config,
        logs,
        protect,
        account,
        requeue: draft.tally.requeue,
        cognito_diagnosis: draft.cognito_diagnosis,
        claim,
        replicas_unplanned,
        primary_region,
        spend_elsewhere,
    }
}

/// The pool this resource manages, as far as the read of the pool tells: none when it is gone.
fn manager_of(spec: &Desired, pool: &Read<desired::UserPool>) -> Option<String> {
    match pool {
        Read::Absent => None,
        _ => Some(spec.user_pool_id.clone()),
    }
}

/// Record on the pool, when it is not yet recorded, that this resource of this installation
/// manages it (once its role can be used: a resource blocked on its role writes nothing). An
/// update of the pool that is due anyway carries the record (it sends back every
/// tag as read, with these added), so a new pool costs no call of its own; otherwise a
/// `TagResource` of the operator's tags only: that step, if one is needed.
fn claim_pool(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    installation: &str,
    update: Option<&mut Change>,
) -> Option<Step> {
    draft.status.managed_user_pool_id = manager_of(spec, &observed.pool);
    let Read::Found(pool) = &observed.pool else {
        return None;
    };
    if desired::pool_ownership(&pool.tags, installation, &spec.owner) == desired::PoolOwnership::Ours {
        return None;
    }
    let tags = desired::pool_tags(installation, &spec.owner);
    if let Some(Change::UpdateSmsConfiguration { add_tags, .. }) = update {
        add_tags.extend(tags);
        return None;
    }
    let change = Change::TagUserPool {
        user_pool_id: spec.user_pool_id.clone(),
        arn: config::pool_arn(pool, spec, &observed.account_id),
        tags,
    };
    Some(Step::new(change))
}

impl Plan {
    /// Every step, in the order the changes are made: the role's, the pool's, the numbers', and
    /// last the ownership record on the pool.
    fn steps(&self) -> impl Iterator<Item = &Step> {
        self.config
            .steps()
            .chain(self.logs.steps())
            .chain(self.protect.steps())
            .chain(self.account.steps())
            .chain(&self.claim)
    }

    fn order(&mut self) -> Order<'_> {
        let steps = self
            .config
            .steps_mut()
            .chain(self.logs.steps_mut())
            .chain(self.protect.steps_mut())
            .chain(self.account.steps_mut())
            .chain(&mut self.claim);
        Order(steps.collect())
    }

    /// The changes to make, in order.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.steps().map(Step::change)
    }

    /// The next change to make, now marked in flight; `None` when every change is made or held
    /// back by a failure it depends on. Its outcome goes to [`Plan::record`].
    pub fn next_change(&mut self) -> Option<Change> {
        self.order().next_change()
    }

    /// Record the outcome of the change [`Plan::next_change`] returned.
    pub fn record(&mut self, result: Result<(), AwsError>) {
        self.order().record(result);
    }

    /// Make it a dry run: every change is reported as it would be made, none is tried.
    pub fn dry_run(&mut self) {
        self.order().dry_run();
    }

    /// The reconcile was cut off by `err`: the change in flight failed with it (it may still
    /// have taken effect), and those after it were not attempted.
    pub fn cut_off(&mut self, err: AwsError) {
        self.order().cut_off(err);
    }

    /// Whether a change that took effect altered the sandbox list of the account, so that what
    /// is known of it must be read again.
    /// The account and regions whose shared SMS state a change that took effect altered (the
    /// sandbox list, protect configurations, configuration sets), so that what is known of them
    /// is read again.
    pub fn touched_account_regions(&self) -> Vec<(&str, &str)> {
        let Some(account) = self.status.account_id.as_deref() else {
            return vec![];
        };
        let mut regions: Vec<(&str, &str)> = vec![];
        for step in self.steps() {
            if !matches!(step.applied(), Applied::Done | Applied::AlreadyDone) {
                continue;
            }
            if let Some(region) = step.change().account_state_region()
                && !regions.iter().any(|(_, r)| *r == region)
            {
                regions.push((account, region));
            }
        }
        regions
    }

    /// The report of the reconcile, from what became of each change.
    pub fn conclude(self, res: &CognitoSmsConfig, now: Timestamp) -> SyncReport {
        let made: Vec<Change> = self
            .steps()
            .filter(|s| s.is_made_write())
            .map(|s| s.change().clone())
            .collect();
        let mut tally = Tally { requeue: self.requeue };
        let mut status = self.status;
        let (role, user_pool, replicas) = self.config.conclude(&mut status, &mut tally, self.primary_region);
        let mut findings = Findings {
            sns_region: self.region,
            role,
            user_pool,
            replicas: replicas.unwrap_or(self.replicas_unplanned),
            delivery_logs: self.logs.conclude(&mut status, &mut tally),
        };
        let mut sms = self.account.conclude(&mut status, &mut tally);
        sms.protect = self.protect.conclude(&mut status, &mut tally);
        if sms.sandbox.status == ConditionStatus::True
            && let Some(elsewhere) = replicas::sandbox_elsewhere(&status.regions)
        {
            sms.sandbox = elsewhere;
        }
        if sms.spend_limit.status == ConditionStatus::True
            && let Some(elsewhere) = self.spend_elsewhere
        {
            sms.spend_limit = elsewhere;
        }
        if let Some(failure) = &self.cognito_diagnosis {
            config::apply_cognito_diagnosis(failure, &mut findings, &mut sms);
        }
        if let Some(Applied::Failed(e)) = self.claim.as_ref().map(Step::applied) {
            tally.note(e);
            let unrecorded = failure(e);
            let message = format!(
                "cannot record on user pool {} that this resource manages it: {}{}",
                self.user_pool_id,
                unrecorded.message,
                if e.kind == ErrorKind::AccessDenied {
                    "; allow the operator cognito-idp:TagResource on user pools (docs/iam-policy.json)"
                } else {
                    ""
                }
            );
            let unrecorded = Finding { message, ..unrecorded };
            findings.user_pool = unrecorded;
        }
        finish(res, status, &findings, &sms, made, tally.requeue, now)
    }
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
    status.conditions = conditions::conditions(findings, sms, previous, generation, now);
    SyncReport {
        status,
        changes,
        requeue,
    }
}
