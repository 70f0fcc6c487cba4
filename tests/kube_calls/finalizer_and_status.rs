//! The finalizer, status writes, Events and cleanup, call by call.

use super::*;

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
