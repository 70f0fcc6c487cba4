//! What the account's state means for a resource: the sandbox, the spend limit and the
//! origination identities, each a finding for its condition. Pure.

use super::{AccountSms, Identity, IdentityKind, NEW_ACCOUNT_SPEND_LIMIT_CENTS, NumberType};
use crate::conditions::{Finding, reasons};
use crate::crd::{DeliveryPath, SpendStatus};

fn in_or_out(in_sandbox: bool) -> &'static str {
    if in_sandbox { "in" } else { "out of" }
}

/// `SandboxExited`: End User Messaging's tier is the sandbox that applies on both paths; on the
/// SNS path a different answer from SNS is pointed out.
pub fn sandbox_finding(account: &AccountSms, path: DeliveryPath, region: &str) -> Finding {
    let disagreement = match account.sns.in_sandbox {
        Some(sns) if path == DeliveryPath::Sns && sns != account.in_sandbox => format!(
            "; SNS GetSMSSandboxAccountStatus says the account is {} the sandbox, but End User Messaging's \
             tier, which applies, says {}",
            in_or_out(sns),
            in_or_out(account.in_sandbox)
        ),
        _ => String::new(),
    };
    if account.in_sandbox {
        let tier = match &account.tier {
            Some(tier) if tier == "SANDBOXED" => "End User Messaging ACCOUNT_TIER SANDBOXED".to_string(),
            Some(tier) => format!(
                "End User Messaging ACCOUNT_TIER is {tier:?}, which is not PRODUCTION; only PRODUCTION is taken as out \
                 of the sandbox"
            ),
            None => {
                "End User Messaging reports no ACCOUNT_TIER; only PRODUCTION is taken as out of the sandbox".to_string()
            }
        };
        Finding::failed(
            reasons::IN_SANDBOX,
            format!(
                "the account is in the SMS sandbox in {region} ({tier}): Cognito \
                 cannot send SMS to users' phone numbers, only to up to 10 verified destination numbers; request \
                 production access in the AWS End User Messaging SMS console, which opens an AWS Support case{disagreement}"
            ),
        )
    } else {
        Finding::ok(
            reasons::OUT_OF_SANDBOX,
            format!("the account is out of the SMS sandbox in {region}{disagreement}"),
        )
    }
}

/// Parse a dollar amount (`"1"`, `"12.5"`, `"12.50"`) to cents.
pub fn cents(amount: &str) -> Option<u64> {
    let (whole, frac) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    if whole.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac_cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse::<u64>().ok()?,
    };
    whole.parse::<u64>().ok()?.checked_mul(100)?.checked_add(frac_cents)
}

/// `SpendLimitSufficient`: End User Messaging's text message monthly spend limit against the
/// minimum the resource asks for (by default, above a new account's USD 1.00).
pub fn spend_finding(account: &AccountSms, minimum: Option<&str>, path: DeliveryPath, region: &str) -> Finding {
    let Some(limit_str) = account.monthly_spend_limit.as_deref() else {
        return Finding::unknown(
            reasons::SPEND_LIMIT_UNKNOWN,
            format!("End User Messaging DescribeSpendLimits reported no TEXT_MESSAGE_MONTHLY_SPEND_LIMIT in {region}"),
        );
    };
    let Some(have) = cents(limit_str) else {
        return Finding::unknown(
            reasons::SPEND_LIMIT_UNKNOWN,
            format!("End User Messaging reported a text message spend limit of {limit_str:?} in {region}"),
        );
    };
    let note = match account.sns.monthly_spend_limit.as_deref() {
        Some(sns) if path == DeliveryPath::Sns && cents(sns) != Some(have) => {
            format!("; SNS GetSMSAttributes reports MonthlySpendLimit {sns}, End User Messaging's limit applies")
        }
        _ => String::new(),
    };
    let how_to_raise = "raise it with a quota increase for the AWS End User Messaging SMS text message monthly \
                        spend limit (Service Quotas or an AWS Support case)";
    match minimum.and_then(cents) {
        Some(want) if have >= want => Finding::ok(
            reasons::SPEND_LIMIT_RAISED,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, at least the USD {} asked for{note}",
                minimum.unwrap_or_default()
            ),
        ),
        Some(_) => Finding::failed(
            reasons::SPEND_LIMIT_TOO_LOW,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, below the USD {} asked for: {how_to_raise}{note}",
                minimum.unwrap_or_default()
            ),
        ),
        None if have > NEW_ACCOUNT_SPEND_LIMIT_CENTS => Finding::ok(
            reasons::SPEND_LIMIT_RAISED,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, above the USD 1.00 new-account quota{note}"
            ),
        ),
        None => Finding::failed(
            reasons::SPEND_LIMIT_TOO_LOW,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, the new-account quota, enough for a handful of \
                 messages: {how_to_raise}{note}"
            ),
        ),
    }
}

/// `OriginationIdentityAvailable`: with `named`, whether that identity can send the pool's SMS to
/// the destination countries; without, whether the account has what US carriers require when
/// `US` is among them.
pub fn origination_finding(
    account: &AccountSms,
    destination_countries: &[String],
    region: &str,
    named: Option<&Identity>,
) -> Finding {
    match named {
        Some(identity) => named_identity_finding(identity, destination_countries),
        None => account_identities_finding(account, destination_countries, region),
    }
}

fn named_identity_finding(identity: &Identity, countries: &[String]) -> Finding {
    let what = identity.describe();
    let unusable =
        |why: String| Finding::failed(reasons::IDENTITY_NOT_USABLE, format!("{what} ({}) {why}", identity.arn));
    if !identity.is_active() {
        return unusable(format!(
            "is {}, not ACTIVE: wait for it to become active or name another in spec.endUserMessaging.originationIdentity",
            identity.status.as_deref().unwrap_or("?")
        ));
    }
    if !identity.can_text() {
        return unusable(
            "cannot send SMS: name an SMS-capable identity in spec.endUserMessaging.originationIdentity".into(),
        );
    }
    if countries.iter().any(|c| c == "US")
        && let IdentityKind::PhoneNumber(t) = identity.kind
        && identity.country.as_deref() == Some("US")
        && !t.is_us_identity()
    {
        return unusable("is not a short code, 10DLC or toll-free number, which US carriers require".into());
    }
    let (served, missed): (Vec<&String>, Vec<&String>) = countries.iter().partition(|c| identity.can_text_to(c));
    if !countries.is_empty() && served.is_empty() {
        return unusable(format!(
            "cannot text users in {} (spec.destinationCountries): name an identity for those countries, or a pool",
            countries.join(", ")
        ));
    }
    let note = if missed.is_empty() {
        String::new()
    } else {
        let missed: Vec<&str> = missed.iter().map(|c| c.as_str()).collect();
        format!(
            "; it cannot text users in {}: a pool with identities there can",
            missed.join(", ")
        )
    };
    Finding::ok(
        reasons::IDENTITY_AVAILABLE,
        format!("the pool sends from {what} ({}){note}", identity.arn),
    )
}

fn account_identities_finding(account: &AccountSms, countries: &[String], region: &str) -> Finding {
    if !countries.iter().any(|c| c == "US") {
        return Finding::ok(
            reasons::NOT_REQUIRED,
            "no US destination listed in spec.destinationCountries",
        );
    }
    let us: Vec<NumberType> = account
        .identities
        .iter()
        .filter(|i| i.is_active() && i.can_text_to("US"))
        .filter_map(|i| match i.kind {
            IdentityKind::PhoneNumber(t) if t.is_us_identity() => Some(t),
            _ => None,
        })
        .collect();
    match us.iter().min() {
        Some(best) => Finding::ok(
            reasons::IDENTITY_AVAILABLE,
            format!(
                "{} US origination identit{} in {region}; the account sends from a {} (priority: short code > 10DLC > \
                 toll-free)",
                us.len(),
                if us.len() == 1 { "y" } else { "ies" },
                best.describe()
            ),
        ),
        None => Finding::failed(
            reasons::NO_US_IDENTITY,
            format!(
                "no active SMS-capable short code, 10DLC or toll-free number in {region}: US carriers refuse SMS \
                 without one; request one in the AWS End User Messaging SMS console"
            ),
        ),
    }
}

/// The month's spend in one region against its limit: `status.spend`'s row and `SpendHeadroom`
/// for that region. On the SNS path SNS's metric counts, on the direct path End User
/// Messaging's; the limit is End User Messaging's, which applies on both.
pub fn headroom(
    account: &AccountSms,
    path: DeliveryPath,
    region: &str,
    warn_percent: u32,
) -> (Option<SpendStatus>, Finding) {
    let spend = match &account.spend {
        Ok(spend) => spend,
        Err(why) => {
            let msg = format!(
                "cannot read the month's SMS spend in {region} from CloudWatch ({why}); allow the operator \
                 cloudwatch:GetMetricData (docs/iam-policy.json)"
            );
            return (None, Finding::unknown(reasons::SPEND_UNKNOWN, msg));
        }
    };
    let Some(limit) = account.monthly_spend_limit.as_deref().and_then(cents) else {
        let msg = format!("End User Messaging reported no text message spend limit in {region}");
        return (None, Finding::unknown(reasons::SPEND_UNKNOWN, msg));
    };
    let (spent, metric) = match path {
        DeliveryPath::Sns => (spend.sns_cents, "SNS SMSMonthToDateSpentUSD"),
        DeliveryPath::EndUserMessaging => (
            spend.end_user_messaging_cents,
            "End User Messaging TextMessageMonthlySpend",
        ),
    };
    let spent = spent.unwrap_or(0);
    let percent = match limit {
        0 => 100,
        limit => u32::try_from(spent.saturating_mul(100) / limit).unwrap_or(u32::MAX),
    };
    let row = SpendStatus {
        region: region.to_string(),
        spent_usd: dollars(spent),
        limit_usd: dollars(limit),
        percent,
    };
    let summary = format!(
        "USD {} of the USD {} monthly SMS spend limit spent this month in {region} ({percent}%, {metric})",
        row.spent_usd, row.limit_usd
    );
    let finding = if percent >= warn_percent {
        Finding::failed(
            reasons::SPEND_NEAR_LIMIT,
            format!(
                "{summary}, past the {warn_percent}% warning: once the limit is reached AWS stops sending SMS, MFA \
                 codes included, until next month; raise the text message monthly spend limit (Service Quotas or an \
                 AWS Support case) or find what is sending"
            ),
        )
    } else {
        Finding::ok(reasons::SPEND_BELOW_WARNING, summary)
    };
    (Some(row), finding)
}

/// Cents as US dollars with two decimals.
pub fn dollars(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{account, number};
    use super::*;
    use crate::conditions::ConditionStatus as Status;

    #[test]
    fn spend_headroom_counts_the_path_s_own_metric_against_the_limit() {
        let mut a = account(vec![]);
        a.monthly_spend_limit = Some("20".into());
        a.spend = Ok(super::super::MonthSpend {
            sns_cents: Some(1_650),
            end_user_messaging_cents: None,
        });
        let (row, f) = headroom(&a, DeliveryPath::Sns, "us-east-1", 80);
        let row = row.unwrap();
        assert_eq!(
            (row.spent_usd.as_str(), row.limit_usd.as_str(), row.percent),
            ("16.50", "20.00", 82)
        );
        assert_eq!((f.status, f.reason), (Status::False, reasons::SPEND_NEAR_LIMIT));
        assert!(f.message.contains("past the 80% warning"), "{}", f.message);
        let (_, f) = headroom(&a, DeliveryPath::Sns, "us-east-1", 90);
        assert_eq!(f.status, Status::True);
        let (row, f) = headroom(&a, DeliveryPath::EndUserMessaging, "us-east-1", 80);
        assert_eq!(
            (row.unwrap().spent_usd.as_str(), f.status),
            ("0.00", Status::True),
            "nothing sent directly"
        );

        a.monthly_spend_limit = Some("0".into());
        assert_eq!(
            headroom(&a, DeliveryPath::Sns, "us-east-1", 80).1.status,
            Status::False,
            "no room at all"
        );
        a.spend = Err("AccessDenied: not allowed".into());
        let (row, f) = headroom(&a, DeliveryPath::Sns, "us-east-1", 80);
        assert_eq!(
            (row, f.status, f.reason),
            (None, Status::Unknown, reasons::SPEND_UNKNOWN)
        );
        assert!(f.message.contains("AccessDenied: not allowed"), "{}", f.message);
    }

    #[test]
    fn sandbox_condition_and_what_sns_says() {
        let mut a = account(vec![]);
        let f = sandbox_finding(&a, DeliveryPath::Sns, "us-east-1");
        assert_eq!((f.status, f.reason), (Status::False, reasons::IN_SANDBOX));
        assert!(f.message.contains("Cognito cannot send SMS to users' phone numbers"));
        assert!(f.message.contains("End User Messaging SMS console"));
        a.sns.in_sandbox = Some(false);
        let f = sandbox_finding(&a, DeliveryPath::Sns, "us-east-1");
        assert!(
            f.message
                .contains("SNS GetSMSSandboxAccountStatus says the account is out of the sandbox"),
            "{}",
            f.message
        );
        let direct = sandbox_finding(&a, DeliveryPath::EndUserMessaging, "us-east-1");
        assert!(
            !direct.message.contains("SNS"),
            "SNS's view is beside the point on the direct path"
        );
        a.in_sandbox = false;
        assert_eq!(sandbox_finding(&a, DeliveryPath::Sns, "us-east-1").status, Status::True);
    }

    #[test]
    fn only_production_is_out_of_the_sandbox_and_any_other_tier_is_quoted() {
        for tier in [Some("SANDBOXED"), Some("SANDBOX"), Some("production"), Some(""), None] {
            assert!(AccountSms::tier_in_sandbox(tier), "{tier:?}");
        }
        assert!(!AccountSms::tier_in_sandbox(Some("PRODUCTION")));
        let mut a = account(vec![]);
        a.tier = Some("SANDBOX".into());
        let f = sandbox_finding(&a, DeliveryPath::EndUserMessaging, "us-east-1");
        assert_eq!(f.status, Status::False);
        assert!(
            f.message
                .contains(r#"ACCOUNT_TIER is "SANDBOX", which is not PRODUCTION"#),
            "{}",
            f.message
        );
        a.tier = None;
        let f = sandbox_finding(&a, DeliveryPath::EndUserMessaging, "us-east-1");
        assert!(f.message.contains("reports no ACCOUNT_TIER"), "{}", f.message);
    }

    #[test]
    fn dollar_amounts() {
        assert_eq!(cents("1"), Some(100));
        assert_eq!(cents("1.00"), Some(100));
        assert_eq!(cents("12.5"), Some(1250));
        assert_eq!(cents("0.05"), Some(5));
        for bad in ["", "1.234", "-1", "1e3", ".5", "abc"] {
            assert_eq!(cents(bad), None, "{bad}");
        }
    }

    #[test]
    fn spend_limit_conditions() {
        let with_limit = |limit: Option<&str>| {
            let mut a = account(vec![]);
            a.monthly_spend_limit = limit.map(String::from);
            a
        };
        let path = DeliveryPath::EndUserMessaging;
        let at_quota = spend_finding(&with_limit(Some("1")), None, path, "us-east-1");
        assert_eq!(
            (at_quota.status, at_quota.reason),
            (Status::False, reasons::SPEND_LIMIT_TOO_LOW)
        );
        assert_eq!(
            spend_finding(&with_limit(Some("2")), None, path, "us-east-1").status,
            Status::True
        );
        assert_eq!(
            spend_finding(&with_limit(Some("50")), Some("50.00"), path, "us-east-1").status,
            Status::True
        );
        let low = spend_finding(&with_limit(Some("20")), Some("50"), path, "us-east-1");
        assert_eq!(low.status, Status::False);
        assert!(
            low.message.contains("USD 20, below the USD 50 asked for"),
            "{}",
            low.message
        );
        assert_eq!(
            spend_finding(&with_limit(None), None, path, "us-east-1").status,
            Status::Unknown
        );
        let mut disagree = with_limit(Some("20"));
        disagree.sns.monthly_spend_limit = Some("1".into());
        let f = spend_finding(&disagree, None, DeliveryPath::Sns, "us-east-1");
        assert!(
            f.message.contains("SNS GetSMSAttributes reports MonthlySpendLimit 1"),
            "{}",
            f.message
        );
    }

    #[test]
    fn us_destinations_need_a_us_identity_best_first() {
        let f = origination_finding(&account(vec![]), &["JP".into()], "ap-northeast-1", None);
        assert_eq!((f.status, f.reason), (Status::True, reasons::NOT_REQUIRED));
        let f = origination_finding(&account(vec![]), &["US".into()], "us-east-1", None);
        assert_eq!((f.status, f.reason), (Status::False, reasons::NO_US_IDENTITY));
        let all = [
            number("+18005550100", NumberType::TollFree, "US"),
            number("+12065550100", NumberType::TenDlc, "US"),
            number("+555123", NumberType::ShortCode, "US"),
        ];
        for (n, best) in [(3, "short code"), (2, "10DLC number"), (1, "toll-free number")] {
            let f = origination_finding(&account(all[..n].to_vec()), &["US".into()], "us-east-1", None);
            assert!(f.message.contains(&format!("sends from a {best}")), "{}", f.message);
        }
        let long_code = number("+12065550199", NumberType::LongCode, "US");
        let f = origination_finding(&account(vec![long_code]), &["US".into()], "us-east-1", None);
        assert_eq!(f.status, Status::False, "a long code does not count");
    }

    #[test]
    fn a_named_identity_must_be_active_sms_capable_and_for_the_users_country() {
        let good = number("+12065550100", NumberType::TenDlc, "US");
        let a = account(vec![]);
        let ok = origination_finding(&a, &["US".into()], "us-east-1", Some(&good));
        assert_eq!((ok.status, ok.reason), (Status::True, reasons::IDENTITY_AVAILABLE));
        let mut inactive = good.clone();
        inactive.status = Some("PENDING".into());
        let mut voice_only = good.clone();
        voice_only.capabilities = vec!["VOICE".into()];
        let gb = number("+447700900100", NumberType::LongCode, "GB");
        let us_long_code = number("+12065550199", NumberType::LongCode, "US");
        for (bad, why) in [
            (inactive, "is PENDING"),
            (voice_only, "cannot send SMS"),
            (gb, "cannot text users in US"),
            (us_long_code, "which US carriers require"),
        ] {
            let f = origination_finding(&a, &["US".into()], "us-east-1", Some(&bad));
            assert_eq!(
                (f.status, f.reason),
                (Status::False, reasons::IDENTITY_NOT_USABLE),
                "{why}"
            );
            assert!(f.message.contains(why), "{}", f.message);
        }
        let partial = origination_finding(&a, &["US".into(), "GB".into()], "us-east-1", Some(&good));
        assert_eq!(partial.status, Status::True);
        assert!(
            partial.message.contains("cannot text users in GB"),
            "{}",
            partial.message
        );
    }
}
