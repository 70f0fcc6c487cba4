//! The shared reconcile against the AWS emulator: real HTTP, real SDK, moto's IAM and Cognito.

mod support;

use aws_sdk_cognitoidentityprovider::types::*;
use cognito_sms_operator::conditions::{reasons, types};
use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::desired::{self, Change, TAG_MANAGED_BY, TAG_NAME, TAG_NAMESPACE, TAG_UID};
use cognito_sms_operator::policy;
use cognito_sms_operator::reconcile::{self, Mode, Requeue, SyncReport};
use serde_json::json;
use support::*;

async fn reconcile_once(emu: &Emulator, res: &mut CognitoSmsConfig) -> SyncReport {
    // A fresh cache each time, as if the TTL had passed: these tests are about the role and pool.
    Harness::new(emu).await.reconcile(res).await
}

fn pool_arn(region: &str, id: &str) -> String {
    format!("arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{id}")
}

#[tokio::test]
async fn managed_role_is_created_with_exact_policies_and_the_pool_configured() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "eu-west-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));

    let outcome = reconcile_once(&emu, &mut res).await;

    let status = res.status.clone().unwrap();
    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", status.conditions);
    assert_eq!(outcome.requeue, Requeue::Resync);
    let role_name = format!("cognito-sms-{pool}");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/service-role/{role_name}");
    assert_eq!(status.role_arn.as_deref(), Some(role_arn.as_str()));
    assert_eq!(status.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(status.sns_region.as_deref(), Some("eu-west-1"));
    let external_id = status.external_id.clone().expect("generated external id");
    assert_eq!(external_id.len(), 32);

    // Trust policy exactly as the guide says, with the external ID.
    let expected_trust = policy::trust_policy(ACCOUNT, &pool_arn("eu-west-1", &pool), Some(&external_id));
    assert_eq!(emu.trust_policy(&role_name).await, expected_trust);
    // Only sns:Publish.
    let iam = emu.iam().await;
    let inline = iam.list_role_policies().role_name(&role_name).send().await.unwrap();
    assert_eq!(inline.policy_names(), ["cognito-sms-publish"]);
    let doc = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("cognito-sms-publish")
        .send()
        .await
        .unwrap();
    assert_eq!(
        policy::parse_document(doc.policy_document()).unwrap(),
        policy::publish_policy()
    );
    // Ownership tags.
    let role = iam.get_role().role_name(&role_name).send().await.unwrap();
    let tags: std::collections::BTreeMap<_, _> = role
        .role()
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(
        tags.get(TAG_MANAGED_BY).map(String::as_str),
        Some("cognito-sms-operator")
    );
    assert_eq!(tags.get(TAG_NAMESPACE).map(String::as_str), Some("apps"));
    assert_eq!(tags.get(TAG_NAME).map(String::as_str), Some("app"));
    assert_eq!(tags.get(TAG_UID).map(String::as_str), Some("uid-app"));

    // The pool points at the role, with the external ID and an explicit SNS region.
    let sms = emu
        .sms_configuration("eu-west-1", &pool)
        .await
        .expect("sms configuration set");
    assert_eq!(sms.sns_caller_arn(), role_arn);
    assert_eq!(sms.external_id(), Some(external_id.as_str()));
    assert_eq!(sms.sns_region(), Some("eu-west-1"));

    let reasons_seen: Vec<_> = outcome.changes.iter().map(Change::event_reason).collect();
    assert_eq!(
        reasons_seen,
        ["RoleCreated", "PermissionsPolicyUpdated", "SmsConfigurationUpdated"]
    );
}

#[tokio::test]
async fn a_second_reconcile_makes_no_write_calls() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    let first_external_id = res.status.as_ref().unwrap().external_id.clone();

    emu.clear_calls();
    let outcome = reconcile_once(&emu, &mut res).await;

    assert!(outcome.changes.is_empty(), "{:?}", outcome.changes);
    assert_eq!(emu.write_calls(), vec![], "all calls: {:?}", emu.calls());
    assert!(
        !emu.calls().is_empty(),
        "the second reconcile still compared AWS with the spec"
    );
    assert_eq!(
        res.status.as_ref().unwrap().external_id,
        first_external_id,
        "external id stays stable"
    );
    assert_eq!(condition(&res, types::READY).0, "True");
}

#[tokio::test]
async fn external_id_survives_a_lost_status() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    let external_id = res.status.as_ref().unwrap().external_id.clone();

    res.status = None;
    emu.clear_calls();
    let outcome = reconcile_once(&emu, &mut res).await;

    assert_eq!(
        res.status.as_ref().unwrap().external_id,
        external_id,
        "read back from the owned role"
    );
    assert!(outcome.changes.is_empty());
    assert_eq!(emu.write_calls(), vec![]);
}

#[tokio::test]
async fn drift_in_the_trust_policy_is_repaired() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    let role_name = format!("cognito-sms-{pool}");
    let good = emu.trust_policy(&role_name).await;

    // Someone widens the trust policy by hand.
    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    emu.iam()
        .await
        .update_assume_role_policy()
        .role_name(&role_name)
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    // And replaces the publish permission with something broader.
    emu.iam()
        .await
        .put_role_policy()
        .role_name(&role_name)
        .policy_name("cognito-sms-publish")
        .policy_document(
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:*","Resource":"*"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();

    let outcome = reconcile_once(&emu, &mut res).await;

    let reasons_seen: Vec<_> = outcome.changes.iter().map(Change::event_reason).collect();
    assert_eq!(reasons_seen, ["TrustPolicyUpdated", "PermissionsPolicyUpdated"]);
    assert_eq!(emu.trust_policy(&role_name).await, good);
    let doc = emu
        .iam()
        .await
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("cognito-sms-publish")
        .send()
        .await
        .unwrap();
    assert!(policy::equivalent(
        &policy::parse_document(doc.policy_document()).unwrap(),
        &policy::publish_policy()
    ));
    assert_eq!(condition(&res, types::READY).0, "True");
}

#[tokio::test]
async fn drift_in_the_pool_sms_configuration_is_repaired() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "eu-central-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool, "snsRegion": "eu-west-1"}));
    reconcile_once(&emu, &mut res).await;
    let sms_before = emu.sms_configuration("eu-central-1", &pool).await.unwrap();
    assert_eq!(
        sms_before.sns_region(),
        Some("eu-west-1"),
        "legacy alternate honoured when asked for"
    );

    emu.point_pool_at("eu-central-1", &pool, "arn:aws:iam::123456789012:role/other")
        .await;
    let outcome = reconcile_once(&emu, &mut res).await;

    assert!(matches!(outcome.changes[..], [Change::UpdateSmsConfiguration { .. }]));
    assert_eq!(emu.sms_configuration("eu-central-1", &pool).await.unwrap(), sms_before);
}

#[tokio::test]
async fn a_foreign_role_with_the_same_name_is_never_touched() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let role_name = format!("cognito-sms-{pool}");
    let theirs = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    emu.iam()
        .await
        .create_role()
        .role_name(&role_name)
        .path("/service-role/")
        .assume_role_policy_document(theirs.to_string())
        .send()
        .await
        .unwrap();
    let mut res = resource("app", json!({"userPoolId": pool}));

    emu.clear_calls();
    let outcome = reconcile_once(&emu, &mut res).await;

    assert_eq!(emu.write_calls(), vec![], "nothing written: {:?}", emu.calls());
    assert!(outcome.changes.is_empty());
    let (status, reason, message) = condition(&res, types::ROLE_READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::ROLE_NAME_CONFLICT)
    );
    assert!(message.contains("not created by this operator"), "{message}");
    assert_eq!(condition(&res, types::READY).1, reasons::ROLE_NAME_CONFLICT);
    assert_eq!(emu.trust_policy(&role_name).await, theirs);
    assert!(
        emu.sms_configuration("us-east-1", &pool)
            .await
            .is_none_or(|s| s.sns_caller_arn().is_empty())
    );
    assert_eq!(outcome.requeue, Requeue::Resync, "a person must act: no fast retries");
}

#[tokio::test]
async fn a_role_managed_for_another_resource_is_a_conflict() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let other_pool = create_pool(&emu, "us-east-1", "other").await;
    let role = json!({"managed": {"name": "cognito-sms-shared"}});
    reconcile_once(&emu, &mut resource("first", json!({"userPoolId": pool, "role": role}))).await;
    let mut second = resource("second", json!({"userPoolId": other_pool, "role": role}));

    emu.clear_calls();
    reconcile_once(&emu, &mut second).await;

    let (_, reason, message) = condition(&second, types::ROLE_READY);
    assert_eq!(reason, reasons::ROLE_NAME_CONFLICT);
    assert!(message.contains("managed for apps/first"), "{message}");
    assert_eq!(emu.write_calls(), vec![]);
}

/// Creates a pool with every kind of setting at a non-default value, reconciles it, and checks
/// that every one of them is unchanged.
#[tokio::test]
async fn every_other_pool_setting_survives_the_update() {
    let emu = Emulator::start();
    let cognito = emu.cognito("eu-west-2").await;
    let lambda = CUSTOMISED_LAMBDA;
    let pool = create_customised_pool(&emu, "eu-west-2").await;
    let describe = |cognito: aws_sdk_cognitoidentityprovider::Client, pool: String| async move {
        cognito
            .describe_user_pool()
            .user_pool_id(pool)
            .send()
            .await
            .unwrap()
            .user_pool()
            .unwrap()
            .clone()
    };
    let before = describe(cognito.clone(), pool.clone()).await;
    // The settings are really there to lose.
    assert_eq!(before.deletion_protection(), Some(&DeletionProtectionType::Active));
    assert_eq!(before.mfa_configuration(), Some(&UserPoolMfaType::Optional));
    assert_eq!(before.lambda_config().and_then(|l| l.pre_sign_up()), Some(lambda));

    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);

    let after = describe(cognito.clone(), pool.clone()).await;
    assert!(
        after
            .sms_configuration()
            .is_some_and(|s| s.sns_caller_arn().contains("cognito-sms-"))
    );
    assert_eq!(after.policies(), before.policies(), "password policy");
    assert_eq!(
        after.auto_verified_attributes(),
        before.auto_verified_attributes(),
        "auto-verified attributes"
    );
    assert_eq!(after.mfa_configuration(), before.mfa_configuration(), "MFA");
    assert_eq!(
        after.verification_message_template(),
        before.verification_message_template(),
        "verification templates"
    );
    assert_eq!(after.sms_verification_message(), before.sms_verification_message());
    assert_eq!(after.email_verification_message(), before.email_verification_message());
    assert_eq!(after.email_verification_subject(), before.email_verification_subject());
    assert_eq!(
        after.sms_authentication_message(),
        before.sms_authentication_message(),
        "SMS auth message"
    );
    assert_eq!(
        after.deletion_protection(),
        before.deletion_protection(),
        "deletion protection"
    );
    let mut tags = before.user_pool_tags().cloned().unwrap_or_default();
    tags.extend(desired::pool_tags(INSTALLATION, &desired::Owner::of(&res)));
    assert_eq!(
        after.user_pool_tags(),
        Some(&tags),
        "the pool's tags, and the record of who manages it"
    );
    assert_eq!(after.lambda_config(), before.lambda_config(), "Lambda triggers");
    assert_eq!(
        after.account_recovery_setting(),
        before.account_recovery_setting(),
        "account recovery"
    );
    assert_eq!(
        after.admin_create_user_config(),
        before.admin_create_user_config(),
        "admin create user"
    );
    assert_eq!(after.device_configuration(), before.device_configuration(), "devices");
    assert_eq!(after.name(), before.name());

    // Control: the emulator does reset what UpdateUserPool is not sent, so the checks above mean
    // something.
    emu.point_pool_at("eu-west-2", &pool, "arn:aws:iam::123456789012:role/x")
        .await;
    let naive = describe(cognito, pool).await;
    assert_ne!(naive.lambda_config(), before.lambda_config());
    assert_ne!(naive.deletion_protection(), before.deletion_protection());
}

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
        .policy_document(policy::trust_policy(ACCOUNT, &pool_arn("us-east-1", &pool), None).to_string())
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
            &format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/*"),
            Some("team-chosen")
        )
    );
    assert_eq!(
        emu.sms_configuration("us-east-1", &pool).await.unwrap().external_id(),
        Some("team-chosen")
    );
}

#[tokio::test]
async fn cleanup_deletes_the_role_only_when_the_pool_no_longer_uses_it() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool, "deletionPolicy": "Delete"}));
    reconcile_once(&emu, &mut res).await;
    let h = Harness::new(&emu).await;
    let role_name = format!("cognito-sms-{pool}");

    let kept = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();
    assert!(
        kept.changes.is_empty(),
        "the pool still sends with the role, so both stay recorded as this resource's: {:?}",
        kept.changes
    );
    assert_eq!(kept.kept[0].0, reconcile::ROLE_RETAINED);
    assert!(kept.kept[0].1.contains("still sends SMS with it"), "{:?}", kept.kept);
    assert!(emu.iam().await.get_role().role_name(&role_name).send().await.is_ok());

    // Someone points the pool at another role, sending the pool's tags back.
    let tags = pool_but_sms(&emu, "us-east-1", &pool).await.user_pool_tags;
    let sms = SmsConfigurationType::builder()
        .sns_caller_arn("arn:aws:iam::123456789012:role/new")
        .build();
    emu.cognito("us-east-1")
        .await
        .update_user_pool()
        .user_pool_id(&pool)
        .sms_configuration(sms)
        .set_user_pool_tags(tags)
        .send()
        .await
        .unwrap();
    // More inline policies than one page of ListRolePolicies (100): IAM refuses to delete a role
    // that keeps any, so every page must be read.
    let iam = emu.iam().await;
    for i in 0..120 {
        iam.put_role_policy()
            .role_name(&role_name)
            .policy_name(format!("extra-{i}"))
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sns:*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
    }
    let done = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();
    assert!(
        matches!(
            done.changes[..],
            [Change::DeleteRole { .. }, Change::UntagUserPool { .. }]
        ),
        "the role is deleted, then the pool released: {:?}",
        done.changes
    );
    assert!(emu.iam().await.get_role().role_name(&role_name).send().await.is_err());
    let tags = pool_but_sms(&emu, "us-east-1", &pool).await.user_pool_tags;
    assert!(
        tags.unwrap_or_default()
            .keys()
            .all(|k| !k.starts_with("cognitosms.io/")),
        "no ownership record left on the pool"
    );

    let again = reconcile::cleanup(&h.env(), &res, Mode::Apply).await.unwrap();
    assert!(again.changes.is_empty() && again.kept.is_empty(), "idempotent");
}

#[tokio::test]
async fn cleanup_with_retain_touches_nothing() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    reconcile_once(&emu, &mut res).await;
    emu.clear_calls();

    let out = reconcile::cleanup(&Harness::new(&emu).await.env(), &res, Mode::Apply)
        .await
        .unwrap();

    assert!(out.changes.is_empty());
    assert_eq!(emu.calls(), vec![], "Retain makes no AWS call at all");
}

#[tokio::test]
async fn an_invalid_region_is_reported_without_calling_aws() {
    let emu = Emulator::start();
    let mut res = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    );

    let outcome = reconcile_once(&emu, &mut res).await;

    let (status, reason, message) = condition(&res, types::SNS_REGION_VALID);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::SNS_REGION_NOT_ALLOWED)
    );
    assert!(message.contains("allowed: ap-northeast-1"), "{message}");
    assert_eq!(emu.calls(), vec![]);
    assert_eq!(outcome.requeue, Requeue::Resync);
}

/// Pools in Malaysia and Hong Kong send through Singapore, pools in Thailand through Mumbai, as
/// the guide's table says today.
#[tokio::test]
async fn pools_in_malaysia_hong_kong_and_thailand_send_through_another_region() {
    let emu = Emulator::start();
    for (region, sns) in [
        ("ap-southeast-5", "ap-southeast-1"),
        ("ap-east-1", "ap-southeast-1"),
        ("ap-southeast-7", "ap-south-1"),
    ] {
        let pool = create_pool(&emu, region, "app").await;
        let mut res = resource("app", json!({"userPoolId": pool}));
        reconcile_once(&emu, &mut res).await;
        assert_eq!(condition(&res, types::READY).0, "True", "{region}: {:?}", res.status);
        let sms = emu.sms_configuration(region, &pool).await.unwrap();
        assert_eq!(sms.sns_region(), Some(sns), "{region}");
        assert_eq!(res.status.as_ref().unwrap().sns_region.as_deref(), Some(sns));
    }
}

/// A setting changed after the reconcile read the pool (a console or Terraform edit while it
/// wrote IAM, tested the configuration or waited for the rate limiter) is not reverted by the
/// update planned on the earlier read: the update carries only the SMS configuration and the
/// ownership tags, and every other setting is read again just before the write.
#[tokio::test]
async fn an_edit_made_after_the_pool_was_read_survives_the_update() {
    use cognito_sms_operator::reconcile::{AwsWrites, Writes};
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let cognito = emu.cognito("us-east-1").await;
    let read = |id: String| {
        let cognito = cognito.clone();
        async move {
            let out = cognito.describe_user_pool().user_pool_id(id).send().await.unwrap();
            out.user_pool.unwrap()
        }
    };
    let as_read = read(pool.clone()).await;
    assert_eq!(as_read.sms_authentication_message(), None);

    let mut edited = read(pool.clone()).await;
    edited.sms_authentication_message = Some("Your sign-in code is {####}".into());
    let keep_sms = edited
        .sms_configuration
        .clone()
        .unwrap_or_else(|| SmsConfigurationType::builder().build());
    cognito_sms_operator::aws::cognito::with_every_setting_of(cognito.update_user_pool(), &edited, keep_sms)
        .send()
        .await
        .unwrap();

    let to = desired::SmsConfig {
        caller_arn: format!("arn:aws:iam::{ACCOUNT}:role/service-role/cognito-sms-{pool}"),
        external_id: Some("ext".into()),
        region: Some("us-east-1".into()),
        direct: None,
    };
    let update = Change::UpdateSmsConfiguration {
        user_pool_id: pool.clone(),
        from: None,
        to,
        add_tags: [("cognitosms.io/installation".to_string(), "it".to_string())].into(),
    };
    AwsWrites { aws: &emu.aws().await }.apply(&update).await.unwrap();

    let after = read(pool.clone()).await;
    assert_eq!(
        after.sms_authentication_message(),
        Some("Your sign-in code is {####}"),
        "the later edit stays"
    );
    assert_eq!(after.sms_configuration().unwrap().external_id(), Some("ext"));
    let tag = after.user_pool_tags().and_then(|t| t.get("cognitosms.io/installation"));
    assert_eq!(
        tag.map(String::as_str),
        Some("it"),
        "the ownership record joins the tags"
    );
}
