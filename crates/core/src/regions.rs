//! Which SNS regions a Cognito user pool may send SMS through, and where it may send directly
//! through AWS End User Messaging SMS.
//!
//! The table restates step 2 of the AWS guide "SMS message settings for Amazon Cognito user pools"
//! as published in 2026 (docs.aws.amazon.com/cognito/latest/developerguide/user-pool-sms-settings.html),
//! 32 rows. The first SNS region of a row is the default: the pool's own region, except for
//! Seoul (Tokyo), Malaysia and Hong Kong (Singapore) and Thailand (Mumbai), whose pools cannot
//! use their own region. A second region, where present, is the legacy alternate Cognito uses for
//! pools created through the API without `SnsRegion`. Pools in a region the table does not list
//! may use SNS in their own region only.

use kube::core::cel::{Message, Reason, Rule};

/// One row of the guide's table: a Cognito region and the SNS regions its pools may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionRow {
    pub cognito: &'static str,
    pub name: &'static str,
    /// Allowed SNS regions; the first is the default.
    pub sns: &'static [&'static str],
}

pub const TABLE: &[RegionRow] = &[
    RegionRow {
        cognito: "us-east-2",
        name: "US East (Ohio)",
        sns: &["us-east-2", "us-east-1"],
    },
    RegionRow {
        cognito: "us-east-1",
        name: "US East (N. Virginia)",
        sns: &["us-east-1"],
    },
    RegionRow {
        cognito: "us-west-1",
        name: "US West (N. California)",
        sns: &["us-west-1"],
    },
    RegionRow {
        cognito: "us-west-2",
        name: "US West (Oregon)",
        sns: &["us-west-2"],
    },
    RegionRow {
        cognito: "ca-central-1",
        name: "Canada (Central)",
        sns: &["ca-central-1", "us-east-1"],
    },
    RegionRow {
        cognito: "ca-west-1",
        name: "Canada West (Calgary)",
        sns: &["ca-west-1"],
    },
    RegionRow {
        cognito: "mx-central-1",
        name: "Mexico (Central)",
        sns: &["mx-central-1"],
    },
    RegionRow {
        cognito: "eu-central-1",
        name: "Europe (Frankfurt)",
        sns: &["eu-central-1", "eu-west-1"],
    },
    RegionRow {
        cognito: "eu-west-2",
        name: "Europe (London)",
        sns: &["eu-west-2", "eu-west-1"],
    },
    RegionRow {
        cognito: "eu-west-1",
        name: "Europe (Ireland)",
        sns: &["eu-west-1"],
    },
    RegionRow {
        cognito: "eu-west-3",
        name: "Europe (Paris)",
        sns: &["eu-west-3"],
    },
    RegionRow {
        cognito: "eu-north-1",
        name: "Europe (Stockholm)",
        sns: &["eu-north-1"],
    },
    RegionRow {
        cognito: "eu-south-1",
        name: "Europe (Milan)",
        sns: &["eu-south-1"],
    },
    RegionRow {
        cognito: "eu-south-2",
        name: "Europe (Spain)",
        sns: &["eu-south-2"],
    },
    RegionRow {
        cognito: "eu-central-2",
        name: "Europe (Zurich)",
        sns: &["eu-central-2"],
    },
    RegionRow {
        cognito: "ap-southeast-5",
        name: "Asia Pacific (Malaysia)",
        sns: &["ap-southeast-1"],
    },
    RegionRow {
        cognito: "ap-southeast-7",
        name: "Asia Pacific (Thailand)",
        sns: &["ap-south-1"],
    },
    RegionRow {
        cognito: "ap-south-1",
        name: "Asia Pacific (Mumbai)",
        sns: &["ap-south-1", "ap-southeast-1"],
    },
    RegionRow {
        cognito: "ap-south-2",
        name: "Asia Pacific (Hyderabad)",
        sns: &["ap-south-2"],
    },
    RegionRow {
        cognito: "ap-east-1",
        name: "Asia Pacific (Hong Kong)",
        sns: &["ap-southeast-1"],
    },
    RegionRow {
        cognito: "ap-northeast-2",
        name: "Asia Pacific (Seoul)",
        sns: &["ap-northeast-1"],
    },
    RegionRow {
        cognito: "ap-southeast-1",
        name: "Asia Pacific (Singapore)",
        sns: &["ap-southeast-1"],
    },
    RegionRow {
        cognito: "ap-southeast-2",
        name: "Asia Pacific (Sydney)",
        sns: &["ap-southeast-2"],
    },
    RegionRow {
        cognito: "ap-northeast-1",
        name: "Asia Pacific (Tokyo)",
        sns: &["ap-northeast-1"],
    },
    RegionRow {
        cognito: "ap-southeast-3",
        name: "Asia Pacific (Jakarta)",
        sns: &["ap-southeast-3"],
    },
    RegionRow {
        cognito: "ap-northeast-3",
        name: "Asia Pacific (Osaka)",
        sns: &["ap-northeast-3"],
    },
    RegionRow {
        cognito: "ap-southeast-4",
        name: "Asia Pacific (Melbourne)",
        sns: &["ap-southeast-4"],
    },
    RegionRow {
        cognito: "me-south-1",
        name: "Middle East (Bahrain)",
        sns: &["me-south-1"],
    },
    RegionRow {
        cognito: "me-central-1",
        name: "Middle East (UAE)",
        sns: &["me-central-1"],
    },
    RegionRow {
        cognito: "sa-east-1",
        name: "South America (São Paulo)",
        sns: &["sa-east-1"],
    },
    RegionRow {
        cognito: "il-central-1",
        name: "Israel (Tel Aviv)",
        sns: &["il-central-1"],
    },
    RegionRow {
        cognito: "af-south-1",
        name: "Africa (Cape Town)",
        sns: &["af-south-1"],
    },
];

/// Regions whose pools cannot send through the End User Messaging SMS direct path and must use
/// SNS (Thailand, Hong Kong, Malaysia).
pub const NO_DIRECT_PATH: &[&str] = &["ap-southeast-7", "ap-east-1", "ap-southeast-5"];

/// Whether pools in `cognito_region` may send SMS directly through End User Messaging SMS.
pub fn direct_path_available(cognito_region: &str) -> bool {
    !NO_DIRECT_PATH.contains(&cognito_region)
}

/// The shape of a user pool id: `<region>_<id>`, e.g. `eu-west-1_AbCdEf123`.
pub const USER_POOL_ID_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+_[0-9A-Za-z]+$";
/// The shape of an AWS region name.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";

/// The region a user pool lives in, taken from its id's prefix.
pub fn pool_region(user_pool_id: &str) -> Option<&str> {
    let (region, rest) = user_pool_id.split_once('_')?;
    let well_formed = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()) && is_region_name(region);
    well_formed.then_some(region)
}

fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

pub fn row(cognito_region: &str) -> Option<&'static RegionRow> {
    TABLE.iter().find(|r| r.cognito == cognito_region)
}

/// SNS regions a pool in `cognito_region` may use, default first.
pub fn allowed_sns_regions(cognito_region: &str) -> Vec<&str> {
    match row(cognito_region) {
        Some(r) => r.sns.to_vec(),
        None => vec![cognito_region],
    }
}

/// The SNS region used when the resource names none: the pool's own region (Tokyo for Seoul).
pub fn default_sns_region(cognito_region: &str) -> &str {
    allowed_sns_regions(cognito_region)[0]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("userPoolId {0:?} is not of the form <region>_<id>, e.g. eu-west-1_AbCdEf123")]
    MalformedUserPoolId(String),
    #[error(
        "snsRegion {requested} cannot be used by a user pool in {pool_region}; allowed: {}",
        allowed.join(", ")
    )]
    NotAllowed {
        requested: String,
        pool_region: String,
        allowed: Vec<String>,
    },
    #[error(
        "pools in {0} cannot send SMS directly through AWS End User Messaging SMS: remove spec.endUserMessaging to send through SNS"
    )]
    NoDirectPath(String),
    #[error(
        "snsRegion chooses the SNS region, but with endUserMessaging the pool sends directly in its own region: remove one of them"
    )]
    SnsRegionWithDirectPath,
}

/// The SNS region to use for `user_pool_id`, or why the requested one is not allowed.
pub fn resolve_sns_region(user_pool_id: &str, requested: Option<&str>) -> Result<String, RegionError> {
    let pool_region =
        pool_region(user_pool_id).ok_or_else(|| RegionError::MalformedUserPoolId(user_pool_id.to_string()))?;
    let allowed = allowed_sns_regions(pool_region);
    match requested {
        None => Ok(allowed[0].to_string()),
        Some(r) if allowed.contains(&r) => Ok(r.to_string()),
        Some(r) => Err(RegionError::NotAllowed {
            requested: r.to_string(),
            pool_region: pool_region.to_string(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// The region whose SMS account state a pool's SMS depend on: the SNS region, or, sending
/// directly through End User Messaging, the pool's own region.
pub fn sms_region(user_pool_id: &str, sns_region: Option<&str>, direct: bool) -> Result<String, RegionError> {
    if !direct {
        return resolve_sns_region(user_pool_id, sns_region);
    }
    let region = pool_region(user_pool_id).ok_or_else(|| RegionError::MalformedUserPoolId(user_pool_id.to_string()))?;
    if sns_region.is_some() {
        return Err(RegionError::SnsRegionWithDirectPath);
    }
    if !direct_path_available(region) {
        return Err(RegionError::NoDirectPath(region.to_string()));
    }
    Ok(region.to_string())
}

/// The admission rule refusing the direct path where End User Messaging SMS cannot serve the pool.
pub fn direct_path_rule() -> Rule {
    let in_region: Vec<String> = NO_DIRECT_PATH
        .iter()
        .map(|r| format!("self.userPoolId.startsWith('{r}_')"))
        .collect();
    Rule::new(format!("!has(self.endUserMessaging) || !({})", in_region.join(" || ")))
        .message(Message::Message(format!(
            "the End User Messaging SMS direct path is not available for pools in {}: remove endUserMessaging to send through SNS",
            NO_DIRECT_PATH.join(", ")
        )))
        .reason(Reason::FieldValueForbidden)
        .field_path(".endUserMessaging")
}

/// The admission rule enforcing the table: generated from it, so the schema and reconcile agree.
pub fn sns_region_rule() -> Rule {
    // Allowed: the pool's own region (except where the table says otherwise), or a listed
    // alternate. A flat disjunction keeps the rule cheap for the API server's cost estimator.
    let mut terms = vec![];
    let own_region_excluded: Vec<&str> = TABLE
        .iter()
        .filter(|r| !r.sns.contains(&r.cognito))
        .map(|r| r.cognito)
        .collect();
    let mut own = String::from("self.userPoolId.startsWith(self.snsRegion + '_')");
    for c in &own_region_excluded {
        own.push_str(&format!(" && !self.userPoolId.startsWith('{c}_')"));
    }
    terms.push(format!("({own})"));
    for r in TABLE {
        for s in r.sns.iter().filter(|s| **s != r.cognito) {
            terms.push(format!(
                "(self.userPoolId.startsWith('{}_') && self.snsRegion == '{s}')",
                r.cognito
            ));
        }
    }
    let expr = format!("!has(self.snsRegion) || {}", terms.join(" || "));
    let exceptions: Vec<String> = TABLE
        .iter()
        .filter(|r| !r.sns.contains(&r.cognito))
        .map(|r| format!("{} must use {}", r.cognito, r.sns.join(" or ")))
        .collect();
    Rule::new(expr)
        .message(Message::Expression(format!(
            "'snsRegion ' + self.snsRegion + ' cannot be used by user pool ' + self.userPoolId + \
             ': use the region of the pool or its listed alternate (pools in {})'",
            exceptions.join("; ")
        )))
        .reason(Reason::FieldValueInvalid)
        .field_path(".snsRegion")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the guide's table, as (pool region, default, all allowed), written out
    /// independently of `TABLE`.
    const EXPECTED: &[(&str, &str, &[&str])] = &[
        ("us-east-2", "us-east-2", &["us-east-2", "us-east-1"]),
        ("us-east-1", "us-east-1", &["us-east-1"]),
        ("us-west-1", "us-west-1", &["us-west-1"]),
        ("us-west-2", "us-west-2", &["us-west-2"]),
        ("ca-central-1", "ca-central-1", &["ca-central-1", "us-east-1"]),
        ("ca-west-1", "ca-west-1", &["ca-west-1"]),
        ("mx-central-1", "mx-central-1", &["mx-central-1"]),
        ("eu-central-1", "eu-central-1", &["eu-central-1", "eu-west-1"]),
        ("eu-west-2", "eu-west-2", &["eu-west-2", "eu-west-1"]),
        ("eu-west-1", "eu-west-1", &["eu-west-1"]),
        ("eu-west-3", "eu-west-3", &["eu-west-3"]),
        ("eu-north-1", "eu-north-1", &["eu-north-1"]),
        ("eu-south-1", "eu-south-1", &["eu-south-1"]),
        ("eu-south-2", "eu-south-2", &["eu-south-2"]),
        ("eu-central-2", "eu-central-2", &["eu-central-2"]),
        ("ap-southeast-5", "ap-southeast-1", &["ap-southeast-1"]),
        ("ap-southeast-7", "ap-south-1", &["ap-south-1"]),
        ("ap-south-1", "ap-south-1", &["ap-south-1", "ap-southeast-1"]),
        ("ap-south-2", "ap-south-2", &["ap-south-2"]),
        ("ap-east-1", "ap-southeast-1", &["ap-southeast-1"]),
        ("ap-northeast-2", "ap-northeast-1", &["ap-northeast-1"]),
        ("ap-southeast-1", "ap-southeast-1", &["ap-southeast-1"]),
        ("ap-southeast-2", "ap-southeast-2", &["ap-southeast-2"]),
        ("ap-northeast-1", "ap-northeast-1", &["ap-northeast-1"]),
        ("ap-southeast-3", "ap-southeast-3", &["ap-southeast-3"]),
        ("ap-northeast-3", "ap-northeast-3", &["ap-northeast-3"]),
        ("ap-southeast-4", "ap-southeast-4", &["ap-southeast-4"]),
        ("me-south-1", "me-south-1", &["me-south-1"]),
        ("me-central-1", "me-central-1", &["me-central-1"]),
        ("sa-east-1", "sa-east-1", &["sa-east-1"]),
        ("il-central-1", "il-central-1", &["il-central-1"]),
        ("af-south-1", "af-south-1", &["af-south-1"]),
    ];

    #[test]
    fn every_row_of_the_table() {
        assert_eq!(TABLE.len(), EXPECTED.len());
        for (pool, default, allowed) in EXPECTED {
            let id = format!("{pool}_AbC123");
            assert_eq!(resolve_sns_region(&id, None).unwrap(), *default, "default for {pool}");
            for a in *allowed {
                assert_eq!(resolve_sns_region(&id, Some(a)).unwrap(), *a, "{a} allowed for {pool}");
            }
            for other in EXPECTED.iter().map(|(region, _, _)| *region) {
                if !allowed.contains(&other) {
                    let err = resolve_sns_region(&id, Some(other)).unwrap_err();
                    assert!(
                        matches!(err, RegionError::NotAllowed { .. }),
                        "{other} refused for {pool}"
                    );
                }
            }
        }
    }

    #[test]
    fn seoul_pools_use_tokyo_and_only_tokyo() {
        assert_eq!(
            resolve_sns_region("ap-northeast-2_Xyz", None).unwrap(),
            "ap-northeast-1"
        );
        let err = resolve_sns_region("ap-northeast-2_Xyz", Some("ap-northeast-2")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snsRegion ap-northeast-2 cannot be used by a user pool in ap-northeast-2; allowed: ap-northeast-1"
        );
    }

    #[test]
    fn unlisted_regions_may_use_their_own_region_only() {
        assert_eq!(resolve_sns_region("xx-future-1_Abc", None).unwrap(), "xx-future-1");
        assert!(resolve_sns_region("xx-future-1_Abc", Some("us-east-1")).is_err());
    }

    #[test]
    fn malaysia_hong_kong_and_thailand_send_through_another_region() {
        for (pool, sns) in [
            ("ap-southeast-5", "ap-southeast-1"),
            ("ap-east-1", "ap-southeast-1"),
            ("ap-southeast-7", "ap-south-1"),
        ] {
            let id = format!("{pool}_Abc");
            assert_eq!(resolve_sns_region(&id, None).unwrap(), sns, "{pool}");
            assert!(
                resolve_sns_region(&id, Some(pool)).is_err(),
                "{pool} may not use its own region"
            );
            assert!(!direct_path_available(pool), "{pool} has no direct path");
            assert_eq!(
                sms_region(&id, None, true),
                Err(RegionError::NoDirectPath(pool.to_string()))
            );
        }
        assert_eq!(sms_region("eu-west-1_Abc", None, true).unwrap(), "eu-west-1");
        assert_eq!(
            sms_region("eu-west-1_Abc", Some("eu-west-1"), true),
            Err(RegionError::SnsRegionWithDirectPath)
        );
        assert!(direct_path_available("eu-west-1"));
    }

    #[test]
    fn malformed_pool_ids() {
        for bad in [
            "",
            "us-east-1",
            "us-east-1_",
            "useast1_abc",
            "us-east-1_ab-c",
            "US-EAST-1_abc",
        ] {
            assert!(pool_region(bad).is_none(), "{bad}");
            assert!(matches!(
                resolve_sns_region(bad, None),
                Err(RegionError::MalformedUserPoolId(_))
            ));
        }
        assert_eq!(pool_region("us-gov-west-1_abc"), Some("us-gov-west-1"));
    }

    #[test]
    fn user_pool_id_pattern_agrees_with_parser() {
        let re = regex_lite::Regex::new(USER_POOL_ID_PATTERN).unwrap();
        for id in ["eu-west-1_AbCdEf123", "us-gov-west-1_x", "ap-northeast-2_Q"] {
            assert!(re.is_match(id) && pool_region(id).is_some(), "{id}");
        }
        for id in ["eu-west-1", "eu-west-1_", "eu-west-1_a-b", "EU-west-1_a"] {
            assert!(!re.is_match(id) && pool_region(id).is_none(), "{id}");
        }
    }
}
