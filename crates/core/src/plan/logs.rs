//! Delivery errors to CloudWatch Logs: each Region's `userNotification` log configuration, set to
//! the log group the spec names for it, and removed once the spec names none, if it is the one
//! this resource set. The pool's other log configuration (user activity) is sent back as it is.
//! A pool's Regions keep their log delivery apart, each to a log group of its own Region.

use super::observed::{Observed, Read};
use super::{Applied, Draft, Step, Tally};
use crate::conditions::{ConditionStatus, Finding, reasons};
use crate::crd::{CognitoSmsConfigStatus, DeliveryLogStatus};
use crate::desired::{Change, Desired, LogConfiguration, LogDestination, delivery_errors_group, with_delivery_errors};

/// The delivery logs' part of a plan, one entry a Region whose log delivery was read.
#[derive(Debug, Clone, Default)]
pub(super) struct LogsPlan {
    regions: Vec<RegionLogs>,
    /// The finding when no Region's log delivery is planned for.
    unplanned: Option<Finding>,
}

#[derive(Debug, Clone)]
struct RegionLogs {
    region: String,
    plan: RegionPlan,
}

#[derive(Debug, Clone)]
enum RegionPlan {
    /// Nothing to change, or nothing that can be; the finding is final, and status records
    /// `record` for the Region.
    Settled { finding: Finding, record: Option<String> },
    /// Deliver errors to `log_group`, or stop delivering them (`None`); status keeps `recorded`
    /// unless the change is made.
    Set {
        step: Step,
        log_group: Option<String>,
        recorded: Option<String>,
    },
}

impl LogsPlan {
    /// No Region planned for: `finding` is the condition's.
    pub(super) fn settled(finding: Finding) -> Self {
        Self {
            regions: vec![],
            unplanned: Some(finding),
        }
    }
}

/// `previous` is the last status, which records the log group this resource set in each Region.
pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    previous: &CognitoSmsConfigStatus,
) -> LogsPlan {
    let recorded = |region: &str| {
        previous
            .delivery_logs
            .iter()
            .find(|d| d.region == region)
            .map(|d| d.log_group_arn.clone())
    };
    let mut regions = vec![];
    for (region, read) in &observed.log_delivery {
        let wanted = spec.delivery_log_group_in(region);
        let plan = plan_region(
            draft,
            spec,
            region,
            wanted.as_deref(),
            recorded(region).as_deref(),
            read,
        );
        regions.push(RegionLogs {
            region: region.clone(),
            plan,
        });
    }
    // The primary first, as status lists Regions.
    regions.sort_by_key(|r| r.region != spec.pool_region);
    let unplanned = regions.is_empty().then(|| match spec.delivery_log_group {
        Some(_) => Finding::unknown(reasons::NOT_CHECKED, "the pool's log delivery was not read"),
        None => not_requested(),
    });
    LogsPlan { regions, unplanned }
}

fn plan_region(
    draft: &mut Draft,
    spec: &Desired,
    region: &str,
    wanted: Option<&str>,
    recorded: Option<&str>,
    read: &Read<Vec<LogConfiguration>>,
) -> RegionPlan {
    let settled = |finding: Finding, record: Option<&str>| RegionPlan::Settled {
        finding,
        record: record.map(String::from),
    };
    let current = match read {
        Read::Found(current) => current,
        Read::Failed(e) => {
            let failed = draft.tally.fail(e);
            let message = format!(
                "cannot read the log delivery of user pool {} in {region}: {}",
                spec.user_pool_id, failed.message
            );
            return settled(Finding { message, ..failed }, recorded);
        }
        Read::Skipped | Read::Absent => {
            let finding = Finding::unknown(
                reasons::NOT_CHECKED,
                format!("the log delivery in {region} was not read"),
            );
            return settled(finding, recorded);
        }
    };
    let now = delivery_errors_group(current);
    let target = match wanted {
        Some(group) => Some(group),
        // No longer asked for: stop only what this resource set; another's stays.
        None if now == recorded => None,
        None => return settled(not_requested(), None),
    };
    if now == target {
        let finding = target.map_or_else(not_requested, |g| in_sync(region, g));
        return settled(finding, target);
    }
    if current.iter().any(|c| c.destination == LogDestination::Unknown) {
        let msg = format!(
            "user pool {} has a log configuration in {region} of a kind this operator cannot send back, and setting \
             delivery errors would drop it: set the delivery errors' log group in the Cognito console",
            spec.user_pool_id
        );
        return settled(Finding::failed(reasons::DELIVERY_LOGS_REFUSED, msg), recorded);
    }
    let change = Change::SetLogDelivery {
        user_pool_id: spec.user_pool_id.clone(),
        region: region.to_string(),
        from: current.clone(),
        to: with_delivery_errors(current, target),
    };
    RegionPlan::Set {
        step: Step::new(change),
        log_group: target.map(String::from),
        recorded: recorded.map(String::from),
    }
}

fn not_requested() -> Finding {
    Finding::ok(reasons::NOT_REQUESTED, "spec.deliveryLogs is not set")
}

fn in_sync(region: &str, group: &str) -> Finding {
    Finding::ok(
        reasons::DELIVERY_LOGS_IN_SYNC,
        format!("the user pool delivers its message delivery errors in {region} to {group}"),
    )
}

impl LogsPlan {
    pub(super) fn steps(&self) -> impl Iterator<Item = &Step> {
        self.regions.iter().filter_map(|r| match &r.plan {
            RegionPlan::Settled { .. } => None,
            RegionPlan::Set { step, .. } => Some(step),
        })
    }

    pub(super) fn steps_mut(&mut self) -> impl Iterator<Item = &mut Step> {
        self.regions.iter_mut().filter_map(|r| match &mut r.plan {
            RegionPlan::Settled { .. } => None,
            RegionPlan::Set { step, .. } => Some(step),
        })
    }

    /// `DeliveryLogsConfigured`: the first Region's failure, else the first unknown, else the
    /// primary's; status records the log group this resource set in each Region.
    pub(super) fn conclude(self, status: &mut CognitoSmsConfigStatus, tally: &mut Tally) -> Finding {
        if let Some(finding) = self.unplanned {
            return finding;
        }
        let mut findings = vec![];
        status.delivery_logs.clear();
        for RegionLogs { region, plan } in self.regions {
            let (finding, record) = match plan {
                RegionPlan::Settled { finding, record } => (finding, record),
                RegionPlan::Set {
                    step,
                    log_group,
                    recorded,
                } => conclude_set(&region, &step, log_group, recorded, tally),
            };
            if let Some(log_group_arn) = record {
                status.delivery_logs.push(DeliveryLogStatus { region, log_group_arn });
            }
            findings.push(finding);
        }
        let first = |s: ConditionStatus| findings.iter().find(|f| f.status == s).cloned();
        first(ConditionStatus::False)
            .or_else(|| first(ConditionStatus::Unknown))
            .unwrap_or_else(|| findings.swap_remove(0))
    }
}

/// What became of a Region's change: the finding, and the log group status records.
fn conclude_set(
    region: &str,
    step: &Step,
    log_group: Option<String>,
    was: Option<String>,
    tally: &mut Tally,
) -> (Finding, Option<String>) {
    match step.applied() {
        Applied::Done | Applied::AlreadyDone => {
            let finding = log_group.as_deref().map_or_else(not_requested, |g| in_sync(region, g));
            (finding, log_group)
        }
        Applied::Failed(e) => {
            tally.note(e);
            let what = log_group.as_deref().map_or_else(
                || format!("stop delivering errors in {region}"),
                |g| format!("deliver errors in {region} to {g}"),
            );
            let finding = Finding::failed(
                reasons::DELIVERY_LOGS_REFUSED,
                format!(
                    "Cognito refused to {what}: {}: {}; the log group must exist in the pool's account and Region, \
                     and the operator needs the CloudWatch Logs delivery permissions in docs/iam.md",
                    e.code, e.message
                ),
            );
            (finding, was)
        }
        Applied::DryRun | Applied::NotAttempted => (
            Finding::unknown(reasons::CHANGES_PENDING, format!("not applied: {}", step.change())),
            was,
        ),
    }
}
