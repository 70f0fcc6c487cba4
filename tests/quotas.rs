//! The client-side rate limits against the emulator throttling as AWS does at its default quotas:
//! many resources reconciled at once through one AWS handle, as the controller's concurrent
//! reconciles share one.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use cognito_sms_operator::account::NumberIds;
use cognito_sms_operator::account_cache::AccountCache;
use cognito_sms_operator::aws::Aws;
use cognito_sms_operator::aws::limits::{Budgets, Limits};
use cognito_sms_operator::reconcile::{self, Env, Mode};
use futures::future::join_all;
use serde_json::json;
use support::*;

/// AWS's default quotas as the user met them: 15 requests per second per account and
/// region for each Cognito category, and 15 per second per API elsewhere.
fn throttle_at_aws_defaults(emu: &Emulator) {
    emu.throttle(json!({"cognito-idp:*": 15, "iam:*": 15, "sts:*": 15, "sns:*": 15, "sms-voice:*": 15}));
}

struct Fleet {
    ready: usize,
    throttled: BTreeMap<String, u64>,
    took: Duration,
}

/// Reconcile a resource for each of `pools` new pools, all at once, through `aws`.
async fn converge(emu: &Emulator, aws: &Aws, pools: &[String]) -> Fleet {
    let cache = AccountCache::new(Duration::from_secs(300));
    let secrets = TestSecrets::default();
    let claimed = HashSet::new();
    let ids = NumberIds::ephemeral();
    let env = Env::aws(aws, &cache, &secrets, &claimed, "cluster-a", &ids);
    let resources: Vec<_> = pools
        .iter()
        .enumerate()
        .map(|(i, pool)| resource(&format!("app-{i}"), json!({"userPoolId": pool})))
        .collect();
    let started = Instant::now();
    let reports = join_all(
        resources
            .iter()
            .map(|res| reconcile::sync(&env, res, Mode::Apply, k8s_openapi::jiff::Timestamp::now())),
    )
    .await;
    Fleet {
        ready: reports.iter().filter(|r| r.problem().is_none()).count(),
        throttled: emu.throttled(),
        took: started.elapsed(),
    }
}

#[tokio::test]
async fn at_the_default_budgets_aws_never_throttles_a_burst_of_new_resources() {
    let emu = Emulator::start();
    throttle_at_aws_defaults(&emu);
    let pools = emu.create_pools("us-east-1", 40);
    let fleet = converge(&emu, &emu.aws().await, &pools).await;
    assert_eq!(fleet.ready, 40, "every resource converges in one reconcile");
    assert!(fleet.throttled.is_empty(), "throttled calls: {:?}", fleet.throttled);
    // 40 DescribeUserPool calls or more at 13 a second, 13 of them at once.
    assert!(fleet.took >= Duration::from_secs(2), "took {:?}", fleet.took);
}

/// The same burst with budgets above AWS's quotas is throttled, every throttle reaches the
/// limits (which back off; the arithmetic is unit-tested in `aws::limits`), and the resources
/// still converge: proof that the first test measures the limits, not a lenient emulator.
#[tokio::test]
async fn budgets_above_the_quota_are_throttled_and_back_off_without_failing() {
    let emu = Emulator::start();
    throttle_at_aws_defaults(&emu);
    let pools = emu.create_pools("us-east-1", 40);
    let budgets = Budgets::with(&["cognito-idp:*=200".into(), "iam:*=200".into()]).unwrap();
    let aws = Aws::with_limits(emu.sdk_config("us-east-1").await, Limits::new(budgets));
    let fleet = converge(&emu, &aws, &pools).await;
    assert!(
        !fleet.throttled.is_empty(),
        "the emulator throttles bursts above 15 a second"
    );
    let stats = aws.limits.stats();
    let seen: u64 = stats.values().map(|s| s.throttles).sum();
    let refused: u64 = fleet.throttled.values().sum();
    assert_eq!(seen, refused, "each throttled attempt reached its bucket: {stats:?}");
    // The SDK's retries, each taking a token, and the resources that did not make it this time
    // are retried by the controller; none is refused for good. (Three UserPoolRead calls a new
    // pool, against a quota of 15 a second, at 200 a second: most, not all, make it at once.)
    assert!(fleet.ready >= 20, "{} of 40 ready", fleet.ready);
}

/// A failed read of the account's SMS state is shared like a successful one: the reconciles
/// waiting on it, and those of the next seconds, do not each ask AWS again.
#[tokio::test]
async fn a_failed_account_read_is_made_once_for_everyone_waiting() {
    let emu = Emulator::start();
    let pools = emu.create_pools("us-east-1", 5);
    emu.inject_fault("sms-voice", "DescribeAccountAttributes", "ServiceUnavailable", 1);
    let aws = emu.aws().await;
    let cache = AccountCache::new(Duration::from_secs(300));
    let secrets = TestSecrets::default();
    let claimed = HashSet::new();
    let ids = NumberIds::ephemeral();
    let env = Env::aws(&aws, &cache, &secrets, &claimed, "cluster-a", &ids);
    let resources: Vec<_> = pools
        .iter()
        .enumerate()
        .map(|(i, pool)| resource(&format!("app-{i}"), json!({"userPoolId": pool})))
        .collect();
    let now = k8s_openapi::jiff::Timestamp::now();
    let reports = join_all(resources.iter().map(|res| reconcile::sync(&env, res, Mode::Apply, now))).await;
    let reads = || {
        emu.calls()
            .iter()
            .filter(|(_, a)| a == "DescribeAccountAttributes")
            .count()
    };
    assert_eq!(reads(), 1, "one read for the five resources, failed");
    for report in &reports {
        let sandbox = report
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "SandboxExited")
            .unwrap();
        assert_eq!(sandbox.reason, "AwsUnavailable", "{sandbox:?}");
    }

    tokio::time::sleep(cognito_sms_operator::account_cache::FAILURE_TTL).await;
    reconcile::sync(&env, &resources[0], Mode::Apply, now).await;
    assert_eq!(reads(), 2, "asked again once the failure is a few seconds old");
}
