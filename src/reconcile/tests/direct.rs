//! The direct path through End User Messaging: the identity resolved and the role scoped to it,
//! a dry-run send before the pool is pointed at it, switching paths both ways, and Cognito's own
//! diagnosis.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::account::{Identity, IdentityKind, NumberType};
use crate::conditions::reasons;
use crate::crd::DeliveryPath;
use crate::desired::{SEND_TEXT_POLICY_NAME, SmsConfig};
use crate::testing::aws_id;

const SENDER: &str = "+12065550100";
const VERIFIED: &str = "+14255550100";

fn phone_id() -> String {
    format!("phone-{}", aws_id(SENDER))
}

fn identity_arn() -> String {
    format!("arn:aws:sms-voice:eu-west-1:{ACCOUNT}:phone-number/{}", phone_id())
}

/// A converged SNS world whose account has a 10DLC number and a verified destination number.
fn direct_world() -> World {
    let mut w = converged();
    let state = w.set();
    let account = state.account.as_mut().unwrap();
    account.identities.push(Identity {
        kind: IdentityKind::PhoneNumber(NumberType::TenDlc),
        arn: identity_arn(),
        id: phone_id(),
        number: Some(SENDER.into()),
        country: Some("US".into()),
        message_type: Some("TRANSACTIONAL".into()),
        capabilities: vec!["SMS".into()],
        status: Some("ACTIVE".into()),
    });
    account.configuration_sets.insert("app-events".into());
    listed(&mut w, VERIFIED, Listed::Verified);
    w
}

fn direct(identity: Value) -> CognitoSmsConfig {
    app(json!({"externalId": "ext", "endUserMessaging": {"originationIdentity": identity}}))
}

fn pool_sms(w: &World) -> SmsConfig {
    w.state.lock().unwrap().pool.as_ref().unwrap().sms.clone().unwrap()
}

#[tokio::test]
async fn the_role_is_scoped_to_the_identity_and_the_pool_sends_from_its_arn() {
    let w = direct_world();
    let mut res = direct(json!(SENDER));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        [
            "PermissionsPolicyUpdated",
            "PermissionsPolicyDeleted",
            "SmsConfigurationUpdated"
        ]
    );
    assert_eq!(
        w.writes(),
        [
            "PermissionsPolicyUpdated",
            "PermissionsPolicyDeleted",
            "TestMessageSent",
            "SmsConfigurationUpdated"
        ],
        "tested before assigned, and the test is no change of its own"
    );
    let inline = w.state.lock().unwrap().inline.clone();
    assert_eq!(inline.keys().collect::<Vec<_>>(), [SEND_TEXT_POLICY_NAME]);
    assert_eq!(
        inline[SEND_TEXT_POLICY_NAME],
        policy::send_text_policy(&[identity_arn()])
    );
    let sms = pool_sms(&w);
    assert_eq!(sms.path(), DeliveryPath::EndUserMessaging);
    assert_eq!(sms.region.as_deref(), Some("eu-west-1"));
    assert_eq!(sms.direct.unwrap().origination_identity, Some(identity_arn()));
    let status = res.status.clone().unwrap();
    assert_eq!(status.delivery_path, Some(DeliveryPath::EndUserMessaging));
    assert_eq!(status.origination_identity_arn, Some(identity_arn()));
    assert_eq!(status.sns_region, None);
    assert_eq!(ready(&res).0, ConditionStatus::True);

    w.forget_calls();
    let again = w.sync(&mut res, Mode::Apply).await;
    assert!(again.changes.is_empty() && w.writes().is_empty(), "{:?}", w.writes());
    let policy_reads = w.reads().iter().filter(|r| *r == "GetRolePolicy").count();
    assert_eq!(
        policy_reads, 1,
        "the other path's policy is not read again once status shows the path"
    );
}

#[tokio::test]
async fn every_form_of_the_identity_names_the_same_arn() {
    for form in [json!(SENDER), json!(phone_id()), json!(identity_arn())] {
        let w = direct_world();
        let mut res = direct(form.clone());
        w.sync(&mut res, Mode::Apply).await;
        assert_eq!(
            pool_sms(&w).direct.unwrap().origination_identity,
            Some(identity_arn()),
            "{form}"
        );
    }
}

#[tokio::test]
async fn an_unknown_identity_stops_everything_and_says_so() {
    let w = direct_world();
    let mut res = direct(json!("+12065550199"));
    w.sync(&mut res, Mode::Apply).await;
    assert!(w.writes().is_empty());
    assert_eq!(
        condition(&res, types::ORIGINATION_IDENTITY_AVAILABLE),
        (ConditionStatus::False, reasons::IDENTITY_NOT_FOUND.into())
    );
    assert_eq!(
        condition(&res, types::ROLE_READY),
        (
            ConditionStatus::Unknown,
            reasons::WAITING_FOR_ORIGINATION_IDENTITY.into()
        )
    );
}

#[tokio::test]
async fn without_an_identity_the_role_may_send_from_any_identity_in_the_region() {
    let w = direct_world();
    let mut res = app(json!({"externalId": "ext", "endUserMessaging": {}}));
    w.sync(&mut res, Mode::Apply).await;
    let inline = w.state.lock().unwrap().inline.clone();
    assert_eq!(
        inline[SEND_TEXT_POLICY_NAME],
        policy::send_text_policy(&[format!("arn:aws:sms-voice:eu-west-1:{ACCOUNT}:*")])
    );
    assert_eq!(pool_sms(&w).direct.unwrap().origination_identity, None);
}

#[tokio::test]
async fn switching_paths_back_and_forth_leaves_nothing_of_the_other() {
    let w = direct_world();
    let mut res = direct(json!(SENDER));
    w.sync(&mut res, Mode::Apply).await;
    w.forget_calls();
    res.spec.end_user_messaging = None;
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        [
            "PermissionsPolicyUpdated",
            "PermissionsPolicyDeleted",
            "SmsConfigurationUpdated"
        ]
    );
    assert_eq!(
        w.state.lock().unwrap().inline.keys().collect::<Vec<_>>(),
        [PUBLISH_POLICY_NAME]
    );
    let sms = pool_sms(&w);
    assert_eq!(
        (sms.path(), sms.region.as_deref()),
        (DeliveryPath::Sns, Some("eu-west-1"))
    );
    assert_eq!(res.status.as_ref().unwrap().origination_identity_arn, None);
    assert_eq!(ready(&res).0, ConditionStatus::True);
}

#[tokio::test]
async fn a_failed_test_send_keeps_the_pool_as_it_was_and_names_the_fix() {
    let mut w = direct_world();
    w.failing_writes.insert(
        "TestMessageSent",
        aws_error_because("ConflictException", "RESOURCE_NOT_ACTIVE"),
    );
    let mut res = direct(json!(SENDER));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(!w.writes().contains(&"SmsConfigurationUpdated".to_string()));
    assert_eq!(pool_sms(&w).path(), DeliveryPath::Sns, "untouched");
    let c = res.condition(types::USER_POOL_CONFIGURED).unwrap();
    assert_eq!(c.reason, reasons::TEST_MESSAGE_FAILED);
    assert!(
        c.message.contains("name an active, SMS-capable origination identity"),
        "{}",
        c.message
    );
    assert!(c.message.contains("test sending to +*******0100"), "{}", c.message);
    assert!(!reasons(&report).contains(&"SmsConfigurationUpdated"));
}

#[tokio::test]
async fn no_verified_destination_no_test_and_the_condition_says_so() {
    let w = direct_world();
    w.state.lock().unwrap().account.as_mut().unwrap().destinations = BTreeMap::new();
    let mut res = direct(json!(SENDER));
    w.sync(&mut res, Mode::Apply).await;
    assert!(!w.writes().contains(&"TestMessageSent".to_string()));
    let c = res.condition(types::USER_POOL_CONFIGURED).unwrap();
    assert!(c.message.contains("not tested first"), "{}", c.message);
}

#[tokio::test]
async fn a_missing_configuration_set_is_named() {
    let w = direct_world();
    let mut res = app(json!({"endUserMessaging": {"configurationSetName": "nope"}}));
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED),
        (ConditionStatus::False, reasons::CONFIGURATION_SET_NOT_FOUND.into())
    );
    assert!(!w.writes().contains(&"SmsConfigurationUpdated".to_string()));
}

#[tokio::test]
async fn cognitos_own_diagnosis_lands_in_the_condition_it_explains() {
    for (failure, type_) in [
        ("InvalidSmsRoleAccessPolicyException", types::ROLE_READY),
        ("SNSSandbox", types::SANDBOX_EXITED),
        ("SomethingElse", types::USER_POOL_CONFIGURED),
    ] {
        let mut w = converged();
        w.set().account.as_mut().unwrap().in_sandbox = false;
        w.set().pool.as_mut().unwrap().sms_configuration_failure = Some(failure.into());
        let mut res = app(json!({"externalId": "ext"}));
        w.sync(&mut res, Mode::Apply).await;
        let c = res.condition(type_).unwrap();
        assert_eq!(c.reason, reasons::COGNITO_REPORTS_FAILURE, "{failure}");
        assert!(
            c.message.contains(&format!("SmsConfigurationFailure {failure}")),
            "{}",
            c.message
        );
    }
}

#[tokio::test]
async fn an_existing_role_must_allow_sending_from_the_identity() {
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/team/Sms");
    let mut w = direct_world();
    w.set().roles.insert(
        "Sms".into(),
        ObservedRole {
            name: "Sms".into(),
            arn: arn.clone(),
            path: "/team/".into(),
            trust_policy: policy::trust_policy(ACCOUNT, &[pool_arn()], Some("ext")),
            permissions_boundary: None,
            tags: BTreeMap::new(),
        },
    );
    w.documents.insert("Sms".into(), vec![policy::publish_policy()]);
    let mut res = app(json!({"externalId": "ext", "role": {"existing": {"roleArn": arn}},
                             "endUserMessaging": {"originationIdentity": SENDER}}));
    w.sync(&mut res, Mode::Apply).await;
    let c = res.condition(types::ROLE_READY).unwrap();
    assert_eq!(c.reason, reasons::PERMISSIONS_INCOMPLETE);
    assert!(
        c.message
            .contains(&format!("allows sms-voice:SendTextMessage on {}", identity_arn())),
        "{}",
        c.message
    );
    w.documents
        .insert("Sms".into(), vec![policy::send_text_policy(&[identity_arn()])]);
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(condition(&res, types::ROLE_READY).1, reasons::ROLE_VALID);
}
