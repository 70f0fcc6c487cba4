//! The account's SMS state in one region, as SNS reports it: sandbox, spend limit, origination
//! identities and sandbox destination numbers, and what each means for a resource. Pure.

pub mod numbers;

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::conditions::{Finding, reasons};
use crate::crd::OriginationIdentity;

/// SNS's monthly SMS spend quota for a new account, in cents.
pub const NEW_ACCOUNT_SPEND_LIMIT_CENTS: u64 = 100;

/// Origination identity types, in the order SNS prefers them when several exist in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NumberType {
    ShortCode,
    TenDlc,
    TollFree,
    LongCode,
    Simulator,
}

impl NumberType {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::ShortCode => "ShortCode",
            NumberType::TenDlc => "TenDlc",
            NumberType::TollFree => "TollFree",
            NumberType::LongCode => "LongCode",
            NumberType::Simulator => "Simulator",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NumberType::ShortCode => "short code",
            NumberType::TenDlc => "10DLC number",
            NumberType::TollFree => "toll-free number",
            NumberType::LongCode => "long code",
            NumberType::Simulator => "simulator number",
        }
    }

    /// Types that count as a US origination identity for SMS.
    fn is_us_identity(self) -> bool {
        matches!(self, NumberType::ShortCode | NumberType::TenDlc | NumberType::TollFree)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginationNumber {
    pub number: String,
    pub country: Option<String>,
    pub route: Option<String>,
    pub capabilities: Vec<String>,
    pub status: Option<String>,
    pub number_type: Option<NumberType>,
}

/// Whether number types could be read (they come from AWS End User Messaging SMS, which the
/// operator may not be allowed to call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypesKnown {
    Yes,
    No(String),
}

/// Sandbox list state of a destination number, as SNS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Pending,
    Verified,
}

/// Everything SNS says about SMS for one account in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSms {
    /// When SNS was asked.
    pub checked_at: Option<k8s_openapi::jiff::Timestamp>,
    pub in_sandbox: bool,
    pub monthly_spend_limit: Option<String>,
    pub origination: Vec<OriginationNumber>,
    pub types: TypesKnown,
    pub sandbox_numbers: BTreeMap<String, Listed>,
}

/// A verification code read from a Secret. It never prints, so it cannot reach a log, an event
/// or a status by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// `None` for an empty value.
    pub fn new(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| Code(trimmed.to_string()))
    }

    /// The code itself, for the one SNS call that needs it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(redacted)")
    }
}

/// A phone number shown as `+*******0100`.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().collect();
    let keep = 4.min(digits.len());
    let (hidden, shown) = digits.split_at(digits.len() - keep);
    let masked: String = hidden
        .iter()
        .map(|c| if c.is_ascii_digit() { '*' } else { *c })
        .collect();
    format!("{masked}{}", shown.iter().collect::<String>())
}

/// A stable identifier for a number that does not reveal it.
pub fn number_id(number: &str) -> String {
    let digest = Sha256::digest(format!("cognitosms.io/phone:{number}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub fn sandbox_finding(in_sandbox: bool, region: &str) -> Finding {
    if in_sandbox {
        Finding::failed(
            reasons::IN_SANDBOX,
            format!(
                "the account is in the SMS sandbox in {region}: Cognito cannot send SMS to users' phone numbers, only to \
                 up to 10 verified numbers; request production access in the SNS console (Text messaging (SMS) → \
                 Sandbox → Exit SMS sandbox), which opens an AWS Support case"
            ),
        )
    } else {
        Finding::ok(
            reasons::OUT_OF_SANDBOX,
            format!("the account is out of the SMS sandbox in {region}"),
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

pub fn spend_finding(limit: Option<&str>, minimum: Option<&str>, region: &str) -> Finding {
    let Some(limit_str) = limit else {
        return Finding::unknown(
            reasons::SPEND_LIMIT_UNKNOWN,
            format!("SNS reported no MonthlySpendLimit in {region}"),
        );
    };
    let Some(have) = cents(limit_str) else {
        return Finding::unknown(
            reasons::SPEND_LIMIT_UNKNOWN,
            format!("SNS reported MonthlySpendLimit {limit_str:?} in {region}"),
        );
    };
    let how_to_raise = "raise it with an AWS Support case for an SNS text messaging monthly spend limit increase";
    match minimum.and_then(cents) {
        Some(want) if have >= want => Finding::ok(
            reasons::SPEND_LIMIT_RAISED,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, at least the USD {} asked for",
                minimum.unwrap_or_default()
            ),
        ),
        Some(_) => Finding::failed(
            reasons::SPEND_LIMIT_TOO_LOW,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, below the USD {} asked for: {how_to_raise}",
                minimum.unwrap_or_default()
            ),
        ),
        None if have > NEW_ACCOUNT_SPEND_LIMIT_CENTS => Finding::ok(
            reasons::SPEND_LIMIT_RAISED,
            format!("monthly SMS spend limit in {region} is USD {limit_str}, above the USD 1.00 new-account quota"),
        ),
        None => Finding::failed(
            reasons::SPEND_LIMIT_TOO_LOW,
            format!(
                "monthly SMS spend limit in {region} is USD {limit_str}, the new-account quota, enough for a handful of \
                 messages: {how_to_raise}"
            ),
        ),
    }
}

/// The origination numbers as status shows them, best first.
pub fn identities(account: &AccountSms) -> Vec<OriginationIdentity> {
    let mut numbers = account.origination.clone();
    numbers.sort_by_key(|n| (n.number_type.unwrap_or(NumberType::Simulator), n.number.clone()));
    numbers
        .iter()
        .map(|n| OriginationIdentity {
            type_: n.number_type.map(NumberType::as_str).unwrap_or("Unknown").to_string(),
            phone_number: mask(&n.number),
            country: n.country.clone(),
            route: n.route.clone(),
            capabilities: n.capabilities.clone(),
            status: n.status.clone(),
        })
        .collect()
}

fn usable_for_us_sms(n: &OriginationNumber) -> bool {
    n.country.as_deref() == Some("US")
        && n.capabilities.iter().any(|c| c == "SMS")
        && n.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"))
}

pub fn origination_finding(account: &AccountSms, destination_countries: &[String], region: &str) -> Finding {
    if !destination_countries.iter().any(|c| c == "US") {
        return Finding::ok(
            reasons::NOT_REQUIRED,
            "no US destination listed in spec.destinationCountries",
        );
    }
    let us: Vec<&OriginationNumber> = account.origination.iter().filter(|n| usable_for_us_sms(n)).collect();
    if us.is_empty() {
        return Finding::failed(
            reasons::NO_US_IDENTITY,
            format!(
                "no active US origination number with SMS capability in {region}: US carriers refuse SMS without one; \
                 request a short code, 10DLC or toll-free number (in us-east-2, eu-north-1, me-south-1, eu-west-3, \
                 sa-east-1 and us-west-1 through an AWS Support case)"
            ),
        );
    }
    match &account.types {
        TypesKnown::Yes => {
            let typed: Vec<NumberType> = us
                .iter()
                .filter_map(|n| n.number_type)
                .filter(|t| t.is_us_identity())
                .collect();
            match typed.iter().min() {
                Some(best) => Finding::ok(
                    reasons::IDENTITY_AVAILABLE,
                    format!(
                        "{} US origination identit{} in {region}; SNS will send from a {} (priority: short code > 10DLC > toll-free)",
                        typed.len(),
                        if typed.len() == 1 { "y" } else { "ies" },
                        best.describe()
                    ),
                ),
                None => Finding::failed(
                    reasons::NO_US_IDENTITY,
                    format!(
                        "the US numbers in {region} are not short codes, 10DLC or toll-free numbers, which US carriers require"
                    ),
                ),
            }
        }
        TypesKnown::No(why) => Finding::ok(
            reasons::IDENTITY_AVAILABLE,
            format!(
                "{} US origination number(s) in {region}; their type, and so which one SNS will use, is unknown: {why}",
                us.len()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::ConditionStatus as Status;

    fn account(origination: Vec<OriginationNumber>, types: TypesKnown) -> AccountSms {
        AccountSms {
            checked_at: None,
            in_sandbox: true,
            monthly_spend_limit: Some("1".into()),
            origination,
            types,
            sandbox_numbers: BTreeMap::new(),
        }
    }

    fn us(n: &str, t: Option<NumberType>) -> OriginationNumber {
        OriginationNumber {
            number: n.into(),
            country: Some("US".into()),
            route: Some("Transactional".into()),
            capabilities: vec!["SMS".into()],
            status: Some("ACTIVE".into()),
            number_type: t,
        }
    }

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(mask("+14255550100"), "+*******0100");
        assert_eq!(mask("123"), "123");
        assert_ne!(number_id("+14255550100"), number_id("+14255550101"));
        assert_eq!(number_id("+14255550100").len(), 16);
    }

    #[test]
    fn codes_never_print() {
        let c = Code::new(" 123456\n").unwrap();
        assert_eq!(c.reveal(), "123456");
        assert_eq!(format!("{c:?}"), "Code(redacted)");
        assert!(Code::new("  ").is_none());
    }

    #[test]
    fn sandbox_condition() {
        let f = sandbox_finding(true, "us-east-1");
        assert_eq!((f.status, f.reason), (Status::False, reasons::IN_SANDBOX));
        assert!(f.message.contains("Cognito cannot send SMS to users' phone numbers"));
        assert!(f.message.contains("Exit SMS sandbox"));
        assert_eq!(sandbox_finding(false, "us-east-1").status, Status::True);
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
        let at_quota = spend_finding(Some("1"), None, "us-east-1");
        assert_eq!(
            (at_quota.status, at_quota.reason),
            (Status::False, reasons::SPEND_LIMIT_TOO_LOW)
        );
        assert_eq!(spend_finding(Some("1.01"), None, "us-east-1").status, Status::True);
        assert_eq!(
            spend_finding(Some("50"), Some("50.00"), "us-east-1").status,
            Status::True
        );
        let low = spend_finding(Some("20"), Some("50"), "us-east-1");
        assert_eq!(low.status, Status::False);
        assert!(
            low.message.contains("USD 20, below the USD 50 asked for"),
            "{}",
            low.message
        );
        assert_eq!(spend_finding(None, None, "us-east-1").status, Status::Unknown);
    }

    #[test]
    fn origination_not_required_without_us() {
        let f = origination_finding(&account(vec![], TypesKnown::Yes), &["JP".into()], "ap-northeast-1");
        assert_eq!((f.status, f.reason), (Status::True, reasons::NOT_REQUIRED));
    }

    #[test]
    fn origination_required_for_us() {
        let f = origination_finding(&account(vec![], TypesKnown::Yes), &["US".into()], "us-east-1");
        assert_eq!((f.status, f.reason), (Status::False, reasons::NO_US_IDENTITY));
        let mut jp = us("+81300000000", Some(NumberType::LongCode));
        jp.country = Some("JP".into());
        assert_eq!(
            origination_finding(&account(vec![jp], TypesKnown::Yes), &["US".into()], "us-east-1").status,
            Status::False
        );
    }

    #[test]
    fn sns_priority_short_code_then_10dlc_then_toll_free() {
        let all = vec![
            us("+18005550100", Some(NumberType::TollFree)),
            us("+12065550100", Some(NumberType::TenDlc)),
            us("+555123", Some(NumberType::ShortCode)),
        ];
        let f = origination_finding(&account(all.clone(), TypesKnown::Yes), &["US".into()], "us-east-1");
        assert!(f.message.contains("SNS will send from a short code"), "{}", f.message);
        let f = origination_finding(
            &account(all[..2].to_vec(), TypesKnown::Yes),
            &["US".into()],
            "us-east-1",
        );
        assert!(f.message.contains("SNS will send from a 10DLC number"), "{}", f.message);
        let f = origination_finding(
            &account(all[..1].to_vec(), TypesKnown::Yes),
            &["US".into()],
            "us-east-1",
        );
        assert!(
            f.message.contains("SNS will send from a toll-free number"),
            "{}",
            f.message
        );
        let listed = identities(&account(all, TypesKnown::Yes));
        assert_eq!(
            listed.iter().map(|i| i.type_.as_str()).collect::<Vec<_>>(),
            ["ShortCode", "TenDlc", "TollFree"]
        );
        assert!(
            listed.iter().all(|i| !i.phone_number.contains("5550")),
            "numbers are masked"
        );
    }

    #[test]
    fn unknown_types_do_not_fail_the_resource() {
        let f = origination_finding(
            &account(
                vec![us("+12065550100", None)],
                TypesKnown::No("sms-voice:DescribePhoneNumbers denied".into()),
            ),
            &["US".into()],
            "us-east-1",
        );
        assert_eq!(f.status, Status::True);
        assert!(f.message.contains("unknown: sms-voice:DescribePhoneNumbers denied"));
        assert_eq!(
            identities(&account(vec![us("+12065550100", None)], TypesKnown::Yes))[0].type_,
            "Unknown"
        );
    }
}
