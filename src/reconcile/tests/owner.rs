//! One manager per user pool: recorded on the pool (by the update that configures it, or by a
//! tag of its own), a pool recorded for another installation left alone, a pool another resource
//! manages not even read, and the record removed when the resource is deleted with `Delete`.

use serde_json::json;

use super::*;
use crate::conditions::reasons;
use crate::crd::{SandboxNumberState, SandboxNumberStatus};
use crate::desired::{Owner, Ownership, POOL_TAG_KEYS, TAG_INSTALLATION, TAG_NAME, ownership, pool_tags};
use crate::reconcile::{Requeue, cleanup};

fn tags_of(w: &World) -> BTreeMap<String, String> {
    w.state.lock().unwrap().pool.as_ref().unwrap().tags.clone()
}

/// The pool of a world whose tags are `pairs` alone.
fn tagged(w: &mut World, pairs: &[(&str, &str)]) {
    let pool = w.set().pool.as_mut().unwrap();
    pool.tags = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
}

/// A status that remembers a number the operator added.
pub(super) fn remembering() -> crate::crd::CognitoSmsConfigStatus {
    crate::crd::CognitoSmsConfigStatus {
        external_id: Some("ext".into()),
        managed_user_pool_id: Some(POOL.into()),
        sandbox_phone_numbers: vec![SandboxNumberStatus {
            id: crate::testing::number_ids().id("+14255550100"),
            phone_number: "********0100".into(),
            region: None,
            state: SandboxNumberState::Pending,
            reason: reasons::CODE_SENT.into(),
            message: "sent".into(),
            added_by_operator: true,
            rejected_secret_version: None,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_new_pool_is_recorded_by_the_update_that_configures_it_at_no_extra_call() {
    let mut w = World::new();
    tagged(&mut w, &[("team", "identity")]);
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        ["RoleCreated", "PermissionsPolicyUpdated", "SmsConfigurationUpdated"]
    );
    let tags = tags_of(&w);
    assert_eq!(tags.get(TAG_INSTALLATION).map(String::as_str), Some(INSTALLATION));
    assert_eq!(tags.get(TAG_NAME).map(String::as_str), Some("app"));
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("identity"),
        "the pool's own tags stay"
    );
    let status = res.status.as_ref().unwrap();
    assert_eq!(status.managed_user_pool_id.as_deref(), Some(POOL));

    w.forget_calls();
    let again = w.sync(&mut res, Mode::Apply).await;
    assert!(again.changes.is_empty(), "recorded once: {:?}", again.changes);
    assert_eq!(ready(&res).0, ConditionStatus::True);
}

#[tokio::test]
async fn a_pool_another_installation_manages_is_read_and_left_alone() {
    let mut w = World::new();
    tagged(
        &mut w,
        &[
            (TAG_INSTALLATION, "cluster-b/operators"),
            ("cognitosms.io/namespace", "payments"),
            (TAG_NAME, "sms"),
        ],
    );
    let mut res = app(json!({})).with_status(remembering());
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty());
    assert_eq!(report.requeue, Requeue::Resync, "only a person can change this");
    assert_eq!(
        w.reads(),
        ["GetCallerIdentity", "DescribeUserPool"],
        "nothing else is read"
    );
    assert_eq!(
        ready(&res),
        (ConditionStatus::False, reasons::POOL_OWNED_ELSEWHERE.into())
    );
    let message = &res.condition(types::READY).unwrap().message;
    assert!(
        message.contains("resource payments/sms of installation cluster-b/operators"),
        "{message}"
    );
    assert!(message.contains("untag-resource"), "{message}");
    let status = res.status.as_ref().unwrap();
    assert_eq!(status.managed_user_pool_id, None);
    assert_eq!(
        status.sandbox_phone_numbers,
        remembering().sandbox_phone_numbers,
        "what status remembers stays"
    );
}

#[tokio::test]
async fn a_pool_another_resource_manages_is_not_even_read() {
    let w = World::new();
    let mut res = app(json!({})).with_status(remembering());
    let report = w
        .sync_as(&mut res, Mode::Apply, &HashSet::new(), INSTALLATION, Some("team-a/sms"))
        .await;
    assert!(report.changes.is_empty());
    assert_eq!(w.reads(), Vec::<String>::new());
    assert_eq!(ready(&res), (ConditionStatus::False, reasons::POOL_CLAIMED.into()));
    let message = &res.condition(types::READY).unwrap().message;
    assert!(message.contains("managed by team-a/sms"), "{message}");
    let status = res.status.as_ref().unwrap();
    assert_eq!(status.managed_user_pool_id, None);
    assert_eq!(status.sandbox_phone_numbers, remembering().sandbox_phone_numbers);
    assert_eq!(status.external_id.as_deref(), Some("ext"));
}

#[tokio::test]
async fn a_configured_pool_is_adopted_with_a_tag_of_the_operators_keys_only() {
    let mut w = converged();
    tagged(&mut w, &[("team", "identity")]);
    let mut res = app(json!({"externalId": "ext"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    let [Change::TagUserPool { tags, arn, .. }] = &report.changes[..] else {
        panic!("one tag: {:?}", report.changes);
    };
    assert_eq!(tags.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut keys = POOL_TAG_KEYS.to_vec();
        keys.sort();
        keys
    });
    assert_eq!(*arn, pool_arn());
    assert_eq!(tags_of(&w).get("team").map(String::as_str), Some("identity"));
    assert_eq!(ready(&res).0, ConditionStatus::True);
}

#[tokio::test]
async fn the_next_resource_takes_over_the_pool_and_the_role_of_one_that_is_gone() {
    let mut w = converged();
    let gone = Owner {
        namespace: "team-a".into(),
        name: "sms".into(),
        uid: Some("u-gone".into()),
    };
    tagged(&mut w, &[]);
    w.set().pool.as_mut().unwrap().tags = pool_tags(INSTALLATION, &gone);
    w.set().roles.get_mut(ROLE).unwrap().tags = gone.tags();
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        ["RoleTagged", "UserPoolClaimed"],
        "{:?}: the role goes with the pool; its external ID stays, so the pool's SMS settings need no update (and \
         Cognito sends no test SMS)",
        res.status
    );
    assert_eq!(tags_of(&w).get(TAG_NAME).map(String::as_str), Some("app"));
    let role = w.state.lock().unwrap().roles[ROLE].clone();
    assert_eq!(ownership(&role.tags, &Owner::of(&res)), Ownership::Ours);
    assert_eq!(ready(&res).0, ConditionStatus::True);

    // A role managed for another resource than the pool's last manager stays that resource's.
    let mut w = converged();
    w.set().roles.get_mut(ROLE).unwrap().tags = gone.tags();
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(condition(&res, types::ROLE_READY).1, reasons::ROLE_NAME_CONFLICT);
}

#[tokio::test]
async fn a_record_that_cannot_be_written_is_reported_with_the_permission_it_needs() {
    let mut w = converged();
    w.set().pool.as_mut().unwrap().tags.clear();
    w.failing_writes
        .insert("UserPoolClaimed", aws_error("AccessDeniedException"));
    let mut res = app(json!({"externalId": "ext"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert_eq!(condition(&res, types::USER_POOL_CONFIGURED).1, reasons::ACCESS_DENIED);
    let message = &res.condition(types::READY).unwrap().message;
    assert!(message.contains("cognito-idp:TagResource"), "{message}");

    w.failing_writes
        .insert("UserPoolClaimed", aws_error("ServiceUnavailable"));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(report.requeue, Requeue::Backoff, "a passing failure is retried");
}

#[tokio::test]
async fn deletion_releases_the_pool_only_when_it_is_recorded_for_this_resource() {
    let w = converged();
    let res = app(json!({"deletionPolicy": "Delete", "externalId": "ext"}));
    let env = w.env();
    let done = cleanup(&env, &res, Mode::Apply).await.unwrap();
    assert!(
        done.changes.is_empty(),
        "the role stays while the pool uses it, and so does the pool's record: {:?}",
        done.changes
    );
    assert_eq!(tags_of(&w).get(TAG_NAME).map(String::as_str), Some("app"));

    let mut w = converged();
    let other_role = SmsConfig {
        caller_arn: "arn:aws:iam::123456789012:role/team".into(),
        external_id: None,
        region: None,
        direct: None,
    };
    w.set().pool.as_mut().unwrap().sms = Some(other_role);
    let env = w.env();
    let done = cleanup(&env, &res, Mode::Apply).await.unwrap();
    let released: Vec<_> = done.changes.iter().map(Change::event_reason).collect();
    assert_eq!(released, ["RoleDeleted", "UserPoolReleased"]);
    assert!(
        POOL_TAG_KEYS.iter().all(|k| !tags_of(&w).contains_key(*k)),
        "{:?}",
        tags_of(&w)
    );

    let mut other = converged();
    tagged(&mut other, &[(TAG_INSTALLATION, "cluster-b/operators")]);
    let env = other.env();
    let done = cleanup(&env, &res, Mode::Apply).await.unwrap();
    assert!(done.changes.is_empty() && done.kept.is_empty(), "{:?}", done.changes);
    assert!(other.writes().is_empty());
}
