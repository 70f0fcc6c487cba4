//! Step 6 of the guide: add, verify and remove this resource's sandbox destination numbers,
//! through End User Messaging's verified destination numbers.

use std::collections::{BTreeMap, HashSet};

use super::observed::{Observed, Read, SecretCode, SecretError};
use super::{Applied, reads};
use super::{Draft, Inputs, Step, Tally};
use crate::account::numbers::{NumberReport, NumberStep, number_steps};
use crate::account::{NumberAt, NumberIds, mask};
use crate::conditions::{Finding, reasons};
use crate::crd::{RESEND_CODES_ANNOTATION, SandboxNumberState, SandboxNumberStatus, SandboxPhoneNumber};
use crate::desired::{self, Change, Desired, Owner, Ownership};
use crate::error::AwsError;

use SandboxNumberState::{Failed, Pending, Removing, Verified};

/// One number's part of a plan: its report, or a change and how to report what became of it.
#[derive(Debug, Clone)]
pub(super) enum NumberPlan {
    Settled(NumberReport),
    Add {
        step: Step,
        number: String,
        secret: String,
        resend_hint: String,
    },
    SendCode {
        step: Step,
        number: String,
        secret: String,
        resend_hint: String,
        added: bool,
    },
    Verify {
        step: Step,
        number: String,
        secret: String,
        added: bool,
        secret_version: Option<String>,
    },
    Remove {
        step: Step,
        number: String,
    },
}

/// The numbers in one region's sandbox, and what the plan reads about them.
struct Numbers<'a> {
    region: &'a str,
    namespace: &'a str,
    name: &'a str,
    /// What the last status recorded of the numbers in this region.
    previous: &'a [SandboxNumberStatus],
    codes: &'a BTreeMap<NumberAt, Result<Option<SecretCode>, SecretError>>,
    /// The tags of numbers status has no record of.
    tags: &'a BTreeMap<NumberAt, BTreeMap<String, String>>,
    owner: &'a Owner,
    ids: &'a NumberIds,
}

/// The numbers' part of a plan, in every region whose sandbox holds them.
#[derive(Debug, Clone, Default)]
pub(super) struct NumberPlans {
    /// Each number's plan, with the region whose sandbox holds it.
    pub(super) plans: Vec<(String, NumberPlan)>,
    /// What status recorded of the numbers of regions that could not be read, kept as it was.
    pub(super) kept: Vec<SandboxNumberStatus>,
    /// `PhoneNumbersVerified` while a region's sandbox could not be read.
    pub(super) unread: Option<Finding>,
}

/// The plan of every number the spec lists or dropped, in each region whose sandbox holds them.
/// `previous` is what the last status recorded of them.
pub(super) fn plan(
    draft: &mut Draft,
    spec: &Desired,
    previous: &[SandboxNumberStatus],
    observed: &Observed,
    inputs: &Inputs,
) -> NumberPlans {
    let requested = spec.resend_codes_request.clone();
    let resend = requested.is_some() && requested != draft.status.resend_codes_request;
    if resend {
        draft.status.resend_codes_request = requested;
    }
    let placed = spec.placed_numbers();
    let mut out = NumberPlans::default();
    for (region, n) in &placed {
        if let Err(why) = region {
            let msg = format!("region {}: {why}", n.region.as_deref().unwrap_or_default());
            let report = NumberReport::new(&n.phone_number, Failed, reasons::INVALID_SPEC, msg);
            let region = n.region.clone().unwrap_or_default();
            out.plans.push((region, NumberPlan::Settled(report)));
        }
    }
    let primary = spec.sms_region();
    let regions = std::iter::once(primary.to_string()).chain(reads::number_regions(spec, previous));
    for region in regions {
        let previous: Vec<SandboxNumberStatus> = previous
            .iter()
            .filter(|s| reads::recorded_region(spec, s) == region)
            .cloned()
            .collect();
        let read = match region == primary {
            true => Some(&observed.account_sms),
            false => observed.replica_accounts.get(&region),
        };
        let account = match read {
            Some(Read::Found(account)) => account,
            Some(Read::Failed(e)) => {
                let failed = draft.tally.fail(e);
                let finding = Finding {
                    message: format!("cannot read the sandbox of {region}: {}", failed.message),
                    ..failed
                };
                out.unread.get_or_insert(finding);
                out.kept.extend(previous);
                continue;
            }
            None | Some(Read::Skipped | Read::Absent) => {
                let msg = format!("the sandbox of {region} was not read");
                out.unread.get_or_insert(Finding::unknown(reasons::NOT_CHECKED, msg));
                out.kept.extend(previous);
                continue;
            }
        };
        let wanted: Vec<SandboxPhoneNumber> = placed
            .iter()
            .filter(|(r, _)| r.as_deref() == Ok(region.as_str()))
            .map(|(_, n)| (*n).clone())
            .collect();
        let claimed: HashSet<String> = inputs
            .claimed_elsewhere
            .iter()
            .filter(|at| at.region == region)
            .map(|at| at.number.clone())
            .collect();
        let at = Numbers {
            region: &region,
            namespace: &spec.owner.namespace,
            name: &spec.owner.name,
            previous: &previous,
            codes: &observed.codes,
            tags: &observed.number_tags,
            owner: &spec.owner,
            ids: inputs.number_ids,
        };
        let steps = number_steps(
            &wanted,
            &account.destinations,
            &previous,
            &claimed,
            resend,
            inputs.number_ids,
        );
        for step in steps {
            let plan = at.plan_step(draft, step);
            out.plans.push((region.clone(), plan));
        }
    }
    out
}

fn language(n: &SandboxPhoneNumber) -> Option<String> {
    n.language_code.map(|l| l.as_str().to_string())
}

impl Numbers<'_> {
    fn before(&self, number: &str) -> Option<&SandboxNumberStatus> {
        self.previous.iter().find(|s| self.ids.matches(&s.id, number))
    }

    /// Whether this resource added the number: as status records it or, where status holds no
    /// record (a crash between adding it and writing status), as the number's tags say.
    fn added_before(&self, number: &str) -> bool {
        self.before(number).is_some_and(|s| s.added_by_operator)
            || self
                .tags
                .get(&NumberAt::new(self.region, number))
                .is_some_and(|tags| desired::ownership(tags, self.owner) == Ownership::Ours)
    }

    /// How to ask for a new code, for a message.
    fn resend_hint(&self) -> String {
        format!(
            "if no code arrived, ask for another: kubectl annotate csms -n {} {} {RESEND_CODES_ANNOTATION}=$(date +%s) --overwrite",
            self.namespace, self.name
        )
    }

    fn secret_location(&self, n: &SandboxPhoneNumber) -> String {
        format!(
            "Secret {}/{} under key {}",
            self.namespace, n.verification_code_ref.name, n.verification_code_ref.key
        )
    }

    fn plan_step(&self, draft: &mut Draft, step: NumberStep) -> NumberPlan {
        let region = self.region.to_string();
        match step {
            NumberStep::Done(n) => NumberPlan::Settled(
                NumberReport::new(&n.phone_number, Verified, reasons::VERIFIED, "verified")
                    .added_by_operator(self.added_before(&n.phone_number)),
            ),
            NumberStep::Add(n) => {
                let change = Change::AddSandboxNumber {
                    region,
                    number: n.phone_number.clone(),
                    language: language(&n),
                    tags: self.owner.tags(),
                };
                NumberPlan::Add {
                    step: Step::new(change),
                    secret: self.secret_location(&n),
                    resend_hint: self.resend_hint(),
                    number: n.phone_number,
                }
            }
            NumberStep::SendCode { number: n, id } => {
                let change = Change::SendVerificationCode {
                    region,
                    number: n.phone_number.clone(),
                    id,
                    language: language(&n),
                };
                NumberPlan::SendCode {
                    step: Step::new(change),
                    secret: self.secret_location(&n),
                    resend_hint: self.resend_hint(),
                    added: self.added_before(&n.phone_number),
                    number: n.phone_number,
                }
            }
            NumberStep::Verify { number, id } => self.plan_verify(draft, &number, id),
            NumberStep::Remove { number, id } => {
                let change = Change::RemoveSandboxNumber {
                    region,
                    number: number.clone(),
                    id,
                };
                NumberPlan::Remove {
                    step: Step::new(change),
                    number,
                }
            }
        }
    }

    /// A pending number: verify it when its Secret holds a code not already refused.
    fn plan_verify(&self, draft: &mut Draft, n: &SandboxPhoneNumber, id: String) -> NumberPlan {
        let number = &n.phone_number;
        let secret = self.secret_location(n);
        let added = self.added_before(number);
        let settled = |report: NumberReport| NumberPlan::Settled(report.added_by_operator(added));
        let code = match self.codes.get(&NumberAt::new(self.region, number)) {
            Some(Ok(Some(code))) => code,
            None | Some(Ok(None)) => {
                let msg = format!(
                    "waiting for the code texted to {}: put it in {secret}; {}",
                    mask(number),
                    self.resend_hint()
                );
                return settled(NumberReport::new(number, Pending, reasons::AWAITING_CODE, msg));
            }
            Some(Err(why)) => {
                // A refusal waits for a person to grant access (the Secret watch, or the resync,
                // tries again); anything else may pass.
                if !why.forbidden {
                    draft.tally.retry();
                }
                let msg = format!("cannot read {secret}: {why}");
                return settled(NumberReport::new(number, Failed, reasons::SECRET_UNREADABLE, msg));
            }
        };
        let rejected = self.before(number).and_then(|b| b.rejected_secret_version.clone());
        if rejected.is_some() && rejected == code.version {
            return settled(code_refused(number, &secret, rejected));
        }
        let change = Change::VerifySandboxNumber {
            region: self.region.to_string(),
            number: number.clone(),
            id,
            code: code.code.clone(),
        };
        NumberPlan::Verify {
            step: Step::new(change),
            number: number.clone(),
            secret,
            added,
            secret_version: code.version.clone(),
        }
    }
}

fn code_refused(number: &str, secret: &str, version: Option<String>) -> NumberReport {
    let msg = format!(
        "End User Messaging did not accept the code in {secret}: put the code from the latest SMS to {} there",
        mask(number)
    );
    NumberReport::new(number, Failed, reasons::CODE_REJECTED, msg).rejected_secret_version(version)
}

impl NumberPlan {
    /// The number's report after execution; `None` once it is gone from the sandbox. Number
    /// changes are never held back by others, so only a dry run leaves one untried.
    pub(super) fn step(&self) -> Option<&Step> {
        match self {
            NumberPlan::Settled(_) => None,
            NumberPlan::Add { step, .. }
            | NumberPlan::SendCode { step, .. }
            | NumberPlan::Verify { step, .. }
            | NumberPlan::Remove { step, .. } => Some(step),
        }
    }

    pub(super) fn step_mut(&mut self) -> Option<&mut Step> {
        match self {
            NumberPlan::Settled(_) => None,
            NumberPlan::Add { step, .. }
            | NumberPlan::SendCode { step, .. }
            | NumberPlan::Verify { step, .. }
            | NumberPlan::Remove { step, .. } => Some(step),
        }
    }

    pub(super) fn conclude(self, tally: &mut Tally) -> Option<NumberReport> {
        match self {
            NumberPlan::Settled(report) => Some(report),
            NumberPlan::Add {
                step,
                number,
                secret,
                resend_hint,
            } => Some(added(step.applied(), &number, &secret, &resend_hint, tally)),
            NumberPlan::SendCode {
                step,
                number,
                secret,
                resend_hint,
                added,
            } => Some(code_sent(step.applied(), &number, &secret, &resend_hint, tally).added_by_operator(added)),
            NumberPlan::Verify {
                step,
                number,
                secret,
                added,
                secret_version,
            } => {
                let report = verified(step.applied(), &number, &secret, secret_version, tally);
                Some(report.added_by_operator(added))
            }
            NumberPlan::Remove { step, number } => removed(step.applied(), &number, tally),
        }
    }
}

fn texted(number: &str, secret: &str) -> NumberReport {
    let msg = format!(
        "End User Messaging texted a verification code to {}: put it in {secret}",
        mask(number)
    );
    NumberReport::new(number, Pending, reasons::CODE_SENT, msg)
}

/// The number's code could not be sent (or the number not added): the next reconcile tries
/// again.
fn code_not_sent(number: &str, e: &AwsError, tally: &mut Tally) -> NumberReport {
    tally.note(e);
    let msg = format!(
        "End User Messaging could not text {} a code ({}: {}); trying again on the next reconcile",
        mask(number),
        e.code,
        e.message
    );
    NumberReport::new(number, Failed, reasons::CODE_NOT_SENT, msg)
}

/// Sending the code failed in a way that leaves it unknown whether it went out: it is not sent
/// again unless a person asks, so that no number is texted twice.
fn code_maybe_sent(number: &str, secret: &str, resend_hint: &str, e: &AwsError) -> NumberReport {
    let msg = format!(
        "End User Messaging may have texted a code to {} (the answer to sending it was {}): put it in {secret}; {resend_hint}",
        mask(number),
        e.code
    );
    NumberReport::new(number, Pending, reasons::AWAITING_CODE, msg)
}

const SEND_CODE: &str = "SendDestinationNumberVerificationCode";

fn added(applied: &Applied, number: &str, secret: &str, resend_hint: &str, tally: &mut Tally) -> NumberReport {
    match applied {
        Applied::Done | Applied::AlreadyDone => texted(number, secret).added_by_operator(true),
        Applied::Failed(e) if e.operation == SEND_CODE && e.kind.may_have_taken_effect() => {
            code_maybe_sent(number, secret, resend_hint, e).added_by_operator(true)
        }
        // Added (or perhaps added), and certainly no code sent.
        Applied::Failed(e) if e.operation == SEND_CODE || e.kind.may_have_taken_effect() => {
            code_not_sent(number, e, tally).added_by_operator(true)
        }
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!(
                "End User Messaging refused to add the number: {}: {}",
                e.code, e.message
            );
            NumberReport::refused_by_aws(number, Failed, &e.code, msg)
        }
        Applied::DryRun | Applied::NotAttempted => {
            let msg = format!(
                "dry run, not applied: would have End User Messaging text a verification code to {}, to be put in {secret}",
                mask(number)
            );
            NumberReport::new(number, Pending, reasons::CHANGES_PENDING, msg).added_by_operator(true)
        }
    }
}

fn code_sent(applied: &Applied, number: &str, secret: &str, resend_hint: &str, tally: &mut Tally) -> NumberReport {
    match applied {
        Applied::Done | Applied::AlreadyDone => texted(number, secret),
        Applied::Failed(e) if e.kind.may_have_taken_effect() => code_maybe_sent(number, secret, resend_hint, e),
        Applied::Failed(e) => code_not_sent(number, e, tally),
        Applied::DryRun | Applied::NotAttempted => {
            let msg = format!(
                "dry run, not applied: would have End User Messaging text a new code to {}",
                mask(number)
            );
            NumberReport::new(number, Pending, reasons::CHANGES_PENDING, msg)
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
    let verified = || NumberReport::new(number, Verified, reasons::VERIFIED, "verified");
    match applied {
        Applied::Done | Applied::AlreadyDone => verified(),
        Applied::Failed(e) if e.reason.as_deref() == Some("VERIFICATION_ALREADY_COMPLETE") => verified(),
        // A refused code leaves the number pending; it is not tried again until the Secret changes.
        Applied::Failed(e) if e.reason.as_deref() == Some("VERIFICATION_CODE_MISMATCH") => {
            code_refused(number, secret, secret_version)
        }
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!("End User Messaging could not verify it: {}: {}", e.code, e.message);
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
        // End User Messaging refuses within 24 hours of adding or verifying the number: keep it in
        // status and try again on a later resync.
        Applied::Failed(e) if e.code == "ConflictException" => NumberReport::new(
            number,
            Removing,
            reasons::REMOVAL_REFUSED,
            format!(
                "End User Messaging refused to remove it yet ({}); retrying on the next resync",
                e.message
            ),
        ),
        Applied::Failed(e) => {
            tally.note(e);
            let msg = format!("End User Messaging refused to remove it: {}: {}", e.code, e.message);
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
