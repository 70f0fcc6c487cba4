//! The secondary Region of a multi-Region user pool: Cognito keeps the SMS configuration of each
//! Region apart, so the operator gives the secondary the primary's role and external ID, with
//! the path the spec gives it (by default the SNS region of its own Region's row), once it is
//! `ACTIVE` or `INACTIVE`.

use super::observed::{Observed, Read};
use super::{Applied, Step, Tally, pending};
use crate::conditions::{Finding, reasons};
use crate::crd::{DeliveryPath, RegionStatus};
use crate::desired::{
    self, Change, Desired, Replica, ReplicaPath, ReplicaPathError, ReplicaRole, ReplicaStatus, SmsConfig,
};

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

#[derive(Debug, Clone)]
enum ReplicaState {
    /// `CREATING` or `DELETING`: configured once `ACTIVE` or `INACTIVE`.
    Waiting,
    /// In sync (`Ok`), or what stops it.
    Settled(Finding),
    Update {
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
    let sns_region = match path {
        Ok(ReplicaPath::Sns { region }) => region,
        Ok(ReplicaPath::Direct(_)) => {
            return ReplicaState::Settled(Finding::failed(
                reasons::DIRECT_PATH_REPLICA_NOT_CONFIGURED,
                format!(
                    "the secondary in {region} sends directly through End User Messaging, which this version of the \
                     operator does not configure on secondaries yet: set its SmsConfiguration in {region} yourself, \
                     or send through SNS there"
                ),
            ));
        }
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
    let desired = SmsConfig {
        caller_arn: role_arn.to_string(),
        external_id: external_id.map(String::from),
        region: Some(sns_region.clone()),
        direct: None,
    };
    let in_sync = Finding::ok(
        reasons::REPLICAS_IN_SYNC,
        format!("{region} sends SMS as {role_arn} through SNS in {sns_region}"),
    );
    if pool.sms.as_ref() == Some(&desired) {
        return ReplicaState::Settled(in_sync);
    }
    let change = Change::UpdateReplicaSmsConfiguration {
        user_pool_id: spec.user_pool_id.clone(),
        region: region.clone(),
        primary_region: spec.pool_region.clone(),
        from: pool.sms.clone(),
        to: desired,
    };
    ReplicaState::Update {
        step: Step::new(change),
        in_sync,
    }
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
    plans.iter().filter_map(|p| match &p.state {
        ReplicaState::Update { step, .. } => Some(step),
        _ => None,
    })
}

pub(super) fn steps_mut(plans: &mut [ReplicaPlan]) -> impl Iterator<Item = &mut Step> {
    plans.iter_mut().filter_map(|p| match &mut p.state {
        ReplicaState::Update { step, .. } => Some(step),
        _ => None,
    })
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
            ReplicaState::Update { step, in_sync } => match step.applied() {
                Applied::Done | Applied::AlreadyDone => in_sync,
                Applied::DryRun => pending([step.change()]),
                Applied::NotAttempted => Finding::unknown(
                    reasons::WAITING_FOR_ROLE,
                    "waiting for the primary's SMS configuration and the IAM role",
                ),
                Applied::Failed(e) => tally.fail(e),
            },
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
