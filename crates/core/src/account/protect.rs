//! Country rules against SMS pumping: what a protect configuration should say for the countries
//! a pool's users are in, and whether the account default already says it. Pure.

use super::CountryRules;

/// This resource's protect configuration, as read: its ID and its SMS rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedProtect {
    pub id: String,
    pub rules: CountryRules,
}
use crate::conditions::{Finding, reasons};

pub const ALLOW: &str = "ALLOW";
pub const BLOCK: &str = "BLOCK";
pub const FILTER: &str = "FILTER";

/// The rule each country should have: `countries` allowed (or filtered, with `filter`), every
/// other country blocked.
fn wanted(country: &str, countries: &[String], filter: bool) -> &'static str {
    match (countries.iter().any(|c| c == country), filter) {
        (true, false) => ALLOW,
        (true, true) => FILTER,
        (false, _) => BLOCK,
    }
}

/// The rule changes that bring `current` (a rule set as AWS lists it: every country it knows)
/// to `countries` allowed and every other country blocked. Countries of `countries` that the
/// rule set does not list are sent too when their rule is not `ALLOW`, so that AWS says if it
/// does not know one.
pub fn rule_updates(current: &CountryRules, countries: &[String], filter: bool) -> CountryRules {
    let listed = current
        .keys()
        .chain(countries.iter().filter(|c| !current.contains_key(*c)));
    listed
        .filter_map(|country| {
            let want = wanted(country, countries, filter);
            let have = current.get(country).map_or(ALLOW, String::as_str);
            (have != want).then(|| (country.clone(), want.to_string()))
        })
        .collect()
}

/// The countries outside `countries` that `rules` lets SMS reach (neither `BLOCK` nor
/// `FILTER`), in order.
pub fn open_elsewhere<'a>(rules: &'a CountryRules, countries: &[String]) -> Vec<&'a str> {
    rules
        .iter()
        .filter(|(country, rule)| !countries.contains(country) && *rule != BLOCK && *rule != FILTER)
        .map(|(country, _)| country.as_str())
        .collect()
}

/// `PumpingProtection` on the SNS path, where only the account default can apply: whether it
/// keeps SMS from every country outside `countries`. The operator never changes it, since it
/// applies to every sender of the account.
pub fn account_default_finding(default: Option<&super::DefaultProtect>, countries: &[String], region: &str) -> Finding {
    let what_to_do = "on the SNS path only the account's default protect configuration can apply; it covers every \
                      sender of the account, so the operator leaves it to you: set one in AWS End User Messaging SMS \
                      (Protect configurations) that blocks the countries your users are not in, or send directly \
                      through End User Messaging (spec.endUserMessaging), where the operator keeps one for this pool";
    let Some(default) = default else {
        return Finding::failed(
            reasons::ACCOUNT_DEFAULT_ALLOWS_ALL,
            format!(
                "the account has no default protect configuration in {region}, so SMS may go to any country: {what_to_do}"
            ),
        );
    };
    let rules = match &default.rules {
        Ok(rules) => rules,
        Err(why) => {
            return Finding::unknown(
                reasons::PROTECT_UNKNOWN,
                format!(
                    "cannot read the rules of the account's default protect configuration {} in {region}: {why}",
                    default.id
                ),
            );
        }
    };
    let open = open_elsewhere(rules, countries);
    if open.is_empty() {
        return Finding::ok(
            reasons::ACCOUNT_DEFAULT_COVERS,
            format!(
                "the account's default protect configuration {} in {region} blocks or filters every country outside \
                 destinationCountries",
                default.id
            ),
        );
    }
    let shown: Vec<&str> = open.iter().take(10).copied().collect();
    let more = if open.len() > shown.len() { ", ..." } else { "" };
    Finding::failed(
        reasons::ACCOUNT_DEFAULT_ALLOWS_SOME,
        format!(
            "the account's default protect configuration {} in {region} lets SMS reach {} countries outside \
             destinationCountries ({}{more}): {what_to_do}",
            default.id,
            open.len(),
            shown.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::DefaultProtect;
    use crate::conditions::ConditionStatus;

    fn rules(pairs: &[(&str, &str)]) -> CountryRules {
        pairs.iter().map(|(c, r)| (c.to_string(), r.to_string())).collect()
    }

    fn countries(cs: &[&str]) -> Vec<String> {
        cs.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn updates_allow_the_users_countries_and_block_every_other() {
        let fresh = rules(&[("CA", ALLOW), ("GB", ALLOW), ("JP", ALLOW), ("US", ALLOW)]);
        assert_eq!(
            rule_updates(&fresh, &countries(&["US", "CA"]), false),
            rules(&[("GB", BLOCK), ("JP", BLOCK)])
        );
        assert_eq!(
            rule_updates(&fresh, &countries(&["US"]), true),
            rules(&[("CA", BLOCK), ("GB", BLOCK), ("JP", BLOCK), ("US", FILTER)])
        );
        let done = rules(&[("CA", ALLOW), ("GB", BLOCK), ("JP", BLOCK), ("US", ALLOW)]);
        assert!(
            rule_updates(&done, &countries(&["US", "CA"]), false).is_empty(),
            "in sync"
        );
        assert_eq!(
            rule_updates(&done, &countries(&["US", "CA", "JP"]), false),
            rules(&[("JP", ALLOW)]),
            "a country added"
        );
        assert_eq!(
            rule_updates(&done, &countries(&["US", "CA", "QQ"]), true),
            rules(&[("CA", FILTER), ("QQ", FILTER), ("US", FILTER)]),
            "a code AWS does not list is sent when its rule is not the default, for AWS to judge"
        );
    }

    #[test]
    fn the_account_default_covers_only_when_every_other_country_is_blocked_or_filtered() {
        let users = countries(&["US"]);
        let none = account_default_finding(None, &users, "us-east-1");
        assert_eq!(
            (none.status, none.reason),
            (ConditionStatus::False, reasons::ACCOUNT_DEFAULT_ALLOWS_ALL)
        );
        let default = |r: CountryRules| DefaultProtect {
            id: "protect-1".into(),
            rules: Ok(r),
        };
        let some = default(rules(&[("GB", BLOCK), ("JP", ALLOW), ("US", ALLOW)]));
        let f = account_default_finding(Some(&some), &users, "us-east-1");
        assert_eq!(
            (f.status, f.reason),
            (ConditionStatus::False, reasons::ACCOUNT_DEFAULT_ALLOWS_SOME)
        );
        assert!(
            f.message.contains("1 countries outside destinationCountries (JP)"),
            "{}",
            f.message
        );
        let covers = default(rules(&[("GB", BLOCK), ("JP", FILTER), ("US", ALLOW)]));
        let f = account_default_finding(Some(&covers), &users, "us-east-1");
        assert_eq!(
            (f.status, f.reason),
            (ConditionStatus::True, reasons::ACCOUNT_DEFAULT_COVERS)
        );
    }
}
