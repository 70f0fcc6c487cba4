//! Which AWS account each resource's reconcile acts in, and as whom: the watches of the
//! `CognitoSmsAccount`s and of the namespaces' labels, the choice among them (made in the core),
//! the external ID read from its Secret, and the assumed role's clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{broadcast, watch};

use crate::aws::Aws;
use crate::aws::assumed::{Accounts, AssumeRole};
use crate::crd::{CognitoSmsAccount, CognitoSmsConfig, SecretKeyRef};
use crate::plan::tenancy::{AccountFindings, Acting, NotActing};
use crate::tenancy::{self, Mapping, Selection};

/// A change that may move resources to another account.
#[derive(Debug, Clone)]
pub enum Moved {
    /// A `CognitoSmsAccount` was created, changed its spec, or was deleted.
    Account(Arc<CognitoSmsAccount>),
    /// A namespace's labels changed.
    Namespace(String),
}

pub struct Tenancy {
    accounts: Store<CognitoSmsAccount>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    allow_operator_identity: bool,
    aws: Accounts,
    /// Where the external IDs are kept.
    external_ids: ExternalIds,
    installation: String,
    moved: broadcast::Sender<Moved>,
    /// Which watches have listed what exists (`ACCOUNTS_LISTED`, `NAMESPACES_LISTED`).
    listed: watch::Sender<u8>,
}

/// Where the external IDs of the accounts' roles are read: the Secrets of one namespace (the
/// operator's own).
pub enum ExternalIds {
    /// Read from the cluster when a role is assumed.
    Cluster(Box<Api<Secret>>),
    /// These Secrets, as a file gives them, all of namespace `namespace`.
    Listed { namespace: String, secrets: Vec<Secret> },
}

impl ExternalIds {
    fn namespace(&self) -> &str {
        match self {
            ExternalIds::Cluster(api) => api.namespace().unwrap_or_default(),
            ExternalIds::Listed { namespace, .. } => namespace,
        }
    }

    /// Secret `name`, if it exists; why it cannot be read otherwise.
    async fn secret(&self, name: &str) -> Result<Option<Secret>, String> {
        let namespace = self.namespace();
        match self {
            ExternalIds::Cluster(api) => api.get_opt(name).await.map_err(|e| match e {
                kube::Error::Api(status) => format!("Secret {namespace}/{name}: {}", status.message),
                e => format!("Secret {namespace}/{name}: {e}"),
            }),
            ExternalIds::Listed { secrets, .. } => Ok(secrets
                .iter()
                .find(|s| {
                    s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref() == Some(namespace)
                })
                .cloned()),
        }
    }
}

const ACCOUNTS_LISTED: u8 = 1;
const NAMESPACES_LISTED: u8 = 2;

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("allow_operator_identity", &self.allow_operator_identity)
            .field("sessions", &self.aws.held())
            .finish_non_exhaustive()
    }
}

impl Tenancy {
    /// The watches of accounts and namespaces, and the future that keeps them up to date (run
    /// it for the life of the process, leader or not, so that a new leader starts with them).
    pub fn start(
        client: &Client,
        operator: Aws,
        allow_operator_identity: bool,
        operator_namespace: &str,
        installation: &str,
    ) -> (Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static) {
        let (accounts, accounts_writer) = reflector::store();
        let (namespaces, namespaces_writer) = reflector::store();
        let (moved, _) = broadcast::channel(256);
        let tenancy = Arc::new(Self {
            accounts,
            namespaces,
            allow_operator_identity,
            aws: Accounts::new(operator),
            external_ids: ExternalIds::Cluster(Box::new(Api::namespaced(client.clone(), operator_namespace))),
            installation: installation.to_string(),
            moved: moved.clone(),
            listed: watch::Sender::new(0),
        });
        let account_moves = moved.clone();
        let accounts_listed = tenancy.listed.clone();
        let namespaces_listed = tenancy.listed.clone();
        let generations: Mutex<Generations> = Mutex::default();
        let accounts = watcher(
            Api::<CognitoSmsAccount>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(accounts_writer)
        .for_each(move |event| {
            if let Ok(watcher::Event::InitDone) = &event {
                accounts_listed.send_modify(|l| *l |= ACCOUNTS_LISTED);
            }
            if let Ok(event) = event {
                for account in spec_changes(&generations, event) {
                    let _ = account_moves.send(Moved::Account(account));
                }
            }
            std::future::ready(())
        });
        let labels: Mutex<HashMap<String, u64>> = Mutex::default();
        let namespaces = watcher(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(namespaces_writer)
        .for_each(move |event| {
            if let Ok(watcher::Event::InitDone) = &event {
                namespaces_listed.send_modify(|l| *l |= NAMESPACES_LISTED);
            }
            if let Ok(event) = event {
                for ns in relabelled(&labels, event) {
                    let _ = moved.send(Moved::Namespace(ns));
                }
            }
            std::future::ready(())
        });
        (tenancy, async move {
            futures::future::join(accounts, namespaces).await;
        })
    }

    /// A tenancy that watches nothing: these accounts and namespaces (with their labels), as
    /// they are now. For `reconcile -f`, and for tests that check every request the operator
    /// makes.
    pub fn fixed(
        operator: Aws,
        accounts: Vec<CognitoSmsAccount>,
        namespaces: &[(&str, std::collections::BTreeMap<String, String>)],
        allow_operator_identity: bool,
        external_ids: ExternalIds,
        installation: &str,
    ) -> Arc<Self> {
        let (accounts_store, mut accounts_writer) = reflector::store();
        for account in accounts {
            accounts_writer.apply_watcher_event(&watcher::Event::InitApply(account));
        }
        accounts_writer.apply_watcher_event(&watcher::Event::InitDone);
        let (namespaces_store, mut namespaces_writer) = reflector::store();
        for (name, labels) in namespaces {
            let mut ns = PartialObjectMeta::<Namespace>::default();
            ns.metadata.name = Some(name.to_string());
            ns.metadata.labels = Some(labels.clone());
            namespaces_writer.apply_watcher_event(&watcher::Event::InitApply(ns));
        }
        namespaces_writer.apply_watcher_event(&watcher::Event::InitDone);
        Arc::new(Self {
            accounts: accounts_store,
            namespaces: namespaces_store,
            allow_operator_identity,
            aws: Accounts::new(operator),
            external_ids,
            installation: installation.into(),
            moved: broadcast::channel(1).0,
            listed: watch::Sender::new(ACCOUNTS_LISTED | NAMESPACES_LISTED),
        })
    }

    /// Once both watches have listed what exists.
    ///
    /// Not the stores' own `wait_until_ready`: it wakes only the last of several tasks waiting
    /// at once, and every reconcile waits here.
    pub async fn ready(&self) {
        let mut listed = self.listed.subscribe();
        let _ = listed.wait_for(|l| *l == ACCOUNTS_LISTED | NAMESPACES_LISTED).await;
    }

    /// The operator's own identity.
    pub fn operator(&self) -> &Aws {
        self.aws.operator()
    }

    /// Changes that may move resources to another account, from now on.
    pub fn moves(&self) -> impl Stream<Item = Moved> + Send + 'static {
        futures::stream::unfold(self.moved.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(moved) => return Some((moved, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// The resources of `resources` that `moved` may move to another account.
    pub fn moved_by<'a>(
        &self,
        moved: &'a Moved,
        resources: &'a [Arc<CognitoSmsConfig>],
    ) -> impl Iterator<Item = ObjectRef<CognitoSmsConfig>> + 'a {
        let labels = match moved {
            Moved::Account(_) => self.labels_by_namespace(),
            Moved::Namespace(_) => HashMap::new(),
        };
        resources
            .iter()
            .filter(move |res| {
                let ns = res.namespace().unwrap_or_default();
                match moved {
                    Moved::Namespace(name) => *name == ns,
                    Moved::Account(account) => {
                        let selected_before = res
                            .status
                            .as_ref()
                            .and_then(|s| s.account.as_ref())
                            .and_then(|a| a.selected_by.as_deref())
                            == account.metadata.name.as_deref();
                        let empty = Default::default();
                        selected_before || tenancy::selects(&account.spec, &ns, labels.get(&ns).unwrap_or(&empty))
                    }
                }
            })
            .map(|res| ObjectRef::from_obj(res.as_ref()))
    }

    fn labels_by_namespace(&self) -> HashMap<String, std::collections::BTreeMap<String, String>> {
        self.namespaces
            .state()
            .iter()
            .map(|n| (n.name_any(), n.labels().clone()))
            .collect()
    }

    /// Whether `account` selects namespace `namespace`, as the watch shows its labels.
    pub fn selects(&self, account: &CognitoSmsAccount, namespace: &str) -> bool {
        let labels = self
            .namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
            .unwrap_or_default();
        tenancy::selects(&account.spec, namespace, &labels)
    }

    /// The other accounts that select namespaces `account` selects: (account, namespaces).
    pub fn overlaps(&self, account: &CognitoSmsAccount) -> std::collections::BTreeMap<String, Vec<String>> {
        let accounts = self.accounts.state();
        let namespaces = self.namespaces.state();
        let labelled: Vec<(String, std::collections::BTreeMap<String, String>)> =
            namespaces.iter().map(|n| (n.name_any(), n.labels().clone())).collect();
        tenancy::overlapping(
            account,
            accounts.iter().map(AsRef::as_ref),
            labelled.iter().map(|(n, l)| (n.as_str(), l)),
        )
    }

    /// Where `obj`'s namespace is mapped, as the watches show it now.
    pub fn selection(&self, namespace: &str) -> Result<Selection, NotActing> {
        let ns = self
            .namespaces
            .get(&ObjectRef::new(namespace))
            .ok_or(NotActing::NamespaceNotSeen)?;
        let accounts = self.accounts.state();
        Ok(tenancy::select(
            accounts.iter().map(AsRef::as_ref),
            namespace,
            ns.labels(),
            self.allow_operator_identity,
        ))
    }

    /// The account the resources of `namespace` act in now, in the terms of
    /// [`Acting::account`]; `None` when they act in none, or it is not known yet.
    pub fn account_of(&self, namespace: &str) -> Option<String> {
        match self.selection(namespace) {
            Ok(Selection::Mapped(mapping)) => Some(mapping.account_id),
            Ok(Selection::OperatorIdentity) => Some(String::new()),
            _ => None,
        }
    }

    /// The clients a reconcile of `obj` acts with, and how they were chosen; or why it may not
    /// act in any account.
    pub async fn acting_for(&self, obj: &CognitoSmsConfig) -> Result<(Aws, Acting), NotActing> {
        let namespace = obj.namespace().unwrap_or_default();
        let selection = self.selection(&namespace)?;
        tracing::debug!(?selection, "account selected");
        match selection {
            Selection::OperatorIdentity => Ok((self.operator().clone(), Acting::OperatorIdentity)),
            Selection::Unmapped => Err(NotActing::Unmapped),
            Selection::Conflict(names) => Err(NotActing::Conflict(names)),
            Selection::Mapped(mapping) => {
                let role = self.role_for(&mapping, &namespace).await?;
                tracing::debug!(role = %role.role_arn, session = %role.session_name, "assuming the account's role");
                match self.aws.assume(&role).await {
                    Ok(aws) => Ok((aws, Acting::Mapped(mapping))),
                    Err(e) => Err(NotActing::AssumeRoleFailed(Box::new(mapping), Box::new(e))),
                }
            }
        }
    }

    /// What `account`'s status reports: whether its role can be assumed (taken as shown when
    /// `assumed` says a resource has just acted through it), whether its selector is valid, the
    /// accounts it overlaps with, and the `resources` acting through it.
    pub async fn findings(&self, account: &CognitoSmsAccount, resources: usize, assumed: bool) -> AccountFindings {
        AccountFindings {
            assumed: if assumed {
                Ok(())
            } else {
                self.check(&Mapping::of(account)).await
            },
            invalid_selector: tenancy::selector(&account.spec).err().map(|e| e.to_string()),
            overlaps: self.overlaps(account),
            resources: u32::try_from(resources).unwrap_or(u32::MAX),
        }
    }

    /// Whether the operator can assume `mapping`'s role: the `CognitoSmsAccount`'s own check,
    /// in a session of its own.
    pub async fn check(&self, mapping: &Mapping) -> Result<(), NotActing> {
        let mut role = self.role_for(mapping, "").await?;
        role.session_name = tenancy::session_name(&format!("account.{}", mapping.name));
        role.tags.retain(|(k, _)| k != tenancy::session_tags::NAMESPACE);
        match self.aws.assume(&role).await {
            Ok(_) => Ok(()),
            Err(e) => Err(NotActing::AssumeRoleFailed(Box::new(mapping.clone()), Box::new(e))),
        }
    }

    async fn role_for(&self, mapping: &Mapping, namespace: &str) -> Result<AssumeRole, NotActing> {
        let external_id = match &mapping.external_id_secret_ref {
            Some(at) => Some(
                self.external_id(at)
                    .await
                    .map_err(|why| NotActing::ExternalIdUnreadable(Box::new(mapping.clone()), why))?,
            ),
            None => None,
        };
        Ok(AssumeRole {
            role_arn: mapping.role_arn.clone(),
            account_id: mapping.account_id.clone(),
            external_id,
            session_name: tenancy::session_name(namespace),
            tags: tenancy::session_tags(namespace, &mapping.name, &self.installation),
        })
    }

    /// The external ID at `at`, in the operator's namespace. Neither the value nor any part of
    /// it appears in an error.
    async fn external_id(&self, at: &SecretKeyRef) -> Result<String, String> {
        let namespace = self.external_ids.namespace();
        let secret = self
            .external_ids
            .secret(&at.name)
            .await?
            .ok_or_else(|| format!("Secret {namespace}/{} does not exist", at.name))?;
        // A Secret from a file may give the value in stringData, as the API server merges it.
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&at.key))
            .map(|v| v.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&at.key))
                    .map(|v| v.clone().into_bytes())
            })
            .ok_or_else(|| format!("Secret {namespace}/{} has no key {}", at.name, at.key))?;
        let value = std::str::from_utf8(&value)
            .ok()
            .map(str::trim)
            .filter(|v| tenancy::valid_external_id(v))
            .ok_or_else(|| {
                format!(
                    "key {} of Secret {namespace}/{} holds no valid external ID: 2 to 1224 characters, letters, digits \
                     and +=,.@:/-",
                    at.key, at.name
                )
            })?;
        Ok(value.to_string())
    }
}

/// The spec generation of each account seen, and whether the first list of them is complete.
#[derive(Debug, Default)]
struct Generations {
    seen: HashMap<String, i64>,
    listed: bool,
}

impl crate::metrics::RateLimits for Tenancy {
    fn by_account(&self) -> Vec<(String, Arc<crate::aws::limits::Limits>)> {
        self.aws.limits()
    }
}

/// The accounts of `event` whose spec is new (created, changed generation) or that are gone.
/// Those of the first list are not: no resource has been reconciled before them.
fn spec_changes(
    generations: &Mutex<Generations>,
    event: watcher::Event<CognitoSmsAccount>,
) -> Vec<Arc<CognitoSmsAccount>> {
    let mut generations = generations.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        watcher::Event::Apply(a) | watcher::Event::InitApply(a) => {
            let generation = a.metadata.generation.unwrap_or_default();
            let before = generations.seen.insert(a.name_any(), generation);
            if before == Some(generation) || (before.is_none() && !generations.listed) {
                vec![]
            } else {
                vec![Arc::new(a)]
            }
        }
        watcher::Event::Delete(a) => {
            generations.seen.remove(&a.name_any());
            vec![Arc::new(a)]
        }
        watcher::Event::InitDone => {
            generations.listed = true;
            vec![]
        }
        watcher::Event::Init => vec![],
    }
}

/// The namespaces of `event` whose labels changed since last seen (a namespace seen for the
/// first time has no resources reconciled yet in another account).
fn relabelled(
    labels: &Mutex<HashMap<String, u64>>,
    event: watcher::Event<PartialObjectMeta<Namespace>>,
) -> Vec<String> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut seen = labels.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        watcher::Event::Apply(ns) | watcher::Event::InitApply(ns) => {
            let mut h = DefaultHasher::new();
            ns.labels().hash(&mut h);
            let before = seen.insert(ns.name_any(), h.finish());
            match before {
                Some(b) if b != h.finish() => vec![ns.name_any()],
                _ => vec![],
            }
        }
        watcher::Event::Delete(ns) => {
            seen.remove(&ns.name_any());
            vec![]
        }
        watcher::Event::Init | watcher::Event::InitDone => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, generation: i64) -> CognitoSmsAccount {
        let mut a: CognitoSmsAccount = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "generation": generation},
            "spec": {"roleArn": "arn:aws:iam::222222222222:role/ops", "namespaces": ["payments"]},
        }))
        .unwrap();
        a.metadata.generation = Some(generation);
        a
    }

    #[test]
    fn the_first_list_moves_nothing_and_later_spec_changes_do() {
        let generations = Mutex::default();
        let moved = |event| {
            spec_changes(&generations, event)
                .iter()
                .map(|a| a.name_any())
                .collect::<Vec<_>>()
        };
        assert!(moved(watcher::Event::Init).is_empty());
        assert!(
            moved(watcher::Event::InitApply(account("payments", 1))).is_empty(),
            "listed before any resource is reconciled"
        );
        assert!(moved(watcher::Event::InitDone).is_empty());
        assert!(
            moved(watcher::Event::Apply(account("payments", 1))).is_empty(),
            "its status changed"
        );
        assert_eq!(moved(watcher::Event::Apply(account("payments", 2))), ["payments"]);
        assert_eq!(
            moved(watcher::Event::Apply(account("shop", 1))),
            ["shop"],
            "created since"
        );
        // A relist after the watch was down: what changed meanwhile moves resources.
        assert!(moved(watcher::Event::Init).is_empty());
        assert!(moved(watcher::Event::InitApply(account("shop", 1))).is_empty());
        assert_eq!(moved(watcher::Event::InitApply(account("batch", 1))), ["batch"]);
        assert_eq!(moved(watcher::Event::Delete(account("shop", 1))), ["shop"]);
    }
}
