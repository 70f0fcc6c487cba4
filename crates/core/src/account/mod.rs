//! The account's SMS state in one region, as AWS End User Messaging SMS reports it (with what SNS
//! says beside it): sandbox tier, spend limit, origination identities, configuration sets and
//! verified destination numbers; and what each means for a resource. Pure.

pub mod findings;
pub mod identity;
pub mod numbers;
pub mod protect;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::crd::OriginationIdentity;

pub use findings::{cents, dollars, headroom, origination_finding, sandbox_finding, spend_finding};
pub use identity::{IdentityRef, resolve};

/// The monthly SMS spend quota of a new account, in cents.
pub const NEW_ACCOUNT_SPEND_LIMIT_CENTS: u64 = 100;

/// Phone number types, in the order End User Messaging prefers them when several could send to
/// the US: short code, 10DLC, toll-free.
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

/// What an origination identity is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKind {
    PhoneNumber(NumberType),
    SenderId,
    /// A pool of phone numbers and sender IDs; `members` are theirs.
    Pool {
        members: Vec<PoolMember>,
    },
}

/// A phone number or sender ID in a pool, as far as sending to a country depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    pub country: Option<String>,
    pub capabilities: Vec<String>,
}

/// A phone number, sender ID or pool of the account in the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: IdentityKind,
    pub arn: String,
    /// `PhoneNumberId`, the sender ID, or `PoolId`.
    pub id: String,
    /// The E.164 number, for phone numbers.
    pub number: Option<String>,
    /// ISO 3166-1 alpha-2 country; none for pools.
    pub country: Option<String>,
    pub message_type: Option<String>,
    pub capabilities: Vec<String>,
    /// `ACTIVE`, `PENDING`, ...; sender IDs have none.
    pub status: Option<String>,
}

impl Identity {
    pub fn is_active(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"))
    }

    /// Whether it can send text messages at all.
    pub fn can_text(&self) -> bool {
        let sms = |caps: &[String]| caps.iter().any(|c| c.eq_ignore_ascii_case("SMS"));
        match &self.kind {
            IdentityKind::SenderId => true,
            IdentityKind::PhoneNumber(_) => sms(&self.capabilities),
            IdentityKind::Pool { members } => members.iter().any(|m| sms(&m.capabilities)),
        }
    }

    /// Whether it can text users in `country`.
    pub fn can_text_to(&self, country: &str) -> bool {
        match &self.kind {
            IdentityKind::Pool { members } => members.iter().any(|m| {
                m.country.as_deref() == Some(country) && m.capabilities.iter().any(|c| c.eq_ignore_ascii_case("SMS"))
            }),
            _ => self.can_text() && self.country.as_deref() == Some(country),
        }
    }

    fn type_name(&self) -> &'static str {
        match &self.kind {
            IdentityKind::PhoneNumber(t) => t.as_str(),
            IdentityKind::SenderId => "SenderId",
            IdentityKind::Pool { .. } => "Pool",
        }
    }

    /// What a person calls it: a masked number, the sender ID, or the pool ID.
    pub fn describe(&self) -> String {
        match &self.kind {
            IdentityKind::PhoneNumber(t) => format!("{} {}", t.describe(), mask(self.number.as_deref().unwrap_or(""))),
            IdentityKind::SenderId => format!("sender ID {} ({})", self.id, self.country.as_deref().unwrap_or("?")),
            IdentityKind::Pool { .. } => format!("pool {}", self.id),
        }
    }
}

/// Verification state of a destination number in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Pending,
    Verified,
}

/// A verified destination number of the account, as End User Messaging lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `VerifiedDestinationNumberId`, which the calls on the number take.
    pub id: String,
    /// `VerifiedDestinationNumberArn`, which its tags are read by.
    pub arn: String,
    pub state: Listed,
}

/// A sandbox destination number, in the region whose End User Messaging sandbox verifies it.
/// Each region keeps its own list, so the same number may be verified in two.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumberAt {
    pub region: String,
    pub number: String,
}

impl NumberAt {
    pub fn new(region: impl Into<String>, number: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            number: number.into(),
        }
    }
}

/// What SNS says of the same account and region, to show where it disagrees with End User
/// Messaging. `None` where SNS could not be asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnsView {
    pub in_sandbox: Option<bool>,
    pub monthly_spend_limit: Option<String>,
}

/// The month's SMS spend in a region so far, in US cents, as CloudWatch reports it for each way
/// of sending: SNS's `SMSMonthToDateSpentUSD` (namespace `AWS/SNS`) and End User Messaging's
/// `TextMessageMonthlySpend` (`AWS/SMSVoice`). `None` where the metric has no datapoint this
/// month: nothing was sent that way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthSpend {
    pub sns_cents: Option<u64>,
    pub end_user_messaging_cents: Option<u64>,
}

/// A protect configuration's SMS rules: ISO country code to `ALLOW`, `BLOCK`, `MONITOR` or
/// `FILTER`. A country not listed is `ALLOW`.
pub type CountryRules = BTreeMap<String, String>;

/// The account's default protect configuration, which applies to every message that meets no
/// other (SNS's and Cognito's included), with its SMS rules or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultProtect {
    pub id: String,
    pub rules: Result<CountryRules, String>,
}

/// The account's SMS state in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSms {
    /// The account is in the SMS sandbox: its End User Messaging tier is anything but
    /// `PRODUCTION` (see `tier_in_sandbox`).
    pub in_sandbox: bool,
    /// End User Messaging's `ACCOUNT_TIER`, as reported (`None` when it reports none).
    pub tier: Option<String>,
    /// The text message monthly spend limit, US dollars.
    pub monthly_spend_limit: Option<String>,
    pub identities: Vec<Identity>,
    pub configuration_sets: BTreeSet<String>,
    /// The protect configuration associated with each configuration set that has one, by set.
    pub configuration_set_protect: BTreeMap<String, String>,
    /// The account's default protect configuration in the region, when it has one.
    pub default_protect: Option<DefaultProtect>,
    /// Verified destination numbers by E.164 number.
    pub destinations: BTreeMap<String, Destination>,
    pub sns: SnsView,
    /// The month's spend, or why CloudWatch could not be asked.
    pub spend: Result<MonthSpend, String>,
}

impl AccountSms {
    /// Whether End User Messaging's `ACCOUNT_TIER` leaves the account in the sandbox. Only
    /// `PRODUCTION` takes it out: a value this operator does not know, or none, is taken for the
    /// sandbox, so that numbers are still verified and nobody is told Cognito can text anyone.
    pub fn tier_in_sandbox(tier: Option<&str>) -> bool {
        tier != Some("PRODUCTION")
    }
}

/// A verification code read from a Secret. It never prints, so it cannot reach a log, an event
/// or a status by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// The code as typed, without the spaces and dashes people put in to read it more easily
    /// (`482 916`, `482-916`); `None` for an empty value.
    pub fn new(raw: &str) -> Option<Self> {
        let code: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        (!code.is_empty()).then_some(Code(code))
    }

    /// The code itself, for the one AWS call that needs it.
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

/// The length of the key [`NumberIds`] is made from, in bytes, as an installation generates it.
pub const NUMBER_ID_KEY_LEN: usize = 32;

/// Turns phone numbers into the identifiers status shows beside the masked number (`id`): the
/// first 8 bytes of an HMAC-SHA-256 of the number under this installation's secret key, in hex.
/// A plain hash would not hide the number: the ten billion numbers of a country can be hashed in
/// minutes and matched against it. Without the key, the identifier says nothing.
#[derive(Clone)]
pub struct NumberIds {
    mac: Hmac<Sha256>,
}

impl NumberIds {
    /// The identifiers under `key` (any length; [`NUMBER_ID_KEY_LEN`] random bytes as generated).
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(key).expect("HMAC takes a key of any length"),
        }
    }

    /// Identifiers under a fresh random key, stable only for the life of this value.
    pub fn ephemeral() -> Self {
        Self::new(&rand::random::<[u8; NUMBER_ID_KEY_LEN]>())
    }

    /// The identifier of `number`.
    pub fn id(&self, number: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(number.as_bytes());
        hex8(&mac.finalize().into_bytes())
    }

    /// Whether `id`, as status recorded it, identifies `number`: under this key, or as the plain
    /// hash earlier versions of the operator wrote (the next status write records the keyed
    /// identifier instead, so an upgrade forgets nothing).
    pub fn matches(&self, id: &str, number: &str) -> bool {
        id == self.id(number) || id == unkeyed_id(number)
    }
}

impl fmt::Debug for NumberIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NumberIds(key redacted)")
    }
}

/// The identifier earlier versions of the operator recorded: a plain SHA-256 of the number.
pub(crate) fn unkeyed_id(number: &str) -> String {
    hex8(&Sha256::digest(format!("cognitosms.io/phone:{number}").as_bytes()))
}

fn hex8(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The origination identities as status shows them: phone numbers best first, then sender IDs
/// and pools.
pub fn identities(account: &AccountSms) -> Vec<OriginationIdentity> {
    let rank = |i: &Identity| match &i.kind {
        IdentityKind::PhoneNumber(t) => (0, Some(*t)),
        IdentityKind::SenderId => (1, None),
        IdentityKind::Pool { .. } => (2, None),
    };
    let mut all: Vec<&Identity> = account.identities.iter().collect();
    all.sort_by_key(|i| (rank(i), i.id.clone()));
    all.into_iter()
        .map(|i| OriginationIdentity {
            type_: i.type_name().to_string(),
            phone_number: i.number.as_deref().map(mask),
            sender_id: (i.kind == IdentityKind::SenderId).then(|| i.id.clone()),
            arn: Some(i.arn.clone()),
            country: i.country.clone(),
            route: i.message_type.clone(),
            capabilities: i.capabilities.clone(),
            status: i.status.clone(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A phone number identity of the account in us-east-1.
    pub(crate) fn number(n: &str, t: NumberType, country: &str) -> Identity {
        let id = format!("phone-{}", unkeyed_id(n));
        Identity {
            kind: IdentityKind::PhoneNumber(t),
            arn: format!("arn:aws:sms-voice:us-east-1:123456789012:phone-number/{id}"),
            id,
            number: Some(n.into()),
            country: Some(country.into()),
            message_type: Some("TRANSACTIONAL".into()),
            capabilities: vec!["SMS".into()],
            status: Some("ACTIVE".into()),
        }
    }

    pub(crate) fn account(identities: Vec<Identity>) -> AccountSms {
        AccountSms {
            in_sandbox: true,
            tier: Some("SANDBOXED".into()),
            monthly_spend_limit: Some("1".into()),
            identities,
            configuration_sets: BTreeSet::new(),
            configuration_set_protect: BTreeMap::new(),
            default_protect: None,
            destinations: BTreeMap::new(),
            sns: SnsView::default(),
            spend: Ok(MonthSpend::default()),
        }
    }

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(mask("+14255550100"), "+*******0100");
        assert_eq!(mask("123"), "123");
    }

    #[test]
    fn number_ids_depend_on_the_key_and_hide_the_number() {
        let (a, b) = (NumberIds::new(b"key a"), NumberIds::new(b"key b"));
        let number = "+14255550100";
        assert_eq!(a.id(number), a.id(number), "stable under one key");
        assert_eq!(a.id(number).len(), 16);
        assert_ne!(a.id(number), a.id("+14255550101"));
        assert_ne!(
            a.id(number),
            b.id(number),
            "another installation's key gives another id"
        );
        // Without the key, hashing every candidate number finds nothing.
        assert_ne!(a.id(number), unkeyed_id(number));
        assert_eq!(format!("{a:?}"), "NumberIds(key redacted)");
    }

    #[test]
    fn ids_written_before_keying_still_match() {
        let ids = crate::testing::number_ids();
        let number = "+14255550100";
        assert!(ids.matches(&ids.id(number), number));
        assert!(ids.matches(&unkeyed_id(number), number), "status written unkeyed");
        assert!(!ids.matches(&unkeyed_id("+14255550101"), number));
        assert!(!ids.matches(&NumberIds::new(b"other").id(number), number));
    }

    #[test]
    fn codes_never_print() {
        let c = Code::new(" 123456\n").unwrap();
        assert_eq!(c.reveal(), "123456");
        assert_eq!(format!("{c:?}"), "Code(redacted)");
        assert!(Code::new("  ").is_none());
    }

    #[test]
    fn codes_are_sent_without_the_spaces_and_dashes_people_type() {
        for typed in ["482 916", "482-916", " 48 29 16 \n", "482\u{a0}916"] {
            assert_eq!(Code::new(typed).unwrap().reveal(), "482916", "{typed:?}");
        }
        assert!(Code::new(" - ").is_none());
    }

    #[test]
    fn status_lists_numbers_best_first_and_masked() {
        let all = vec![
            number("+18005550100", NumberType::TollFree, "US"),
            number("+12065550100", NumberType::TenDlc, "US"),
            number("+555123", NumberType::ShortCode, "US"),
        ];
        let listed = identities(&account(all));
        assert_eq!(
            listed.iter().map(|i| i.type_.as_str()).collect::<Vec<_>>(),
            ["ShortCode", "TenDlc", "TollFree"]
        );
        assert!(
            listed
                .iter()
                .all(|i| !i.phone_number.as_deref().unwrap().contains("5550")),
            "numbers are masked"
        );
        assert!(
            listed
                .iter()
                .all(|i| i.arn.as_deref().unwrap().contains(":phone-number/"))
        );
    }

    #[test]
    fn pools_text_where_their_members_can() {
        let pool = Identity {
            kind: IdentityKind::Pool {
                members: vec![PoolMember {
                    country: Some("GB".into()),
                    capabilities: vec!["SMS".into()],
                }],
            },
            arn: "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-1".into(),
            id: "pool-1".into(),
            number: None,
            country: None,
            message_type: None,
            capabilities: vec![],
            status: Some("ACTIVE".into()),
        };
        assert!(pool.can_text() && pool.can_text_to("GB") && !pool.can_text_to("US"));
    }
}
