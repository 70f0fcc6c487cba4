//! The exact Kubernetes API calls the controller makes, checked with kube's mock service.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cognito_sms_operator::aws::Aws;
use cognito_sms_operator::controller::{self, Backoff, Context, Settings};
use cognito_sms_operator::crd::{CognitoSmsConfig, FINALIZER};
use cognito_sms_operator::testing::ResourceFixture;
use http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use support::*;
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

/// One request the mock API server received.
#[derive(Debug)]
struct Seen {
    method: Method,
    uri: String,
    content_type: String,
    body: Value,
}

const BASE: &str = "/apis/cognitosms.io/v1alpha1/namespaces/apps/cognitosmsconfigs/app";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/apps/events?";

/// Answer exactly `count` requests the way the API server would, and hand them back.
fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    obj: CognitoSmsConfig,
    count: usize,
) -> JoinHandle<Vec<Seen>> {
    tokio::spawn(async move {
        let mut seen = vec![];
        let mut current = serde_json::to_value(&obj).unwrap();
        for _ in 0..count {
            let (request, send) = handle
                .next_request()
                .await
                .expect("the controller made the expected request");
            let method = request.method().clone();
            let uri = request.uri().to_string();
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert_permitted(&method, &uri);
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let response = if uri.starts_with(EVENTS) || method == Method::GET {
                // An Event as created, or the resource as it is now.
                if method == Method::GET {
                    current.clone()
                } else {
                    body.clone()
                }
            } else if uri.contains("/status?") {
                current["status"] = body["status"].clone();
                current.clone()
            } else {
                // A JSON patch of the finalizers.
                for op in body.as_array().into_iter().flatten() {
                    match op["op"].as_str() {
                        Some("add") | Some("replace") => current["metadata"]["finalizers"] = op["value"].clone(),
                        Some("remove") => {
                            current["metadata"].as_object_mut().unwrap().remove("finalizers");
                        }
                        _ => {}
                    }
                }
                current.clone()
            };
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&response).unwrap()))
                    .unwrap(),
            );
            seen.push(Seen {
                method,
                uri,
                content_type,
                body,
            });
        }
        seen
    })
}

/// Every call the controller makes is covered by `KUBE_PERMISSIONS` (or, for Secrets,
/// `SECRET_PERMISSIONS`), from which the chart's RBAC rules are checked.
fn assert_permitted(method: &Method, uri: &str) {
    let path = uri.split('?').next().unwrap();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/v1/namespaces/NS/RES[/NAME[/SUB]] or /apis/GROUP/VERSION/namespaces/NS/RES[/NAME[/SUB]]
    let (group, rest) = match parts[0] {
        "api" => ("", &parts[2..]),
        _ => (parts[1], &parts[3..]),
    };
    let rest = if rest.first() == Some(&"namespaces") {
        &rest[2..]
    } else {
        rest
    };
    let resource = match rest {
        [res, _, sub] => format!("{res}/{sub}"),
        [res, ..] => res.to_string(),
        [] => panic!("no resource in {uri}"),
    };
    let named = rest.len() >= 2;
    let verb = match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if uri.contains("watch=true") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    let ok = controller::KUBE_PERMISSIONS
        .iter()
        .chain(controller::SECRET_PERMISSIONS)
        .any(|(g, r, verbs)| *g == group && *r == resource && verbs.contains(&verb));
    assert!(
        ok,
        "{verb} {group}/{resource} ({method} {uri}) is not in the operator's permissions"
    );
}

/// A reconcile starts by reading the whole resource: the watch cache holds it without status.
fn assert_read_whole(seen: &Seen) {
    assert_eq!((&seen.method, seen.uri.as_str()), (&Method::GET, BASE));
}

fn settings() -> Settings {
    Settings {
        namespaces: vec![],
        resync: Duration::from_secs(600),
        backoff: Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
        },
        reconcile_timeout: Duration::from_secs(120),
        sns_cache_ttl: Duration::from_secs(300),
        max_concurrent_reconciles: 10,
        secret_grant: Default::default(),
        installation: Some("cluster-a/operators".into()),
        number_id_key_secret: "cognito-sms-operator-number-id-key".into(),
        // Given, as a started controller has it: its Secret is read on the real control plane.
        number_ids: Some(cognito_sms_operator::account::NumberIds::new(b"key")),
    }
}

/// A context whose Kubernetes client is the mock, and whose AWS is the given endpoint.
async fn context(aws: Aws) -> (Arc<Context>, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (Arc::new(Context::new(client, aws, settings())), handle)
}

/// An AWS handle that cannot reach anything: a test using it proves no AWS call happens.
async fn unreachable_aws() -> Aws {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new("x", "x", None, None, "tests"))
        .load()
        .await;
    Aws::new(config)
}

async fn run(obj: &CognitoSmsConfig, ctx: Arc<Context>) -> Result<Action, controller::Error> {
    tokio::time::timeout(
        Duration::from_secs(30),
        controller::reconcile(Arc::new(obj.clone()), ctx),
    )
    .await
    .expect("reconcile finished: it made no request beyond those expected")
}

/// `--max-concurrent-reconciles` bounds the whole process: resources of two namespaces (each with
/// a controller of its own) take turns when the limit is 1.
#[tokio::test]
async fn the_concurrency_limit_holds_across_namespaces() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let one = Settings {
        max_concurrent_reconciles: 1,
        ..settings()
    };
    let ctx = Arc::new(Context::new(client, unreachable_aws().await, one));
    // With a status, a reconcile starts by reading the resource.
    let mut a = resource("app", json!({"userPoolId": "us-east-1_Abc"})).with_status(Default::default());
    a.metadata.namespace = Some("team-a".into());
    let mut b = a.clone();
    b.metadata.namespace = Some("team-b".into());
    let runs = [a, b].map(|obj| tokio::spawn(run_owned(obj, ctx.clone())));
    let gone = || {
        let status =
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404});
        Response::builder()
            .status(404)
            .body(Body::from(serde_json::to_vec(&status).unwrap()))
            .unwrap()
    };
    let (first, send) = handle.next_request().await.expect("one reconcile reads its resource");
    let waiting = tokio::time::timeout(Duration::from_millis(500), handle.next_request()).await;
    assert!(waiting.is_err(), "the other reconcile waits for the one slot");
    send.send_response(gone());
    let (second, send) = handle.next_request().await.expect("then the other runs");
    send.send_response(gone());
    let namespaces: std::collections::BTreeSet<_> = [&first, &second]
        .iter()
        .map(|r| r.uri().path().split('/').nth(5).unwrap_or_default().to_string())
        .collect();
    assert_eq!(namespaces.len(), 2, "{} then {}", first.uri(), second.uri());
    for done in runs {
        let _gone_either_way = done.await.expect("both reconciles finish");
    }
}

async fn run_owned(obj: CognitoSmsConfig, ctx: Arc<Context>) -> Result<Action, controller::Error> {
    run(&obj, ctx).await
}

/// A requeue after the resync period (600 s), give or take its tenth of jitter.
fn assert_resync(action: &Action) {
    let text = format!("{action:?}");
    let secs: f64 = regex_lite::Regex::new(r"Some\(([0-9.]+)s\)")
        .unwrap()
        .captures(&text)
        .unwrap_or_else(|| panic!("not a requeue: {text}"))[1]
        .parse()
        .unwrap();
    assert!((540.0..=660.0).contains(&secs), "{text}");
}

/// With `deletionPolicy: Delete`, the finalizer is in place before the first change in AWS, and
/// the reconcile goes on in the same pass: no reconcile only adds it.
#[tokio::test]
async fn with_delete_the_finalizer_is_in_place_before_the_first_call_to_aws() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let obj = resource("app", json!({"userPoolId": pool, "deletionPolicy": "Delete"}));
    let aws = emu.aws().await;
    let (ctx, mut handle) = context(aws.clone()).await;
    emu.clear_calls();
    let reconcile = tokio::spawn({
        let (obj, ctx) = (obj.clone(), ctx.clone());
        async move { run(&obj, ctx).await }
    });

    // The finalizer patch, held unanswered: nothing has been asked of AWS.
    let (request, send) = handle.next_request().await.expect("the finalizer patch");
    assert_eq!(
        (request.method(), request.uri().to_string()),
        (&Method::PATCH, format!("{BASE}?"))
    );
    let body: Value = serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
               {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emu.calls(), vec![], "no AWS call before the finalizer is in place");
    let finalized = obj.clone().finalized();
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(&finalized).unwrap()))
            .unwrap(),
    );

    // Then the same reconcile: three Events and the status.
    let seen = serve(handle, finalized, 4).await.unwrap();
    let action = reconcile.await.unwrap().unwrap();
    assert!(seen[3].uri.starts_with(&format!("{BASE}/status?")), "{seen:?}");
    assert_resync(&action);
    assert!(emu.write_calls().iter().any(|(_, a)| a == "CreateRole"));
    assert!(
        ctx.metrics
            .render()
            .contains("cognito_sms_reconciles_total{outcome=\"Ready\"} 1")
    );
}

/// A resource whose deletion changes nothing in AWS (`Retain`, the default) carries no finalizer:
/// one it still has (its policy changed, or an earlier version added it) is released first.
#[tokio::test]
async fn a_finalizer_that_deletion_does_not_need_is_released() {
    let obj = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    )
    .finalized();
    let (ctx, handle) = context(unreachable_aws().await).await;
    let server = serve(handle, obj.clone(), 3);

    run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_eq!(
        (seen[0].method.clone(), seen[0].uri.clone()),
        (Method::PATCH, format!("{BASE}?"))
    );
    assert_eq!(
        seen[0].body,
        json!([{"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
               {"op": "remove", "path": "/metadata/finalizers/0"}])
    );
    assert_eq!(seen[1].uri, EVENTS);
    assert!(seen[2].uri.starts_with(&format!("{BASE}/status?")));
}

#[tokio::test]
async fn an_invalid_resource_gets_a_warning_and_a_status_without_touching_aws() {
    let obj = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    );
    let aws = unreachable_aws().await;
    let (ctx, handle) = context(aws.clone()).await;
    // A new resource comes whole from the watch: no read, no finalizer (deleting it would change
    // nothing in AWS), a Warning and a status write.
    let server = serve(handle, obj.clone(), 2);

    let action = run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_eq!((seen[0].method.clone(), seen[0].uri.as_str()), (Method::POST, EVENTS));
    assert_eq!(seen[0].body["type"], "Warning");
    assert_eq!(seen[0].body["reason"], "SnsRegionNotAllowed");
    assert!(
        seen[0].body["note"]
            .as_str()
            .unwrap()
            .contains("allowed: ap-northeast-1")
    );
    assert_eq!(seen[1].method, Method::PATCH);
    assert_eq!(
        seen[1].uri,
        format!("{BASE}/status?&force=true&fieldManager=cognito-sms-operator")
    );
    assert_eq!(seen[1].content_type, "application/apply-patch+yaml");
    let status = &seen[1].body["status"];
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("SnsRegionNotAllowed"))
    );
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(seen[1].body["apiVersion"], "cognitosms.io/v1alpha1");
    assert_resync(&action);
    assert!(aws.calls.snapshot().is_empty());
}

#[tokio::test]
async fn a_reconcile_that_changes_aws_announces_each_change_then_writes_status() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let obj = resource("app", json!({"userPoolId": pool}));
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 4);

    let action = run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert!(
        seen.iter().all(|s| s.method != Method::GET),
        "a new resource comes whole from the watch: {seen:?}"
    );
    let events: Vec<_> = seen[..3]
        .iter()
        .map(|s| {
            (
                s.uri.as_str(),
                s.body["type"].as_str().unwrap(),
                s.body["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (EVENTS, "Normal", "RoleCreated"),
            (EVENTS, "Normal", "PermissionsPolicyUpdated"),
            (EVENTS, "Normal", "SmsConfigurationUpdated")
        ]
    );
    assert_eq!(seen[0].body["regarding"]["name"], "app");
    assert_eq!(seen[0].body["reportingController"], "cognito-sms-operator");
    assert!(seen[3].uri.starts_with(&format!("{BASE}/status?")));
    let conditions = seen[3].body["status"]["conditions"].as_array().unwrap();
    let status_of = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    for t in ["Ready", "SnsRegionValid", "RoleReady", "UserPoolConfigured"] {
        assert_eq!(status_of(t).as_deref(), Some("True"), "{t}: {conditions:?}");
    }
    // A new account is in the SMS sandbox with the USD 1.00 quota: configured, not production-ready.
    assert_eq!(status_of("SandboxExited").as_deref(), Some("False"));
    assert_eq!(status_of("ProductionReady").as_deref(), Some("False"));
    assert_resync(&action);
}

/// A resync that finds AWS as the status already says writes nothing: no status patch, no Event,
/// no AWS write.
#[tokio::test]
async fn a_resync_that_finds_nothing_new_writes_nothing() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut synced = resource("app", json!({"userPoolId": pool}));
    // Converged: the second reconcile also sees what Cognito reports once the pool sends SMS.
    let harness = Harness::new(&emu).await;
    harness.reconcile(&mut synced).await;
    harness.reconcile(&mut synced).await;

    emu.clear_calls();
    let (ctx, handle) = context(emu.aws().await).await;
    // The mock API server answers one read: any other request would fail the reconcile.
    let server = serve(handle, synced.clone(), 1);
    let action = run(&synced, ctx).await.expect("no write to the API server");
    assert_read_whole(&server.await.unwrap()[0]);
    assert_resync(&action);
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
    let reads: Vec<String> = emu.calls().into_iter().map(|(_, a)| a).collect();
    println!("AWS reads per resync of a converged resource: {reads:?}");
}

/// A resource that stays not Ready for the same reason is announced once, not on every resync.
#[tokio::test]
async fn a_problem_already_reported_is_not_announced_again() {
    let obj = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    );
    let (ctx, handle) = context(unreachable_aws().await).await;
    let server = serve(handle, obj.clone(), 2);
    run(&obj, ctx).await.unwrap();
    let written = server.await.unwrap().pop().unwrap().body["status"].clone();
    let reported = obj.with_status(serde_json::from_value(written).unwrap());

    let (ctx, handle) = context(unreachable_aws().await).await;
    let server = serve(handle, reported.clone(), 1);
    run(&reported, ctx).await.expect("no Warning again, no status write");
    assert_read_whole(&server.await.unwrap()[0]);
}

/// The leader that wrote a status resyncs the resource as the API server has it (read back
/// through JSON, times to the second) and writes nothing.
#[tokio::test]
async fn the_writer_of_a_status_finds_it_unchanged_when_it_reads_it_back() {
    let obj = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    );
    let (ctx, handle) = context(unreachable_aws().await).await;
    // Warning and status write; then the resync's read, of the status as written: the watch
    // that delivered the resync shows no status yet, but this leader has written one.
    let server = serve(handle, obj.clone(), 3);
    run(&obj, ctx.clone()).await.unwrap();
    run(&obj, ctx).await.expect("no status write, no Event");
    let seen = server.await.unwrap();
    assert!(seen[1].uri.starts_with(&format!("{BASE}/status?")));
    assert_read_whole(&seen[2]);
}

#[tokio::test]
async fn deletion_with_retain_only_releases_the_finalizer() {
    let obj = resource("app", json!({"userPoolId": "us-east-1_Abc"})).deleting();
    let aws = unreachable_aws().await;
    let (ctx, handle) = context(aws.clone()).await;
    let server = serve(handle, obj.clone(), 2);

    run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_read_whole(&seen[0]);
    assert_eq!(seen[1].method, Method::PATCH);
    assert_eq!(seen[1].uri, format!("{BASE}?"));
    assert_eq!(
        seen[1].body[1],
        json!({"op": "remove", "path": "/metadata/finalizers/0"})
    );
    assert!(aws.calls.snapshot().is_empty());
}

#[tokio::test]
async fn deletion_keeps_a_role_the_pool_still_uses_and_says_so() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let spec = json!({"userPoolId": pool, "deletionPolicy": "Delete"});
    let mut applied = resource("app", spec.clone());
    Harness::new(&emu).await.reconcile(&mut applied).await;
    let obj = applied.deleting();
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 3);

    run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_read_whole(&seen[0]);
    let seen = &seen[1..];
    assert_eq!(seen[0].uri, EVENTS);
    assert_eq!(
        (seen[0].body["type"].as_str(), seen[0].body["reason"].as_str()),
        (Some("Warning"), Some("RoleRetained"))
    );
    assert!(
        seen[0].body["note"]
            .as_str()
            .unwrap()
            .contains("still sends SMS with it")
    );
    assert_eq!(
        seen[1].body[1],
        json!({"op": "remove", "path": "/metadata/finalizers/0"}),
        "deletion does not hang"
    );
}

/// A cleanup that keeps failing on a recoverable AWS error is tried `CLEANUP_ATTEMPTS` times, each
/// failure counted once and by its cause, then given up with a Warning so deletion never hangs.
#[tokio::test]
async fn a_failing_cleanup_is_tried_cleanup_attempts_times_from_deletion_then_released() {
    let obj = resource(
        "app",
        json!({"userPoolId": "us-east-1_Abc", "deletionPolicy": "Delete"}),
    )
    .deleting();
    let aws = Aws::new(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:9")
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new("x", "x", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await,
    );
    let (ctx, handle) = context(aws.clone()).await;
    // Every attempt reads the resource; only the last writes: a Warning, then the finalizer's
    // removal.
    let attempts_total = controller::CLEANUP_ATTEMPTS as usize;
    let server = serve(handle, obj.clone(), attempts_total + 2);
    // The resource failed and backed off before it was deleted: that leaves the cleanup's own
    // attempts whole.
    for _ in 0..controller::CLEANUP_ATTEMPTS {
        controller::error_policy(Arc::new(obj.clone()), &controller::Error::MissingNamespace, ctx.clone());
    }
    let mut attempts = 0;
    while let Err(e) = run(&obj, ctx.clone()).await {
        attempts += 1;
        assert_eq!(e.category(), "aws_cleanup", "{e}");
        controller::error_policy(Arc::new(obj.clone()), &e, ctx.clone());
        assert!(attempts < 10, "cleanup keeps being retried");
    }
    assert_eq!(attempts + 1, controller::CLEANUP_ATTEMPTS);
    let seen = server.await.unwrap();
    let (reads, seen): (Vec<_>, Vec<_>) = seen.into_iter().partition(|s| s.method == Method::GET);
    assert_eq!(reads.len(), attempts_total);
    assert_eq!(seen[0].body["reason"].as_str(), Some("CleanupFailed"));
    assert_eq!(
        seen[1].body[1],
        json!({"op": "remove", "path": "/metadata/finalizers/0"})
    );
    let failed_reads: u64 = aws
        .calls
        .snapshot()
        .iter()
        .filter(|((_, op, outcome), _)| *op == "DescribeUserPool" && *outcome == "unavailable")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed_reads, u64::from(controller::CLEANUP_ATTEMPTS));
    let metrics = ctx.metrics.render();
    let line = "cognito_sms_reconcile_errors_total{category=\"aws_cleanup\"} 4";
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
}

/// After a reconcile, /metrics serves every expected series, and no label carries a resource
/// name, a pool id or error text.
#[tokio::test]
async fn metrics_are_scraped_after_a_reconcile_with_bounded_labels() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let obj = resource("app", json!({"userPoolId": pool}));
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 4);
    run(&obj, ctx.clone()).await.unwrap();
    server.await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let health = Arc::new(cognito_sms_operator::server::Health::default());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(cognito_sms_operator::server::serve(
        listener,
        cognito_sms_operator::server::router(health.clone(), ctx.metrics.clone()),
        stop,
    ));
    let get = |path: &'static str| {
        let url = format!("http://{addr}{path}");
        tokio::task::spawn_blocking(move || {
            let mut r = ureq::get(&url)
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
    };
    assert_eq!(get("/healthz").await.unwrap().0, 200);
    assert_eq!(get("/readyz").await.unwrap().0, 503, "not ready until told so");
    health.set_ready(true);
    assert_eq!(get("/readyz").await.unwrap().0, 200);
    let (status, text) = get("/metrics").await.unwrap();
    assert_eq!(status, 200);

    for series in [
        "cognito_sms_reconciles_total{outcome=\"Ready\"} 1",
        "cognito_sms_reconcile_duration_seconds_count 1",
        "cognito_sms_aws_calls_total{service=\"iam\",operation=\"CreateRole\",outcome=\"ok\"} 1",
        "cognito_sms_aws_calls_total{service=\"cognito-idp\",operation=\"UpdateUserPool\",outcome=\"ok\"} 1",
        "cognito_sms_aws_calls_total{service=\"sns\",operation=\"GetSMSSandboxAccountStatus\",outcome=\"ok\"} 1",
        "cognito_sms_sns_cache_misses_total 1",
        "cognito_sms_leader 0",
        "cognito_sms_resources{ready=\"true\"}",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(series)),
            "missing {series} in\n{text}"
        );
    }
    let label_values = regex_lite::Regex::new(r#"=\"([^\"]*)\""#).unwrap();
    let allowed_values = regex_lite::Regex::new(r"^([A-Za-z]+|[a-z-]+|[0-9.+Inf]+|ok|[a-z_]+)$").unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for v in label_values.captures_iter(line) {
            assert!(
                allowed_values.is_match(&v[1]),
                "unbounded label value {:?} in {line}",
                &v[1]
            );
            assert!(
                !v[1].contains(&pool) && &v[1] != "app",
                "resource identity in a label: {line}"
            );
        }
    }
}

mod leader_election {
    use super::*;
    use cognito_sms_operator::leader::{Elector, LeaseSettings};
    use k8s_openapi::api::coordination::v1::Lease;

    fn settings() -> LeaseSettings {
        LeaseSettings {
            name: "cso".into(),
            namespace: "operators".into(),
            identity: "pod-a".into(),
            lease_duration: Duration::from_millis(2000),
            renew_deadline: Duration::from_millis(1000),
            retry_period: Duration::from_millis(200),
        }
    }

    fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: Value) {
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
    }

    fn not_found() -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
    }

    #[tokio::test]
    async fn a_free_lease_is_taken_renewed_and_released_on_shutdown() {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let elector = tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
        const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/operators/leases";

        // No Lease yet: create it, holding it.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("GET", format!("{LEASE}/cso").as_str())
        );
        assert_permitted(req.method(), &req.uri().to_string());
        respond(send, 404, not_found());
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!((req.method().as_str(), req.uri().path()), ("POST", LEASE));
        assert_permitted(req.method(), &req.uri().to_string());
        let mut lease: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(lease.spec.as_ref().unwrap().holder_identity.as_deref(), Some("pod-a"));
        lease.metadata.resource_version = Some("1".into());
        respond(send, 201, serde_json::to_value(&lease).unwrap());
        leading.wait_for(|l| *l).await.unwrap();

        // Renew with the resourceVersion read.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), Method::GET);
        respond(send, 200, serde_json::to_value(&lease).unwrap());
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_permitted(req.method(), &req.uri().to_string());
        let renewed: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(
            renewed.metadata.resource_version.as_deref(),
            Some("1"),
            "optimistic concurrency"
        );
        assert!(renewed.spec.as_ref().unwrap().renew_time >= lease.spec.as_ref().unwrap().renew_time);
        lease = renewed;
        lease.metadata.resource_version = Some("2".into());
        respond(send, 200, serde_json::to_value(&lease).unwrap());

        // Shutdown: leadership ends and the Lease is released for the standby.
        stop_tx.send(true).unwrap();
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), Method::GET);
        respond(send, 200, serde_json::to_value(&lease).unwrap());
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), Method::PUT);
        let released: Lease = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(released.spec.as_ref().unwrap().holder_identity, None);
        respond(send, 200, serde_json::to_value(&released).unwrap());
        elector.await.unwrap();
        assert!(!*leading.borrow());
    }

    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_leading_within_the_renew_deadline() {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
        let (_, send) = handle.next_request().await.unwrap();
        respond(send, 404, not_found());
        let (req, send) = handle.next_request().await.unwrap();
        let lease: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        respond(send, 201, lease);
        leading.wait_for(|l| *l).await.unwrap();
        let since = std::time::Instant::now();

        // The API server stops answering well.
        let errors = tokio::spawn(async move {
            while let Some((_, send)) = handle.next_request().await {
                respond(
                    send,
                    500,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "down"}),
                );
            }
        });
        leading.wait_for(|l| !*l).await.unwrap();
        let took = since.elapsed();
        assert!(
            took < Duration::from_millis(2000),
            "deposed itself before anyone may take over: {took:?}"
        );
        assert!(
            took >= Duration::from_millis(800),
            "but not before the renew deadline: {took:?}"
        );
        errors.abort();
    }

    /// A leader whose API server stops answering stops writing at the renew deadline itself, not
    /// at its next check of it: the whole gap to the lease duration is the standby's margin.
    #[tokio::test]
    async fn a_leader_cut_off_stops_at_the_renew_deadline_not_later() {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let slow_checks = LeaseSettings {
            retry_period: Duration::from_millis(400),
            ..settings()
        };
        tokio::spawn(Elector::new(client, slow_checks).run(lead_tx, stop));
        let (_, send) = handle.next_request().await.unwrap();
        let renewal_began = std::time::Instant::now();
        respond(send, 404, not_found());
        let (req, send) = handle.next_request().await.unwrap();
        let lease: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        respond(send, 201, lease);
        leading.wait_for(|l| *l).await.unwrap();

        // From now on the API server holds every request without answering.
        let held = tokio::spawn(async move {
            let mut pending = vec![];
            while let Some(request) = handle.next_request().await {
                pending.push(request);
            }
        });
        leading.wait_for(|l| !*l).await.unwrap();
        let took = renewal_began.elapsed();
        assert!(
            took <= Duration::from_millis(1150),
            "stopped {took:?} after the renewal began; the renew deadline is 1 s and a standby may start at 2 s"
        );
        assert!(took >= Duration::from_millis(950), "not before the deadline: {took:?}");
        held.abort();
    }

    #[tokio::test]
    async fn a_live_holder_is_followed_and_an_expired_one_replaced() {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (lead_tx, mut leading) = tokio::sync::watch::channel(false);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(Elector::new(client, settings()).run(lead_tx, stop));
        let held_by_b = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "cso", "namespace": "operators", "resourceVersion": "7"},
            "spec": {"holderIdentity": "pod-b", "leaseDurationSeconds": 1, "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 3}
        });
        let started = std::time::Instant::now();
        // pod-b never renews: the same record is served until pod-a takes over.
        let taken = loop {
            let (req, send) = handle.next_request().await.unwrap();
            match req.method().as_str() {
                "GET" => respond(send, 200, held_by_b.clone()),
                "PUT" => {
                    let body: Value = serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
                    respond(send, 200, body.clone());
                    break body;
                }
                m => panic!("unexpected {m}"),
            }
        };
        assert!(
            started.elapsed() >= Duration::from_millis(2000),
            "waited a whole lease duration"
        );
        assert_eq!(taken["spec"]["holderIdentity"], "pod-a");
        assert_eq!(taken["spec"]["leaseTransitions"], 4);
        assert_eq!(taken["metadata"]["resourceVersion"], "7");
        leading.wait_for(|l| *l).await.unwrap();
    }
}

/// The AWS SDK and kube share one TLS crypto provider: building a client for an HTTPS API server
/// must not find two and give up.
#[tokio::test]
async fn a_client_for_an_https_api_server_can_be_built() {
    let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    assert!(kube::Client::try_from(config).is_ok());
}

/// The whole controller process without leader election: it lists and watches once, becomes
/// ready, stays quiet while nothing changes, and stops when asked.
#[tokio::test]
async fn the_controller_starts_idles_quietly_and_stops() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    let api = tokio::spawn(async move {
        let mut open_watches = vec![];
        while let Some((req, send)) = handle.next_request().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let uri = req.uri().to_string();
            assert_permitted(req.method(), &uri);
            if uri.contains("watch=true") {
                open_watches.push(send); // an idle watch: no events
                continue;
            }
            let list = if uri.contains("/secrets") {
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "5"}, "items": []})
            } else {
                json!({"kind": "CognitoSmsConfigList", "apiVersion": "cognitosms.io/v1alpha1", "metadata": {"resourceVersion": "5"}, "items": []})
            };
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&list).unwrap()))
                    .unwrap(),
            );
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller::run_until(
        client,
        unreachable_aws().await,
        settings(),
        None,
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));

    let ready = async {
        loop {
            let url = format!("http://{addr}/readyz");
            let status = tokio::task::spawn_blocking(move || {
                ureq::get(&url)
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .call()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
            .await
            .unwrap();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("ready once the watches are established");
    let after_start = requests.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = requests.load(std::sync::atomic::Ordering::SeqCst) - after_start;
    assert!(
        after_start <= 4,
        "one list and one watch per resource type: {after_start}"
    );
    assert_eq!(idle, 0, "no API calls while nothing changes");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops when asked")
        .unwrap();
    api.abort();
}
