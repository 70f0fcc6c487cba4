//! Delivery errors to CloudWatch Logs: the pool's `userNotification` log configuration, set to the
//! log group the spec names, and removed once the spec names none, if it is the one this resource
//! set. The pool's other log configuration (user activity) is sent back as it is.

use super::observed::{Observed, Read};
use super::{Applied, Draft, Step, Tally};
use crate::conditions::{Finding, reasons};
use crate::crd::CognitoSmsConfigStatus;
use crate::desired::{Change, Desired, LogDestination, delivery_errors_group, with_delivery_errors};

/// The delivery logs' part of a plan.
#[derive(Debug, Clone)]
pub(super) enum LogsPlan {
    /// Nothing to change, or nothing that can be; the finding is final.
    Settled(Finding),
    /// Deliver errors to `log_group`, or stop delivering them (`None`).
    Set { step: Step, log_group: Option<String> },
}

/// `previous` is the last status, which records the log group this resource set.
pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    previous: &CognitoSmsConfigStatus,
) -> LogsPlan {
    let wanted = spec.delivery_log_group.as_deref();
    let recorded = previous.delivery_log_group_arn.as_deref();
    if wanted.is_none() && recorded.is_none() {
        return LogsPlan::Settled(not_requested());
    }
    let current = match &observed.log_delivery {
        Read::Found(current) => current,
        Read::Failed(e) => {
            let failed = draft.tally.fail(e);
            let message = format!(
                "cannot read the log delivery of user pool {}: {}",
                spec.user_pool_id, failed.message
            );
            return LogsPlan::Settled(Finding { message, ..failed });
        }
        Read::Skipped | Read::Absent => {
            return LogsPlan::Settled(Finding::unknown(
                reasons::NOT_CHECKED,
                "the pool's log delivery was not read",
            ));
        }
    };
    let now = delivery_errors_group(current);
    let target = match wanted {
        Some(group) => Some(group),
        // No longer asked for: stop only what this resource set; another's stays.
        None if now == recorded => None,
        None => {
            draft.status.delivery_log_group_arn = None;
            return LogsPlan::Settled(not_requested());
        }
    };
    if now == target {
        draft.status.delivery_log_group_arn = target.map(String::from);
        return LogsPlan::Settled(match target {
            Some(group) => in_sync(group),
            None => not_requested(),
        });
    }
    if current.iter().any(|c| c.destination == LogDestination::Unknown) {
        let msg = format!(
            "user pool {} has a log configuration of a kind this operator cannot send back, and setting delivery \
             errors would drop it: set the delivery errors' log group in the Cognito console",
            spec.user_pool_id
        );
        return LogsPlan::Settled(Finding::failed(reasons::DELIVERY_LOGS_REFUSED, msg));
    }
    let change = Change::SetLogDelivery {
        user_pool_id: spec.user_pool_id.clone(),
        region: spec.pool_region.clone(),
        from: current.clone(),
        to: with_delivery_errors(current, target),
    };
    LogsPlan::Set {
        step: Step::new(change),
        log_group: target.map(String::from),
    }
}

fn not_requested() -> Finding {
    Finding::ok(reasons::NOT_REQUESTED, "spec.deliveryLogs is not set")
}

fn in_sync(group: &str) -> Finding {
    Finding::ok(
        reasons::DELIVERY_LOGS_IN_SYNC,
        format!("the user pool delivers its message delivery errors to {group}"),
    )
}

impl LogsPlan {
    pub(super) fn step(&self) -> Option<&Step> {
        match self {
            LogsPlan::Settled(_) => None,
            LogsPlan::Set { step, .. } => Some(step),
        }
    }

    pub(super) fn step_mut(&mut self) -> Option<&mut Step> {
        match self {
            LogsPlan::Settled(_) => None,
            LogsPlan::Set { step, .. } => Some(step),
        }
    }

    /// `DeliveryLogsConfigured`, with status recording the log group this resource set.
    pub(super) fn conclude(self, status: &mut CognitoSmsConfigStatus, tally: &mut Tally) -> Finding {
        let (step, log_group) = match self {
            LogsPlan::Settled(finding) => return finding,
            LogsPlan::Set { step, log_group } => (step, log_group),
        };
        match step.applied() {
            Applied::Done | Applied::AlreadyDone => {
                status.delivery_log_group_arn = log_group.clone();
                log_group.as_deref().map_or_else(not_requested, in_sync)
            }
            Applied::Failed(e) => {
                tally.note(e);
                let what = log_group.as_deref().map_or_else(
                    || "stop delivering errors".to_string(),
                    |g| format!("deliver errors to {g}"),
                );
                Finding::failed(
                    reasons::DELIVERY_LOGS_REFUSED,
                    format!(
                        "Cognito refused to {what}: {}: {}; the log group must exist in the pool's account, and the \
                         operator needs the CloudWatch Logs delivery permissions in docs/iam.md",
                        e.code, e.message
                    ),
                )
            }
            Applied::DryRun | Applied::NotAttempted => {
                Finding::unknown(reasons::CHANGES_PENDING, format!("not applied: {}", step.change()))
            }
        }
    }
}
