//! Reconcile slots per AWS account: at most `--max-concurrent-reconciles` reconciles run at once
//! in each account, so that the backlog of one account, waiting for its own quota, never holds
//! the slots another account's resources need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whose slots a reconcile takes: an AWS account's (by [`Acting::account`]), or those of the
/// reconciles that act in no account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Slot {
    Account(String),
    NoAccount,
}

/// `--max-concurrent-reconciles` slots per account, made when an account is first seen.
#[derive(Debug)]
pub(super) struct Slots {
    per_account: u16,
    accounts: Mutex<HashMap<Slot, Arc<tokio::sync::Semaphore>>>,
}

impl Slots {
    pub(super) fn new(per_account: u16) -> Self {
        Slots {
            per_account,
            accounts: Mutex::default(),
        }
    }

    /// A slot of `slot`'s, once one is free. (The semaphores are never closed: a permit always
    /// comes.)
    pub(super) async fn acquire(&self, slot: Slot) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(slot)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(usize::from(self.per_account))))
            .clone();
        semaphore.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_account_with_every_slot_taken_leaves_the_other_accounts_theirs() {
        let slots = Slots::new(2);
        let payments = || slots.acquire(Slot::Account("222222222222".into()));
        let first = payments().await;
        let _second = payments().await;
        let wait = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(wait, payments()).await.is_err(),
            "a third reconcile in the account waits"
        );
        for other in [
            Slot::Account("333333333333".into()),
            Slot::Account(String::new()),
            Slot::NoAccount,
        ] {
            assert!(
                tokio::time::timeout(wait, slots.acquire(other.clone())).await.is_ok(),
                "{other:?} is not held up"
            );
        }
        drop(first);
        assert!(
            tokio::time::timeout(wait, payments()).await.is_ok(),
            "a freed slot is taken"
        );
    }
}
