//! The `CognitoSmsAccount` custom resource: which AWS account, through which IAM role, the
//! resources of which namespaces act in. Cluster-scoped, so that only the platform admin decides.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;

/// Which AWS account the `CognitoSmsConfig` resources of some namespaces act in: the operator
/// assumes `roleArn` for every AWS call made for them. A namespace selected by no
/// `CognitoSmsAccount` acts with the operator's own identity, unless the installation forbids it;
/// a namespace selected by several gets no AWS call at all until one of them lets it go.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cognitosms.io",
    version = "v1alpha1",
    kind = "CognitoSmsAccount",
    plural = "cognitosmsaccounts",
    shortname = "csmsaccount",
    status = "CognitoSmsAccountStatus",
    cel,
    doc = "CognitoSmsAccount maps namespaces to the AWS account, and the IAM role in it, that cognito-sms-operator assumes for their CognitoSmsConfig resources. Cluster-scoped: owned by the platform admin.",
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Role","type":"string","priority":1,"jsonPath":".spec.roleArn"}"#,
    printcolumn = r#"{"name":"Resources","type":"integer","jsonPath":".status.resources"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::cel::Rule::new("(has(self.namespaces) && size(self.namespaces) > 0) || has(self.namespaceSelector)")
    .message("select the namespaces this account serves: set namespaces, namespaceSelector, or both")
    .field_path(".namespaces"))]
#[serde(rename_all = "camelCase")]
pub struct CognitoSmsAccountSpec {
    /// ARN of the IAM role the operator assumes in the target account, e.g.
    /// `arn:aws:iam::222222222222:role/cognito-sms-operator`. Its trust policy must allow the
    /// operator's own role `sts:AssumeRole` and `sts:TagSession` (with the `sts:ExternalId`
    /// condition when `externalIdSecretRef` is set); its permissions are those the operator
    /// needs in the account (see docs/iam.md). A change takes effect on the next reconcile of
    /// each resource.
    #[schemars(
        length(max = 2048),
        regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")
    )]
    pub role_arn: String,

    /// The external ID the role's trust policy requires, from a key of a Secret in the
    /// operator's own namespace. The operator reads it only to assume the role, and never logs or
    /// echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_secret_ref: Option<SecretKeyRef>,

    /// Namespaces this account serves, by name.
    // The bounds let the API server bound the cost of the uniqueness rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))
    )]
    #[x_kube(validation = kube::core::cel::Rule::new("self.all(x, self.exists_one(y, y == x))")
        .message("each namespace may be listed once"))]
    pub namespaces: Vec<String>,

    /// Namespaces this account serves, by their labels: `matchLabels` and `matchExpressions` as
    /// everywhere in Kubernetes. An empty selector (`{}`) selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

/// What the operator reports of a `CognitoSmsAccount`.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CognitoSmsAccountStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The AWS account of `roleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// How many `CognitoSmsConfig` resources act in the account through this mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<u32>,
    /// Ready: the operator can assume the role, and no namespace this account selects is also
    /// selected by another `CognitoSmsAccount`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
