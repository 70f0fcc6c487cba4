//! The deletion policy, applied when a resource is deleted. Idempotent, and never blocked by an
//! invalid spec: what cannot be identified is left alone and reported.

use super::{Env, Mode, Reads, Writes, numbers_of, sms_region_of};
use crate::account::{NumberAt, mask};
use crate::aws::AwsError;
use crate::crd::{CognitoSmsConfig, DeletionPolicy};

use crate::desired::{self, Change, Owner, Ownership, POOL_TAG_KEYS, PoolOwnership, UserPool};
use crate::regions;

/// Warning reasons for what deleting a resource deliberately left in AWS.
pub const ROLE_RETAINED: &str = "RoleRetained";
pub const NUMBER_RETAINED: &str = "SandboxNumberRetained";

/// What deleting the resource did in AWS.
#[derive(Debug, Clone, Default)]
pub struct CleanupReport {
    pub changes: Vec<Change>,
    /// Things deliberately left in AWS, for Warning events: (reason, note).
    pub kept: Vec<(&'static str, String)>,
}

/// Apply the deletion policy. With `Delete`: the sandbox numbers this resource added that no other
/// resource lists; its protect configuration; and when the resource manages its pool, the managed role once the pool no
/// longer uses it, and then the ownership record on the pool (so that any installation may take
/// it over).
pub async fn cleanup<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
) -> Result<CleanupReport, AwsError> {
    let mut out = CleanupReport::default();
    if res.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(out);
    }
    remove_added_numbers(env, res, mode, &mut out).await?;
    remove_protect_configuration(env, res, mode, &mut out).await?;
    if env.pool_managed_by.is_some() {
        return Ok(out);
    }
    let pool_region = regions::pool_region(&res.spec.user_pool_id);
    let pool = match pool_region {
        Some(region) => env.reads.user_pool(region, &res.spec.user_pool_id).await?,
        None => None,
    };
    let owner = Owner::of(res);
    let ownership = pool
        .as_ref()
        .map(|p| desired::pool_ownership(&p.tags, env.installation, &owner));
    if matches!(ownership, Some(PoolOwnership::OtherInstallation { .. })) {
        return Ok(out);
    }
    let role_kept_for_pool = match res.spec.role.existing {
        None => {
            let mut pools: Vec<(String, UserPool)> = vec![];
            if let (Some(region), Some(pool)) = (pool_region, pool.as_ref()) {
                pools.push((region.to_string(), pool.clone()));
                pools.extend(secondaries(env, region, &res.spec.user_pool_id).await?);
            }
            delete_managed_role(env, res, &pools, mode, &mut out).await?
        }
        Some(_) => false,
    };
    // A pool that still sends with the managed role stays recorded as this resource's, like the
    // role: a resource of this installation that names the pool next takes over both.
    if let Some(pool) = pool.filter(|_| ownership == Some(PoolOwnership::Ours) && !role_kept_for_pool) {
        let change = Change::UntagUserPool {
            user_pool_id: res.spec.user_pool_id.clone(),
            arn: pool.arn.clone().unwrap_or_default(),
            keys: POOL_TAG_KEYS.iter().map(|k| k.to_string()).collect(),
        };
        if mode == Mode::Apply {
            env.writes.apply(&change).await?;
        }
        out.changes.push(change);
    }
    Ok(out)
}

/// The spec's numbers that this resource added to their region's sandbox and no other resource
/// lists there.
fn numbers_to_remove(res: &CognitoSmsConfig, env: &Env<'_, impl Reads, impl Writes>) -> Vec<NumberAt> {
    let (Some(status), Some(primary)) = (res.status.as_ref(), sms_region_of(res)) else {
        return vec![];
    };
    numbers_of(res)
        .into_iter()
        .filter(|at| {
            status.sandbox_phone_numbers.iter().any(|s| {
                s.added_by_operator
                    && s.region.as_deref().unwrap_or(&primary) == at.region
                    && env.number_ids.matches(&s.id, &at.number)
            })
        })
        .filter(|at| !env.claimed_elsewhere.contains(at))
        .collect()
}

async fn remove_added_numbers<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
    out: &mut CleanupReport,
) -> Result<(), AwsError> {
    let ours = numbers_to_remove(res, env);
    if ours.is_empty() {
        return Ok(());
    }
    let account_id = env.reads.account_id().await?;
    let mut regions: Vec<&str> = ours.iter().map(|at| at.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        let account = env.reads.account_sms(&account_id, region).await?;
        for at in ours.iter().filter(|at| at.region == region) {
            let Some(destination) = account.destinations.get(&at.number) else {
                continue;
            };
            let change = Change::RemoveSandboxNumber {
                region: region.to_string(),
                number: at.number.clone(),
                id: destination.id.clone(),
            };
            if mode == Mode::DryRun {
                out.changes.push(change);
                continue;
            }
            match env.writes.apply(&change).await {
                Ok(()) => out.changes.push(change),
                Err(e) if e.is_not_found() => {}
                // Refused within 24 hours of adding or verifying the number.
                Err(e) if e.code == "ConflictException" => out.kept.push((
                    NUMBER_RETAINED,
                    format!(
                        "{} was left in the verified destination numbers in {region}: {}",
                        mask(&at.number),
                        e.message
                    ),
                )),
                Err(e) => return Err(e),
            }
        }
        env.reads.forget_account_sms(&account_id, region);
    }
    Ok(())
}

/// This resource's protect configuration, disassociated from every configuration set that has it
/// and deleted. The configuration set the operator created stays: the pool still names it, and
/// deletion never changes the pool.
async fn remove_protect_configuration<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    mode: Mode,
    out: &mut CleanupReport,
) -> Result<(), AwsError> {
    let recorded = res.status.as_ref().and_then(|s| s.protect.as_ref());
    let (Some(id), Some(region)) = (
        recorded.and_then(|p| p.protect_configuration_id.clone()),
        regions::pool_region(&res.spec.user_pool_id),
    ) else {
        return Ok(());
    };
    let account_id = env.reads.account_id().await?;
    let account = env.reads.account_sms(&account_id, region).await?;
    let mut changes: Vec<Change> = account
        .configuration_set_protect
        .iter()
        .filter(|(_, protect)| **protect == id)
        .map(|(set, _)| Change::DisassociateProtectConfiguration {
            region: region.to_string(),
            id: id.clone(),
            configuration_set: set.clone(),
        })
        .collect();
    changes.push(Change::DeleteProtectConfiguration {
        region: region.to_string(),
        id,
    });
    for change in changes {
        if mode == Mode::Apply {
            match env.writes.apply(&change).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        out.changes.push(change);
    }
    env.reads.forget_account_sms(&account_id, region);
    Ok(())
}

/// The pool's secondary Regions that exist, each with the pool as read there.
async fn secondaries<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    region: &str,
    id: &str,
) -> Result<Vec<(String, UserPool)>, AwsError> {
    let mut out = vec![];
    for replica in desired::secondaries(&env.reads.replicas(region, id).await?.unwrap_or_default()) {
        if let Some(pool) = env.reads.user_pool(&replica.region, id).await? {
            out.push((replica.region.clone(), pool));
        }
    }
    Ok(out)
}

/// Delete the managed role unless the pool still sends with it in one of its Regions (`pools`,
/// the primary's first); whether it was kept for the pool.
async fn delete_managed_role<R: Reads, W: Writes>(
    env: &Env<'_, R, W>,
    res: &CognitoSmsConfig,
    pools: &[(String, UserPool)],
    mode: Mode,
    out: &mut CleanupReport,
) -> Result<bool, AwsError> {
    let spec = &res.spec;
    let managed = spec.role.managed.clone().unwrap_or_default();
    let name = desired::role_name(&managed, &spec.user_pool_id);
    let Some(role) = env.reads.role(&name).await? else {
        return Ok(false);
    };
    if desired::ownership(&role.tags, &Owner::of(res)) != Ownership::Ours {
        let note = format!("IAM role {name} is not owned by this resource and was left in place");
        out.kept.push((ROLE_RETAINED, note));
        return Ok(false);
    }
    let using: Vec<&str> = pools
        .iter()
        .filter(|(_, p)| p.sms.as_ref().is_some_and(|c| c.caller_arn == role.arn))
        .map(|(region, _)| region.as_str())
        .collect();
    if !using.is_empty() {
        let note = format!(
            "IAM role {} was kept: user pool {} still sends SMS with it (in {}); point the pool at another role \
             there, then delete the role",
            role.arn,
            spec.user_pool_id,
            using.join(", ")
        );
        out.kept.push((ROLE_RETAINED, note));
        return Ok(true);
    }
    let change = Change::DeleteRole { role_name: name };
    if mode == Mode::Apply {
        env.writes.apply(&change).await?;
    }
    out.changes.push(change);
    Ok(false)
}
