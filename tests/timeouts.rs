//! AWS endpoints that never answer or answer slowly: every call has a connect, attempt and call
//! timeout, each reconcile a deadline, and either becomes a condition that says it timed out and
//! a retry with backoff, never a hung reconcile.

mod support;

use std::time::{Duration, Instant};

use cognito_sms_operator::aws::AwsSettings;
use cognito_sms_operator::conditions::{reasons, types};
use cognito_sms_operator::reconcile::{self, Mode, Requeue};
use serde_json::json;
use support::proxy::{Fault, FaultProxy};
use support::*;

fn short(attempt_ms: u64, call_ms: u64) -> AwsSettings {
    AwsSettings {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(attempt_ms),
        call_timeout: Duration::from_millis(call_ms),
        max_attempts: 2,
        rate_limits: vec![],
    }
}

/// A harness whose AWS calls go through `proxy` with `settings`.
async fn through(emu: &Emulator, proxy: &FaultProxy, settings: &AwsSettings) -> Harness {
    let mut h = Harness::with_ttl(emu, Duration::ZERO).await;
    h.aws = emu.aws_via(&proxy.endpoint, settings).await;
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_never_answers_becomes_a_timed_out_condition_within_the_call_timeout() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let proxy = FaultProxy::start(&emu.endpoint).await;
    proxy.set(Fault::Hang, None);
    let h = through(&emu, &proxy, &short(300, 1000)).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    let started = Instant::now();
    let report = h.reconcile(&mut res).await;
    let took = started.elapsed();

    assert!(
        took < Duration::from_secs(3),
        "bounded by the call timeout, took {took:?}"
    );
    let (status, reason, message) = condition(&res, types::READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::AWS_TIMED_OUT),
        "{message}"
    );
    assert!(message.contains("Timeout"), "{message}");
    assert_eq!(report.requeue, Requeue::Backoff, "timeouts are retried with backoff");
    println!("never-answering endpoint: condition after {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_that_outlives_its_deadline_reports_it() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let proxy = FaultProxy::start(&emu.endpoint).await;
    proxy.set(Fault::Hang, None);
    // The calls' own timeouts are long; the reconcile's deadline is the backstop.
    let h = through(&emu, &proxy, &short(30_000, 60_000)).await;
    let res = resource("app", json!({"userPoolId": pool}));

    let started = Instant::now();
    let deadline = Duration::from_millis(800);
    let report = reconcile::sync_within(
        &h.env(),
        &res,
        Mode::Apply,
        k8s_openapi::jiff::Timestamp::now(),
        deadline,
    )
    .await;

    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let ready = report
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .unwrap();
    assert_eq!(ready.reason, reasons::RECONCILE_TIMED_OUT);
    assert!(
        ready.message.contains("did not finish within 800ms"),
        "{}",
        ready.message
    );
    assert_eq!(report.requeue, Requeue::Backoff);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_endpoint_within_the_timeouts_is_only_slow() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let proxy = FaultProxy::start(&emu.endpoint).await;
    proxy.set(Fault::Delay(Duration::from_millis(150)), None);
    let h = through(&emu, &proxy, &short(2000, 5000)).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    h.reconcile(&mut res).await;

    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_endpoint_past_the_attempt_timeout_is_retried_then_reported() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let proxy = FaultProxy::start(&emu.endpoint).await;
    proxy.set(Fault::Delay(Duration::from_millis(1500)), None);
    let h = through(&emu, &proxy, &short(400, 3000)).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    let started = Instant::now();
    let report = h.reconcile(&mut res).await;

    assert_eq!(condition(&res, types::READY).1, reasons::AWS_TIMED_OUT);
    assert_eq!(report.requeue, Requeue::Backoff);
    let attempts = proxy
        .requests()
        .iter()
        .filter(|r| r.action == "GetCallerIdentity")
        .count();
    assert_eq!(attempts, 2, "the configured attempts, then the condition");
    assert!(started.elapsed() < Duration::from_secs(3));
}
