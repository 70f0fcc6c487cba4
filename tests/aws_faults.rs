//! The AWS fault matrix, end to end: the operator binary on the API stand-in, calling AWS through
//! a fault proxy in front of the emulator. Each scenario converges a resource, injects one kind
//! of fault, clears it, and checks the invariants: every pool setting intact, one managed role and
//! the team's role untouched, convergence within a few resyncs, a bounded call rate during the
//! fault, and no verification code or credential in the operator's log. Each prints one row of
//! the table in docs/reliability.md.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aws_sdk_cognitoidentityprovider::types::UserPoolType;
use k8s_openapi::api::core::v1::Secret;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::*;
use support::proxy::{Fault, FaultProxy};
use support::*;

const SECRET_KEY: &str = "fault-matrix-secret-key-do-not-log";
const NUMBER: &str = "+14255550100";
/// How long after a fault clears the resource must be Ready again: a few resyncs and the
/// longest backoff.
const CONVERGE_WITHIN: Duration = Duration::from_secs(12);
/// Calls per second during a fault above which the operator would be hammering AWS.
const MAX_CALL_RATE: f64 = 40.0;

/// A converged resource, with everything the invariants compare against.
struct Scene {
    c: Cluster,
    proxy: FaultProxy,
    op: Operator,
    pool: String,
    code: String,
    before: UserPoolType,
    team_role: Value,
}

async fn full_pool(emu: &Emulator, pool: &str) -> UserPoolType {
    let out = emu
        .cognito("us-east-1")
        .await
        .describe_user_pool()
        .user_pool_id(pool)
        .send()
        .await
        .unwrap();
    let mut pool = out.user_pool().unwrap().clone();
    pool.last_modified_date = None;
    pool
}

/// The team's own role, which the operator must never touch: its trust and inline policies.
async fn team_role(emu: &Emulator) -> Value {
    let iam = emu.iam().await;
    let role = iam.get_role().role_name("team-sms").send().await.unwrap();
    let policy = iam
        .get_role_policy()
        .role_name("team-sms")
        .policy_name("sms")
        .send()
        .await
        .unwrap();
    json!({"trust": role.role().unwrap().assume_role_policy_document(), "policy": policy.policy_document()})
}

async fn scene(extra_args: &[&str]) -> Scene {
    let credentials = [
        ("AWS_ACCESS_KEY_ID", "AKIAFAULTMATRIX".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
    ];
    scene_with(extra_args, &credentials, &[]).await
}

/// A scene whose operator gets its credentials from `env` (and without `unset`).
async fn scene_with(extra_args: &[&str], env: &[(&str, String)], unset: &[&str]) -> Scene {
    let c = Cluster::start().await;
    let proxy = FaultProxy::start(&c.emu.endpoint).await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let iam = c.emu.iam().await;
    iam.create_role()
        .role_name("team-sms")
        .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": []}).to_string())
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("team-sms")
        .policy_name("sms")
        .policy_document(cognito_sms_operator::policy::publish_policy().to_string())
        .send()
        .await
        .unwrap();
    let pool = create_customised_pool(&c.emu, "us-east-1").await;
    let mut args = vec![
        "--resync-period",
        "1s",
        "--aws-connect-timeout",
        "500ms",
        "--aws-attempt-timeout",
        "1s",
    ];
    args.extend(["--aws-call-timeout", "2s"]);
    args.extend(extra_args);
    let mut env = env.to_vec();
    env.push(("AWS_ENDPOINT_URL", proxy.endpoint.clone()));
    let op = c.operator_with(&args, &env, unset);
    c.create(
        "app",
        json!({"userPoolId": pool, "deletionPolicy": "Delete", "sandboxPhoneNumbers": [
            {"phoneNumber": NUMBER, "verificationCodeRef": {"name": "codes", "key": "qa"}}]}),
    )
    .await;
    let code = verify_number(&c, &op).await;
    wait_ready(&c, &op, "app").await;
    let before = full_pool(&c.emu, &pool).await;
    let team_role = team_role(&c.emu).await;
    Scene {
        c,
        proxy,
        op,
        pool,
        code,
        before,
        team_role,
    }
}

/// Put the texted code into the Secret and wait for the number to be verified; the code.
async fn verify_number(c: &Cluster, op: &Operator) -> String {
    let emu = &c.emu;
    let text = eventually(op, Duration::from_secs(20), "the code texted", || async move {
        emu.sms_messages()
            .into_iter()
            .rfind(|(to, _)| to == NUMBER)
            .map(|(_, t)| t)
    })
    .await;
    let code = text.rsplit(' ').next().unwrap().to_string();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": code}})).unwrap();
    c.api::<Secret>().create(&PostParams::default(), &secret).await.unwrap();
    let api = c.csms();
    eventually(op, Duration::from_secs(20), "the number verified", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            (status_of(&r, "PhoneNumbersVerified").as_deref() == Some("True")).then_some(())
        }
    })
    .await;
    code
}

/// What one scenario measured.
struct Row {
    calls: usize,
    faulted: u64,
    rate: f64,
    /// The conditions that were not True while the fault lasted, as `Type=Reason`.
    seen: BTreeSet<String>,
    converged_after: Duration,
}

impl Scene {
    /// Hold a fault in place for `window` (`inject` starts it, `clear` ends it), then wait for
    /// convergence and check every invariant.
    async fn run(&self, name: &str, window: Duration, inject: impl FnOnce(&Self), clear: impl FnOnce(&Self)) -> Row {
        let from = self.proxy.requests().len();
        let started = Instant::now();
        inject(self);
        let seen = self.watch_conditions(window).await;
        let during: Vec<_> = self.proxy.requests()[from..].to_vec();
        let by_proxy = during.iter().filter(|r| r.fault != Fault::Pass).count() as u64;
        let faulted = by_proxy + self.c.emu.faults_answered();
        clear(self);
        let rate = during.len() as f64 / started.elapsed().as_secs_f64();
        let cleared = Instant::now();
        self.converged(name).await;
        let row = Row {
            calls: during.len(),
            faulted,
            rate,
            seen,
            converged_after: cleared.elapsed(),
        };
        self.check_invariants(name, &row).await;
        let seen: Vec<String> = row.seen.iter().cloned().collect();
        println!(
            "| {name} | {} of {} calls over {:?} | {} | {:.1} | {:.1} s | hold |",
            row.faulted,
            row.calls,
            window,
            seen.join(", "),
            row.rate,
            row.converged_after.as_secs_f64()
        );
        row
    }

    /// Poll the resource for `window`; every condition that was not True, as `Type=Reason`.
    async fn watch_conditions(&self, window: Duration) -> BTreeSet<String> {
        let until = Instant::now() + window;
        let mut seen = BTreeSet::new();
        while Instant::now() < until {
            if let Ok(r) = self.c.csms().get("app").await {
                let failing = r
                    .status
                    .iter()
                    .flat_map(|s| &s.conditions)
                    .filter(|c| c.status != "True");
                seen.extend(failing.map(|c| format!("{}={}", c.type_, c.reason)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen.remove("SandboxExited=InSandbox");
        seen.remove("SpendLimitSufficient=SpendLimitTooLow");
        seen.remove("ProductionReady=InSandbox");
        seen
    }

    /// Ready, with a reconcile that reached AWS after the fault cleared.
    async fn converged(&self, name: &str) {
        let mark = self.proxy.requests().len();
        let api = self.c.csms();
        let proxy = &self.proxy;
        eventually(&self.op, CONVERGE_WITHIN, &format!("{name}: converged"), || {
            let api = api.clone();
            async move {
                let reached = proxy.requests()[mark..].iter().any(|r| r.action == "DescribeUserPool");
                let r = api.get("app").await.ok()?;
                (reached && status_of(&r, "Ready").as_deref() == Some("True")).then_some(())
            }
        })
        .await;
    }

    async fn check_invariants(&self, name: &str, row: &Row) {
        let emu = &self.c.emu;
        assert_eq!(
            full_pool(emu, &self.pool).await,
            self.before,
            "{name}: every pool setting intact"
        );
        let roles = emu.iam().await.list_roles().send().await.unwrap();
        let managed = roles
            .roles()
            .iter()
            .filter(|r| r.role_name().starts_with("cognito-sms-"))
            .count();
        assert_eq!(managed, 1, "{name}: one managed role");
        assert_eq!(
            team_role(emu).await,
            self.team_role,
            "{name}: the team's role untouched"
        );
        assert!(
            row.rate <= MAX_CALL_RATE,
            "{name}: {:.1} calls/s during the fault",
            row.rate
        );
        let log = self.op.log();
        assert!(!log.contains(&self.code), "{name}: the verification code in the log");
        assert!(!log.contains(SECRET_KEY), "{name}: the secret key in the log");
    }
}

/// `fault` on every call through the proxy for a while; the operator must have said so with
/// `reason`.
async fn proxy_fault(name: &str, fault: Fault, reason: &str) {
    // One retry: the SDK's backoff before a second retry (up to 2 s) could outlast the 2 s call
    // timeout, and the call would then report a timeout instead of the fault it met.
    let s = scene(&["--aws-max-attempts", "2"]).await;
    // Long enough for a reconcile whose every call is retried, then runs into its timeout, to end
    // and report.
    let window = Duration::from_secs(8);
    let row = s
        .run(name, window, |s| s.proxy.set(fault, None), |s| s.proxy.clear())
        .await;
    assert!(row.faulted > 0, "{name}: the fault reached the operator");
    assert!(row.seen.iter().any(|c| c.ends_with(reason)), "{name}: {:?}", row.seen);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_500_from_every_service() {
    proxy_fault("HTTP 500 on every call", Fault::Status(500), "AwsUnavailable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_503_from_every_service() {
    proxy_fault("HTTP 503 on every call", Fault::Status(503), "AwsUnavailable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_reset_mid_response() {
    proxy_fault("connection reset mid-response", Fault::Reset, "AwsUnavailable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_bodies() {
    proxy_fault("truncated bodies", Fault::Truncate, "AwsUnavailable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbled_bodies() {
    proxy_fault("garbled bodies", Fault::Garble, "AwsUnavailable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_that_stop_answering() {
    proxy_fault("no answer (timeouts)", Fault::Hang, "AwsTimedOut").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_burst() {
    let s = scene(&[]).await;
    let inject = |s: &Scene| {
        s.c.emu
            .inject_fault("cognito-idp", "DescribeUserPool", "TooManyRequestsException", 40);
        s.c.emu.inject_fault("iam", "GetRole", "Throttling", 40);
        s.c.emu
            .inject_fault("sms-voice", "DescribeAccountAttributes", "ThrottlingException", 40);
    };
    let clear = |s: &Scene| s.c.emu.clear_faults();
    let row = s
        .run(
            "throttling burst (40 on each of 3 APIs)",
            Duration::from_secs(8),
            inject,
            clear,
        )
        .await;
    assert!(row.seen.iter().any(|c| c.ends_with("Throttled")), "{:?}", row.seen);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_one_call() {
    let s = scene(&[]).await;
    let inject = |s: &Scene| s.c.emu.inject_fault("iam", "GetRole", "AccessDenied", 1);
    let clear = |s: &Scene| s.c.emu.clear_faults();
    let row = s
        .run("AccessDenied on one GetRole", Duration::from_secs(2), inject, clear)
        .await;
    assert!(row.seen.contains("RoleReady=AccessDenied"), "{:?}", row.seen);
}

/// IAM propagation: a changed external ID rewrites the trust policy, and Cognito refuses the
/// pool update until IAM has caught up.
#[tokio::test(flavor = "multi_thread")]
async fn iam_propagation_after_a_trust_policy_change() {
    let mut s = scene(&[]).await;
    // The one change the scenario makes: the pool's external ID.
    let mut sms = s.before.sms_configuration.clone().unwrap();
    sms.external_id = Some("rotated-external-id".into());
    s.before.sms_configuration = Some(sms);
    let inject = |s: &Scene| {
        s.c.emu.inject_fault(
            "cognito-idp",
            "UpdateUserPool",
            "InvalidSmsRoleTrustRelationshipException",
            3,
        );
        let api = s.c.csms();
        tokio::spawn(async move {
            let patch = json!({"spec": {"externalId": "rotated-external-id"}});
            api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        });
    };
    let clear = |s: &Scene| s.c.emu.clear_faults();
    let row = s
        .run("IAM propagation (3 refusals)", Duration::from_secs(2), inject, clear)
        .await;
    assert!(
        row.seen.contains("UserPoolConfigured=IamPropagationPending"),
        "{:?}",
        row.seen
    );
}

/// Temporary credentials from the container credentials endpoint, as EKS Pod Identity serves
/// them: each fetch hands out a new key pair that expires 15 s later.
struct CredentialsEndpoint {
    url: String,
    issued: Arc<AtomicU32>,
}

impl CredentialsEndpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/credentials", listener.local_addr().unwrap());
        let issued = Arc::new(AtomicU32::new(0));
        let counter = issued.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let answer = credentials_answer(n);
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        Self { url, issued }
    }
}

fn credentials_answer(n: u32) -> String {
    let expires = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(15);
    let body = json!({
        "AccessKeyId": format!("ASIAROTATING{n:04}"),
        "SecretAccessKey": format!("{SECRET_KEY}-{n:04}"),
        "Token": format!("session-token-{n:04}"),
        "Expiration": expires.round(k8s_openapi::jiff::Unit::Second).unwrap().to_string(),
    })
    .to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Expired credentials: AWS refuses the first keys once they have expired; the SDK's chain has
/// fetched new ones before, and the operator carries on without a failed call.
#[tokio::test(flavor = "multi_thread")]
async fn expired_credentials_are_refreshed_through_the_sdks_chain() {
    let endpoint = CredentialsEndpoint::start().await;
    let env = [("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url.clone())];
    let s = scene_with(&[], &env, &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]).await;
    // Once the SDK has refreshed them, the keys handed out so far expire at AWS.
    let first = endpoint.issued.load(Ordering::SeqCst);
    let issued = endpoint.issued.clone();
    eventually(&s.op, Duration::from_secs(20), "credentials refreshed", || {
        let issued = issued.clone();
        async move { (issued.load(Ordering::SeqCst) > first).then_some(()) }
    })
    .await;
    let inject = |s: &Scene| {
        let expired: Vec<String> = (1..=first).map(|n| format!("ASIAROTATING{n:04}")).collect();
        s.c.emu.expire_credentials(&expired);
    };
    let row = s
        .run("credentials expired", Duration::from_secs(8), inject, |_| {})
        .await;
    assert!(
        endpoint.issued.load(Ordering::SeqCst) > first,
        "new credentials were fetched"
    );
    assert!(
        !row.seen.iter().any(|c| c.ends_with("AccessDenied")),
        "no call went out with expired credentials: {:?}",
        row.seen
    );
    let log = s.op.log();
    assert!(!log.contains("session-token-"), "a session token in the log");
}
