//! The direct End User Messaging path, from creation to switching paths back and forth.

use super::*;

/// 11. The direct path end to end: created with the role scoped to the identity, a failed test
/// send reported, then Ready once the identity is active; Cognito's diagnosis shown; switched to
/// SNS and back; a resync that finds nothing to do writes nothing.
#[tokio::test]
async fn the_direct_path_from_creation_to_switching_back_and_forth() {
    let c = Cluster::start().await;
    let sender = "+12065550100";
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": sender, "type": "TEN_DLC", "status": "PENDING"}]}),
    );
    c.emu
        .sms_voice_account("us-east-1", json!({"tier": "PRODUCTION", "spendLimit": 50}));
    let pool = create_pool(&c.emu, "us-east-1", "app").await;
    let op = c.operator(&["--resync-period", "1s"]);
    c.create("app", json!({
        "userPoolId": pool,
        "destinationCountries": ["US"],
        "endUserMessaging": {"originationIdentity": sender},
        "sandboxPhoneNumbers": [{"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "qa"}}],
    }))
    .await;
    let api = c.csms();
    let reason_of = |type_: &'static str| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let r = api.get("app").await.ok()?;
                r.condition(type_).map(|c| c.reason.clone())
            }
        }
    };
    eventually(&op, Duration::from_secs(20), "the failed test send", {
        let reason = reason_of("UserPoolConfigured");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "TestMessageFailed").then_some(()) }
        }
    })
    .await;
    assert_eq!(c.emu.sms_configuration("us-east-1", &pool).await, None, "untouched");

    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": sender, "type": "TEN_DLC"}]}),
    );
    let ready = wait_ready(&c, &op, "app").await;
    let identity = ready.status.as_ref().unwrap().origination_identity_arn.clone().unwrap();
    let sms = c.emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert_eq!(sms.eums_sms().unwrap().origination_identity(), Some(identity.as_str()));
    let role = format!("cognito-sms-{pool}");
    let iam = c.emu.iam().await;
    let permission = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("cognito-sms-send-text")
        .send()
        .await
        .unwrap();
    assert_eq!(
        policy::parse_document(permission.policy_document()).unwrap(),
        policy::send_text_policy(std::slice::from_ref(&identity))
    );

    // Resyncs every second find nothing to do: no AWS write.
    c.emu.clear_calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.emu.write_calls(), vec![], "resyncs write nothing");

    c.emu
        .set_sms_configuration_failure("us-east-1", &pool, Some("InvalidSmsRoleAccessPolicyException"));
    eventually(&op, Duration::from_secs(10), "Cognito's diagnosis", {
        let reason = reason_of("RoleReady");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "CognitoReportsSmsConfigurationFailure").then_some(()) }
        }
    })
    .await;
    c.emu.set_sms_configuration_failure("us-east-1", &pool, None);
    eventually(&op, Duration::from_secs(10), "the diagnosis cleared", {
        let reason = reason_of("RoleReady");
        move || {
            let reason = reason.clone();
            async move { (reason().await? == "RoleInSync").then_some(()) }
        }
    })
    .await;

    let switch = |direct: Option<Value>| {
        let api = api.clone();
        async move {
            let patch = json!({"spec": {"endUserMessaging": direct}});
            api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    switch(None).await;
    eventually(&op, Duration::from_secs(20), "the pool on SNS", || {
        let emu = &c.emu;
        let pool = pool.clone();
        async move {
            let sms = emu.sms_configuration("us-east-1", &pool).await?;
            (sms.eums_sms().is_none() && !sms.sns_caller_arn().is_empty()).then_some(())
        }
    })
    .await;
    switch(Some(json!({"originationIdentity": sender}))).await;
    eventually(&op, Duration::from_secs(20), "the pool direct again", || {
        let emu = &c.emu;
        let pool = pool.clone();
        async move {
            let sms = emu.sms_configuration("us-east-1", &pool).await?;
            sms.eums_sms().map(drop)
        }
    })
    .await;
    let policies = iam.list_role_policies().role_name(&role).send().await.unwrap();
    assert_eq!(
        policies.policy_names(),
        ["cognito-sms-send-text"],
        "nothing of the SNS path left"
    );
}
