//! Prometheus metrics. Every label is bounded: outcomes, AWS service and operation names and
//! error kinds come from fixed sets in the code; resource names and error texts never appear.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::account_cache::AccountCache;
use crate::aws::limits::BucketStats;
use crate::aws::{CallCounts, Limits};

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ReconcileOutcome {
    /// The resource is Ready.
    Ready,
    /// The reconcile completed; the resource is not Ready (the conditions say why).
    NotReady,
    /// The reconcile itself failed (Kubernetes API, finalizer) and will be retried.
    Error,
    /// The resource is being deleted and its deletion policy was applied.
    CleanedUp,
    /// The resource was gone (or recreated under its name) by the time it was read: nothing to do.
    Gone,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: ReconcileOutcome,
}

/// A failed reconcile's error category, a fixed set (see `controller::Error::category`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub category: &'static str,
}

/// The controller's queue, as the metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Queue {
    pub running: i64,
    /// Resources due (or never reconciled yet) and not running: waiting for a slot.
    pub waiting: i64,
    /// Seconds since the least recently synced resource was synced (0 when none was yet).
    pub oldest_sync_age: f64,
}

/// The controller's state, read at scrape time.
pub trait ControllerState: std::fmt::Debug + Send + Sync + 'static {
    /// (ready, not ready, unknown) counts of the resources watched.
    fn readiness(&self) -> (i64, i64, i64);
    /// Reconciles running and resources waiting for one.
    fn queue(&self) -> Queue;
}

/// The client-side rate limits of each AWS account acted in, read at scrape time.
pub trait RateLimits: std::fmt::Debug + Send + Sync + 'static {
    /// (account ID, its limits); the operator's own account with an empty ID, which leaves its
    /// series without an `account` label.
    fn by_account(&self) -> Vec<(String, Arc<Limits>)>;
}

/// One account's limits: the operator's own.
impl RateLimits for Arc<Limits> {
    fn by_account(&self) -> Vec<(String, Arc<Limits>)> {
        vec![(String::new(), self.clone())]
    }
}

/// What the metrics read from the rest of the operator.
#[derive(Debug)]
pub struct Sources {
    pub calls: Arc<CallCounts>,
    pub limits: Arc<dyn RateLimits>,
    pub cache: Arc<AccountCache>,
    pub controller: Arc<dyn ControllerState>,
}

pub struct Metrics {
    pub reconciles: Family<OutcomeLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub leader: Gauge,
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(sources: Sources) -> Self {
        let mut registry = Registry::with_prefix("cognito_sms");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by outcome", reconciles.clone());
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed and will be retried, by error category",
            reconcile_errors.clone(),
        );
        let reconcile_duration = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        registry.register_with_unit(
            "reconcile_duration",
            "Time one reconcile took, AWS calls included",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease and reconciles",
            leader.clone(),
        );
        registry.register_collector(Box::new(Scraped(sources)));
        Self {
            reconciles,
            reconcile_errors,
            reconcile_duration,
            leader,
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Metrics read from the operator's state at scrape time (names get the registry's prefix).
#[derive(Debug)]
struct Scraped(Sources);

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut calls = encoder.encode_descriptor(
            "aws_calls",
            "AWS API calls by service, operation and outcome (ok or the error kind)",
            None,
            MetricType::Counter,
        )?;
        for ((service, operation, outcome), n) in self.0.calls.snapshot() {
            let labels = [("service", service), ("operation", operation), ("outcome", outcome)];
            ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
        }
        let (hits, misses) = self.0.cache.stats();
        for (name, help, value) in [
            (
                "sns_cache_hits",
                "Reads of the account's SNS state served from the shared cache",
                hits,
            ),
            (
                "sns_cache_misses",
                "Reads of the account's SNS state that asked SNS",
                misses,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        let (ready, not_ready, unknown) = self.0.controller.readiness();
        let mut resources = encoder.encode_descriptor(
            "resources",
            "CognitoSmsConfig resources by their Ready condition",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("true", ready), ("false", not_ready), ("unknown", unknown)] {
            ConstGauge::new(n).encode(resources.encode_family(&[("ready", state)])?)?;
        }
        self.encode_queue(&mut encoder)?;
        self.encode_limits(&mut encoder)
    }
}

/// One metric family read from each rate-limit bucket: name, help, and the value.
type BucketFamily<T> = (&'static str, &'static str, fn(&BucketStats) -> T);

impl Scraped {
    fn encode_queue(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let q = self.0.controller.queue();
        for (name, help, value) in [
            ("reconciles_in_flight", "Reconciles running now", q.running),
            (
                "reconcile_queue_depth",
                "Resources due for a reconcile and waiting for a free slot",
                q.waiting,
            ),
        ] {
            ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        let age = encoder.encode_descriptor(
            "oldest_sync_age",
            "Seconds since the least recently synced resource was last compared with AWS",
            Some(&prometheus_client::registry::Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(q.oldest_sync_age).encode(age)
    }

    fn encode_limits(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // The accounts are the platform admin's CognitoSmsAccounts: few, and bounded by them.
        let stats: Vec<_> = self
            .0
            .limits
            .by_account()
            .into_iter()
            .flat_map(|(account, limits)| {
                limits
                    .stats()
                    .into_iter()
                    .map(move |(key, s)| ((account.clone(), key), s))
            })
            .collect();
        let labels = |(account, (service, category)): &(String, (&'static str, &'static str))| {
            let mut labels = vec![("service", service.to_string()), ("category", category.to_string())];
            if !account.is_empty() {
                labels.push(("account", account.clone()));
            }
            labels
        };
        let counts: [BucketFamily<u64>; 3] = [
            (
                "aws_rate_limit_waits",
                "AWS calls that waited for the client-side rate limit",
                |s| s.waits,
            ),
            ("aws_throttles", "AWS call attempts that AWS throttled", |s| s.throttles),
            (
                "aws_retries",
                "Retries the AWS SDK made, each within the rate limit",
                |s| s.retries,
            ),
        ];
        for (name, help, value) in counts {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (key, s) in &stats {
                ConstCounter::new(value(s)).encode(family.encode_family(&labels(key))?)?;
            }
        }
        let mut waited = encoder.encode_descriptor(
            "aws_rate_limit_wait",
            "Time AWS calls spent waiting for the client-side rate limit",
            Some(&prometheus_client::registry::Unit::Seconds),
            MetricType::Counter,
        )?;
        for (key, s) in &stats {
            ConstCounter::new(s.waited.as_secs_f64()).encode(waited.encode_family(&labels(key))?)?;
        }
        let gauges: [BucketFamily<f64>; 2] = [
            (
                "aws_rate_limit",
                "Requests per second allowed now (lowered after throttling)",
                |s| s.rate,
            ),
            ("aws_rate_limit_budget", "Requests per second configured", |s| s.budget),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (key, s) in &stats {
                ConstGauge::new(value(s)).encode(family.encode_family(&labels(key))?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed;
    impl ControllerState for Fixed {
        fn readiness(&self) -> (i64, i64, i64) {
            (2, 1, 0)
        }
        fn queue(&self) -> Queue {
            Queue {
                running: 3,
                waiting: 7,
                oldest_sync_age: 12.5,
            }
        }
    }

    #[test]
    fn renders_every_series_with_bounded_labels() {
        let limits = Arc::new(Limits::default());
        let m = Metrics::new(Sources {
            calls: Arc::default(),
            limits: Arc::new(limits.clone()),
            cache: Arc::new(AccountCache::new(std::time::Duration::ZERO)),
            controller: Arc::new(Fixed),
        });
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(limits.acquire("us-east-1", "cognito-idp", "DescribeUserPool"));
        m.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: ReconcileOutcome::Ready,
            })
            .inc();
        m.reconcile_duration.observe(0.2);
        let text = m.render();
        for line in [
            "cognito_sms_reconciles_total{outcome=\"Ready\"} 1",
            "cognito_sms_reconcile_duration_seconds_count 1",
            "cognito_sms_leader 0",
            "cognito_sms_sns_cache_hits_total 0",
            "cognito_sms_resources{ready=\"true\"} 2",
            "cognito_sms_resources{ready=\"false\"} 1",
            "cognito_sms_reconciles_in_flight 3",
            "cognito_sms_reconcile_queue_depth 7",
            "cognito_sms_oldest_sync_age_seconds 12.5",
            "cognito_sms_aws_rate_limit_budget{service=\"cognito-idp\",category=\"UserPoolRead\"} 13.0",
            "cognito_sms_aws_throttles_total{service=\"cognito-idp\",category=\"UserPoolRead\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    /// The operator's own account and one reached through a role.
    #[derive(Debug)]
    struct TwoAccounts(Arc<Limits>, Arc<Limits>);

    impl RateLimits for TwoAccounts {
        fn by_account(&self) -> Vec<(String, Arc<Limits>)> {
            vec![(String::new(), self.0.clone()), ("222222222222".into(), self.1.clone())]
        }
    }

    #[test]
    fn each_account_s_rate_limits_are_labelled_with_it_the_operator_s_own_without() {
        let accounts = TwoAccounts(Arc::default(), Arc::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for limits in [&accounts.0, &accounts.1] {
            runtime.block_on(limits.acquire("us-east-1", "cognito-idp", "DescribeUserPool"));
        }
        let m = Metrics::new(Sources {
            calls: Arc::default(),
            limits: Arc::new(accounts),
            cache: Arc::new(AccountCache::new(std::time::Duration::ZERO)),
            controller: Arc::new(Fixed),
        });
        let text = m.render();
        for line in [
            "cognito_sms_aws_rate_limit_budget{service=\"cognito-idp\",category=\"UserPoolRead\"} 13.0",
            "cognito_sms_aws_rate_limit_budget{service=\"cognito-idp\",category=\"UserPoolRead\",account=\"222222222222\"} 13.0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
