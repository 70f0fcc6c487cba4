//! The changes that bring AWS to the desired state, one value per AWS write. Pure.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cognitoidentityprovider::types::UserPoolType;
use serde_json::Value;

use super::{DesiredRole, ObservedRole, PUBLISH_POLICY_NAME, SmsConfig};
use crate::account::{Code, mask};
use crate::policy;

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
        /// The pool as read: UpdateUserPool resets what it is not sent, so every other setting
        /// is sent back from here.
        latest: Box<UserPoolType>,
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
        /// The code from the number's Secret; never printed.
        code: Code,
    },
    RemoveSandboxNumber {
        region: String,
        number: String,
    },
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    Role,
    Pool,
    SandboxNumber,
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

    /// What the change is about; changes to the pool depend on the role being in shape.
    pub fn concern(&self) -> Concern {
        match self {
            Change::CreateRole { .. }
            | Change::UpdateTrustPolicy { .. }
            | Change::PutPublishPolicy { .. }
            | Change::PutPermissionsBoundary { .. }
            | Change::DeletePermissionsBoundary { .. }
            | Change::TagRole { .. }
            | Change::DeleteRole { .. } => Concern::Role,
            Change::UpdateSmsConfiguration { .. } => Concern::Pool,
            Change::AddSandboxNumber { .. }
            | Change::VerifySandboxNumber { .. }
            | Change::RemoveSandboxNumber { .. } => Concern::SandboxNumber,
        }
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
            Change::UpdateSmsConfiguration {
                user_pool_id, from, to, ..
            } => write!(
                f,
                "set SmsConfiguration of user pool {user_pool_id} to {to} (was {}), keeping every other setting",
                from.as_ref().map(ToString::to_string).unwrap_or_else(|| "unset".into())
            ),
            Change::DeleteRole { role_name } => write!(f, "delete IAM role {role_name}"),
            Change::AddSandboxNumber { region, number, .. } => write!(
                f,
                "add {} to the SMS sandbox in {region} (SNS texts it a verification code)",
                mask(number)
            ),
            Change::VerifySandboxNumber { region, number, .. } => write!(
                f,
                "verify {} in the SMS sandbox in {region} with the code from its Secret",
                mask(number)
            ),
            Change::RemoveSandboxNumber { region, number } => {
                write!(f, "remove {} from the SMS sandbox in {region}", mask(number))
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

/// The pool update that points `pool` (as read, its SMS settings `current`) at `desired`, if the
/// pool is not already there.
pub fn sms_configuration_change(
    pool: &UserPoolType,
    current: Option<&SmsConfig>,
    desired: &SmsConfig,
) -> Option<Change> {
    (current != Some(desired)).then(|| Change::UpdateSmsConfiguration {
        user_pool_id: pool.id().unwrap_or_default().to_string(),
        from: current.cloned(),
        to: desired.clone(),
        latest: Box::new(pool.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ManagedRole;
    use crate::desired::tests::{POOL_ARN, owner};
    use crate::desired::{TAG_UID, desired_role};

    fn observed_from(desired: &DesiredRole) -> ObservedRole {
        desired.as_created("123456789012")
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
        let pool = UserPoolType::builder().id("p").build();
        assert!(sms_configuration_change(&pool, Some(&want), &want).is_none());
        assert!(sms_configuration_change(&pool, None, &want).is_some());
        let other_region = SmsConfig {
            sns_region: None,
            ..want.clone()
        };
        assert!(sms_configuration_change(&pool, Some(&other_region), &want).is_some());
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
            latest: Box::new(UserPoolType::builder().build()),
        };
        assert!(!c.to_string().contains("secret-ish"));
    }
}
