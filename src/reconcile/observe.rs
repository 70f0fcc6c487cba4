//! Observe: every read one reconcile makes, AWS and Secrets, gathered into an [`Observed`] value
//! before anything is decided. Reads go through the [`Reads`] trait, so the pipeline can be
//! driven without AWS in tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::account::protect::OwnedProtect;
use crate::account::{AccountSms, CountryRules, NumberIds};
use crate::account_cache::AccountCache;
use crate::aws::{Aws, AwsError};
use crate::crd::{CognitoSmsConfig, CognitoSmsConfigStatus, DeliveryPath, SecretKeyRef};
use crate::desired::{self, Desired, LogConfiguration, ObservedRole, Ownership, Replica, UserPool};
use crate::plan::reads::{self, RoleToRead};
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
    /// The Regions of pool `id`, asked in `region`; `None` when the pool does not exist.
    fn replicas(&self, region: &str, id: &str) -> impl Future<Output = Result<Option<Vec<Replica>>, AwsError>> + Send;
    fn role(&self, name: &str) -> impl Future<Output = Result<Option<ObservedRole>, AwsError>> + Send;
    /// The log configurations of pool `id` in `region`; `None` when the pool does not exist.
    fn log_delivery(
        &self,
        region: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<LogConfiguration>>, AwsError>> + Send;
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
    /// Every protect configuration of the account in `region`: (ID, ARN).
    fn protect_configurations(
        &self,
        region: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// The SMS rules of protect configuration `id` in `region`; `None` when it is gone.
    fn protect_rules(
        &self,
        region: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<CountryRules>, AwsError>> + Send;
    /// The tags of End User Messaging resource `arn` (a verified destination number, a protect
    /// configuration) in `region`; `None` when it is gone.
    fn sms_voice_tags(
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
    fn replicas(&self, region: &str, id: &str) -> impl Future<Output = Result<Option<Vec<Replica>>, AwsError>> + Send {
        (*self).replicas(region, id)
    }
    fn role(&self, name: &str) -> impl Future<Output = Result<Option<ObservedRole>, AwsError>> + Send {
        (*self).role(name)
    }
    fn log_delivery(
        &self,
        region: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<LogConfiguration>>, AwsError>> + Send {
        (*self).log_delivery(region, id)
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
    fn sms_voice_tags(
        &self,
        region: &str,
        arn: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, AwsError>> + Send {
        (*self).sms_voice_tags(region, arn)
    }
    fn protect_configurations(
        &self,
        region: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send {
        (*self).protect_configurations(region)
    }
    fn protect_rules(
        &self,
        region: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<CountryRules>, AwsError>> + Send {
        (*self).protect_rules(region, id)
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
    async fn replicas(&self, region: &str, id: &str) -> Result<Option<Vec<Replica>>, AwsError> {
        self.aws.cognito(region).replicas(id).await
    }
    async fn role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        self.aws.iam().get_role(name).await
    }
    async fn log_delivery(&self, region: &str, id: &str) -> Result<Option<Vec<LogConfiguration>>, AwsError> {
        self.aws.cognito(region).log_configurations(id).await
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
    async fn protect_configurations(&self, region: &str) -> Result<Vec<(String, String)>, AwsError> {
        self.aws.sms_voice(region).protect_configurations().await
    }
    async fn protect_rules(&self, region: &str, id: &str) -> Result<Option<CountryRules>, AwsError> {
        self.aws.sms_voice(region).protect_rules(id).await
    }
    async fn sms_voice_tags(&self, region: &str, arn: &str) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        self.aws.sms_voice(region).tags_of(arn).await
    }
    async fn code(&self, secret: &SecretKeyRef) -> Result<Option<SecretCode>, SecretError> {
        self.secrets.code(&secret.name, &secret.key).await
    }
    fn forget_account_sms(&self, account: &str, region: &str) {
        self.cache.invalidate(account, region);
    }
}

/// Read what reconciling `res` towards `spec`, its parsed spec, needs, in the order and to the
/// extent the plan's rules say ([`reads`]). Fails only when the account cannot be identified;
/// every other failed read is kept in [`Observed`] for the plan to report.
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
    let mut observed = Observed {
        pool: reads.user_pool(&spec.pool_region, &spec.user_pool_id).await.into(),
        replicas: Read::Skipped,
        replica_pools: vec![],
        replica_accounts: BTreeMap::new(),
        role: RoleReads {
            role: Read::Skipped,
            policies: Read::Skipped,
            stale_policy: Read::Skipped,
        },
        log_delivery: BTreeMap::new(),
        protect: Read::Skipped,
        account_sms: Read::Skipped,
        codes: BTreeMap::new(),
        number_tags: BTreeMap::new(),
        account_id,
    };
    let pool = match &observed.pool {
        Read::Found(pool) if reads::pool_owned_elsewhere(pool, installation, spec) => return Ok(observed),
        Read::Found(pool) => Some(pool),
        _ => None,
    };
    if let Some(pool) = pool {
        observed.replicas = reads.replicas(&spec.pool_region, &spec.user_pool_id).await.into();
        if let Read::Found(replicas) = &observed.replicas {
            for replica in reads::secondaries_to_read(replicas) {
                let read = reads.user_pool(&replica.region, &spec.user_pool_id).await.into();
                observed.replica_pools.push((replica.clone(), read));
            }
        }
        let last_path = res.status.as_ref().and_then(|s| s.delivery_path);
        let to_read = reads::role_to_read(spec, pool, &observed.account_id, installation);
        observed.role = observe_role(reads, spec, to_read, last_path).await;
        for region in reads::log_delivery_regions(spec, res.status.as_ref(), &observed.replica_pools) {
            let read = reads.log_delivery(&region, &spec.user_pool_id).await.into();
            observed.log_delivery.insert(region, read);
        }
        if reads::protect_to_read(spec, res.status.as_ref()) {
            observed.protect = observe_protect(reads, spec, res.status.as_ref()).await.into();
        }
    }
    observed.account_sms = reads.account_sms(&observed.account_id, spec.sms_region()).await.into();
    let elsewhere = reads::replica_sms_regions(spec, &observed.replica_pools);
    let recorded = res.status.as_ref().map_or(&[][..], |s| &s.sandbox_phone_numbers);
    let number_regions = reads::number_regions(spec, recorded);
    for region in elsewhere.into_iter().chain(number_regions) {
        if !observed.replica_accounts.contains_key(&region) {
            let account = reads.account_sms(&observed.account_id, &region).await.into();
            observed.replica_accounts.insert(region, account);
        }
    }
    for (at, n) in reads::numbers_awaiting_code(spec, &observed) {
        let code = reads.code(&n.verification_code_ref).await;
        observed.codes.insert(at, code);
    }
    for (at, arn) in reads::unrecorded_numbers(spec, res.status.as_ref(), &observed, ids) {
        // A number whose tags cannot be read is left out, so it is not taken for this one's.
        if let Ok(Some(tags)) = reads.sms_voice_tags(&at.region, &arn).await {
            observed.number_tags.insert(at, tags);
        }
    }
    Ok(observed)
}

/// This resource's protect configuration in the pool's region: the one status records, else the
/// one tagged with this resource (after a crash between creating it and writing status).
async fn observe_protect<R: Reads>(
    reads: &R,
    spec: &Desired,
    previous: Option<&CognitoSmsConfigStatus>,
) -> Result<Option<OwnedProtect>, AwsError> {
    let region = spec.sms_region();
    let recorded = previous
        .and_then(|s| s.protect.as_ref())
        .and_then(|p| p.protect_configuration_id.clone());
    let id = match recorded {
        Some(id) => Some(id),
        None => {
            let mut found = None;
            for (id, arn) in reads.protect_configurations(region).await? {
                let tags = reads.sms_voice_tags(region, &arn).await?.unwrap_or_default();
                if desired::ownership(&tags, &spec.owner) == Ownership::Ours {
                    found = Some(id);
                    break;
                }
            }
            found
        }
    };
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(reads
        .protect_rules(region, &id)
        .await?
        .map(|rules| OwnedProtect { id, rules }))
}

/// The role, and the policies the plan needs of it.
async fn observe_role<R: Reads>(
    reads: &R,
    spec: &Desired,
    to_read: RoleToRead<'_>,
    last_path: Option<DeliveryPath>,
) -> RoleReads {
    let mut out = RoleReads {
        role: Read::Skipped,
        policies: Read::Skipped,
        stale_policy: Read::Skipped,
    };
    match to_read {
        RoleToRead::Nothing => {}
        RoleToRead::Existing { name, arn } => {
            out.role = reads.role(name).await.into();
            if matches!(&out.role, Read::Found(r) if r.arn == arn) {
                out.policies = reads.role_policies(name).await.into();
            }
        }
        RoleToRead::Managed { name, predecessor } => {
            out.role = reads.role(&name).await.into();
            let Read::Found(role) = &out.role else {
                return out;
            };
            let Some(policies) = reads::managed_policies_to_read(spec, role, predecessor.as_deref(), last_path) else {
                return out;
            };
            out.policies = match reads.inline_policy(&name, policies.current).await {
                Ok(doc) => Read::Found(doc.into_iter().collect()),
                Err(e) => Read::Failed(e),
            };
            if let Some(stale) = policies.stale {
                out.stale_policy = reads.inline_policy(&name, stale).await.map(|doc| doc.is_some()).into();
            }
        }
    }
    out
}
