//! A planned change and what became of it. Each part of a plan owns its steps, so a change's
//! outcome is read where the change was planned: no index links a change to its conclusion.

use crate::desired::{Change, Concern};
use crate::error::AwsError;

/// What became of one planned change.
#[derive(Debug, Clone)]
pub enum Applied {
    Done,
    /// What the change would remove was already gone.
    AlreadyDone,
    Failed(AwsError),
    /// Not tried, because a change it depends on failed, or the reconcile was cut off first.
    NotAttempted,
    /// A dry run: nothing was tried.
    DryRun,
}

impl Applied {
    /// The change took effect (or would have, in a dry run): worth announcing.
    pub fn is_made(&self) -> bool {
        matches!(self, Applied::Done | Applied::DryRun)
    }
}

#[derive(Debug, Clone)]
enum State {
    Planned,
    /// Handed to the executor; its outcome is not known yet.
    InFlight,
    Applied(Applied),
}

/// One change of a plan and, once executed, its outcome.
#[derive(Debug, Clone)]
pub struct Step {
    change: Box<Change>,
    state: State,
}

impl Step {
    pub(super) fn new(change: Change) -> Self {
        Step {
            change: Box::new(change),
            state: State::Planned,
        }
    }

    pub fn change(&self) -> &Change {
        &self.change
    }

    pub(super) fn change_mut(&mut self) -> &mut Change {
        &mut self.change
    }

    /// What became of the change; not attempted while it was not tried.
    pub fn applied(&self) -> &Applied {
        const NOT_ATTEMPTED: &Applied = &Applied::NotAttempted;
        match &self.state {
            State::Applied(a) => a,
            State::Planned | State::InFlight => NOT_ATTEMPTED,
        }
    }

    /// The change is a write that took effect (or would have, in a dry run).
    pub(super) fn is_made_write(&self) -> bool {
        self.applied().is_made() && self.change.is_write()
    }
}

/// The steps of a plan in the order they are made, and the rule of what a failure holds back: a
/// failed ownership record on the pool stops the role and pool changes after it; a failed role
/// change stops the role changes after it and the pool changes that depend on the role; a failed
/// dry-run send stops the pool change it tests; sandbox number changes are independent of each
/// other and of the role.
pub(super) struct Order<'a>(pub Vec<&'a mut Step>);

impl Order<'_> {
    /// The next change to make: it is marked in flight and returned. Steps held back by an
    /// earlier failure are marked not attempted on the way.
    pub fn next_change(self) -> Option<Change> {
        let (mut owner_failed, mut role_failed, mut pool_failed) = (false, false, false);
        let mut protect_failed = false;
        for step in self.0 {
            match &step.state {
                State::Applied(Applied::Failed(_)) => {
                    let concern = step.change.concern();
                    owner_failed |= concern == Concern::Ownership;
                    role_failed |= concern == Concern::Role;
                    pool_failed |= concern == Concern::Pool;
                    protect_failed |= concern == Concern::Protect;
                }
                State::Applied(_) => {}
                State::InFlight => return None,
                State::Planned => {
                    let blocked = match step.change.concern() {
                        Concern::Ownership | Concern::SandboxNumber => false,
                        // Written only to a pool this resource manages.
                        Concern::DeliveryLogs => owner_failed,
                        // Each step of the protect configuration builds on the one before.
                        Concern::Protect => owner_failed || protect_failed,
                        Concern::Role => owner_failed || role_failed,
                        Concern::Pool => owner_failed || role_failed || pool_failed,
                    };
                    if blocked {
                        step.state = State::Applied(Applied::NotAttempted);
                        continue;
                    }
                    step.state = State::InFlight;
                    return Some((*step.change).clone());
                }
            }
        }
        None
    }

    /// Record the outcome of the change in flight. A removal of what is already gone is done.
    pub fn record(self, result: Result<(), AwsError>) {
        let Some(step) = self.0.into_iter().find(|s| matches!(s.state, State::InFlight)) else {
            return;
        };
        let applied = match result {
            Ok(()) => Applied::Done,
            Err(e) if e.is_not_found() && matches!(*step.change, Change::RemoveSandboxNumber { .. }) => {
                Applied::AlreadyDone
            }
            Err(e) => Applied::Failed(e),
        };
        step.state = State::Applied(applied);
    }

    /// A dry run: every step planned is reported as it would be made.
    pub fn dry_run(self) {
        for step in self.0 {
            if matches!(step.state, State::Planned) {
                step.state = State::Applied(Applied::DryRun);
            }
        }
    }

    /// The reconcile was cut off by `err`: the change in flight failed with it (it may have taken
    /// effect), and the changes after it were not attempted.
    pub fn cut_off(self, err: AwsError) {
        for step in self.0 {
            match step.state {
                State::InFlight => step.state = State::Applied(Applied::Failed(err.clone())),
                State::Planned => step.state = State::Applied(Applied::NotAttempted),
                State::Applied(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desired::SmsConfig;
    use crate::error::ErrorKind;

    fn err(kind: ErrorKind) -> AwsError {
        AwsError::new("svc", "Op", kind, "Code", "message")
    }

    fn tag_role() -> Change {
        Change::TagRole {
            role_name: "r".into(),
            tags: BTreeMap::new(),
        }
    }

    fn update() -> Change {
        Change::UpdateSmsConfiguration {
            user_pool_id: "p".into(),
            from: None,
            to: SmsConfig {
                caller_arn: "arn".into(),
                external_id: None,
                region: None,
                direct: None,
            },
            add_tags: BTreeMap::new(),
        }
    }

    fn remove() -> Change {
        Change::RemoveSandboxNumber {
            region: "us-east-1".into(),
            number: "+14255550100".into(),
            id: "vdn-1".into(),
        }
    }

    fn run(steps: &mut [Step], mut answer: impl FnMut(&Change) -> Result<(), AwsError>) -> Vec<Change> {
        let mut tried = vec![];
        while let Some(change) = Order(steps.iter_mut().collect()).next_change() {
            let result = answer(&change);
            tried.push(change);
            Order(steps.iter_mut().collect()).record(result);
        }
        tried
    }

    #[test]
    fn a_failed_role_change_holds_back_the_pool_but_not_the_numbers() {
        let mut steps: Vec<Step> = [tag_role(), tag_role(), update(), remove()].map(Step::new).into();
        let tried = run(&mut steps, |c| match c {
            Change::TagRole { .. } => Err(err(ErrorKind::Throttled)),
            _ => Ok(()),
        });
        assert_eq!(tried, [tag_role(), remove()]);
        assert!(matches!(steps[0].applied(), Applied::Failed(_)));
        assert!(matches!(steps[1].applied(), Applied::NotAttempted));
        assert!(matches!(steps[2].applied(), Applied::NotAttempted));
        assert!(matches!(steps[3].applied(), Applied::Done));
    }

    #[test]
    fn removing_what_is_gone_is_done_and_a_cut_off_fails_only_the_change_in_flight() {
        let mut steps: Vec<Step> = [remove(), tag_role(), update()].map(Step::new).into();
        let first = Order(steps.iter_mut().collect()).next_change();
        assert_eq!(first, Some(remove()));
        Order(steps.iter_mut().collect()).record(Err(err(ErrorKind::NotFound)));
        assert!(matches!(steps[0].applied(), Applied::AlreadyDone));
        assert_eq!(Order(steps.iter_mut().collect()).next_change(), Some(tag_role()));
        assert_eq!(
            Order(steps.iter_mut().collect()).next_change(),
            None,
            "one change in flight at a time"
        );
        Order(steps.iter_mut().collect()).cut_off(err(ErrorKind::TimedOut));
        assert!(matches!(steps[1].applied(), Applied::Failed(e) if e.kind == ErrorKind::TimedOut));
        assert!(matches!(steps[2].applied(), Applied::NotAttempted));
    }

    #[test]
    fn a_dry_run_reports_every_change_as_made() {
        let mut steps: Vec<Step> = [tag_role(), update()].map(Step::new).into();
        Order(steps.iter_mut().collect()).dry_run();
        assert!(steps.iter().all(Step::is_made_write));
    }
}
