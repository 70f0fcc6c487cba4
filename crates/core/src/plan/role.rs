//! Step 1 of the guide: the role Cognito assumes. A managed role is brought to its desired
//! state; an existing role is only checked.

use super::observed::{Read, RoleReads};
use super::{Inputs, Requeue, Tally};
use crate::conditions::{Finding, reasons};
use crate::crd::{ExistingRole, ManagedRole};
use crate::desired::{
    self, Change, Desired, DesiredRole, ExistingRoleProblem, ObservedRole, Ownership, Role, RolePolicies,
    SendPermission,
};
use crate::error::{AwsError, ErrorKind};
use crate::policy;

/// The role's part of a plan.
#[derive(Debug, Clone)]
pub(super) struct RolePlan {
    /// The external ID status shows after this reconcile.
    pub external_id: Option<String>,
    pub state: RoleState,
}

#[derive(Debug, Clone)]
pub(super) enum RoleState {
    /// The role cannot be used: why, and whether to retry with backoff.
    Blocked(Finding, Requeue),
    /// The role is usable once `changes` are made (there may be none).
    Usable {
        arn: String,
        changes: Vec<Change>,
        ready: Finding,
    },
}

/// Where the role is to let Cognito in, and what it must let Cognito do.
struct Scope<'a> {
    desired: &'a Desired,
    account_id: &'a str,
    /// The pool's ARN in each of its Regions, the primary's first.
    pool_arns: &'a [String],
    permission: &'a SendPermission,
    /// The resource of this installation that managed the pool before this one took it over
    /// (`namespace/name`, from the pool's tags): its role goes with the pool.
    predecessor: Option<&'a str>,
}

/// The role's plan. `previous_external_id` is the one the last status recorded.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    desired: &Desired,
    previous_external_id: Option<&str>,
    account_id: &str,
    pool_arns: &[String],
    reads: &RoleReads,
    permission: &SendPermission,
    predecessor: Option<&str>,
    inputs: &Inputs,
) -> RolePlan {
    let scope = Scope {
        desired,
        account_id,
        pool_arns,
        permission,
        predecessor,
    };
    match &desired.role {
        Role::Existing(existing) => RolePlan {
            external_id: desired.external_id.clone(),
            state: check_existing(existing, &scope, reads),
        },
        Role::Managed(managed) => plan_managed(managed, previous_external_id, &scope, reads, inputs),
    }
}

fn blocked(reason: &'static str, message: String) -> RoleState {
    RoleState::Blocked(Finding::failed(reason, message), Requeue::Resync)
}

fn read_failed(e: &AwsError) -> RoleState {
    let mut tally = Tally::default();
    let finding = tally.fail(e);
    RoleState::Blocked(finding, tally.requeue)
}

fn plan_managed(
    managed: &ManagedRole,
    previous_id: Option<&str>,
    scope: &Scope,
    reads: &RoleReads,
    inputs: &Inputs,
) -> RolePlan {
    let keep = |state| RolePlan {
        external_id: previous_id.map(String::from),
        state,
    };
    let spec = scope.desired;
    let owner = &spec.owner;
    let name = desired::role_name(managed, &spec.user_pool_id);
    let observed = match &reads.role {
        Read::Found(role) => Some(role),
        Read::Absent => None,
        Read::Failed(e) => return keep(read_failed(e)),
        Read::Skipped => return keep(read_failed(&not_read("GetRole"))),
    };
    if let Some(role) = observed
        && let Some(conflict) = conflict(role, managed, owner, &name, scope.predecessor)
    {
        return keep(conflict);
    }
    // From here the role is this resource's (or absent): its external ID is the one in use.
    let in_trust = observed.and_then(|r| policy::external_id_of(&r.trust_policy));
    let external_id = desired::external_id(
        spec.external_id.as_deref(),
        true,
        previous_id,
        in_trust.as_deref(),
        || inputs.fresh_external_id.clone(),
    );
    let desired_role = desired::desired_role(
        managed,
        &spec.user_pool_id,
        scope.account_id,
        scope.pool_arns,
        external_id.as_deref(),
        owner,
        scope.permission,
    );
    let state = match role_policies(observed, reads) {
        Ok(policies) => usable(&desired_role, observed.map(|r| (r, policies)), managed, scope),
        Err(blocked) => blocked,
    };
    RolePlan { external_id, state }
}

/// The managed role, usable once the changes that bring it to `desired` are made.
fn usable(
    desired: &DesiredRole,
    observed: Option<(&ObservedRole, RolePolicies)>,
    managed: &ManagedRole,
    scope: &Scope,
) -> RoleState {
    let changes = desired::role_changes(desired, observed);
    let arn = observed.map(|(r, _)| r.arn.clone()).unwrap_or_else(|| {
        let partition = desired::partition_of(scope.pool_arns.first().map_or("", String::as_str));
        desired::role_arn(partition, scope.account_id, &desired.path, &desired.name)
    });
    let source = desired::source_arns(managed.source_arn_scope, scope.pool_arns).join(", ");
    let ready = Finding::ok(
        reasons::ROLE_IN_SYNC,
        format!(
            "IAM role {arn} lets Cognito ({source}) call {}",
            scope.permission.action()
        ),
    );
    RoleState::Usable { arn, changes, ready }
}

/// The managed role's inline policies as read: the current path's (`None` when the role or the
/// policy is absent), and whether the other path's is still there.
fn role_policies<'a>(role: Option<&ObservedRole>, reads: &'a RoleReads) -> Result<RolePolicies<'a>, RoleState> {
    if role.is_none() {
        return Ok(RolePolicies::default());
    }
    let current = match &reads.policies {
        Read::Found(docs) => docs.first(),
        Read::Failed(e) => return Err(read_failed(e)),
        Read::Skipped | Read::Absent => return Err(read_failed(&not_read("GetRolePolicy"))),
    };
    let stale_present = match &reads.stale_policy {
        Read::Found(present) => *present,
        Read::Failed(e) => return Err(read_failed(e)),
        Read::Skipped | Read::Absent => false,
    };
    Ok(RolePolicies { current, stale_present })
}

/// Why an existing role of the managed role's name cannot be managed for this resource. The role
/// of the resource this one took the pool over from is this one's now (its tags are rewritten).
fn conflict(
    role: &ObservedRole,
    managed: &ManagedRole,
    owner: &desired::Owner,
    name: &str,
    predecessor: Option<&str>,
) -> Option<RoleState> {
    match desired::ownership_after_handover(&role.tags, owner, predecessor) {
        Ownership::Ours => {}
        Ownership::OtherResource(other) => {
            return Some(blocked(
                reasons::ROLE_NAME_CONFLICT,
                format!("IAM role {name} is managed for {other}: set spec.role.managed.name to another name"),
            ));
        }
        Ownership::Foreign => {
            return Some(blocked(
                reasons::ROLE_NAME_CONFLICT,
                format!(
                    "IAM role {name} already exists and was not created by this operator; it is left untouched: \
                     set spec.role.managed.name to another name, or use it with spec.role.existing.roleArn"
                ),
            ));
        }
    }
    let path = desired::role_path(managed);
    (role.path != path).then(|| {
        blocked(
            reasons::ROLE_PATH_MISMATCH,
            format!(
                "IAM role {name} exists at path {} but spec asks for {path}; IAM cannot move a role: \
                 restore the path in the spec or delete the role",
                role.path
            ),
        )
    })
}

/// A read the observation did not make although the plan needs it: a defect, reported as such
/// rather than taken for an absent role.
fn not_read(operation: &'static str) -> AwsError {
    AwsError::new(
        "iam",
        operation,
        ErrorKind::Other,
        "NotObserved",
        "the role was not read",
    )
}

fn check_existing(existing: &ExistingRole, scope: &Scope, reads: &RoleReads) -> RoleState {
    let account_id = scope.account_id;
    let arn = &existing.role_arn;
    let name = match desired::existing_role_name(arn, account_id) {
        Ok(name) => name,
        Err(ExistingRoleProblem::OtherAccount(arn_account)) => {
            return blocked(
                reasons::ROLE_NOT_FOUND,
                format!(
                    "role {arn} is in account {arn_account}, but the user pool and the operator's credentials are in {account_id}"
                ),
            );
        }
        Err(ExistingRoleProblem::NotARoleArn) => {
            return blocked(reasons::INVALID_SPEC, format!("{arn} is not an IAM role ARN"));
        }
    };
    let role = match &reads.role {
        Read::Found(role) if role.arn == *arn => role,
        Read::Found(role) => {
            return blocked(
                reasons::ROLE_NOT_FOUND,
                format!(
                    "role {arn} not found; a role named {name} exists as {}: fix spec.role.existing.roleArn",
                    role.arn
                ),
            );
        }
        Read::Absent => {
            return blocked(
                reasons::ROLE_NOT_FOUND,
                format!("role {arn} not found: create it or fix spec.role.existing.roleArn"),
            );
        }
        Read::Failed(e) => return read_failed(e),
        Read::Skipped => return read_failed(&not_read("GetRole")),
    };
    let docs = match &reads.policies {
        Read::Found(docs) => docs,
        Read::Failed(e) => return read_failed(e),
        Read::Skipped | Read::Absent => return read_failed(&not_read("ListRolePolicies")),
    };
    existing_role_verdict(arn, role, docs, scope, scope.desired.external_id.as_deref())
}

/// Whether an existing role lets Cognito in for this pool and allows what the path needs; if
/// not, exactly what it lacks.
fn existing_role_verdict(
    arn: &str,
    role: &ObservedRole,
    docs: &[serde_json::Value],
    scope: &Scope,
    external_id: Option<&str>,
) -> RoleState {
    let gaps = policy::trust_gaps(&role.trust_policy, scope.account_id, scope.pool_arns, external_id);
    let mut problems: Vec<String> = gaps.iter().map(|g| format!("trust policy: {g}")).collect();
    if !scope.permission.granted_by(docs) {
        problems.push(format!(
            "permissions: no policy of the role allows {}",
            scope.permission
        ));
    }
    if problems.is_empty() {
        return RoleState::Usable {
            arn: arn.to_string(),
            changes: vec![],
            ready: Finding::ok(
                reasons::ROLE_VALID,
                format!(
                    "role {arn} trusts Cognito for this pool and allows {}",
                    scope.permission.action()
                ),
            ),
        };
    }
    let reason = if gaps.is_empty() {
        reasons::PERMISSIONS_INCOMPLETE
    } else {
        reasons::TRUST_POLICY_INCOMPLETE
    };
    blocked(
        reason,
        format!(
            "role {arn} is not usable as it is (the operator never changes it): {}",
            problems.join("; ")
        ),
    )
}
