//! Client-side rate limits on AWS calls, so that the operator stays within its share of the
//! account's request-rate quotas, which everything else the customer runs (Terraform, consoles,
//! scripts) spends too.
//!
//! AWS counts requests per account, region and quota category: Amazon Cognito groups user pool
//! operations into categories (`UserPoolRead` covers `DescribeUserPool`, `UserPoolUpdate` covers
//! `UpdateUserPool`), and IAM, STS, SNS and End User Messaging SMS keep a bucket per API. The
//! operator keeps one token bucket per (region, service, category) with a budget in requests per
//! second: a call waits for a token before it is sent, and each retry the SDK makes takes one
//! too. When AWS throttles all the same (another client spent the quota), the bucket halves its
//! rate and wins it back a little with each success: additive increase, multiplicative decrease.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime::client::retries::classifiers::run_classifiers_on_ctx;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::retries::classifiers::{RetryAction, RetryReason};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind as RetryKind;

/// The quota category of each operation the operator calls, by service: Cognito's categories
/// from its quota documentation; one bucket per API elsewhere.
const CATEGORIES: &[(&str, &str, &str)] = &[
    ("cognito-idp", "DescribeUserPool", "UserPoolRead"),
    // Cognito's quota documentation does not place the replica operations yet; a list of a
    // pool's Regions is counted as a read of the pool.
    ("cognito-idp", "ListUserPoolReplicas", "UserPoolRead"),
    ("cognito-idp", "UpdateUserPool", "UserPoolUpdate"),
];

/// The quota category `operation` of `service` counts against.
pub fn category(service: &str, operation: &'static str) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(s, o, _)| *s == service && *o == operation)
        .map_or(operation, |(_, _, c)| c)
}

/// Default budgets in requests per second, below AWS's default quotas so that the account's other
/// clients keep some room: Cognito allows 15 per second for `UserPoolRead` and `UserPoolUpdate`
/// in each region, and `TagResource` and `UntagResource` 5 per second per account; IAM and STS do not publish their rates; SNS's and End User Messaging's
/// account-state reads are made once per region per cache period.
const DEFAULT_BUDGETS: &[(&str, f64)] = &[
    ("cognito-idp:UserPoolRead", 13.0),
    ("cognito-idp:UserPoolUpdate", 13.0),
    ("cognito-idp:TagResource", 4.0),
    ("cognito-idp:UntagResource", 4.0),
    ("cognito-idp:*", 5.0),
    ("iam:*", 13.0),
    ("sts:*", 5.0),
    ("sns:*", 5.0),
    ("sms-voice:*", 5.0),
    ("cloudwatch:*", 5.0),
];

/// Budgets per `service:category` (or `service:*` for each category of the service), in requests
/// per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets(BTreeMap<String, f64>);

impl Default for Budgets {
    fn default() -> Self {
        Budgets(DEFAULT_BUDGETS.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }
}

impl Budgets {
    /// The defaults with `overrides` (`service:category=rate`, e.g. `cognito-idp:UserPoolRead=8`
    /// or `iam:*=5`) applied in order; `service:*` replaces every budget of the service.
    pub fn with(overrides: &[String]) -> Result<Self, String> {
        let mut budgets = Budgets::default();
        for o in overrides {
            let (key, rate) = o
                .split_once('=')
                .ok_or_else(|| format!("{o:?}: expected SERVICE:CATEGORY=RATE"))?;
            let rate: f64 = rate
                .trim()
                .parse()
                .map_err(|_| format!("{o:?}: {rate:?} is not a number"))?;
            if !(rate.is_finite() && rate > 0.0 && key.contains(':')) {
                return Err(format!("{o:?}: expected SERVICE:CATEGORY=RATE with a rate above 0"));
            }
            let key = key.trim();
            // `service:*` sets every category of the service, the defaults of single ones too.
            if let Some(service) = key.strip_suffix(":*") {
                budgets
                    .0
                    .retain(|k, _| k.split_once(':').is_none_or(|(s, _)| s != service));
            }
            budgets.0.insert(key.to_string(), rate);
        }
        Ok(budgets)
    }

    /// The budget of one category: its own, else its service's, else 5 per second.
    pub fn of(&self, service: &str, category: &str) -> f64 {
        let own = self.0.get(&format!("{service}:{category}"));
        own.or_else(|| self.0.get(&format!("{service}:*")))
            .copied()
            .unwrap_or(5.0)
    }
}

/// One token bucket whose rate adapts to throttling. Pure arithmetic over the instants it is
/// given, so that tests can drive the clock.
///
/// Kept rather than taken from `governor`: its quotas are fixed when a limiter is built, and this
/// bucket's rate moves with every throttle and success (AIMD).
#[derive(Debug, Clone)]
pub struct Bucket {
    budget: f64,
    rate: f64,
    tokens: f64,
    at: Instant,
    /// Until then, further throttles do not halve the rate again and successes do not raise it:
    /// the answers in flight were all sent at the old rate.
    calm_until: Instant,
}

/// The burst a full bucket allows, in seconds of its rate.
const BURST: f64 = 0.25;
/// How far one throttle lowers the rate, and the lowest rate as a share of the budget.
const DECREASE: f64 = 0.5;
const FLOOR: f64 = 1.0 / 32.0;
/// How much each success raises the rate, as a share of the budget: from half the budget back
/// to all of it in 25 successes.
const INCREASE: f64 = 0.02;

impl Bucket {
    pub fn new(budget: f64, now: Instant) -> Self {
        Bucket {
            budget,
            rate: budget,
            tokens: (budget * BURST).max(1.0),
            at: now,
            calm_until: now,
        }
    }

    /// The current rate, requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// At most a quarter of a second of the current rate may be spent at once: calls go out
    /// evenly spaced, so that AWS's own burst allowance absorbs the jitter of the network and
    /// of AWS's clock rather than a burst of ours.
    fn capacity(&self) -> f64 {
        (self.rate * BURST).max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity());
        self.at = now.max(self.at);
    }

    /// Take a token for a call about to be sent; how long to wait before sending it. Callers that
    /// find the bucket empty queue up behind each other: each waits for its own token.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Take a token for a retry the SDK is making anyway: later calls wait for it.
    pub fn debit(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }

    /// AWS throttled a call: halve the rate (not below 1/32 of the budget) and spend the burst.
    pub fn throttled(&mut self, now: Instant) {
        self.refill(now);
        if now < self.calm_until {
            return;
        }
        self.rate = (self.rate * DECREASE).max(self.budget * FLOOR);
        self.tokens = self.tokens.min(0.0);
        self.calm_until = now + Duration::from_secs(1);
    }

    /// A call got through: win back a little of the budget.
    pub fn succeeded(&mut self, now: Instant) {
        if now < self.calm_until {
            return;
        }
        self.refill(now);
        self.rate = (self.rate + self.budget * INCREASE).min(self.budget);
    }
}

/// What a bucket did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BucketStats {
    /// Calls that had to wait for a token, and how long they waited in all.
    pub waits: u64,
    pub waited: Duration,
    /// Calls (attempts) AWS throttled.
    pub throttles: u64,
    /// Retries made by the SDK, each of which took a token.
    pub retries: u64,
    /// The current rate and the budget, requests per second.
    pub rate: f64,
    pub budget: f64,
}

type Key = (String, &'static str, &'static str);

/// Every bucket of one set of credentials (one account), made on first use.
#[derive(Debug, Default)]
pub struct Limits {
    budgets: Budgets,
    buckets: Mutex<HashMap<Key, (Bucket, BucketStats)>>,
}

impl Limits {
    pub fn new(budgets: Budgets) -> Self {
        Limits {
            budgets,
            buckets: Mutex::default(),
        }
    }

    fn with_bucket<T>(
        &self,
        region: &str,
        service: &'static str,
        operation: &'static str,
        f: impl FnOnce(&mut Bucket, &mut BucketStats) -> T,
    ) -> T {
        let category = category(service, operation);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (bucket, stats) = buckets
            .entry((region.to_string(), service, category))
            .or_insert_with(|| {
                let budget = self.budgets.of(service, category);
                (
                    Bucket::new(budget, Instant::now()),
                    BucketStats {
                        budget,
                        rate: budget,
                        ..Default::default()
                    },
                )
            });
        let out = f(bucket, stats);
        stats.rate = bucket.rate();
        out
    }

    /// The budgets these limits started from.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The budget of `category` of `service`, requests per second.
    pub fn budget(&self, service: &str, category: &str) -> f64 {
        self.budgets.of(service, category)
    }

    /// Wait for a token to send `operation` of `service` in `region`.
    pub async fn acquire(&self, region: &str, service: &'static str, operation: &'static str) {
        let wait = self.with_bucket(region, service, operation, |b, s| {
            let wait = b.reserve(Instant::now());
            if !wait.is_zero() {
                s.waits += 1;
                s.waited += wait;
            }
            wait
        });
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// A request sent without waiting (a later page of a paginated call): later calls wait.
    pub fn spent(&self, region: &str, service: &'static str, operation: &'static str) {
        self.with_bucket(region, service, operation, |b, _| b.debit(Instant::now()));
    }

    fn retried(&self, region: &str, service: &'static str, operation: &'static str) {
        self.with_bucket(region, service, operation, |b, s| {
            b.debit(Instant::now());
            s.retries += 1;
        });
    }

    fn answered(&self, region: &str, service: &'static str, operation: &'static str, throttled: bool) {
        self.with_bucket(region, service, operation, |b, s| {
            if throttled {
                b.throttled(Instant::now());
                s.throttles += 1;
            } else {
                b.succeeded(Instant::now());
            }
        });
    }

    /// Per (service, category), summed over regions.
    pub fn stats(&self) -> BTreeMap<(&'static str, &'static str), BucketStats> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<(&'static str, &'static str), BucketStats> = BTreeMap::new();
        for ((_, service, category), (_, s)) in buckets.iter() {
            let sum = out.entry((service, category)).or_default();
            sum.waits += s.waits;
            sum.waited += s.waited;
            sum.throttles += s.throttles;
            sum.retries += s.retries;
            sum.rate += s.rate;
            sum.budget += s.budget;
        }
        out
    }
}

/// Tells the limits what the SDK does inside one call: each retry takes a token, and each answer
/// says whether AWS throttled the attempt. One per client, which serves one service in one region.
#[derive(Debug)]
pub(super) struct QuotaFeedback {
    pub limits: Arc<Limits>,
    pub service: &'static str,
    pub region: String,
}

impl QuotaFeedback {
    /// The operation being called, as one of the names the limits know (`'static`).
    fn operation(&self, cfg: &ConfigBag) -> Option<&'static str> {
        let name = cfg.load::<Metadata>()?.name();
        super::OPERATIONS
            .iter()
            .find(|(s, o)| *s == self.service && *o == name)
            .map(|(_, o)| *o)
    }
}

impl Intercept for QuotaFeedback {
    fn name(&self) -> &'static str {
        "QuotaFeedback"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let retry = cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1);
        if let (true, Some(op)) = (retry, self.operation(cfg)) {
            self.limits.retried(&self.region, self.service, op);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = self.operation(cfg) else { return Ok(()) };
        let verdict = run_classifiers_on_ctx(runtime_components.retry_classifiers(), context.inner());
        let throttled = matches!(
            verdict,
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: RetryKind::ThrottlingError,
                ..
            })
        );
        if throttled || !context.inner().is_failed() {
            self.limits.answered(&self.region, self.service, op, throttled);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: f64 = 10.0;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_lets_a_quarter_second_through_then_spaces_calls_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(BUDGET, t0);
        let waits: Vec<Duration> = (0..5).map(|_| b.reserve(t0)).collect();
        assert_eq!(waits[..2], [Duration::ZERO; 2], "2.5 tokens: two calls at once");
        assert_eq!(waits[2], ms(50));
        assert_eq!(waits[3], ms(150), "each queued caller waits for its own token");
        assert_eq!(waits[4], ms(250));
        // Two seconds later the debt is paid and a quarter second's worth is back, no more.
        let t2 = t0 + Duration::from_secs(2);
        let later: Vec<Duration> = (0..3).map(|_| b.reserve(t2)).collect();
        assert_eq!(later[..2], [Duration::ZERO; 2], "{later:?}");
        assert_eq!(later[2], ms(50));
    }

    #[test]
    fn retries_take_tokens_that_later_calls_wait_for() {
        let t0 = Instant::now();
        let mut b = Bucket::new(BUDGET, t0);
        for _ in 0..10 {
            b.debit(t0);
        }
        assert_eq!(b.reserve(t0), ms(850), "2.5 tokens less 11 at 10 a second");
    }

    #[test]
    fn throttling_halves_the_rate_once_per_second_and_successes_win_it_back() {
        let t0 = Instant::now();
        let mut b = Bucket::new(BUDGET, t0);
        b.throttled(t0);
        assert_eq!(b.rate(), 5.0);
        b.throttled(t0 + ms(500));
        assert_eq!(b.rate(), 5.0, "answers already in flight do not halve it again");
        assert_eq!(b.reserve(t0 + ms(500)), Duration::ZERO, "half a second at the new rate");
        b.throttled(t0 + ms(1000));
        assert_eq!(b.rate(), 2.5);
        for _ in 0..1000 {
            b.throttled(t0 + Duration::from_secs(60));
            b.calm_until = t0;
        }
        assert_eq!(b.rate(), BUDGET * FLOOR, "never below the floor");

        let t = t0 + Duration::from_secs(120);
        let mut successes = 0;
        while b.rate() < BUDGET {
            b.succeeded(t);
            successes += 1;
        }
        assert_eq!(b.rate(), BUDGET, "never above the budget");
        assert!(
            (45..=50).contains(&successes),
            "{successes} successes from the floor back to the budget"
        );
    }

    #[test]
    fn successes_right_after_a_throttle_do_not_raise_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(BUDGET, t0);
        b.throttled(t0);
        b.succeeded(t0 + ms(10));
        assert_eq!(b.rate(), 5.0);
        b.succeeded(t0 + ms(1001));
        assert_eq!(b.rate(), 5.2);
    }

    #[test]
    fn budgets_come_from_defaults_and_overrides() {
        let b = Budgets::with(&["cognito-idp:UserPoolRead=8".into(), "iam:*=2.5".into()]).unwrap();
        assert_eq!(b.of("cognito-idp", "UserPoolRead"), 8.0);
        assert_eq!(b.of("cognito-idp", "UserPoolUpdate"), 13.0);
        assert_eq!(b.of("iam", "GetRole"), 2.5);
        assert_eq!(b.of("sns", "GetSMSAttributes"), 5.0);
        let b = Budgets::with(&["cognito-idp:*=200".into(), "cognito-idp:UserPoolUpdate=2".into()]).unwrap();
        assert_eq!(
            b.of("cognito-idp", "UserPoolRead"),
            200.0,
            "a service's * overrides its defaults"
        );
        assert_eq!(
            b.of("cognito-idp", "UserPoolUpdate"),
            2.0,
            "and a later exact budget overrides *"
        );
        for bad in ["iam", "iam:*=0", "iam:*=fast", "GetRole=3", "iam:*=-1", "iam:*=inf"] {
            assert!(Budgets::with(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn cognito_operations_share_their_category_and_other_apis_have_their_own() {
        assert_eq!(category("cognito-idp", "DescribeUserPool"), "UserPoolRead");
        assert_eq!(category("cognito-idp", "UpdateUserPool"), "UserPoolUpdate");
        assert_eq!(category("iam", "GetRole"), "GetRole");
    }

    #[tokio::test]
    async fn callers_beyond_the_budget_wait_for_their_turn() {
        let limits = Limits::new(Budgets::with(&["iam:*=20".into()]).unwrap());
        let started = Instant::now();
        for _ in 0..30 {
            limits.acquire("global", "iam", "GetRole").await;
        }
        let took = started.elapsed();
        // 5 at once, then 25 more at 20 per second.
        assert!(took >= ms(1200) && took <= ms(2500), "{took:?}");
        let stats = limits.stats()[&("iam", "GetRole")];
        assert_eq!(stats.waits, 25);
        // 25 waits of 50 ms, each shortened by however late the sleep before it woke.
        assert!(
            stats.waited >= ms(1000) && stats.waited <= ms(1250),
            "{:?}",
            stats.waited
        );
    }

    /// The rate limits know every operation the adapters call by name.
    #[test]
    fn every_operation_called_is_known() {
        let sources = [
            include_str!("cognito.rs"),
            include_str!("iam.rs"),
            include_str!("sns.rs"),
            include_str!("sms_voice.rs"),
            include_str!("sts.rs"),
            include_str!("cloudwatch.rs"),
        ];
        let called = regex_lite::Regex::new(r#""(cognito-idp|iam|sts|sns|sms-voice|cloudwatch)",\s*"(\w+)""#).unwrap();
        let mut seen = 0;
        for source in sources {
            for c in called.captures_iter(source) {
                let (service, op) = (&c[1], &c[2]);
                assert!(
                    super::super::OPERATIONS.contains(&(service, op)),
                    "{service} {op} is missing from OPERATIONS"
                );
                seen += 1;
            }
        }
        assert!(seen >= 30, "found {seen} calls");
    }
}
