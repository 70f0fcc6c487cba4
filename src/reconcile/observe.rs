//! Observe: every read one reconcile makes, AWS and Secrets, gathered into an [`Observed`] value
//! before anything is decided. Reads go through the [`Reads`] trait, so the pipeline can be
//! driven without AWS in tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::account::{AccountSms, Listed, NumberIds};
use crate::account_cache::AccountCache;
use crate::aws::{Aws, AwsError};
use crate::crd::{CognitoSmsConfig, ManagedRole, SecretKeyRef};
use crate::desired::{
    self, Desired, ObservedRole, Ownership, PUBLISH_POLICY_NAME, Path, Role, SEND_TEXT_POLICY_NAME, UserPool,
};
use crate::plan::{Observed, Read, RoleReads, SecretCode, SecretError};

/// Where verification codes come from: the cluster's Secrets, or those in a one-shot file.
pub trait SecretSource: Sync {
    /// The code at `key` of Secret `name` in the resource's namespace; `None` while the Secret or
    /// the key does not exist or is empty; `Err` with a reason when it cannot be read.
    fn code(&self, name: &str, key: &str) -> impl Future<Output = Result<Option<SecretCode>, SecretError>> + Send;
}

/// Every read a reconcile makes. [`AwsReads`] asks AWS (the account's SMS state through the shared
/// cache) and a [`SecretSource`]; tests supply their own answers.
pub trait Reads: Sync {
    fn account_id(&self) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn user_pool(&self, region: &str, id: &str) -> impl Future<Output = Result<Option<UserPool>, AwsError>> + Send;
    fn role(&self, name: &str) -> impl Future<Output = Result<Option<ObservedRole>, AwsError>> + Send;
    /// An inline policy of a role, `None` when the role has none of that name.
    fn inline_policy(&self, role: &str, policy: &str) -> impl Future<Output = Result<Option<Value>, AwsError>> + Send;
    /// Every identity policy document in effect on a role.
    fn role_policies(&self, role: &str) -> impl Future<Output = Result<Vec<Value>, AwsError>> + Send;
    fn account_sms(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<Arc<AccountSms>, AwsError>> + Send;
    fn code(&self, secret: &SecretKeyRef) -> impl Future<Output = Result<Option<SecretCode>, SecretError>> + Send;
    /// The tags of verified destination number `arn` in `region`; `None` when it is gone.
    fn number_tags(
        &self,
        region: &str,
        arn: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, AwsError>> + Send;
    /// Forget what is known of the account's SMS state in `region`, after a write changed it.
    fn forget_account_sms(&self, account: &str, region: &str);
}

impl<T: Reads> Reads for &T {
    fn account_id(&self) -> impl Future<Output = Result<String, AwsError>> + Send {
        (*self).account_id()
    }
    fn user_pool(&self, region: &str, id: &str) -> impl Future<Output = Result<Option<UserPool>, AwsError>> + Send {
        (*self).user_pool(region, id)
    }
    fn role(&self, name: &str) -> impl Future<Output = Result<Option<ObservedRole>, AwsError>> + Send {
        (*self).role(name)
    }
    fn inline_policy(&self, role: &str, policy: &str) -> impl Future<Output = Result<Option<Value>, AwsError>> + Send {
        (*self).inline_policy(role, policy)
    }
    fn role_policies(&self, role: &str) -> impl Future<Output = Result<Vec<Value>, AwsError>> + Send {
        (*self).role_policies(role)
    }
    fn account_sms(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<Arc<AccountSms>, AwsError>> + Send {
        (*self).account_sms(account, region)
    }
    fn code(&self, secret: &SecretKeyRef) -> impl Future<Output = Result<Option<SecretCode>, SecretError>> + Send {
        (*self).code(secret)
    }
    fn number_tags(
        &self,
        region: &str,
        arn: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, AwsError>> + Send {
        (*self).number_tags(region, arn)
    }
    fn forget_account_sms(&self, account: &str, region: &str) {
        (*self).forget_account_sms(account, region)
    }
}

/// The reads of the running operator: AWS, the shared account cache, and Secrets.
pub struct AwsReads<'a, S> {
    pub aws: &'a Aws,
    pub cache: &'a AccountCache,
    pub secrets: &'a S,
}

impl<S: SecretSource> Reads for AwsReads<'_, S> {
    async fn account_id(&self) -> Result<String, AwsError> {
        self.aws.account_id().await
    }
    async fn user_pool(&self, region: &str, id: &str) -> Result<Option<UserPool>, AwsError> {
        self.aws.cognito(region).user_pool(id).await
    }
    async fn role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        self.aws.iam().get_role(name).await
    }
    async fn inline_policy(&self, role: &str, policy: &str) -> Result<Option<Value>, AwsError> {
        self.aws.iam().get_role_policy(role, policy).await
    }
    async fn role_policies(&self, role: &str) -> Result<Vec<Value>, AwsError> {
        self.aws.iam().role_policy_documents(role).await
    }
    async fn account_sms(&self, account: &str, region: &str) -> Result<Arc<AccountSms>, AwsError> {
        self.cache.get(self.aws, account, region).await
    }
    async fn number_tags(&self, region: &str, arn: &str) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        self.aws.sms_voice(region).tags_of(arn).await
    }
    async fn code(&self, secret: &SecretKeyRef) -> Result<Option<SecretCode>, SecretError> {
        self.secrets.code(&secret.name, &secret.key).await
    }
    fn forget_account_sms(&self, account: &str, region: &str) {
        self.cache.invalidate(account, region);
    }
}

/// Read what reconciling `res` towards `spec`, its parsed spec, needs. Fails only when the account cannot be
/// identified; every other failed read is kept in [`Observed`] for the plan to report.
///
/// A pool another installation of the operator manages is read, and nothing else.
pub async fn observe<R: Reads>(
    reads: &R,
    res: &CognitoSmsConfig,
    spec: &Desired,
    installation: &str,
    ids: &NumberIds,
) -> Result<Observed, AwsError> {
    let account_id = reads.account_id().await?;
    let (pool, role) = observe_pool_and_role(reads, res, spec, &account_id, installation).await;
    if pool_owned_elsewhere(&pool, installation, spec) {
        return Ok(Observed {
            account_id,
            pool,
            role,
            account_sms: Read::Skipped,
            codes: BTreeMap::new(),
            number_tags: BTreeMap::new(),
        });
    }
    let account_sms: Read<Arc<AccountSms>> = reads.account_sms(&account_id, spec.sms_region()).await.into();
    let (codes, number_tags) = match &account_sms {
        Read::Found(account) => (
            pending_codes(reads, spec, account).await,
            unrecorded_number_tags(reads, res, spec, account, ids).await,
        ),
        _ => (BTreeMap::new(), BTreeMap::new()),
    };
    Ok(Observed {
        account_id,
        pool,
        role,
        account_sms,
        codes,
        number_tags,
    })
}

/// Whether the pool as read is tagged for another installation of the operator.
fn pool_owned_elsewhere(pool: &Read<UserPool>, installation: &str, spec: &Desired) -> bool {
    matches!(pool, Read::Found(p)
        if !desired::pool_ownership(&p.tags, installation, &spec.owner).is_ours_to_manage())
}

async fn observe_pool_and_role<R: Reads>(
    reads: &R,
    res: &CognitoSmsConfig,
    spec: &Desired,
    account_id: &str,
    installation: &str,
) -> (Read<UserPool>, RoleReads) {
    let skipped = RoleReads {
        role: Read::Skipped,
        policies: Read::Skipped,
        stale_policy: Read::Skipped,
    };
    let pool: Read<UserPool> = reads.user_pool(&spec.pool_region, &spec.user_pool_id).await.into();
    if !matches!(pool, Read::Found(_)) || pool_owned_elsewhere(&pool, installation, spec) {
        return (pool, skipped);
    }
    let role = match &spec.role {
        Role::Existing(existing) => match desired::existing_role_name(&existing.role_arn, account_id) {
            Ok(name) => observe_existing_role(reads, name, &existing.role_arn).await,
            Err(_) => skipped,
        },
        Role::Managed(managed) => {
            let predecessor = match &pool {
                Read::Found(p) => desired::predecessor(&p.tags, installation, &spec.owner),
                _ => None,
            };
            observe_managed_role(reads, res, spec, managed, predecessor.as_deref()).await
        }
    };
    (pool, role)
}

/// The managed role, and its inline policies when the role is this resource's (or comes with the
/// pool from `predecessor`) and where the spec wants it: the one for the path in use and, after a
/// change of path, the other one.
async fn observe_managed_role<R: Reads>(
    reads: &R,
    res: &CognitoSmsConfig,
    spec: &Desired,
    managed: &ManagedRole,
    predecessor: Option<&str>,
) -> RoleReads {
    let name = desired::role_name(managed, &spec.user_pool_id);
    let role: Read<ObservedRole> = reads.role(&name).await.into();
    let ours = matches!(&role, Read::Found(r)
        if desired::ownership_after_handover(&r.tags, &spec.owner, predecessor) == Ownership::Ours
            && r.path == desired::role_path(managed));
    if !ours {
        return RoleReads {
            role,
            policies: Read::Skipped,
            stale_policy: Read::Skipped,
        };
    }
    let (current, stale) = match spec.path {
        Path::Sns { .. } => (PUBLISH_POLICY_NAME, SEND_TEXT_POLICY_NAME),
        Path::Direct(_) => (SEND_TEXT_POLICY_NAME, PUBLISH_POLICY_NAME),
    };
    let policies = match reads.inline_policy(&name, current).await {
        Ok(doc) => Read::Found(doc.into_iter().collect()),
        Err(e) => Read::Failed(e),
    };
    let last_path = res.status.as_ref().and_then(|s| s.delivery_path);
    let stale_policy = if last_path == Some(spec.delivery_path()) {
        Read::Skipped
    } else {
        reads.inline_policy(&name, stale).await.map(|doc| doc.is_some()).into()
    };
    RoleReads {
        role,
        policies,
        stale_policy,
    }
}

/// An existing role, and the policies in effect on it when it is the role the spec names.
async fn observe_existing_role<R: Reads>(reads: &R, name: &str, arn: &str) -> RoleReads {
    let role: Read<ObservedRole> = reads.role(name).await.into();
    let policies = match &role {
        Read::Found(r) if r.arn == arn => reads.role_policies(name).await.into(),
        _ => Read::Skipped,
    };
    RoleReads {
        role,
        policies,
        stale_policy: Read::Skipped,
    }
}

/// The tags of every spec number the account lists that status has no record of.
async fn unrecorded_number_tags<R: Reads>(
    reads: &R,
    res: &CognitoSmsConfig,
    spec: &Desired,
    account: &AccountSms,
    ids: &NumberIds,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let recorded: Vec<&str> = res
        .status
        .iter()
        .flat_map(|s| s.sandbox_phone_numbers.iter().map(|n| n.id.as_str()))
        .collect();
    let mut tags = BTreeMap::new();
    for n in &spec.sandbox_numbers {
        let Some(listed) = account.destinations.get(&n.phone_number) else {
            continue;
        };
        if recorded.iter().any(|id| ids.matches(id, &n.phone_number)) {
            continue;
        }
        if let Ok(Some(found)) = reads.number_tags(spec.sms_region(), &listed.arn).await {
            tags.insert(n.phone_number.clone(), found);
        }
    }
    tags
}

/// The Secret of every spec number SNS lists as pending: the code that completes it.
async fn pending_codes<R: Reads>(
    reads: &R,
    spec: &Desired,
    account: &AccountSms,
) -> BTreeMap<String, Result<Option<SecretCode>, SecretError>> {
    let mut codes = BTreeMap::new();
    for n in &spec.sandbox_numbers {
        if account
            .destinations
            .get(&n.phone_number)
            .is_some_and(|d| d.state == Listed::Pending)
        {
            codes.insert(n.phone_number.clone(), reads.code(&n.verification_code_ref).await);
        }
    }
    codes
}
