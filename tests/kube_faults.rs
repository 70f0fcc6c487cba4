//! The Kubernetes fault matrix, end to end: the operator binary against the API stand-in and the
//! AWS emulator, with the stand-in failing, holding or dropping what the operator asks of it.
//! Each scenario converges a resource, injects one fault, changes the resource's spec while the
//! fault lasts, clears the fault and checks: the operator's request rate stayed bounded (no busy
//! loop), the change was reconciled within a few resyncs, and nothing else moved in AWS. The Lease
//! scenario checks that a deposed leader writes nothing, to Kubernetes or AWS, once it knows.
//! Each prints one row of the table in docs/reliability.md.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use support::cluster::*;
use support::*;
use testkit::{Fault, RequestRecord};

/// Who the operator is to the stand-in, so its requests can be told from the test's.
const OPERATOR: &str = "operator";
/// Requests per second above which the operator would be hammering the API server.
const MAX_REQUEST_RATE: f64 = 20.0;
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);

struct Scene {
    c: Cluster,
    op: Operator,
    pool: String,
}

fn operator(c: &Cluster, extra: &[&str], env: &[(&str, String)]) -> Operator {
    let kubeconfig = c.standin.kubeconfig_as(OPERATOR).unwrap();
    let mut env = env.to_vec();
    env.push(("KUBECONFIG", kubeconfig.display().to_string()));
    let mut args = vec!["--resync-period", "1s"];
    args.extend(extra);
    c.operator_with(&args, &env, &[])
}

async fn scene(extra: &[&str]) -> Scene {
    let c = Cluster::start().await;
    let pool = create_customised_pool(&c.emu, "us-east-1").await;
    let op = operator(&c, extra, &[]);
    c.create("app", json!({"userPoolId": pool})).await;
    wait_ready(&c, &op, "app").await;
    Scene { c, op, pool }
}

/// What one scenario measured.
struct Row {
    requests: usize,
    faulted: usize,
    rate: f64,
    converged_after: Duration,
}

impl Scene {
    /// The operator's requests from position `from` of the stand-in's log on.
    fn operator_requests(&self, from: usize) -> Vec<RequestRecord> {
        self.c.standin.requests()[from..]
            .iter()
            .filter(|r| r.identity.as_deref() == Some(OPERATOR))
            .cloned()
            .collect()
    }

    /// Change the spec without asking anything of AWS: the new generation must be observed.
    async fn change_spec(&self, limit: &str) {
        let patch = json!({"spec": {"minimumMonthlySpendLimitUSD": limit}});
        let api = self.c.csms();
        // The API server may be the thing that fails: keep trying, as kubectl users would.
        let started = Instant::now();
        while api
            .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the spec change never went through"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until the current generation is observed and Ready.
    async fn converged(&self) {
        let api = self.c.csms();
        eventually(&self.op, CONVERGE_WITHIN, "the change reconciled", || {
            let api = api.clone();
            async move {
                let r = api.get("app").await.ok()?;
                let current = r.status.as_ref()?.observed_generation == r.metadata.generation;
                (current && status_of(&r, "Ready").as_deref() == Some("True")).then_some(())
            }
        })
        .await;
    }

    /// Hold a fault for `window` while the spec changes, clear it, and wait for convergence.
    async fn run(&self, name: &str, window: Duration, inject: impl FnOnce(&Self), clear: impl FnOnce(&Self)) -> Row {
        let before = pool_but_sms(&self.c.emu, "us-east-1", &self.pool).await;
        let from = self.c.standin.requests().len();
        let started = Instant::now();
        inject(self);
        self.change_spec("2").await;
        tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
        let during = self.operator_requests(from);
        let rate = during.len() as f64 / started.elapsed().as_secs_f64();
        clear(self);
        let cleared = Instant::now();
        self.converged().await;
        let row = Row {
            requests: during.len(),
            faulted: during.iter().filter(|r| r.code >= 400).count(),
            rate,
            converged_after: cleared.elapsed(),
        };
        assert!(rate < MAX_REQUEST_RATE, "{name}: {rate:.1} requests/s during the fault");
        assert_eq!(
            pool_but_sms(&self.c.emu, "us-east-1", &self.pool).await,
            before,
            "{name}"
        );
        assert!(!self.op.log().contains("panicked"), "{name}: the operator panicked");
        println!(
            "| {name} | {} of {} requests over {window:?} | {:.1} | {:.1} s | hold |",
            row.faulted,
            row.requests,
            row.rate,
            row.converged_after.as_secs_f64()
        );
        row
    }
}

#[tokio::test]
async fn conflicts_on_status_writes_are_retried_with_backoff() {
    let s = scene(&[]).await;
    let row = s
        .run(
            "409 on every status write",
            Duration::from_secs(5),
            |s| s.c.standin.inject("patch", "cognitosmsconfigs/status", 409, 0),
            |s| s.c.standin.clear_faults(),
        )
        .await;
    assert!(row.faulted > 0, "the status writes met the fault");
}

#[tokio::test]
async fn failing_lists_and_watches_are_retried_with_backoff() {
    let s = scene(&[]).await;
    let row = s
        .run(
            "503 on list and watch, watches dropped",
            Duration::from_secs(8),
            |s| {
                s.c.standin.inject("list", "cognitosmsconfigs", 503, 0);
                s.c.standin.inject("watch", "cognitosmsconfigs", 503, 0);
                s.c.standin.drop_watches();
            },
            |s| s.c.standin.clear_faults(),
        )
        .await;
    assert!(row.faulted > 0, "the watcher met the fault");
}

#[tokio::test]
async fn slow_lists_and_watches_are_waited_for() {
    let s = scene(&[]).await;
    s.run(
        "list and watch answered after 5 s, watches dropped",
        Duration::from_secs(8),
        |s| {
            let slow = Duration::from_secs(5);
            s.c.standin
                .inject_fault(Fault::hanging("list", "cognitosmsconfigs", slow));
            s.c.standin
                .inject_fault(Fault::hanging("watch", "cognitosmsconfigs", slow));
            s.c.standin.drop_watches();
        },
        |s| s.c.standin.clear_faults(),
    )
    .await;
}

#[tokio::test]
async fn dropped_watches_with_expired_history_relist() {
    let s = scene(&[]).await;
    // The watches reconnect slowly, the spec changes meanwhile, and the history they resume from
    // is forgotten before they are served: resuming answers 410 Gone and the operator must list
    // again.
    s.run(
        "watches dropped, history compacted (410 Gone)",
        Duration::from_secs(3),
        |s| {
            let slow = Fault::hanging("watch", "cognitosmsconfigs", Duration::from_secs(5));
            s.c.standin.inject_fault(slow);
            s.c.standin.drop_watches();
        },
        |s| {
            s.c.standin.compact();
            s.c.standin.clear_faults();
        },
    )
    .await;
    // The change itself can converge before the watch is back: a reconcile reads the resource
    // from the API server, and the resync is short here. The watch must still list again.
    eventually(&s.op, CONVERGE_WITHIN, "the resources listed again", || async {
        let lists = s
            .operator_requests(0)
            .iter()
            .filter(|r| r.verb == "list" && r.resource == "cognitosmsconfigs")
            .count();
        (lists >= 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_api_server_paused_for_30_seconds_is_waited_out() {
    let s = scene(&[]).await;
    let from = s.c.standin.requests().len();
    s.c.standin.pause(Duration::from_secs(30));
    let paused = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    // Requests queued during the pause are answered now; the operator must not storm either.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = s.operator_requests(from).len();
    let rate = requests as f64 / paused.elapsed().as_secs_f64();
    assert!(rate < MAX_REQUEST_RATE, "{rate:.1} requests/s across the pause");
    s.change_spec("3").await;
    let resumed = Instant::now();
    s.converged().await;
    println!(
        "| API server paused 30 s | {requests} requests over 32 s | {rate:.1} | {:.1} s | hold |",
        resumed.elapsed().as_secs_f64()
    );
}

/// A namespace that did not let the operator read its Secrets: the number says exactly how to
/// grant it, the operator does not storm the API server, and a grant is picked up.
#[tokio::test]
async fn a_namespace_without_secret_access_is_told_how_to_grant_it() {
    let c = Cluster::start().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    for verb in ["get", "list", "watch"] {
        c.standin.inject(verb, "secrets", 403, 0);
    }
    let env = [
        ("SERVICE_ACCOUNT", "ops:cso-cognito-sms-operator".to_string()),
        (
            "SECRET_READER_CLUSTER_ROLE",
            "cso-cognito-sms-operator-verification-codes".to_string(),
        ),
    ];
    let op = operator(&c, &[], &env);
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": "000000"}})).unwrap();
    Api::<Secret>::namespaced(c.client.clone(), "apps")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    c.create(
        "app",
        json!({"userPoolId": pool, "sandboxPhoneNumbers": [
            {"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}]}),
    )
    .await;
    let from = c.standin.requests().len();
    let started = Instant::now();
    let command = "kubectl create rolebinding cognito-sms-verification-codes -n apps \
                   --clusterrole=cso-cognito-sms-operator-verification-codes \
                   --serviceaccount=ops:cso-cognito-sms-operator";
    let api = c.csms();
    let message = eventually(&op, CONVERGE_WITHIN, "SecretUnreadable", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let c = r.condition("PhoneNumbersVerified")?;
            (c.reason == "SecretUnreadable").then(|| c.message.clone())
        }
    })
    .await;
    assert!(message.contains(command), "{message}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secret_requests = c.standin.requests()[from..]
        .iter()
        .filter(|r| r.resource == "secrets" && r.identity.as_deref() == Some(OPERATOR))
        .count();
    let rate = secret_requests as f64 / started.elapsed().as_secs_f64();
    assert!(
        rate < 5.0,
        "{secret_requests} Secret requests in {:?}",
        started.elapsed()
    );

    // The team grants access: the operator reads the code without being asked again.
    c.standin.clear_faults();
    eventually(&op, CONVERGE_WITHIN, "the code read", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let reason = r.condition("PhoneNumbersVerified")?.reason.clone();
            (reason != "SecretUnreadable").then_some(())
        }
    })
    .await;
    println!("| Secrets forbidden (403) in the namespace | {secret_requests} Secret requests | {rate:.1} | | hold |");
}

/// The Lease taken over while a reconcile waits on AWS: once the operator sees it lost the Lease
/// it writes nothing more, to Kubernetes or AWS, and it leads and reconciles again when the
/// Lease is free.
#[tokio::test]
async fn a_leader_that_loses_the_lease_mid_reconcile_stops_writing() {
    let c = Cluster::start().await;
    let pool = create_customised_pool(&c.emu, "us-east-1").await;
    let retry = Duration::from_millis(500);
    let election = [
        "--leader-election",
        "--lease-namespace",
        "ops",
        "--identity",
        "leader",
        "--lease-duration",
        "3s",
        "--renew-deadline",
        "2s",
        "--retry-period",
        "500ms",
    ];
    let op = operator(&c, &election, &[]);
    eventually(&op, CONVERGE_WITHIN, "leads", || async {
        op.leads().await.then_some(())
    })
    .await;
    // The reconcile creates the role, then waits on AWS for its next call.
    c.emu.hold_after("CreateRole", true);
    c.create("app", json!({"userPoolId": pool})).await;
    eventually(&op, CONVERGE_WITHIN, "the reconcile waits on AWS", || async {
        c.emu.hold_triggered().then_some(())
    })
    .await;

    // Another replica takes the Lease over.
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "ops");
    let mut lease = leases.get("cognito-sms-operator").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("usurper".into());
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    leases
        .replace("cognito-sms-operator", &PostParams::default(), &lease)
        .await
        .unwrap();
    let lost = Instant::now();
    eventually(&op, CONVERGE_WITHIN, "the leader steps down", || async {
        (!op.leads().await).then_some(())
    })
    .await;
    let noticed = lost.elapsed();
    assert!(noticed <= retry * 3, "noticed within a retry period or so: {noticed:?}");
    let from = c.standin.requests().len();
    let aws_calls = c.emu.calls().len();
    c.emu.release_hold();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let writes: Vec<String> = c.standin.requests()[from..]
        .iter()
        .filter(|r| r.identity.as_deref() == Some(OPERATOR) && r.is_write() && r.resource != "leases")
        .map(|r| format!("{} {}", r.verb, r.full_resource()))
        .collect();
    assert!(
        writes.is_empty(),
        "Kubernetes writes after losing the Lease: {writes:?}"
    );
    let after: Vec<String> = c.emu.calls()[aws_calls..].iter().map(|(_, a)| a.clone()).collect();
    assert!(
        after.len() <= 1,
        "only the AWS call already sent when the Lease was lost may be served: {after:?}"
    );

    // The usurper never renews: the operator takes the Lease back and finishes.
    wait_ready(&c, &op, "app").await;
    assert_eq!(
        c.emu.calls().iter().filter(|(_, a)| a == "CreateRole").count(),
        1,
        "one role"
    );
    println!(
        "| Lease taken over mid-reconcile | noticed after {noticed:?}; {} Kubernetes writes and {} AWS calls after | | {:.1} s | hold |",
        writes.len(),
        after.len(),
        lost.elapsed().as_secs_f64()
    );
}

/// Status writes refused while the operator adds a sandbox number and texts it a code: the
/// operator remembers what it did although the status could not say so, and texts the number
/// once.
#[tokio::test]
async fn a_code_is_texted_once_while_status_writes_fail() {
    let c = Cluster::start().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = operator(&c, &[], &[]);
    c.standin.inject("patch", "cognitosmsconfigs/status", 409, 0);
    c.create(
        "app",
        json!({"userPoolId": pool, "sandboxPhoneNumbers": [
            {"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}]}),
    )
    .await;
    let texts = || {
        c.emu
            .sms_messages()
            .into_iter()
            .filter(|(to, _)| to == "+14255550100")
            .count()
    };
    eventually(&op, CONVERGE_WITHIN, "a code texted", || async {
        (texts() > 0).then_some(())
    })
    .await;
    // Several resyncs and retries with the status still unwritten.
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.standin.clear_faults();
    let api = c.csms();
    eventually(&op, CONVERGE_WITHIN, "the status written", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            (r.condition("PhoneNumbersVerified")?.reason == "AwaitingCode").then_some(())
        }
    })
    .await;
    assert_eq!(texts(), 1, "one code in all");
    let r = api.get("app").await.unwrap();
    assert!(r.status.unwrap().sandbox_phone_numbers[0].added_by_operator);
}
