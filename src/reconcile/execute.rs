//! Execute: make the planned changes in AWS, in order, through the [`Writes`] trait. A failed
//! ownership record on the pool stops the role and pool changes after it; a failed
//! role change stops the role changes after it and the pool changes that depend on the role; a
//! failed dry-run send stops the pool change it tests; sandbox number changes are independent
//! of each other and of the role.

use std::future::Future;

use crate::aws::{Aws, AwsError};
use crate::desired::{Change, Concern};
use crate::plan::Applied;

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
        }
    }
}

/// Make `changes` in order; one [`Applied`] per change, in the same order.
pub async fn execute<W: Writes>(writes: &W, changes: &[Change], mut record: impl FnMut(&Applied)) -> Vec<Applied> {
    let (mut owner_failed, mut role_failed, mut pool_failed) = (false, false, false);
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let blocked = match change.concern() {
            Concern::Ownership => false,
            Concern::Role => owner_failed || role_failed,
            Concern::Pool => owner_failed || role_failed || pool_failed,
            Concern::SandboxNumber => false,
        };
        if blocked {
            record(&Applied::NotAttempted);
            out.push(Applied::NotAttempted);
            continue;
        }
        let applied = match writes.apply(change).await {
            Ok(()) => Applied::Done,
            Err(e) if e.is_not_found() && matches!(change, Change::RemoveSandboxNumber { .. }) => Applied::AlreadyDone,
            Err(e) => Applied::Failed(e),
        };
        if let Applied::Failed(_) = applied {
            owner_failed |= change.concern() == Concern::Ownership;
            role_failed |= change.concern() == Concern::Role;
            pool_failed |= change.concern() == Concern::Pool;
        }
        record(&applied);
        out.push(applied);
    }
    out
}

/// A dry run's results: nothing tried.
pub fn dry_run(changes: &[Change]) -> Vec<Applied> {
    changes.iter().map(|_| Applied::DryRun).collect()
}

/// Whether a change that took effect altered the sandbox list of the account, so that what is
/// known of it must be read again.
pub fn changed_sandbox_list(changes: &[Change], applied: &[Applied]) -> bool {
    changes
        .iter()
        .zip(applied)
        .any(|(c, a)| c.concern() == Concern::SandboxNumber && matches!(a, Applied::Done | Applied::AlreadyDone))
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
            Change::TestSendText(_) => ("sms-voice", "SendTextMessage"),
            Change::AddSandboxNumber { .. } => ("sms-voice", "CreateVerifiedDestinationNumber"),
            Change::SendVerificationCode { .. } => ("sms-voice", "SendDestinationNumberVerificationCode"),
            Change::VerifySandboxNumber { .. } => ("sms-voice", "VerifyDestinationNumber"),
            Change::RemoveSandboxNumber { .. } => ("sms-voice", "DeleteVerifiedDestinationNumber"),
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
                to,
                add_tags: BTreeMap::new(),
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
