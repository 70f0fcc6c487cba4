//! Lookups across the watched resources, kept up to date from the watch events so that neither a
//! reconcile nor a scrape scans every resource: which resource manages each user pool, which
//! resources read a Secret, which sandbox numbers other resources in the same SMS region list,
//! which namespaces verify sandbox numbers at all, and how many resources are Ready.
//!
//! Pools, numbers and pool counts are kept per AWS account (see [`Acting::account`]): the same
//! pool ID in two accounts is two pools. A resource is filed under the account its status says
//! it acted in last, or under "not known yet" before it has acted; a reconcile asks about the
//! account it acts in now, and counts the resources not known yet as if they acted there too,
//! so that two new resources naming one pool never both manage it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

use crate::conditions::ConditionStatus;
use crate::crd::CognitoSmsConfig;
use crate::plan::tenancy::{Acting, acted_account};
use crate::reconcile;

type Ref = ObjectRef<CognitoSmsConfig>;

/// The account a resource acted in last ([`acted_account`]); `None` before it has acted.
type Account = Option<String>;

/// The key of something that exists once per account: a user pool, an SMS region's sandbox.
type InAccount = (Account, String);

/// The keys of `thing` a reconcile acting as `acting` must consider: in its account, and among
/// the resources not known yet.
fn both(acting: &Acting, thing: &str) -> [InAccount; 2] {
    [
        (Some(acting.account().to_string()), thing.to_string()),
        (None, thing.to_string()),
    ]
}

/// The order in which the resources naming one user pool may manage it, first first: the one
/// whose status says it manages the pool, then the oldest (by creation, then uid). So the
/// oldest takes a pool nobody manages yet, and a resource that manages one keeps it when an
/// older resource is later pointed at the same pool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    not_managing: bool,
    created: Option<Timestamp>,
    uid: String,
}

impl Rank {
    fn of(obj: &CognitoSmsConfig) -> Self {
        let pool = &obj.spec.user_pool_id;
        Rank {
            not_managing: obj.status.as_ref().and_then(|s| s.managed_user_pool_id.as_ref()) != Some(pool),
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            uid: obj.uid().unwrap_or_default(),
        }
    }
}

/// What the index keeps of one resource.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// Which watch scope saw it, so that a scope's relist forgets only its own resources.
    scope: usize,
    uid: String,
    ready: ConditionStatus,
    namespace: String,
    /// The account it acted in last and the user pool it names there (the key of its pool),
    /// and its place among the resources naming that pool.
    pool: InAccount,
    rank: Rank,
    /// The account and region of the user pool, whose `UserPoolRead` quota each resync spends.
    pool_region: Option<InAccount>,
    /// The account and SMS region its sandbox numbers are verified in.
    region: Option<InAccount>,
    numbers: Vec<String>,
    secrets: BTreeSet<String>,
    /// It lists numbers and is not being deleted: its namespace's Secrets hold codes.
    needs_codes: bool,
}

impl Entry {
    fn of(scope: usize, obj: &CognitoSmsConfig) -> Self {
        let numbers = &obj.spec.sandbox_phone_numbers;
        let account: Account = acted_account(obj).map(String::from);
        Entry {
            scope,
            uid: obj.uid().unwrap_or_default(),
            ready: obj.ready(),
            namespace: obj.namespace().unwrap_or_default(),
            pool: (account.clone(), obj.spec.user_pool_id.clone()),
            rank: Rank::of(obj),
            pool_region: crate::regions::pool_region(&obj.spec.user_pool_id).map(|r| (account.clone(), r.to_string())),
            region: reconcile::sms_region_of(obj).map(|r| (account.clone(), r)),
            numbers: numbers.iter().map(|n| n.phone_number.clone()).collect(),
            secrets: numbers.iter().map(|n| n.verification_code_ref.name.clone()).collect(),
            needs_codes: !numbers.is_empty() && obj.metadata.deletion_timestamp.is_none(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Ref, Entry>,
    /// (account, user pool ID) → the resources naming it, in the order they may manage it.
    claimants: HashMap<InAccount, BTreeMap<Rank, Ref>>,
    /// (account, SMS region) → number → the resources listing it.
    numbers: HashMap<InAccount, BTreeMap<String, HashSet<Ref>>>,
    /// (namespace, Secret name) → the resources reading codes from it.
    secrets: HashMap<(String, String), HashSet<Ref>>,
    /// Namespace → how many of its resources need codes.
    needing_codes: HashMap<String, usize>,
    /// (account, user pool region) → how many resources configure a pool there.
    pools: HashMap<InAccount, usize>,
    /// Per scope relisting now: the resources seen so far in the new list.
    relisting: HashMap<usize, HashSet<Ref>>,
    /// How many resources are Ready, not Ready, and of unknown readiness.
    readiness: Readiness,
}

/// Resources by their `Ready` condition.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Readiness {
    pub(super) ready: i64,
    pub(super) not_ready: i64,
    pub(super) unknown: i64,
}

impl Readiness {
    fn count(&mut self, status: ConditionStatus, by: i64) {
        match status {
            ConditionStatus::True => self.ready += by,
            ConditionStatus::False => self.not_ready += by,
            ConditionStatus::Unknown => self.unknown += by,
        }
    }
}

/// How one watch event changed which resources are watched, by uid, and which manage a pool.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Membership {
    pub(super) added: Vec<String>,
    pub(super) removed: Vec<String>,
    /// Resources that now manage a pool another one managed before (or that nobody did), with
    /// their watch scope: they take it over on their next reconcile, which is due now.
    pub(super) new_managers: Vec<(usize, Ref)>,
    /// The first claimant of each pool the event touched, before it.
    managers_before: HashMap<InAccount, Option<Ref>>,
}

impl Inner {
    /// The resource that manages `pool`.
    fn manager(&self, pool: &InAccount) -> Option<&Ref> {
        self.claimants.get(pool).and_then(|c| c.values().next())
    }

    /// Note who managed `pool` before the event changes it.
    fn touch(&self, pool: &InAccount, changed: &mut Membership) {
        if !changed.managers_before.contains_key(pool) {
            changed
                .managers_before
                .insert(pool.clone(), self.manager(pool).cloned());
        }
    }

    /// After the event: the resources that now manage a pool the event touched.
    fn settle(&self, changed: &mut Membership) {
        for (pool, before) in std::mem::take(&mut changed.managers_before) {
            let after = self.manager(&pool);
            if let Some(after) = after.filter(|a| Some(*a) != before.as_ref())
                && let Some(entry) = self.entries.get(after)
            {
                changed.new_managers.push((entry.scope, after.clone()));
            }
        }
    }

    fn insert(&mut self, key: Ref, entry: Entry, changed: &mut Membership) {
        self.touch(&entry.pool, changed);
        match self.remove_noting(&key, changed) {
            Some(old) if old.uid == entry.uid => {}
            Some(old) => {
                changed.removed.push(old.uid);
                changed.added.push(entry.uid.clone());
            }
            None => changed.added.push(entry.uid.clone()),
        }
        self.readiness.count(entry.ready, 1);
        if let Some(region) = &entry.region {
            let listed = self.numbers.entry(region.clone()).or_default();
            for n in &entry.numbers {
                listed.entry(n.clone()).or_default().insert(key.clone());
            }
        }
        for s in &entry.secrets {
            let readers = self.secrets.entry((entry.namespace.clone(), s.clone())).or_default();
            readers.insert(key.clone());
        }
        if entry.needs_codes {
            *self.needing_codes.entry(entry.namespace.clone()).or_default() += 1;
        }
        if let Some(region) = &entry.pool_region {
            *self.pools.entry(region.clone()).or_default() += 1;
        }
        let claimants = self.claimants.entry(entry.pool.clone()).or_default();
        claimants.insert(entry.rank.clone(), key.clone());
        self.entries.insert(key, entry);
    }

    fn remove_noting(&mut self, key: &Ref, changed: &mut Membership) -> Option<Entry> {
        if let Some(entry) = self.entries.get(key) {
            let pool = entry.pool.clone();
            self.touch(&pool, changed);
        }
        self.remove(key)
    }

    fn remove(&mut self, key: &Ref) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        if let Some(claimants) = self.claimants.get_mut(&entry.pool) {
            claimants.remove(&entry.rank);
            if claimants.is_empty() {
                self.claimants.remove(&entry.pool);
            }
        }
        self.readiness.count(entry.ready, -1);
        if let Some(listed) = entry.region.as_ref().and_then(|r| self.numbers.get_mut(r)) {
            for n in &entry.numbers {
                if let Some(refs) = listed.get_mut(n) {
                    refs.remove(key);
                    if refs.is_empty() {
                        listed.remove(n);
                    }
                }
            }
        }
        for s in &entry.secrets {
            let at = (entry.namespace.clone(), s.clone());
            if let Some(readers) = self.secrets.get_mut(&at) {
                readers.remove(key);
                if readers.is_empty() {
                    self.secrets.remove(&at);
                }
            }
        }
        if entry.needs_codes
            && let Some(n) = self.needing_codes.get_mut(&entry.namespace)
        {
            *n -= 1;
            if *n == 0 {
                self.needing_codes.remove(&entry.namespace);
            }
        }
        if let Some(n) = entry.pool_region.as_ref().and_then(|r| self.pools.get_mut(r)) {
            *n -= 1;
            if *n == 0 {
                self.pools
                    .remove(entry.pool_region.as_ref().unwrap_or(&Default::default()));
            }
        }
        Some(entry)
    }
}

#[derive(Debug, Default)]
pub(super) struct Index(RwLock<Inner>);

impl Index {
    /// Follow one event of watch scope `scope`, as a reflector does; say which resources it
    /// started or stopped watching.
    pub(super) fn apply(&self, scope: usize, event: &Event<CognitoSmsConfig>) -> Membership {
        let mut inner = self.0.write().unwrap_or_else(|p| p.into_inner());
        let mut changed = Membership::default();
        match event {
            Event::Apply(obj) => inner.insert(ObjectRef::from_obj(obj), Entry::of(scope, obj), &mut changed),
            Event::Delete(obj) => {
                if let Some(gone) = inner.remove_noting(&ObjectRef::from_obj(obj), &mut changed) {
                    changed.removed.push(gone.uid);
                }
            }
            Event::Init => {
                inner.relisting.insert(scope, HashSet::new());
            }
            Event::InitApply(obj) => {
                let key = ObjectRef::from_obj(obj);
                inner.relisting.entry(scope).or_default().insert(key.clone());
                inner.insert(key, Entry::of(scope, obj), &mut changed);
            }
            Event::InitDone => {
                let seen = inner.relisting.remove(&scope).unwrap_or_default();
                let gone: Vec<Ref> = inner
                    .entries
                    .iter()
                    .filter(|(k, e)| e.scope == scope && !seen.contains(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    if let Some(e) = inner.remove_noting(&k, &mut changed) {
                        changed.removed.push(e.uid);
                    }
                }
            }
        }
        inner.settle(&mut changed);
        changed
    }

    /// The resource (`namespace/name`) that manages the pool `obj` names in the account it acts
    /// in, when it is not `obj`: the first of the pool's claimants in [`Rank`] order, `obj`
    /// ranked as the API server has it now.
    pub(super) fn pool_manager(&self, obj: &CognitoSmsConfig, acting: &Acting) -> Option<String> {
        let me = ObjectRef::from_obj(obj);
        let rank = Rank::of(obj);
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        let claimants = both(acting, &obj.spec.user_pool_id)
            .into_iter()
            .filter_map(|pool| inner.claimants.get(&pool))
            .flatten();
        let (_, first) = claimants.filter(|(_, r)| **r != me).min_by_key(|(rank, _)| *rank)?;
        let first_rank = &inner.entries.get(first)?.rank;
        (*first_rank < rank).then(|| format!("{}/{}", first.namespace.as_deref().unwrap_or_default(), first.name))
    }

    /// The watched resources by their `Ready` condition.
    pub(super) fn readiness(&self) -> Readiness {
        self.0.read().unwrap_or_else(|p| p.into_inner()).readiness
    }

    /// Sandbox numbers listed by the other resources that use the same SMS region of the
    /// account `obj` acts in: the same sandbox list.
    pub(super) fn claimed_by_others(&self, obj: &CognitoSmsConfig, acting: &Acting) -> HashSet<String> {
        let Some(region) = reconcile::sms_region_of(obj) else {
            return HashSet::new();
        };
        let me = ObjectRef::from_obj(obj);
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        both(acting, &region)
            .iter()
            .filter_map(|at| inner.numbers.get(at))
            .flatten()
            .filter(|(_, refs)| refs.iter().any(|r| *r != me))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The resources that take verification codes from Secret `name` in `namespace`.
    pub(super) fn reading(&self, namespace: &str, name: &str) -> Vec<Ref> {
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        let at = (namespace.to_string(), name.to_string());
        inner
            .secrets
            .get(&at)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many resources configure a user pool in `region` of `account`, counting those not
    /// known yet to act anywhere.
    pub(super) fn pools_in(&self, account: Option<&str>, region: &str) -> usize {
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        let count = |at: InAccount| inner.pools.get(&at).copied().unwrap_or(0);
        let unknown = count((None, region.to_string()));
        match account {
            Some(account) => count((Some(account.to_string()), region.to_string())) + unknown,
            None => unknown,
        }
    }

    /// Whether a resource in `namespace` lists sandbox numbers and is not being deleted.
    pub(super) fn needs_codes(&self, namespace: &str) -> bool {
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        inner.needing_codes.contains_key(namespace)
    }
}

#[cfg(test)]
mod tests {
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
    fn numbers_claimed_by_other_resources_in_the_same_region() {
        let a = obj("apps", "a", "us-east-1_A", &[("+15550000001", "s")]);
        let b = obj(
            "apps",
            "b",
            "us-east-1_B",
            &[("+15550000002", "s"), ("+15550000001", "s")],
        );
        let c = obj("team", "c", "eu-west-1_C", &[("+15550000003", "s")]);
        let index = index_of(&[a.clone(), b.clone(), c]);
        assert_eq!(
            index.claimed_by_others(&a, &OWN),
            HashSet::from(["+15550000001".to_string(), "+15550000002".to_string()])
        );
        index.apply(0, &Event::Delete(b));
        assert!(
            index.claimed_by_others(&a, &OWN).is_empty(),
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
            HashSet::from(["+15550000009".to_string()])
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
        assert_eq!(
            index.claimed_by_others(&a, &OWN),
            HashSet::from(["+15550000003".to_string()])
        );
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
        index.apply(0, &Event::Apply(acted_in(old.clone(), "222222222222", "payments")));
        let changed = index.apply(0, &Event::Apply(acted_in(new.clone(), "333333333333", "shop")));
        assert_eq!(
            changed.new_managers,
            vec![(0, ObjectRef::from_obj(&new))],
            "alone with its pool in its own account, and woken to manage it"
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
}
