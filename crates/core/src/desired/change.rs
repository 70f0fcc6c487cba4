//! The changes that bring AWS to the desired state, one value per AWS write. Pure.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::{
    DesiredRole, LogConfiguration, ObservedRole, PUBLISH_POLICY_NAME, SmsConfig, UserPool, delivery_errors_group,
};
use crate::account::{Code, CountryRules, mask};
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
    PutPermissionsPolicy {
        role_name: String,
        policy_name: &'static str,
        document: Value,
    },
    DeletePermissionsPolicy {
        role_name: String,
        policy_name: &'static str,
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
    /// Record on the pool which installation and resource manage its SMS (`TagResource`), when
    /// no update of the pool is due to carry the record.
    TagUserPool {
        user_pool_id: String,
        arn: String,
        tags: BTreeMap<String, String>,
    },
    /// Remove the operator's ownership record from the pool (`UntagResource`).
    UntagUserPool {
        user_pool_id: String,
        arn: String,
        keys: Vec<String>,
    },
    UpdateSmsConfiguration {
        user_pool_id: String,
        from: Option<SmsConfig>,
        to: SmsConfig,
        /// Tags to add to the pool with the update: the operator's ownership record, when the
        /// pool does not carry it yet. UpdateUserPool resets what it is not sent, so the adapter
        /// reads the pool just before the write and sends every other setting and tag back.
        add_tags: BTreeMap<String, String>,
    },
    /// Set the `SmsConfiguration` of the pool's secondary in `region`. The adapter reads the
    /// secondary (its regional settings: email, Lambda triggers, tags) and the primary (the
    /// global settings, which a secondary must be sent unchanged) just before the write.
    UpdateReplicaSmsConfiguration {
        user_pool_id: String,
        region: String,
        /// The primary's Region, whose pool holds the global settings.
        primary_region: String,
        from: Option<SmsConfig>,
        to: SmsConfig,
    },
    DeleteRole {
        role_name: String,
    },
    /// Create this resource's protect configuration, tagged with it. Its rules and its
    /// configuration set follow on the next reconcile, which finds it by its tags.
    CreateProtectConfiguration {
        region: String,
        tags: BTreeMap<String, String>,
    },
    /// Set the SMS rule of each country in `updates` on protect configuration `id`.
    UpdateProtectRules {
        region: String,
        id: String,
        updates: CountryRules,
    },
    /// Create the configuration set the pool's protect configuration goes on, tagged with the
    /// resource, when the spec names none.
    CreateConfigurationSet {
        region: String,
        name: String,
        tags: BTreeMap<String, String>,
    },
    AssociateProtectConfiguration {
        region: String,
        id: String,
        configuration_set: String,
    },
    DisassociateProtectConfiguration {
        region: String,
        id: String,
        configuration_set: String,
    },
    DeleteProtectConfiguration {
        region: String,
        id: String,
    },
    /// Replace the pool's log configurations (`SetLogDeliveryConfiguration`) with `to`: the
    /// delivery-error one set or removed, every other sent back as read.
    SetLogDelivery {
        user_pool_id: String,
        region: String,
        from: Vec<LogConfiguration>,
        to: Vec<LogConfiguration>,
    },
    /// A dry run of `SendTextMessage` as Cognito will send, before the pool is pointed at a
    /// direct-path configuration. Sends nothing and changes nothing.
    TestSendText(TestMessage),
    /// Add a verified destination number, and have End User Messaging text it a code.
    AddSandboxNumber {
        region: String,
        number: String,
        language: Option<String>,
        /// Who added it, kept by AWS on the number itself: the resource's owner tags.
        tags: BTreeMap<String, String>,
    },
    /// Text a new code to a number whose last code could not be sent.
    SendVerificationCode {
        region: String,
        number: String,
        id: String,
        language: Option<String>,
    },
    VerifySandboxNumber {
        region: String,
        number: String,
        id: String,
        /// The code from the number's Secret; never printed.
        code: Code,
    },
    RemoveSandboxNumber {
        region: String,
        number: String,
        id: String,
    },
}

/// A `SendTextMessage` dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMessage {
    pub region: String,
    pub destination: String,
    pub origination_identity: Option<String>,
    pub configuration_set: Option<String>,
    /// India's DLT entity and template IDs, sent for Indian destinations.
    pub india_dlt: Option<(String, String)>,
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    /// The ownership record on the pool.
    Ownership,
    Role,
    Pool,
    SandboxNumber,
    /// The pool's log delivery.
    DeliveryLogs,
    /// The protect configuration and its configuration set.
    Protect,
}

impl Change {
    /// CamelCase reason for the Kubernetes Event announcing the change.
    pub fn event_reason(&self) -> &'static str {
        match self {
            Change::CreateRole { .. } => "RoleCreated",
            Change::UpdateTrustPolicy { .. } => "TrustPolicyUpdated",
            Change::PutPermissionsPolicy { .. } => "PermissionsPolicyUpdated",
            Change::DeletePermissionsPolicy { .. } => "PermissionsPolicyDeleted",
            Change::PutPermissionsBoundary { .. } | Change::DeletePermissionsBoundary { .. } => {
                "PermissionsBoundaryUpdated"
            }
            Change::TagRole { .. } => "RoleTagged",
            Change::TagUserPool { .. } => "UserPoolClaimed",
            Change::UntagUserPool { .. } => "UserPoolReleased",
            Change::UpdateSmsConfiguration { .. } => "SmsConfigurationUpdated",
            Change::UpdateReplicaSmsConfiguration { .. } => "ReplicaSmsConfigurationUpdated",
            Change::DeleteRole { .. } => "RoleDeleted",
            Change::SetLogDelivery { .. } => "DeliveryLogsUpdated",
            Change::CreateProtectConfiguration { .. } => "ProtectConfigurationCreated",
            Change::UpdateProtectRules { .. } => "ProtectRulesUpdated",
            Change::CreateConfigurationSet { .. } => "ConfigurationSetCreated",
            Change::AssociateProtectConfiguration { .. } => "ProtectConfigurationAssociated",
            Change::DisassociateProtectConfiguration { .. } => "ProtectConfigurationDisassociated",
            Change::DeleteProtectConfiguration { .. } => "ProtectConfigurationDeleted",
            Change::TestSendText(_) => "TestMessageSent",
            Change::AddSandboxNumber { .. } => "SandboxNumberAdded",
            Change::SendVerificationCode { .. } => "VerificationCodeSent",
            Change::VerifySandboxNumber { .. } => "SandboxNumberVerified",
            Change::RemoveSandboxNumber { .. } => "SandboxNumberRemoved",
        }
    }

    /// Whether the change writes to AWS; a dry-run send only checks.
    pub fn is_write(&self) -> bool {
        !matches!(self, Change::TestSendText(_))
    }

    /// What the change is about; changes to the pool depend on the role being in shape.
    pub fn concern(&self) -> Concern {
        match self {
            Change::CreateRole { .. }
            | Change::UpdateTrustPolicy { .. }
            | Change::PutPermissionsPolicy { .. }
            | Change::DeletePermissionsPolicy { .. }
            | Change::PutPermissionsBoundary { .. }
            | Change::DeletePermissionsBoundary { .. }
            | Change::TagRole { .. }
            | Change::DeleteRole { .. } => Concern::Role,
            Change::TagUserPool { .. } | Change::UntagUserPool { .. } => Concern::Ownership,
            Change::UpdateSmsConfiguration { .. }
            | Change::UpdateReplicaSmsConfiguration { .. }
            | Change::TestSendText(_) => Concern::Pool,
            Change::AddSandboxNumber { .. }
            | Change::SendVerificationCode { .. }
            | Change::VerifySandboxNumber { .. }
            | Change::RemoveSandboxNumber { .. } => Concern::SandboxNumber,
            Change::SetLogDelivery { .. } => Concern::DeliveryLogs,
            Change::CreateProtectConfiguration { .. }
            | Change::UpdateProtectRules { .. }
            | Change::CreateConfigurationSet { .. }
            | Change::AssociateProtectConfiguration { .. }
            | Change::DisassociateProtectConfiguration { .. }
            | Change::DeleteProtectConfiguration { .. } => Concern::Protect,
        }
    }

    /// The region whose shared SMS account state the change alters, if it does: what is known of
    /// it is read again once the change took effect.
    pub fn account_state_region(&self) -> Option<&str> {
        match self {
            Change::AddSandboxNumber { region, .. }
            | Change::SendVerificationCode { region, .. }
            | Change::VerifySandboxNumber { region, .. }
            | Change::RemoveSandboxNumber { region, .. }
            | Change::CreateConfigurationSet { region, .. }
            | Change::AssociateProtectConfiguration { region, .. }
            | Change::DisassociateProtectConfiguration { region, .. }
            | Change::DeleteProtectConfiguration { region, .. } => Some(region),
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Change::CreateRole { role } => format!(
                "create IAM role {}{} trusted by {}",
                role.path,
                role.name,
                policy::COGNITO_PRINCIPAL
            ),
            Change::UpdateTrustPolicy { role_name, .. } => format!("update the trust policy of IAM role {role_name}"),
            Change::PutPermissionsPolicy {
                role_name, policy_name, ..
            } => put_policy_text(role_name, policy_name),
            Change::DeletePermissionsPolicy { role_name, policy_name } => format!(
                "delete inline policy {policy_name} of IAM role {role_name}, which the other delivery path used"
            ),
            Change::PutPermissionsBoundary { role_name, policy_arn } => {
                format!("set permissions boundary {policy_arn} on IAM role {role_name}")
            }
            Change::DeletePermissionsBoundary { role_name } => {
                format!("remove the permissions boundary of IAM role {role_name}")
            }
            Change::TagRole { role_name, tags } => tag_text(role_name, tags),
            Change::TagUserPool { user_pool_id, tags, .. } => {
                let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "record on user pool {user_pool_id} who manages its SMS: tag it with {}",
                    tags.join(", ")
                )
            }
            Change::UntagUserPool { user_pool_id, .. } => {
                format!("release user pool {user_pool_id}: remove the operator's ownership tags")
            }
            Change::UpdateSmsConfiguration {
                user_pool_id, from, to, ..
            } => format!(
                "set SmsConfiguration of user pool {user_pool_id} to {to} (was {}), keeping every other setting",
                from.as_ref().map(ToString::to_string).unwrap_or_else(|| "unset".into())
            ),
            Change::UpdateReplicaSmsConfiguration {
                user_pool_id,
                region,
                from,
                to,
                ..
            } => format!(
                "set SmsConfiguration of user pool {user_pool_id} in its secondary Region {region} to {to} (was {}), \
                 keeping the replica's own settings",
                from.as_ref().map(ToString::to_string).unwrap_or_else(|| "unset".into())
            ),
            Change::DeleteRole { role_name } => format!("delete IAM role {role_name}"),
            Change::CreateProtectConfiguration { region, .. } => {
                format!("create a protect configuration in {region} against SMS pumping, tagged with this resource")
            }
            Change::UpdateProtectRules { id, updates, .. } => {
                let rules: Vec<String> = updates.iter().map(|(c, r)| format!("{c} {r}")).collect();
                let shown = rules.iter().take(12).cloned().collect::<Vec<_>>().join(", ");
                let more = if rules.len() > 12 {
                    format!(" and {} more", rules.len() - 12)
                } else {
                    String::new()
                };
                format!("set the SMS rules of protect configuration {id}: {shown}{more}")
            }
            Change::CreateConfigurationSet { region, name, .. } => {
                format!("create configuration set {name} in {region} for the pool's protect configuration")
            }
            Change::AssociateProtectConfiguration {
                id, configuration_set, ..
            } => {
                format!("associate protect configuration {id} with configuration set {configuration_set}")
            }
            Change::DisassociateProtectConfiguration {
                id, configuration_set, ..
            } => {
                format!("disassociate protect configuration {id} from configuration set {configuration_set}")
            }
            Change::DeleteProtectConfiguration { id, .. } => format!("delete protect configuration {id}"),
            Change::SetLogDelivery {
                user_pool_id, from, to, ..
            } => match (delivery_errors_group(from), delivery_errors_group(to)) {
                (_, Some(group)) => format!(
                    "deliver the message delivery errors of user pool {user_pool_id} to log group {group}, keeping its \
                     other log configuration"
                ),
                (Some(group), None) => format!(
                    "stop delivering the message delivery errors of user pool {user_pool_id} to log group {group}, \
                     keeping its other log configuration"
                ),
                (None, None) => format!("set the log configurations of user pool {user_pool_id}"),
            },
            Change::TestSendText(m) => test_text(m),
            Change::AddSandboxNumber { region, number, .. } => format!(
                "add {} to the verified destination numbers in {region} (End User Messaging texts it a code)",
                mask(number)
            ),
            Change::SendVerificationCode { region, number, .. } => {
                format!(
                    "have End User Messaging text a verification code to {} in {region}",
                    mask(number)
                )
            }
            Change::VerifySandboxNumber { region, number, .. } => format!(
                "verify {} in the SMS sandbox in {region} with the code from its Secret",
                mask(number)
            ),
            Change::RemoveSandboxNumber { region, number, .. } => {
                format!("remove {} from the SMS sandbox in {region}", mask(number))
            }
        };
        f.write_str(&text)
    }
}

fn put_policy_text(role_name: &str, policy_name: &str) -> String {
    let action = if policy_name == PUBLISH_POLICY_NAME {
        policy::SNS_PUBLISH
    } else {
        policy::SEND_TEXT_MESSAGE
    };
    format!("put inline policy {policy_name} ({action}) on IAM role {role_name}")
}

fn tag_text(role_name: &str, tags: &BTreeMap<String, String>) -> String {
    let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("tag IAM role {role_name} with {}", tags.join(", "))
}

fn test_text(m: &TestMessage) -> String {
    format!(
        "test sending to {} from {} through End User Messaging in {} (dry run)",
        mask(&m.destination),
        m.origination_identity.as_deref().unwrap_or("the account's identities"),
        m.region
    )
}

/// A managed role's inline permissions policies as read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RolePolicies<'a> {
    /// The policy of the path in use, `None` when absent.
    pub current: Option<&'a Value>,
    /// Whether the other path's policy is still there.
    pub stale_present: bool,
}

/// The changes that bring an owned (or missing) role to `desired`.
pub fn role_changes(desired: &DesiredRole, observed: Option<(&ObservedRole, RolePolicies)>) -> Vec<Change> {
    let (policy_name, document) = &desired.permissions_policy;
    let put_policy = || Change::PutPermissionsPolicy {
        role_name: desired.name.clone(),
        policy_name,
        document: document.clone(),
    };
    let Some((role, policies)) = observed else {
        return vec![Change::CreateRole { role: desired.clone() }, put_policy()];
    };
    let mut changes = vec![];
    if !policy::equivalent(&role.trust_policy, &desired.trust_policy) {
        changes.push(Change::UpdateTrustPolicy {
            role_name: desired.name.clone(),
            document: desired.trust_policy.clone(),
        });
    }
    if !policies.current.is_some_and(|p| policy::equivalent(p, document)) {
        changes.push(put_policy());
    }
    if policies.stale_present {
        changes.push(Change::DeletePermissionsPolicy {
            role_name: desired.name.clone(),
            policy_name: desired.stale_policy,
        });
    }
    changes.extend(boundary_change(desired, role));
    changes.extend(tag_change(desired, role));
    changes
}

fn boundary_change(desired: &DesiredRole, role: &ObservedRole) -> Option<Change> {
    match (&desired.permissions_boundary, &role.permissions_boundary) {
        (Some(want), have) if have.as_ref() != Some(want) => Some(Change::PutPermissionsBoundary {
            role_name: desired.name.clone(),
            policy_arn: want.clone(),
        }),
        (None, Some(_)) => Some(Change::DeletePermissionsBoundary {
            role_name: desired.name.clone(),
        }),
        _ => None,
    }
}

fn tag_change(desired: &DesiredRole, role: &ObservedRole) -> Option<Change> {
    let missing: BTreeMap<String, String> = desired
        .tags
        .iter()
        .filter(|(k, v)| role.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!missing.is_empty()).then(|| Change::TagRole {
        role_name: desired.name.clone(),
        tags: missing,
    })
}

/// The pool update that points `pool` (as read) at `desired`, if the pool is not already there.
pub fn sms_configuration_change(pool: &UserPool, desired: &SmsConfig) -> Option<Change> {
    (pool.sms.as_ref() != Some(desired)).then(|| Change::UpdateSmsConfiguration {
        user_pool_id: pool.id.clone(),
        from: pool.sms.clone(),
        to: desired.clone(),
        add_tags: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ManagedRole;
    use crate::desired::tests::{POOL_ARN, owner};
    use crate::desired::{SEND_TEXT_POLICY_NAME, SendPermission, TAG_UID, desired_role};

    fn desired(managed: &ManagedRole, external_id: Option<&str>, permission: &SendPermission) -> DesiredRole {
        desired_role(
            managed,
            "eu-west-1_Abc",
            "123456789012",
            &[POOL_ARN.to_string()],
            external_id,
            &owner(),
            permission,
        )
    }

    fn sns(managed: &ManagedRole, external_id: Option<&str>) -> DesiredRole {
        desired(managed, external_id, &SendPermission::Publish)
    }

    fn observed_from(desired: &DesiredRole) -> ObservedRole {
        crate::testing::as_created(desired, "123456789012")
    }

    fn with(current: Option<&Value>) -> RolePolicies<'_> {
        RolePolicies {
            current,
            stale_present: false,
        }
    }

    #[test]
    fn missing_role_is_created_with_its_policy() {
        let d = sns(&ManagedRole::default(), Some("x"));
        let changes = role_changes(&d, None);
        assert!(matches!(
            &changes[..],
            [Change::CreateRole { .. }, Change::PutPermissionsPolicy { .. }]
        ));
        assert_eq!(d.tags.get(TAG_UID).map(String::as_str), Some("u-1"));
        assert_eq!(d.path, "/service-role/");
    }

    #[test]
    fn role_in_shape_needs_nothing() {
        let d = sns(&ManagedRole::default(), Some("x"));
        let obs = observed_from(&d);
        assert!(role_changes(&d, Some((&obs, with(Some(&policy::publish_policy()))))).is_empty());
    }

    #[test]
    fn drift_is_repaired() {
        let managed = ManagedRole {
            permissions_boundary: Some("arn:aws:iam::123456789012:policy/boundary".into()),
            ..Default::default()
        };
        let d = sns(&managed, Some("x"));
        let mut obs = observed_from(&d);
        obs.trust_policy = policy::trust_policy(
            "123456789012",
            &["arn:aws:cognito-idp:*:*:userpool/*".to_string()],
            None,
        );
        obs.permissions_boundary = None;
        obs.tags.remove(TAG_UID);
        let changes = role_changes(&d, Some((&obs, with(None))));
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
        let d = sns(&ManagedRole::default(), None);
        let mut obs = observed_from(&d);
        obs.permissions_boundary = Some("arn:aws:iam::123456789012:policy/b".into());
        let changes = role_changes(&d, Some((&obs, with(Some(&policy::publish_policy())))));
        assert!(matches!(&changes[..], [Change::DeletePermissionsBoundary { .. }]));
    }

    #[test]
    fn switching_paths_replaces_the_permission_and_leaves_nothing_behind() {
        let identity = "arn:aws:sms-voice:eu-west-1:123456789012:phone-number/phone-1";
        let send = SendPermission::SendText {
            resources: vec![identity.into()],
        };
        let d = desired(&ManagedRole::default(), Some("x"), &send);
        let obs = observed_from(&d);
        let changes = role_changes(
            &d,
            Some((
                &obs,
                RolePolicies {
                    current: None,
                    stale_present: true,
                },
            )),
        );
        assert_eq!(
            changes,
            [
                Change::PutPermissionsPolicy {
                    role_name: d.name.clone(),
                    policy_name: SEND_TEXT_POLICY_NAME,
                    document: policy::send_text_policy(&[identity.to_string()]),
                },
                Change::DeletePermissionsPolicy {
                    role_name: d.name.clone(),
                    policy_name: PUBLISH_POLICY_NAME,
                },
            ]
        );
        assert!(changes[1].to_string().contains("cognito-sms-publish"), "{}", changes[1]);
    }

    #[test]
    fn sms_configuration_written_only_when_it_differs() {
        let want = SmsConfig {
            caller_arn: "arn:aws:iam::123456789012:role/service-role/r".into(),
            external_id: Some("x".into()),
            region: Some("eu-west-1".into()),
            direct: None,
        };
        let pool = |sms: Option<&SmsConfig>| UserPool {
            id: "p".into(),
            sms: sms.cloned(),
            ..Default::default()
        };
        assert!(sms_configuration_change(&pool(Some(&want)), &want).is_none());
        assert!(sms_configuration_change(&pool(None), &want).is_some());
        let other_region = SmsConfig {
            region: None,
            ..want.clone()
        };
        assert!(sms_configuration_change(&pool(Some(&other_region)), &want).is_some());
        let direct = SmsConfig {
            direct: Some(Default::default()),
            ..want.clone()
        };
        assert!(
            sms_configuration_change(&pool(Some(&want)), &direct).is_some(),
            "the path counts"
        );
    }

    #[test]
    fn change_descriptions_never_show_the_external_id() {
        let c = Change::UpdateSmsConfiguration {
            user_pool_id: "p".into(),
            from: None,
            to: SmsConfig {
                caller_arn: "arn".into(),
                external_id: Some("secret-ish".into()),
                region: None,
                direct: None,
            },
            add_tags: BTreeMap::new(),
        };
        assert!(!c.to_string().contains("secret-ish"));
    }
}
