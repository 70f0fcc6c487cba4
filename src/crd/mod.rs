//! The `CognitoSmsConfig` custom resource: what users write (spec) and what the operator reports
//! (status). Doc comments on spec fields are what `kubectl explain` shows.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::conditions::{ConditionStatus, types};

/// Finalizer that lets the operator apply the deletion policy before the resource goes away.
pub const FINALIZER: &str = "cognitosms.io/cleanup";

/// How one Amazon Cognito user pool sends SMS through Amazon SNS: the IAM role Cognito assumes,
/// the SNS region, and the pool's SMS configuration. The operator keeps them in shape and
/// reports what it cannot do by itself as conditions.
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
    doc = "CognitoSmsConfig declares how one Amazon Cognito user pool sends SMS: the IAM role Cognito assumes, the SNS region and the pool's SmsConfiguration, reconciled by cognito-sms-operator.",
    printcolumn = r#"{"name":"Pool","type":"string","jsonPath":".spec.userPoolId"}"#,
    printcolumn = r#"{"name":"SNS Region","type":"string","jsonPath":".status.snsRegion"}"#,
    printcolumn = r#"{"name":"Role Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"RoleReady\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Sandbox","type":"boolean","jsonPath":".status.sandbox.inSandbox"}"#,
    printcolumn = r#"{"name":"Production Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"ProductionReady\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = crate::regions::sns_region_rule())]
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
    /// eu-west-1. Raise the SNS monthly spend limit in a region before switching to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25), regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub sns_region: Option<String>,

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
    /// the pool as they are. `Delete` deletes the managed role once the pool no longer uses it;
    /// while the pool still references it, the role is kept and a Warning event says so. The
    /// pool's settings are never changed on deletion, and an existing role is never deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Destination numbers to verify with SNS while the account is in the SMS sandbox of the SNS
    /// region (at most 10, SNS's limit). For each, the operator asks SNS to text a one-time code
    /// to the number and reports it Pending; put the code you receive into the named Secret key
    /// and the operator completes the verification. Numbers removed from this list are removed
    /// from the sandbox too, if this operator added them and no other resource lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = kube::core::cel::Rule::new(
        "self.all(x, self.exists_one(y, y.phoneNumber == x.phoneNumber))").message("each phoneNumber may be listed once"))]
    pub sandbox_phone_numbers: Vec<SandboxPhoneNumber>,

    /// Countries where the pool's users are, as ISO 3166-1 alpha-2 codes (e.g. `US`, `JP`).
    /// Listing `US` makes a US origination identity (short code, 10DLC or toll-free number)
    /// a requirement for `ProductionReady`: US carriers refuse SMS without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 250))]
    #[x_kube(validation = kube::core::cel::Rule::new("self.all(c, c.matches('^[A-Z]{2}$'))")
        .message("destinationCountries are ISO 3166-1 alpha-2 codes in capitals, e.g. US"))]
    pub destination_countries: Vec<String>,

    /// The monthly SMS spend limit, in US dollars, you expect SNS to allow in the SNS region,
    /// e.g. "50" or "12.50". `SpendLimitSufficient` is False while the account's limit is lower.
    /// When unset, anything above the USD 1.00 that SNS gives every new account counts as raised.
    /// The operator only reads the limit; raising it is a request to AWS Support.
    #[serde(
        default,
        rename = "minimumMonthlySpendLimitUSD",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 12), regex(pattern = r"^[0-9]+(\.[0-9]{1,2})?$"))]
    pub minimum_monthly_spend_limit_usd: Option<String>,
}

/// A destination phone number to verify in the SMS sandbox.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPhoneNumber {
    /// The number in E.164 format, e.g. `+14255550100`.
    #[schemars(regex(pattern = r"^\+[1-9][0-9]{1,14}$"))]
    pub phone_number: String,
    /// Language of the SMS carrying the code. Defaults to SNS's `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<LanguageCode>,
    /// The Secret key, in this resource's namespace, where you put the code SNS texted to the
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

/// Languages SNS can send the verification SMS in.
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

    /// Extra tags for the role. The operator adds its ownership tags (`cognitosms.io/*`) itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = kube::core::cel::Rule::new("size(self) <= 40").message("at most 40 tags"))]
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

/// What the operator observed and did. Everything here is written by the operator.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CognitoSmsConfigStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// AWS account the operator's credentials belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// ARN of the user pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_arn: Option<String>,
    /// ARN of the role Cognito assumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// SNS region in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns_region: Option<String>,
    /// External ID in use (generated when the spec names none and the role is managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// When the operator last compared AWS with the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// Whether the account is in the SMS sandbox of the SNS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxState>,
    /// Verification state of the sandbox destination numbers (masked but for the last 4 digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_phone_numbers: Vec<SandboxNumberStatus>,
    /// Origination numbers of the account in the SNS region (masked but for the last 4 digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origination_identities: Vec<OriginationIdentity>,
    /// The account's monthly SMS spend limit in the SNS region, in US dollars.
    #[serde(default, rename = "monthlySpendLimitUSD", skip_serializing_if = "Option::is_none")]
    pub monthly_spend_limit_usd: Option<String>,
    /// Ready, RoleReady, SnsRegionValid, UserPoolConfigured, SandboxExited, PhoneNumbersVerified,
    /// OriginationIdentityAvailable, SpendLimitSufficient and ProductionReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxState {
    pub in_sandbox: bool,
    /// When SNS was last asked.
    pub checked_at: String,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxNumberStatus {
    /// Stable, non-reversible identifier of the number, so it can be matched without storing it.
    pub id: String,
    /// The number, masked but for its last 4 digits.
    pub phone_number: String,
    pub state: SandboxNumberState,
    /// CamelCase reason for the state.
    pub reason: String,
    /// What happened and what to do next.
    pub message: String,
    /// This operator added the number to the sandbox (and may remove it).
    #[serde(default)]
    pub added_by_operator: bool,
    /// Version of the Secret whose code SNS refused; the code is not tried again until the
    /// Secret changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_secret_version: Option<String>,
}

#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxNumberState {
    /// SNS sent a code; waiting for it in the Secret.
    Pending,
    Verified,
    /// SNS refused the request or the code.
    Failed,
    /// Dropped from the spec; being removed from the sandbox.
    Removing,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OriginationIdentity {
    /// `ShortCode`, `TenDlc`, `TollFree`, `LongCode`, or `Unknown` when the type could not be read.
    #[serde(rename = "type")]
    pub type_: String,
    /// The number, masked but for its last 4 digits.
    pub phone_number: String,
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

/// The CRD as YAML, as `cognito-sms-operator crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> String {
    let crd = CognitoSmsConfig::crd();
    format!(
        "# Generated by `cognito-sms-operator crd` from src/crd.rs. Do not edit.\n---\n{}",
        serde_yaml::to_string(&crd).expect("the CRD serializes to YAML")
    )
}

/// The CRD as the Helm chart ships it: the same document, installed unless `crds.install` is
/// false, and kept when the release is uninstalled so that users' resources survive.
pub fn crd_helm_template() -> String {
    let mut crd = CognitoSmsConfig::crd();
    crd.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("helm.sh/resource-policy".into(), "keep".into());
    format!(
        "{{{{- /* Generated by `cognito-sms-operator crd --helm-template` from src/crd.rs. Do not edit. */}}}}\n\
         {{{{- if .Values.crds.install }}}}\n---\n{}{{{{- end }}}}\n",
        serde_yaml::to_string(&crd).expect("the CRD serializes to YAML")
    )
}

/// Where the chart keeps its CRD template.
pub const CHART_CRD_TEMPLATE: &str = "charts/cognito-sms-operator/templates/crd.yaml";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_charts_crd_template_matches_the_types() {
        let committed = std::fs::read_to_string(format!("{}/{CHART_CRD_TEMPLATE}", env!("CARGO_MANIFEST_DIR")))
            .expect("the chart's CRD template exists");
        assert!(
            committed == crd_helm_template(),
            "{CHART_CRD_TEMPLATE} is stale: run `cargo run -q -- crd --helm-template > {CHART_CRD_TEMPLATE}`"
        );
    }

    fn resource(spec: serde_json::Value) -> CognitoSmsConfig {
        crate::testing::resource("a", spec)
    }

    #[test]
    fn crds_folder_matches_the_types() {
        let committed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crds/cognitosmsconfigs.cognitosms.io.yaml"
        ))
        .expect("crds/cognitosmsconfigs.cognitosms.io.yaml exists");
        assert!(
            committed == crd_yaml(),
            "crds/ is stale: run `cargo run -q -- crd > crds/cognitosmsconfigs.cognitosms.io.yaml`"
        );
    }

    #[test]
    fn defaults_are_a_managed_role_retained_on_delete() {
        let r = resource(json!({"userPoolId": "eu-west-1_Abc"}));
        assert_eq!(r.spec.role, RoleSpec::default());
        assert_eq!(r.spec.deletion_policy, DeletionPolicy::Retain);
        assert!(r.validate_cel().is_ok());
    }

    #[test]
    fn admission_rules_reject_what_reconcile_would_reject() {
        let ok = resource(json!({"userPoolId": "eu-central-1_Abc", "snsRegion": "eu-west-1"}));
        assert!(ok.validate_cel().is_ok());
        let seoul = resource(json!({"userPoolId": "ap-northeast-2_Abc", "snsRegion": "ap-northeast-2"}));
        let err = seoul.validate_cel().unwrap_err().to_string();
        assert!(
            err.contains("snsRegion ap-northeast-2 cannot be used by user pool ap-northeast-2_Abc"),
            "{err}"
        );
        let unlisted = resource(json!({"userPoolId": "ap-northeast-3_Abc", "snsRegion": "ap-northeast-3"}));
        assert!(unlisted.validate_cel().is_ok());
        let unlisted_bad = resource(json!({"userPoolId": "ap-northeast-3_Abc", "snsRegion": "us-east-1"}));
        assert!(unlisted_bad.validate_cel().is_err());
    }

    #[test]
    fn admission_rule_matches_the_table_for_every_row() {
        for row in crate::regions::TABLE {
            for candidate in crate::regions::TABLE.iter().map(|r| r.cognito) {
                let r = resource(json!({"userPoolId": format!("{}_Abc", row.cognito), "snsRegion": candidate}));
                assert_eq!(
                    r.validate_cel().is_ok(),
                    row.sns.contains(&candidate),
                    "pool in {} with snsRegion {candidate}",
                    row.cognito
                );
            }
        }
    }

    #[test]
    fn both_role_kinds_are_rejected() {
        let r = resource(json!({
            "userPoolId": "eu-west-1_Abc",
            "role": {"managed": {}, "existing": {"roleArn": "arn:aws:iam::123456789012:role/x"}}
        }));
        let err = r.validate_cel().unwrap_err().to_string();
        assert!(
            err.contains("set either role.managed or role.existing, not both"),
            "{err}"
        );
    }

    #[test]
    fn reserved_tag_prefixes_are_rejected() {
        let r = resource(json!({
            "userPoolId": "eu-west-1_Abc",
            "role": {"managed": {"tags": {"cognitosms.io/name": "x"}}}
        }));
        assert!(r.validate_cel().is_err());
    }
}
