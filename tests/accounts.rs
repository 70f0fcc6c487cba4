//! Many AWS accounts from one installation, against the emulator serving four: the operator's own
//! and three it reaches by assuming the role each account's `CognitoSmsAccount` names. Each pool
//! is configured in its own account, by a role created there; STS is asked once per session.

#[path = "support/mod.rs"]
mod support;

use cognito_sms_operator::aws::assumed::{Accounts, AssumeRole};
use cognito_sms_operator::conditions::ConditionStatus;
use cognito_sms_operator::crd::CognitoSmsConfig;
use cognito_sms_operator::plan::tenancy::{Acting, NotActing, not_acting};
use cognito_sms_operator::reconcile::{self, Env, Mode, SyncReport};
use cognito_sms_operator::tenancy::{self, Mapping};
use cognito_sms_operator::testing::ResourceFixture;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use support::accounts::OtherAccount;
use support::*;

/// The session the operator asks STS for, for the resources of `namespace` in `account`.
fn session(mapping: &Mapping, namespace: &str, external_id: Option<&str>) -> AssumeRole {
    AssumeRole {
        role_arn: mapping.role_arn.clone(),
        account_id: mapping.account_id.clone(),
        external_id: external_id.map(String::from),
        session_name: tenancy::session_name(namespace),
        tags: tenancy::session_tags(namespace, &mapping.name, INSTALLATION),
    }
}

fn mapping(name: &str, role_arn: &str) -> Mapping {
    Mapping {
        name: name.into(),
        role_arn: role_arn.into(),
        account_id: tenancy::account_of_role(role_arn).unwrap().into(),
        external_id_secret_ref: None,
    }
}

/// Reconcile `res` as the controller does in an account, until Ready (at most three passes).
async fn until_ready(
    h: &Harness,
    accounts: &Accounts,
    role: &AssumeRole,
    acting: Acting,
    res: &mut CognitoSmsConfig,
) -> SyncReport {
    let mut last = None;
    for _ in 0..3 {
        let aws = accounts.assume(role).await.expect("the role is assumed");
        let env = Env::aws(&aws, &h.cache, &h.secrets, &h.claimed, INSTALLATION, &h.number_ids).acting(acting.clone());
        let report = reconcile::sync(&env, res, Mode::Apply, Timestamp::now()).await;
        res.status = Some(report.status.clone());
        let ready = res.ready() == ConditionStatus::True;
        last = Some(report);
        if ready {
            break;
        }
    }
    last.unwrap()
}

fn assume_role_calls(emu: &Emulator) -> usize {
    emu.calls()
        .iter()
        .filter(|(s, a)| s == "sts" && a == "AssumeRole")
        .count()
}

#[tokio::test]
async fn each_pool_is_configured_in_its_own_account_by_a_role_created_there() {
    let emu = Emulator::start();
    let h = Harness::new(&emu).await;
    let accounts = Accounts::new(emu.aws().await);
    let mut targets: Vec<(OtherAccount, String, Option<&str>)> = vec![];
    for (id, external_id) in [
        ("222222222222", Some("payments-ext-1")),
        ("333333333333", None),
        ("444444444444", None),
    ] {
        let account = emu.account(id).await;
        let role = account.operator_role(&emu, "cognito-sms-operator", external_id);
        targets.push((account, role, external_id));
    }
    emu.clear_calls();

    let mut resources = vec![];
    for (i, (account, role, external_id)) in targets.iter().enumerate() {
        let pool = account.create_pool("eu-west-1", "app").await;
        let namespace = format!("team-{i}");
        let mapped = mapping(&format!("account-{i}"), role);
        let session = session(&mapped, &namespace, *external_id);
        let mut res = resource("app", json!({"userPoolId": pool})).in_namespace(&namespace);
        let report = until_ready(&h, &accounts, &session, Acting::Mapped(mapped.clone()), &mut res).await;
        assert_eq!(res.ready(), ConditionStatus::True, "{:?}", report.status.conditions);

        let managed_role = format!("cognito-sms-{pool}");
        assert_eq!(
            account.sns_caller_arn("eu-west-1", &pool).await.as_deref(),
            Some(format!("arn:aws:iam::{}:role/service-role/{managed_role}", account.id).as_str()),
            "the pool sends with the role made in its own account"
        );
        assert!(account.roles().await.contains(&managed_role));
        let selected = report.status.account.clone().unwrap();
        assert_eq!(
            (selected.account_id.as_deref(), selected.selected_by.as_deref()),
            (Some(account.id.as_str()), Some(mapped.name.as_str()))
        );
        assert_eq!(report.status.account_id.as_deref(), Some(account.id.as_str()));
        let (_, reason, _) = condition(&res, "AccountSelected");
        assert_eq!(reason, "AccountMapped");
        resources.push((res, session, mapped));
    }
    let own_roles: Vec<String> = emu
        .iam()
        .await
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .collect();
    assert!(
        !own_roles.iter().any(|r| r.starts_with("cognito-sms-")),
        "nothing was created in the operator's own account: {own_roles:?}"
    );

    // Three sessions, one STS call each, however many reconciles used them.
    assert_eq!(assume_role_calls(&emu), 3, "{:?}", emu.calls());
    for (res, session, mapped) in &mut resources {
        until_ready(&h, &accounts, session, Acting::Mapped(mapped.clone()), res).await;
    }
    assert_eq!(assume_role_calls(&emu), 3, "the sessions held were reused");
    assert_eq!(accounts.held(), (3, 3));
}

#[tokio::test]
async fn namespaces_of_one_account_share_its_rate_limits_in_sessions_of_their_own() {
    let emu = Emulator::start();
    let accounts = Accounts::new(emu.aws().await);
    let account = emu.account("222222222222").await;
    let role = account.operator_role(&emu, "cognito-sms-operator", None);
    let mapped = mapping("payments", &role);
    for ns in ["payments", "payments-batch"] {
        accounts.assume(&session(&mapped, ns, None)).await.unwrap();
    }
    assert_eq!(accounts.held(), (2, 1), "two sessions, one account's limits");
}

#[tokio::test]
async fn a_refused_assume_role_says_why_and_is_not_asked_again_at_once() {
    let emu = Emulator::start();
    let accounts = Accounts::new(emu.aws().await);
    let account = emu.account("222222222222").await;
    let role = account.operator_role(&emu, "cognito-sms-operator", Some("the-right-one"));
    let mapped = mapping("payments", &role);
    emu.clear_calls();

    let wrong = session(&mapped, "payments", Some("a-wrong-one"));
    let Err(refused) = accounts.assume(&wrong).await else {
        panic!("the trust policy wants another external ID");
    };
    assert_eq!(refused.code, "AccessDenied", "{refused}");
    assert!(
        !refused.to_string().contains("a-wrong-one"),
        "the external ID is never echoed: {refused}"
    );
    let Err(again) = accounts.assume(&wrong).await else {
        panic!("still refused");
    };
    assert_eq!(again.code, refused.code);
    assert_eq!(assume_role_calls(&emu), 1, "a refusal is remembered for a few seconds");

    let res = resource("app", json!({"userPoolId": "eu-west-1_Abc"})).in_namespace("payments");
    let report = not_acting(
        &res,
        &NotActing::AssumeRoleFailed(Box::new(mapped), Box::new(refused)),
        Timestamp::now(),
    );
    let (status, reason, message) = condition(
        &CognitoSmsConfig {
            status: Some(report.status),
            ..res
        },
        "Ready",
    );
    assert_eq!((status.as_str(), reason.as_str()), ("False", "AssumeRoleFailed"));
    assert!(
        message.contains(&role) && message.contains("sts:TagSession"),
        "{message}"
    );
    assert!(report.changes.is_empty());

    let right = session(&mapping("payments", &role), "payments", Some("the-right-one"));
    accounts
        .assume(&right)
        .await
        .expect("a new external ID is a new request, asked at once");
}
