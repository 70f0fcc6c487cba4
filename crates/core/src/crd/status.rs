//! What the operator reports in `status`. Everything here is written by the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One Region of a multi-Region user pool.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegionStatus {
    pub region: String,
    /// `Primary` or `Secondary`.
    pub role: String,
    /// The replica's status as Cognito lists it: `CREATING`, `ACTIVE`, `INACTIVE` or `DELETING`.
    pub replica_status: String,
    /// How the pool sends SMS in this Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_path: Option<DeliveryPath>,
    /// The SNS region the pool's SMS go through from this Region (SNS path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns_region: Option<String>,
    /// Whether the pool's SMS configuration in this Region is the one the spec asks for.
    pub configured: bool,
    /// Whether the account is in the SMS sandbox of the region this Region's SMS go through,
    /// when that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
}

/// Where this resource set a Region's message delivery errors to go.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLogStatus {
    pub region: String,
    pub log_group_arn: String,
}

/// The protect configuration this resource keeps, and the configuration set it created for it.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProtectStatus {
    /// The End User Messaging protect configuration this resource owns (tagged with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_configuration_id: Option<String>,
    /// The configuration set this resource created for the pool, when the spec names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_set_name: Option<String>,
}

/// The month's SMS spend in one region the pool sends through.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpendStatus {
    /// The region the SMS go through (the SNS region, or the pool's own on the direct path).
    pub region: String,
    /// Spent since the first of the month (UTC), in US dollars: SNS's `SMSMonthToDateSpentUSD`
    /// on the SNS path, End User Messaging's `TextMessageMonthlySpend` on the direct path.
    #[serde(rename = "spentUSD")]
    pub spent_usd: String,
    /// The text message monthly spend limit, in US dollars. When it is reached, SMS stop until
    /// the next month.
    #[serde(rename = "limitUSD")]
    pub limit_usd: String,
    /// Spent, in percent of the limit.
    pub percent: u32,
}

/// What the operator observed and did. Everything here is written by the operator.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CognitoSmsConfigStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// AWS account the operator acts in for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// How the AWS account was chosen: the `CognitoSmsAccount` that selects this namespace and
    /// the role assumed, or none (the operator's own identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<SelectedAccount>,
    /// ARN of the user pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_arn: Option<String>,
    /// The user pool this resource manages. Empty while another resource (or another
    /// installation of the operator) manages the pool `spec.userPoolId` names. A resource that
    /// manages its pool keeps it when an older resource later names the same pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_user_pool_id: Option<String>,
    /// ARN of the role Cognito assumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// How the pool sends SMS: `SNS`, or `EndUserMessaging` directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_path: Option<DeliveryPath>,
    /// SNS region in use (SNS path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns_region: Option<String>,
    /// ARN of the origination identity the pool sends from (direct path, when the spec names one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origination_identity_arn: Option<String>,
    /// External ID in use (generated when the spec names none and the role is managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The value of the `cognitosms.io/resend-verification-codes` annotation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_codes_request: Option<String>,
    /// Whether the account is in the SMS sandbox of the region the pool sends from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxState>,
    /// Verification state of the sandbox destination numbers (masked but for the last 4 digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_phone_numbers: Vec<SandboxNumberStatus>,
    /// Origination identities of the account in the region the pool sends from: phone numbers
    /// (masked but for the last 4 digits), sender IDs and pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origination_identities: Vec<OriginationIdentity>,
    /// The account's monthly SMS spend limit in the region the pool sends from, in US dollars.
    #[serde(default, rename = "monthlySpendLimitUSD", skip_serializing_if = "Option::is_none")]
    pub monthly_spend_limit_usd: Option<String>,
    /// What this resource keeps in End User Messaging to protect against SMS pumping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<ProtectStatus>,
    /// The log group this resource set each Region's message delivery errors to go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_logs: Vec<DeliveryLogStatus>,
    /// The month's SMS spend against the monthly spend limit, in each region the pool sends
    /// through, as CloudWatch reports it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<SpendStatus>,
    /// Each Region of a multi-Region user pool (empty for a pool of one Region): the primary
    /// first, then its secondary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionStatus>,
    /// Ready, AccountSelected, RoleReady, SnsRegionValid, UserPoolConfigured, ReplicasConfigured,
    /// DeliveryLogsConfigured, PumpingProtection,
    /// SandboxExited, PhoneNumbersVerified, OriginationIdentityAvailable, SpendLimitSufficient,
    /// SpendHeadroom and ProductionReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The AWS account a resource acts in, and how it was chosen.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SelectedAccount {
    /// The AWS account ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The role assumed to act in it; unset when the operator acts with its own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The `CognitoSmsAccount` that selects this resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_by: Option<String>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxState {
    pub in_sandbox: bool,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxNumberStatus {
    /// Identifier of the number, so that it can be matched without storing it: an HMAC of the
    /// number under a secret key of this installation of the operator, which does not reveal it.
    pub id: String,
    /// The number, masked but for its last 4 digits.
    pub phone_number: String,
    /// The region whose End User Messaging sandbox holds the number. Unset in statuses written
    /// before numbers named their Region: the region the primary sends through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub state: SandboxNumberState,
    /// CamelCase reason for the state.
    pub reason: String,
    /// What happened and what to do next.
    pub message: String,
    /// This operator added the number to the sandbox (and may remove it).
    #[serde(default)]
    pub added_by_operator: bool,
    /// Version of the Secret whose code AWS refused; the code is not tried again until the
    /// Secret changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_secret_version: Option<String>,
}

#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxNumberState {
    /// AWS texted a code; waiting for it in the Secret.
    Pending,
    Verified,
    /// AWS refused the request or the code.
    Failed,
    /// Dropped from the spec; being removed from the sandbox.
    Removing,
}

/// How a pool sends SMS.
#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryPath {
    /// Through Amazon SNS (`SnsCallerArn`, `SnsRegion`).
    #[serde(rename = "SNS")]
    Sns,
    /// Directly through AWS End User Messaging SMS (`EumsSms`).
    EndUserMessaging,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OriginationIdentity {
    /// `ShortCode`, `TenDlc`, `TollFree`, `LongCode`, `Simulator`, `SenderId` or `Pool`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The number, masked but for its last 4 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The sender ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The identity's ARN, which a role's `sms-voice:SendTextMessage` permission names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}
