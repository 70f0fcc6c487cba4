//! Delivery errors to CloudWatch Logs: set beside the pool's other log configuration, kept, and
//! stopped when the spec no longer asks.

use super::*;

/// A Plus pool that already exports user activity to a Firehose stream.
async fn pool_with_auth_events(emu: &Emulator) -> String {
    let idp = emu.cognito("us-east-1").await;
    let pool = idp
        .create_user_pool()
        .pool_name("app")
        .user_pool_tier(UserPoolTierType::Plus)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    idp.set_log_delivery_configuration()
        .user_pool_id(&pool)
        .log_configurations(auth_events())
        .send()
        .await
        .expect("user activity goes to Firehose");
    pool
}

fn auth_events() -> LogConfigurationType {
    LogConfigurationType::builder()
        .event_source(EventSourceName::UserAuthEvents)
        .log_level(LogLevel::Info)
        .firehose_configuration(
            FirehoseConfigurationType::builder()
                .stream_arn(format!("arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/auth"))
                .build(),
        )
        .build()
        .unwrap()
}

/// The log group status records this resource set in each Region.
fn recorded_logs(res: &CognitoSmsConfig) -> Vec<(String, String)> {
    let status = res.status.as_ref().expect("a status");
    status
        .delivery_logs
        .iter()
        .map(|d| (d.region.clone(), d.log_group_arn.clone()))
        .collect()
}

fn delivery_errors_to(group: &str) -> LogConfigurationType {
    LogConfigurationType::builder()
        .event_source(EventSourceName::UserNotification)
        .log_level(LogLevel::Error)
        .cloud_watch_logs_configuration(CloudWatchLogsConfigurationType::builder().log_group_arn(group).build())
        .build()
        .unwrap()
}

#[tokio::test]
async fn delivery_errors_go_to_the_log_group_and_the_pool_s_other_logging_stays() {
    let emu = Emulator::start();
    let pool = pool_with_auth_events(&emu).await;
    let group = emu.log_group("us-east-1", "/aws/vendedlogs/cognito/app");
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "deliveryLogs": {"logGroupArn": group}}),
    );

    let report = reconcile_once(&emu, &mut res).await;

    assert_eq!(
        emu.log_configurations("us-east-1", &pool).await,
        [auth_events(), delivery_errors_to(&group)]
    );
    let (status, reason, _) = condition(&res, types::DELIVERY_LOGS_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", reasons::DELIVERY_LOGS_IN_SYNC)
    );
    assert_eq!(recorded_logs(&res), [("us-east-1".to_string(), group.clone())]);

    assert!(
        report
            .changes
            .iter()
            .any(|c| matches!(c, Change::SetLogDelivery { .. }))
    );
    assert_eq!(condition(&res, types::READY).0, "True");

    // A resync reads the log delivery and writes nothing.
    emu.clear_calls();
    let again = reconcile_once(&emu, &mut res).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(emu.write_calls(), vec![]);

    // No longer asked for: this resource's delivery stops, the user activity export stays.
    res.spec.delivery_logs = None;
    reconcile_once(&emu, &mut res).await;
    assert_eq!(emu.log_configurations("us-east-1", &pool).await, [auth_events()]);
    assert!(res.status.as_ref().unwrap().delivery_logs.is_empty());
    assert_eq!(
        condition(&res, types::DELIVERY_LOGS_CONFIGURED).1,
        reasons::NOT_REQUESTED
    );

    // And nothing more is read about it.
    emu.clear_calls();
    reconcile_once(&emu, &mut res).await;
    assert!(!emu.calls().iter().any(|(_, a)| a == "GetLogDeliveryConfiguration"));
}

#[tokio::test]
async fn a_delivery_someone_else_set_is_left_alone_and_a_missing_log_group_is_reported() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let theirs = emu.log_group("us-east-1", "/aws/vendedlogs/cognito/theirs");
    emu.cognito("us-east-1")
        .await
        .set_log_delivery_configuration()
        .user_pool_id(&pool)
        .log_configurations(delivery_errors_to(&theirs))
        .send()
        .await
        .unwrap();
    let missing = format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/vendedlogs/cognito/missing");
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "deliveryLogs": {"logGroupArn": missing}}),
    );

    reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::DELIVERY_LOGS_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::DELIVERY_LOGS_REFUSED)
    );
    assert!(message.contains("InvalidParameterException"), "{message}");
    assert!(message.contains("the log group must exist"), "{message}");
    assert_eq!(condition(&res, types::READY).0, "False");
    assert_eq!(
        emu.log_configurations("us-east-1", &pool).await,
        [delivery_errors_to(&theirs)]
    );

    // Not asked for any more: what this resource never set is not its to stop.
    res.spec.delivery_logs = None;
    reconcile_once(&emu, &mut res).await;
    assert_eq!(
        emu.log_configurations("us-east-1", &pool).await,
        [delivery_errors_to(&theirs)]
    );
    assert_eq!(condition(&res, types::READY).0, "True");
}

/// A secondary Region keeps its own log delivery: to the log group of the same name in its
/// Region, or the one `replicas[].deliveryLogs` names.
#[tokio::test]
async fn each_region_delivers_its_errors_to_a_log_group_of_its_own() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.replicas(json!({"createSeconds": 0}));
    emu.replicate("us-east-1", &pool, "us-west-2").await;
    let east = emu.log_group("us-east-1", "/aws/vendedlogs/cognito/app");
    let west = emu.log_group("us-west-2", "/aws/vendedlogs/cognito/app");
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "deliveryLogs": {"logGroupArn": east}}),
    );

    reconcile_once(&emu, &mut res).await;

    assert_eq!(
        emu.log_configurations("us-east-1", &pool).await,
        [delivery_errors_to(&east)]
    );
    assert_eq!(
        emu.log_configurations("us-west-2", &pool).await,
        [delivery_errors_to(&west)]
    );
    assert_eq!(
        recorded_logs(&res),
        [("us-east-1".into(), east.clone()), ("us-west-2".into(), west.clone())]
    );
    assert_eq!(condition(&res, types::DELIVERY_LOGS_CONFIGURED).0, "True");

    // Another log group named for the secondary.
    let other = emu.log_group("us-west-2", "/aws/vendedlogs/cognito/west-only");
    res.spec.replicas =
        serde_json::from_value(json!([{"region": "us-west-2", "deliveryLogs": {"logGroupArn": other}}])).unwrap();
    reconcile_once(&emu, &mut res).await;
    assert_eq!(
        emu.log_configurations("us-west-2", &pool).await,
        [delivery_errors_to(&other)]
    );
    assert_eq!(
        emu.log_configurations("us-east-1", &pool).await,
        [delivery_errors_to(&east)]
    );
}
