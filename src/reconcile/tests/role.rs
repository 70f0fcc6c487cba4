//! The role: create, adopt, repair, refuse; existing roles checked, never written.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::conditions::reasons;
use crate::desired::{TAG_NAME, TAG_UID};
use crate::reconcile::Requeue;

#[tokio::test]
async fn a_missing_role_is_created_then_nothing_more_happens() {
    let w = World::new();
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(
        reasons(&report),
        ["RoleCreated", "PermissionsPolicyUpdated", "SmsConfigurationUpdated"]
    );
    assert_eq!(ready(&res), (ConditionStatus::True, reasons::READY.into()));
    assert_eq!(report.requeue, Requeue::Resync);
    let status = res.status.clone().unwrap();
    assert_eq!(status.role_arn, Some(role_arn()));
    let external_id = status.external_id.expect("a new external ID");
    assert_eq!(external_id.len(), 32);

    w.forget_calls();
    let again = w.sync(&mut res, Mode::Apply).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(w.writes().is_empty());
    assert_eq!(res.status.unwrap().external_id, Some(external_id), "kept");
}

/// A way the role found under the managed name can differ from what the spec asks, and what
/// the operator does about it.
struct Case {
    name: &'static str,
    shape: fn(&mut ObservedRole),
    inline: Inline,
    writes: &'static [&'static str],
    role: (ConditionStatus, &'static str),
}

/// The role's inline publish policy.
#[derive(Clone, Copy)]
enum Inline {
    AsManaged,
    Deleted,
    Widened,
}

const IN_SYNC: (ConditionStatus, &str) = (ConditionStatus::True, reasons::ROLE_IN_SYNC);
const CONFLICT: (ConditionStatus, &str) = (ConditionStatus::False, reasons::ROLE_NAME_CONFLICT);

const CASES: &[Case] = &[
    Case {
        name: "in shape",
        shape: |_| {},
        inline: Inline::AsManaged,
        writes: &[],
        role: IN_SYNC,
    },
    Case {
        name: "ours, made for a deleted resource of the same name (adopted, uid refreshed)",
        shape: |r| {
            r.tags.insert(TAG_UID.into(), "old-uid".into());
        },
        inline: Inline::AsManaged,
        writes: &["RoleTagged"],
        role: IN_SYNC,
    },
    Case {
        name: "trust policy edited",
        shape: |r| {
            r.trust_policy = policy::trust_policy(
                ACCOUNT,
                &["arn:aws:cognito-idp:*:*:userpool/*".to_string()],
                Some("ext"),
            )
        },
        inline: Inline::AsManaged,
        writes: &["TrustPolicyUpdated"],
        role: IN_SYNC,
    },
    Case {
        name: "publish policy deleted",
        shape: |_| {},
        inline: Inline::Deleted,
        writes: &["PermissionsPolicyUpdated"],
        role: IN_SYNC,
    },
    Case {
        name: "publish policy widened",
        shape: |_| {},
        inline: Inline::Widened,
        writes: &["PermissionsPolicyUpdated"],
        role: IN_SYNC,
    },
    Case {
        name: "a boundary someone added",
        shape: |r| r.permissions_boundary = Some(format!("arn:aws:iam::{ACCOUNT}:policy/b")),
        inline: Inline::AsManaged,
        writes: &["PermissionsBoundaryUpdated"],
        role: IN_SYNC,
    },
    Case {
        name: "managed for another resource",
        shape: |r| {
            r.tags.insert(TAG_NAME.into(), "other".into());
        },
        inline: Inline::AsManaged,
        writes: &[],
        role: CONFLICT,
    },
    Case {
        name: "not made by the operator",
        shape: |r| r.tags = BTreeMap::new(),
        inline: Inline::AsManaged,
        writes: &[],
        role: CONFLICT,
    },
    Case {
        name: "at another path",
        shape: |r| r.path = "/teams/".into(),
        inline: Inline::AsManaged,
        writes: &[],
        role: (ConditionStatus::False, reasons::ROLE_PATH_MISMATCH),
    },
];

impl Case {
    fn world(&self) -> World {
        let mut w = converged();
        let state = w.set();
        (self.shape)(state.roles.get_mut(ROLE).unwrap());
        let inline = match self.inline {
            Inline::AsManaged => Some(policy::publish_policy()),
            Inline::Deleted => None,
            Inline::Widened => Some(json!({"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})),
        };
        state.inline = inline
            .into_iter()
            .map(|d| (PUBLISH_POLICY_NAME.to_string(), d))
            .collect();
        w
    }
}

#[tokio::test]
async fn roles_found_in_iam_are_adopted_repaired_or_refused() {
    for case in CASES {
        let w = case.world();
        let mut res = app(json!({"externalId": "ext"}));
        w.sync(&mut res, Mode::Apply).await;
        assert_eq!(w.writes(), case.writes, "{}", case.name);
        let (status, reason) = condition(&res, types::ROLE_READY);
        assert_eq!((status, reason.as_str()), case.role, "{}", case.name);
        if case.role.0 == ConditionStatus::False {
            assert!(
                !w.reads().contains(&"GetRolePolicy".to_string()),
                "{}: a role that is not ours is not read further",
                case.name
            );
            assert_eq!(
                condition(&res, types::USER_POOL_CONFIGURED).1,
                reasons::WAITING_FOR_ROLE
            );
        }
    }
}

#[tokio::test]
async fn a_lost_status_keeps_the_external_id_of_the_role() {
    let w = converged();
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(res.status.unwrap().external_id.as_deref(), Some("ext"));
}

#[tokio::test]
async fn a_new_external_id_in_the_spec_reaches_trust_policy_and_pool() {
    let w = converged();
    let mut res = app(json!({"externalId": "new-id"}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(reasons(&report), ["TrustPolicyUpdated", "SmsConfigurationUpdated"]);
    let state = w.state.lock().unwrap();
    assert_eq!(
        policy::external_id_of(&state.roles[ROLE].trust_policy).as_deref(),
        Some("new-id")
    );
}

/// A team's own role for the pool, trusting Cognito with the confused-deputy conditions.
fn team_role() -> ObservedRole {
    ObservedRole {
        name: "Sms".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:role/team/Sms"),
        path: "/team/".into(),
        trust_policy: policy::trust_policy(ACCOUNT, &[pool_arn()], None),
        permissions_boundary: None,
        tags: BTreeMap::new(),
    }
}

/// An existing role: every gap named, nothing written to it, the pool pointed at it when usable.
#[tokio::test]
async fn existing_roles_are_checked_and_never_written() {
    let role = team_role();
    let arn = role.arn.clone();
    let publish = vec![policy::publish_policy()];
    // (case, the role found, its policy documents, RoleReady's reason, the writes made)
    type Row<'a> = (&'a str, Option<ObservedRole>, Vec<Value>, &'a str, &'a [&'a str]);
    let updated: &[&str] = &["SmsConfigurationUpdated"];
    let cases: [Row; 5] = [
        (
            "usable",
            Some(role.clone()),
            publish.clone(),
            reasons::ROLE_VALID,
            updated,
        ),
        (
            "without sns:Publish",
            Some(role.clone()),
            vec![],
            reasons::PERMISSIONS_INCOMPLETE,
            &[],
        ),
        (
            "trusting any pool",
            Some(ObservedRole {
                trust_policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                ..role.clone()
            }),
            publish.clone(),
            reasons::TRUST_POLICY_INCOMPLETE,
            &[],
        ),
        ("missing", None, vec![], reasons::ROLE_NOT_FOUND, &[]),
        (
            "named elsewhere",
            Some(ObservedRole {
                arn: format!("arn:aws:iam::{ACCOUNT}:role/other/Sms"),
                ..role.clone()
            }),
            publish.clone(),
            reasons::ROLE_NOT_FOUND,
            &[],
        ),
    ];
    for (name, found, documents, reason, writes) in cases {
        let mut w = World::new();
        w.set().roles.extend(found.map(|r| ("Sms".to_string(), r)));
        w.documents.insert("Sms".into(), documents);
        let mut res = app(json!({"role": {"existing": {"roleArn": arn}}}));
        w.sync(&mut res, Mode::Apply).await;
        assert_eq!(condition(&res, types::ROLE_READY).1, reason, "{name}");
        assert_eq!(w.writes(), writes, "{name}");
    }
}

#[tokio::test]
async fn an_existing_role_in_another_account_is_not_even_read() {
    let w = World::new();
    let mut res = app(json!({"role": {"existing": {"roleArn": "arn:aws:iam::999999999999:role/Sms"}}}));
    w.sync(&mut res, Mode::Apply).await;
    let c = res.condition(types::ROLE_READY).unwrap();
    assert_eq!(c.reason, reasons::ROLE_NOT_FOUND);
    assert!(c.message.contains("is in account 999999999999"), "{}", c.message);
    assert!(!w.reads().contains(&"GetRole".to_string()));
}

#[tokio::test]
async fn both_role_kinds_are_refused_before_reading_anything() {
    let w = World::new();
    let mut res =
        app(json!({"role": {"managed": {}, "existing": {"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/x")}}}));
    w.sync(&mut res, Mode::Apply).await;
    let role = res.condition(types::ROLE_READY).unwrap();
    assert_eq!(role.reason, reasons::INVALID_SPEC);
    assert!(role.message.contains("not both"), "{}", role.message);
    assert!(w.reads().is_empty(), "{:?}", w.reads());
}

/// A failed read or write of the role: terminal errors wait for the resync, recoverable ones are
/// retried with backoff; the pool is never written while the role is not in shape.
#[tokio::test]
async fn role_errors_are_terminal_or_recoverable() {
    let cases = [
        ("GetRole", "AccessDenied", reasons::ACCESS_DENIED, Requeue::Resync),
        ("GetRole", "Throttling", reasons::THROTTLED, Requeue::Backoff),
        (
            "GetRolePolicy",
            "ServiceUnavailable",
            reasons::AWS_UNAVAILABLE,
            Requeue::Backoff,
        ),
    ];
    for (read, code, reason, requeue) in cases {
        let mut w = converged();
        w.failing_reads.insert(read, aws_error(code));
        let mut res = app(json!({}));
        let report = w.sync(&mut res, Mode::Apply).await;
        assert_eq!(condition(&res, types::ROLE_READY).1, reason, "{read} {code}");
        assert_eq!(report.requeue, requeue, "{read} {code}");
        assert!(w.writes().is_empty());
    }
    let mut w = World::new();
    w.failing_writes
        .insert("PermissionsPolicyUpdated", aws_error("InternalFailure"));
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.writes(), ["RoleCreated"], "the pool waits for the role");
    assert_eq!(reasons(&report), ["RoleCreated"]);
    assert_eq!(condition(&res, types::ROLE_READY).1, reasons::AWS_UNAVAILABLE);
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED).1,
        reasons::WAITING_FOR_ROLE
    );
    assert_eq!(report.requeue, Requeue::Backoff);
    assert_eq!(res.status.unwrap().role_arn, None);
}

#[tokio::test]
async fn no_account_no_further_reads() {
    let mut w = World::new();
    w.account_error = Some(aws_error("ExpiredToken"));
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(w.reads(), ["GetCallerIdentity"]);
    assert_eq!(ready(&res).1, reasons::CREDENTIALS_REJECTED);
    assert_eq!(
        report.requeue,
        Requeue::Backoff,
        "credentials are renewed: retried soon, not after a resync period"
    );

    w.account_error = Some(aws_error("AccessDenied"));
    let report = w.sync(&mut res, Mode::Apply).await;
    assert_eq!(ready(&res).1, reasons::ACCESS_DENIED);
    assert_eq!(report.requeue, Requeue::Resync, "a missing permission needs a person");
}

#[tokio::test]
async fn an_invalid_region_reads_nothing() {
    let w = World::new();
    let mut res = resource(
        "app",
        json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}),
    );
    w.sync(&mut res, Mode::Apply).await;
    assert!(w.reads().is_empty());
    assert_eq!(ready(&res).1, reasons::SNS_REGION_NOT_ALLOWED);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_says_what_it_would_do() {
    let w = World::new();
    let mut res = app(json!({}));
    let report = w.sync(&mut res, Mode::DryRun).await;
    assert!(w.writes().is_empty());
    assert_eq!(
        reasons(&report),
        ["RoleCreated", "PermissionsPolicyUpdated", "SmsConfigurationUpdated"]
    );
    let role = res.condition(types::ROLE_READY).unwrap();
    assert_eq!(role.reason, reasons::CHANGES_PENDING);
    assert!(
        role.message.starts_with("dry run, not applied: create IAM role"),
        "{}",
        role.message
    );
    assert_eq!(
        condition(&res, types::USER_POOL_CONFIGURED),
        (ConditionStatus::Unknown, reasons::CHANGES_PENDING.into())
    );
}
