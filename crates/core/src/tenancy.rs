//! Which AWS account a namespace's resources act in: the `CognitoSmsAccount` that selects the
//! namespace (its role is assumed), or the operator's own identity when none does and the
//! installation allows it. Decided from values only: the accounts and the namespace's labels as
//! the watches show them.

use std::collections::BTreeMap;

use kube::core::{Selector, SelectorExt};

use crate::crd::{CognitoSmsAccount, CognitoSmsAccountSpec, SecretKeyRef};

/// Where a namespace's resources act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Exactly one `CognitoSmsAccount` selects the namespace.
    Mapped(Mapping),
    /// None selects it: the operator's own identity acts.
    OperatorIdentity,
    /// None selects it, and the installation does not let the operator act as itself.
    Unmapped,
    /// Several select it, by these names (sorted): nothing may be read or written.
    Conflict(Vec<String>),
}

/// The role to assume for a namespace, as one `CognitoSmsAccount` maps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// The `CognitoSmsAccount`'s name.
    pub name: String,
    pub role_arn: String,
    /// The account ID, from the role's ARN.
    pub account_id: String,
    pub external_id_secret_ref: Option<SecretKeyRef>,
}

impl Mapping {
    /// The role `account` maps its namespaces to.
    pub fn of(account: &CognitoSmsAccount) -> Self {
        Mapping {
            name: account.metadata.name.clone().unwrap_or_default(),
            role_arn: account.spec.role_arn.clone(),
            account_id: account_of_role(&account.spec.role_arn).unwrap_or_default().to_string(),
            external_id_secret_ref: account.spec.external_id_secret_ref.clone(),
        }
    }
}

/// Why a `CognitoSmsAccount`'s namespace selector selects nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespaceSelector is not a valid label selector: {0}")]
pub struct InvalidSelector(String);

/// Whether `spec` selects the namespace `name` with `labels`. A selector that is not valid
/// selects nothing (the account's status says why); by name, a namespace is always selected.
pub fn selects(spec: &CognitoSmsAccountSpec, name: &str, labels: &BTreeMap<String, String>) -> bool {
    spec.namespaces.iter().any(|n| n == name) || selector(spec).ok().flatten().is_some_and(|s| s.matches(labels))
}

/// The account's namespace selector; `None` when it has none.
pub fn selector(spec: &CognitoSmsAccountSpec) -> Result<Option<Selector>, InvalidSelector> {
    spec.namespace_selector
        .clone()
        .map(Selector::try_from)
        .transpose()
        .map_err(|e| InvalidSelector(e.to_string()))
}

/// The AWS account ID of a role ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`).
pub fn account_of_role(role_arn: &str) -> Option<&str> {
    let account = role_arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// Where the resources of namespace `name` (with `labels`) act, among `accounts`.
pub fn select<'a>(
    accounts: impl IntoIterator<Item = &'a CognitoSmsAccount>,
    name: &str,
    labels: &BTreeMap<String, String>,
    allow_operator_identity: bool,
) -> Selection {
    let mut selecting: Vec<&CognitoSmsAccount> = accounts
        .into_iter()
        .filter(|a| a.metadata.deletion_timestamp.is_none() && selects(&a.spec, name, labels))
        .collect();
    selecting.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match selecting.as_slice() {
        [] if allow_operator_identity => Selection::OperatorIdentity,
        [] => Selection::Unmapped,
        [one] => Selection::Mapped(Mapping::of(one)),
        several => Selection::Conflict(
            several
                .iter()
                .map(|a| a.metadata.name.clone().unwrap_or_default())
                .collect(),
        ),
    }
}

/// The other `CognitoSmsAccount`s that select a namespace `account` selects too, by name (sorted):
/// their resources get no AWS call until one of them lets the namespace go.
pub fn overlapping<'a>(
    account: &CognitoSmsAccount,
    others: impl IntoIterator<Item = &'a CognitoSmsAccount> + Clone,
    namespaces: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> BTreeMap<String, Vec<String>> {
    let mut overlaps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ns, labels) in namespaces {
        if !selects(&account.spec, ns, labels) {
            continue;
        }
        for other in others.clone() {
            if other.metadata.name != account.metadata.name && selects(&other.spec, ns, labels) {
                overlaps
                    .entry(other.metadata.name.clone().unwrap_or_default())
                    .or_default()
                    .push(ns.to_string());
            }
        }
    }
    overlaps
}

/// Whether `value` is an external ID STS accepts: 2 to 1224 characters of letters, digits and
/// `+=,.@:/-`. Checked before the value is sent, so that STS never echoes it in an error.
pub fn valid_external_id(value: &str) -> bool {
    (2..=1224).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}

/// The STS session name for the resources of namespace `namespace` (at most 64 characters, as
/// STS allows): CloudTrail shows it beside every call made in the session.
pub fn session_name(namespace: &str) -> String {
    let mut name = format!("cognito-sms.{namespace}");
    name.truncate(64);
    name
}

/// Session tag keys: CloudTrail records them with the session, and a trust or permissions policy
/// can test them (`aws:PrincipalTag/...`).
pub mod session_tags {
    pub const NAMESPACE: &str = "cognitosms.io/namespace";
    pub const ACCOUNT: &str = "cognitosms.io/account";
    pub const INSTALLATION: &str = "cognitosms.io/installation";
}

/// The session tags for the resources of `namespace`, mapped by the `CognitoSmsAccount` named
/// `account`, from `installation`. Values are cut to STS's 256 characters.
pub fn session_tags(namespace: &str, account: &str, installation: &str) -> Vec<(String, String)> {
    [
        (session_tags::NAMESPACE, namespace),
        (session_tags::ACCOUNT, account),
        (session_tags::INSTALLATION, installation),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.chars().take(256).collect()))
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn account(name: &str, spec: serde_json::Value) -> CognitoSmsAccount {
        let mut a = CognitoSmsAccount::new(name, serde_json::from_value(spec).unwrap());
        a.metadata.uid = Some(format!("uid-{name}"));
        a
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const PAYMENTS: &str = "arn:aws:iam::222222222222:role/cognito-sms-operator";
    const SHOP: &str = "arn:aws:iam::333333333333:role/cognito-sms-operator";

    #[test]
    fn a_namespace_is_selected_by_name_or_by_labels() {
        let accounts = [
            account("payments", json!({"roleArn": PAYMENTS, "namespaces": ["payments"]})),
            account(
                "shop",
                json!({"roleArn": SHOP, "namespaceSelector": {"matchLabels": {"aws-account": "shop"}}}),
            ),
        ];
        let Selection::Mapped(m) = select(&accounts, "payments", &labels(&[]), true) else {
            panic!("payments is mapped by name");
        };
        assert_eq!((m.name.as_str(), m.account_id.as_str()), ("payments", "222222222222"));
        let Selection::Mapped(m) = select(&accounts, "web", &labels(&[("aws-account", "shop")]), true) else {
            panic!("web is mapped by its label");
        };
        assert_eq!((m.name.as_str(), m.role_arn.as_str()), ("shop", SHOP));
    }

    #[test]
    fn an_unselected_namespace_uses_the_operator_only_where_allowed() {
        let accounts = [account(
            "payments",
            json!({"roleArn": PAYMENTS, "namespaces": ["payments"]}),
        )];
        assert_eq!(
            select(&accounts, "other", &labels(&[]), true),
            Selection::OperatorIdentity
        );
        assert_eq!(select(&accounts, "other", &labels(&[]), false), Selection::Unmapped);
    }

    #[test]
    fn a_namespace_two_accounts_select_is_a_conflict_naming_both() {
        let accounts = [
            account("shop", json!({"roleArn": SHOP, "namespaceSelector": {}})),
            account("payments", json!({"roleArn": PAYMENTS, "namespaces": ["payments"]})),
        ];
        assert_eq!(
            select(&accounts, "payments", &labels(&[]), true),
            Selection::Conflict(vec!["payments".into(), "shop".into()])
        );
        let ns = labels(&[]);
        let overlaps = overlapping(&accounts[1], &accounts, [("payments", &ns), ("web", &ns)]);
        assert_eq!(
            overlaps,
            BTreeMap::from([("shop".to_string(), vec!["payments".to_string()])])
        );
    }

    #[test]
    fn an_account_being_deleted_or_with_an_invalid_selector_selects_nothing() {
        let mut going = account("payments", json!({"roleArn": PAYMENTS, "namespaces": ["payments"]}));
        going.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(select([&going], "payments", &labels(&[]), false), Selection::Unmapped);
        let bad = account(
            "bad",
            json!({"roleArn": PAYMENTS, "namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Within"}]}}),
        );
        assert!(selector(&bad.spec).is_err());
        assert_eq!(select([&bad], "x", &labels(&[("a", "b")]), false), Selection::Unmapped);
    }

    #[test]
    fn match_expressions_select_as_kubernetes_does() {
        let a = account(
            "shop",
            json!({"roleArn": SHOP, "namespaceSelector": {"matchExpressions": [
                {"key": "team", "operator": "In", "values": ["web", "mobile"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]}}),
        );
        assert!(selects(&a.spec, "x", &labels(&[("team", "web")])));
        assert!(!selects(&a.spec, "x", &labels(&[("team", "web"), ("legacy", "1")])));
        assert!(!selects(&a.spec, "x", &labels(&[("team", "data")])));
    }

    #[test]
    fn sessions_are_named_and_tagged_within_what_sts_allows() {
        let long = "n".repeat(63);
        assert_eq!(session_name(&long).len(), 64);
        assert_eq!(session_name("payments"), "cognito-sms.payments");
        let session = regex_lite::Regex::new(r"^[\w+=,.@-]{2,64}$").unwrap();
        assert!(session.is_match(&session_name(&long)));
        let tags = session_tags("payments", "payments-prod", &"i".repeat(300));
        assert_eq!(tags.len(), 3);
        assert!(tags.iter().all(|(k, v)| k.len() <= 128 && v.len() <= 256));
        assert_eq!(account_of_role(PAYMENTS), Some("222222222222"));
        assert_eq!(account_of_role("arn:aws:iam::2222:role/x"), None);
        assert!(valid_external_id("a1:b/c=d"));
        assert!(!valid_external_id("x") && !valid_external_id("has space") && !valid_external_id(&"e".repeat(1225)));
    }
}
