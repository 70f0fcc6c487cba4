//! Lookups across the watched resources, kept up to date from the watch events so that neither a
//! reconcile nor a scrape scans every resource: which resource manages each user pool, which
//! resources read a Secret, which sandbox numbers other resources in the same SMS region list,
//! which namespaces verify sandbox numbers at all, and how many resources are Ready.
//!
//! Pools, numbers and pool counts are kept per AWS account (see [`Acting::account`]): the same
//! pool ID in two accounts is two pools. A resource is filed under the account its status says
//! it acted in last; before it has acted, under the account its namespace is mapped to now, or
//! under "not known yet". A reconcile asks about the account it acts in now, and counts the
//! resources not known yet as if they acted there too, so that two new resources naming one pool
//! never both manage it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

use crate::account::NumberAt;
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
    /// Its sandbox numbers, each in the region whose sandbox verifies it, in the account of
    /// `pool`.
    numbers: Vec<NumberAt>,
    secrets: BTreeSet<String>,
    /// It lists numbers and is not being deleted: its namespace's Secrets hold codes.
    needs_codes: bool,
}

impl Entry {
    /// The entry of `obj`, filed under the account it acted in last, or, before it has acted,
    /// under the account its namespace is `placed` in now, if that is known.
    fn of(scope: usize, obj: &CognitoSmsConfig, placed: &dyn Fn(&str) -> Account) -> Self {
        let numbers = &obj.spec.sandbox_phone_numbers;
        let account: Account = match acted_account(obj) {
            Some(account) => Some(account.to_string()),
            None => placed(obj.metadata.namespace.as_deref().unwrap_or_default()),
        };
        Entry {
            scope,
            uid: obj.uid().unwrap_or_default(),
            ready: obj.ready(),
            namespace: obj.namespace().unwrap_or_default(),
            pool: (account.clone(), obj.spec.user_pool_id.clone()),
            rank: Rank::of(obj),
            pool_region: crate::regions::pool_region(&obj.spec.user_pool_id).map(|r| (account.clone(), r.to_string())),
            numbers: reconcile::numbers_of(obj),
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
    /// (account, SMS region) → number → the resources listing it there.
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
    /// Resources that managed their pool before the event moved them to another account's
    /// file, where they manage it still.
    kept: Vec<Ref>,
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
            if let Some(after) = after.filter(|a| Some(*a) != before.as_ref() && !changed.kept.contains(a))
                && let Some(entry) = self.entries.get(after)
            {
                changed.new_managers.push((entry.scope, after.clone()));
            }
        }
    }

    fn insert(&mut self, key: Ref, entry: Entry, changed: &mut Membership) {
        self.touch(&entry.pool, changed);
        // Filed under the account it has now acted in, a resource that managed its pool under
        // the account it was filed under before manages the same pool: nothing to take over.
        if let Some(old) = self.entries.get(&key)
            && old.pool.1 == entry.pool.1
            && old.pool.0 != entry.pool.0
            && self.manager(&old.pool) == Some(&key)
        {
            changed.kept.push(key.clone());
        }
        match self.remove_noting(&key, changed) {
            Some(old) if old.uid == entry.uid => {}
            Some(old) => {
                changed.removed.push(old.uid);
                changed.added.push(entry.uid.clone());
            }
            None => changed.added.push(entry.uid.clone()),
        }
        self.readiness.count(entry.ready, 1);
        for at in &entry.numbers {
            let listed = self
                .numbers
                .entry((entry.pool.0.clone(), at.region.clone()))
                .or_default();
            listed.entry(at.number.clone()).or_default().insert(key.clone());
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
        for at in &entry.numbers {
            let region = (entry.pool.0.clone(), at.region.clone());
            if let Some(listed) = self.numbers.get_mut(&region)
                && let Some(refs) = listed.get_mut(&at.number)
            {
                refs.remove(key);
                if refs.is_empty() {
                    listed.remove(&at.number);
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
    #[cfg(test)]
    pub(super) fn apply(&self, scope: usize, event: &Event<CognitoSmsConfig>) -> Membership {
        self.apply_placed(scope, event, &|_| None)
    }

    /// [`Index::apply`], filing a resource that has not acted yet under the account its
    /// namespace is `placed` in (`None` when not known).
    pub(super) fn apply_placed(
        &self,
        scope: usize,
        event: &Event<CognitoSmsConfig>,
        placed: &dyn Fn(&str) -> Account,
    ) -> Membership {
        let mut inner = self.0.write().unwrap_or_else(|p| p.into_inner());
        let mut changed = Membership::default();
        match event {
            Event::Apply(obj) => inner.insert(ObjectRef::from_obj(obj), Entry::of(scope, obj, placed), &mut changed),
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
                inner.insert(key, Entry::of(scope, obj, placed), &mut changed);
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

    /// Sandbox numbers the other resources list in the account `obj` acts in (or may act in),
    /// by the region whose sandbox verifies them: the sandbox lists it shares with them.
    pub(super) fn claimed_by_others(&self, obj: &CognitoSmsConfig, acting: &Acting) -> HashSet<NumberAt> {
        let me = ObjectRef::from_obj(obj);
        let account = Some(acting.account().to_string());
        let inner = self.0.read().unwrap_or_else(|p| p.into_inner());
        inner
            .numbers
            .iter()
            .filter(|((a, _), _)| a.is_none() || *a == account)
            .flat_map(|((_, region), listed)| {
                listed
                    .iter()
                    .filter(|(_, refs)| refs.iter().any(|r| *r != me))
                    .map(move |(n, _)| NumberAt::new(region, n))
            })
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
mod tests;
