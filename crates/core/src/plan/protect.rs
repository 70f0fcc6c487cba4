//! Country protection against SMS pumping. On the direct path this resource keeps a protect
//! configuration of its own (tagged with it) whose SMS rules allow `destinationCountries` and
//! block every other country, associated with the pool's configuration set (one the operator
//! creates when the spec names none). On the SNS path only the account default can apply: it is
//! reported on, never changed. A protect configuration no longer asked for is disassociated and
//! deleted.

use super::observed::{Observed, Read};
use super::{Applied, Draft, Step, Tally};
use crate::account::AccountSms;
use crate::account::protect::{self, OwnedProtect};
use crate::conditions::{Finding, reasons};
use crate::crd::{CognitoSmsConfigStatus, DeliveryPath, ProtectStatus};
use crate::desired::{Change, Desired, ProtectWish};

/// The protection's part of a plan: its changes, in order, and the finding once all are made.
#[derive(Debug, Clone)]
pub(super) struct ProtectPlan {
    steps: Vec<Step>,
    /// `PumpingProtection` when every step is made (or when there is none).
    done: Finding,
    /// What status records once every step is made.
    record: Option<ProtectStatus>,
}

impl ProtectPlan {
    /// Nothing could be read: `finding` for the condition, and status keeps its record.
    pub(super) fn unread(finding: Finding, recorded: Option<ProtectStatus>) -> Self {
        Self::settled(finding, recorded)
    }

    fn settled(done: Finding, record: Option<ProtectStatus>) -> Self {
        Self {
            steps: vec![],
            done,
            record,
        }
    }
}

/// `previous` is the last status, which records this resource's protect configuration.
pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    previous: &CognitoSmsConfigStatus,
) -> ProtectPlan {
    let recorded = previous.protect.clone();
    let account = match &observed.account_sms {
        Read::Found(account) => Some(account.as_ref()),
        _ => None,
    };
    let region = spec.sms_region().to_string();
    match (spec.protect, spec.delivery_path()) {
        (Some(wish), DeliveryPath::EndUserMessaging) => direct(draft, spec, observed, account, wish, recorded),
        (wish, _) => {
            let finding = match (wish, account) {
                (None, _) => Finding::ok(reasons::NOT_REQUESTED, "spec.protect.blockOtherCountries is not set"),
                (Some(_), None) => Finding::unknown(reasons::NOT_CHECKED, "the account's SMS state was not read"),
                (Some(_), Some(account)) => protect::account_default_finding(
                    account.default_protect.as_ref(),
                    &spec.destination_countries,
                    &region,
                ),
            };
            teardown(draft, observed, account, &region, recorded, finding)
        }
    }
}

/// Remove this resource's protect configuration, if it has one: disassociated from every
/// configuration set that has it, then deleted.
fn teardown(
    draft: &mut Draft,
    observed: &Observed,
    account: Option<&AccountSms>,
    region: &str,
    recorded: Option<ProtectStatus>,
    finding: Finding,
) -> ProtectPlan {
    let kept_set = recorded.as_ref().and_then(|r| r.configuration_set_name.clone());
    let after = kept_set.clone().map(|name| ProtectStatus {
        protect_configuration_id: None,
        configuration_set_name: Some(name),
    });
    let ours = match &observed.protect {
        Read::Found(Some(ours)) => ours,
        Read::Found(None) | Read::Absent => return ProtectPlan::settled(finding, after),
        Read::Skipped => return ProtectPlan::settled(finding, recorded),
        Read::Failed(e) => {
            let failed = draft.tally.fail(e);
            let message = format!("cannot read protect configuration to remove it: {}", failed.message);
            return ProtectPlan::settled(Finding { message, ..failed }, recorded);
        }
    };
    let Some(account) = account else {
        return ProtectPlan::settled(finding, recorded);
    };
    let mut steps: Vec<Step> = account
        .configuration_set_protect
        .iter()
        .filter(|(_, id)| **id == ours.id)
        .map(|(set, _)| {
            Step::new(Change::DisassociateProtectConfiguration {
                region: region.to_string(),
                id: ours.id.clone(),
                configuration_set: set.clone(),
            })
        })
        .collect();
    steps.push(Step::new(Change::DeleteProtectConfiguration {
        region: region.to_string(),
        id: ours.id.clone(),
    }));
    ProtectPlan {
        steps,
        done: finding,
        record: after,
    }
}

/// The direct path: this resource's protect configuration, its rules and its configuration set.
fn direct(
    draft: &mut Draft,
    spec: &Desired,
    observed: &Observed,
    account: Option<&AccountSms>,
    wish: ProtectWish,
    recorded: Option<ProtectStatus>,
) -> ProtectPlan {
    let region = spec.sms_region().to_string();
    let set = spec.protected_configuration_set().unwrap_or_default();
    let owned_set = spec.owned_configuration_set();
    let Some(account) = account else {
        let finding = Finding::unknown(reasons::NOT_CHECKED, "the account's SMS state was not read");
        return ProtectPlan::settled(finding, recorded);
    };
    let ours: &Option<OwnedProtect> = match &observed.protect {
        Read::Found(ours) => ours,
        Read::Failed(e) => {
            let failed = draft.tally.fail(e);
            let message = format!("cannot read this resource's protect configuration: {}", failed.message);
            return ProtectPlan::settled(Finding { message, ..failed }, recorded);
        }
        Read::Skipped | Read::Absent => {
            let finding = Finding::unknown(reasons::NOT_CHECKED, "the protect configuration was not read");
            return ProtectPlan::settled(finding, recorded);
        }
    };
    let record = |id: Option<&str>| ProtectStatus {
        protect_configuration_id: id.map(String::from),
        configuration_set_name: owned_set
            .clone()
            .or_else(|| recorded.as_ref().and_then(|r| r.configuration_set_name.clone())),
    };
    let Some(ours) = ours else {
        // Created now; found by its tags, given its rules and associated on the next reconcile.
        draft.tally.retry();
        let step = Step::new(Change::CreateProtectConfiguration {
            region,
            tags: spec.owner.tags(),
        });
        return ProtectPlan {
            steps: vec![step],
            done: Finding::unknown(
                reasons::CHANGES_PENDING,
                "created a protect configuration; its rules and configuration set follow on the next reconcile",
            ),
            record: Some(record(None)),
        };
    };
    let mut steps = vec![];
    let updates = protect::rule_updates(&ours.rules, &spec.destination_countries, wish.filter);
    if !updates.is_empty() {
        steps.push(Step::new(Change::UpdateProtectRules {
            region: region.clone(),
            id: ours.id.clone(),
            updates,
        }));
    }
    if owned_set.is_some() && !account.configuration_sets.contains(&set) {
        steps.push(Step::new(Change::CreateConfigurationSet {
            region: region.clone(),
            name: set.clone(),
            tags: spec.owner.tags(),
        }));
    }
    let done = match account.configuration_set_protect.get(&set) {
        Some(other) if *other != ours.id => Finding::failed(
            reasons::PROTECT_FAILED,
            format!(
                "configuration set {set} already has protect configuration {other}, which is not this resource's: \
                 disassociate it, or name another configuration set in spec.endUserMessaging.configurationSetName"
            ),
        ),
        current => {
            if current.is_none() {
                steps.push(Step::new(Change::AssociateProtectConfiguration {
                    region: region.clone(),
                    id: ours.id.clone(),
                    configuration_set: set.clone(),
                }));
            }
            let allowed = spec.destination_countries.join(", ");
            let how = if wish.filter {
                "filtered for SMS pumping"
            } else {
                "allowed"
            };
            Finding::ok(
                reasons::COUNTRIES_PROTECTED,
                format!(
                    "protect configuration {} on configuration set {set} blocks SMS to every country but {allowed} \
                     ({how})",
                    ours.id
                ),
            )
        }
    };
    ProtectPlan {
        steps,
        done,
        record: Some(record(Some(&ours.id))),
    }
}

impl ProtectPlan {
    pub(super) fn steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter()
    }

    pub(super) fn steps_mut(&mut self) -> impl Iterator<Item = &mut Step> {
        self.steps.iter_mut()
    }

    /// `PumpingProtection`, with status recording what this resource keeps.
    pub(super) fn conclude(self, status: &mut CognitoSmsConfigStatus, tally: &mut Tally) -> Finding {
        for step in &self.steps {
            match step.applied() {
                Applied::Done | Applied::AlreadyDone => {}
                Applied::Failed(e) => {
                    tally.note(e);
                    return Finding::failed(
                        reasons::PROTECT_FAILED,
                        format!("could not {}: {}: {}", step.change(), e.code, e.message),
                    );
                }
                Applied::DryRun | Applied::NotAttempted => {
                    return Finding::unknown(reasons::CHANGES_PENDING, format!("not applied: {}", step.change()));
                }
            }
        }
        status.protect = self.record;
        self.done
    }
}
