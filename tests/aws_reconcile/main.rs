//! The shared reconcile against the AWS emulator: real HTTP, real SDK, moto's IAM and Cognito.

mod cleanup_and_regions;
mod existing_role_and_errors;
mod logs;
mod replicas;
#[path = "../support/mod.rs"]
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
    let expected_trust = policy::trust_policy(ACCOUNT, &[pool_arn("eu-west-1", &pool)], Some(&external_id));
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
