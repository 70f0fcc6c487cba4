//! What a reconcile reads, decided from the spec, the last status and what it read before: the
//! observer makes the reads in order and decides nothing itself.

use super::Observed;
use crate::account::{Listed, NumberAt, NumberIds};
use crate::crd::{CognitoSmsConfigStatus, DeliveryPath, SandboxNumberStatus, SandboxPhoneNumber};
use crate::desired::{
    self, Desired, ObservedRole, Ownership, PUBLISH_POLICY_NAME, Path, Replica, Role, SEND_TEXT_POLICY_NAME, UserPool,
};

/// Whether the pool as read is managed by another installation of the operator: then nothing
/// else is read.
pub fn pool_owned_elsewhere(pool: &UserPool, installation: &str, spec: &Desired) -> bool {
    !desired::pool_ownership(&pool.tags, installation, &spec.owner).is_ours_to_manage()
}

/// The secondaries whose pool is read in their own Region: those that take an update now
/// (`ACTIVE` or `INACTIVE`); a `CREATING` or `DELETING` one waits.
pub fn secondaries_to_read(replicas: &[Replica]) -> impl Iterator<Item = &Replica> {
    desired::secondaries(replicas).filter(|r| r.status.configurable())
}

/// The regions the secondaries read send through (their SNS region, or on the direct path their
/// own), other than the primary's: the account's SMS state (the sandbox, the identities, the
/// verified numbers) is read in each.
pub fn replica_sms_regions(spec: &Desired, secondaries: &[(Replica, super::Read<UserPool>)]) -> Vec<String> {
    let mut regions: Vec<String> = vec![];
    for (replica, _) in secondaries {
        let Ok(region) = spec.sms_region_of(&replica.region) else {
            continue;
        };
        if region != spec.sms_region() && !regions.contains(&region) {
            regions.push(region);
        }
    }
    regions
}

/// The Regions whose log delivery to read: the primary's and each secondary read (`ACTIVE` or
/// `INACTIVE`) where the spec asks for delivery logs, or where the last status records that this
/// resource set them (to stop them once the spec no longer asks).
pub fn log_delivery_regions(
    spec: &Desired,
    previous: Option<&CognitoSmsConfigStatus>,
    secondaries: &[(Replica, super::Read<UserPool>)],
) -> Vec<String> {
    let recorded = |region: &str| previous.is_some_and(|s| s.delivery_logs.iter().any(|d| d.region == region));
    std::iter::once(spec.pool_region.clone())
        .chain(secondaries.iter().map(|(r, _)| r.region.clone()))
        .filter(|region| spec.delivery_log_group_in(region).is_some() || recorded(region))
        .collect()
}

/// Whether to read this resource's protect configuration: the spec asks for one on the direct
/// path, or status records one (to remove it once the spec no longer asks).
pub fn protect_to_read(spec: &Desired, previous: Option<&CognitoSmsConfigStatus>) -> bool {
    spec.protected_configuration_set().is_some()
        || previous
            .and_then(|s| s.protect.as_ref())
            .is_some_and(|p| p.protect_configuration_id.is_some())
}

/// The role to read, once the pool is read and this installation's to manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleToRead<'a> {
    /// The role the spec names, by name, with the ARN the spec gives it.
    Existing { name: &'a str, arn: &'a str },
    /// The managed role, by name. `predecessor` is the resource of this installation this one
    /// takes the pool over from (from the pool's tags): its role goes with the pool.
    Managed { name: String, predecessor: Option<String> },
    /// The spec's role ARN names no role of the account: nothing to read, the plan says why.
    Nothing,
}

pub fn role_to_read<'a>(spec: &'a Desired, pool: &UserPool, account_id: &str, installation: &str) -> RoleToRead<'a> {
    match &spec.role {
        Role::Existing(existing) => match desired::existing_role_name(&existing.role_arn, account_id) {
            Ok(name) => RoleToRead::Existing {
                name,
                arn: &existing.role_arn,
            },
            Err(_) => RoleToRead::Nothing,
        },
        Role::Managed(managed) => RoleToRead::Managed {
            name: desired::role_name(managed, &spec.user_pool_id),
            predecessor: desired::predecessor(&pool.tags, installation, &spec.owner),
        },
    }
}

/// The managed role's inline policies to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyReads {
    /// The policy of the path the spec asks for.
    pub current: &'static str,
    /// The other path's policy, which must not stay behind: read after a change of path, that is
    /// when the last status does not show the path the spec asks for.
    pub stale: Option<&'static str>,
}

/// The inline policies to read of the managed role as read; `None` when it is not this
/// resource's (or its `predecessor`'s) at the path the spec asks for, so the plan leaves it be.
pub fn managed_policies_to_read(
    spec: &Desired,
    role: &ObservedRole,
    predecessor: Option<&str>,
    last_path: Option<DeliveryPath>,
) -> Option<PolicyReads> {
    let managed = spec.managed_role()?;
    let ours = desired::ownership_after_handover(&role.tags, &spec.owner, predecessor) == Ownership::Ours
        && role.path == desired::role_path(managed);
    if !ours {
        return None;
    }
    let (current, other) = match spec.path {
        Path::Sns { .. } => (PUBLISH_POLICY_NAME, SEND_TEXT_POLICY_NAME),
        Path::Direct(_) => (SEND_TEXT_POLICY_NAME, PUBLISH_POLICY_NAME),
    };
    Some(PolicyReads {
        current,
        stale: (last_path != Some(spec.delivery_path())).then_some(other),
    })
}

/// The region a status entry's number is verified in: the one it records, else (an entry written
/// before numbers named their Region) the primary's.
pub fn recorded_region<'a>(spec: &'a Desired, recorded: &'a SandboxNumberStatus) -> &'a str {
    recorded.region.as_deref().unwrap_or(spec.sms_region())
}

/// The regions, other than the primary's SMS region, whose sandbox holds this resource's numbers:
/// those the spec's numbers are placed in, and those where status records numbers this resource
/// added (to remove them once dropped from the spec).
pub fn number_regions(spec: &Desired, previous: &[SandboxNumberStatus]) -> Vec<String> {
    let listed = spec.placed_numbers().into_iter().filter_map(|(r, _)| r.ok());
    let added = previous
        .iter()
        .filter(|s| s.added_by_operator)
        .map(|s| recorded_region(spec, s).to_string());
    let mut regions: Vec<String> = vec![];
    for region in listed.chain(added) {
        if region != spec.sms_region() && !regions.contains(&region) {
            regions.push(region);
        }
    }
    regions
}

/// The spec's numbers their region's sandbox lists as pending verification: their Secrets hold
/// the codes that complete them.
pub fn numbers_awaiting_code<'a>(spec: &'a Desired, observed: &Observed) -> Vec<(NumberAt, &'a SandboxPhoneNumber)> {
    spec.placed_numbers()
        .into_iter()
        .filter_map(|(region, n)| {
            let region = region.ok()?;
            let account = observed.account_in(&region, spec.sms_region())?;
            let pending = account
                .destinations
                .get(&n.phone_number)
                .is_some_and(|d| d.state == Listed::Pending);
            pending.then(|| (NumberAt::new(region, &n.phone_number), n))
        })
        .collect()
}

/// The spec's numbers their region's sandbox lists that the last status holds no record of (a
/// crash between adding one and writing status), with their ARNs: their tags say whether this
/// resource added them.
pub fn unrecorded_numbers(
    spec: &Desired,
    previous: Option<&CognitoSmsConfigStatus>,
    observed: &Observed,
    ids: &NumberIds,
) -> Vec<(NumberAt, String)> {
    let recorded: Vec<(&str, &str)> = previous
        .iter()
        .flat_map(|s| &s.sandbox_phone_numbers)
        .map(|s| (recorded_region(spec, s), s.id.as_str()))
        .collect();
    spec.placed_numbers()
        .into_iter()
        .filter_map(|(region, n)| {
            let region = region.ok()?;
            let listed = observed
                .account_in(&region, spec.sms_region())?
                .destinations
                .get(&n.phone_number)?;
            let known = recorded
                .iter()
                .any(|(r, id)| *r == region && ids.matches(id, &n.phone_number));
            (!known).then(|| (NumberAt::new(region, &n.phone_number), listed.arn.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{as_created, resource};

    fn spec(extra: serde_json::Value) -> Desired {
        let mut body = json!({"userPoolId": "eu-west-1_Abc"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        Desired::parse(&resource("app", body)).unwrap()
    }

    fn role_of(spec: &Desired) -> ObservedRole {
        let managed = spec.managed_role().unwrap();
        let desired = desired::desired_role(
            managed,
            &spec.user_pool_id,
            "123456789012",
            &["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc".to_string()],
            None,
            &spec.owner,
            &desired::SendPermission::Publish,
        );
        as_created(&desired, "123456789012")
    }

    #[test]
    fn the_other_paths_policy_is_read_only_after_a_change_of_path() {
        let sns = spec(json!({}));
        let role = role_of(&sns);
        let same = managed_policies_to_read(&sns, &role, None, Some(DeliveryPath::Sns)).unwrap();
        assert_eq!(same.current, PUBLISH_POLICY_NAME);
        assert_eq!(same.stale, None);
        let moved = managed_policies_to_read(&sns, &role, None, Some(DeliveryPath::EndUserMessaging)).unwrap();
        assert_eq!(moved.stale, Some(SEND_TEXT_POLICY_NAME));
    }

    #[test]
    fn a_role_that_is_not_ours_has_no_policies_read() {
        let sns = spec(json!({}));
        let mut role = role_of(&sns);
        role.tags.clear();
        assert_eq!(managed_policies_to_read(&sns, &role, None, None), None);
        let mut moved = role_of(&sns);
        moved.path = "/elsewhere/".into();
        assert_eq!(managed_policies_to_read(&sns, &moved, None, None), None);
    }

    #[test]
    fn an_existing_role_of_another_account_is_not_read() {
        let theirs = spec(json!({"role": {"existing": {"roleArn": "arn:aws:iam::999999999999:role/x"}}}));
        assert_eq!(
            role_to_read(&theirs, &UserPool::default(), "123456789012", "it"),
            RoleToRead::Nothing
        );
        let ours = spec(json!({"role": {"existing": {"roleArn": "arn:aws:iam::123456789012:role/x"}}}));
        assert_eq!(
            role_to_read(&ours, &UserPool::default(), "123456789012", "it"),
            RoleToRead::Existing {
                name: "x",
                arn: "arn:aws:iam::123456789012:role/x"
            }
        );
    }
}
