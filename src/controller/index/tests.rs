use super::*;
use crate::testing::{ResourceFixture, resource};
use serde_json::json;

/// The operator's own account, where the resources of these tests act.
const OWN: Acting = Acting::OperatorIdentity;

fn obj(ns: &str, name: &str, pool: &str, numbers: &[(&str, &str)]) -> CognitoSmsConfig {
    let numbers: Vec<_> = numbers
        .iter()
        .map(|(n, secret)| json!({"phoneNumber": n, "verificationCodeRef": {"name": secret, "key": "code"}}))
        .collect();
    resource(name, json!({"userPoolId": pool, "sandboxPhoneNumbers": numbers})).in_namespace(ns)
}

/// A number in the sandbox of us-east-1, where the pools of these tests send SMS.
fn east(number: &str) -> NumberAt {
    NumberAt::new("us-east-1", number)
}

fn index_of(objs: &[CognitoSmsConfig]) -> Index {
    let index = Index::default();
    for o in objs {
        index.apply(0, &Event::Apply(o.clone()));
    }
    index
}

#[test]
fn a_secret_change_wakes_the_resources_that_read_it() {
    let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "codes")]);
    let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "other")]);
    let c = obj("team", "c", "us-east-1_C", &[("+15550000003", "codes")]);
    let index = index_of(&[a.clone(), b, c]);
    assert_eq!(index.reading("apps", "codes"), vec![ObjectRef::from_obj(&a)]);
    assert!(index.reading("apps", "nothing").is_empty());
}

#[test]
fn numbers_claimed_by_other_resources_by_the_region_that_verifies_them() {
    let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "s")]);
    let b = obj(
        "apps",
        "b",
        "us-east-1_B",
        &[("+15550000002", "s"), ("+15550000001", "s")],
    );
    let c = obj("team", "c", "eu-west-1_C", &[("+15550000003", "s")]);
    // A number for the pool's secondary in us-west-2 is verified in us-west-2's sandbox.
    let mut d = obj("team", "d", "us-east-1_D", &[("+15550000004", "s")]);
    d.spec.sandbox_phone_numbers[0].region = Some("us-west-2".into());
    let index = index_of(&[a.clone(), b.clone(), c, d]);
    assert_eq!(
        index.claimed_by_others(&a, &OWN),
        HashSet::from([
            east("+15550000001"),
            east("+15550000002"),
            NumberAt::new("eu-west-1", "+15550000003"),
            NumberAt::new("us-west-2", "+15550000004"),
        ])
    );
    index.apply(0, &Event::Delete(b));
    assert!(
        !index.claimed_by_others(&a, &OWN).contains(&east("+15550000001")),
        "a deleted resource claims nothing"
    );
}

#[test]
fn a_changed_resource_replaces_what_it_listed() {
    let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "codes")]);
    let other = obj("apps", "other", "us-east-1_B", &[]);
    let index = index_of(&[a, other.clone()]);
    assert!(index.needs_codes("apps"));
    let a = obj("apps", "a", "us-east-1_A", &[("+15550000009", "new")]);
    index.apply(0, &Event::Apply(a));
    assert_eq!(
        index.claimed_by_others(&other, &OWN),
        HashSet::from([east("+15550000009")])
    );
    assert!(index.reading("apps", "codes").is_empty());
    index.apply(0, &Event::Apply(obj("apps", "a", "us-east-1_A", &[])));
    assert!(!index.needs_codes("apps"), "no resource there lists numbers any more");
}

#[test]
fn a_relist_forgets_what_is_gone_from_its_own_scope_only() {
    let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "s")]);
    let b = obj("apps", "b", "us-east-1_B", &[("+15550000002", "s")]);
    let c = obj("team", "c", "us-east-1_C", &[("+15550000003", "s")]);
    let index = Index::default();
    index.apply(0, &Event::Apply(a.clone()));
    index.apply(0, &Event::Apply(b));
    index.apply(1, &Event::Apply(c.clone()));
    // Scope 0 relists and finds only `a`; `c` belongs to scope 1 and stays.
    index.apply(0, &Event::Init);
    index.apply(0, &Event::InitApply(a.clone()));
    index.apply(0, &Event::InitDone);
    assert_eq!(index.claimed_by_others(&a, &OWN), HashSet::from([east("+15550000003")]));
    assert!(index.needs_codes("team"));
}

#[test]
fn pools_are_counted_per_region_as_resources_come_and_go() {
    let a = obj("apps", "a", "us-east-1_A", &[]);
    let b = obj("apps", "b", "us-east-1_B", &[]);
    let c = obj("team", "c", "eu-west-1_C", &[]);
    let index = index_of(&[a.clone(), b.clone(), c]);
    assert_eq!(
        (index.pools_in(Some(""), "us-east-1"), index.pools_in(None, "eu-west-1")),
        (2, 1)
    );
    index.apply(0, &Event::Apply(a.clone()));
    assert_eq!(
        index.pools_in(Some(""), "us-east-1"),
        2,
        "a changed resource is counted once"
    );
    index.apply(0, &Event::Apply(obj("apps", "b", "eu-west-1_B", &[])));
    assert_eq!(
        (index.pools_in(Some(""), "us-east-1"), index.pools_in(None, "eu-west-1")),
        (1, 2)
    );
    index.apply(0, &Event::Delete(a));
    assert_eq!(index.pools_in(Some(""), "us-east-1"), 0);
}

fn with_ready(obj: CognitoSmsConfig, status: &str) -> CognitoSmsConfig {
    let status = serde_json::from_value(json!({"conditions": [{
        "type": "Ready", "status": status, "reason": "R", "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}))
    .unwrap();
    obj.with_status(status)
}

#[test]
fn readiness_is_counted_as_resources_change_and_go() {
    let a = obj("apps", "a", "us-east-1_A", &[]);
    let b = obj("apps", "b", "us-east-1_B", &[]);
    let index = index_of(&[a.clone(), b.clone()]);
    let counts = |i: &Index| {
        let r = i.readiness();
        (r.ready, r.not_ready, r.unknown)
    };
    assert_eq!(counts(&index), (0, 0, 2), "no status yet");
    index.apply(0, &Event::Apply(with_ready(a.clone(), "True")));
    index.apply(0, &Event::Apply(with_ready(b.clone(), "False")));
    assert_eq!(counts(&index), (1, 1, 0));
    index.apply(0, &Event::Apply(with_ready(b.clone(), "True")));
    assert_eq!(counts(&index), (2, 0, 0), "a change replaces what was counted");
    index.apply(0, &Event::Delete(a.clone()));
    assert_eq!(counts(&index), (1, 0, 0));
    index.apply(0, &Event::Init);
    index.apply(0, &Event::InitDone);
    assert_eq!(counts(&index), (0, 0, 0), "a relist without b forgets it");
}

#[test]
fn membership_follows_uids_through_changes_deletions_relists_and_recreation() {
    let a = obj("apps", "a", "us-east-1_A", &[]);
    let b = obj("apps", "b", "us-east-1_B", &[]);
    let index = Index::default();
    let m = index.apply(0, &Event::Apply(a.clone()));
    assert_eq!((m.added, m.removed), (vec!["uid-a".to_string()], vec![]));
    assert_eq!(
        index.apply(0, &Event::Apply(a.clone())),
        Membership::default(),
        "a change"
    );
    index.apply(0, &Event::Apply(b.clone()));
    let mut recreated = a.clone();
    recreated.metadata.uid = Some("uid-a2".into());
    let m = index.apply(0, &Event::Apply(recreated.clone()));
    assert_eq!(
        (m.added, m.removed),
        (vec!["uid-a2".to_string()], vec!["uid-a".to_string()])
    );
    index.apply(0, &Event::Init);
    let m = index.apply(0, &Event::InitApply(recreated.clone()));
    assert_eq!(m, Membership::default(), "relisted as it was");
    let m = index.apply(0, &Event::InitDone);
    assert_eq!(m.removed, vec!["uid-b".to_string()], "gone while the watch was down");
    let m = index.apply(0, &Event::Delete(recreated));
    assert_eq!(m.removed, vec!["uid-a2".to_string()]);
    assert_eq!(index.apply(0, &Event::Delete(b)), Membership::default(), "already gone");
}

fn created(obj: CognitoSmsConfig, uid: &str, second: i64) -> CognitoSmsConfig {
    let mut obj = obj;
    obj.metadata.uid = Some(uid.into());
    obj.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(1_800_000_000 + second).unwrap(),
    ));
    obj
}

fn managing(obj: CognitoSmsConfig) -> CognitoSmsConfig {
    let pool = obj.spec.user_pool_id.clone();
    obj.with_status(crate::crd::CognitoSmsConfigStatus {
        managed_user_pool_id: Some(pool),
        ..Default::default()
    })
}

#[test]
fn the_oldest_resource_naming_a_pool_manages_it_and_the_next_takes_over() {
    let old = created(obj("team-a", "sms", "us-east-1_P", &[]), "u-1", 10);
    let new = created(obj("team-b", "sms", "us-east-1_P", &[]), "u-2", 20);
    let tie = created(obj("team-c", "sms", "us-east-1_P", &[]), "u-0", 20);
    let elsewhere = created(obj("team-d", "sms", "us-east-1_Q", &[]), "u-3", 0);
    let index = index_of(&[new.clone(), old.clone(), tie.clone(), elsewhere.clone()]);
    assert_eq!(index.pool_manager(&old, &OWN), None);
    assert_eq!(index.pool_manager(&new, &OWN).as_deref(), Some("team-a/sms"));
    assert_eq!(index.pool_manager(&elsewhere, &OWN), None);
    let changed = index.apply(0, &Event::Delete(old));
    assert_eq!(
        changed.new_managers,
        vec![(0, ObjectRef::from_obj(&tie))],
        "created in the same second: the lower uid is next, and is woken"
    );
    assert_eq!(index.pool_manager(&new, &OWN).as_deref(), Some("team-c/sms"));
    assert_eq!(index.pool_manager(&tie, &OWN), None);
}

#[test]
fn a_resource_managing_a_pool_keeps_it_when_an_older_one_names_the_same_pool() {
    let holder = managing(created(obj("team-b", "sms", "us-east-1_P", &[]), "u-2", 20));
    let index = index_of(std::slice::from_ref(&holder));
    let older = created(obj("team-a", "sms", "us-east-1_Q", &[]), "u-1", 10);
    index.apply(0, &Event::Apply(older.clone()));
    let repointed = created(obj("team-a", "sms", "us-east-1_P", &[]), "u-1", 10);
    let changed = index.apply(0, &Event::Apply(repointed.clone()));
    assert!(changed.new_managers.is_empty(), "{changed:?}");
    assert_eq!(index.pool_manager(&repointed, &OWN).as_deref(), Some("team-b/sms"));
    assert_eq!(index.pool_manager(&holder, &OWN), None);
    let changed = index.apply(0, &Event::Apply(older.clone()));
    assert_eq!(
        changed.new_managers,
        vec![(0, ObjectRef::from_obj(&older))],
        "pointed back at Q, which it manages again; P stays with its holder"
    );
    assert_eq!(index.pool_manager(&holder, &OWN), None);
}

#[test]
fn a_relist_that_drops_the_manager_wakes_the_next_resource_in_its_own_scope() {
    let old = created(obj("team-a", "sms", "us-east-1_P", &[]), "u-1", 10);
    let new = created(obj("team-b", "sms", "us-east-1_P", &[]), "u-2", 20);
    let index = Index::default();
    index.apply(0, &Event::Apply(old));
    index.apply(1, &Event::Apply(new.clone()));
    index.apply(0, &Event::Init);
    let changed = index.apply(0, &Event::InitDone);
    assert_eq!(changed.new_managers, vec![(1, ObjectRef::from_obj(&new))]);
}

/// `obj` as it is after acting in account `id` through the `CognitoSmsAccount` `by`.
fn acted_in(obj: CognitoSmsConfig, id: &str, by: &str) -> CognitoSmsConfig {
    obj.with_status(crate::crd::CognitoSmsConfigStatus {
        account: Some(crate::crd::SelectedAccount {
            account_id: Some(id.into()),
            role_arn: Some(format!("arn:aws:iam::{id}:role/ops")),
            selected_by: Some(by.into()),
        }),
        ..Default::default()
    })
}

fn in_account(id: &str) -> Acting {
    Acting::Mapped(crate::tenancy::Mapping {
        name: format!("account-{id}"),
        role_arn: format!("arn:aws:iam::{id}:role/ops"),
        account_id: id.into(),
        external_id_secret_ref: None,
    })
}

#[test]
fn one_pool_id_in_two_accounts_is_two_pools_with_their_own_numbers_and_counts() {
    let (payments, shop) = (in_account("222222222222"), in_account("333333333333"));
    let old = created(
        obj("payments", "sms", "us-east-1_P", &[("+15550000001", "s")]),
        "u-1",
        10,
    );
    let new = created(obj("shop", "sms", "us-east-1_P", &[("+15550000002", "s")]), "u-2", 20);
    let index = index_of(&[old.clone(), new.clone()]);
    assert_eq!(
        index.pool_manager(&new, &shop).as_deref(),
        Some("payments/sms"),
        "before either has acted, its account is not known: the older one manages the pool"
    );
    let changed = index.apply(0, &Event::Apply(acted_in(old.clone(), "222222222222", "payments")));
    assert_eq!(
        changed.new_managers,
        vec![(0, ObjectRef::from_obj(&new))],
        "the older one has acted elsewhere: the newer one is woken to manage the pool in its account"
    );
    let changed = index.apply(0, &Event::Apply(acted_in(new.clone(), "333333333333", "shop")));
    assert_eq!(
        changed.new_managers,
        vec![],
        "managing its pool before and after its account is known: nothing to take over, no reconcile"
    );
    assert_eq!(index.pool_manager(&new, &shop), None);
    assert_eq!(index.pool_manager(&old, &payments), None);
    assert!(
        index.claimed_by_others(&old, &payments).is_empty(),
        "numbers are per account"
    );
    assert_eq!(
        (
            index.pools_in(Some("222222222222"), "us-east-1"),
            index.pools_in(Some("333333333333"), "us-east-1")
        ),
        (1, 1)
    );
    assert_eq!(index.pools_in(Some(""), "us-east-1"), 0);
}

#[test]
fn a_resource_that_has_not_acted_is_filed_under_its_namespace_s_account() {
    let index = Index::default();
    let placed = |ns: &str| match ns {
        "payments" => Some("222222222222".to_string()),
        "shop" => Some(String::new()),
        _ => None,
    };
    for (ns, pool) in [
        ("payments", "us-east-1_A"),
        ("payments", "us-east-1_B"),
        ("shop", "us-east-1_C"),
        ("new", "us-east-1_D"),
    ] {
        index.apply_placed(0, &Event::Apply(obj(ns, pool, pool, &[])), &placed);
    }
    assert_eq!(
        (
            index.pools_in(Some("222222222222"), "us-east-1"),
            index.pools_in(Some(""), "us-east-1")
        ),
        (3, 2),
        "each account's own, and the one whose account is not known yet"
    );
}
