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

/// End User Messaging as the account's admin (or an app) uses it.
async fn eum(c: &Cluster) -> aws_sdk_pinpointsmsvoicev2::Client {
    aws_sdk_pinpointsmsvoicev2::Client::new(&c.emu.sdk_config("us-east-1").await)
}

/// Whether End User Messaging takes a text to `number` (from `sender`) through `set`.
async fn texts(c: &Cluster, number: &str, sender: &str, set: &str) -> bool {
    eum(c)
        .await
        .send_text_message()
        .destination_phone_number(number)
        .origination_identity(sender)
        .configuration_set_name(set)
        .message_body("Your code is 123456")
        .send()
        .await
        .is_ok()
}

/// Protection on the direct path blocks a text to a country outside `destinationCountries`, lets
/// it through once the country is added, and goes when turned off; on the SNS path the account
/// default is reported.
#[tokio::test]
async fn protection_on_a_country_added_and_off_and_the_sns_path_report() {
    let c = Cluster::start().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+12065550100", "type": "TEN_DLC"}]}),
    );
    c.emu.sms_voice_account(
        "us-east-1",
        json!({"tier": "PRODUCTION", "spendLimit": 50, "senderIds": [{"senderId": "MyBrand", "country": "GB"}]}),
    );
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let sns_pool = create_pool(&c.emu, "us-east-1", "legacy").await;
    let op = c.operator(&["--resync-period", "2s"]);
    c.create(
        "app",
        json!({"userPoolId": pool, "endUserMessaging": {"originationIdentity": "+12065550100"},
               "destinationCountries": ["US"], "protect": {"blockOtherCountries": true}}),
    )
    .await;
    c.create(
        "legacy",
        json!({"userPoolId": sns_pool, "destinationCountries": ["US"], "protect": {"blockOtherCountries": true}}),
    )
    .await;

    let protected = |name: &'static str, reason: &'static str| {
        let c = &c;
        move || async move {
            let r = c.csms().get(name).await.ok()?;
            (r.condition("PumpingProtection")?.reason == reason).then_some(r)
        }
    };
    eventually(
        &op,
        Duration::from_secs(30),
        "the direct path protected",
        protected("app", "CountriesProtected"),
    )
    .await;
    let set = format!("cognito-sms-{pool}");
    let uk = "+447700900123";
    assert!(!texts(&c, uk, "MyBrand", &set).await, "a text to GB is blocked");
    assert!(texts(&c, "+14255550100", "+12065550100", &set).await);
    let legacy = eventually(
        &op,
        Duration::from_secs(20),
        "the SNS-path report",
        protected("legacy", "AccountDefaultAllowsAll"),
    )
    .await;
    assert_eq!(legacy.condition("PumpingProtection").unwrap().status, "False");
    assert_eq!(
        legacy.condition("Ready").unwrap().status,
        "True",
        "a report, not a failure"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let warnings: Vec<_> = events(&c)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("AccountDefaultAllowsAll"))
        .collect();
    assert_eq!(warnings.len(), 1, "one Warning, not one a resync: {warnings:?}");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));

    c.csms()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"destinationCountries": ["US", "GB"]}})),
        )
        .await
        .unwrap();
    eventually(&op, Duration::from_secs(20), "GB allowed", || async {
        texts(&c, uk, "MyBrand", &set).await.then_some(())
    })
    .await;

    c.csms()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"protect": null}})),
        )
        .await
        .unwrap();
    eventually(
        &op,
        Duration::from_secs(20),
        "the protect configuration deleted",
        || async {
            let left = eum(&c).await.describe_protect_configurations().send().await.ok()?;
            left.protect_configurations().is_empty().then_some(())
        },
    )
    .await;
    eventually(
        &op,
        Duration::from_secs(20),
        "PumpingProtection NotRequested",
        protected("app", "NotRequested"),
    )
    .await;
}
