//! The pool: read, pointed at the role with every other setting sent back, left alone when it
//! sends SMS another way.

use serde_json::json;

use super::*;
use crate::conditions::reasons;
use crate::reconcile::Requeue;

#[tokio::test]
async fn the_update_says_only_what_changes() {
    let w = converged();
    let mut res = app(json!({"externalId": "another"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    let Some(Change::UpdateSmsConfiguration { from, to, add_tags, .. }) = report.changes.last() else {
        panic!("a pool update: {:?}", report.changes);
    };
    assert_eq!(from.as_ref().and_then(|f| f.external_id.as_deref()), Some("ext"));
    assert_eq!(to.external_id.as_deref(), Some("another"));
    assert!(add_tags.is_empty(), "the pool already records its owner: {add_tags:?}");
}

#[tokio::test]
async fn a_pool_in_shape_is_not_written() {
    let w = converged();
    let mut res = app(json!({"externalId": "ext"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty());
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED),
        (ConditionStatus::True, reasons::SMS_CONFIGURATION_IN_SYNC.into())
    );
}

#[tokio::test]
async fn a_missing_pool_is_waited_for_with_backoff() {
    let mut w = World::new();
    w.set().pool = None;
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Backoff);
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED).1,
        reasons::USER_POOL_NOT_FOUND
    );
    assert_eq!(condition(&res, types::ROLE_READY).1, reasons::WAITING_FOR_USER_POOL);
    assert!(!w.reads().contains(&"GetRole".to_string()));
}

#[tokio::test]
async fn an_unreadable_pool_is_reported_by_its_error() {
    let mut w = World::new();
    w.failing_reads
        .insert("DescribeUserPool", aws_error("AccessDeniedException"));
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Resync);
    assert_eq!(condition(&res, types::USER_POOL_CONFIGURED).1, reasons::ACCESS_DENIED);
}

#[tokio::test]
async fn a_pool_on_the_direct_path_moves_to_sns_when_the_spec_says_so() {
    let mut w = converged();
    let eums = SmsConfig {
        caller_arn: role_arn(),
        external_id: None,
        region: None,
        direct: Some(Default::default()),
    };
    w.set().pool.as_mut().unwrap().sms = Some(eums);
    let mut res = app(json!({"externalId": "ext"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(reasons(&report), ["SmsConfigurationUpdated"]);
    let pool = w.state.lock().unwrap().pool.clone().unwrap();
    let sms = pool.sms.unwrap();
    assert_eq!(sms.caller_arn, role_arn());
    assert!(sms.direct.is_none(), "one path at a time");
}

#[tokio::test]
async fn iam_propagation_is_waited_out() {
    let mut w = World::new();
    w.failing_writes.insert(
        "SmsConfigurationUpdated",
        aws_error("InvalidSmsRoleTrustRelationshipException"),
    );
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Backoff);
    assert_eq!(reasons(&report), ["RoleCreated", "PermissionsPolicyUpdated"]);
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED),
        (ConditionStatus::Unknown, reasons::IAM_PROPAGATION_PENDING.into())
    );
    assert_eq!(ready(&res).0, ConditionStatus::Unknown);
    assert_eq!(res.status.as_ref().unwrap().role_arn, Some(role_arn()));

    w.failing_writes.clear();
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        ["SmsConfigurationUpdated"],
        "only the pool is left to do"
    );
    assert_eq!(ready(&res).0, ConditionStatus::True);
}

#[tokio::test]
async fn a_rejected_update_is_terminal() {
    let mut w = converged();
    w.failing_writes
        .insert("SmsConfigurationUpdated", aws_error("InvalidParameterException"));
    let mut res = app(json!({"snsRegion": "eu-west-1", "externalId": "other"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Resync);
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED),
        (ConditionStatus::False, reasons::AWS_REQUEST_REJECTED.into())
    );
}
