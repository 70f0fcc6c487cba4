//! Cleanup, invalid and borrowed regions, and edits made while a reconcile runs.

use super::*;
use cognito_sms_operator::desired::{Replica, ReplicaRole, ReplicaStatus};

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

#[tokio::test]
async fn a_pool_s_regions_are_listed_across_pages_from_either_region() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let aws = emu.aws().await;
    let solo = aws.cognito("us-east-1").replicas(&pool).await.unwrap().unwrap();
    assert_eq!(
        solo,
        vec![Replica {
            region: "us-east-1".into(),
            role: ReplicaRole::Primary,
            status: ReplicaStatus::Active,
            arn: format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool}"),
        }]
    );

    // One entry a page, so that the second page must be asked for with the token.
    emu.replicas(json!({"createSeconds": 60, "pageSize": 1}));
    emu.replicate("us-east-1", &pool, "us-west-2").await;
    emu.clear_calls();
    for region in ["us-east-1", "us-west-2"] {
        let listed = aws.cognito(region).replicas(&pool).await.unwrap().unwrap();
        let secondary = &listed[1];
        assert_eq!(
            (secondary.region.as_str(), secondary.role, &secondary.status),
            ("us-west-2", ReplicaRole::Secondary, &ReplicaStatus::Creating),
            "asked in {region}"
        );
        assert!(!secondary.status.configurable(), "a CREATING replica waits");
        assert_eq!(
            secondary.arn,
            format!("arn:aws:cognito-idp:us-west-2:{ACCOUNT}:userpool/{pool}")
        );
    }
    let pages = emu.calls().iter().filter(|(_, a)| a == "ListUserPoolReplicas").count();
    assert_eq!(pages, 4, "two pages in each Region");
    emu.replicas(json!({"pageSize": 60}));

    assert_eq!(
        aws.cognito("us-east-1").replicas("us-east-1_Missing1").await.unwrap(),
        None
    );
}
