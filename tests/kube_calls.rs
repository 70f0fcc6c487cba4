//! The exact Kubernetes API calls the controller makes, checked with kube's mock service.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cognito_sms_operator::aws::Aws;
use cognito_sms_operator::controller::{self, Backoff, Context, Settings};
use cognito_sms_operator::crd::{CognitoSmsConfig, FINALIZER};
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
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let response = if uri.starts_with(EVENTS) {
                body.clone()
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

fn settings() -> Settings {
    Settings {
        namespaces: vec![],
        resync: Duration::from_secs(600),
        backoff: Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
        },
        sns_cache_ttl: Duration::from_secs(300),
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

fn finalized(mut obj: CognitoSmsConfig) -> CognitoSmsConfig {
    obj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    obj
}

#[tokio::test]
async fn the_finalizer_is_added_first_and_nothing_else_happens() {
    let obj = resource("app", json!({"userPoolId": "us-east-1_Abc"}));
    let aws = unreachable_aws().await;
    let (ctx, handle) = context(aws.clone()).await;
    let server = serve(handle, obj.clone(), 1);

    let action = run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_eq!(seen[0].method, Method::PATCH);
    assert_eq!(seen[0].uri, format!("{BASE}?"));
    assert_eq!(seen[0].content_type, "application/json-patch+json");
    assert_eq!(
        seen[0].body,
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
               {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    );
    assert_eq!(action, Action::await_change());
    assert!(
        aws.calls.snapshot().is_empty(),
        "no AWS call before the finalizer is in place"
    );
}

#[tokio::test]
async fn an_invalid_resource_gets_a_warning_and_a_status_without_touching_aws() {
    let obj = finalized(resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    ));
    let aws = unreachable_aws().await;
    let (ctx, handle) = context(aws.clone()).await;
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
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(600)),
        "terminal: resync, not backoff"
    );
    assert!(aws.calls.snapshot().is_empty());
}

#[tokio::test]
async fn a_reconcile_that_changes_aws_announces_each_change_then_writes_status() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let obj = finalized(resource("app", json!({"userPoolId": pool})));
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 4);

    let action = run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
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
    assert_eq!(action, Action::requeue(Duration::from_secs(600)));
}

#[tokio::test]
async fn deletion_with_retain_only_releases_the_finalizer() {
    let mut obj = finalized(resource("app", json!({"userPoolId": "us-east-1_Abc"})));
    obj.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let aws = unreachable_aws().await;
    let (ctx, handle) = context(aws.clone()).await;
    let server = serve(handle, obj.clone(), 1);

    run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
    assert_eq!(seen[0].method, Method::PATCH);
    assert_eq!(seen[0].uri, format!("{BASE}?"));
    assert_eq!(
        seen[0].body[1],
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
    let mut obj = finalized(applied);
    obj.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let (ctx, handle) = context(emu.aws().await).await;
    let server = serve(handle, obj.clone(), 2);

    run(&obj, ctx).await.unwrap();

    let seen = server.await.unwrap();
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
