//! What the month's SMS spend, country protection and delivery logs look like from the cluster.

use super::*;

/// Spend past 80% of the monthly limit turns `SpendHeadroom` False with one Warning, however
/// many resyncs find it so, and `Ready` stays True: it warns before AWS stops sending.
#[tokio::test]
async fn spend_crossing_the_warning_share_turns_headroom_false_with_one_warning() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    c.emu.sms_voice_account("us-east-1", json!({"spendLimit": 10}));
    let op = c.operator(&["--resync-period", "2s"]);
    c.create("app", json!({"userPoolId": pool})).await;
    let res = wait_ready(&c, &op, "app").await;
    assert_eq!(res.condition("SpendHeadroom").unwrap().status, "True");

    c.emu.sns_account("us-east-1", json!({"spentThisMonth": 8.5}));
    let res = eventually(&op, Duration::from_secs(20), "SpendHeadroom False", || async {
        let r = c.csms().get("app").await.ok()?;
        (r.condition("SpendHeadroom")?.status == "False").then_some(r)
    })
    .await;

    let spend = &res.status.as_ref().unwrap().spend[0];
    assert_eq!(
        (spend.spent_usd.as_str(), spend.limit_usd.as_str(), spend.percent),
        ("8.50", "10.00", 85)
    );
    assert_eq!(res.condition("Ready").unwrap().status, "True");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let warnings: Vec<_> = events(&c)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("SpendNearLimit"))
        .collect();
    assert_eq!(warnings.len(), 1, "once, not on every resync: {warnings:?}");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert!(
        warnings[0].note.as_deref().unwrap_or_default().contains("(85%"),
        "{warnings:?}"
    );
}

/// Delivery errors go to the log group the spec names, beside the pool's other log
/// configuration, and stay there through resyncs; a log group that does not exist is reported.
#[tokio::test]
async fn delivery_logs_are_set_and_kept() {
    let c = Cluster::start().await;
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let group = c.emu.log_group("us-east-1", "/aws/vendedlogs/cognito/app");
    let missing = format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/vendedlogs/cognito/missing");
    let op = c.operator(&["--resync-period", "2s"]);
    c.create(
        "app",
        json!({"userPoolId": pool, "deliveryLogs": {"logGroupArn": missing}}),
    )
    .await;
    let refused = eventually(&op, Duration::from_secs(20), "DeliveryLogsRefused", || async {
        let r = c.csms().get("app").await.ok()?;
        (r.condition("DeliveryLogsConfigured")?.reason == "DeliveryLogsRefused").then_some(r)
    })
    .await;
    assert_eq!(refused.condition("Ready").unwrap().status, "False");

    c.csms()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deliveryLogs": {"logGroupArn": group}}})),
        )
        .await
        .unwrap();
    let res = wait_ready(&c, &op, "app").await;
    assert_eq!(
        res.condition("DeliveryLogsConfigured").unwrap().reason,
        "DeliveryLogsInSync"
    );
    let set = c.emu.log_configurations("us-east-1", &pool).await;
    assert_eq!(
        set.iter()
            .filter_map(|l| l.cloud_watch_logs_configuration()?.log_group_arn())
            .collect::<Vec<_>>(),
        [group.as_str()]
    );
    c.emu.clear_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(c.emu.write_calls(), vec![], "kept: nothing to write on resyncs");
    assert_eq!(c.emu.log_configurations("us-east-1", &pool).await, set);
}
