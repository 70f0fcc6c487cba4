//! From the spec and what was observed in AWS to the AWS state the resource asks for, and the
//! changes that would get there. Pure: no clients, no clocks, no randomness.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crd::{CognitoSmsConfigSpec, ManagedRole, SourceArnScope};
use crate::policy;

pub const TAG_MANAGED_BY: &str = "cognitosms.io/managed-by";
pub const TAG_NAMESPACE: &str = "cognitosms.io/namespace";
pub const TAG_NAME: &str = "cognitosms.io/name";
pub const TAG_UID: &str = "cognitosms.io/uid";
pub const MANAGER: &str = "cognito-sms-operator";
/// Name of the managed role's inline permissions policy.
pub const PUBLISH_POLICY_NAME: &str = "cognito-sms-publish";
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

/// The `aws:SourceArn` the trust policy allows: the pool ARN, or every pool of the account in the
/// pool's region.
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
    spec: &CognitoSmsConfigSpec,
    managed: bool,
    in_status: Option<&str>,
    in_owned_trust_policy: Option<&str>,
    generate: impl FnOnce() -> String,
) -> Option<String> {
    if let Some(id) = &spec.external_id {
        return Some(id.clone());
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

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    pub name: String,
    pub path: String,
    pub trust_policy: Value,
    pub publish_policy: Value,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

pub fn desired_role(
    managed: &ManagedRole,
    user_pool_id: &str,
    account_id: &str,
    pool_arn: &str,
    external_id: Option<&str>,
    owner: &Owner,
) -> DesiredRole {
    let mut tags = managed.tags.clone();
    tags.extend(owner.tags());
    DesiredRole {
        name: role_name(managed, user_pool_id),
        path: role_path(managed),
        trust_policy: policy::trust_policy(account_id, &source_arn(managed.source_arn_scope, pool_arn), external_id),
        publish_policy: policy::publish_policy(),
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

/// The pool's SMS settings, as far as this operator manages them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsConfig {
    pub sns_caller_arn: String,
    pub external_id: Option<String>,
    pub sns_region: Option<String>,
}

impl fmt::Display for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnsCallerArn={} ExternalId={} SnsRegion={}",
            self.sns_caller_arn,
            if self.external_id.is_some() { "(set)" } else { "(none)" },
            self.sns_region.as_deref().unwrap_or("(none)")
        )
    }
}

/// One change to AWS. The reconciler applies them in order; a dry run prints them.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateRole {
        role: DesiredRole,
    },
    UpdateTrustPolicy {
        role_name: String,
        document: Value,
    },
    PutPublishPolicy {
        role_name: String,
        document: Value,
    },
    PutPermissionsBoundary {
        role_name: String,
        policy_arn: String,
    },
    DeletePermissionsBoundary {
        role_name: String,
    },
    TagRole {
        role_name: String,
        tags: BTreeMap<String, String>,
    },
    UpdateSmsConfiguration {
        user_pool_id: String,
        from: Option<SmsConfig>,
        to: SmsConfig,
    },
    DeleteRole {
        role_name: String,
    },
    AddSandboxNumber {
        region: String,
        number: String,
        language: Option<String>,
    },
    VerifySandboxNumber {
        region: String,
        number: String,
    },
    RemoveSandboxNumber {
        region: String,
        number: String,
    },
}

impl Change {
    /// CamelCase reason for the Kubernetes Event announcing the change.
    pub fn event_reason(&self) -> &'static str {
        match self {
            Change::CreateRole { .. } => "RoleCreated",
            Change::UpdateTrustPolicy { .. } => "TrustPolicyUpdated",
            Change::PutPublishPolicy { .. } => "PermissionsPolicyUpdated",
            Change::PutPermissionsBoundary { .. } | Change::DeletePermissionsBoundary { .. } => {
                "PermissionsBoundaryUpdated"
            }
            Change::TagRole { .. } => "RoleTagged",
            Change::UpdateSmsConfiguration { .. } => "SmsConfigurationUpdated",
            Change::DeleteRole { .. } => "RoleDeleted",
            Change::AddSandboxNumber { .. } => "SandboxNumberAdded",
            Change::VerifySandboxNumber { .. } => "SandboxNumberVerified",
            Change::RemoveSandboxNumber { .. } => "SandboxNumberRemoved",
        }
    }

    /// Whether the change alters what Cognito may do with the role (IAM takes a while to
    /// propagate such changes).
    pub fn touches_role_permissions(&self) -> bool {
        matches!(
            self,
            Change::CreateRole { .. }
                | Change::UpdateTrustPolicy { .. }
                | Change::PutPublishPolicy { .. }
                | Change::PutPermissionsBoundary { .. }
                | Change::DeletePermissionsBoundary { .. }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateRole { role } => {
                write!(
                    f,
                    "create IAM role {}{} trusted by {}",
                    role.path,
                    role.name,
                    policy::COGNITO_PRINCIPAL
                )
            }
            Change::UpdateTrustPolicy { role_name, .. } => {
                write!(f, "update the trust policy of IAM role {role_name}")
            }
            Change::PutPublishPolicy { role_name, .. } => write!(
                f,
                "put inline policy {PUBLISH_POLICY_NAME} (sns:Publish) on IAM role {role_name}"
            ),
            Change::PutPermissionsBoundary { role_name, policy_arn } => {
                write!(f, "set permissions boundary {policy_arn} on IAM role {role_name}")
            }
            Change::DeletePermissionsBoundary { role_name } => {
                write!(f, "remove the permissions boundary of IAM role {role_name}")
            }
            Change::TagRole { role_name, tags } => write!(
                f,
                "tag IAM role {role_name} with {}",
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Change::UpdateSmsConfiguration { user_pool_id, from, to } => write!(
                f,
                "set SmsConfiguration of user pool {user_pool_id} to {to} (was {}), keeping every other setting",
                from.as_ref().map(ToString::to_string).unwrap_or_else(|| "unset".into())
            ),
            Change::DeleteRole { role_name } => write!(f, "delete IAM role {role_name}"),
            Change::AddSandboxNumber { region, number, .. } => write!(
                f,
                "add {} to the SMS sandbox in {region} (SNS texts it a verification code)",
                crate::sns::mask(number)
            ),
            Change::VerifySandboxNumber { region, number } => write!(
                f,
                "verify {} in the SMS sandbox in {region} with the code from its Secret",
                crate::sns::mask(number)
            ),
            Change::RemoveSandboxNumber { region, number } => {
                write!(
                    f,
                    "remove {} from the SMS sandbox in {region}",
                    crate::sns::mask(number)
                )
            }
        }
    }
}

/// The changes that bring an owned (or missing) role to `desired`, given its inline publish
/// policy as read (`None` when absent).
pub fn role_changes(desired: &DesiredRole, observed: Option<(&ObservedRole, Option<&Value>)>) -> Vec<Change> {
    let Some((role, publish)) = observed else {
        return vec![
            Change::CreateRole { role: desired.clone() },
            Change::PutPublishPolicy {
                role_name: desired.name.clone(),
                document: desired.publish_policy.clone(),
            },
        ];
    };
    let mut changes = vec![];
    if !policy::equivalent(&role.trust_policy, &desired.trust_policy) {
        changes.push(Change::UpdateTrustPolicy {
            role_name: desired.name.clone(),
            document: desired.trust_policy.clone(),
        });
    }
    if !publish.is_some_and(|p| policy::equivalent(p, &desired.publish_policy)) {
        changes.push(Change::PutPublishPolicy {
            role_name: desired.name.clone(),
            document: desired.publish_policy.clone(),
        });
    }
    match (&desired.permissions_boundary, &role.permissions_boundary) {
        (Some(want), have) if have.as_ref() != Some(want) => changes.push(Change::PutPermissionsBoundary {
            role_name: desired.name.clone(),
            policy_arn: want.clone(),
        }),
        (None, Some(_)) => changes.push(Change::DeletePermissionsBoundary {
            role_name: desired.name.clone(),
        }),
        _ => {}
    }
    let missing: BTreeMap<String, String> = desired
        .tags
        .iter()
        .filter(|(k, v)| role.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !missing.is_empty() {
        changes.push(Change::TagRole {
            role_name: desired.name.clone(),
            tags: missing,
        });
    }
    changes
}

/// The pool update that points the pool at `desired`, if the pool is not already there.
pub fn sms_configuration_change(
    user_pool_id: &str,
    current: Option<&SmsConfig>,
    desired: &SmsConfig,
) -> Option<Change> {
    (current != Some(desired)).then(|| Change::UpdateSmsConfiguration {
        user_pool_id: user_pool_id.to_string(),
        from: current.cloned(),
        to: desired.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POOL_ARN: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";

    fn owner() -> Owner {
        Owner {
            namespace: "ns".into(),
            name: "app".into(),
            uid: Some("u-1".into()),
        }
    }

    fn spec(external_id: Option<&str>) -> CognitoSmsConfigSpec {
        serde_json::from_value(json!({"userPoolId": "eu-west-1_Abc", "externalId": external_id})).unwrap()
    }

    fn observed_from(desired: &DesiredRole) -> ObservedRole {
        ObservedRole {
            name: desired.name.clone(),
            arn: role_arn("aws", "123456789012", &desired.path, &desired.name),
            path: desired.path.clone(),
            trust_policy: desired.trust_policy.clone(),
            permissions_boundary: desired.permissions_boundary.clone(),
            tags: desired.tags.clone(),
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
            external_id(&spec(Some("spec")), true, Some("status"), Some("trust"), generate).as_deref(),
            Some("spec")
        );
        assert_eq!(
            external_id(&spec(None), true, Some("status"), Some("trust"), generate).as_deref(),
            Some("status")
        );
        assert_eq!(
            external_id(&spec(None), true, None, Some("trust"), generate).as_deref(),
            Some("trust")
        );
        assert!(!gen_called.get());
        assert_eq!(
            external_id(&spec(None), true, None, None, generate).as_deref(),
            Some("generated")
        );
        assert_eq!(
            external_id(&spec(None), false, Some("status"), None, || unreachable!()),
            None
        );
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

    #[test]
    fn missing_role_is_created_with_its_policy() {
        let d = desired_role(
            &ManagedRole::default(),
            "eu-west-1_Abc",
            "123456789012",
            POOL_ARN,
            Some("x"),
            &owner(),
        );
        let changes = role_changes(&d, None);
        assert!(matches!(
            &changes[..],
            [Change::CreateRole { .. }, Change::PutPublishPolicy { .. }]
        ));
        assert_eq!(d.tags.get(TAG_UID).map(String::as_str), Some("u-1"));
        assert_eq!(d.path, "/service-role/");
    }

    #[test]
    fn role_in_shape_needs_nothing() {
        let d = desired_role(
            &ManagedRole::default(),
            "eu-west-1_Abc",
            "123456789012",
            POOL_ARN,
            Some("x"),
            &owner(),
        );
        let obs = observed_from(&d);
        assert!(role_changes(&d, Some((&obs, Some(&policy::publish_policy())))).is_empty());
    }

    #[test]
    fn drift_is_repaired() {
        let managed = ManagedRole {
            permissions_boundary: Some("arn:aws:iam::123456789012:policy/boundary".into()),
            ..Default::default()
        };
        let d = desired_role(&managed, "eu-west-1_Abc", "123456789012", POOL_ARN, Some("x"), &owner());
        let mut obs = observed_from(&d);
        obs.trust_policy = policy::trust_policy("123456789012", "arn:aws:cognito-idp:*:*:userpool/*", None);
        obs.permissions_boundary = None;
        obs.tags.remove(TAG_UID);
        let changes = role_changes(&d, Some((&obs, None)));
        let reasons: Vec<_> = changes.iter().map(Change::event_reason).collect();
        assert_eq!(
            reasons,
            [
                "TrustPolicyUpdated",
                "PermissionsPolicyUpdated",
                "PermissionsBoundaryUpdated",
                "RoleTagged"
            ]
        );
        let Change::TagRole { tags, .. } = &changes[3] else {
            unreachable!()
        };
        assert_eq!(tags.keys().collect::<Vec<_>>(), [TAG_UID]);
    }

    #[test]
    fn boundary_removed_when_spec_drops_it() {
        let d = desired_role(
            &ManagedRole::default(),
            "eu-west-1_Abc",
            "123456789012",
            POOL_ARN,
            None,
            &owner(),
        );
        let mut obs = observed_from(&d);
        obs.permissions_boundary = Some("arn:aws:iam::123456789012:policy/b".into());
        let changes = role_changes(&d, Some((&obs, Some(&policy::publish_policy()))));
        assert!(matches!(&changes[..], [Change::DeletePermissionsBoundary { .. }]));
    }

    #[test]
    fn sms_configuration_written_only_when_it_differs() {
        let want = SmsConfig {
            sns_caller_arn: "arn:aws:iam::123456789012:role/service-role/r".into(),
            external_id: Some("x".into()),
            sns_region: Some("eu-west-1".into()),
        };
        assert!(sms_configuration_change("p", Some(&want), &want).is_none());
        assert!(sms_configuration_change("p", None, &want).is_some());
        let other_region = SmsConfig {
            sns_region: None,
            ..want.clone()
        };
        assert!(sms_configuration_change("p", Some(&other_region), &want).is_some());
    }

    #[test]
    fn change_descriptions_never_show_the_external_id() {
        let c = Change::UpdateSmsConfiguration {
            user_pool_id: "p".into(),
            from: None,
            to: SmsConfig {
                sns_caller_arn: "arn".into(),
                external_id: Some("secret-ish".into()),
                sns_region: None,
            },
        };
        assert!(!c.to_string().contains("secret-ish"));
    }
}
