//! The spec, parsed once: where the pool's SMS go, through which role, and what the account must
//! offer. Every step of the plan takes this value, never the raw spec.

use kube::ResourceExt;

use super::Owner;
use crate::crd::{
    CognitoSmsConfig, DeliveryPath, ExistingRole, IndiaDlt, ManagedRole, RESEND_CODES_ANNOTATION, ReplicaSettings,
    SandboxPhoneNumber,
};
use crate::regions::{self, RegionError};

/// What `spec.protect` asks for, once it asks for anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectWish {
    /// FILTER instead of ALLOW for the users' countries.
    pub filter: bool,
}

/// The name of the configuration set the operator creates for the protect configuration of pool
/// `user_pool_id`, when the spec names none.
pub fn owned_configuration_set(user_pool_id: &str) -> String {
    format!("cognito-sms-{user_pool_id}")
}

/// `spec.spendWarningPercent` when unset.
pub const DEFAULT_SPEND_WARNING_PERCENT: u32 = 80;

/// What one `CognitoSmsConfig` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The resource, as recorded on what it manages in AWS.
    pub owner: Owner,
    pub user_pool_id: String,
    /// The pool's own region, from its ID.
    pub pool_region: String,
    pub path: Path,
    pub role: Role,
    /// The external ID the spec sets, if any.
    pub external_id: Option<String>,
    pub sandbox_numbers: Vec<SandboxPhoneNumber>,
    pub destination_countries: Vec<String>,
    pub minimum_monthly_spend_limit_usd: Option<String>,
    /// Protection against SMS pumping, when the spec asks for it.
    pub protect: Option<ProtectWish>,
    /// The log group the pool's message delivery errors should go to.
    pub delivery_log_group: Option<String>,
    /// Percent of the spend limit past which `SpendHeadroom` is False.
    pub spend_warning_percent: u32,
    /// The value of the annotation that asks for new verification codes, when set.
    pub resend_codes_request: Option<String>,
    /// The settings the spec gives secondary Regions of the pool.
    pub replicas: Vec<ReplicaSettings>,
}

/// How a secondary Region's SMS should travel, or why the operator cannot tell.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaPath {
    /// Through SNS in `region`.
    Sns { region: String },
    /// Directly through End User Messaging in the secondary's own Region.
    Direct(DirectPath),
}

/// Why a secondary Region cannot be configured as the spec stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaPathError {
    #[error(
        "the primary sends from {what}, which belongs to {pool_region}: name the origination identity (and \
         configuration set) of {region} in spec.replicas[] with region {region} and endUserMessaging"
    )]
    IdentityNeededInRegion {
        region: String,
        pool_region: String,
        what: String,
    },
    #[error("spec.replicas[] with region {region}: {source}")]
    Region { region: String, source: RegionError },
}

/// How the pool's SMS travel.
#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// Through SNS in `region`, from the guide's table or the spec.
    Sns { region: String },
    /// Directly through End User Messaging SMS in the pool's own region.
    Direct(DirectPath),
}

/// The direct path's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectPath {
    /// The origination identity the spec names (an ID, ARN or phone number), if any.
    pub origination_identity: Option<String>,
    pub configuration_set: Option<String>,
    pub india_dlt: Option<IndiaDlt>,
}

/// The role Cognito assumes.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A role the operator creates and keeps in shape.
    Managed(ManagedRole),
    /// A role the user already has; the operator only checks it.
    Existing(ExistingRole),
}

/// Why a spec cannot be planned for. The CRD's schema refuses all of these at admission; a
/// resource from an older CRD, or a one-shot file, can still carry them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error(transparent)]
    Region(#[from] RegionError),
    #[error("set either role.managed or role.existing, not both")]
    BothRoles,
}

impl Desired {
    /// The spec of `res`, parsed; why it cannot be planned for. Nothing is read for an invalid
    /// spec.
    pub fn parse(res: &CognitoSmsConfig) -> Result<Self, Invalid> {
        let spec = &res.spec;
        let eum = spec.end_user_messaging.as_ref();
        let sms_region = regions::sms_region(&spec.user_pool_id, spec.sns_region.as_deref(), eum.is_some())?;
        let role = match (&spec.role.managed, &spec.role.existing) {
            (Some(_), Some(_)) => return Err(Invalid::BothRoles),
            (_, Some(existing)) => Role::Existing(existing.clone()),
            (managed, None) => Role::Managed(managed.clone().unwrap_or_default()),
        };
        let path = match eum {
            None => Path::Sns { region: sms_region },
            Some(eum) => Path::Direct(DirectPath {
                origination_identity: eum.origination_identity.clone(),
                configuration_set: eum.configuration_set_name.clone(),
                india_dlt: eum.india_dlt.clone(),
            }),
        };
        Ok(Desired {
            owner: Owner::of(res),
            user_pool_id: spec.user_pool_id.clone(),
            pool_region: regions::pool_region(&spec.user_pool_id).unwrap_or_default().to_string(),
            path,
            role,
            external_id: spec.external_id.clone(),
            sandbox_numbers: spec.sandbox_phone_numbers.clone(),
            destination_countries: spec.destination_countries.clone(),
            minimum_monthly_spend_limit_usd: spec.minimum_monthly_spend_limit_usd.clone(),
            spend_warning_percent: spec.spend_warning_percent.unwrap_or(DEFAULT_SPEND_WARNING_PERCENT),
            delivery_log_group: spec.delivery_logs.as_ref().map(|d| d.log_group_arn.clone()),
            protect: spec
                .protect
                .as_ref()
                .filter(|p| p.block_other_countries)
                .map(|p| ProtectWish {
                    filter: p.filter_suspected_pumping,
                }),
            resend_codes_request: res.annotations().get(RESEND_CODES_ANNOTATION).cloned(),
            replicas: spec.replicas.clone(),
        })
    }

    /// How the pool's secondary in `region` should send: the spec's settings for it, else the
    /// primary's path, carried over to `region` (SNS: the region's own SNS region from the
    /// guide's table; direct: the same settings, which cannot carry an origination identity or
    /// configuration set of the primary's Region).
    pub fn replica_path(&self, region: &str) -> Result<ReplicaPath, ReplicaPathError> {
        let settings = self.replicas.iter().find(|r| r.region == region);
        let invalid = |source| ReplicaPathError::Region {
            region: region.to_string(),
            source,
        };
        // The replica has the primary's pool ID; its Region decides the table's row.
        let replica_pool_id = format!(
            "{region}_{}",
            self.user_pool_id.split_once('_').map_or("", |(_, id)| id)
        );
        if let Some(eum) = settings.and_then(|s| s.end_user_messaging.as_ref()) {
            regions::sms_region(&replica_pool_id, None, true).map_err(invalid)?;
            return Ok(ReplicaPath::Direct(DirectPath {
                origination_identity: eum.origination_identity.clone(),
                configuration_set: eum.configuration_set_name.clone(),
                india_dlt: eum.india_dlt.clone(),
            }));
        }
        match &self.path {
            Path::Sns { .. } => {
                let requested = settings.and_then(|s| s.sns_region.as_deref());
                let region = regions::resolve_sns_region(&replica_pool_id, requested).map_err(invalid)?;
                Ok(ReplicaPath::Sns { region })
            }
            Path::Direct(direct) => {
                regions::sms_region(&replica_pool_id, None, true).map_err(invalid)?;
                let named = [
                    direct
                        .origination_identity
                        .as_deref()
                        .map(|i| format!("origination identity {i}")),
                    direct
                        .configuration_set
                        .as_deref()
                        .map(|c| format!("configuration set {c}")),
                ];
                let named: Vec<String> = named.into_iter().flatten().collect();
                if !named.is_empty() {
                    return Err(ReplicaPathError::IdentityNeededInRegion {
                        region: region.to_string(),
                        pool_region: self.pool_region.clone(),
                        what: named.join(" and "),
                    });
                }
                Ok(ReplicaPath::Direct(direct.clone()))
            }
        }
    }

    /// How the pool's secondary in `region` sends, once it can be configured: the region its SMS
    /// go through (its SNS region, or its own on the direct path) and the path. `None` when the
    /// spec cannot say (see [`Desired::replica_path`]).
    pub fn secondary_sends_through(&self, region: &str) -> Option<(String, DeliveryPath)> {
        match self.replica_path(region).ok()? {
            ReplicaPath::Sns { region } => Some((region, DeliveryPath::Sns)),
            ReplicaPath::Direct(_) => Some((region.to_string(), DeliveryPath::EndUserMessaging)),
        }
    }

    /// The region whose SMS account state a Region of the pool depends on: [`Desired::sms_region`]
    /// for the primary's; for another, the SNS region its SMS go through, or the Region itself on
    /// the direct path (whether or not the spec names the identity it needs there).
    pub fn sms_region_of(&self, region: &str) -> Result<String, RegionError> {
        if region == self.pool_region {
            return Ok(self.sms_region().to_string());
        }
        match self.replica_path(region) {
            Ok(ReplicaPath::Sns { region }) => Ok(region),
            Ok(ReplicaPath::Direct(_)) | Err(ReplicaPathError::IdentityNeededInRegion { .. }) => Ok(region.to_string()),
            Err(ReplicaPathError::Region { source, .. }) => Err(source),
        }
    }

    /// The region whose sandbox verifies sandbox number `n`: that of the Region it names, the
    /// primary's by default.
    pub fn number_region(&self, n: &SandboxPhoneNumber) -> Result<String, RegionError> {
        self.sms_region_of(n.region.as_deref().unwrap_or(&self.pool_region))
    }

    /// The spec's sandbox numbers, each with the region whose sandbox verifies it, in the spec's
    /// order; a number listed twice for Regions whose SMS go through one region is kept once.
    /// A number naming a Region the table does not know is given with why.
    pub fn placed_numbers(&self) -> Vec<(Result<String, RegionError>, &SandboxPhoneNumber)> {
        let mut placed: Vec<(Result<String, RegionError>, &SandboxPhoneNumber)> = vec![];
        for n in &self.sandbox_numbers {
            let region = self.number_region(n);
            let twice = placed
                .iter()
                .any(|(r, m)| m.phone_number == n.phone_number && r.is_ok() && *r == region);
            if !twice {
                placed.push((region, n));
            }
        }
        placed
    }

    pub fn delivery_path(&self) -> DeliveryPath {
        match self.path {
            Path::Sns { .. } => DeliveryPath::Sns,
            Path::Direct(_) => DeliveryPath::EndUserMessaging,
        }
    }

    /// The region whose SMS account state (sandbox, destination numbers) the pool depends on:
    /// the SNS region, or the pool's own region on the direct path.
    pub fn sms_region(&self) -> &str {
        match &self.path {
            Path::Sns { region } => region,
            Path::Direct(_) => &self.pool_region,
        }
    }

    /// The log group the pool's message delivery errors in `region` should go to: the spec's for
    /// the primary; for a secondary, `replicas[].deliveryLogs`, else the log group of the same
    /// name in the secondary's Region. `None` without `deliveryLogs`.
    pub fn delivery_log_group_in(&self, region: &str) -> Option<String> {
        let primary = self.delivery_log_group.as_deref()?;
        if region == self.pool_region {
            return Some(primary.to_string());
        }
        let named = self
            .replicas
            .iter()
            .find(|r| r.region == region)
            .and_then(|r| r.delivery_logs.as_ref());
        if let Some(named) = named {
            return Some(named.log_group_arn.clone());
        }
        // arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME
        let mut parts: Vec<&str> = primary.splitn(5, ':').collect();
        if parts.len() == 5 {
            parts[3] = region;
        }
        Some(parts.join(":"))
    }

    /// The configuration set the operator creates and names in the pool's `EumsSms`: on the
    /// direct path with protection, when the spec names none.
    pub fn owned_configuration_set(&self) -> Option<String> {
        let direct = self.direct()?;
        (self.protect.is_some() && direct.configuration_set.is_none())
            .then(|| owned_configuration_set(&self.user_pool_id))
    }

    /// The configuration set the pool's protect configuration goes on: the spec's, or the one the
    /// operator creates. `None` on the SNS path or without protection.
    pub fn protected_configuration_set(&self) -> Option<String> {
        self.protect?;
        let direct = self.direct()?;
        direct
            .configuration_set
            .clone()
            .or_else(|| self.owned_configuration_set())
    }

    /// The direct path's settings, on the direct path.
    pub fn direct(&self) -> Option<&DirectPath> {
        match &self.path {
            Path::Direct(direct) => Some(direct),
            Path::Sns { .. } => None,
        }
    }

    /// The managed role's settings, when the role is managed.
    pub fn managed_role(&self) -> Option<&ManagedRole> {
        match &self.role {
            Role::Managed(managed) => Some(managed),
            Role::Existing(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::resource;

    #[test]
    fn the_path_and_the_role_are_read_once() {
        let sns = Desired::parse(&resource("a", json!({"userPoolId": "eu-west-1_Abc"}))).unwrap();
        assert_eq!(
            sns.path,
            Path::Sns {
                region: "eu-west-1".into()
            }
        );
        assert_eq!(sns.sms_region(), "eu-west-1");
        assert_eq!(sns.role, Role::Managed(ManagedRole::default()));
        let direct = Desired::parse(&resource(
            "a",
            json!({"userPoolId": "eu-west-1_Abc", "endUserMessaging": {"originationIdentity": "phone-1"}}),
        ))
        .unwrap();
        assert_eq!(direct.delivery_path(), DeliveryPath::EndUserMessaging);
        assert_eq!(direct.sms_region(), "eu-west-1");
        assert_eq!(
            direct.direct().unwrap().origination_identity.as_deref(),
            Some("phone-1")
        );
        assert_eq!(direct.owner.to_string(), "apps/a");
    }

    #[test]
    fn a_spec_that_cannot_be_planned_for_says_why() {
        let both = resource(
            "a",
            json!({"userPoolId": "eu-west-1_Abc", "role": {"managed": {}, "existing": {"roleArn": "arn:aws:iam::123456789012:role/x"}}}),
        );
        assert_eq!(Desired::parse(&both), Err(Invalid::BothRoles));
        let malformed = resource("a", json!({"userPoolId": "nowhere"}));
        assert!(matches!(
            Desired::parse(&malformed),
            Err(Invalid::Region(RegionError::MalformedUserPoolId(_)))
        ));
    }

    #[test]
    fn a_secondary_takes_its_own_region_s_sns_region_and_needs_its_own_identity() {
        let parse = |spec: serde_json::Value| Desired::parse(&crate::testing::resource("app", spec)).unwrap();
        let sns = parse(
            serde_json::json!({"userPoolId": "eu-central-1_Abc", "snsRegion": "eu-west-1",
            "replicas": [{"region": "us-east-2", "snsRegion": "us-east-1"}]}),
        );
        assert_eq!(
            sns.replica_path("ap-northeast-2"),
            Ok(ReplicaPath::Sns {
                region: "ap-northeast-1".into()
            }),
            "Seoul sends through Tokyo, whatever the primary does"
        );
        assert_eq!(
            sns.replica_path("us-east-2"),
            Ok(ReplicaPath::Sns {
                region: "us-east-1".into()
            })
        );
        let bad = parse(serde_json::json!({"userPoolId": "eu-central-1_Abc",
            "replicas": [{"region": "us-west-2", "snsRegion": "eu-west-1"}]}));
        assert!(matches!(
            bad.replica_path("us-west-2"),
            Err(ReplicaPathError::Region { .. })
        ));

        let direct = parse(serde_json::json!({"userPoolId": "eu-central-1_Abc",
            "endUserMessaging": {"originationIdentity": "+4930555"},
            "replicas": [{"region": "us-east-1", "endUserMessaging": {"originationIdentity": "+12065550100"}}]}));
        let needed = direct.replica_path("us-west-2").unwrap_err();
        assert!(matches!(needed, ReplicaPathError::IdentityNeededInRegion { .. }));
        assert!(
            needed.to_string().contains("spec.replicas[] with region us-west-2"),
            "{needed}"
        );
        let ReplicaPath::Direct(east) = direct.replica_path("us-east-1").unwrap() else {
            panic!("the override's direct path")
        };
        assert_eq!(east.origination_identity.as_deref(), Some("+12065550100"));
    }

    #[test]
    fn a_sandbox_number_is_verified_where_the_region_it_names_sends() {
        let parse = |spec: serde_json::Value| Desired::parse(&crate::testing::resource("app", spec)).unwrap();
        let number = |region: Option<&str>| {
            serde_json::json!({"phoneNumber": "+14255550100", "region": region,
                "verificationCodeRef": {"name": "codes", "key": "k"}})
        };
        let numbers = [
            number(None),
            number(Some("eu-central-1")),
            number(Some("ap-northeast-2")),
            number(Some("ap-east-1")),
        ];
        let placed = |spec: &Desired| -> Vec<Result<String, RegionError>> {
            spec.placed_numbers().into_iter().map(|(r, _)| r).collect()
        };
        let sns = parse(
            serde_json::json!({"userPoolId": "eu-central-1_Abc", "snsRegion": "eu-west-1",
            "sandboxPhoneNumbers": numbers}),
        );
        assert_eq!(
            placed(&sns),
            [
                Ok("eu-west-1".into()),
                Ok("ap-northeast-1".into()),
                Ok("ap-southeast-1".into())
            ],
            "the primary's Region named or not is one sandbox; Seoul's is Tokyo's, Hong Kong's Singapore's"
        );
        let direct = parse(serde_json::json!({"userPoolId": "eu-central-1_Abc",
            "endUserMessaging": {"originationIdentity": "+4930555"}, "sandboxPhoneNumbers": numbers}));
        assert_eq!(
            placed(&direct),
            [
                Ok("eu-central-1".into()),
                Ok("ap-northeast-2".into()),
                Err(RegionError::NoDirectPath("ap-east-1".into()))
            ],
            "direct: each Region's own, whether or not the spec names its identity yet"
        );
    }
}
