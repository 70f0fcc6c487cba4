//! IAM: read roles and their policies, and the writes a managed role needs.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{Aws, AwsError, ErrorKind, optional};
use cognito_sms_core::desired::{DesiredRole, ObservedRole};
use cognito_sms_core::policy;

pub struct Iam<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: &'a aws_sdk_iam::Client,
}

fn malformed(operation: &'static str, what: &str, err: impl std::fmt::Display) -> AwsError {
    AwsError::new(
        "iam",
        operation,
        ErrorKind::Other,
        "MalformedDocument",
        format!("{what}: {err}"),
    )
}

fn tags(map: &BTreeMap<String, String>) -> Result<Vec<Tag>, AwsError> {
    map.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| malformed("TagRole", "tag", e))
        })
        .collect()
}

impl Iam<'_> {
    pub async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        let out = optional(
            self.aws
                .call("iam", "GetRole", self.client.get_role().role_name(name).send())
                .await,
        )?;
        let Some(role) = out.and_then(|o| o.role) else {
            return Ok(None);
        };
        let trust_policy = match role.assume_role_policy_document() {
            Some(raw) => policy::parse_document(raw).map_err(|e| malformed("GetRole", "trust policy", e))?,
            None => Value::Null,
        };
        Ok(Some(ObservedRole {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            path: role.path().to_string(),
            trust_policy,
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(String::from),
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        }))
    }

    /// An inline policy's document, `None` when the role has no policy of that name.
    pub async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<Option<Value>, AwsError> {
        let req = self
            .client
            .get_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send();
        let Some(out) = optional(self.aws.call("iam", "GetRolePolicy", req).await)? else {
            return Ok(None);
        };
        policy::parse_document(out.policy_document())
            .map(Some)
            .map_err(|e| malformed("GetRolePolicy", "inline policy", e))
    }

    /// Every identity policy document in effect on a role: its inline policies and the default
    /// version of each attached managed policy.
    pub async fn role_policy_documents(&self, role: &str) -> Result<Vec<Value>, AwsError> {
        let mut docs = vec![];
        let pages = self.client.list_role_policies().role_name(role).into_paginator().send();
        let names: Vec<String> = self
            .aws
            .pages("iam", "ListRolePolicies", pages)
            .await?
            .iter()
            .flat_map(|p| p.policy_names().to_vec())
            .collect();
        for name in names {
            if let Some(doc) = self.get_role_policy(role, &name).await? {
                docs.push(doc);
            }
        }
        let pages = self
            .client
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let arns: Vec<String> = self
            .aws
            .pages("iam", "ListAttachedRolePolicies", pages)
            .await?
            .iter()
            .flat_map(|p| {
                p.attached_policies()
                    .iter()
                    .filter_map(|a| a.policy_arn().map(String::from))
            })
            .collect();
        for arn in arns {
            let Some(p) = optional(
                self.aws
                    .call("iam", "GetPolicy", self.client.get_policy().policy_arn(&arn).send())
                    .await,
            )?
            else {
                continue;
            };
            let Some(version) = p.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let req = self
                .client
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send();
            let Some(v) = optional(self.aws.call("iam", "GetPolicyVersion", req).await)? else {
                continue;
            };
            if let Some(raw) = v.policy_version().and_then(|v| v.document()) {
                docs.push(policy::parse_document(raw).map_err(|e| malformed("GetPolicyVersion", &arn, e))?);
            }
        }
        Ok(docs)
    }

    /// Create the role with its trust policy, boundary and tags; returns its ARN.
    pub async fn create_role(&self, role: &DesiredRole) -> Result<String, AwsError> {
        let req = self
            .client
            .create_role()
            .role_name(&role.name)
            .path(&role.path)
            .assume_role_policy_document(role.trust_policy.to_string())
            .description("Lets Amazon Cognito send SMS through Amazon SNS. Managed by cognito-sms-operator.")
            .set_permissions_boundary(role.permissions_boundary.clone())
            .set_tags(Some(tags(&role.tags)?))
            .send();
        let out = self.aws.call("iam", "CreateRole", req).await?;
        Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
    }

    pub async fn update_trust_policy(&self, role: &str, document: &Value) -> Result<(), AwsError> {
        let req = self
            .client
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(document.to_string())
            .send();
        self.aws.call("iam", "UpdateAssumeRolePolicy", req).await.map(drop)
    }

    pub async fn put_role_policy(&self, role: &str, policy_name: &str, document: &Value) -> Result<(), AwsError> {
        let req = self
            .client
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send();
        self.aws.call("iam", "PutRolePolicy", req).await.map(drop)
    }

    /// Delete an inline policy; one already gone is not an error.
    pub async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send();
        optional(self.aws.call("iam", "DeleteRolePolicy", req).await).map(drop)
    }

    pub async fn put_permissions_boundary(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .put_role_permissions_boundary()
            .role_name(role)
            .permissions_boundary(policy_arn)
            .send();
        self.aws.call("iam", "PutRolePermissionsBoundary", req).await.map(drop)
    }

    pub async fn delete_permissions_boundary(&self, role: &str) -> Result<(), AwsError> {
        let req = self.client.delete_role_permissions_boundary().role_name(role).send();
        self.aws
            .call("iam", "DeleteRolePermissionsBoundary", req)
            .await
            .map(drop)
    }

    pub async fn tag_role(&self, role: &str, tag_map: &BTreeMap<String, String>) -> Result<(), AwsError> {
        let req = self
            .client
            .tag_role()
            .role_name(role)
            .set_tags(Some(tags(tag_map)?))
            .send();
        self.aws.call("iam", "TagRole", req).await.map(drop)
    }

    /// Delete a role and its inline policies. A role that is already gone is not an error.
    /// Managed policies attached by someone else make IAM refuse (DeleteConflict): that is
    /// reported, not forced.
    pub async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        let pages = self.client.list_role_policies().role_name(role).into_paginator().send();
        let Some(pages) = optional(self.aws.pages("iam", "ListRolePolicies", pages).await)? else {
            return Ok(());
        };
        for name in pages.iter().flat_map(|p| p.policy_names()) {
            self.delete_role_policy(role, name).await?;
        }
        optional(
            self.aws
                .call("iam", "DeleteRole", self.client.delete_role().role_name(role).send())
                .await,
        )?;
        Ok(())
    }
}
