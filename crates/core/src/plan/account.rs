//! Steps 2 to 6 of the guide, as End User Messaging sees the account in the region the pool's SMS
//! go through: sandbox, spend limit, origination identities, and this resource's sandbox
//! destination numbers.

use super::numbers::{self, NumberPlan, NumberPlans};
use super::observed::{Observed, Read};
use super::{Draft, Inputs, NamedIdentity, Step, Tally};
use crate::account::{self, NumberIds, numbers::numbers_finding};
use crate::conditions::{ConditionStatus, Finding, SmsFindings, reasons};
use crate::crd::{CognitoSmsConfigStatus, SandboxState};
use crate::desired::Desired;

/// The account's part of a plan.
#[derive(Debug, Clone)]
pub(super) enum AccountPlan {
    /// The account's state could not be read; the findings are final.
    Settled(SmsFindings),
    Read {
        in_sandbox: bool,
        sandbox: Finding,
        origination: Finding,
        spend_limit: Finding,
        headroom: Finding,
        numbers: NumberPlans,
        /// How status identifies the numbers.
        ids: NumberIds,
    },
}

/// `previous` is the last status.
pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    previous: &CognitoSmsConfigStatus,
    observed: &Observed,
    identity: &NamedIdentity,
    inputs: &Inputs,
) -> AccountPlan {
    let region = spec.sms_region();
    let account = match &observed.account_sms {
        Read::Found(account) => account,
        Read::Failed(e) => return AccountPlan::Settled(SmsFindings::all(draft.tally.fail(e))),
        Read::Skipped | Read::Absent => {
            return AccountPlan::Settled(SmsFindings::unknown(reasons::NOT_CHECKED, "the account was not read"));
        }
    };
    draft.status.sandbox = Some(SandboxState {
        in_sandbox: account.in_sandbox,
    });
    draft.status.monthly_spend_limit_usd = account.monthly_spend_limit.clone();
    draft.status.origination_identities = account::identities(account);
    let countries = &spec.destination_countries;
    let origination = match identity {
        NamedIdentity::Unresolved(why) => Finding::failed(reasons::IDENTITY_NOT_FOUND, why.clone()),
        NamedIdentity::Resolved(named) => account::origination_finding(account, countries, region, Some(named)),
        NamedIdentity::NotNamed => account::origination_finding(account, countries, region, None),
    };
    let path = spec.delivery_path();
    let headroom = super::spend::plan(draft, spec, observed);
    AccountPlan::Read {
        in_sandbox: account.in_sandbox,
        sandbox: account::sandbox_finding(account, path, region),
        origination,
        spend_limit: account::spend_finding(account, spec.minimum_monthly_spend_limit_usd.as_deref(), path, region),
        headroom,
        numbers: numbers::plan(draft, spec, &previous.sandbox_phone_numbers, observed, inputs),
        ids: inputs.number_ids.clone(),
    }
}

impl AccountPlan {
    fn numbers(&self) -> &[(String, NumberPlan)] {
        match self {
            AccountPlan::Settled(_) => &[],
            AccountPlan::Read { numbers, .. } => &numbers.plans,
        }
    }

    /// The numbers' steps, in the order they are made.
    pub(super) fn steps(&self) -> impl Iterator<Item = &Step> {
        self.numbers().iter().filter_map(|(_, n)| n.step())
    }

    pub(super) fn steps_mut(&mut self) -> impl Iterator<Item = &mut Step> {
        let numbers: &mut [(String, NumberPlan)] = match self {
            AccountPlan::Settled(_) => &mut [],
            AccountPlan::Read { numbers, .. } => &mut numbers.plans,
        };
        numbers.iter_mut().filter_map(|(_, n)| n.step_mut())
    }

    /// The account's findings after execution; the numbers' states go to `status`.
    pub(super) fn conclude(self, status: &mut CognitoSmsConfigStatus, tally: &mut Tally) -> SmsFindings {
        match self {
            AccountPlan::Settled(findings) => findings,
            AccountPlan::Read {
                in_sandbox,
                sandbox,
                origination,
                spend_limit,
                headroom,
                numbers,
                ids,
            } => {
                let NumberPlans { plans, kept, unread } = numbers;
                let reports: Vec<_> = plans
                    .into_iter()
                    .filter_map(|(region, n)| Some(n.conclude(tally)?.in_region(region)))
                    .collect();
                let phone_numbers = match (numbers_finding(in_sandbox, &reports), unread) {
                    (found, Some(unread)) if found.status == ConditionStatus::True => unread,
                    (found, _) => found,
                };
                status.sandbox_phone_numbers = reports.into_iter().map(|r| r.into_status(&ids)).chain(kept).collect();
                SmsFindings {
                    sandbox,
                    phone_numbers,
                    origination,
                    spend_limit,
                    headroom,
                    // Replaced by the protect plan's finding.
                    protect: Finding::unknown(reasons::NOT_CHECKED, "not planned"),
                }
            }
        }
    }
}
