//! Execute: make the planned changes in AWS, in order, through the [`Writes`] trait. Which
//! change comes next, and what a failure holds back, is the plan's to say.

use std::future::Future;
use std::sync::MutexGuard;

use crate::aws::{Aws, AwsError};
use crate::desired::Change;
use crate::plan::Plan;

/// Every write a reconcile makes. [`AwsWrites`] calls AWS; tests supply their own.
pub trait Writes: Sync {
    fn apply(&self, change: &Change) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl<T: Writes> Writes for &T {
    fn apply(&self, change: &Change) -> impl Future<Output = Result<(), AwsError>> + Send {
        (*self).apply(change)
    }
}

/// The writes of the running operator.
pub struct AwsWrites<'a> {
    pub aws: &'a Aws,
}

impl Writes for AwsWrites<'_> {
    async fn apply(&self, change: &Change) -> Result<(), AwsError> {
        let iam = self.aws.iam();
        match change {
            Change::CreateRole { role } => iam.create_role(role).await.map(drop),
            Change::UpdateTrustPolicy { role_name, document } => iam.update_trust_policy(role_name, document).await,
            Change::PutPermissionsPolicy {
                role_name,
                policy_name,
                document,
            } => iam.put_role_policy(role_name, policy_name, document).await,
            Change::DeletePermissionsPolicy { role_name, policy_name } => {
                iam.delete_role_policy(role_name, policy_name).await
            }
            Change::PutPermissionsBoundary { role_name, policy_arn } => {
                iam.put_permissions_boundary(role_name, policy_arn).await
            }
            Change::DeletePermissionsBoundary { role_name } => iam.delete_permissions_boundary(role_name).await,
            Change::TagRole { role_name, tags } => iam.tag_role(role_name, tags).await,
            Change::DeleteRole { role_name } => iam.delete_role(role_name).await,
            Change::TagUserPool {
                user_pool_id,
                arn,
                tags,
            } => {
                let region = crate::regions::pool_region(user_pool_id).unwrap_or_default();
                self.aws.cognito(region).tag_resource(arn, tags).await
            }
            Change::UntagUserPool {
                user_pool_id,
                arn,
                keys,
            } => {
                let region = crate::regions::pool_region(user_pool_id).unwrap_or_default();
                self.aws.cognito(region).untag_resource(arn, keys).await
            }
            Change::UpdateSmsConfiguration {
                user_pool_id,
                to,
                add_tags,
                ..
            } => {
                let region = crate::regions::pool_region(user_pool_id).unwrap_or_default();
                let cognito = self.aws.cognito(region);
                cognito.update_sms_configuration(user_pool_id, to, add_tags).await
            }
            Change::UpdateReplicaSmsConfiguration {
                user_pool_id,
                region,
                primary_region,
                to,
                ..
            } => {
                let primary = self.aws.cognito(primary_region);
                let replica = self.aws.cognito(region);
                replica
                    .update_replica_sms_configuration(&primary, user_pool_id, to)
                    .await
            }
            Change::TestSendText(message) => self.aws.sms_voice(&message.region).test_send(message).await,
            Change::AddSandboxNumber {
                region,
                number,
                language,
                tags,
            } => {
                let eum = self.aws.sms_voice(region);
                eum.add_destination(number, language.as_deref(), tags).await
            }
            Change::SendVerificationCode {
                region, id, language, ..
            } => self.aws.sms_voice(region).send_code(id, language.as_deref()).await,
            Change::VerifySandboxNumber { region, id, code, .. } => {
                self.aws.sms_voice(region).verify_destination(id, code).await
            }
            Change::RemoveSandboxNumber { region, id, .. } => self.aws.sms_voice(region).delete_destination(id).await,
            Change::CreateProtectConfiguration { region, tags } => self
                .aws
                .sms_voice(region)
                .create_protect_configuration(tags)
                .await
                .map(drop),
            Change::UpdateProtectRules { region, id, updates } => {
                self.aws.sms_voice(region).update_protect_rules(id, updates).await
            }
            Change::CreateConfigurationSet { region, name, tags } => {
                self.aws.sms_voice(region).create_configuration_set(name, tags).await
            }
            Change::AssociateProtectConfiguration {
                region,
                id,
                configuration_set,
            } => {
                let eum = self.aws.sms_voice(region);
                eum.associate_protect_configuration(id, configuration_set).await
            }
            Change::DisassociateProtectConfiguration {
                region,
                id,
                configuration_set,
            } => {
                let eum = self.aws.sms_voice(region);
                eum.disassociate_protect_configuration(id, configuration_set).await
            }
            Change::DeleteProtectConfiguration { region, id } => {
                self.aws.sms_voice(region).delete_protect_configuration(id).await
            }
            Change::SetLogDelivery {
                user_pool_id,
                region,
                to,
                ..
            } => self.aws.cognito(region).set_log_configurations(user_pool_id, to).await,
        }
    }
}

/// Make the changes of the plan behind `plan`, in order, recording each outcome in the plan as
/// it completes. The plan decides what comes next and what a failure holds back; the lock is
/// never held across a call to AWS.
pub async fn execute<'a, W: Writes>(writes: &W, plan: impl Fn() -> MutexGuard<'a, Option<Plan>>) {
    loop {
        let Some(change) = plan().as_mut().and_then(Plan::next_change) else {
            return;
        };
        let result = writes.apply(&change).await;
        if let Some(p) = plan().as_mut() {
            p.record(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::account::Code;
    use crate::desired::{DesiredRole, SmsConfig, TestMessage};

    /// The AWS operation each change must call first; a change added without its call does not
    /// compile here, and one that reports success without calling AWS fails below.
    fn first_call(change: &Change) -> (&'static str, &'static str) {
        match change {
            Change::CreateRole { .. } => ("iam", "CreateRole"),
            Change::UpdateTrustPolicy { .. } => ("iam", "UpdateAssumeRolePolicy"),
            Change::PutPermissionsPolicy { .. } => ("iam", "PutRolePolicy"),
            Change::DeletePermissionsPolicy { .. } => ("iam", "DeleteRolePolicy"),
            Change::PutPermissionsBoundary { .. } => ("iam", "PutRolePermissionsBoundary"),
            Change::DeletePermissionsBoundary { .. } => ("iam", "DeleteRolePermissionsBoundary"),
            Change::TagRole { .. } => ("iam", "TagRole"),
            Change::DeleteRole { .. } => ("iam", "ListRolePolicies"),
            Change::TagUserPool { .. } => ("cognito-idp", "TagResource"),
            Change::UntagUserPool { .. } => ("cognito-idp", "UntagResource"),
            // The pool is read again just before the update.
            Change::UpdateSmsConfiguration { .. } => ("cognito-idp", "DescribeUserPool"),
            // The secondary and the primary are read just before the update.
            Change::UpdateReplicaSmsConfiguration { .. } => ("cognito-idp", "DescribeUserPool"),
            Change::TestSendText(_) => ("sms-voice", "SendTextMessage"),
            Change::AddSandboxNumber { .. } => ("sms-voice", "CreateVerifiedDestinationNumber"),
            Change::SendVerificationCode { .. } => ("sms-voice", "SendDestinationNumberVerificationCode"),
            Change::VerifySandboxNumber { .. } => ("sms-voice", "VerifyDestinationNumber"),
            Change::RemoveSandboxNumber { .. } => ("sms-voice", "DeleteVerifiedDestinationNumber"),
            Change::SetLogDelivery { .. } => ("cognito-idp", "SetLogDeliveryConfiguration"),
            Change::CreateProtectConfiguration { .. } => ("sms-voice", "CreateProtectConfiguration"),
            Change::UpdateProtectRules { .. } => ("sms-voice", "UpdateProtectConfigurationCountryRuleSet"),
            Change::CreateConfigurationSet { .. } => ("sms-voice", "CreateConfigurationSet"),
            Change::AssociateProtectConfiguration { .. } => ("sms-voice", "AssociateProtectConfiguration"),
            Change::DisassociateProtectConfiguration { .. } => ("sms-voice", "DisassociateProtectConfiguration"),
            Change::DeleteProtectConfiguration { .. } => ("sms-voice", "DeleteProtectConfiguration"),
        }
    }

    fn role_changes_of_each_kind() -> Vec<Change> {
        let r = || "r".to_string();
        let doc = json!({"Version": "2012-10-17", "Statement": []});
        let role = DesiredRole {
            name: r(),
            path: "/".into(),
            trust_policy: doc.clone(),
            permissions_policy: ("p", doc.clone()),
            stale_policy: "q",
            permissions_boundary: None,
            tags: BTreeMap::new(),
        };
        let policy_arn = "arn:aws:iam::aws:policy/b".to_string();
        let tags = BTreeMap::from([("k".to_string(), "v".to_string())]);
        vec![
            Change::CreateRole { role },
            Change::UpdateTrustPolicy {
                role_name: r(),
                document: doc.clone(),
            },
            Change::PutPermissionsPolicy {
                role_name: r(),
                policy_name: "p",
                document: doc,
            },
            Change::DeletePermissionsPolicy {
                role_name: r(),
                policy_name: "q",
            },
            Change::PutPermissionsBoundary {
                role_name: r(),
                policy_arn,
            },
            Change::DeletePermissionsBoundary { role_name: r() },
            Change::TagRole { role_name: r(), tags },
            Change::DeleteRole { role_name: r() },
        ]
    }

    fn one_of_each() -> Vec<Change> {
        let (region, number, id) = ("us-east-1".to_string(), "+14255550100".to_string(), "vdn-1".to_string());
        let to = SmsConfig {
            caller_arn: "arn".into(),
            external_id: None,
            region: None,
            direct: None,
        };
        let test = TestMessage {
            region: region.clone(),
            destination: number.clone(),
            origination_identity: None,
            configuration_set: None,
            india_dlt: None,
        };
        let code = Code::new("123456").unwrap();
        let mut all = role_changes_of_each_kind();
        let arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Abc".to_string();
        all.extend([
            Change::TagUserPool {
                user_pool_id: "us-east-1_Abc".into(),
                arn: arn.clone(),
                tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
            },
            Change::UntagUserPool {
                user_pool_id: "us-east-1_Abc".into(),
                arn,
                keys: vec!["k".into()],
            },
            Change::UpdateSmsConfiguration {
                user_pool_id: "us-east-1_Abc".into(),
                from: None,
                to: to.clone(),
                add_tags: BTreeMap::new(),
            },
            Change::UpdateReplicaSmsConfiguration {
                user_pool_id: "us-east-1_Abc".into(),
                region: "us-west-2".into(),
                primary_region: "us-east-1".into(),
                from: None,
                to,
            },
            Change::TestSendText(test),
            Change::AddSandboxNumber {
                region: region.clone(),
                number: number.clone(),
                language: None,
                tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
            },
            Change::SendVerificationCode {
                region: region.clone(),
                number: number.clone(),
                id: id.clone(),
                language: None,
            },
            Change::VerifySandboxNumber {
                region: region.clone(),
                number: number.clone(),
                id: id.clone(),
                code,
            },
            Change::RemoveSandboxNumber { region, number, id },
        ]);
        all
    }

    #[tokio::test]
    async fn every_change_calls_aws() {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:9")
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new("x", "x", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let aws = Aws::new(config);
        let writes = AwsWrites { aws: &aws };
        for change in one_of_each() {
            let result = writes.apply(&change).await;
            assert!(result.is_err(), "{change}: reported done without reaching AWS");
            let (service, operation) = first_call(&change);
            let calls = aws.calls.snapshot();
            assert!(
                calls.keys().any(|(s, o, _)| *s == service && *o == operation),
                "{change}: no {service} {operation} call in {calls:?}"
            );
        }
    }
}
