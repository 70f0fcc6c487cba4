//! The operator killed at every write step, end to end: AWS carries out the write, the operator
//! dies before it hears the answer (so before it can record anything in the status), and a new
//! operator takes over. Whatever step it died at, the restarted operator converges to one managed
//! role, leaves every other pool setting as it was, repeats no write that already took effect,
//! and texts each sandbox number one code in all.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::*;
use support::*;

use cognito_sms_operator::crd::RESEND_CODES_ANNOTATION;

const NUMBER: &str = "+14255550100";
const DAY: u64 = 24 * 60 * 60;
const WAIT: Duration = Duration::from_secs(30);

/// A cluster with the customised pool and the account's toll-free number (End User Messaging
/// texts US numbers only from a US identity).
async fn cluster() -> (Cluster, String) {
    let c = Cluster::start().await;
    c.emu.sns_account(
        "us-east-1",
        json!({"originationNumbers": [{"phoneNumber": "+18885550199", "type": "TOLL_FREE"}]}),
    );
    let pool = create_customised_pool(&c.emu, "us-east-1").await;
    (c, pool)
}

fn operator(c: &Cluster) -> Operator {
    c.operator(&["--resync-period", "1s"])
}

fn spec(pool: &str, numbers: bool) -> Value {
    let numbers: Vec<Value> = if numbers {
        vec![json!({"phoneNumber": NUMBER, "verificationCodeRef": {"name": "codes", "key": "qa"}})]
    } else {
        vec![]
    };
    json!({"userPoolId": pool, "sandboxPhoneNumbers": numbers})
}

/// Let the next successful `action` take effect but keep its answer, and every later call,
/// from the operator.
fn hold_answer_of(emu: &Emulator, action: &str) {
    emu.hold_after(action, false);
}

/// Wait until the held write took effect, kill the operator, then let AWS go on.
async fn kill_after_held_write(emu: &Emulator, op: &mut Operator, action: &str) {
    eventually(op, WAIT, &format!("{action} to take effect"), || async move {
        emu.hold_triggered().then_some(())
    })
    .await;
    op.kill();
    emu.release_hold();
}

/// The codes texted to the sandbox number so far.
fn codes_texted(emu: &Emulator) -> Vec<String> {
    emu.sms_messages()
        .into_iter()
        .filter(|(to, _)| to == NUMBER)
        .map(|(_, text)| text.rsplit(' ').next().unwrap_or_default().to_string())
        .collect()
}

async fn put_code(c: &Cluster, code: &str) {
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "codes"}, "stringData": {"qa": code}})).unwrap();
    c.api::<Secret>().create(&PostParams::default(), &secret).await.unwrap();
}

/// Wait for the code texted to the number and put it in the Secret.
async fn answer_the_text(c: &Cluster, op: &Operator) {
    let emu = &c.emu;
    let code = eventually(op, WAIT, "a code texted", || async move { codes_texted(emu).pop() }).await;
    put_code(c, &code).await;
}

async fn wait_condition(c: &Cluster, op: &Operator, type_: &str, status: &str) {
    let api = c.csms();
    eventually(op, WAIT, &format!("{type_}={status}"), || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let current = r.status.as_ref()?.observed_generation == r.metadata.generation;
            let c = r.condition(type_)?;
            (current && c.status == status).then_some(())
        }
    })
    .await
}

/// How many times the emulator served `action`.
fn served(emu: &Emulator, action: &str) -> usize {
    emu.calls().iter().filter(|(_, a)| a == action).count()
}

/// Every role the operator could have created for the pool.
async fn managed_roles(emu: &Emulator) -> Vec<String> {
    let roles = emu.iam().await.list_roles().send().await.unwrap();
    roles
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n.starts_with("cognito-sms-"))
        .collect()
}

/// What must hold once the restarted operator converged, whatever step the first one died at.
async fn check_converged(
    c: &Cluster,
    op: &Operator,
    pool: &str,
    before: &aws_sdk_cognitoidentityprovider::types::UserPoolType,
) {
    let res = wait_ready(c, op, "app").await;
    assert_eq!(managed_roles(&c.emu).await.len(), 1, "one managed role");
    let mut after = pool_but_sms(&c.emu, "us-east-1", pool).await;
    let tags = after.user_pool_tags.get_or_insert_default();
    let name = tags.get("cognitosms.io/name").cloned();
    assert_eq!(
        name.as_deref(),
        Some("app"),
        "the pool records who manages it: {tags:?}"
    );
    tags.retain(|k, _| !k.starts_with("cognitosms.io/"));
    assert_eq!(&after, before, "no other pool setting changed");
    let role_arn = res
        .status
        .as_ref()
        .and_then(|s| s.role_arn.clone())
        .expect("a role in the status");
    let sms = c
        .emu
        .sms_configuration("us-east-1", pool)
        .await
        .expect("SMS configured");
    assert_eq!(sms.sns_caller_arn(), role_arn.as_str());
    for action in ["CreateRole", "PutRolePolicy", "UpdateUserPool"] {
        assert_eq!(served(&c.emu, action), 1, "{action} is not repeated");
    }
}

/// Kill the operator after `action` took effect while a fresh resource is set up; a new operator
/// then converges it, with the number verified.
async fn killed_while_setting_up(action: &str) {
    let (c, pool) = cluster().await;
    let before = pool_but_sms(&c.emu, "us-east-1", &pool).await;
    hold_answer_of(&c.emu, action);
    let mut first = operator(&c);
    c.create("app", spec(&pool, true)).await;
    if action == "VerifyDestinationNumber" {
        answer_the_text(&c, &first).await;
    }
    kill_after_held_write(&c.emu, &mut first, action).await;

    let op = operator(&c);
    if action == "CreateVerifiedDestinationNumber" {
        // The number was added but never texted: nothing arrives, so the user asks for a code
        // as the status tells them to.
        let api = c.csms();
        eventually(&op, WAIT, "a hint to ask for a code", || {
            let api = api.clone();
            async move {
                let r = api.get("app").await.ok()?;
                let c = r.condition("PhoneNumbersVerified")?;
                (c.status == "False" && c.message.contains(RESEND_CODES_ANNOTATION)).then_some(())
            }
        })
        .await;
        assert!(codes_texted(&c.emu).is_empty());
        let ask = json!({"metadata": {"annotations": {RESEND_CODES_ANNOTATION: "1"}}});
        c.csms()
            .patch("app", &PatchParams::default(), &Patch::Merge(&ask))
            .await
            .unwrap();
    }
    if action != "VerifyDestinationNumber" {
        answer_the_text(&c, &op).await;
    }
    wait_condition(&c, &op, "PhoneNumbersVerified", "True").await;
    check_converged(&c, &op, &pool, &before).await;
    assert_eq!(codes_texted(&c.emu).len(), 1, "the number got one code in all");
    assert_eq!(served(&c.emu, "CreateVerifiedDestinationNumber"), 1);
    assert!(
        served(&c.emu, "VerifyDestinationNumber") <= 1,
        "a verified number is not verified again"
    );
    let log = format!("{}{}", first.log(), op.log());
    for code in codes_texted(&c.emu) {
        assert!(!log.contains(&code), "a verification code was logged");
    }
}

#[tokio::test]
async fn killed_after_creating_the_role() {
    killed_while_setting_up("CreateRole").await;
}

#[tokio::test]
async fn killed_after_putting_the_role_policy() {
    killed_while_setting_up("PutRolePolicy").await;
}

#[tokio::test]
async fn killed_after_updating_the_pool() {
    killed_while_setting_up("UpdateUserPool").await;
}

#[tokio::test]
async fn killed_after_adding_the_number() {
    killed_while_setting_up("CreateVerifiedDestinationNumber").await;
}

#[tokio::test]
async fn killed_after_texting_the_code() {
    killed_while_setting_up("SendDestinationNumberVerificationCode").await;
}

#[tokio::test]
async fn killed_after_verifying_the_number() {
    killed_while_setting_up("VerifyDestinationNumber").await;
}

/// Killed after removing a number dropped from the spec: the new operator does not try to
/// remove it again, and forgets it.
#[tokio::test]
async fn killed_after_removing_a_number() {
    let (c, pool) = cluster().await;
    let before = pool_but_sms(&c.emu, "us-east-1", &pool).await;
    let mut first = operator(&c);
    c.create("app", spec(&pool, true)).await;
    answer_the_text(&c, &first).await;
    wait_condition(&c, &first, "PhoneNumbersVerified", "True").await;
    // End User Messaging refuses removal within 24 hours of verification.
    c.emu
        .sms_voice_account("us-east-1", json!({"advanceClockSeconds": DAY + 1}));
    hold_answer_of(&c.emu, "DeleteVerifiedDestinationNumber");
    let drop_it = json!({"spec": {"sandboxPhoneNumbers": []}});
    c.csms()
        .patch("app", &PatchParams::default(), &Patch::Merge(&drop_it))
        .await
        .unwrap();
    kill_after_held_write(&c.emu, &mut first, "DeleteVerifiedDestinationNumber").await;

    let op = operator(&c);
    let api = c.csms();
    eventually(&op, WAIT, "the number forgotten", || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            let s = r.status?;
            (s.observed_generation == r.metadata.generation && s.sandbox_phone_numbers.is_empty()).then_some(())
        }
    })
    .await;
    check_converged(&c, &op, &pool, &before).await;
    assert_eq!(
        served(&c.emu, "DeleteVerifiedDestinationNumber"),
        1,
        "not removed twice"
    );
    let eum = aws_sdk_pinpointsmsvoicev2::Client::new(&c.emu.sdk_config("us-east-1").await);
    let listed = eum.describe_verified_destination_numbers().send().await.unwrap();
    assert!(listed.verified_destination_numbers().is_empty(), "{listed:?}");
}

/// Status identifies the sandbox number under the key the operator keeps in a Secret of its own
/// namespace, not by a plain hash of the number, and a restarted operator reads the same key.
#[tokio::test]
async fn a_restarted_operator_identifies_numbers_with_the_same_key() {
    let (c, pool) = cluster().await;
    let mut first = operator(&c);
    c.create("app", spec(&pool, true)).await;
    let api = c.csms();
    let recorded = || {
        let api = api.clone();
        async move {
            let r = api.get("app").await.ok()?;
            r.status?.sandbox_phone_numbers.first().map(|n| n.id.clone())
        }
    };
    let id = eventually(&first, WAIT, "the number in status", recorded).await;
    let ids = c.number_ids().await.expect("the operator created its key");
    assert_eq!(id, ids.id(NUMBER), "keyed with the installation's key");
    first.kill();

    answer_the_text(&c, &first).await;
    let op = operator(&c);
    wait_condition(&c, &op, "PhoneNumbersVerified", "True").await;
    assert_eq!(
        recorded().await.as_deref(),
        Some(id.as_str()),
        "the same identifier after a restart"
    );
}
