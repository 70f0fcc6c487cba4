//! Steps 1, 2 and 7 of the guide: the role, then the pool's SMS configuration, through SNS or
//! directly through End User Messaging (tested with a dry-run send before it is assigned).

use super::Applied;
use super::observed::{Observed, Read};
use super::replicas::{self, ReplicaPlan};
use super::role::{self, RolePlan, RoleState};
use super::{Draft, Inputs, NamedIdentity, Step, Tally, failure, pending};
use crate::account::{AccountSms, Identity, Listed};
use crate::conditions::{Finding, Findings, SmsFindings, reasons};
use crate::crd::CognitoSmsConfigStatus;
use crate::desired::{self, Change, Desired, DirectSms, Path, SendPermission, SmsConfig, TestMessage, UserPool};
use crate::error::{AwsError, ErrorKind};
use crate::policy;

/// The role's and the pool's part of a plan.
// One per reconcile, never in a collection: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum ConfigPlan {
    /// Nothing will be changed; the findings are final.
    Settled { role: Finding, user_pool: Finding },
    /// The role's changes (perhaps none), then the pool's, which need the role, then its
    /// secondary Regions'.
    Changes {
        role_arn: String,
        role_steps: Vec<Step>,
        role_ready: Finding,
        pool: PoolPlan,
        replicas: Vec<ReplicaPlan>,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum PoolPlan {
    Settled(Finding),
    /// A dry-run send first (direct path), then the update.
    Update {
        test: Option<Step>,
        update: Step,
        in_sync: Finding,
    },
}

impl PoolPlan {
    /// The pool's update, when one is planned.
    pub(super) fn update_mut(&mut self) -> Option<&mut Change> {
        match self {
            PoolPlan::Update { update, .. } => Some(update.change_mut()),
            PoolPlan::Settled(_) => None,
        }
    }
}

fn waiting_for_role() -> Finding {
    Finding::unknown(reasons::WAITING_FOR_ROLE, "waiting for the IAM role to be ready")
}

pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    identity: &NamedIdentity,
    inputs: &Inputs,
) -> ConfigPlan {
    let pool = match &observed.pool {
        Read::Found(pool) => pool,
        missing_or_failed => return pool_unavailable(spec, observed, missing_or_failed, &mut draft.tally),
    };
    let pool_arn = pool_arn(pool, spec, &observed.account_id);
    draft.status.user_pool_arn = Some(pool_arn.clone());
    let identity = match identity {
        NamedIdentity::NotNamed => None,
        NamedIdentity::Resolved(identity) => Some(*identity),
        NamedIdentity::Unresolved(why) => return waiting_for_identity(why.clone()),
    };
    let mut permission = send_permission(spec, &pool_arn, &observed.account_id, identity);
    if let SendPermission::SendText { resources } = &mut permission {
        resources.extend(replicas::send_resources(spec, observed, &pool_arn));
    }
    let predecessor = desired::predecessor(&pool.tags, inputs.installation, &spec.owner);
    let previous_external_id = draft.status.external_id.clone();
    let RolePlan { external_id, state } = role::plan(
        spec,
        previous_external_id.as_deref(),
        &observed.account_id,
        &replicas::pool_arns(&pool_arn, observed),
        &observed.role,
        &permission,
        predecessor.as_deref(),
        inputs,
    );
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
    let desired = desired_sms(spec, &role_arn, draft.status.external_id.clone(), identity);
    let pool = plan_pool(draft, spec, observed, pool, desired);
    let replicas = replicas::plan(spec, observed, &role_arn, draft.status.external_id.as_deref());
    ConfigPlan::Changes {
        role_arn,
        role_steps: role_changes.into_iter().map(Step::new).collect(),
        role_ready,
        pool,
        replicas,
    }
}

/// The pool's ARN as Cognito reports it, or as it would be.
pub(super) fn pool_arn(pool: &UserPool, spec: &Desired, account_id: &str) -> String {
    pool.arn.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:cognito-idp:{}:{account_id}:userpool/{}",
            spec.pool_region, pool.id
        )
    })
}

/// The role's permission is scoped to the origination identity: nothing can be done until it is
/// known.
fn waiting_for_identity(why: String) -> ConfigPlan {
    ConfigPlan::Settled {
        role: Finding::unknown(reasons::WAITING_FOR_ORIGINATION_IDENTITY, why),
        user_pool: Finding::unknown(
            reasons::WAITING_FOR_ORIGINATION_IDENTITY,
            "waiting for the origination identity (see OriginationIdentityAvailable)",
        ),
    }
}

/// What the role must allow: `sns:Publish`, or `sms-voice:SendTextMessage` on the named
/// identity (every identity of the account in the pool's region when none is named).
fn send_permission(spec: &Desired, pool_arn: &str, account_id: &str, identity: Option<&Identity>) -> SendPermission {
    if let Path::Sns { .. } = spec.path {
        return SendPermission::Publish;
    }
    let resource = identity.map(|i| i.arn.clone()).unwrap_or_else(|| {
        policy::identities_in_region(desired::partition_of(pool_arn), &spec.pool_region, account_id)
    });
    SendPermission::SendText {
        resources: vec![resource],
    }
}

/// The pool's `SmsConfiguration` the spec asks for.
fn desired_sms(spec: &Desired, role_arn: &str, external_id: Option<String>, identity: Option<&Identity>) -> SmsConfig {
    let direct = match &spec.path {
        Path::Sns { .. } => None,
        Path::Direct(direct) => Some(DirectSms {
            origination_identity: identity.map(|i| i.arn.clone()),
            configuration_set: direct
                .configuration_set
                .clone()
                .or_else(|| spec.owned_configuration_set()),
            in_entity_id: direct.india_dlt.as_ref().map(|d| d.entity_id.clone()),
            in_template_id: direct.india_dlt.as_ref().map(|d| d.template_id.clone()),
        }),
    };
    SmsConfig {
        caller_arn: role_arn.to_string(),
        external_id,
        region: Some(spec.sms_region().to_string()),
        direct,
    }
}

fn pool_unavailable(spec: &Desired, observed: &Observed, read: &Read<UserPool>, tally: &mut Tally) -> ConfigPlan {
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
                        spec.user_pool_id, spec.pool_region, observed.account_id
                    ),
                ),
            }
        }
    }
}

fn in_sync_finding(pool_id: &str, desired: &SmsConfig) -> Finding {
    let region = desired.region.as_deref().unwrap_or_default();
    let message = match &desired.direct {
        None => format!(
            "user pool {pool_id} sends SMS as {} through SNS in {region}",
            desired.caller_arn
        ),
        Some(direct) => format!(
            "user pool {pool_id} sends SMS as {} directly through AWS End User Messaging SMS in {region}{}",
            desired.caller_arn,
            direct
                .origination_identity
                .as_deref()
                .map(|arn| format!(" from {arn}"))
                .unwrap_or_default()
        ),
    };
    Finding::ok(reasons::SMS_CONFIGURATION_IN_SYNC, message)
}

/// Step 7: point the pool at the role, unless it already is. On the direct path the
/// configuration is first tried with a dry-run send, and a missing configuration set stops it.
fn plan_pool(draft: &mut Draft, spec: &Desired, observed: &Observed, pool: &UserPool, desired: SmsConfig) -> PoolPlan {
    let pool_id = &pool.id;
    let account = match &observed.account_sms {
        Read::Found(account) => Some(account.as_ref()),
        _ => None,
    };
    if let (Some(account), Some(set)) = (
        account,
        desired.direct.as_ref().and_then(|d| d.configuration_set.as_ref()),
    ) && !account.configuration_sets.contains(set)
    {
        if spec.owned_configuration_set().as_ref() == Some(set) {
            // Created by the protect plan of this reconcile; the pool is pointed at it next.
            draft.tally.retry();
            return PoolPlan::Settled(Finding::unknown(
                reasons::CHANGES_PENDING,
                format!(
                    "waiting for configuration set {set}, which the operator creates for the pool's protect configuration"
                ),
            ));
        }
        return PoolPlan::Settled(Finding::failed(
            reasons::CONFIGURATION_SET_NOT_FOUND,
            format!(
                "End User Messaging has no configuration set {set} in {}: create it, or fix or remove \
                 spec.endUserMessaging.configurationSetName",
                desired.region.as_deref().unwrap_or_default()
            ),
        ));
    }
    let mut in_sync = in_sync_finding(pool_id, &desired);
    let Some(change) = desired::sms_configuration_change(pool, &desired) else {
        draft.cognito_diagnosis = pool.sms_configuration_failure.clone();
        return PoolPlan::Settled(in_sync);
    };
    let test = match (&desired.direct, account) {
        (Some(direct), Some(account)) => match test_destination(spec, account) {
            Some(destination) => Some(Step::new(Change::TestSendText(test_message(
                spec.direct().and_then(|d| d.india_dlt.as_ref()),
                &desired,
                direct,
                destination,
            )))),
            None => {
                in_sync
                    .message
                    .push_str(" (not tested first: no verified destination number to address a dry run to)");
                None
            }
        },
        _ => None,
    };
    PoolPlan::Update {
        test,
        update: Step::new(change),
        in_sync,
    }
}

/// Where a dry-run send may go: a verified number (the spec's first), or, out of the sandbox,
/// any number the spec lists.
pub(super) fn test_destination(spec: &Desired, account: &AccountSms) -> Option<String> {
    let verified = |n: &str| account.destinations.get(n).is_some_and(|d| d.state == Listed::Verified);
    let numbers = &spec.sandbox_numbers;
    numbers
        .iter()
        .map(|n| n.phone_number.as_str())
        .find(|n| verified(n))
        .or_else(|| account.destinations.keys().map(String::as_str).find(|n| verified(n)))
        .or_else(|| {
            (!account.in_sandbox)
                .then(|| numbers.first().map(|n| n.phone_number.as_str()))
                .flatten()
        })
        .map(String::from)
}

/// The dry-run send of `desired` to `destination`, with India's DLT IDs (`dlt`) when it goes there.
pub(super) fn test_message(
    dlt: Option<&crate::crd::IndiaDlt>,
    desired: &SmsConfig,
    direct: &DirectSms,
    destination: String,
) -> TestMessage {
    TestMessage {
        region: desired.region.clone().unwrap_or_default(),
        india_dlt: dlt
            .filter(|_| destination.starts_with("+91"))
            .map(|d| (d.entity_id.clone(), d.template_id.clone())),
        destination,
        origination_identity: direct.origination_identity.clone(),
        configuration_set: direct.configuration_set.clone(),
    }
}

impl ConfigPlan {
    /// The steps, in the order they are made: the role's, then the pool's.
    pub(super) fn steps(&self) -> impl Iterator<Item = &Step> {
        let (role, pool, secondaries): (&[Step], _, &[ReplicaPlan]) = match self {
            ConfigPlan::Settled { .. } => (&[], None, &[]),
            ConfigPlan::Changes {
                role_steps,
                pool,
                replicas,
                ..
            } => (role_steps, Some(pool), replicas),
        };
        let pool = pool.into_iter().flat_map(|p| match p {
            PoolPlan::Settled(_) => [None, None],
            PoolPlan::Update { test, update, .. } => [test.as_ref(), Some(update)],
        });
        role.iter().chain(pool.flatten()).chain(replicas::steps(secondaries))
    }

    pub(super) fn steps_mut(&mut self) -> impl Iterator<Item = &mut Step> {
        let (role, pool, secondaries): (&mut [Step], _, &mut [ReplicaPlan]) = match self {
            ConfigPlan::Settled { .. } => (&mut [], None, &mut []),
            ConfigPlan::Changes {
                role_steps,
                pool,
                replicas,
                ..
            } => (role_steps, Some(pool), replicas),
        };
        let pool = pool.into_iter().flat_map(|p| match p {
            PoolPlan::Settled(_) => [None, None],
            PoolPlan::Update { test, update, .. } => [test.as_mut(), Some(update)],
        });
        role.iter_mut()
            .chain(pool.flatten())
            .chain(replicas::steps_mut(secondaries))
    }

    /// The role's, the pool's and (once the pool is planned for) the secondaries' findings after
    /// execution; `primary` is the primary's row of `status.regions`, to complete.
    pub(super) fn conclude(
        self,
        status: &mut CognitoSmsConfigStatus,
        tally: &mut Tally,
        mut primary: crate::crd::RegionStatus,
    ) -> (Finding, Finding, Option<Finding>) {
        let (role_arn, role_steps, role_ready, pool, secondaries) = match self {
            ConfigPlan::Settled { role, user_pool } => return (role, user_pool, None),
            ConfigPlan::Changes {
                role_arn,
                role_steps,
                role_ready,
                pool,
                replicas,
            } => (role_arn, role_steps, role_ready, pool, replicas),
        };
        if let Some(e) = role_steps.iter().find_map(|s| match s.applied() {
            Applied::Failed(e) => Some(e),
            _ => None,
        }) {
            return (tally.fail(e), waiting_for_role(), None);
        }
        let dry_run = role_steps.iter().any(|s| matches!(s.applied(), Applied::DryRun));
        let role = if dry_run {
            pending(role_steps.iter().map(Step::change))
        } else {
            role_ready
        };
        let user_pool = match pool {
            PoolPlan::Settled(f) => f,
            PoolPlan::Update { test, update, in_sync } => match test.as_ref().map(|t| (t.applied(), t.change())) {
                Some((Applied::Failed(e), Change::TestSendText(m))) => {
                    tally.note(e);
                    test_failed(e, m)
                }
                _ => pool_update(update.applied(), update.change(), in_sync, &role_arn, tally),
            },
        };
        status.role_arn = Some(role_arn);
        primary.configured = user_pool.status == crate::conditions::ConditionStatus::True;
        let (replicas, regions) = replicas::conclude(secondaries, primary, tally);
        status.regions = regions;
        (role, user_pool, Some(replicas))
    }
}

fn pool_update(applied: &Applied, change: &Change, in_sync: Finding, role_arn: &str, tally: &mut Tally) -> Finding {
    match applied {
        Applied::Done | Applied::AlreadyDone => in_sync,
        Applied::DryRun => pending([change]),
        Applied::NotAttempted => waiting_for_role(),
        Applied::Failed(e) if e.kind == ErrorKind::IamPropagation => {
            tally.retry();
            propagating(role_arn, e)
        }
        Applied::Failed(e) => tally.fail(e),
    }
}

fn propagating(role_arn: &str, e: &AwsError) -> Finding {
    Finding::unknown(
        reasons::IAM_PROPAGATION_PENDING,
        format!(
            "Cognito cannot use role {role_arn} yet ({}): IAM changes take a little while to propagate, retrying; \
             if this persists, check the role's trust policy and its permission",
            e.code
        ),
    )
}

/// A dry-run send End User Messaging refused: what to fix, by its reason.
pub(super) fn test_failed(e: &AwsError, m: &TestMessage) -> Finding {
    let fix = match (e.kind, e.reason.as_deref(), e.code.as_str()) {
        (ErrorKind::AccessDenied, _, _) => {
            "let the operator call sms-voice:SendTextMessage (docs/iam-policy.json)".to_string()
        }
        (_, Some("DESTINATION_PHONE_NUMBER_NOT_VERIFIED"), _) => {
            "verify the destination number first (spec.sandboxPhoneNumbers)".into()
        }
        (
            _,
            Some(
                "RESOURCE_NOT_ACTIVE"
                | "NUMBER_CAPABILITIES_MISMATCH"
                | "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY"
                | "NO_ORIGINATION_IDENTITIES_FOUND",
            ),
            _,
        ) => "name an active, SMS-capable origination identity for the destination's country in \
              spec.endUserMessaging.originationIdentity"
            .into(),
        (_, Some("MISSING_PARAMETER"), _) => "set spec.endUserMessaging.indiaDlt for destinations in India".into(),
        (_, Some("MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT" | "PRICE_OVER_THRESHOLD"), _) => {
            "raise the text message monthly spend limit".into()
        }
        (_, _, "ResourceNotFoundException") => format!(
            "check that the origination identity and configuration set exist in {}",
            m.region
        ),
        _ => "see End User Messaging's answer".into(),
    };
    let mut finding = failure(e);
    finding.reason = reasons::TEST_MESSAGE_FAILED;
    finding.message = format!(
        "{} failed, so the pool was not changed: {fix}: {}",
        Change::TestSendText(m.clone()),
        finding.message
    );
    finding
}

/// Cognito's own diagnosis of the pool's SMS (`SmsConfigurationFailure`), in the condition it
/// explains: a condition that passed fails with Cognito's word; one that failed says it too.
pub(super) fn apply_cognito_diagnosis(failure: &str, findings: &mut Findings, sms: &mut SmsFindings) {
    let sandboxed = sms.sandbox.status == crate::conditions::ConditionStatus::False;
    if failure.contains("Sandbox") && sandboxed {
        // Cognito agrees with the sandbox condition; it says so only once the pool sends through
        // the account, so repeating it would change the status on the resync after every write.
        return;
    }
    let (finding, hint) = if failure.contains("Sandbox") {
        (
            &mut sms.sandbox,
            "Cognito still finds the account in the SMS sandbox for the pool's SMS",
        )
    } else if ["Role", "Policy", "Trust"].iter().any(|w| failure.contains(w)) {
        (
            &mut findings.role,
            "Cognito cannot use the role for SMS: check its trust policy (sts:ExternalId, aws:SourceArn) and its permission",
        )
    } else {
        (
            &mut findings.user_pool,
            "Cognito cannot send the pool's SMS as configured",
        )
    };
    let note = format!("Cognito reports SmsConfigurationFailure {failure}");
    if finding.status == crate::conditions::ConditionStatus::True {
        *finding = Finding::failed(
            reasons::COGNITO_REPORTS_FAILURE,
            format!("{note}: {hint} ({})", finding.message),
        );
    } else {
        finding.message.push_str(&format!("; {note}"));
    }
}
