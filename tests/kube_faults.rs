//! The Kubernetes fault matrix, end to end: the operator binary against the API stand-in and the
//! AWS emulator, with the stand-in failing, holding or dropping what the operator asks of it:
//! faults a real API server cannot be made to produce on demand (the real control plane's
//! scenarios, a Secret refused by RBAC and a Lease taken over, are in `tests/e2e/`).
//! Each scenario converges a resource, injects one fault, changes the resource's spec while the
//! fault lasts, clears the fault and checks: the operator's request rate stayed bounded (no busy
//! loop), the change was reconciled within a few resyncs, and nothing else moved in AWS.
//! Each prints one row of the table in docs/reliability.md.

mod support;

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
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
    let kubeconfig = c.standin().kubeconfig_as(OPERATOR).unwrap();
    let mut env = env.to_vec();
    env.push(("KUBECONFIG", kubeconfig.display().to_string()));
    let mut args = vec!["--resync-period", "1s"];
    args.extend(extra);
    c.operator_with(&args, &env, &[])
}

async fn scene(extra: &[&str]) -> Scene {
    let c = Cluster::stand_in().await;
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
        self.c.standin().requests()[from..]
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
        let from = self.c.standin().requests().len();
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
            |s| s.c.standin().inject("patch", "cognitosmsconfigs/status", 409, 0),
            |s| s.c.standin().clear_faults(),
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
                s.c.standin().inject("list", "cognitosmsconfigs", 503, 0);
                s.c.standin().inject("watch", "cognitosmsconfigs", 503, 0);
                s.c.standin().drop_watches();
            },
            |s| s.c.standin().clear_faults(),
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
            s.c.standin()
                .inject_fault(Fault::hanging("list", "cognitosmsconfigs", slow));
            s.c.standin()
                .inject_fault(Fault::hanging("watch", "cognitosmsconfigs", slow));
            s.c.standin().drop_watches();
        },
        |s| s.c.standin().clear_faults(),
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
            s.c.standin().inject_fault(slow);
            s.c.standin().drop_watches();
        },
        |s| {
            s.c.standin().compact();
            s.c.standin().clear_faults();
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
    let from = s.c.standin().requests().len();
    s.c.standin().pause(Duration::from_secs(30));
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

/// Status writes refused while the operator adds a sandbox number and texts it a code: the
/// operator remembers what it did although the status could not say so, and texts the number
/// once.
#[tokio::test]
async fn a_code_is_texted_once_while_status_writes_fail() {
    let c = Cluster::stand_in().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = operator(&c, &[], &[]);
    c.standin().inject("patch", "cognitosmsconfigs/status", 409, 0);
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
    c.standin().clear_faults();
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
