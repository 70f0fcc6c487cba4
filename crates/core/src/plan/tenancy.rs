//! The `AccountSelected` condition and `status.account`: which AWS account a reconcile acted in,
//! and the report of one that could not act in any.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use super::{Requeue, SyncReport};
use crate::conditions::{self, Finding, reasons, types};
use crate::crd::{
    CognitoSmsAccount, CognitoSmsAccountStatus, CognitoSmsConfig, CognitoSmsConfigStatus, SelectedAccount,
};
use crate::error::AwsError;
use crate::tenancy::Mapping;

/// The account a reconcile acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    /// As the role a `CognitoSmsAccount` maps the namespace to.
    Mapped(Mapping),
    /// As the operator itself, in the account of its own credentials.
    OperatorIdentity,
}

impl Acting {
    /// The account a reconcile acts in, as the resources that share its pools, numbers and
    /// quotas are grouped: the account ID of the mapped role, or empty for the operator's own
    /// account.
    pub fn account(&self) -> &str {
        match self {
            Acting::Mapped(mapping) => &mapping.account_id,
            Acting::OperatorIdentity => "",
        }
    }
}

/// The account `res` last acted in, as its status records it, in the terms of
/// [`Acting::account`]; `None` when it has not acted yet.
pub fn acted_account(res: &CognitoSmsConfig) -> Option<&str> {
    res.status.as_ref().and_then(account_in)
}

/// The account `status` says its resource acted in, as [`acted_account`].
pub fn account_in(status: &CognitoSmsConfigStatus) -> Option<&str> {
    let account = status.account.as_ref()?;
    Some(match account.selected_by {
        Some(_) => account.account_id.as_deref().unwrap_or_default(),
        None => "",
    })
}

/// Why a reconcile acts in no account: it reads and writes nothing in AWS.
#[derive(Debug, Clone)]
pub enum NotActing {
    /// These `CognitoSmsAccount`s all select the namespace.
    Conflict(Vec<String>),
    /// None selects it, and the operator may not act as itself.
    Unmapped,
    /// The namespace is not known yet (nor, so, its labels).
    NamespaceNotSeen,
    /// The mapped role's external ID could not be read from its Secret.
    ExternalIdUnreadable(Box<Mapping>, String),
    /// The mapped role could not be assumed.
    AssumeRoleFailed(Box<Mapping>, Box<AwsError>),
}

fn namespace(res: &CognitoSmsConfig) -> &str {
    res.metadata.namespace.as_deref().unwrap_or_default()
}

/// Why a reconcile of `res` acts in no account, and when to look again.
pub fn finding(res: &CognitoSmsConfig, why: &NotActing) -> (Finding, Requeue) {
    let ns = namespace(res);
    match why {
        NotActing::Conflict(names) => (
            Finding::failed(
                reasons::ACCOUNT_CONFLICT,
                format!(
                    "namespace {ns} is selected by the CognitoSmsAccounts {}: nothing is read or written in AWS \
                     until exactly one selects it; ask your platform admin to change their namespaces or \
                     namespaceSelector",
                    names.join(", ")
                ),
            ),
            Requeue::Resync,
        ),
        NotActing::Unmapped => (
            Finding::failed(
                reasons::NO_ACCOUNT,
                format!(
                    "no CognitoSmsAccount selects namespace {ns}, and this installation of the operator does not act \
                     with its own AWS identity: ask your platform admin to map the namespace to your AWS account"
                ),
            ),
            Requeue::Resync,
        ),
        NotActing::NamespaceNotSeen => (
            Finding::unknown(
                reasons::NAMESPACE_NOT_SEEN,
                format!("namespace {ns} is not known to the operator yet, so neither is the account it maps to"),
            ),
            Requeue::Backoff,
        ),
        NotActing::ExternalIdUnreadable(mapping, why) => (
            Finding::failed(
                reasons::EXTERNAL_ID_UNREADABLE,
                format!(
                    "cannot read the external ID of CognitoSmsAccount {} to assume {}: {why}",
                    mapping.name, mapping.role_arn
                ),
            ),
            Requeue::Backoff,
        ),
        NotActing::AssumeRoleFailed(mapping, err) => (
            Finding::failed(
                reasons::ASSUME_ROLE_FAILED,
                format!(
                    "cannot assume {} (CognitoSmsAccount {}): {err}; the role's trust policy must allow the \
                     operator's role sts:AssumeRole and sts:TagSession, with the external ID when one is set",
                    mapping.role_arn, mapping.name
                ),
            ),
            // A refusal waits for a person: the resync, or a change of the account, brings it back.
            if err.kind.is_terminal() {
                Requeue::Resync
            } else {
                Requeue::Backoff
            },
        ),
    }
}

/// The report of a reconcile that acts in no account: `AccountSelected` and `Ready` say why, and
/// the status keeps everything else it had.
pub fn not_acting(res: &CognitoSmsConfig, why: &NotActing, now: Timestamp) -> SyncReport {
    let (finding, requeue) = finding(res, why);
    let generation = res.metadata.generation;
    let mut status = CognitoSmsConfigStatus {
        observed_generation: generation,
        ..res.status.clone().unwrap_or_default()
    };
    for type_ in [types::READY, types::ACCOUNT_SELECTED] {
        let condition = conditions::to_condition(type_, &finding, &status.conditions, generation, now);
        status.conditions.retain(|c| c.type_ != type_);
        let at = usize::from(type_ == types::ACCOUNT_SELECTED).min(status.conditions.len());
        status.conditions.insert(at, condition);
    }
    SyncReport {
        status,
        changes: vec![],
        requeue,
    }
}

/// `report` with the account it acted in: `status.account` and `AccountSelected`, right after
/// `Ready`.
pub fn acted_in(res: &CognitoSmsConfig, mut report: SyncReport, acting: &Acting, now: Timestamp) -> SyncReport {
    let ns = namespace(res);
    let status: &mut CognitoSmsConfigStatus = &mut report.status;
    let (account, finding) = match acting {
        Acting::Mapped(m) => (
            SelectedAccount {
                account_id: Some(m.account_id.clone()),
                role_arn: Some(m.role_arn.clone()),
                selected_by: Some(m.name.clone()),
            },
            Finding::ok(
                reasons::ACCOUNT_MAPPED,
                format!(
                    "CognitoSmsAccount {} maps namespace {ns} to account {}: acting as {}",
                    m.name, m.account_id, m.role_arn
                ),
            ),
        ),
        Acting::OperatorIdentity => (
            SelectedAccount {
                account_id: status.account_id.clone(),
                role_arn: None,
                selected_by: None,
            },
            Finding::ok(
                reasons::OPERATOR_IDENTITY,
                format!(
                    "no CognitoSmsAccount selects namespace {ns}: acting with the operator's own AWS identity{}",
                    status
                        .account_id
                        .as_deref()
                        .map(|a| format!(", in account {a}"))
                        .unwrap_or_default()
                ),
            ),
        ),
    };
    status.account = Some(account);
    let condition = conditions::to_condition(
        types::ACCOUNT_SELECTED,
        &finding,
        &status.conditions,
        res.metadata.generation,
        now,
    );
    status.conditions.retain(|c| c.type_ != types::ACCOUNT_SELECTED);
    let at = usize::from(!status.conditions.is_empty());
    status.conditions.insert(at, condition);
    report
}

/// What the operator found of a `CognitoSmsAccount`.
#[derive(Debug, Clone)]
pub struct AccountFindings {
    /// Whether its role could be assumed.
    pub assumed: Result<(), NotActing>,
    /// Why its namespace selector selects nothing, when it is not valid.
    pub invalid_selector: Option<String>,
    /// Other accounts that select namespaces this one selects: (account, namespaces).
    pub overlaps: BTreeMap<String, Vec<String>>,
    /// How many resources act in the account through it.
    pub resources: u32,
}

/// The status of `account` for `found`.
pub fn account_status(account: &CognitoSmsAccount, found: &AccountFindings, now: Timestamp) -> CognitoSmsAccountStatus {
    let name = account.metadata.name.as_deref().unwrap_or_default();
    let finding = if let Some(why) = &found.invalid_selector {
        Finding::failed(reasons::INVALID_SELECTOR, format!("{why}: it selects no namespace"))
    } else if !found.overlaps.is_empty() {
        let overlaps: Vec<String> = found
            .overlaps
            .iter()
            .map(|(other, namespaces)| format!("{other} ({})", namespaces.join(", ")))
            .collect();
        Finding::failed(
            reasons::ACCOUNT_CONFLICT,
            format!(
                "namespaces this account selects are also selected by other CognitoSmsAccounts: {}; their resources \
                 act in no account until exactly one selects each namespace",
                overlaps.join("; ")
            ),
        )
    } else {
        match &found.assumed {
            Ok(()) => Finding::ok(
                reasons::ROLE_ASSUMED,
                format!(
                    "the operator assumes {} for the namespaces {name} selects",
                    account.spec.role_arn
                ),
            ),
            Err(why) => match why {
                NotActing::AssumeRoleFailed(mapping, err) => Finding::failed(
                    reasons::ASSUME_ROLE_FAILED,
                    format!(
                        "cannot assume {}: {err}; its trust policy must allow the operator's role sts:AssumeRole and \
                         sts:TagSession, with the external ID when one is set",
                        mapping.role_arn
                    ),
                ),
                NotActing::ExternalIdUnreadable(_, why) => Finding::failed(
                    reasons::EXTERNAL_ID_UNREADABLE,
                    format!("cannot read the external ID: {why}"),
                ),
                other => Finding::unknown(reasons::RECONCILING, format!("{other:?}")),
            },
        }
    };
    let previous = account.status.clone().unwrap_or_default();
    let generation = account.metadata.generation;
    CognitoSmsAccountStatus {
        observed_generation: generation,
        account_id: crate::tenancy::account_of_role(&account.spec.role_arn).map(String::from),
        resources: Some(found.resources),
        conditions: vec![conditions::to_condition(
            types::READY,
            &finding,
            &previous.conditions,
            generation,
            now,
        )],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::conditions::ConditionStatus;
    use crate::testing::resource;

    fn mapping() -> Mapping {
        Mapping {
            name: "payments-prod".into(),
            role_arn: "arn:aws:iam::222222222222:role/cognito-sms-operator".into(),
            account_id: "222222222222".into(),
            external_id_secret_ref: None,
        }
    }

    #[test]
    fn a_conflict_names_the_accounts_and_keeps_what_status_remembers() {
        let mut res = resource("app", json!({"userPoolId": "eu-west-1_Abc"}));
        res.status = Some(CognitoSmsConfigStatus {
            external_id: Some("kept".into()),
            ..Default::default()
        });
        let names = vec!["a".to_string(), "b".to_string()];
        let report = not_acting(&res, &NotActing::Conflict(names), Timestamp::UNIX_EPOCH);
        assert!(report.changes.is_empty());
        assert_eq!(report.status.external_id.as_deref(), Some("kept"));
        let ready = &report.status.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.reason.as_str()),
            ("Ready", "AccountConflict")
        );
        assert!(ready.message.contains("CognitoSmsAccounts a, b"), "{}", ready.message);
        let selected = &report.status.conditions[1];
        assert_eq!(selected.type_, "AccountSelected");
        assert_eq!(ConditionStatus::of(selected), ConditionStatus::False);
    }

    #[test]
    fn a_refused_assume_role_says_what_the_trust_policy_needs() {
        let res = resource("app", json!({"userPoolId": "eu-west-1_Abc"}));
        let err = AwsError::new(
            "sts",
            "AssumeRole",
            crate::error::ErrorKind::AccessDenied,
            "AccessDenied",
            "not authorized to perform: sts:AssumeRole",
        );
        let m = mapping();
        let report = not_acting(
            &res,
            &NotActing::AssumeRoleFailed(Box::new(m), Box::new(err)),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            report.requeue,
            Requeue::Resync,
            "a refusal waits for a person, not a retry storm"
        );
        let message = &report.status.conditions[0].message;
        assert!(
            message.contains("sts:TagSession") && message.contains("payments-prod"),
            "{message}"
        );
    }

    #[test]
    fn an_accounts_status_says_first_what_keeps_its_namespaces_from_acting() {
        let account = CognitoSmsAccount::new(
            "payments-prod",
            serde_json::from_value(json!({"roleArn": mapping().role_arn, "namespaces": ["payments"]})).unwrap(),
        );
        let mut found = AccountFindings {
            assumed: Ok(()),
            invalid_selector: None,
            overlaps: BTreeMap::new(),
            resources: 3,
        };
        let ok = account_status(&account, &found, Timestamp::UNIX_EPOCH);
        assert_eq!(ok.account_id.as_deref(), Some("222222222222"));
        assert_eq!(
            (ok.resources, ok.conditions[0].reason.as_str()),
            (Some(3), "RoleAssumed")
        );
        found.assumed = Err(NotActing::ExternalIdUnreadable(
            Box::new(mapping()),
            "Secret ops/x does not exist".into(),
        ));
        let unreadable = account_status(&account, &found, Timestamp::UNIX_EPOCH);
        assert_eq!(unreadable.conditions[0].reason, "ExternalIdUnreadable");
        found.overlaps = BTreeMap::from([("shop".to_string(), vec!["payments".to_string()])]);
        let conflict = account_status(&account, &found, Timestamp::UNIX_EPOCH);
        assert_eq!(conflict.conditions[0].reason, "AccountConflict");
        assert!(conflict.conditions[0].message.contains("shop (payments)"));
    }

    #[test]
    fn the_account_acted_in_is_recorded_after_ready() {
        let res = resource("app", json!({"userPoolId": "eu-west-1_Abc"}));
        let report = not_acting(&res, &NotActing::Unmapped, Timestamp::UNIX_EPOCH);
        let m = mapping();
        let report = acted_in(&res, report, &Acting::Mapped(m), Timestamp::UNIX_EPOCH);
        let account = report.status.account.as_ref().unwrap();
        assert_eq!(account.selected_by.as_deref(), Some("payments-prod"));
        assert_eq!(account.account_id.as_deref(), Some("222222222222"));
        let types: Vec<&str> = report.status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "AccountSelected"]);
        assert_eq!(report.status.conditions[1].reason, "AccountMapped");
    }
}
