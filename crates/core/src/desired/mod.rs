//! From the spec and what was observed in AWS to the AWS state the resource asks for (the changes
//! that get there are in `change`). Pure: no clients, no clocks, no randomness.

mod change;
mod logs;
mod pool_owner;
mod replica;
mod sms;
mod spec;

pub use change::{Change, Concern, RolePolicies, TestMessage, role_changes, sms_configuration_change};
pub use logs::{
    ERROR_LEVEL, LogConfiguration, LogDestination, USER_NOTIFICATION, delivery_errors_group, with_delivery_errors,
};
pub use pool_owner::{
    POOL_TAG_KEYS, PoolOwnership, TAG_INSTALLATION, claimed_message, owned_elsewhere_message, pool_ownership,
    pool_tags, predecessor,
};
pub use replica::{Replica, ReplicaRole, ReplicaStatus, secondaries};
pub use sms::{DirectSms, SmsConfig, UserPool};
pub use spec::{
    Desired, DirectPath, Invalid, Path, ProtectWish, ReplicaPath, ReplicaPathError, Role, owned_configuration_set,
};

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use kube::ResourceExt;

use crate::crd::{CognitoSmsConfig, ManagedRole, SourceArnScope};
use crate::policy;

pub const TAG_MANAGED_BY: &str = "cognitosms.io/managed-by";
pub const TAG_NAMESPACE: &str = "cognitosms.io/namespace";
pub const TAG_NAME: &str = "cognitosms.io/name";
pub const TAG_UID: &str = "cognitosms.io/uid";
pub const MANAGER: &str = "cognito-sms-operator";
/// Name of the managed role's inline permissions policy on the SNS path.
pub const PUBLISH_POLICY_NAME: &str = "cognito-sms-publish";
/// Name of the managed role's inline permissions policy on the direct path.
pub const SEND_TEXT_POLICY_NAME: &str = "cognito-sms-send-text";
pub const DEFAULT_ROLE_PATH: &str = "/service-role/";
const ROLE_NAME_PREFIX: &str = "cognito-sms-";
const ROLE_NAME_MAX: usize = 64;

/// The Kubernetes object a managed role belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

impl Owner {
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (TAG_MANAGED_BY.to_string(), MANAGER.to_string()),
            (TAG_NAMESPACE.to_string(), self.namespace.clone()),
            (TAG_NAME.to_string(), self.name.clone()),
        ]);
        if let Some(uid) = &self.uid {
            tags.insert(TAG_UID.to_string(), uid.clone());
        }
        tags
    }
}

impl Owner {
    /// The Kubernetes identity of `res`.
    pub fn of(res: &CognitoSmsConfig) -> Self {
        Owner {
            namespace: res.namespace().unwrap_or_else(|| "default".into()),
            name: res.name_any(),
            uid: res.uid(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Who a role found in IAM belongs to, judged by its tags. A role belongs to a resource when it
/// carries the operator's managed-by tag and that resource's namespace and name, so a resource
/// deleted with `Retain` and created again adopts its role (the uid tag is then refreshed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Ours,
    /// Managed by this operator for another resource (`namespace/name`).
    OtherResource(String),
    /// Not created by this operator.
    Foreign,
}

pub fn ownership(tags: &BTreeMap<String, String>, owner: &Owner) -> Ownership {
    if tags.get(TAG_MANAGED_BY).map(String::as_str) != Some(MANAGER) {
        return Ownership::Foreign;
    }
    let ns = tags.get(TAG_NAMESPACE).map(String::as_str).unwrap_or("");
    let name = tags.get(TAG_NAME).map(String::as_str).unwrap_or("");
    if ns == owner.namespace && name == owner.name {
        Ownership::Ours
    } else {
        Ownership::OtherResource(format!("{ns}/{name}"))
    }
}

/// Who a role belongs to for `owner`, which is taking its pool over from `predecessor` (see
/// [`predecessor`]): the predecessor's role is `owner`'s now.
pub fn ownership_after_handover(
    tags: &BTreeMap<String, String>,
    owner: &Owner,
    predecessor: Option<&str>,
) -> Ownership {
    match ownership(tags, owner) {
        Ownership::OtherResource(other) if Some(other.as_str()) == predecessor => Ownership::Ours,
        other => other,
    }
}

/// The managed role's name: the spec's, or `cognito-sms-<userPoolId>`, shortened with a stable
/// hash suffix when that would exceed IAM's 64 characters.
pub fn role_name(managed: &ManagedRole, user_pool_id: &str) -> String {
    if let Some(name) = &managed.name {
        return name.clone();
    }
    let full = format!("{ROLE_NAME_PREFIX}{user_pool_id}");
    if full.len() <= ROLE_NAME_MAX {
        return full;
    }
    let digest = Sha256::digest(user_pool_id.as_bytes());
    let suffix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", &full[..ROLE_NAME_MAX - suffix.len() - 1])
}

pub fn role_path(managed: &ManagedRole) -> String {
    managed.path.clone().unwrap_or_else(|| DEFAULT_ROLE_PATH.to_string())
}

pub fn role_arn(partition: &str, account_id: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role{path}{name}")
}

/// Partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), `aws` when it cannot be read.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// The `aws:SourceArn`s the trust policy allows: the pool's ARN in each of its Regions, or every
/// pool of the account in each of those Regions.
pub fn source_arns(scope: SourceArnScope, pool_arns: &[String]) -> Vec<String> {
    let mut arns: Vec<String> = vec![];
    for arn in pool_arns.iter().map(|a| source_arn(scope, a)) {
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    arns
}

/// The `aws:SourceArn` the trust policy allows for one Region: the pool ARN, or every pool of
/// the account in the pool's region.
pub fn source_arn(scope: SourceArnScope, pool_arn: &str) -> String {
    match scope {
        SourceArnScope::UserPool => pool_arn.to_string(),
        SourceArnScope::AllUserPoolsInRegion => match pool_arn.rsplit_once('/') {
            Some((prefix, _)) => format!("{prefix}/*"),
            None => pool_arn.to_string(),
        },
    }
}

/// The external ID the pool and trust policy use. The spec wins; with a managed role the value
/// already in use (status, then the owned role's trust policy) is kept; a new one is generated
/// only when none exists anywhere. An existing role gets only what the spec says.
pub fn external_id(
    in_spec: Option<&str>,
    managed: bool,
    in_status: Option<&str>,
    in_owned_trust_policy: Option<&str>,
    generate: impl FnOnce() -> String,
) -> Option<String> {
    if let Some(id) = in_spec {
        return Some(id.to_string());
    }
    if !managed {
        return None;
    }
    Some(
        in_status
            .or(in_owned_trust_policy)
            .map(String::from)
            .unwrap_or_else(generate),
    )
}

/// Why the ARN of an existing role cannot be read as a role of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingRoleProblem {
    /// The role is in another account than the pool and the operator's credentials.
    OtherAccount(String),
    NotARoleArn,
}

/// The name of the role `arn` names, when it is an IAM role of `account_id`.
pub fn existing_role_name<'a>(arn: &'a str, account_id: &str) -> Result<&'a str, ExistingRoleProblem> {
    let arn_account = arn.split(':').nth(4).unwrap_or_default();
    if arn_account != account_id {
        return Err(ExistingRoleProblem::OtherAccount(arn_account.to_string()));
    }
    role_name_from_arn(arn).ok_or(ExistingRoleProblem::NotARoleArn)
}

/// The role name in a role ARN (`arn:aws:iam::123456789012:role/path/name` → `name`).
pub fn role_name_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":role/")
        .and_then(|(_, rest)| rest.rsplit('/').next())
        .filter(|n| !n.is_empty())
}

/// What the role must let Cognito do: publish through SNS, or send text messages directly
/// through End User Messaging from one identity (or every identity in the pool's region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendPermission {
    Publish,
    /// On each of `resources`: the origination identities of every Region the pool sends from
    /// (the primary's first), or all of a Region's when it names none.
    SendText {
        resources: Vec<String>,
    },
}

impl SendPermission {
    /// The inline policy that grants it, and the one the other path would use.
    pub fn policy_names(&self) -> (&'static str, &'static str) {
        match self {
            SendPermission::Publish => (PUBLISH_POLICY_NAME, SEND_TEXT_POLICY_NAME),
            SendPermission::SendText { .. } => (SEND_TEXT_POLICY_NAME, PUBLISH_POLICY_NAME),
        }
    }

    pub fn document(&self) -> Value {
        match self {
            SendPermission::Publish => policy::publish_policy(),
            SendPermission::SendText { resources } => policy::send_text_policy(resources),
        }
    }

    /// The action, and the resource where it is not `*`.
    pub fn action(&self) -> String {
        match self {
            SendPermission::Publish => policy::SNS_PUBLISH.to_string(),
            SendPermission::SendText { resources } => {
                format!("{} on {}", policy::SEND_TEXT_MESSAGE, resources.join(", "))
            }
        }
    }

    /// Whether `docs`, a role's identity policies, grant it.
    pub fn granted_by(&self, docs: &[Value]) -> bool {
        match self {
            SendPermission::Publish => policy::allows_sns_publish(docs),
            SendPermission::SendText { resources } => resources
                .iter()
                .all(|resource| policy::allows(docs, policy::SEND_TEXT_MESSAGE, resource)),
        }
    }
}

impl fmt::Display for SendPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendPermission::Publish => write!(f, "{} on Resource \"*\"", policy::SNS_PUBLISH),
            SendPermission::SendText { resources } => {
                write!(f, "{} on {}", policy::SEND_TEXT_MESSAGE, resources.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    pub name: String,
    pub path: String,
    pub trust_policy: Value,
    /// The inline policy granting what Cognito needs, by name.
    pub permissions_policy: (&'static str, Value),
    /// The other path's inline policy, which must not stay behind.
    pub stale_policy: &'static str,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The managed role as it should be, for the pool's ARN in each of its Regions (`pool_arns`, the
/// primary's first).
pub fn desired_role(
    managed: &ManagedRole,
    user_pool_id: &str,
    account_id: &str,
    pool_arns: &[String],
    external_id: Option<&str>,
    owner: &Owner,
    permission: &SendPermission,
) -> DesiredRole {
    let mut tags = managed.tags.clone();
    tags.extend(owner.tags());
    let (name, stale) = permission.policy_names();
    DesiredRole {
        name: role_name(managed, user_pool_id),
        path: role_path(managed),
        trust_policy: policy::trust_policy(
            account_id,
            &source_arns(managed.source_arn_scope, pool_arns),
            external_id,
        ),
        permissions_policy: (name, permission.document()),
        stale_policy: stale,
        permissions_boundary: managed.permissions_boundary.clone(),
        tags,
    }
}

/// A role as read from IAM.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRole {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub trust_policy: Value,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const POOL_ARN: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";

    pub(crate) fn owner() -> Owner {
        Owner {
            namespace: "ns".into(),
            name: "app".into(),
            uid: Some("u-1".into()),
        }
    }

    #[test]
    fn role_name_defaults_and_stays_within_iam_limits() {
        let m = ManagedRole::default();
        assert_eq!(role_name(&m, "eu-west-1_Abc"), "cognito-sms-eu-west-1_Abc");
        let long = format!("ap-southeast-1_{}", "A".repeat(40));
        let name = role_name(&m, &long);
        assert_eq!(name.len(), 64);
        assert_eq!(name, role_name(&m, &long), "deterministic");
        assert_ne!(name, role_name(&m, &format!("ap-southeast-1_{}B", "A".repeat(39))));
        let named = ManagedRole {
            name: Some("mine".into()),
            ..Default::default()
        };
        assert_eq!(role_name(&named, "eu-west-1_Abc"), "mine");
    }

    #[test]
    fn role_names_from_arns() {
        assert_eq!(
            role_name_from_arn("arn:aws:iam::123456789012:role/service-role/Sms"),
            Some("Sms")
        );
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:role/Sms"), Some("Sms"));
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:user/Sms"), None);
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:role/"), None);
        assert_eq!(
            existing_role_name("arn:aws:iam::210987654321:role/Sms", "123456789012"),
            Err(ExistingRoleProblem::OtherAccount("210987654321".into()))
        );
        assert_eq!(
            existing_role_name("arn:aws:iam::123456789012:user/Sms", "123456789012"),
            Err(ExistingRoleProblem::NotARoleArn)
        );
    }

    #[test]
    fn source_arn_scopes() {
        assert_eq!(source_arn(SourceArnScope::UserPool, POOL_ARN), POOL_ARN);
        assert_eq!(
            source_arn(SourceArnScope::AllUserPoolsInRegion, POOL_ARN),
            "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*"
        );
    }

    #[test]
    fn external_id_precedence() {
        let gen_called = std::cell::Cell::new(false);
        let generate = || {
            gen_called.set(true);
            "generated".to_string()
        };
        assert_eq!(
            external_id(Some("spec"), true, Some("status"), Some("trust"), generate).as_deref(),
            Some("spec")
        );
        assert_eq!(
            external_id(None, true, Some("status"), Some("trust"), generate).as_deref(),
            Some("status")
        );
        assert_eq!(
            external_id(None, true, None, Some("trust"), generate).as_deref(),
            Some("trust")
        );
        assert!(!gen_called.get());
        assert_eq!(
            external_id(None, true, None, None, generate).as_deref(),
            Some("generated")
        );
        assert_eq!(external_id(None, false, Some("status"), None, || unreachable!()), None);
    }

    #[test]
    fn ownership_by_tags() {
        let o = owner();
        assert_eq!(ownership(&o.tags(), &o), Ownership::Ours);
        let recreated = Owner {
            uid: Some("u-2".into()),
            ..o.clone()
        };
        assert_eq!(
            ownership(&recreated.tags(), &o),
            Ownership::Ours,
            "uid alone does not decide"
        );
        let other = Owner {
            name: "other".into(),
            ..o.clone()
        };
        assert_eq!(
            ownership(&other.tags(), &o),
            Ownership::OtherResource("ns/other".into())
        );
        assert_eq!(ownership(&BTreeMap::new(), &o), Ownership::Foreign);
        let mut impostor = o.tags();
        impostor.insert(TAG_MANAGED_BY.into(), "someone-else".into());
        assert_eq!(ownership(&impostor, &o), Ownership::Foreign);
    }
}
