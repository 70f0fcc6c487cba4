//! What status remembers (the numbers this operator added, the codes refused, the external ID)
//! survives every reconcile that cannot read AWS, and every invalid spec: it is the only record of
//! what to remove later and of what not to submit again.

use serde_json::json;

use super::owner::remembering;
use super::*;

fn numbers_kept(res: &CognitoSmsConfig) {
    let status = res.status.as_ref().unwrap();
    assert_eq!(status.sandbox_phone_numbers, remembering().sandbox_phone_numbers);
    assert_eq!(status.external_id.as_deref(), Some("ext"));
}

#[tokio::test]
async fn a_failed_read_of_the_account_forgets_nothing() {
    for code in ["ThrottlingException", "ServiceUnavailable", "AccessDeniedException"] {
        let mut w = converged();
        w.failing_reads.insert("AccountSms", aws_error(code));
        let mut res = app(json!({})).with_status(remembering());
        w.sync(&mut res, Mode::Apply).await;
        numbers_kept(&res);
    }
}

#[tokio::test]
async fn a_failed_identity_check_forgets_nothing() {
    let mut w = converged();
    w.account_error = Some(aws_error("ExpiredTokenException"));
    let mut res = app(json!({})).with_status(remembering());
    w.sync(&mut res, Mode::Apply).await;
    numbers_kept(&res);
    assert_eq!(ready(&res).0, ConditionStatus::False);
}

#[tokio::test]
async fn an_invalid_spec_forgets_nothing() {
    let w = converged();
    let mut res = app(json!({"snsRegion": "ap-northeast-3"})).with_status(remembering());
    w.sync(&mut res, Mode::Apply).await;
    assert_eq!(ready(&res).0, ConditionStatus::False);
    numbers_kept(&res);
    assert_eq!(res.status.as_ref().unwrap().managed_user_pool_id.as_deref(), Some(POOL));
}

/// A reconcile cut off by its deadline reports the writes it completed: the number it added is
/// remembered as the operator's, and the one write cut off is retried.
#[tokio::test]
async fn a_reconcile_cut_off_by_its_deadline_remembers_the_writes_it_completed() {
    let mut w = converged();
    w.hanging_writes = Some(Box::new(
        |c| matches!(c, Change::AddSandboxNumber { number, .. } if number == "+14255550199"),
    ));
    let mut res = app(json!({
        "externalId": "ext",
        "sandboxPhoneNumbers": [
            {"phoneNumber": "+14255550100", "verificationCodeRef": {"name": "codes", "key": "k"}},
            {"phoneNumber": "+14255550199", "verificationCodeRef": {"name": "codes", "key": "k"}},
        ]
    }));
    let env = w.env();
    let report = crate::reconcile::sync_within(
        &env,
        &res,
        Mode::Apply,
        Timestamp::from_second(1_800_000_000).unwrap(),
        std::time::Duration::from_millis(200),
    )
    .await;
    res.status = Some(report.status.clone());
    assert_eq!(w.writes(), ["SandboxNumberAdded"]);
    assert_eq!(
        report.changes.iter().map(Change::event_reason).collect::<Vec<_>>(),
        ["SandboxNumberAdded"],
        "announced as any completed write"
    );
    let number = &report.status.sandbox_phone_numbers[0];
    assert!(number.added_by_operator, "{number:?}");
    assert_eq!(ready(&res), (ConditionStatus::Unknown, "ReconcileTimedOut".into()));
    assert_eq!(report.requeue, crate::reconcile::Requeue::Backoff);
}

/// The numbers the operator adds carry its tags, so a crash between adding one and writing
/// status loses nothing: with no record in status, the number's tags say who added it.
#[tokio::test]
async fn a_number_added_before_a_crash_is_known_by_its_tags() {
    let number = "+14255550100";
    let spec = json!({
        "externalId": "ext",
        "deletionPolicy": "Delete",
        "sandboxPhoneNumbers": [{"phoneNumber": number, "verificationCodeRef": {"name": "codes", "key": "k"}}]
    });
    let w = converged();
    let mut res = app(spec.clone());
    w.sync(&mut res, Mode::Apply).await;
    let Some(Change::AddSandboxNumber { tags, .. }) = w.state.lock().unwrap().changes.first().cloned() else {
        panic!("the number is added first");
    };
    assert_eq!(tags.get("cognitosms.io/name").map(String::as_str), Some("app"));

    // The status write never happened.
    let mut after_crash = app(spec.clone());
    w.sync(&mut after_crash, Mode::Apply).await;
    let numbers = &after_crash.status.as_ref().unwrap().sandbox_phone_numbers;
    assert!(numbers[0].added_by_operator, "{numbers:?}");

    // A number someone else added (untagged, or tagged for another resource) stays theirs.
    let mut other = converged();
    listed(&mut other, number, Listed::Pending);
    let mut res = app(spec);
    other.sync(&mut res, Mode::Apply).await;
    assert!(!res.status.as_ref().unwrap().sandbox_phone_numbers[0].added_by_operator);
}
