//! The account half against the emulator, as End User Messaging SMS holds it on both paths:
//! sandbox, destination number verification, origination identities, spend limit, and the shared
//! per-region cache.

mod limits;
#[path = "../support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use cognito_sms_operator::account::NumberAt;
use cognito_sms_operator::conditions::types;
use cognito_sms_operator::crd::{CognitoSmsConfig, SandboxNumberState};
use cognito_sms_operator::desired::Change;
use cognito_sms_operator::reconcile::{self, Mode};
use serde_json::json;
use support::*;

const NUMBER: &str = "+14255550100";

/// The code texted to `number`, read from the emulator's SMS log as a person reads their phone.
fn code_texted_to(emu: &Emulator, number: &str) -> String {
    let (_, text) = emu
        .sms_messages()
        .into_iter()
        .rfind(|(to, _)| to == number)
        .expect("an SMS was sent to the number");
    text.rsplit(' ').next().unwrap().to_string()
}

/// End User Messaging texts verification codes to US numbers from an identity of the account in
/// the US: give the account a toll-free number.
fn can_text_us(emu: &Emulator) {
    emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
}

fn with_numbers(pool: &str, numbers: &[&str]) -> CognitoSmsConfig {
    let numbers: Vec<_> = numbers
        .iter()
        .map(|n| json!({"phoneNumber": n, "verificationCodeRef": {"name": "sms-codes", "key": n.trim_start_matches('+')}}))
        .collect();
    resource("app", json!({"userPoolId": pool, "sandboxPhoneNumbers": numbers}))
}

fn number_state(res: &CognitoSmsConfig, last4: &str) -> (SandboxNumberState, String, String) {
    let n = res
        .status
        .as_ref()
        .unwrap()
        .sandbox_phone_numbers
        .iter()
        .find(|n| n.phone_number.ends_with(last4))
        .unwrap_or_else(|| panic!("status lists ...{last4}"));
    (n.state, n.reason.clone(), n.message.clone())
}

/// One read of the account's SMS state in a region: End User Messaging's, and SNS's beside it.
const ACCOUNT_LEVEL: [&str; 10] = [
    "DescribeAccountAttributes",
    "DescribeSpendLimits",
    "DescribePhoneNumbers",
    "DescribeSenderIds",
    "DescribePools",
    "DescribeConfigurationSets",
    "DescribeVerifiedDestinationNumbers",
    "GetSMSSandboxAccountStatus",
    "GetSMSAttributes",
    "GetMetricData",
];

fn account_level_calls(emu: &Emulator) -> Vec<String> {
    emu.calls()
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| ACCOUNT_LEVEL.contains(&a.as_str()))
        .collect()
}

#[tokio::test]
async fn a_destination_number_is_verified_with_the_code_from_its_secret() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = with_numbers(&pool, &[NUMBER]);

    let outcome = h.reconcile(&mut res).await;

    assert!(
        outcome
            .changes
            .iter()
            .any(|c| matches!(c, Change::AddSandboxNumber { .. }))
    );
    let (state, reason, message) = number_state(&res, "0100");
    assert_eq!((state, reason.as_str()), (SandboxNumberState::Pending, "CodeSent"));
    assert!(
        message.contains("put it in Secret apps/sms-codes under key 14255550100"),
        "{message}"
    );
    assert_eq!(
        res.status.as_ref().unwrap().sandbox_phone_numbers[0].phone_number,
        "+*******0100"
    );
    let (status, reason, _) = condition(&res, types::PHONE_NUMBERS_VERIFIED);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "AwaitingCode"));
    let (status, reason, message) = condition(&res, types::SANDBOX_EXITED);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InSandbox"));
    assert!(
        message.contains("Cognito cannot send SMS to users' phone numbers"),
        "{message}"
    );

    // Nothing to do until the code arrives.
    emu.clear_calls();
    h.reconcile(&mut res).await;
    assert_eq!(emu.write_calls(), vec![]);
    assert_eq!(number_state(&res, "0100").1, "AwaitingCode");

    let code = code_texted_to(&emu, NUMBER);
    h.secrets.set("sms-codes", "14255550100", &code);
    let outcome = h.reconcile(&mut res).await;

    assert!(
        outcome
            .changes
            .iter()
            .any(|c| matches!(c, Change::VerifySandboxNumber { .. }))
    );
    assert_eq!(number_state(&res, "0100").0, SandboxNumberState::Verified);
    assert_eq!(condition(&res, types::PHONE_NUMBERS_VERIFIED).0, "True");
    assert_eq!(
        emu.sms_voice_account("us-east-1", json!({}))["verifiedNumbers"][NUMBER]["status"],
        "VERIFIED"
    );
    let status_text = serde_json::to_string(&res.status).unwrap();
    assert!(!status_text.contains(&code), "the code never reaches status");
    assert!(!status_text.contains("5550100"), "numbers are masked in status");
    let events: String = outcome.changes.iter().map(|c| c.to_string()).collect();
    assert!(!events.contains(&code) && !events.contains("5550100"));
}

#[tokio::test]
async fn a_wrong_code_fails_and_is_not_retried_until_the_secret_changes() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    // A long TTL: a refused code must not cost a new read of the account's state.
    let h = Harness::with_ttl(&emu, Duration::from_secs(300)).await;
    let mut res = with_numbers(&pool, &[NUMBER]);
    h.reconcile(&mut res).await;
    let right = code_texted_to(&emu, NUMBER);
    let wrong = if right == "000000" { "111111" } else { "000000" };

    h.secrets.set("sms-codes", "14255550100", wrong);
    h.reconcile(&mut res).await;

    let (state, reason, message) = number_state(&res, "0100");
    assert_eq!((state, reason.as_str()), (SandboxNumberState::Failed, "CodeRejected"));
    assert!(
        message.contains("End User Messaging did not accept the code in Secret apps/sms-codes under key 14255550100"),
        "{message}"
    );
    assert!(!message.contains(wrong));
    assert_eq!(condition(&res, types::PHONE_NUMBERS_VERIFIED).1, "CodeRejected");

    emu.clear_calls();
    h.reconcile(&mut res).await;
    assert!(
        !emu.calls().iter().any(|(_, a)| a == "VerifyDestinationNumber"),
        "the refused code is not sent again: {:?}",
        emu.calls()
    );
    assert_eq!(
        account_level_calls(&emu),
        Vec::<String>::new(),
        "nor is the account read again"
    );
    assert_eq!(number_state(&res, "0100").1, "CodeRejected");

    h.secrets.set("sms-codes", "14255550100", &right);
    h.reconcile(&mut res).await;
    assert_eq!(number_state(&res, "0100").0, SandboxNumberState::Verified);
}

#[tokio::test]
async fn numbers_dropped_from_the_spec_are_removed_only_if_ours_and_unclaimed() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let mut h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let ours = "+14255550101";
    let claimed = "+14255550102";
    let theirs = "+14255550103";
    // Someone added a number by hand; the operator must never remove it.
    h.aws
        .sms_voice("us-east-1")
        .add_destination(theirs, None, &Default::default())
        .await
        .unwrap();
    let mut res = with_numbers(&pool, &[ours, claimed]);
    h.reconcile(&mut res).await;
    assert!(
        res.status
            .as_ref()
            .unwrap()
            .sandbox_phone_numbers
            .iter()
            .all(|n| n.added_by_operator)
    );

    res.spec.sandbox_phone_numbers.clear();
    h.claimed.insert(NumberAt::new("us-east-1", claimed));
    let outcome = h.reconcile(&mut res).await;

    // End User Messaging refuses to remove a number within 24 hours of adding it: reported,
    // retried later.
    assert!(outcome.changes.is_empty(), "{outcome:?}");
    let (state, reason, message) = number_state(&res, "0101");
    assert_eq!(
        (state, reason.as_str()),
        (SandboxNumberState::Removing, "RemovalRefused")
    );
    assert!(message.contains("24 hours"), "{message}");
    assert!(
        condition(&res, types::PHONE_NUMBERS_VERIFIED)
            .2
            .contains("removing +*******0101")
    );

    emu.sns_account("us-east-1", json!({"advanceClockSeconds": 25 * 3600}));
    let outcome = h.reconcile(&mut res).await;

    assert!(matches!(&outcome.changes[..], [Change::RemoveSandboxNumber { number, .. }] if number == ours));
    assert!(res.status.as_ref().unwrap().sandbox_phone_numbers.is_empty());
    let left = emu.sms_voice_account("us-east-1", json!({}))["verifiedNumbers"].clone();
    assert!(left.get(ours).is_none());
    assert!(left.get(claimed).is_some(), "another resource still lists it");
    assert!(left.get(theirs).is_some(), "not added by the operator");
}

#[tokio::test]
async fn two_resources_in_one_region_share_one_set_of_account_level_calls_per_ttl() {
    let emu = Emulator::start();
    let pools = [
        create_pool(&emu, "us-east-1", "a").await,
        create_pool(&emu, "us-east-1", "b").await,
    ];
    let h = Harness::with_ttl(&emu, Duration::from_secs(300)).await;
    let mut resources: Vec<_> = pools
        .iter()
        .enumerate()
        .map(|(i, p)| resource(&format!("r{i}"), json!({"userPoolId": p})))
        .collect();
    emu.clear_calls();

    // Concurrently on a cold cache: single-flight.
    let (a, b) = resources.split_at_mut(1);
    tokio::join!(h.reconcile(&mut a[0]), h.reconcile(&mut b[0]));
    // And again, sequentially.
    for r in resources.iter_mut() {
        h.reconcile(r).await;
    }

    let calls = account_level_calls(&emu);
    assert_eq!(
        calls, ACCOUNT_LEVEL,
        "4 reconciles of 2 resources, one set of account-level calls"
    );
    assert_eq!(h.cache.stats(), (3, 1), "(hits, misses)");
    for r in &resources {
        assert_eq!(condition(r, types::SANDBOX_EXITED).1, "InSandbox");
    }

    // Control: without the cache every reconcile asks SNS.
    let uncached = Harness::with_ttl(&emu, Duration::ZERO).await;
    emu.clear_calls();
    for r in resources.iter_mut() {
        uncached.reconcile(r).await;
    }
    assert_eq!(account_level_calls(&emu).len(), 2 * ACCOUNT_LEVEL.len());
}

#[tokio::test]
async fn leaving_the_sandbox_flips_sandbox_exited_and_production_ready() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.sns_account("us-east-1", json!({"monthlySpendLimit": "100"}));
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool}));
    h.reconcile(&mut res).await;
    assert_eq!(condition(&res, types::READY).0, "True");
    let (status, reason, message) = condition(&res, types::PRODUCTION_READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InSandbox"));
    assert!(message.starts_with("SandboxExited: "), "{message}");
    assert!(res.status.as_ref().unwrap().sandbox.as_ref().unwrap().in_sandbox);

    emu.sns_account("us-east-1", json!({"inSandbox": false}));
    h.reconcile(&mut res).await;

    assert_eq!(condition(&res, types::SANDBOX_EXITED).0, "True");
    let (status, reason, _) = condition(&res, types::PRODUCTION_READY);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "ProductionReady"));
    assert!(!res.status.as_ref().unwrap().sandbox.as_ref().unwrap().in_sandbox);
}

#[tokio::test]
async fn us_users_need_a_us_origination_identity() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.sns_account("us-east-1", json!({"inSandbox": false, "monthlySpendLimit": "100"}));
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = resource("app", json!({"userPoolId": pool, "destinationCountries": ["US", "JP"]}));

    h.reconcile(&mut res).await;
    let (status, reason, _) = condition(&res, types::ORIGINATION_IDENTITY_AVAILABLE);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NoUsOriginationIdentity"));
    assert_eq!(condition(&res, types::PRODUCTION_READY).1, "NoUsOriginationIdentity");

    emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [
            {"phoneNumber": "+18885550100", "type": "TOLL_FREE"},
            {"phoneNumber": "+12065550100", "type": "TEN_DLC"},
            {"phoneNumber": "+815055501000", "country": "JP", "type": "LONG_CODE"}
        ]}),
    );
    h.reconcile(&mut res).await;
    let (status, _, message) = condition(&res, types::ORIGINATION_IDENTITY_AVAILABLE);
    assert_eq!(status, "True");
    assert!(message.contains("the account sends from a 10DLC number"), "{message}");
    let identities = &res.status.as_ref().unwrap().origination_identities;
    assert_eq!(
        identities.iter().map(|i| i.type_.as_str()).collect::<Vec<_>>(),
        ["TenDlc", "TollFree", "LongCode"]
    );
    assert_eq!(identities[0].phone_number.as_deref(), Some("+*******0100"));
    assert!(identities[0].arn.as_deref().unwrap().contains(":sms-voice:us-east-1:"));
    assert_eq!(condition(&res, types::PRODUCTION_READY).0, "True");

    // The account's state is End User Messaging's: where the operator may not read it, every
    // account condition says so, and the pool stays configured.
    emu.inject_fault("sms-voice", "DescribePhoneNumbers", "AccessDeniedException", 1);
    h.reconcile(&mut res).await;
    let (status, reason, message) = condition(&res, types::ORIGINATION_IDENTITY_AVAILABLE);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "AccessDenied"));
    assert!(
        message.contains("sms-voice DescribePhoneNumbers failed: AccessDeniedException"),
        "{message}"
    );
    assert_eq!(condition(&res, types::READY).0, "True");
}

/// The code texted to `number` in `region`, as that region's End User Messaging logged it.
fn code_texted_in(emu: &Emulator, region: &str, number: &str) -> String {
    let messages = emu.sms_voice_account(region, json!({}))["messages"].clone();
    let text = messages
        .as_array()
        .into_iter()
        .flatten()
        .rfind(|m| m["destinationPhoneNumber"] == number)
        .and_then(|m| m["messageBody"].as_str())
        .unwrap_or_else(|| panic!("an SMS was sent to the number in {region}"))
        .to_string();
    text.rsplit(' ').next().unwrap().to_string()
}

/// Each Region keeps its own sandbox: a number named for the secondary's Region is verified in
/// that Region's, apart from the same number in the primary's, and removed from there alone.
#[tokio::test]
async fn a_number_named_for_the_secondary_s_region_is_verified_in_that_region_s_sandbox() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    emu.replicas(json!({"createSeconds": 0}));
    emu.replicate("us-east-1", &pool, "us-west-2").await;
    for (region, toll_free) in [("us-east-1", "+18885550199"), ("us-west-2", "+18885550198")] {
        emu.sns_account(
            region,
            json!({"originationNumbers": [{"phoneNumber": toll_free, "type": "TOLL_FREE"}]}),
        );
    }
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let number = |key: &str, region: Option<&str>| json!({"phoneNumber": NUMBER, "region": region, "verificationCodeRef": {"name": "sms-codes", "key": key}});
    let mut res = resource(
        "app",
        json!({"userPoolId": pool, "sandboxPhoneNumbers": [number("east", None), number("west", Some("us-west-2"))]}),
    );
    h.reconcile(&mut res).await;

    let listed = |region: &str| emu.sms_voice_account(region, json!({}))["verifiedNumbers"][NUMBER]["status"].clone();
    assert_eq!(
        (listed("us-east-1"), listed("us-west-2")),
        (json!("PENDING"), json!("PENDING"))
    );
    let states = |res: &CognitoSmsConfig| -> Vec<(Option<String>, SandboxNumberState, bool)> {
        let status = res.status.as_ref().unwrap();
        status
            .sandbox_phone_numbers
            .iter()
            .map(|n| (n.region.clone(), n.state, n.added_by_operator))
            .collect()
    };
    let pending = SandboxNumberState::Pending;
    assert_eq!(
        states(&res),
        [
            (Some("us-east-1".into()), pending, true),
            (Some("us-west-2".into()), pending, true)
        ]
    );

    h.secrets
        .set("sms-codes", "east", &code_texted_in(&emu, "us-east-1", NUMBER));
    h.secrets
        .set("sms-codes", "west", &code_texted_in(&emu, "us-west-2", NUMBER));
    h.reconcile(&mut res).await;

    assert_eq!(
        (listed("us-east-1"), listed("us-west-2")),
        (json!("VERIFIED"), json!("VERIFIED"))
    );
    let (status, _, message) = condition(&res, types::PHONE_NUMBERS_VERIFIED);
    assert_eq!((status.as_str(), message.as_str()), ("True", "all 2 numbers verified"));

    // Dropped for the secondary's Region, once End User Messaging allows it (24 hours after
    // verifying): removed there, kept in the primary's.
    res.spec.sandbox_phone_numbers.truncate(1);
    emu.sns_account("us-west-2", json!({"advanceClockSeconds": 25 * 3600}));
    let outcome = h.reconcile(&mut res).await;

    assert!(
        matches!(&outcome.changes[..], [Change::RemoveSandboxNumber { region, .. }] if region == "us-west-2"),
        "{:?}",
        outcome.changes
    );
    assert_eq!(
        (listed("us-east-1"), listed("us-west-2")),
        (json!("VERIFIED"), json!(null))
    );
    let verified = SandboxNumberState::Verified;
    assert_eq!(states(&res), [(Some("us-east-1".into()), verified, true)]);
}

/// A number for a Region the pool's path cannot send from is refused with what to fix, and the
/// others proceed.
#[tokio::test]
async fn a_number_for_a_region_without_the_pool_s_path_says_so() {
    let emu = Emulator::start();
    let pool = create_pool(&emu, "us-east-1", "app").await;
    can_text_us(&emu);
    let h = Harness::with_ttl(&emu, Duration::ZERO).await;
    let mut res = with_numbers(&pool, &[NUMBER]);
    res.spec.end_user_messaging = Some(Default::default());
    let mut elsewhere = res.spec.sandbox_phone_numbers[0].clone();
    elsewhere.region = Some("ap-east-1".into());
    res.spec.sandbox_phone_numbers.push(elsewhere);

    h.reconcile(&mut res).await;

    let (status, reason, message) = condition(&res, types::PHONE_NUMBERS_VERIFIED);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidSpec"));
    assert!(
        message.contains("region ap-east-1: pools in ap-east-1 cannot send SMS directly"),
        "{message}"
    );
    assert_eq!(
        emu.sms_voice_account("us-east-1", json!({}))["verifiedNumbers"][NUMBER]["status"],
        "PENDING",
        "the primary's number is added all the same"
    );
}
