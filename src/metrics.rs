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
use crate::aws::CallCounts;

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ReconcileOutcome {
    /// The resource is Ready.
    Ready,
    /// The reconcile completed; the resource is not Ready (the conditions say why).
    NotReady,
    /// The reconcile itself failed (Kubernetes API, finalizer) and will be retried.
    Error,
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

/// Readiness of the resources the operator watches, computed at scrape time.
pub trait ReadinessCounts: std::fmt::Debug + Send + Sync + 'static {
    /// (ready, not ready, unknown) counts.
    fn readiness(&self) -> (i64, i64, i64);
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
    pub fn new(calls: Arc<CallCounts>, cache: Arc<AccountCache>, resources: Arc<dyn ReadinessCounts>) -> Self {
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
        registry.register_collector(Box::new(Scraped {
            calls,
            cache,
            resources,
        }));
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
struct Scraped {
    calls: Arc<CallCounts>,
    cache: Arc<AccountCache>,
    resources: Arc<dyn ReadinessCounts>,
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut calls = encoder.encode_descriptor(
            "aws_calls",
            "AWS API calls by service, operation and outcome (ok or the error kind)",
            None,
            MetricType::Counter,
        )?;
        for ((service, operation, outcome), n) in self.calls.snapshot() {
            let labels = [("service", service), ("operation", operation), ("outcome", outcome)];
            ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
        }
        let (hits, misses) = self.cache.stats();
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
        let (ready, not_ready, unknown) = self.resources.readiness();
        let mut resources = encoder.encode_descriptor(
            "resources",
            "CognitoSmsConfig resources by their Ready condition",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("true", ready), ("false", not_ready), ("unknown", unknown)] {
            ConstGauge::new(n).encode(resources.encode_family(&[("ready", state)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed;
    impl ReadinessCounts for Fixed {
        fn readiness(&self) -> (i64, i64, i64) {
            (2, 1, 0)
        }
    }

    #[test]
    fn renders_every_series_with_bounded_labels() {
        let m = Metrics::new(
            Arc::default(),
            Arc::new(AccountCache::new(std::time::Duration::ZERO)),
            Arc::new(Fixed),
        );
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
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
