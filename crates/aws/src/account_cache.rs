//! The account's SMS state per (account, region), shared by every resource: one fetch per TTL
//! however many resources use the region, concurrent readers wait for the one fetch in flight
//! (single-flight), and a write to the verified destination numbers invalidates the entry. A
//! failed fetch is kept too, for `FAILURE_TTL`: the readers waiting on it, and those of the next
//! seconds, get its error instead of each asking AWS again (seven calls) while AWS throttles or
//! fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Aws, AwsError};
use cognito_sms_core::account::{AccountSms, DefaultProtect, SnsView};

#[derive(Default)]
struct Slot {
    /// Held while fetching, so concurrent readers of the same key wait instead of fetching too.
    cached: tokio::sync::Mutex<Option<Cached>>,
    /// Bumped by `invalidate`; an entry fetched under an older epoch is stale.
    epoch: AtomicU64,
}

/// How long a failed fetch is answered from the cache (at most the TTL).
pub const FAILURE_TTL: Duration = Duration::from_secs(5);

struct Cached {
    at: Instant,
    epoch: u64,
    value: Result<Arc<AccountSms>, AwsError>,
}

impl Cached {
    fn fresh(&self, epoch: u64, ttl: Duration) -> bool {
        let ttl = if self.value.is_ok() { ttl } else { ttl.min(FAILURE_TTL) };
        self.epoch == epoch && self.at.elapsed() < ttl
    }
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCache")
            .field("ttl", &self.ttl)
            .field("stats", &self.stats())
            .finish()
    }
}

pub struct AccountCache {
    ttl: Duration,
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl AccountCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn slot(&self, account: &str, region: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((account.to_string(), region.to_string()))
            .or_default()
            .clone()
    }

    /// The account's SMS state in `region`, from the cache when fresh.
    pub async fn get(&self, aws: &Aws, account: &str, region: &str) -> Result<Arc<AccountSms>, AwsError> {
        let slot = self.slot(account, region);
        let mut cached = slot.cached.lock().await;
        let epoch = slot.epoch.load(Ordering::SeqCst);
        if let Some(c) = cached.as_ref().filter(|c| c.fresh(epoch, self.ttl)) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return c.value.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let value = fetch(aws, region).await.map(Arc::new);
        *cached = Some(Cached {
            at: Instant::now(),
            epoch,
            value: value.clone(),
        });
        value
    }

    /// Forget what is cached for the account and region; the next `get` asks SNS again.
    pub fn invalidate(&self, account: &str, region: &str) {
        self.slot(account, region).epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

/// The account's SMS state in `region`, from End User Messaging, with what SNS says beside it.
async fn fetch(aws: &Aws, region: &str) -> Result<AccountSms, AwsError> {
    let eum = aws.sms_voice(region);
    let (tier, default_protect_id) = eum.account_attributes().await?;
    let monthly_spend_limit = eum.text_spend_limit().await?;
    let mut identities = eum.phone_numbers().await?;
    identities.extend(eum.sender_ids().await?);
    identities.extend(eum.pools().await?);
    let sets = eum.configuration_sets().await?;
    let configuration_set_protect = sets
        .iter()
        .filter_map(|(name, protect)| Some((name.clone(), protect.clone()?)))
        .collect();
    let configuration_sets = sets.into_keys().collect();
    // The default's rules matter only to report on the SNS path: where they cannot be read, why.
    let default_protect = match default_protect_id {
        Some(id) => Some(DefaultProtect {
            rules: match eum.protect_rules(&id).await {
                Ok(Some(rules)) => Ok(rules),
                Ok(None) => Err(format!("protect configuration {id} is gone")),
                Err(e) => Err(format!("{}: {}", e.code, e.message)),
            },
            id,
        }),
        None => None,
    };
    let destinations = eum.destinations().await?;
    // SNS's view only serves to point out where it disagrees: where SNS cannot be asked (a region
    // without SNS SMS, or no permission), it is left out.
    let sns = aws.sns(region);
    let sns = SnsView {
        in_sandbox: sns.in_sandbox().await.ok(),
        monthly_spend_limit: sns.monthly_spend_limit().await.ok().flatten(),
    };
    // Spend headroom is a warning: where CloudWatch cannot be asked, the rest stands.
    let spend = aws
        .cloudwatch(region)
        .month_spend(std::time::SystemTime::now())
        .await
        .map_err(|e| format!("{}: {}", e.code, e.message));
    Ok(AccountSms {
        in_sandbox: AccountSms::tier_in_sandbox(tier.as_deref()),
        tier,
        monthly_spend_limit,
        identities,
        configuration_sets,
        configuration_set_protect,
        default_protect,
        destinations,
        sns,
        spend,
    })
}
