//! Sandbox destination numbers: which step each one needs, and what their states mean for the
//! `PhoneNumbersVerified` condition. Pure.

use std::collections::{BTreeMap, HashSet};

use super::{Destination, Listed, NumberIds, mask};
use crate::conditions::{Finding, reasons};
use crate::crd::{SandboxNumberState, SandboxNumberStatus, SandboxPhoneNumber};

/// What to do about one destination number.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberStep {
    /// Not a verified destination number yet: add it, and have a code texted to it.
    Add(SandboxPhoneNumber),
    /// Added, but the code was never texted (that call failed): text it now.
    SendCode { number: SandboxPhoneNumber, id: String },
    /// Pending: verify if the Secret holds a code not already refused.
    Verify { number: SandboxPhoneNumber, id: String },
    /// Already verified.
    Done(SandboxPhoneNumber),
    /// Dropped from the spec, added by this resource, listed by no other: remove it.
    Remove { number: String, id: String },
}

/// The steps for the spec's numbers and the ones it dropped. A pending number gets a code only
/// when this resource knows the last attempt to text one failed, or when a person asked for new
/// codes, so the operator never texts a number twice on its own account. Numbers dropped from
/// the spec are removed only if this resource added them (per its previous status) and no other
/// resource in the same account and region lists them.
pub fn number_steps(
    spec: &[SandboxPhoneNumber],
    listed: &BTreeMap<String, Destination>,
    previous: &[SandboxNumberStatus],
    claimed_elsewhere: &HashSet<String>,
    resend_requested: bool,
    ids: &NumberIds,
) -> Vec<NumberStep> {
    let before = |number: &str| previous.iter().find(|p| ids.matches(&p.id, number));
    let not_sent = |number: &str| before(number).is_some_and(|p| p.reason == reasons::CODE_NOT_SENT);
    let mut steps: Vec<NumberStep> = spec
        .iter()
        .map(|n| {
            let (number, destination) = (n.clone(), listed.get(&n.phone_number));
            match destination {
                None => NumberStep::Add(number),
                Some(d) if d.state == Listed::Verified => NumberStep::Done(number),
                Some(d) if resend_requested || not_sent(&n.phone_number) => NumberStep::SendCode {
                    number,
                    id: d.id.clone(),
                },
                Some(d) => NumberStep::Verify {
                    number,
                    id: d.id.clone(),
                },
            }
        })
        .collect();
    let wanted: HashSet<&str> = spec.iter().map(|n| n.phone_number.as_str()).collect();
    for (number, destination) in listed {
        if wanted.contains(number.as_str()) || claimed_elsewhere.contains(number) {
            continue;
        }
        if before(number).is_some_and(|p| p.added_by_operator) {
            steps.push(NumberStep::Remove {
                number: number.clone(),
                id: destination.id.clone(),
            });
        }
    }
    steps
}

/// One number's state after a reconcile: what status shows, and the reason the
/// `PhoneNumbersVerified` condition takes when this number is the one holding it back.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberReport {
    number: String,
    /// Everything status shows of the number but its identifier, which
    /// [`NumberReport::into_status`] adds.
    pub status: SandboxNumberStatus,
    pub condition_reason: &'static str,
}

impl NumberReport {
    /// A number in `state` for a reason of the operator's own.
    pub fn new(number: &str, state: SandboxNumberState, reason: &'static str, message: impl Into<String>) -> Self {
        Self::with_reason(number, state, reason.to_string(), reason, message)
    }

    /// A number AWS refused to act on: status shows AWS's error code, the condition a generic
    /// reason.
    pub fn refused_by_aws(number: &str, state: SandboxNumberState, code: &str, message: impl Into<String>) -> Self {
        Self::with_reason(number, state, code.to_string(), reasons::VERIFICATION_FAILED, message)
    }

    fn with_reason(
        number: &str,
        state: SandboxNumberState,
        status_reason: String,
        condition_reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            number: number.to_string(),
            status: SandboxNumberStatus {
                id: String::new(),
                phone_number: mask(number),
                region: None,
                state,
                reason: status_reason,
                message: message.into(),
                added_by_operator: false,
                rejected_secret_version: None,
            },
            condition_reason,
        }
    }

    pub fn added_by_operator(mut self, added: bool) -> Self {
        self.status.added_by_operator = added;
        self
    }

    /// The report of a number in the sandbox of `region`.
    pub fn in_region(mut self, region: String) -> Self {
        self.status.region = Some(region);
        self
    }

    pub fn rejected_secret_version(mut self, version: Option<String>) -> Self {
        self.status.rejected_secret_version = version;
        self
    }

    fn state(&self) -> SandboxNumberState {
        self.status.state
    }

    /// The number as status records it, identified under this installation's key.
    pub fn into_status(self, ids: &NumberIds) -> SandboxNumberStatus {
        SandboxNumberStatus {
            id: ids.id(&self.number),
            ..self.status
        }
    }
}

/// `PhoneNumbersVerified` for the numbers' reports.
pub fn numbers_finding(in_sandbox: bool, numbers: &[NumberReport]) -> Finding {
    // Numbers are named with their region once they are in more than one.
    let first_region = numbers.first().map(|n| &n.status.region);
    let several = numbers.iter().any(|n| Some(&n.status.region) != first_region);
    let label = |n: &NumberReport| match (&n.status.region, several) {
        (Some(region), true) => format!("{} in {region}", n.status.phone_number),
        _ => n.status.phone_number.clone(),
    };
    let (removing, current): (Vec<&NumberReport>, Vec<&NumberReport>) =
        numbers.iter().partition(|n| n.state() == SandboxNumberState::Removing);
    let removal_note = match removing.first() {
        None => String::new(),
        Some(first) => format!(
            "; removing {} from the sandbox ({})",
            removing.iter().map(|n| label(n)).collect::<Vec<_>>().join(", "),
            first.status.message
        ),
    };
    if let Some(failed) = current.iter().find(|n| n.state() == SandboxNumberState::Failed) {
        return Finding::failed(
            failed.condition_reason,
            format!("{}: {}{removal_note}", label(failed), failed.status.message),
        );
    }
    let pending: Vec<&&NumberReport> = current
        .iter()
        .filter(|n| n.state() == SandboxNumberState::Pending)
        .collect();
    if let Some(first) = pending.first() {
        let verified = current.len() - pending.len();
        return Finding::failed(
            reasons::AWAITING_CODE,
            format!(
                "{verified} of {} numbers verified; {}{removal_note}",
                current.len(),
                first.status.message
            ),
        );
    }
    if current.is_empty() {
        let msg = if in_sandbox {
            "no sandbox destination numbers listed"
        } else {
            "none listed; the account is out of the sandbox"
        };
        return Finding::ok(reasons::NONE_LISTED, format!("{msg}{removal_note}"));
    }
    let note = if in_sandbox {
        ""
    } else {
        " (the account is out of the sandbox, so verification is no longer needed)"
    };
    Finding::ok(
        reasons::ALL_VERIFIED,
        format!("all {} numbers verified{note}{removal_note}", current.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::ConditionStatus;
    use crate::testing::number_ids as ids;
    use crate::testing::sandbox_number as number;

    #[test]
    fn number_steps_add_verify_done_and_remove_only_what_we_added() {
        let listed: BTreeMap<String, Destination> = [
            ("+15550000001", Listed::Pending),
            ("+15550000002", Listed::Verified),
            ("+15550000003", Listed::Verified), // dropped, added by us
            ("+15550000004", Listed::Verified), // dropped, not ours
            ("+15550000005", Listed::Verified), // dropped, ours, claimed elsewhere
            ("+15550000006", Listed::Pending),  // listed, the last attempt to text it failed
        ]
        .into_iter()
        .map(|(n, state)| {
            (
                n.to_string(),
                Destination {
                    id: format!("id{}", &n[11..]),
                    arn: format!("arn:id{}", &n[11..]),
                    state,
                },
            )
        })
        .collect();
        let ours = |n: &str| {
            NumberReport::new(n, SandboxNumberState::Verified, reasons::VERIFIED, "")
                .added_by_operator(true)
                .into_status(&ids())
        };
        let not_sent = NumberReport::new("+15550000006", SandboxNumberState::Failed, reasons::CODE_NOT_SENT, "")
            .into_status(&ids());
        let previous = vec![ours("+15550000003"), ours("+15550000005"), not_sent];
        let claimed = HashSet::from(["+15550000005".to_string()]);
        let spec = vec![
            number("+15550000000"),
            number("+15550000001"),
            number("+15550000002"),
            number("+15550000006"),
        ];
        let steps = number_steps(&spec, &listed, &previous, &claimed, false, &ids());
        assert_eq!(
            steps,
            vec![
                NumberStep::Add(number("+15550000000")),
                NumberStep::Verify {
                    number: number("+15550000001"),
                    id: "id1".into()
                },
                NumberStep::Done(number("+15550000002")),
                NumberStep::SendCode {
                    number: number("+15550000006"),
                    id: "id6".into()
                },
                NumberStep::Remove {
                    number: "+15550000003".into(),
                    id: "id3".into()
                },
            ]
        );
    }

    #[test]
    fn the_first_failed_number_decides_the_condition() {
        let pending = NumberReport::new(
            "+15550000001",
            SandboxNumberState::Pending,
            reasons::CODE_SENT,
            "texted",
        );
        let refused = NumberReport::refused_by_aws("+15550000002", SandboxNumberState::Failed, "OptedOut", "opted out");
        let f = numbers_finding(true, &[pending.clone(), refused.clone()]);
        assert_eq!(
            (f.status, f.reason),
            (ConditionStatus::False, reasons::VERIFICATION_FAILED)
        );
        assert_eq!(refused.status.reason, "OptedOut", "status keeps AWS's code");
        let f = numbers_finding(true, &[pending]);
        assert_eq!((f.status, f.reason), (ConditionStatus::False, reasons::AWAITING_CODE));
        assert_eq!(f.message, "0 of 1 numbers verified; texted");
    }
}
