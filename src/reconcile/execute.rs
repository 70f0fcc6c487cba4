//! Execute: make the planned changes in AWS, in order, through the [`Writes`] trait. A failed
//! role change stops the role changes after it and the pool change that depends on the role;
//! sandbox number changes are independent of each other and of the role.

use std::future::Future;

use crate::aws::{Aws, AwsError};
use crate::desired::{Change, Concern};

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
            Change::PutPublishPolicy { role_name, document } => iam.put_publish_policy(role_name, document).await,
            Change::PutPermissionsBoundary { role_name, policy_arn } => {
                iam.put_permissions_boundary(role_name, policy_arn).await
            }
            Change::DeletePermissionsBoundary { role_name } => iam.delete_permissions_boundary(role_name).await,
            Change::TagRole { role_name, tags } => iam.tag_role(role_name, tags).await,
            Change::DeleteRole { role_name } => iam.delete_role(role_name).await,
            Change::UpdateSmsConfiguration {
                user_pool_id,
                latest,
                to,
                ..
            } => {
                let region = crate::regions::pool_region(user_pool_id).unwrap_or_default();
                self.aws.cognito(region).update_sms_configuration(latest, to).await
            }
            Change::AddSandboxNumber {
                region,
                number,
                language,
            } => {
                let sns = self.aws.sns(region);
                sns.create_sandbox_number(number, language.as_deref()).await
            }
            Change::VerifySandboxNumber { region, number, code } => {
                self.aws.sns(region).verify_sandbox_number(number, code).await
            }
            Change::RemoveSandboxNumber { region, number } => self.aws.sns(region).delete_sandbox_number(number).await,
        }
    }
}

/// What became of one planned change.
#[derive(Debug, Clone)]
pub enum Applied {
    Done,
    /// What the change would remove was already gone.
    AlreadyDone,
    Failed(AwsError),
    /// Not tried, because a change it depends on failed.
    NotAttempted,
    /// A dry run: nothing was tried.
    DryRun,
}

impl Applied {
    /// The change took effect (or would have, in a dry run): worth announcing.
    pub fn is_made(&self) -> bool {
        matches!(self, Applied::Done | Applied::DryRun)
    }
}

/// Make `changes` in order; one [`Applied`] per change, in the same order.
pub async fn execute<W: Writes>(writes: &W, changes: &[Change]) -> Vec<Applied> {
    let mut role_failed = false;
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let blocked = match change.concern() {
            Concern::Role | Concern::Pool => role_failed,
            Concern::SandboxNumber => false,
        };
        if blocked {
            out.push(Applied::NotAttempted);
            continue;
        }
        let applied = match writes.apply(change).await {
            Ok(()) => Applied::Done,
            Err(e) if e.is_not_found() && matches!(change, Change::RemoveSandboxNumber { .. }) => Applied::AlreadyDone,
            Err(e) => Applied::Failed(e),
        };
        if change.concern() == Concern::Role && matches!(applied, Applied::Failed(_)) {
            role_failed = true;
        }
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

    use aws_sdk_cognitoidentityprovider::types::UserPoolType;
    use serde_json::json;

    use super::*;
    use crate::account::Code;
    use crate::desired::{DesiredRole, SmsConfig};

    /// The AWS operation each change must call first; a change added without its call does not
    /// compile here, and one that reports success without calling AWS fails below.
    fn first_call(change: &Change) -> (&'static str, &'static str) {
        match change {
            Change::CreateRole { .. } => ("iam", "CreateRole"),
            Change::UpdateTrustPolicy { .. } => ("iam", "UpdateAssumeRolePolicy"),
            Change::PutPublishPolicy { .. } => ("iam", "PutRolePolicy"),
            Change::PutPermissionsBoundary { .. } => ("iam", "PutRolePermissionsBoundary"),
            Change::DeletePermissionsBoundary { .. } => ("iam", "DeleteRolePermissionsBoundary"),
            Change::TagRole { .. } => ("iam", "TagRole"),
            Change::DeleteRole { .. } => ("iam", "ListRolePolicies"),
            Change::UpdateSmsConfiguration { .. } => ("cognito-idp", "UpdateUserPool"),
            Change::AddSandboxNumber { .. } => ("sns", "CreateSMSSandboxPhoneNumber"),
            Change::VerifySandboxNumber { .. } => ("sns", "VerifySMSSandboxPhoneNumber"),
            Change::RemoveSandboxNumber { .. } => ("sns", "DeleteSMSSandboxPhoneNumber"),
        }
    }

    fn one_of_each() -> Vec<Change> {
        let role_name = "r".to_string();
        let doc = json!({"Version": "2012-10-17", "Statement": []});
        let (region, number) = ("us-east-1".to_string(), "+14255550100".to_string());
        vec![
            Change::CreateRole {
                role: DesiredRole {
                    name: role_name.clone(),
                    path: "/".into(),
                    trust_policy: doc.clone(),
                    publish_policy: doc.clone(),
                    permissions_boundary: None,
                    tags: BTreeMap::new(),
                },
            },
            Change::UpdateTrustPolicy {
                role_name: role_name.clone(),
                document: doc.clone(),
            },
            Change::PutPublishPolicy {
                role_name: role_name.clone(),
                document: doc,
            },
            Change::PutPermissionsBoundary {
                role_name: role_name.clone(),
                policy_arn: "arn:aws:iam::aws:policy/b".into(),
            },
            Change::DeletePermissionsBoundary {
                role_name: role_name.clone(),
            },
            Change::TagRole {
                role_name: role_name.clone(),
                tags: BTreeMap::from([("k".into(), "v".into())]),
            },
            Change::DeleteRole { role_name },
            Change::UpdateSmsConfiguration {
                user_pool_id: "us-east-1_Abc".into(),
                from: None,
                to: SmsConfig {
                    sns_caller_arn: "arn".into(),
                    external_id: None,
                    sns_region: None,
                },
                latest: Box::new(UserPoolType::builder().id("us-east-1_Abc").build()),
            },
            Change::AddSandboxNumber {
                region: region.clone(),
                number: number.clone(),
                language: None,
            },
            Change::VerifySandboxNumber {
                region: region.clone(),
                number: number.clone(),
                code: Code::new("123456").unwrap(),
            },
            Change::RemoveSandboxNumber { region, number },
        ]
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
