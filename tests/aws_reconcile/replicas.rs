//! Multi-Region user pools: the secondary gets its own SMS configuration, with the primary's
//! role, and keeps its own regional settings.

use super::*;

/// A pool in us-east-1 with a secondary in us-west-2 (ACTIVE at once unless `creating`), which
/// has a Lambda trigger of its own.
async fn replicated(emu: &Emulator, creating: bool) -> String {
    let pool = create_pool(emu, "us-east-1", "app").await;
    emu.replicas(json!({"createSeconds": if creating { 600 } else { 0 }}));
    emu.replicate("us-east-1", &pool, "us-west-2").await;
    if !creating {
        let trigger = LambdaConfigType::builder()
            .pre_sign_up("arn:aws:lambda:us-west-2:123456789012:function:west")
            .build();
        emu.cognito("us-west-2")
            .await
            .update_user_pool()
            .user_pool_id(&pool)
            .lambda_config(trigger)
            .send()
            .await
            .expect("the secondary takes its own regional settings");
    }
    pool
}

/// The `aws:SourceArn` the managed role of `pool` trusts.
async fn trusted(emu: &Emulator, pool: &str) -> serde_json::Value {
    let trust = emu.trust_policy(&format!("cognito-sms-{pool}")).await;
    trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"].clone()
}

fn both_regions(pool: &str) -> serde_json::Value {
    json!([pool_arn("us-east-1", pool), pool_arn("us-west-2", pool)])
}

#[tokio::test]
async fn the_secondary_sends_with_the_primary_s_role_through_its_own_region() {
    let emu = Emulator::start();
    let pool = replicated(&emu, false).await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    let report = reconcile_once(&emu, &mut res).await;

    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);
    assert_eq!(condition(&res, types::REPLICAS_CONFIGURED).1, reasons::REPLICAS_IN_SYNC);
    let status = res.status.clone().unwrap();
    let role_arn = status.role_arn.clone().unwrap();
    let west = emu
        .sms_configuration("us-west-2", &pool)
        .await
        .expect("the secondary is configured");
    assert_eq!(
        (west.sns_caller_arn(), west.sns_region(), west.external_id()),
        (role_arn.as_str(), Some("us-west-2"), status.external_id.as_deref())
    );
    let east = emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert_eq!(east.sns_region(), Some("us-east-1"));
    let kept = emu
        .cognito("us-west-2")
        .await
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(
        kept.user_pool()
            .and_then(|p| p.lambda_config())
            .and_then(|l| l.pre_sign_up()),
        Some("arn:aws:lambda:us-west-2:123456789012:function:west"),
        "the secondary's own trigger stays"
    );
    assert_eq!(
        trusted(&emu, &pool).await,
        both_regions(&pool),
        "Cognito may assume the role from either Region"
    );
    let regions: Vec<(String, String, bool)> = status
        .regions
        .iter()
        .map(|r| (r.region.clone(), r.role.clone(), r.configured))
        .collect();
    assert_eq!(
        regions,
        [
            ("us-east-1".into(), "Primary".into(), true),
            ("us-west-2".into(), "Secondary".into(), true)
        ]
    );
    assert!(
        report
            .changes
            .iter()
            .any(|c| matches!(c, Change::UpdateReplicaSmsConfiguration { region, .. } if region == "us-west-2"))
    );

    // A resync writes nothing, in either Region.
    emu.clear_calls();
    let again = reconcile_once(&emu, &mut res).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(emu.write_calls(), vec![]);
}

#[tokio::test]
async fn a_secondary_being_created_waits_and_is_configured_once_active() {
    let emu = Emulator::start();
    let pool = replicated(&emu, true).await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    let (status, reason, message) = condition(&res, types::REPLICAS_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("Unknown", reasons::REPLICA_NOT_READY)
    );
    assert!(message.contains("us-west-2 is CREATING"), "{message}");
    assert_eq!(
        emu.sms_configuration("us-west-2", &pool).await,
        None,
        "nothing written there yet"
    );

    assert_eq!(
        trusted(&emu, &pool).await,
        both_regions(&pool),
        "the role is ready for the secondary before it is"
    );

    // Once ACTIVE, the next reconcile configures it.
    emu.replicas(json!({"userPoolId": pool, "region": "us-west-2", "status": "ACTIVE"}));
    reconcile_once(&emu, &mut res).await;
    assert_eq!(
        condition(&res, types::REPLICAS_CONFIGURED).0,
        "True",
        "{:?}",
        res.status
    );
    assert!(emu.sms_configuration("us-west-2", &pool).await.is_some());
}

#[tokio::test]
async fn the_role_is_kept_while_the_secondary_still_sends_with_it() {
    let emu = Emulator::start();
    let pool = replicated(&emu, false).await;
    let mut res = resource("app", json!({"userPoolId": pool, "deletionPolicy": "Delete"}));
    reconcile_once(&emu, &mut res).await;
    let role_name = format!("cognito-sms-{pool}");
    // The primary is pointed at another role by hand; the secondary still sends with ours.
    let elsewhere = SmsConfigurationType::builder()
        .sns_caller_arn("arn:aws:iam::123456789012:role/other")
        .build();
    let tags = pool_but_sms(&emu, "us-east-1", &pool).await.user_pool_tags;
    emu.cognito("us-east-1")
        .await
        .update_user_pool()
        .user_pool_id(&pool)
        .sms_configuration(elsewhere.clone())
        .set_user_pool_tags(tags)
        .send()
        .await
        .unwrap();
    let h = Harness::new(&emu).await;

    let kept = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();

    assert_eq!(kept.kept[0].0, reconcile::ROLE_RETAINED);
    assert!(kept.kept[0].1.contains("(in us-west-2)"), "{:?}", kept.kept);
    assert!(emu.iam().await.get_role().role_name(&role_name).send().await.is_ok());

    // Once the secondary sends with another role too, the role goes.
    emu.cognito("us-west-2")
        .await
        .update_user_pool()
        .user_pool_id(&pool)
        .sms_configuration(elsewhere)
        .send()
        .await
        .unwrap();
    let done = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();
    assert!(
        done.changes.iter().any(|c| matches!(c, Change::DeleteRole { .. })),
        "{:?}",
        done.changes
    );
}

#[tokio::test]
async fn a_secondary_s_region_in_the_sandbox_or_with_a_low_spend_limit_is_reported() {
    let emu = Emulator::start();
    let pool = replicated(&emu, false).await;
    emu.sns_account("us-east-1", json!({"inSandbox": false}));
    let mut res = resource("app", json!({"userPoolId": pool}));

    reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::SANDBOX_EXITED);
    assert_eq!((status.as_str(), reason.as_str()), ("False", reasons::IN_SANDBOX));
    assert!(
        message.contains("in us-west-2, where the pool's secondary in us-west-2"),
        "{message}"
    );
    let regions = res.status.unwrap().regions;
    assert_eq!(
        regions.iter().map(|r| r.sandbox).collect::<Vec<_>>(),
        [Some(false), Some(true)],
        "each Region's own sandbox"
    );

    // Out of the sandbox there too: the spend limit is the next thing a failover would meet.
    emu.sns_account("us-west-2", json!({"inSandbox": false}));
    emu.sns_account("us-east-1", json!({"monthlySpendLimit": "100"}));
    let spec = json!({"userPoolId": pool, "minimumMonthlySpendLimitUSD": "50"});
    let mut res = resource("app", spec.clone());
    reconcile_once(&emu, &mut res).await;
    assert_eq!(condition(&res, types::SANDBOX_EXITED).0, "True", "{:?}", res.status);
    let (status, reason, message) = condition(&res, types::SPEND_LIMIT_SUFFICIENT);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SpendLimitTooLow"));
    assert!(
        message.starts_with("the pool's secondary in us-west-2 sends through us-west-2: "),
        "{message}"
    );

    emu.sns_account("us-west-2", json!({"monthlySpendLimit": "100"}));
    let mut res = resource("app", spec);
    reconcile_once(&emu, &mut res).await;
    assert_eq!(
        condition(&res, types::SPEND_LIMIT_SUFFICIENT).0,
        "True",
        "{:?}",
        res.status
    );
}

/// The ARN End User Messaging gives phone number `number` in `region`.
async fn phone_arn(emu: &Emulator, region: &str, number: &str) -> String {
    let client = aws_sdk_pinpointsmsvoicev2::Client::new(&emu.sdk_config(region).await);
    let out = client.describe_phone_numbers().send().await.unwrap();
    let found = out.phone_numbers().iter().find(|n| n.phone_number() == number);
    found.expect("the number").phone_number_arn().to_string()
}

#[tokio::test]
async fn a_direct_path_secondary_sends_from_its_own_region_s_identity() {
    let emu = Emulator::start();
    for (region, number) in [("us-east-1", "+12065550100"), ("us-west-2", "+12065550199")] {
        emu.sns_account(
            region,
            json!({"originationNumbers": [{"phoneNumber": number, "type": "TEN_DLC"}]}),
        );
    }
    let pool = replicated(&emu, false).await;
    let east_arn = phone_arn(&emu, "us-east-1", "+12065550100").await;
    let west_arn = phone_arn(&emu, "us-west-2", "+12065550199").await;

    // Without settings for us-west-2, the primary's identity cannot carry over.
    let spec = json!({"userPoolId": pool, "endUserMessaging": {"originationIdentity": "+12065550100"}});
    let mut res = resource("app", spec.clone());
    reconcile_once(&emu, &mut res).await;
    let (status, reason, message) = condition(&res, types::REPLICAS_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::IDENTITY_NEEDED_IN_REGION)
    );
    assert!(message.contains("us-west-2"), "{message}");
    assert_eq!(emu.sms_configuration("us-west-2", &pool).await, None);

    let mut spec = spec;
    spec["replicas"] = json!([{"region": "us-west-2", "endUserMessaging": {"originationIdentity": "+12065550199"}}]);
    let mut res = resource("app", spec);
    reconcile_once(&emu, &mut res).await;

    assert_eq!(
        condition(&res, types::REPLICAS_CONFIGURED).0,
        "True",
        "{:?}",
        res.status
    );
    let west = emu.sms_configuration("us-west-2", &pool).await.unwrap();
    let eums = west.eums_sms().expect("the direct path in us-west-2");
    assert_eq!(
        (eums.region(), eums.origination_identity()),
        (Some("us-west-2"), Some(west_arn.as_str()))
    );
    let allowed = emu
        .iam()
        .await
        .get_role_policy()
        .role_name(format!("cognito-sms-{pool}"))
        .policy_name(desired::SEND_TEXT_POLICY_NAME)
        .send()
        .await
        .unwrap();
    let document = policy::parse_document(allowed.policy_document()).unwrap();
    assert_eq!(
        document["Statement"][0]["Resource"],
        json!([east_arn, west_arn]),
        "the role may send from each Region's identity, and no other"
    );
}
