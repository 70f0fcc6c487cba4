//! Sandbox destination numbers: added, verified with the code from their Secret, removed only
//! when this resource added them, and the account's shared state forgotten after each write.

use std::collections::HashSet;

use serde_json::json;

use super::*;
use crate::conditions::reasons;
use crate::crd::{RESEND_CODES_ANNOTATION, SandboxNumberState, SandboxNumberStatus};
use crate::reconcile::Requeue;

const NUMBER: &str = "+14255550100";

fn with_number() -> CognitoSmsConfig {
    app(json!({
        "externalId": "ext",
        "sandboxPhoneNumbers": [{"phoneNumber": NUMBER, "verificationCodeRef": {"name": "codes", "key": "k"}}]
    }))
}

fn number_state(res: &CognitoSmsConfig) -> (SandboxNumberState, String) {
    let n = &res.status.as_ref().unwrap().sandbox_phone_numbers[0];
    (n.state, n.reason.clone())
}

#[tokio::test]
async fn a_number_is_added_then_verified_with_the_code_from_its_secret() {
    let mut w = converged();
    let mut res = with_number();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(reasons(&report), ["SandboxNumberAdded"]);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::CODE_SENT.into())
    );
    assert!(res.status.as_ref().unwrap().sandbox_phone_numbers[0].added_by_operator);
    assert_eq!(condition(&res, types::PHONE_NUMBERS_VERIFIED).1, reasons::AWAITING_CODE);
    assert_eq!(
        w.forgotten(),
        1,
        "the shared account state is read again after the write"
    );

    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty(), "no code yet: nothing to do");
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::AWAITING_CODE.into())
    );

    w.codes.insert("codes".into(), secret_code("482916", "7"));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(reasons(&report), ["SandboxNumberVerified"]);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Verified, reasons::VERIFIED.into())
    );
    assert!(res.status.as_ref().unwrap().sandbox_phone_numbers[0].added_by_operator);
    assert_eq!(
        condition(&res, types::PHONE_NUMBERS_VERIFIED),
        (ConditionStatus::True, reasons::ALL_VERIFIED.into())
    );
    assert!(!format!("{report:?}").contains("482916"), "the code never prints");
}

#[tokio::test]
async fn a_refused_code_is_not_tried_again_until_the_secret_changes() {
    let mut w = converged();
    listed(&mut w, NUMBER, Listed::Pending);
    w.codes.insert("codes".into(), secret_code("000000", "7"));
    w.failing_writes.insert(
        "SandboxNumberVerified",
        aws_error_because("ValidationException", "VERIFICATION_CODE_MISMATCH"),
    );
    let mut res = with_number();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty());
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Failed, reasons::CODE_REJECTED.into())
    );
    assert_eq!(
        res.status.as_ref().unwrap().sandbox_phone_numbers[0]
            .rejected_secret_version
            .as_deref(),
        Some("7")
    );
    assert_eq!(w.forgotten(), 0, "a refused code changes nothing in the account");
    assert_eq!(report.requeue, Requeue::Resync);

    w.failing_writes.clear();
    w.sync(&mut res, Mode::Apply).await;
    assert!(w.writes().is_empty(), "the same Secret version is not tried again");

    w.codes.insert("codes".into(), secret_code("123456", "8"));
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.writes(), ["SandboxNumberVerified"]);
}

#[tokio::test]
async fn an_unreadable_secret_is_retried_with_backoff_but_a_refused_one_waits_for_a_person() {
    let mut w = converged();
    listed(&mut w, NUMBER, Listed::Pending);
    w.codes.insert(
        "codes".into(),
        Err(SecretError {
            message: "the operator may not read Secrets in namespace apps (403 Forbidden); grant it: kubectl ..."
                .into(),
            forbidden: true,
        }),
    );
    let mut res = with_number();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        report.requeue,
        Requeue::Resync,
        "no retry loop: only a person can grant access"
    );
    let message = &res.status.as_ref().unwrap().sandbox_phone_numbers[0].message;
    assert!(message.contains("grant it: kubectl"), "{message}");

    w.codes.insert("codes".into(), Err("connection reset".into()));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Backoff);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Failed, reasons::SECRET_UNREADABLE.into())
    );
    assert_eq!(
        condition(&res, types::PHONE_NUMBERS_VERIFIED),
        (ConditionStatus::False, reasons::SECRET_UNREADABLE.into())
    );
}

#[tokio::test]
async fn secrets_are_read_only_for_pending_numbers() {
    let mut w = converged();
    listed(&mut w, NUMBER, Listed::Verified);
    let mut res = with_number();
    w.sync(&mut res, Mode::Apply).await;
    assert!(!w.reads().iter().any(|r| r.starts_with("Secret/")), "{:?}", w.reads());
}

#[tokio::test]
async fn aws_refusals_of_a_number_are_reported_with_their_code() {
    let cases = [("InvalidParameter", Requeue::Resync), ("Throttling", Requeue::Backoff)];
    for (code, requeue) in cases {
        let mut w = converged();
        w.failing_writes.insert("SandboxNumberAdded", aws_error(code));
        let mut res = with_number();
        let report = w.sync(&mut res, Mode::Apply).await;
        assert_eq!(number_state(&res), (SandboxNumberState::Failed, code.to_string()));
        assert_eq!(
            condition(&res, types::PHONE_NUMBERS_VERIFIED).1,
            reasons::VERIFICATION_FAILED
        );
        assert_eq!(report.requeue, requeue, "{code}");
    }
}

/// A number dropped from the spec is removed only if this resource added it and no other lists it.
#[tokio::test]
async fn dropped_numbers_are_removed_only_when_ours_alone() {
    for (added_by_us, claimed, removed) in [(true, false, true), (false, false, false), (true, true, false)] {
        let w = converged();
        let mut res = with_number();
        w.sync(&mut res, Mode::Apply).await;
        res.status.as_mut().unwrap().sandbox_phone_numbers[0].added_by_operator = added_by_us;
        res.spec.sandbox_phone_numbers.clear();
        w.forget_calls();
        let others: HashSet<NumberAt> = claimed
            .then(|| NumberAt::new("eu-west-1", NUMBER))
            .into_iter()
            .collect();
        let report = w.sync_claimed(&mut res, Mode::Apply, &others).await;
        let expected: &[&str] = if removed { &["SandboxNumberRemoved"] } else { &[] };
        assert_eq!(
            reasons(&report),
            expected,
            "added by us: {added_by_us}, claimed: {claimed}"
        );
        assert!(res.status.as_ref().unwrap().sandbox_phone_numbers.is_empty() || !removed);
    }
}

/// Status identifies a number only under this installation's key, and status written with the
/// plain hash of earlier versions is still understood, then rewritten keyed.
#[tokio::test]
async fn status_identifies_numbers_under_the_installations_key_and_reads_the_unkeyed_ids() {
    let w = converged();
    let mut res = with_number();
    w.sync(&mut res, Mode::Apply).await;
    let recorded = &res.status.as_ref().unwrap().sandbox_phone_numbers[0];
    assert_eq!(recorded.id, IDS.id(NUMBER));
    assert_ne!(recorded.id, legacy_id(NUMBER), "not the plain hash");
    assert!(recorded.added_by_operator);

    // As an earlier version wrote it: the plain hash. The number is still known as ours.
    res.status.as_mut().unwrap().sandbox_phone_numbers[0].id = legacy_id(NUMBER);
    w.forget_calls();
    w.sync(&mut res, Mode::Apply).await;
    let recorded = &res.status.as_ref().unwrap().sandbox_phone_numbers[0];
    assert_eq!(recorded.id, IDS.id(NUMBER), "rewritten under the key");
    assert!(recorded.added_by_operator, "still known as added by the operator");

    res.status.as_mut().unwrap().sandbox_phone_numbers[0].id = legacy_id(NUMBER);
    res.spec.sandbox_phone_numbers.clear();
    w.forget_calls();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        ["SandboxNumberRemoved"],
        "removed as ours when dropped"
    );
}

/// The identifier earlier versions of the operator wrote.
fn legacy_id(number: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("cognitosms.io/phone:{number}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_removal_refused_within_24_hours_is_kept_and_tried_on_the_next_resync() {
    let mut w = converged();
    let mut res = with_number();
    w.sync(&mut res, Mode::Apply).await;
    res.spec.sandbox_phone_numbers.clear();
    w.failing_writes.insert(
        "SandboxNumberRemoved",
        aws_error_because("ConflictException", "RESOURCE_DELETION_NOT_ALLOWED"),
    );
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Resync);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Removing, reasons::REMOVAL_REFUSED.into())
    );
    let c = res.condition(types::PHONE_NUMBERS_VERIFIED).unwrap();
    assert!(
        c.message.contains("removing +*******0100 from the sandbox"),
        "{}",
        c.message
    );
}

#[tokio::test]
async fn a_dry_run_plans_numbers_without_texting_anyone() {
    let w = converged();
    let mut res = with_number();
    let report = w.sync(&mut res, Mode::DryRun).await;
    assert_eq!(reasons(&report), ["SandboxNumberAdded"]);
    assert!(w.writes().is_empty());
    assert_eq!(w.forgotten(), 0);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::CHANGES_PENDING.into())
    );
}

#[tokio::test]
async fn an_unreadable_account_leaves_every_account_condition_failed() {
    let mut w = converged();
    w.failing_reads.insert("AccountSms", aws_error("Throttling"));
    let mut res = with_number();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Backoff);
    for type_ in [
        types::SANDBOX_EXITED,
        types::PHONE_NUMBERS_VERIFIED,
        types::ORIGINATION_IDENTITY_AVAILABLE,
        types::SPEND_LIMIT_SUFFICIENT,
    ] {
        assert_eq!(
            condition(&res, type_),
            (ConditionStatus::False, reasons::THROTTLED.into()),
            "{type_}"
        );
    }
    assert_eq!(ready(&res).0, ConditionStatus::True, "the pool itself is configured");
}

fn unanswered(operation: &'static str) -> AwsError {
    AwsError::new(
        "sms-voice",
        operation,
        ErrorKind::TimedOut,
        "TimedOut",
        "no answer in time",
    )
}

fn resend_requested(res: &mut CognitoSmsConfig, at: &str) {
    res.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(RESEND_CODES_ANNOTATION.into(), at.into());
}

/// A send that may have texted the number is never repeated on the operator's own account: the
/// status says how to ask for another code, and asking sends exactly one.
#[tokio::test]
async fn a_code_that_may_have_gone_out_is_sent_again_only_when_asked() {
    let mut w = converged();
    listed(&mut w, NUMBER, Listed::Pending);
    let mut res = with_number();
    res.status.get_or_insert_with(Default::default).sandbox_phone_numbers = vec![SandboxNumberStatus {
        id: crate::testing::number_ids().id(NUMBER),
        phone_number: crate::account::mask(NUMBER),
        region: None,
        state: SandboxNumberState::Failed,
        reason: reasons::CODE_NOT_SENT.into(),
        message: String::new(),
        added_by_operator: true,
        rejected_secret_version: None,
    }];
    w.failing_writes.insert(
        "VerificationCodeSent",
        unanswered("SendDestinationNumberVerificationCode"),
    );
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::AWAITING_CODE.into())
    );
    let c = res.condition(types::PHONE_NUMBERS_VERIFIED).unwrap();
    assert!(c.message.contains(RESEND_CODES_ANNOTATION), "{}", c.message);

    w.failing_writes.clear();
    w.forget_calls();
    w.sync(&mut res, Mode::Apply).await;
    assert!(w.writes().is_empty(), "not texted again on its own");

    resend_requested(&mut res, "1764170000");
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.writes(), ["VerificationCodeSent"]);
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::CODE_SENT.into())
    );
    w.forget_calls();
    w.sync(&mut res, Mode::Apply).await;
    assert!(w.writes().is_empty(), "one request, one code");

    resend_requested(&mut res, "1764173600");
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.writes(), ["VerificationCodeSent"], "a new request, one more code");
}

/// A send AWS refused certainly texted nobody: it is tried again on the next reconcile.
#[tokio::test]
async fn a_refused_send_is_tried_again_but_an_unanswered_add_is_not_repeated() {
    let mut w = converged();
    w.failing_writes.insert("SandboxNumberAdded", aws_error("Throttling"));
    let mut res = with_number();
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(number_state(&res), (SandboxNumberState::Failed, "Throttling".into()));
    w.failing_writes.clear();
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.writes(), ["SandboxNumberAdded"], "a throttled add is retried");

    let mut w = converged();
    w.failing_writes.insert(
        "SandboxNumberAdded",
        unanswered("SendDestinationNumberVerificationCode"),
    );
    let mut res = with_number();
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        number_state(&res),
        (SandboxNumberState::Pending, reasons::AWAITING_CODE.into())
    );
    assert!(res.status.as_ref().unwrap().sandbox_phone_numbers[0].added_by_operator);
}
