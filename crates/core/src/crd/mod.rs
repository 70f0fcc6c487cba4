//! The `CognitoSmsConfig` custom resource: what users write (spec) and what the operator reports
//! (status). Doc comments on spec fields are what `kubectl explain` shows.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::conditions::{ConditionStatus, types};

mod account;
mod status;
pub use account::*;
pub use status::*;

/// Finalizer that lets the operator apply the `Delete` deletion policy before the resource goes
/// away; a resource that retains AWS as it is carries none.
pub const FINALIZER: &str = "cognitosms.io/cleanup";

/// Annotation asking for new verification codes: set it to a new value (e.g. the time) and the
/// operator has a code texted again to each of the resource's numbers still awaiting one.
pub const RESEND_CODES_ANNOTATION: &str = "cognitosms.io/resend-verification-codes";

/// How one Amazon Cognito user pool sends SMS, through Amazon SNS or directly through AWS End User
/// Messaging SMS: the IAM role Cognito assumes, the region, and the pool's SMS configuration. The
/// operator keeps them in shape and reports what it cannot do by itself as conditions.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cognitosms.io",
    version = "v1alpha1",
    kind = "CognitoSmsConfig",
    plural = "cognitosmsconfigs",
    shortname = "csms",
    namespaced,
    status = "CognitoSmsConfigStatus",
    cel,
    doc = "CognitoSmsConfig declares how one Amazon Cognito user pool sends SMS, through Amazon SNS or directly through AWS End User Messaging SMS: the IAM role Cognito assumes, the region and the pool's SmsConfiguration, reconciled by cognito-sms-operator.",
    printcolumn = r#"{"name":"Pool","type":"string","jsonPath":".spec.userPoolId"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".status.deliveryPath"}"#,
    printcolumn = r#"{"name":"SNS Region","type":"string","jsonPath":".status.snsRegion"}"#,
    printcolumn = r#"{"name":"Role Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"RoleReady\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Sandbox","type":"boolean","jsonPath":".status.sandbox.inSandbox"}"#,
    printcolumn = r#"{"name":"Production Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"ProductionReady\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = crate::regions::sns_region_rule())]
#[x_kube(validation = kube::core::cel::Rule::new("!(has(self.snsRegion) && has(self.endUserMessaging))")
    .message("snsRegion chooses the SNS region, but with endUserMessaging the pool sends directly through AWS End User Messaging SMS in its own region: remove one of them")
    .field_path(".snsRegion"))]
#[x_kube(validation = crate::regions::direct_path_rule())]
#[x_kube(validation = kube::core::cel::Rule::new(
    "!has(self.protect) || !has(self.protect.blockOtherCountries) || !self.protect.blockOtherCountries || (has(self.destinationCountries) && size(self.destinationCountries) > 0)")
    .message("protect.blockOtherCountries blocks SMS to every country not in destinationCountries: list the countries of your users there")
    .field_path(".destinationCountries"))]
#[x_kube(validation = kube::core::cel::Rule::new(
    "!has(self.endUserMessaging) || !has(self.destinationCountries) || !self.destinationCountries.exists(c, c == 'IN') || has(self.endUserMessaging.indiaDlt)")
    .message("sending to India (IN) directly through End User Messaging needs the DLT IDs: set endUserMessaging.indiaDlt.entityId and templateId")
    .field_path(".endUserMessaging"))]
#[serde(rename_all = "camelCase")]
pub struct CognitoSmsConfigSpec {
    /// ID of the Cognito user pool, e.g. `eu-west-1_AbCdEf123`. The pool's region is the part
    /// before the underscore. The pool must already exist; the operator never creates or deletes
    /// pools, and changes only their SMS configuration.
    #[schemars(
        length(min = 3, max = 55),
        regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+_[0-9A-Za-z]+$")
    )]
    pub user_pool_id: String,

    /// AWS region whose Amazon SNS resources send the pool's SMS. Defaults to the pool's own
    /// region, which is the fast and reliable choice (pools in ap-northeast-2, Seoul, must use
    /// ap-northeast-1, Tokyo). A few regions also allow a legacy alternate: us-east-2 and
    /// ca-central-1 → us-east-1, ap-south-1 → ap-southeast-1, eu-central-1 and eu-west-2 →
    /// eu-west-1. Pools in ap-southeast-5 (Malaysia) and ap-east-1 (Hong Kong) must use
    /// ap-southeast-1, pools in ap-southeast-7 (Thailand) ap-south-1. Raise the monthly SMS spend
    /// limit in a region before switching to it. Not used with `endUserMessaging`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25), regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub sns_region: Option<String>,

    /// Send SMS directly through AWS End User Messaging SMS (the path AWS recommends for new
    /// pools) instead of through Amazon SNS. The pool then sends from its own region; the role
    /// is allowed `sms-voice:SendTextMessage` on the origination identity only. Not available
    /// for pools in ap-southeast-7 (Thailand), ap-east-1 (Hong Kong) or ap-southeast-5
    /// (Malaysia), which send through SNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_messaging: Option<EndUserMessaging>,

    /// The IAM role Cognito assumes to call `sns:Publish`: either one the operator creates and
    /// keeps in shape (`managed`, the default) or one you already have (`existing`).
    #[serde(default)]
    pub role: RoleSpec,

    /// External ID Cognito passes when it assumes the role; added to the role's trust policy as
    /// the `sts:ExternalId` condition and to the pool's SMS configuration. With a managed role and
    /// no value here, the operator generates one, keeps it stable, and shows it in
    /// `status.externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = r"^[\w+=,.@:/-]+$"))]
    pub external_id: Option<String>,

    /// What happens in AWS when this resource is deleted. `Retain` (default) leaves the role and
    /// the pool as they are, and the resource is deleted at once. `Delete` deletes the managed
    /// role once the pool no longer uses it; while the pool still references it, the role is
    /// kept and a Warning event says so. With `Delete` the resource carries the finalizer
    /// `cognitosms.io/cleanup` until the policy is applied. The pool's settings are never changed
    /// on deletion, and an existing role is never deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Destination numbers to verify while the account is in the SMS sandbox of the region the
    /// pool sends from (at most 10, AWS's limit). On both delivery paths, the operator has AWS End
    /// User Messaging SMS text a one-time code to each number and reports it Pending; put the code
    /// you receive into the named Secret key and the operator completes the verification. Numbers
    /// removed from this list are removed from the sandbox too, if this operator added them and
    /// no other resource lists them. A number is verified for the primary's Region unless it
    /// names another: each Region keeps its own sandbox, so a number may be listed once per
    /// Region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = kube::core::cel::Rule::new(
        "self.all(x, self.exists_one(y, y.phoneNumber == x.phoneNumber && \
         (has(y.region) ? y.region : '') == (has(x.region) ? x.region : '')))")
        .message("each phoneNumber may be listed once per region"))]
    pub sandbox_phone_numbers: Vec<SandboxPhoneNumber>,

    /// Countries where the pool's users are, as ISO 3166-1 alpha-2 codes (e.g. `US`, `JP`).
    /// Listing `US` makes a US origination identity (short code, 10DLC or toll-free number)
    /// a requirement for `ProductionReady`: US carriers refuse SMS without one.
    // Each code's length is bounded so that the API server can bound the CEL rule's cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 250), inner(length(max = 2)))]
    #[x_kube(validation = kube::core::cel::Rule::new("self.all(c, c.matches('^[A-Z]{2}$'))")
        .message("destinationCountries are ISO 3166-1 alpha-2 codes in capitals, e.g. US"))]
    pub destination_countries: Vec<String>,

    /// The monthly SMS spend limit, in US dollars, you expect AWS End User Messaging SMS to allow
    /// in the region the pool sends from (the SNS region on the SNS path), e.g. "50" or "12.50".
    /// `SpendLimitSufficient` is False while the account's limit is lower. When unset, anything
    /// above the USD 1.00 that AWS gives every new account counts as raised.
    /// The operator only reads the limit; raising it is a request to AWS Support.
    #[serde(
        default,
        rename = "minimumMonthlySpendLimitUSD",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 12), regex(pattern = r"^[0-9]+(\.[0-9]{1,2})?$"))]
    pub minimum_monthly_spend_limit_usd: Option<String>,

    /// The share of the monthly SMS spend limit, in percent, past which `SpendHeadroom` turns
    /// False and a Warning event is published, so that the limit can be raised before AWS stops
    /// sending SMS, MFA codes included, for the rest of the month. Defaults to 80. The spend is
    /// read from CloudWatch (`status.spend`) with the account's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub spend_warning_percent: Option<u32>,

    /// Protection against SMS pumping: bots signing up with premium-rate numbers so that the
    /// account pays for the codes texted to them. Off by default. On the direct path the operator
    /// keeps an End User Messaging protect configuration for this resource (on the pool's
    /// configuration set, one it creates when the spec names none); on the SNS path only the
    /// account's default protect configuration applies, which the operator reports on in
    /// `PumpingProtection` and never changes, as it covers every sender of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<Protect>,

    /// Where Cognito exports the errors of delivering the pool's messages (SMS and email),
    /// through the pool's log delivery (`userNotification` at level `ERROR`). The pool's other
    /// log configuration (user activity) is kept. Removing this stops the delivery, if this
    /// resource set it; deleting the resource leaves it in place, as every setting of the pool.
    /// A secondary Region delivers to the log group of the same name in its own Region, unless
    /// `replicas[].deliveryLogs` names another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_logs: Option<DeliveryLogs>,

    /// Settings for the secondary Region of a multi-Region user pool, where the primary's
    /// cannot carry over. The operator configures SMS on the pool's secondary (as
    /// `ListUserPoolReplicas` lists it, once `ACTIVE` or `INACTIVE`) with the same role and
    /// external ID; without an entry here, the secondary's SNS region is its own Region's from
    /// the guide's table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[x_kube(validation = kube::core::cel::Rule::new("self.all(x, self.exists_one(y, y.region == x.region))")
        .message("each region may be listed once"))]
    pub replicas: Vec<ReplicaSettings>,
}

/// The settings of one secondary Region of the pool.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = kube::core::cel::Rule::new("!(has(self.snsRegion) && has(self.endUserMessaging))")
    .message("snsRegion is for the SNS path and endUserMessaging for the direct path: set one of them")
    .field_path(".snsRegion"))]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSettings {
    /// The secondary's Region, e.g. `us-west-2`.
    #[schemars(length(max = 25), regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: String,

    /// The SNS region the secondary's SMS go through (SNS path). Defaults to the secondary
    /// Region's own from the guide's table, as `snsRegion` does for the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25), regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub sns_region: Option<String>,

    /// The direct path's settings in the secondary's Region: an origination identity and
    /// configuration set belong to one Region, so a primary that names them needs these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_messaging: Option<EndUserMessaging>,

    /// Where the secondary's message delivery errors go, when `deliveryLogs` is set: a log group
    /// of the secondary's Region. Defaults to the log group of the same name in that Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_logs: Option<DeliveryLogs>,
}

/// The pool's direct path through AWS End User Messaging SMS.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndUserMessaging {
    /// The phone number, pool or sender ID the pool sends from, in any of these forms: an E.164
    /// number (`+12065550100`), a phone number ID (`phone-…`), a pool ID (`pool-…`), a sender
    /// ID with its country (`MyBrand/GB`), or the ARN of any of them. The operator resolves it
    /// to its ARN, sets that ARN on the pool and scopes the role's permission to it. When unset,
    /// End User Messaging chooses among the account's identities in the pool's region, and the
    /// role may send from any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 256),
        regex(
            pattern = r"^(\+[1-9][0-9]{1,14}|phone-[A-Za-z0-9]+|pool-[A-Za-z0-9]+|[A-Za-z0-9_-]{1,11}/[A-Z]{2}|arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:[0-9]{12}:(phone-number/[A-Za-z0-9_-]+|pool/[A-Za-z0-9_-]+|sender-id/[A-Za-z0-9_-]{1,11}/[A-Z]{2}))$"
        )
    )]
    pub origination_identity: Option<String>,

    /// An End User Messaging configuration set for the pool's messages (event destinations,
    /// default sender). It must exist in the pool's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub configuration_set_name: Option<String>,

    /// The DLT entity and template IDs registered for sending to India, required when
    /// `destinationCountries` lists `IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub india_dlt: Option<IndiaDlt>,
}

/// India's Distributed Ledger Technology registration of the sender and the message template.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IndiaDlt {
    /// The DLT entity ID of the registered sender.
    #[schemars(length(min = 1, max = 50), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub entity_id: String,
    /// The DLT template ID of the registered message template.
    #[schemars(length(min = 1, max = 50), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub template_id: String,
}

/// Protection against SMS pumping.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Protect {
    /// Block SMS to every country not in `destinationCountries`. Codes then reach only the
    /// countries you list: a user with a phone number of any other country gets none, so list
    /// every country your users are in. Protect configurations cost nothing extra for ALLOW and
    /// BLOCK rules.
    #[serde(default)]
    pub block_other_countries: bool,
    /// In the countries of `destinationCountries`, let AWS filter out the messages it takes for
    /// SMS pumping (the FILTER rule) instead of allowing every one. AWS charges for each message
    /// it checks (see AWS End User Messaging pricing).
    #[serde(default)]
    pub filter_suspected_pumping: bool,
}

/// Where the pool's message delivery errors go.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLogs {
    /// The ARN of a CloudWatch Logs log group in the pool's account and Region, e.g.
    /// `arn:aws:logs:us-east-1:111122223333:log-group:/aws/vendedlogs/cognito/storefront`. It
    /// must exist and must not be encrypted with KMS; a name under `/aws/vendedlogs/` keeps its
    /// resource policy small. See docs/iam.md for the permissions delivery needs.
    #[schemars(
        length(max = 512),
        regex(pattern = r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[\w/.#-]+(:\*)?$")
    )]
    pub log_group_arn: String,
}

/// A destination phone number to verify in the SMS sandbox.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPhoneNumber {
    /// The number in E.164 format, e.g. `+14255550100`.
    // The length bound lets the API server bound the cost of the list's uniqueness rule.
    #[schemars(length(max = 16), regex(pattern = r"^\+[1-9][0-9]{1,14}$"))]
    pub phone_number: String,
    /// The user pool Region whose SMS the number is to receive, e.g. the secondary's `us-west-2`
    /// of a multi-Region pool. Defaults to the pool's primary Region. The number is verified in
    /// the sandbox of the region that Region's SMS go through (its SNS region on the SNS path,
    /// the Region itself on the direct path). The pool need not have a replica there yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25), regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: Option<String>,
    /// Language of the SMS carrying the code. Defaults to `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<LanguageCode>,
    /// The Secret key, in this resource's namespace, where you put the code AWS texted to the
    /// number. The operator reads it only to verify the number and never logs, echoes or keeps it.
    pub verification_code_ref: SecretKeyRef,
}

/// A key of a Secret in the resource's namespace.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Languages AWS End User Messaging SMS can send the verification SMS in.
#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LanguageCode {
    #[serde(rename = "en-US")]
    EnUs,
    #[serde(rename = "en-GB")]
    EnGb,
    #[serde(rename = "es-419")]
    Es419,
    #[serde(rename = "es-ES")]
    EsEs,
    #[serde(rename = "de-DE")]
    DeDe,
    #[serde(rename = "fr-CA")]
    FrCa,
    #[serde(rename = "fr-FR")]
    FrFr,
    #[serde(rename = "it-IT")]
    ItIt,
    #[serde(rename = "ja-JP")]
    JaJp,
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "kr-KR")]
    KrKr,
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "zh-TW")]
    ZhTw,
}

impl LanguageCode {
    pub fn as_str(self) -> &'static str {
        match self {
            LanguageCode::EnUs => "en-US",
            LanguageCode::EnGb => "en-GB",
            LanguageCode::Es419 => "es-419",
            LanguageCode::EsEs => "es-ES",
            LanguageCode::DeDe => "de-DE",
            LanguageCode::FrCa => "fr-CA",
            LanguageCode::FrFr => "fr-FR",
            LanguageCode::ItIt => "it-IT",
            LanguageCode::JaJp => "ja-JP",
            LanguageCode::PtBr => "pt-BR",
            LanguageCode::KrKr => "kr-KR",
            LanguageCode::ZhCn => "zh-CN",
            LanguageCode::ZhTw => "zh-TW",
        }
    }
}

/// Exactly one of `managed` or `existing`. Leave both out for a managed role with defaults.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = kube::core::cel::Rule::new("!(has(self.managed) && has(self.existing))")
    .message("set either role.managed or role.existing, not both"))]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    /// A role the operator creates, owns (tagged with this resource's namespace, name and uid)
    /// and repairs when its trust or permissions policy drifts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRole>,
    /// A role you manage yourself. The operator only reads it, reports exactly what its trust
    /// policy or permissions lack, and never modifies or deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingRole>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = kube::core::cel::Rule::new(
    "!has(self.tags) || self.tags.all(k, !k.startsWith('cognitosms.io/') && !k.startsWith('aws:'))")
    .message("tag keys starting with cognitosms.io/ or aws: are reserved"))]
#[serde(rename_all = "camelCase")]
pub struct ManagedRole {
    /// Role name. Defaults to `cognito-sms-<userPoolId>`. Changing it creates a new role; the old
    /// one is left in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[\w+=,.@-]+$"))]
    pub name: Option<String>,

    /// IAM path for the role. Defaults to `/service-role/`. IAM cannot move a role to another
    /// path: changing this on an existing role is reported, not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^/([\x21-\x7E]*/)?$"))]
    pub path: Option<String>,

    /// ARN of a managed policy to set as the role's permissions boundary, if your account
    /// requires one for roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$"))]
    pub permissions_boundary: Option<String>,

    /// Which user pools may assume the role, through the trust policy's `aws:SourceArn`
    /// condition: `UserPool` (default) allows exactly this pool; `AllUserPoolsInRegion` allows
    /// every pool of the account in the pool's region.
    #[serde(default)]
    pub source_arn_scope: SourceArnScope,

    /// Extra tags for the role, at most 40. The operator adds its ownership tags
    /// (`cognitosms.io/*`) itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    // A bound the API server knows, so that it can bound the cost of the reserved-keys rule.
    #[schemars(extend("maxProperties" = 40))]
    pub tags: BTreeMap<String, String>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExistingRole {
    /// ARN of the role, e.g. `arn:aws:iam::123456789012:role/service-role/CognitoSMS`.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$"))]
    pub role_arn: String,
}

#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceArnScope {
    #[default]
    UserPool,
    AllUserPoolsInRegion,
}

#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

impl CognitoSmsConfig {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The status of condition `type_`; `Unknown` while the operator has not reported it.
    pub fn condition_status(&self, type_: &str) -> ConditionStatus {
        self.condition(type_)
            .map_or(ConditionStatus::Unknown, ConditionStatus::of)
    }

    /// The `Ready` condition's status.
    pub fn ready(&self) -> ConditionStatus {
        self.condition_status(types::READY)
    }
}

/// The resources' CRDs, in the order the chart ships them.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    vec![CognitoSmsConfig::crd(), CognitoSmsAccount::crd()]
}

/// A CRD as YAML, as `cognito-sms-operator crd` prints it and `crds/` holds it.
pub fn crd_yaml_of(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    format!(
        "# Generated by `cognito-sms-operator crd` from crates/core/src/crd. Do not edit.\n---\n{}",
        serde_norway::to_string(crd).expect("the CRD serializes to YAML")
    )
}

/// The `CognitoSmsConfig` CRD as YAML.
pub fn crd_yaml() -> String {
    crd_yaml_of(&CognitoSmsConfig::crd())
}

/// The CRDs as the Helm chart ships them: the same documents, installed unless `crds.install`
/// is false, and kept when the release is uninstalled so that users' resources survive.
pub fn crd_helm_template() -> String {
    let docs: String = crds()
        .into_iter()
        .map(|mut crd| {
            crd.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert("helm.sh/resource-policy".into(), "keep".into());
            format!(
                "---\n{}",
                serde_norway::to_string(&crd).expect("the CRD serializes to YAML")
            )
        })
        .collect();
    format!(
        "{{{{- /* Generated by `cognito-sms-operator crd --helm-template` from crates/core/src/crd. Do not edit. */}}}}\n\
         {{{{- if .Values.crds.install }}}}\n{docs}{{{{- end }}}}\n"
    )
}

/// Where the chart keeps its CRD template.
pub const CHART_CRD_TEMPLATE: &str = "charts/cognito-sms-operator/templates/crd.yaml";

#[cfg(test)]
mod tests;
