//! An existing role validated and never written; missing pools, IAM propagation, access denied; spec changes.

use super::*;

#[tokio::test]
async fn an_existing_role_is_validated_and_never_written() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let iam = emu.iam().await;
    let bare = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cognito-idp.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    let created = iam
        .create_role()
        .role_name("TeamSms")
        .path("/service-role/")
        .assume_role_policy_document(bare.to_string())
        .send()
        .await
        .unwrap();
    let arn = created.role().unwrap().arn().to_string();
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "role": {"existing": {"roleArn": arn}}}),
    );

    emu.clear_calls();
    reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::ROLE_READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::TRUST_POLICY_INCOMPLETE)
    );
    assert!(
        message.contains("add condition StringEquals aws:SourceAccount = 123456789012"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "add condition ArnLike aws:SourceArn = {}",
            pool_arn("us-east-1", &pool)
        )),
        "{message}"
    );
    assert!(
        message.contains("no policy of the role allows sns:Publish"),
        "{message}"
    );
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED).1,
        reasons::WAITING_FOR_ROLE
    );
    assert_eq!(
        emu.write_calls(),
        vec![],
        "an existing role and the pool are not written while the role is unusable"
    );

    // The owner fixes the role; the operator then uses it without writing to it.
    iam.update_assume_role_policy()
        .role_name("TeamSms")
        .policy_document(policy::trust_policy(ACCOUNT, &[pool_arn("us-east-1", &pool)], None).to_string())
        .send()
        .await
        .unwrap();
    let managed_policy = iam
        .create_policy()
        .policy_name("sms")
        .policy_document(policy::publish_policy().to_string())
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("TeamSms")
        .policy_arn(managed_policy.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
    emu.clear_calls();
    reconcile_once(&emu, &mut res).await;

    assert_eq!(condition(&res, types::ROLE_READY).1, reasons::ROLE_VALID);
    assert_eq!(condition(&res, types::READY).0, "True");
    let writes = emu.write_calls();
    assert_eq!(writes, vec![("cognito-idp".to_string(), "UpdateUserPool".to_string())]);
    assert_eq!(
        emu.sms_configuration("us-east-1", &pool)
            .await
            .unwrap()
            .sns_caller_arn(),
        arn
    );
    assert_eq!(
        res.status.as_ref().unwrap().external_id,
        None,
        "no external id invented for a role we do not own"
    );
}

#[tokio::test]
async fn a_missing_pool_is_reported_and_retried_with_backoff() {
    let emu = Emulator::start();
    let mut res = resource("app", json!({"userPoolId": "us-east-1_Missing1"}));

    emu.clear_calls();
    let outcome = reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::USER_POOL_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::USER_POOL_NOT_FOUND)
    );
    assert!(
        message.contains("us-east-1_Missing1 not found in us-east-1"),
        "{message}"
    );
    assert_eq!(outcome.requeue, Requeue::Backoff);
    assert_eq!(
        emu.write_calls(),
        vec![],
        "no role is created for a pool that does not exist"
    );
}

#[tokio::test]
async fn iam_propagation_errors_are_recoverable() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    // Real Cognito refuses a role it cannot assume yet; moto does not, so inject it.
    emu.inject_fault(
        "cognito-idp",
        "UpdateUserPool",
        "InvalidSmsRoleTrustRelationshipException",
        1,
    );

    let outcome = reconcile_once(&emu, &mut res).await;

    let (status, reason, _) = condition(&res, types::USER_POOL_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("Unknown", reasons::IAM_PROPAGATION_PENDING)
    );
    assert_eq!(condition(&res, types::ROLE_READY).0, "True");
    assert_eq!(outcome.requeue, Requeue::Backoff);

    let outcome = reconcile_once(&emu, &mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True");
    assert!(
        matches!(outcome.changes[..], [Change::UpdateSmsConfiguration { .. }]),
        "only the pool was left to do"
    );
}

#[tokio::test]
async fn access_denied_is_terminal_and_named() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    emu.inject_fault("iam", "CreateRole", "AccessDenied", 1);

    let outcome = reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::ROLE_READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", reasons::ACCESS_DENIED));
    assert!(message.contains("iam CreateRole failed: AccessDenied"), "{message}");
    assert_eq!(outcome.requeue, Requeue::Resync);
}

#[tokio::test]
async fn scope_and_external_id_changes_update_trust_and_pool() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;

    res.spec = serde_json::from_value(json!({"userPoolId": pool, "externalId": "team-chosen",
        "role": {"managed": {"sourceArnScope": "AllUserPoolsInRegion", "tags": {"team": "id"}}}}))
    .unwrap();
    let outcome = reconcile_once(&emu, &mut res).await;

    let reasons_seen: Vec<_> = outcome.changes.iter().map(Change::event_reason).collect();
    assert_eq!(
        reasons_seen,
        ["TrustPolicyUpdated", "RoleTagged", "SmsConfigurationUpdated"]
    );
    let trust = emu.trust_policy(&format!("cognito-sms-{pool}")).await;
    assert_eq!(
        trust,
        policy::trust_policy(
            ACCOUNT,
            &[format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/*")],
            Some("team-chosen")
        )
    );
    assert_eq!(
        emu.sms_configuration("us-east-1", &pool).await.unwrap().external_id(),
        Some("team-chosen")
    );
}
