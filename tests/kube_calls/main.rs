//! The exact Kubernetes API calls the controller makes, checked with kube's mock service.

mod finalizer_and_status;
mod leader_election;
mod process;
#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use cognito_sms_operator::acting::ExternalIds;
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
        .chain(controller::ACCOUNT_PERMISSIONS)
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
        allow_operator_identity: true,
    }
}

/// A context whose Kubernetes client is the mock, and whose AWS is the given endpoint.
async fn context(aws: Aws) -> (Arc<Context>, Handle<Request<Body>, Response<Body>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (
        Arc::new(Context::new(client.clone(), operator_only(&client, aws), settings())),
        handle,
    )
}

/// Every namespace of these tests acts with the operator's own identity: no `CognitoSmsAccount`.
fn operator_only(client: &kube::Client, aws: Aws) -> Arc<controller::Tenancy> {
    let namespaces = ["apps", "team-a", "team-b"].map(|n| (n, Default::default()));
    let external_ids = ExternalIds::Cluster(Box::new(kube::Api::namespaced(client.clone(), "cognito-sms-operator")));
    controller::Tenancy::fixed(aws, vec![], &namespaces, true, external_ids, "tests")
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
    let tenancy = operator_only(&client, unreachable_aws().await);
    let ctx = Arc::new(Context::new(client, tenancy, one));
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
