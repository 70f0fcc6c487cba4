//! The secondary Region of a multi-Region user pool: Cognito keeps the SMS configuration of each
//! Region apart, so the operator gives the secondary the primary's role and external ID, with
//! the path the spec gives it (by default the SNS region of its own Region's row), once it is
//! `ACTIVE` or `INACTIVE`.

use super::observed::{Observed, Read};
use super::{Applied, Step, Tally, config, pending};
use crate::account::{self as sms_account, AccountSms, Identity};
use crate::conditions::{Finding, reasons};
use crate::crd::{DeliveryPath, RegionStatus};
use crate::desired::{
    self, Change, Desired, DirectPath, DirectSms, Replica, ReplicaPath, ReplicaPathError, ReplicaRole, ReplicaStatus,
    SmsConfig,
};
use crate::policy;

/// One secondary's part of the plan.
#[derive(Debug, Clone)]
pub(super) struct ReplicaPlan {
    replica: Replica,
    /// The SNS region it is to send through, when that is known.
    sns_region: Option<String>,
    path: Option<DeliveryPath>,
    /// Whether the account is in the SMS sandbox where it sends, when read.
    sandbox: Option<bool>,
    state: ReplicaState,
}

// A pool has one secondary: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum ReplicaState {
    /// `CREATING` or `DELETING`: configured once `ACTIVE` or `INACTIVE`.
    Waiting,
    /// In sync (`Ok`), or what stops it.
    Settled(Finding),
    /// A dry-run send from the secondary's Region first (direct path), then the update.
    Update {
        test: Option<Step>,
        step: Step,
        in_sync: Finding,
    },
}

/// The pool's ARN in each of its Regions that Cognito may send from: the primary's first, then
/// each secondary's but one being deleted.
pub(super) fn pool_arns(primary_arn: &str, observed: &Observed) -> Vec<String> {
    let mut arns = vec![primary_arn.to_string()];
    if let Read::Found(replicas) = &observed.replicas {
        let secondaries = desired::secondaries(replicas).filter(|r| r.status != ReplicaStatus::Deleting);
        arns.extend(secondaries.map(|r| r.arn.clone()));
    }
    arns
}

/// The plan for each secondary, given the role and external ID the primary uses.
pub(super) fn plan(spec: &Desired, observed: &Observed, role_arn: &str, external_id: Option<&str>) -> Vec<ReplicaPlan> {
    let Read::Found(replicas) = &observed.replicas else {
        return vec![];
    };
    desired::secondaries(replicas)
        .map(|replica| {
            let path = spec.replica_path(&replica.region);
            let (sns_region, delivery_path) = match &path {
                Ok(ReplicaPath::Sns { region }) => (Some(region.clone()), Some(DeliveryPath::Sns)),
                Ok(ReplicaPath::Direct(_)) => (None, Some(DeliveryPath::EndUserMessaging)),
                Err(_) => (None, None),
            };
            let sandbox = sns_region
                .as_deref()
                .and_then(|r| observed.account_in(r, spec.sms_region()))
                .map(|a| a.in_sandbox);
            let state = if replica.status.configurable() {
                plan_one(spec, observed, replica, path, role_arn, external_id)
            } else {
                ReplicaState::Waiting
            };
            ReplicaPlan {
                replica: replica.clone(),
                sns_region,
                path: delivery_path,
                sandbox,
                state,
            }
        })
        .collect()
}

fn plan_one(
    spec: &Desired,
    observed: &Observed,
    replica: &Replica,
    path: Result<ReplicaPath, ReplicaPathError>,
    role_arn: &str,
    external_id: Option<&str>,
) -> ReplicaState {
    let region = &replica.region;
    let path = match path {
        Ok(path) => path,
        Err(e @ ReplicaPathError::IdentityNeededInRegion { .. }) => {
            return ReplicaState::Settled(Finding::failed(reasons::IDENTITY_NEEDED_IN_REGION, e.to_string()));
        }
        Err(e) => return ReplicaState::Settled(Finding::failed(reasons::INVALID_REPLICA_SETTINGS, e.to_string())),
    };
    let read = observed
        .replica_pools
        .iter()
        .find(|(r, _)| r.region == *region)
        .map(|(_, read)| read);
    let pool = match read {
        Some(Read::Found(pool)) => pool,
        Some(Read::Failed(e)) => return ReplicaState::Settled(super::failure(e)),
        _ => {
            return ReplicaState::Settled(Finding::unknown(
                reasons::REPLICA_NOT_READY,
                format!(
                    "user pool {} is listed in {region} but cannot be read there yet",
                    spec.user_pool_id
                ),
            ));
        }
    };
    let (desired, account) = match desired_sms(spec, observed, region, &path, role_arn, external_id) {
        Ok(desired) => desired,
        Err(finding) => return ReplicaState::Settled(finding),
    };
    let in_sync = Finding::ok(reasons::REPLICAS_IN_SYNC, in_sync_message(region, &desired));
    if pool.sms.as_ref() == Some(&desired) {
        return ReplicaState::Settled(in_sync);
    }
    let dlt = match &path {
        ReplicaPath::Direct(d) => d.india_dlt.as_ref(),
        ReplicaPath::Sns { .. } => None,
    };
    let test = account.and_then(|account| {
        let direct = desired.direct.as_ref()?;
        let destination = config::test_destination(spec, account)?;
        Some(Step::new(Change::TestSendText(config::test_message(
            dlt,
            &desired,
            direct,
            destination,
        ))))
    });
    let change = Change::UpdateReplicaSmsConfiguration {
        user_pool_id: spec.user_pool_id.clone(),
        region: region.clone(),
        primary_region: spec.pool_region.clone(),
        from: pool.sms.clone(),
        to: desired,
    };
    ReplicaState::Update {
        test,
        step: Step::new(change),
        in_sync,
    }
}

/// The secondary's `SmsConfiguration` the spec asks for, with the account's state in its Region on
/// the direct path (for the dry-run send); or why it cannot be known.
fn desired_sms<'a>(
    spec: &Desired,
    observed: &'a Observed,
    region: &str,
    path: &ReplicaPath,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<(SmsConfig, Option<&'a AccountSms>), Finding> {
    let mut sms = SmsConfig {
        caller_arn: role_arn.to_string(),
        external_id: external_id.map(String::from),
        region: None,
        direct: None,
    };
    let direct = match path {
        ReplicaPath::Sns { region: sns_region } => {
            sms.region = Some(sns_region.clone());
            return Ok((sms, None));
        }
        ReplicaPath::Direct(direct) => direct,
    };
    let account = observed.account_in(region, spec.sms_region()).ok_or_else(|| {
        Finding::unknown(
            reasons::REPLICA_NOT_READY,
            format!("the account's End User Messaging state in {region} cannot be read yet"),
        )
    })?;
    let identity =
        identity_in(direct, account, region).map_err(|why| Finding::failed(reasons::IDENTITY_NEEDED_IN_REGION, why))?;
    if let Some(set) = direct
        .configuration_set
        .as_ref()
        .filter(|s| !account.configuration_sets.contains(*s))
    {
        return Err(Finding::failed(
            reasons::CONFIGURATION_SET_NOT_FOUND,
            format!(
                "End User Messaging has no configuration set {set} in {region}: create it there, or fix \
                 spec.replicas[] with region {region}"
            ),
        ));
    }
    sms.region = Some(region.to_string());
    sms.direct = Some(DirectSms {
        origination_identity: identity.map(|i| i.arn.clone()),
        configuration_set: direct.configuration_set.clone(),
        in_entity_id: direct.india_dlt.as_ref().map(|d| d.entity_id.clone()),
        in_template_id: direct.india_dlt.as_ref().map(|d| d.template_id.clone()),
    });
    Ok((sms, Some(account)))
}

fn in_sync_message(region: &str, sms: &SmsConfig) -> String {
    let through = sms.region.as_deref().unwrap_or_default();
    match &sms.direct {
        None => format!("{region} sends SMS as {} through SNS in {through}", sms.caller_arn),
        Some(direct) => format!(
            "{region} sends SMS as {} directly through End User Messaging in {through}{}",
            sms.caller_arn,
            direct
                .origination_identity
                .as_deref()
                .map(|arn| format!(" from {arn}"))
                .unwrap_or_default()
        ),
    }
}

/// The origination identity `direct` names, resolved in `region`; `None` when it names none.
fn identity_in<'a>(direct: &DirectPath, account: &'a AccountSms, region: &str) -> Result<Option<&'a Identity>, String> {
    match direct.origination_identity.as_deref() {
        None => Ok(None),
        Some(reference) => sms_account::resolve(account, reference, region)
            .map(Some)
            .map_err(|why| format!("the secondary in {region}: {why}")),
    }
}

/// What the role must be allowed to send from in the secondaries that send directly through End
/// User Messaging: each one's origination identity, or every identity of its Region when it names
/// none. A secondary whose identity cannot be resolved yet adds nothing (it is not configured).
pub(super) fn send_resources(spec: &Desired, observed: &Observed, primary_arn: &str) -> Vec<String> {
    let Read::Found(replicas) = &observed.replicas else {
        return vec![];
    };
    let partition = desired::partition_of(primary_arn);
    desired::secondaries(replicas)
        .filter(|r| r.status.configurable())
        .filter_map(|replica| {
            let Ok(ReplicaPath::Direct(direct)) = spec.replica_path(&replica.region) else {
                return None;
            };
            let account = observed.account_in(&replica.region, spec.sms_region())?;
            match identity_in(&direct, account, &replica.region).ok()? {
                Some(identity) => Some(identity.arn.clone()),
                None => Some(policy::identities_in_region(
                    partition,
                    &replica.region,
                    &observed.account_id,
                )),
            }
        })
        .collect()
}

/// `ReplicasConfigured` when the pool is not configured at all (the role or the pool stops it):
/// nothing is done in any secondary either.
pub(super) fn unplanned(observed: Option<&Observed>) -> Finding {
    match observed.map(|o| &o.replicas) {
        Some(Read::Found(replicas)) if desired::secondaries(replicas).next().is_none() => no_replicas(),
        Some(Read::Failed(e)) => super::failure(e),
        _ => Finding::unknown(reasons::NOT_CHECKED, "the primary's SMS configuration comes first"),
    }
}

fn no_replicas() -> Finding {
    Finding::ok(reasons::NO_REPLICAS, "the user pool has no secondary Region")
}

/// The steps of `plans`, in order.
pub(super) fn steps(plans: &[ReplicaPlan]) -> impl Iterator<Item = &Step> {
    plans
        .iter()
        .flat_map(|p| match &p.state {
            ReplicaState::Update { test, step, .. } => [test.as_ref(), Some(step)],
            _ => [None, None],
        })
        .flatten()
}

pub(super) fn steps_mut(plans: &mut [ReplicaPlan]) -> impl Iterator<Item = &mut Step> {
    plans
        .iter_mut()
        .flat_map(|p| match &mut p.state {
            ReplicaState::Update { test, step, .. } => [test.as_mut(), Some(step)],
            _ => [None, None],
        })
        .flatten()
}

/// `ReplicasConfigured` after execution, and `status.regions` (with the primary's row first).
pub(super) fn conclude(
    plans: Vec<ReplicaPlan>,
    primary: RegionStatus,
    tally: &mut Tally,
) -> (Finding, Vec<RegionStatus>) {
    if plans.is_empty() {
        return (no_replicas(), vec![]);
    }
    let mut regions = vec![primary];
    let mut findings = vec![];
    for plan in plans {
        let finding = match plan.state {
            ReplicaState::Waiting => Finding::unknown(
                reasons::REPLICA_NOT_READY,
                format!(
                    "the secondary in {} is {}: it is configured once it is ACTIVE or INACTIVE",
                    plan.replica.region, plan.replica.status
                ),
            ),
            ReplicaState::Settled(f) => f,
            ReplicaState::Update { test, step, in_sync } => {
                let tested = test.as_ref().map(|t| (t.applied(), t.change()));
                match (tested, step.applied()) {
                    (Some((Applied::Failed(e), Change::TestSendText(m))), _) => {
                        tally.note(e);
                        config::test_failed(e, m)
                    }
                    (_, Applied::Done | Applied::AlreadyDone) => in_sync,
                    (_, Applied::DryRun) => pending([step.change()]),
                    (_, Applied::NotAttempted) => Finding::unknown(
                        reasons::WAITING_FOR_ROLE,
                        "waiting for the primary's SMS configuration and the IAM role",
                    ),
                    (_, Applied::Failed(e)) => tally.fail(e),
                }
            }
        };
        regions.push(RegionStatus {
            region: plan.replica.region.clone(),
            role: "Secondary".into(),
            replica_status: plan.replica.status.to_string(),
            delivery_path: plan.path,
            sns_region: plan.sns_region,
            configured: finding.reason == reasons::REPLICAS_IN_SYNC,
            sandbox: plan.sandbox,
        });
        findings.push(finding);
    }
    let failing = findings
        .iter()
        .find(|f| f.status != crate::conditions::ConditionStatus::True);
    let finding = match failing {
        Some(f) => f.clone(),
        None => Finding::ok(
            reasons::REPLICAS_IN_SYNC,
            findings
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    (finding, regions)
}

/// The primary's row of `status.regions`.
pub(super) fn primary_row(spec: &Desired, observed: &Observed, configured: bool) -> RegionStatus {
    let status = match &observed.replicas {
        Read::Found(replicas) => replicas
            .iter()
            .find(|r| r.role == ReplicaRole::Primary)
            .map(|r| r.status.to_string()),
        _ => None,
    };
    RegionStatus {
        region: spec.pool_region.clone(),
        role: "Primary".into(),
        replica_status: status.unwrap_or_else(|| "ACTIVE".into()),
        delivery_path: Some(spec.delivery_path()),
        sns_region: match &spec.path {
            desired::Path::Sns { region } => Some(region.clone()),
            desired::Path::Direct(_) => None,
        },
        configured,
        sandbox: observed
            .account_in(spec.sms_region(), spec.sms_region())
            .map(|a| a.in_sandbox),
    }
}

/// `SpendLimitSufficient` covers every Region the pool sends from: the first secondary whose
/// region's monthly spend limit is below what the spec asks (or unknown), if any.
pub(super) fn spend_elsewhere(spec: &Desired, observed: &Observed) -> Option<Finding> {
    let Read::Found(replicas) = &observed.replicas else {
        return None;
    };
    let minimum = spec.minimum_monthly_spend_limit_usd.as_deref();
    desired::secondaries(replicas)
        .filter(|r| r.status.configurable())
        .find_map(|replica| {
            let (region, path) = spec.secondary_sends_through(&replica.region)?;
            let account = observed.account_in(&region, spec.sms_region())?;
            let finding = sms_account::spend_finding(account, minimum, path, &region);
            (finding.status != crate::conditions::ConditionStatus::True).then(|| Finding {
                message: format!(
                    "the pool's secondary in {} sends through {region}: {}",
                    replica.region, finding.message
                ),
                ..finding
            })
        })
}

/// `SandboxExited` covers every Region the pool sends from: a secondary whose SNS region is still
/// in the sandbox could text only verified numbers after a failover.
pub(super) fn sandbox_elsewhere(regions: &[RegionStatus]) -> Option<Finding> {
    let sandboxed = regions
        .iter()
        .find(|r| r.role == "Secondary" && r.sandbox == Some(true))?;
    let through = sandboxed.sns_region.as_deref().unwrap_or(&sandboxed.region);
    Some(Finding::failed(
        reasons::IN_SANDBOX,
        format!(
            "the account is in the SMS sandbox in {through}, where the pool's secondary in {} sends through SNS: after a \
             failover Cognito could text only verified numbers; request production access in {through} in the AWS End \
             User Messaging SMS console",
            sandboxed.region
        ),
    ))
}

/// Event reasons for a secondary Region that appeared or went.
pub const REPLICA_APPEARED: &str = "ReplicaAppeared";
pub const REPLICA_GONE: &str = "ReplicaGone";

/// The secondaries of `user_pool_id` that appeared or went between two statuses' `regions`, as
/// (Event reason, note).
pub fn region_changes(
    before: &[RegionStatus],
    after: &[RegionStatus],
    user_pool_id: &str,
) -> Vec<(&'static str, String)> {
    let secondaries = |rows: &[RegionStatus]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.role == "Secondary")
            .map(|r| r.region.clone())
            .collect()
    };
    let (was, is) = (secondaries(before), secondaries(after));
    let appeared = after.iter().filter(|r| r.role == "Secondary" && !was.contains(&r.region)).map(|r| {
        (
            REPLICA_APPEARED,
            format!(
                "user pool {user_pool_id} has a secondary in {} ({}): its SMS are configured once it is ACTIVE or INACTIVE",
                r.region, r.replica_status
            ),
        )
    });
    let gone = was.iter().filter(|r| !is.contains(r)).map(|region| {
        (
            REPLICA_GONE,
            format!("user pool {user_pool_id} no longer has a secondary in {region}"),
        )
    });
    appeared.chain(gone).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(region: &str, role: &str) -> RegionStatus {
        RegionStatus {
            region: region.into(),
            role: role.into(),
            replica_status: "ACTIVE".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_secondary_that_appears_or_goes_is_announced_once() {
        let one = [row("us-east-1", "Primary"), row("us-west-2", "Secondary")];
        let changes = region_changes(&[], &one, "us-east-1_A");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, REPLICA_APPEARED);
        assert!(changes[0].1.contains("secondary in us-west-2 (ACTIVE)"), "{changes:?}");
        assert!(region_changes(&one, &one, "us-east-1_A").is_empty(), "nothing new");
        assert_eq!(region_changes(&one, &[], "us-east-1_A")[0].0, REPLICA_GONE);
    }
}
