//! Step 6 of the guide: add, verify and remove this resource's sandbox destination numbers.

use std::collections::{BTreeMap, HashSet};

use super::{Draft, Tally};
use crate::account::numbers::{NumberReport, NumberStep, number_steps};
use crate::account::{AccountSms, mask, number_id};
use crate::conditions::reasons;
use crate::crd::{CognitoSmsConfig, SandboxNumberState, SandboxNumberStatus, SandboxPhoneNumber};
use crate::desired::Change;
use crate::reconcile::execute::Applied;
use crate::reconcile::observe::SecretCode;

use SandboxNumberState::{Failed, Pending, Removing, Verified};

/// One number's part of a plan: its report, or a change and how to report what became of it.
#[derive(Debug, Clone)]
pub(super) enum NumberPlan {
    Settled(NumberReport),
    Add {
        change: usize,
        number: String,
        secret: String,
    },
    Verify {
        change: usize,
        number: String,
        secret: String,
        added: bool,
        secret_version: Option<String>,
    },
    Remove {
        change: usize,
        number: String,
    },
}

/// The plan of every number the spec lists or dropped.
pub(super) fn plan(
    draft: &mut Draft,
    res: &CognitoSmsConfig,
    region: &str,
    account: &AccountSms,
    codes: &BTreeMap<String, Result<Option<SecretCode>, String>>,
    claimed_elsewhere: &HashSet<String>,
) -> Vec<NumberPlan> {
    let previous = res
        .status
        .as_ref()
        .map(|s| s.sandbox_phone_numbers.as_slice())
        .unwrap_or_default();
    let namespace = res.metadata.namespace.as_deref().unwrap_or("default");
    let steps = number_steps(
        &res.spec.sandbox_phone_numbers,
        &account.sandbox_numbers,
        previous,
        claimed_elsewhere,
    );
    steps
        .into_iter()
        .map(|step| match step {
            NumberStep::Done(n) => NumberPlan::Settled(
                NumberReport::new(&n.phone_number, Verified, reasons::VERIFIED, "verified with SNS")
                    .added_by_operator(before(previous, &n.phone_number).is_some_and(|s| s.added_by_operator)),
            ),
            NumberStep::Add(n) => {
                let change = Change::AddSandboxNumber {
                    region: region.to_string(),
                    number: n.phone_number.clone(),
                    language: n.language_code.map(|l| l.as_str().to_string()),
                };
                NumberPlan::Add {
                    change: draft.add([change]).start,
                    secret: secret_location(namespace, &n),
                    number: n.phone_number,
                }
            }
            NumberStep::Verify(n) => plan_verify(draft, region, namespace, &n, previous, codes),
            NumberStep::Remove(number) => {
                let change = Change::RemoveSandboxNumber {
                    region: region.to_string(),
                    number: number.clone(),
                };
                NumberPlan::Remove {
                    change: draft.add([change]).start,
                    number,
                }
            }
        })
        .collect()
}

fn before<'a>(previous: &'a [SandboxNumberStatus], number: &str) -> Option<&'a SandboxNumberStatus> {
    previous.iter().find(|s| s.id == number_id(number))
}

fn secret_location(namespace: &str, n: &SandboxPhoneNumber) -> String {
    format!(
        "Secret {namespace}/{} under key {}",
        n.verification_code_ref.name, n.verification_code_ref.key
    )
}

/// A pending number: verify it when its Secret holds a code SNS has not already refused.
fn plan_verify(
    draft: &mut Draft,
    region: &str,
    namespace: &str,
    n: &SandboxPhoneNumber,
    previous: &[SandboxNumberStatus],
    codes: &BTreeMap<String, Result<Option<SecretCode>, String>>,
) -> NumberPlan {
    let number = &n.phone_number;
    let secret = secret_location(namespace, n);
    let earlier = before(previous, number);
    let added = earlier.is_some_and(|s| s.added_by_operator);
    let settled = |report: NumberReport| NumberPlan::Settled(report.added_by_operator(added));
    let code = match codes.get(number) {
        Some(Ok(Some(code))) => code,
        None | Some(Ok(None)) => {
            let msg = format!(
                "waiting for the code SNS texted to {}: put it in {secret}",
                mask(number)
            );
            return settled(NumberReport::new(number, Pending, reasons::AWAITING_CODE, msg));
        }
        Some(Err(why)) => {
            draft.tally.retry();
            let msg = format!("cannot read {secret}: {why}");
            return settled(NumberReport::new(number, Failed, reasons::SECRET_UNREADABLE, msg));
        }
    };
    let rejected = earlier.and_then(|b| b.rejected_secret_version.clone());
    if rejected.is_some() && rejected == code.version {
        return settled(code_refused(number, &secret, rejected));
    }
    let change = Change::VerifySandboxNumber {
        region: region.to_string(),
        number: number.clone(),
        code: code.code.clone(),
    };
    NumberPlan::Verify {
        change: draft.add([change]).start,
        number: number.clone(),
        secret,
        added,
        secret_version: code.version.clone(),
    }
}

fn code_refused(number: &str, secret: &str, version: Option<String>) -> NumberReport {
    let msg = format!(
        "SNS did not accept the code in {secret}: put the code from the latest SMS to {} there",
        mask(number)
    );
    NumberReport::new(number, Failed, reasons::CODE_REJECTED, msg).rejected_secret_version(version)
}

impl NumberPlan {
    /// The number's report after execution; `None` once it is gone from the sandbox. Number
    /// changes are never held back by others, so only a dry run leaves one untried.
    pub(super) fn conclude(self, applied: &[Applied], tally: &mut Tally) -> Option<NumberReport> {
        match self {
            NumberPlan::Settled(report) => Some(report),
            NumberPlan::Add { change, number, secret } => Some(added(&applied[change], &number, &secret, tally)),
            NumberPlan::Verify {
                change,
                number,
                secret,
                added,
                secret_version,
            } => {
                let report = verified(&applied[change], &number, &secret, secret_version, tally);
                Some(report.added_by_operator(added))
            }
            NumberPlan::Remove { change, number } => removed(&applied[change], &number, tally),
        }
    }
}

fn added(applied: &Applied, number: &str, secret: &str, tally: &mut Tally) -> NumberReport {
    match applied {
        Applied::Done | Applied::AlreadyDone => {
            let msg = format!("SNS texted a verification code to {}: put it in {secret}", mask(number));
            NumberReport::new(number, Pending, reasons::CODE_SENT, msg).added_by_operator(true)
        }
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!("SNS refused to add the number: {}: {}", e.code, e.message);
            NumberReport::refused_by_aws(number, Failed, &e.code, msg)
        }
        Applied::DryRun | Applied::NotAttempted => {
            let msg = format!(
                "dry run, not applied: would ask SNS to text a verification code to {}, to be put in {secret}",
                mask(number)
            );
            NumberReport::new(number, Pending, reasons::CHANGES_PENDING, msg).added_by_operator(true)
        }
    }
}

fn verified(
    applied: &Applied,
    number: &str,
    secret: &str,
    secret_version: Option<String>,
    tally: &mut Tally,
) -> NumberReport {
    match applied {
        Applied::Done | Applied::AlreadyDone => {
            NumberReport::new(number, Verified, reasons::VERIFIED, "verified with SNS")
        }
        // A refused code leaves the number pending; it is not tried again until the Secret changes.
        Applied::Failed(e) if e.code == "VerificationException" => code_refused(number, secret, secret_version),
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!("SNS could not verify it: {}: {}", e.code, e.message);
            NumberReport::refused_by_aws(number, Failed, &e.code, msg)
        }
        Applied::DryRun | Applied::NotAttempted => {
            let msg = format!("dry run, not applied: would verify with the code in {secret}");
            NumberReport::new(number, Pending, reasons::CHANGES_PENDING, msg)
        }
    }
}

fn removed(applied: &Applied, number: &str, tally: &mut Tally) -> Option<NumberReport> {
    let report = match applied {
        Applied::Done | Applied::AlreadyDone => return None,
        // SNS refuses within 24 hours of the last attempt to add or verify the number: keep it in
        // status and try again on a later resync.
        Applied::Failed(e) if e.code == "UserError" => NumberReport::new(
            number,
            Removing,
            reasons::REMOVAL_REFUSED,
            format!(
                "SNS refused to remove it yet ({}); retrying on the next resync",
                e.message
            ),
        ),
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!("SNS refused to remove it: {}: {}", e.code, e.message);
            NumberReport::new(number, Removing, reasons::REMOVAL_REFUSED, msg)
        }
        Applied::DryRun | Applied::NotAttempted => NumberReport::new(
            number,
            Removing,
            reasons::CHANGES_PENDING,
            "dry run, not applied: dropped from the spec",
        ),
    };
    Some(report.added_by_operator(true))
}
