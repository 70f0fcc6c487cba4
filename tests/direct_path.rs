//! The End User Messaging SMS direct path against the emulator: the role scoped to the
//! origination identity, every form of naming it, the sandbox flow, switching paths with nothing
//! lost, the dry-run send, and Cognito's own diagnosis.

mod support;

use std::time::Duration;

use cognito_sms_operator::conditions::{reasons, types};
use cognito_sms_operator::crd::{CognitoSmsConfig, DeliveryPath, SandboxNumberState};
use cognito_sms_operator::desired::{self, PUBLISH_POLICY_NAME, SEND_TEXT_POLICY_NAME};
use cognito_sms_operator::policy;
use serde_json::{Value, json};
use support::*;

const US_SENDER: &str = "+12065550100";
const POOLED: &str = "+18885550100";
const US_USER: &str = "+14255550100";
const GB_USER: &str = "+447700900100";

/// An account in us-east-1 with a 10DLC number, a toll-free number in a pool, a sender ID for
/// Great Britain and a configuration set.
fn shape_account(emu: &Emulator, tier: &str) {
    emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [
            {"phoneNumber": US_SENDER, "type": "TEN_DLC"},
            {"phoneNumber": POOLED, "type": "TOLL_FREE"},
        ]}),
    );
    emu.sms_voice_account(
        "us-east-1",
        json!({
            "tier": tier,
            "spendLimit": 50,
            "senderIds": [{"senderId": "MyBrand", "country": "GB"}],
            "pools": [{"poolId": "pool-test", "members": [POOLED]}],
            "configurationSets": [{"name": "app-events"}],
        }),
    );
}

/// The ARN End User Messaging gives an identity, read the way a person reads the console.
async fn arn_of(emu: &Emulator, kind: &str, id: &str) -> String {
    let client = aws_sdk_pinpointsmsvoicev2::Client::new(&emu.sdk_config("us-east-1").await);
    match kind {
        "phone" => {
            let out = client.describe_phone_numbers().send().await.unwrap();
            let n = out.phone_numbers().iter().find(|n| n.phone_number() == id).unwrap();
            n.phone_number_arn().to_string()
        }
        "pool" => {
            let out = client.describe_pools().pool_ids(id).send().await.unwrap();
            out.pools()[0].pool_arn().to_string()
        }
        _ => format!("arn:aws:sms-voice:us-east-1:{ACCOUNT}:sender-id/MyBrand/GB"),
    }
}

fn direct(pool: &str, identity: &str, extra: Value) -> CognitoSmsConfig {
    let mut spec = json!({
        "userPoolId": pool,
        "endUserMessaging": {"originationIdentity": identity, "configurationSetName": "app-events"},
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    resource("app", spec)
}

fn with_user(number: &str, countries: &[&str]) -> Value {
    json!({
        "destinationCountries": countries,
        "sandboxPhoneNumbers": [{"phoneNumber": number, "verificationCodeRef": {"name": "codes", "key": "k"}}],
    })
}

async fn inline_policies(emu: &Emulator, role: &str) -> Vec<String> {
    let iam = emu.iam().await;
    let out = iam.list_role_policies().role_name(role).send().await.unwrap();
    out.policy_names().to_vec()
}

async fn send_text_policy_of(emu: &Emulator, role: &str) -> Value {
    let iam = emu.iam().await;
    let out = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(SEND_TEXT_POLICY_NAME)
        .send()
        .await
        .unwrap();
    policy::parse_document(out.policy_document()).unwrap()
}

#[tokio::test]
async fn a_managed_role_scoped_to_the_identity_and_a_second_reconcile_writes_nothing() {
    let emu = Emulator::start();
    shape_account(&emu, "PRODUCTION");
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = direct(&pool, US_SENDER, with_user(US_USER, &["US"]));
    let arn = arn_of(&emu, "phone", US_SENDER).await;

    h.reconcile(&mut res).await;

    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);
    let role = format!("cognito-sms-{pool}");
    assert_eq!(inline_policies(&emu, &role).await, [SEND_TEXT_POLICY_NAME]);
    assert_eq!(
        send_text_policy_of(&emu, &role).await,
        policy::send_text_policy(std::slice::from_ref(&arn))
    );
    let sms = emu.sms_configuration("us-east-1", &pool).await.unwrap();
    let eums = sms.eums_sms().expect("the pool sends directly");
    assert_eq!(eums.origination_identity(), Some(arn.as_str()));
    assert_eq!(eums.configuration_set_name(), Some("app-events"));
    assert_eq!(eums.region(), Some("us-east-1"));
    assert_eq!(eums.external_id(), res.status.as_ref().unwrap().external_id.as_deref());
    assert!(sms.sns_caller_arn().is_empty());
    let status = res.status.clone().unwrap();
    assert_eq!(status.delivery_path, Some(DeliveryPath::EndUserMessaging));
    assert_eq!(status.origination_identity_arn.as_deref(), Some(arn.as_str()));
    assert!(emu.calls().iter().any(|(_, a)| a == "SendTextMessage"), "tested first");
    assert!(
        !emu.sms_messages()
            .iter()
            .any(|(_, text)| text.contains("cognito-sms-operator")),
        "the test was a dry run: nothing reached the user"
    );

    emu.clear_calls();
    let again = h.reconcile(&mut res).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(emu.write_calls(), vec![]);
    assert!(
        !emu.calls().iter().any(|(_, a)| a == "SendTextMessage"),
        "no test without a change"
    );
}

#[tokio::test]
async fn every_form_of_the_origination_identity_resolves_to_its_arn() {
    let emu = Emulator::start();
    shape_account(&emu, "PRODUCTION");
    let phone = arn_of(&emu, "phone", US_SENDER).await;
    let pool_arn = arn_of(&emu, "pool", "pool-test").await;
    let sender = arn_of(&emu, "sender", "MyBrand").await;
    let phone_id = phone.rsplit('/').next().unwrap().to_string();
    let cases = [
        (US_SENDER.to_string(), phone.clone(), US_USER, "US"),
        (phone_id, phone.clone(), US_USER, "US"),
        (phone.clone(), phone.clone(), US_USER, "US"),
        ("pool-test".to_string(), pool_arn.clone(), US_USER, "US"),
        (pool_arn.clone(), pool_arn.clone(), US_USER, "US"),
        ("MyBrand/GB".to_string(), sender.clone(), GB_USER, "GB"),
        (sender.clone(), sender.clone(), GB_USER, "GB"),
    ];
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    for (form, arn, user, country) in cases {
        let pool = create_pool(&emu, "us-east-1", "p").await;
        let mut res = direct(&pool, &form, with_user(user, &[country]));
        h.reconcile(&mut res).await;
        assert_eq!(condition(&res, types::READY).0, "True", "{form}: {:?}", res.status);
        let sms = emu.sms_configuration("us-east-1", &pool).await.unwrap();
        assert_eq!(
            sms.eums_sms().unwrap().origination_identity(),
            Some(arn.as_str()),
            "{form}"
        );
        let role = format!("cognito-sms-{pool}");
        assert_eq!(
            send_text_policy_of(&emu, &role).await,
            policy::send_text_policy(std::slice::from_ref(&arn)),
            "{form}"
        );
    }
}

#[tokio::test]
async fn the_sandbox_flow_on_the_direct_path() {
    let emu = Emulator::start();
    shape_account(&emu, "SANDBOXED");
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = direct(&pool, US_SENDER, with_user(US_USER, &["US"]));

    h.reconcile(&mut res).await;
    let number = &res.status.as_ref().unwrap().sandbox_phone_numbers[0];
    assert_eq!(
        (number.state, number.reason.as_str()),
        (SandboxNumberState::Pending, "CodeSent")
    );
    assert_eq!(condition(&res, types::SANDBOX_EXITED).1, "InSandbox");

    let (_, text) = emu
        .sms_messages()
        .into_iter()
        .rfind(|(to, _)| to == US_USER)
        .expect("a code");
    let code = text.rsplit(' ').next().unwrap().to_string();
    h.secrets.set("codes", "k", &code);
    h.reconcile(&mut res).await;
    assert_eq!(
        res.status.as_ref().unwrap().sandbox_phone_numbers[0].state,
        SandboxNumberState::Verified
    );
    assert_eq!(condition(&res, types::PHONE_NUMBERS_VERIFIED).0, "True");
    assert!(!serde_json::to_string(&res.status).unwrap().contains(&code));
}

/// SNS → direct → SNS on a pool with many other settings: each switch changes the SMS
/// configuration and the role's permission only, and leaves nothing of the other path.
#[tokio::test]
async fn switching_paths_both_ways_loses_nothing() {
    let emu = Emulator::start();
    shape_account(&emu, "PRODUCTION");
    let pool = create_customised_pool(&emu, "us-east-1").await;
    let mut before = pool_but_sms(&emu, "us-east-1", &pool).await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let role = format!("cognito-sms-{pool}");
    let mut res = direct(&pool, US_SENDER, with_user(US_USER, &["US"]));
    let direct_path = res.spec.end_user_messaging.take();
    // The first update also records who manages the pool, beside the pool's own tags.
    let tags = before.user_pool_tags.get_or_insert_default();
    tags.extend(desired::pool_tags(INSTALLATION, &desired::Owner::of(&res)));

    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True", "SNS: {:?}", res.status);
    assert_eq!(inline_policies(&emu, &role).await, [PUBLISH_POLICY_NAME]);
    let role_arn = res.status.as_ref().unwrap().role_arn.clone().unwrap();

    res.spec.end_user_messaging = direct_path;
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True", "direct: {:?}", res.status);
    assert_eq!(inline_policies(&emu, &role).await, [SEND_TEXT_POLICY_NAME]);
    let sms = emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert_eq!(sms.eums_sms().map(|e| e.caller_arn()), Some(role_arn.as_str()));
    assert_eq!(sms.sns_region(), None);
    assert_eq!(
        pool_but_sms(&emu, "us-east-1", &pool).await,
        before,
        "nothing else changed"
    );

    res.spec.end_user_messaging = None;
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True", "SNS again: {:?}", res.status);
    assert_eq!(inline_policies(&emu, &role).await, [PUBLISH_POLICY_NAME]);
    let sms = emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert!(sms.eums_sms().is_none());
    assert_eq!(
        (sms.sns_caller_arn(), sms.sns_region()),
        (role_arn.as_str(), Some("us-east-1"))
    );
    assert_eq!(
        pool_but_sms(&emu, "us-east-1", &pool).await,
        before,
        "nothing else changed"
    );
    assert_eq!(
        res.status.as_ref().unwrap().role_arn.as_deref(),
        Some(role_arn.as_str()),
        "same role"
    );
}

#[tokio::test]
async fn a_failing_dry_run_send_leaves_the_pool_and_names_the_fix() {
    let emu = Emulator::start();
    emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": US_SENDER, "type": "TEN_DLC", "status": "PENDING"}]}),
    );
    emu.sms_voice_account(
        "us-east-1",
        json!({"tier": "PRODUCTION", "configurationSets": [{"name": "app-events"}]}),
    );
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = direct(&pool, US_SENDER, with_user(US_USER, &["US"]));

    h.reconcile(&mut res).await;

    let (status, reason, message) = condition(&res, types::USER_POOL_CONFIGURED);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::TEST_MESSAGE_FAILED)
    );
    assert!(message.contains("RESOURCE_NOT_ACTIVE"), "{message}");
    assert!(
        message.contains("name an active, SMS-capable origination identity"),
        "{message}"
    );
    assert_eq!(
        emu.sms_configuration("us-east-1", &pool).await,
        None,
        "the pool was not changed"
    );
    assert_eq!(
        condition(&res, types::ORIGINATION_IDENTITY_AVAILABLE).1,
        reasons::IDENTITY_NOT_USABLE
    );
}

#[tokio::test]
async fn cognitos_sms_configuration_failure_is_surfaced_on_both_paths() {
    let emu = Emulator::start();
    shape_account(&emu, "PRODUCTION");
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = direct(&pool, US_SENDER, with_user(US_USER, &["US"]));
    h.reconcile(&mut res).await;
    emu.set_sms_configuration_failure("us-east-1", &pool, Some("InvalidSmsRoleAccessPolicyException"));
    h.reconcile(&mut res).await;
    let (status, reason, message) = condition(&res, types::ROLE_READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::COGNITO_REPORTS_FAILURE)
    );
    assert!(
        message.contains("SmsConfigurationFailure InvalidSmsRoleAccessPolicyException"),
        "{message}"
    );

    // On the SNS path, in the sandbox, Cognito's SNSSandbox (reported once the pool sends through
    // the account) agrees with the sandbox condition, which stays as it was: no status churn.
    let sns_pool = create_pool(&emu, "eu-west-1", "sns").await;
    let mut sns = resource("sns", json!({"userPoolId": sns_pool}));
    h.reconcile(&mut sns).await;
    let first = sns.status.clone();
    h.reconcile(&mut sns).await;
    let pool = emu
        .cognito("eu-west-1")
        .await
        .describe_user_pool()
        .user_pool_id(&sns_pool)
        .send()
        .await;
    let reported = pool.unwrap().user_pool.unwrap().sms_configuration_failure;
    assert_eq!(reported.as_deref(), Some("SNSSandbox"));
    let (_, reason, message) = condition(&sns, types::SANDBOX_EXITED);
    assert_eq!(reason, "InSandbox");
    assert!(!message.contains("SmsConfigurationFailure"), "{message}");
    assert_eq!(sns.status, first, "the second reconcile finds nothing new");
}

#[tokio::test]
async fn an_existing_role_is_checked_against_the_identity_and_a_direct_pool_is_adopted() {
    let emu = Emulator::start();
    shape_account(&emu, "PRODUCTION");
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let arn = arn_of(&emu, "phone", US_SENDER).await;
    let pool_arn = format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool}");
    let iam = emu.iam().await;
    let role = iam
        .create_role()
        .role_name("TeamSms")
        .path("/team/")
        .assume_role_policy_document(
            policy::trust_policy(ACCOUNT, std::slice::from_ref(&pool_arn), Some("team-ext")).to_string(),
        )
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    let other = format!("arn:aws:sms-voice:us-east-1:{ACCOUNT}:phone-number/phone-other");
    iam.put_role_policy()
        .role_name("TeamSms")
        .policy_name("sms")
        .policy_document(policy::send_text_policy(std::slice::from_ref(&other)).to_string())
        .send()
        .await
        .unwrap();
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut extra = with_user(US_USER, &["US"]);
    extra["externalId"] = json!("team-ext");
    extra["role"] = json!({"existing": {"roleArn": role_arn}});
    let mut res = direct(&pool, US_SENDER, extra);

    h.reconcile(&mut res).await;
    let (_, reason, message) = condition(&res, types::ROLE_READY);
    assert_eq!(reason, reasons::PERMISSIONS_INCOMPLETE);
    assert!(
        message.contains(&format!("sms-voice:SendTextMessage on {arn}")),
        "{message}"
    );
    assert_eq!(emu.sms_configuration("us-east-1", &pool).await, None);

    // The team fixes its role and points the pool at it by hand; the operator adopts that.
    iam.put_role_policy()
        .role_name("TeamSms")
        .policy_name("sms")
        .policy_document(policy::send_text_policy(std::slice::from_ref(&arn)).to_string())
        .send()
        .await
        .unwrap();
    let eums = aws_sdk_cognitoidentityprovider::types::EumsSmsConfigurationType::builder()
        .caller_arn(&role_arn)
        .external_id("team-ext")
        .region("us-east-1")
        .origination_identity(&arn)
        .configuration_set_name("app-events")
        .build()
        .unwrap();
    let sms = aws_sdk_cognitoidentityprovider::types::SmsConfigurationType::builder()
        .eums_sms(eums)
        .build();
    emu.cognito("us-east-1")
        .await
        .update_user_pool()
        .user_pool_id(&pool)
        .sms_configuration(sms)
        .send()
        .await
        .unwrap();
    emu.clear_calls();
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);
    assert_eq!(
        emu.write_calls(),
        vec![("cognito-idp".to_string(), "TagResource".to_string())],
        "adopted as it is, not rewritten: only the record of who manages it is added"
    );
    let pool_now = pool_but_sms(&emu, "us-east-1", &pool).await;
    let expected = desired::pool_tags(INSTALLATION, &desired::Owner::of(&res));
    assert_eq!(
        pool_now.user_pool_tags().cloned().unwrap_or_default(),
        expected.into_iter().collect()
    );
}

/// End User Messaging as a person or another program uses it, beside the operator.
async fn eum(emu: &Emulator) -> aws_sdk_pinpointsmsvoicev2::Client {
    aws_sdk_pinpointsmsvoicev2::Client::new(&emu.sdk_config("us-east-1").await)
}

/// The answer to a text to `number` through `configuration_set`: `Ok`, or End User Messaging's
/// reason for refusing it.
async fn text(emu: &Emulator, number: &str, sender: &str, configuration_set: &str) -> Result<(), String> {
    let sent = eum(emu)
        .await
        .send_text_message()
        .destination_phone_number(number)
        .origination_identity(sender)
        .configuration_set_name(configuration_set)
        .message_body("Your code is 123456")
        .send()
        .await;
    sent.map(drop).map_err(|e| match e.into_service_error() {
        aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError::ConflictException(c) => {
            c.reason().map(|r| r.as_str().to_string()).unwrap_or_default()
        }
        other => format!("{other:?}"),
    })
}

/// The SMS rule of `country` in protect configuration `id`.
async fn rule(emu: &Emulator, id: &str, country: &str) -> String {
    let out = eum(emu)
        .await
        .get_protect_configuration_country_rule_set()
        .protect_configuration_id(id)
        .number_capability(aws_sdk_pinpointsmsvoicev2::types::NumberCapability::Sms)
        .send()
        .await
        .unwrap();
    out.country_rule_set()[country].protect_status().as_str().to_string()
}

/// A production account's direct-path pool whose resource (with `extra` in its spec) asks for
/// protection for US users, reconciled until protected: the protect configuration is created,
/// then given its rules and its configuration set, then the pool is pointed at the set.
async fn protected(emu: &Emulator, extra: Value) -> (String, Harness, CognitoSmsConfig) {
    shape_account(emu, "PRODUCTION");
    let pool = create_pool(emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(emu, Duration::ZERO).await;
    let mut spec = json!({"userPoolId": pool, "endUserMessaging": {"originationIdentity": US_SENDER},
                          "destinationCountries": ["US"], "protect": {"blockOtherCountries": true}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let mut res = resource("app", spec);
    for _ in 0..3 {
        h.reconcile(&mut res).await;
    }
    (pool, h, res)
}

/// Country protection on the direct path: this resource's protect configuration allows the
/// users' countries and blocks every other, on a configuration set the operator creates and
/// names in the pool, follows `destinationCountries`, and is removed when no longer asked for.
#[tokio::test]
async fn protection_blocks_texts_to_other_countries_follows_the_users_countries_and_goes_when_off() {
    let emu = Emulator::start();
    let (pool, h, mut res) = protected(&emu, json!({})).await;

    let set = format!("cognito-sms-{pool}");
    let status = res.status.clone().unwrap();
    let protect = status
        .protect
        .clone()
        .expect("status records the protect configuration");
    let id = protect.protect_configuration_id.clone().expect("its ID");
    assert_eq!(protect.configuration_set_name.as_deref(), Some(set.as_str()));
    let sms = emu.sms_configuration("us-east-1", &pool).await.unwrap();
    assert_eq!(
        sms.eums_sms().and_then(|e| e.configuration_set_name()),
        Some(set.as_str())
    );
    assert_eq!(
        (rule(&emu, &id, "US").await, rule(&emu, &id, "GB").await),
        ("ALLOW".into(), "BLOCK".into())
    );
    let (status_, reason, _) = condition(&res, types::PUMPING_PROTECTION);
    assert_eq!(
        (status_.as_str(), reason.as_str()),
        ("True", reasons::COUNTRIES_PROTECTED)
    );
    assert_eq!(condition(&res, types::READY).0, "True", "{:?}", res.status);
    assert_eq!(
        text(&emu, GB_USER, "MyBrand", &set).await,
        Err("DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION".into())
    );
    assert_eq!(text(&emu, US_USER, US_SENDER, &set).await, Ok(()));

    emu.clear_calls();
    let again = h.reconcile(&mut res).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(emu.write_calls(), vec![]);

    // A country added: its rule follows, and nothing else changes.
    res.spec.destination_countries.push("GB".into());
    let added = h.reconcile(&mut res).await;
    assert!(
        matches!(&added.changes[..], [desired::Change::UpdateProtectRules { updates, .. }] if updates.len() == 1),
        "{:?}",
        added.changes
    );
    assert_eq!(text(&emu, GB_USER, "MyBrand", &set).await, Ok(()));

    // Off: disassociated and deleted; the configuration set, which the pool still names, stays.
    res.spec.protect = None;
    h.reconcile(&mut res).await;
    let left = eum(&emu).await.describe_protect_configurations().send().await.unwrap();
    assert!(left.protect_configurations().is_empty(), "{left:?}");
    let protect = res.status.as_ref().unwrap().protect.clone().unwrap();
    assert_eq!(
        (
            protect.protect_configuration_id,
            protect.configuration_set_name.as_deref()
        ),
        (None, Some(set.as_str()))
    );
    assert_eq!(condition(&res, types::PUMPING_PROTECTION).1, reasons::NOT_REQUESTED);
}

/// On the SNS path only the account default applies: reported, never written.
#[tokio::test]
async fn on_the_sns_path_the_account_default_is_reported_and_left_alone() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "destinationCountries": ["US"], "protect": {"blockOtherCountries": true}}),
    );

    h.reconcile(&mut res).await;
    let (status, reason, message) = condition(&res, types::PUMPING_PROTECTION);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::ACCOUNT_DEFAULT_ALLOWS_ALL)
    );
    assert!(message.contains("covers every sender of the account"), "{message}");

    // The account's admin sets a default that blocks every country but the US.
    let client = eum(&emu).await;
    let id = client
        .create_protect_configuration()
        .send()
        .await
        .unwrap()
        .protect_configuration_id()
        .to_string();
    let all = client
        .get_protect_configuration_country_rule_set()
        .protect_configuration_id(&id)
        .number_capability(aws_sdk_pinpointsmsvoicev2::types::NumberCapability::Sms)
        .send()
        .await
        .unwrap();
    let block = aws_sdk_pinpointsmsvoicev2::types::ProtectConfigurationCountryRuleSetInformation::builder()
        .protect_status(aws_sdk_pinpointsmsvoicev2::types::ProtectStatus::Block)
        .build()
        .unwrap();
    let updates = all
        .country_rule_set()
        .keys()
        .filter(|c| *c != "US")
        .map(|c| (c.clone(), block.clone()))
        .collect();
    client
        .update_protect_configuration_country_rule_set()
        .protect_configuration_id(&id)
        .number_capability(aws_sdk_pinpointsmsvoicev2::types::NumberCapability::Sms)
        .set_country_rule_set_updates(Some(updates))
        .send()
        .await
        .unwrap();
    client
        .set_account_default_protect_configuration()
        .protect_configuration_id(&id)
        .send()
        .await
        .unwrap();
    emu.clear_calls();

    h.reconcile(&mut res).await;

    let (status, reason, _) = condition(&res, types::PUMPING_PROTECTION);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", reasons::ACCOUNT_DEFAULT_COVERS)
    );
    assert!(
        !emu.write_calls().iter().any(|(s, _)| s == "sms-voice"),
        "{:?}",
        emu.write_calls()
    );
}

/// Deleting the resource with `deletionPolicy: Delete` removes its protect configuration and
/// leaves the configuration set the pool still names.
#[tokio::test]
async fn deletion_removes_the_protect_configuration() {
    let emu = Emulator::start();
    let (pool, h, res) = protected(&emu, json!({"deletionPolicy": "Delete"})).await;
    assert_eq!(condition(&res, types::PUMPING_PROTECTION).0, "True");

    let out = cognito_sms_operator::reconcile::cleanup(&h.env(), &res, cognito_sms_operator::reconcile::Mode::Apply)
        .await
        .unwrap();

    assert!(
        out.changes
            .iter()
            .any(|c| matches!(c, desired::Change::DeleteProtectConfiguration { .. })),
        "{:?}",
        out.changes
    );
    let left = eum(&emu).await.describe_protect_configurations().send().await.unwrap();
    assert!(left.protect_configurations().is_empty(), "{left:?}");
    let sets = eum(&emu).await.describe_configuration_sets().send().await.unwrap();
    assert!(
        sets.configuration_sets()
            .iter()
            .any(|s| s.configuration_set_name() == format!("cognito-sms-{pool}")
                && s.protect_configuration_id().is_none()),
        "{sets:?}"
    );
}
