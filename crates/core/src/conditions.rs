//! Conditions: what the user reads in `kubectl describe`. This module owns every condition type
//! and every reason; the functions here turn the reconciler's findings into conditions. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub mod types {
    pub const READY: &str = "Ready";
    pub const ROLE_READY: &str = "RoleReady";
    pub const SNS_REGION_VALID: &str = "SnsRegionValid";
    pub const USER_POOL_CONFIGURED: &str = "UserPoolConfigured";
    /// The SMS configuration of every secondary Region of a multi-Region pool.
    pub const REPLICAS_CONFIGURED: &str = "ReplicasConfigured";
    pub const DELIVERY_LOGS_CONFIGURED: &str = "DeliveryLogsConfigured";
    pub const SANDBOX_EXITED: &str = "SandboxExited";
    pub const PHONE_NUMBERS_VERIFIED: &str = "PhoneNumbersVerified";
    pub const ORIGINATION_IDENTITY_AVAILABLE: &str = "OriginationIdentityAvailable";
    pub const SPEND_LIMIT_SUFFICIENT: &str = "SpendLimitSufficient";
    pub const SPEND_HEADROOM: &str = "SpendHeadroom";
    pub const PUMPING_PROTECTION: &str = "PumpingProtection";
    pub const PRODUCTION_READY: &str = "ProductionReady";
    pub const ACCOUNT_SELECTED: &str = "AccountSelected";
}

pub mod reasons {
    // Summary
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    /// Another resource of this installation, the oldest naming the pool, manages it.
    pub const POOL_CLAIMED: &str = "PoolClaimed";
    /// The pool's tags say another installation of the operator manages it.
    pub const POOL_OWNED_ELSEWHERE: &str = "PoolOwnedElsewhere";
    // AccountSelected (and Ready, when the resource acts in no account)
    /// A `CognitoSmsAccount` selects the resource's namespace: its role is assumed.
    pub const ACCOUNT_MAPPED: &str = "AccountMapped";
    /// No `CognitoSmsAccount` selects the namespace: the operator's own identity acts.
    pub const OPERATOR_IDENTITY: &str = "OperatorIdentity";
    /// Several `CognitoSmsAccount`s select the namespace.
    pub const ACCOUNT_CONFLICT: &str = "AccountConflict";
    /// No `CognitoSmsAccount` selects the namespace, and the operator may not act as itself.
    pub const NO_ACCOUNT: &str = "NoAccount";
    /// The role of the selecting `CognitoSmsAccount` could not be assumed.
    pub const ASSUME_ROLE_FAILED: &str = "AssumeRoleFailed";
    /// The external ID of the selecting `CognitoSmsAccount` could not be read from its Secret.
    pub const EXTERNAL_ID_UNREADABLE: &str = "ExternalIdUnreadable";
    /// The resource's namespace is not known yet, so neither are its labels.
    pub const NAMESPACE_NOT_SEEN: &str = "NamespaceNotSeen";
    // A CognitoSmsAccount's Ready
    pub const ROLE_ASSUMED: &str = "RoleAssumed";
    pub const INVALID_SELECTOR: &str = "InvalidNamespaceSelector";
    // SnsRegionValid
    pub const SNS_REGION_ALLOWED: &str = "SnsRegionAllowed";
    pub const SNS_REGION_NOT_ALLOWED: &str = "SnsRegionNotAllowed";
    pub const INVALID_USER_POOL_ID: &str = "InvalidUserPoolId";
    pub const DIRECT_PATH_AVAILABLE: &str = "DirectPathAvailable";
    pub const DIRECT_PATH_NOT_AVAILABLE: &str = "DirectPathNotAvailable";
    // RoleReady
    pub const ROLE_IN_SYNC: &str = "RoleInSync";
    pub const ROLE_VALID: &str = "RoleValid";
    pub const ROLE_NAME_CONFLICT: &str = "RoleNameConflict";
    pub const ROLE_PATH_MISMATCH: &str = "RolePathMismatch";
    pub const ROLE_NOT_FOUND: &str = "RoleNotFound";
    pub const TRUST_POLICY_INCOMPLETE: &str = "TrustPolicyIncomplete";
    pub const PERMISSIONS_INCOMPLETE: &str = "PermissionsIncomplete";
    pub const WAITING_FOR_USER_POOL: &str = "WaitingForUserPool";
    // UserPoolConfigured
    pub const SMS_CONFIGURATION_IN_SYNC: &str = "SmsConfigurationInSync";
    // ReplicasConfigured
    /// The pool has one Region only.
    pub const NO_REPLICAS: &str = "NoReplicas";
    /// Every secondary sends SMS as the spec asks.
    pub const REPLICAS_IN_SYNC: &str = "ReplicasInSync";
    /// A secondary is being created or deleted: it is configured once it is `ACTIVE` or
    /// `INACTIVE`.
    pub const REPLICA_NOT_READY: &str = "ReplicaNotReady";
    /// The primary names an origination identity or configuration set of its own Region: the
    /// secondary needs its own in `spec.replicas`.
    pub const IDENTITY_NEEDED_IN_REGION: &str = "IdentityNeededInRegion";
    /// `spec.replicas` names a setting the secondary's Region cannot use.
    pub const INVALID_REPLICA_SETTINGS: &str = "InvalidReplicaSettings";
    pub const USER_POOL_NOT_FOUND: &str = "UserPoolNotFound";
    pub const IAM_PROPAGATION_PENDING: &str = "IamPropagationPending";
    pub const WAITING_FOR_ROLE: &str = "WaitingForRole";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const WAITING_FOR_ORIGINATION_IDENTITY: &str = "WaitingForOriginationIdentity";
    pub const CONFIGURATION_SET_NOT_FOUND: &str = "ConfigurationSetNotFound";
    pub const TEST_MESSAGE_FAILED: &str = "TestMessageFailed";
    // Any condition Cognito's own diagnosis of the pool (SmsConfigurationFailure) explains
    pub const COGNITO_REPORTS_FAILURE: &str = "CognitoReportsSmsConfigurationFailure";
    // SandboxExited
    pub const IN_SANDBOX: &str = "InSandbox";
    pub const OUT_OF_SANDBOX: &str = "OutOfSandbox";
    // PhoneNumbersVerified, and the state of each number
    pub const NONE_LISTED: &str = "NoneListed";
    pub const ALL_VERIFIED: &str = "AllVerified";
    pub const AWAITING_CODE: &str = "AwaitingCode";
    pub const CODE_SENT: &str = "CodeSent";
    pub const CODE_NOT_SENT: &str = "CodeNotSent";
    pub const CODE_REJECTED: &str = "CodeRejected";
    pub const SECRET_UNREADABLE: &str = "SecretUnreadable";
    pub const VERIFIED: &str = "Verified";
    pub const VERIFICATION_FAILED: &str = "VerificationFailed";
    pub const REMOVAL_REFUSED: &str = "RemovalRefused";
    // OriginationIdentityAvailable
    pub const NOT_REQUIRED: &str = "NotRequired";
    pub const IDENTITY_AVAILABLE: &str = "IdentityAvailable";
    pub const NO_US_IDENTITY: &str = "NoUsOriginationIdentity";
    pub const IDENTITY_NOT_FOUND: &str = "OriginationIdentityNotFound";
    pub const IDENTITY_NOT_USABLE: &str = "OriginationIdentityNotUsable";
    // SpendLimitSufficient
    pub const SPEND_LIMIT_RAISED: &str = "SpendLimitRaised";
    pub const SPEND_LIMIT_TOO_LOW: &str = "SpendLimitTooLow";
    pub const SPEND_LIMIT_UNKNOWN: &str = "SpendLimitUnknown";
    /// The month's spend is below the warning threshold in every region the pool sends through.
    pub const SPEND_BELOW_WARNING: &str = "SpendBelowWarning";
    /// The account has no default protect configuration (SNS path).
    pub const ACCOUNT_DEFAULT_ALLOWS_ALL: &str = "AccountDefaultAllowsAll";
    /// The account default lets SMS reach countries outside `destinationCountries` (SNS path).
    pub const ACCOUNT_DEFAULT_ALLOWS_SOME: &str = "AccountDefaultAllowsSome";
    /// The account default blocks every country outside `destinationCountries` (SNS path).
    pub const ACCOUNT_DEFAULT_COVERS: &str = "AccountDefaultCovers";
    /// This resource's protect configuration blocks every country outside
    /// `destinationCountries` on the pool's configuration set (direct path).
    pub const COUNTRIES_PROTECTED: &str = "CountriesProtected";
    /// The protect configuration could not be put in place.
    pub const PROTECT_FAILED: &str = "ProtectFailed";
    /// What protects the pool could not be read.
    pub const PROTECT_UNKNOWN: &str = "ProtectUnknown";
    /// The spec asks for nothing of this kind.
    pub const NOT_REQUESTED: &str = "NotRequested";
    /// The pool delivers its message delivery errors where the spec says.
    pub const DELIVERY_LOGS_IN_SYNC: &str = "DeliveryLogsInSync";
    /// Cognito refused the log delivery the spec asks for, or it cannot be set without loss.
    pub const DELIVERY_LOGS_REFUSED: &str = "DeliveryLogsRefused";
    /// The month's spend passed the warning threshold in a region: SMS stop at the limit.
    pub const SPEND_NEAR_LIMIT: &str = "SpendNearLimit";
    /// The month's spend or the limit could not be read.
    pub const SPEND_UNKNOWN: &str = "SpendUnknown";
    // ProductionReady
    pub const PRODUCTION_READY: &str = "ProductionReady";
    // Any account check not made because the spec must be fixed first
    pub const NOT_CHECKED: &str = "NotChecked";
    // A dry run found changes it did not make
    pub const CHANGES_PENDING: &str = "ChangesPending";
    // Any check that failed on an AWS error
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// AWS refused the operator's credentials themselves (expired, unknown, signed wrong).
    pub const CREDENTIALS_REJECTED: &str = "CredentialsRejected";
    pub const THROTTLED: &str = "Throttled";
    pub const AWS_UNAVAILABLE: &str = "AwsUnavailable";
    pub const AWS_TIMED_OUT: &str = "AwsTimedOut";
    pub const RECONCILE_TIMED_OUT: &str = "ReconcileTimedOut";
    pub const AWS_REQUEST_REJECTED: &str = "AwsRequestRejected";
    pub const AWS_ERROR: &str = "AwsError";
}

/// The outcome of one check, before it becomes a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// A condition's status. The API carries it as a string; code reads it through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// The status of a condition as the API returned it; anything unexpected reads as `Unknown`.
    pub fn of(condition: &Condition) -> Self {
        match condition.status.as_str() {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }
}

impl Finding {
    pub fn ok(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: ConditionStatus::True,
            reason,
            message: message.into(),
        }
    }
    pub fn failed(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: ConditionStatus::False,
            reason,
            message: message.into(),
        }
    }
    pub fn unknown(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: ConditionStatus::Unknown,
            reason,
            message: message.into(),
        }
    }
}

/// The findings of one reconcile, one per condition type the summary depends on, in the order a
/// user should fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    pub sns_region: Finding,
    pub role: Finding,
    pub user_pool: Finding,
    pub replicas: Finding,
    pub delivery_logs: Finding,
}

impl Findings {
    fn in_order(&self) -> [(&'static str, &Finding); 5] {
        [
            (types::SNS_REGION_VALID, &self.sns_region),
            (types::ROLE_READY, &self.role),
            (types::USER_POOL_CONFIGURED, &self.user_pool),
            (types::REPLICAS_CONFIGURED, &self.replicas),
            (types::DELIVERY_LOGS_CONFIGURED, &self.delivery_logs),
        ]
    }

    /// `Ready`: True when every check passed; otherwise the first blocking check's reason and
    /// message, so `kubectl get` shows what to fix first.
    pub fn ready(&self) -> Finding {
        match self
            .in_order()
            .into_iter()
            .find(|(_, f)| f.status != ConditionStatus::True)
        {
            None => Finding::ok(
                reasons::READY,
                "The user pool sends SMS through the configured role and SNS region",
            ),
            Some((type_, f)) => Finding {
                status: if f.status == ConditionStatus::Unknown {
                    ConditionStatus::Unknown
                } else {
                    ConditionStatus::False
                },
                reason: f.reason,
                message: format!("{type_}: {}", f.message),
            },
        }
    }
}

/// What SNS says about the account in the SNS region, as it matters to the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsFindings {
    pub sandbox: Finding,
    pub phone_numbers: Finding,
    pub origination: Finding,
    pub spend_limit: Finding,
    /// `SpendHeadroom`: a warning only, part of neither `Ready` nor `ProductionReady`.
    pub headroom: Finding,
    /// `PumpingProtection`: reported, part of neither `Ready` nor `ProductionReady`.
    pub protect: Finding,
}

impl SmsFindings {
    /// All four unknown, for a reconcile that could not ask SNS.
    pub fn unknown(reason: &'static str, message: &str) -> Self {
        Self::all(Finding::unknown(reason, message))
    }

    /// The same finding for all four, for a reconcile that could not read the account's state.
    pub fn all(f: Finding) -> Self {
        Self {
            sandbox: f.clone(),
            phone_numbers: f.clone(),
            origination: f.clone(),
            spend_limit: f.clone(),
            headroom: f.clone(),
            protect: f,
        }
    }

    fn in_order(&self) -> [(&'static str, &Finding); 6] {
        [
            (types::SANDBOX_EXITED, &self.sandbox),
            (types::PHONE_NUMBERS_VERIFIED, &self.phone_numbers),
            (types::ORIGINATION_IDENTITY_AVAILABLE, &self.origination),
            (types::SPEND_LIMIT_SUFFICIENT, &self.spend_limit),
            (types::SPEND_HEADROOM, &self.headroom),
            (types::PUMPING_PROTECTION, &self.protect),
        ]
    }

    /// `ProductionReady`: configured (`ready`), out of the sandbox, spend limit sufficient and,
    /// when US users are listed, a US origination identity. Phone number verification only
    /// matters inside the sandbox, so it does not count.
    pub fn production_ready(&self, ready: &Finding) -> Finding {
        let checks = [
            (types::READY, ready),
            (types::SANDBOX_EXITED, &self.sandbox),
            (types::SPEND_LIMIT_SUFFICIENT, &self.spend_limit),
            (types::ORIGINATION_IDENTITY_AVAILABLE, &self.origination),
        ];
        match checks.into_iter().find(|(_, f)| f.status != ConditionStatus::True) {
            None => Finding::ok(
                reasons::PRODUCTION_READY,
                "configured, out of the SMS sandbox, with a raised spend limit and the origination identities it needs",
            ),
            Some((type_, f)) => Finding {
                status: f.status,
                reason: f.reason,
                message: if type_ == types::READY {
                    f.message.clone()
                } else {
                    format!("{type_}: {}", f.message)
                },
            },
        }
    }
}

/// The conditions for `findings`, keeping `lastTransitionTime` of every condition whose status
/// did not change. Conditions of other types already present are kept as they are.
pub fn conditions(
    findings: &Findings,
    sms: &SmsFindings,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let ready = findings.ready();
    let production_ready = sms.production_ready(&ready);
    let mut all: Vec<(&'static str, &Finding)> = vec![(types::READY, &ready)];
    all.extend(findings.in_order());
    all.extend(sms.in_order());
    all.push((types::PRODUCTION_READY, &production_ready));
    let mut out: Vec<Condition> = all
        .into_iter()
        .map(|(type_, f)| to_condition(type_, f, previous, generation, now))
        .collect();
    for c in previous {
        if !out.iter().any(|o| o.type_ == c.type_) {
            out.push(c.clone());
        }
    }
    out
}

/// The condition of `type_` in `after` when it is False there and was not before (absent, True
/// or Unknown): a warning-only condition, which `Ready` does not carry, gets a Warning event of
/// its own once, when it turns False.
pub fn newly_false<'a>(type_: &str, before: &[Condition], after: &'a [Condition]) -> Option<&'a Condition> {
    let now = after.iter().find(|c| c.type_ == type_)?;
    let was = before.iter().find(|c| c.type_ == type_);
    let false_ = |c: &Condition| ConditionStatus::of(c) == ConditionStatus::False;
    (false_(now) && !was.is_some_and(false_)).then_some(now)
}

pub fn to_condition(
    type_: &str,
    finding: &Finding,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = finding.status.as_str();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(whole_seconds(now)));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: finding.reason.to_string(),
        message: one_line(&finding.message),
        last_transition_time,
        observed_generation: generation,
    }
}

/// `now` without its fraction of a second: the API keeps condition times to the second, and a
/// status must read back exactly as it was written, or the next resync would find it changed.
fn whole_seconds(now: Timestamp) -> Timestamp {
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Condition messages are one line of at most 32 KiB, as the API requires.
fn one_line(message: &str) -> String {
    let mut s: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 32 * 1024 {
        let mut cut = 32 * 1024;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_ok() -> Findings {
        Findings {
            sns_region: Finding::ok(reasons::SNS_REGION_ALLOWED, "eu-west-1"),
            role: Finding::ok(reasons::ROLE_IN_SYNC, "role r"),
            user_pool: Finding::ok(reasons::SMS_CONFIGURATION_IN_SYNC, "pool p"),
            replicas: Finding::ok(reasons::NO_REPLICAS, "one Region"),
            delivery_logs: Finding::ok(reasons::NOT_REQUESTED, "not set"),
        }
    }

    #[test]
    fn a_warning_condition_is_newly_false_once() {
        let at = |status: &str| {
            let f = match status {
                "True" => Finding::ok("SpendBelowWarning", "low"),
                "False" => Finding::failed("SpendNearLimit", "high"),
                _ => Finding::unknown("SpendUnknown", "?"),
            };
            vec![to_condition(types::SPEND_HEADROOM, &f, &[], None, t(0))]
        };
        let turned =
            |before: &[Condition], after: &[Condition]| newly_false(types::SPEND_HEADROOM, before, after).is_some();
        assert!(turned(&[], &at("False")));
        assert!(turned(&at("True"), &at("False")));
        assert!(turned(&at("Unknown"), &at("False")));
        assert!(!turned(&at("False"), &at("False")), "still False: said already");
        assert!(!turned(&at("False"), &at("True")));
    }

    fn sms_ok() -> SmsFindings {
        SmsFindings {
            sandbox: Finding::ok("OutOfSandbox", "out"),
            phone_numbers: Finding::ok("NoneListed", "none"),
            origination: Finding::ok("NotRequired", "no US"),
            spend_limit: Finding::ok("SpendLimitRaised", "50"),
            headroom: Finding::ok("SpendBelowWarning", "USD 0.00 of USD 50.00"),
            protect: Finding::ok("NotRequested", "off"),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn ready_when_every_check_passes() {
        let c = conditions(&all_ok(), &sms_ok(), &[], Some(3), t(100));
        assert_eq!(c.len(), 13);
        assert!(c.iter().all(|c| c.status == "True" && c.observed_generation == Some(3)));
        assert_eq!(c[0].type_, types::READY);
        assert_eq!(c[0].reason, reasons::READY);
    }

    #[test]
    fn ready_reports_the_first_blocking_check() {
        let mut f = all_ok();
        f.role = Finding::failed(
            reasons::ROLE_NAME_CONFLICT,
            "role r exists and is not managed by this operator",
        );
        f.user_pool = Finding::unknown(reasons::WAITING_FOR_ROLE, "waiting");
        let ready = f.ready();
        assert_eq!(ready.status, ConditionStatus::False);
        assert_eq!(ready.reason, reasons::ROLE_NAME_CONFLICT);
        assert_eq!(
            ready.message,
            "RoleReady: role r exists and is not managed by this operator"
        );
    }

    #[test]
    fn ready_is_unknown_while_only_waiting() {
        let mut f = all_ok();
        f.user_pool = Finding::unknown(reasons::IAM_PROPAGATION_PENDING, "IAM is propagating");
        assert_eq!(f.ready().status, ConditionStatus::Unknown);
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let first = conditions(&all_ok(), &sms_ok(), &[], Some(1), t(100));
        let second = conditions(&all_ok(), &sms_ok(), &first, Some(2), t(200));
        assert!(second.iter().all(|c| c.last_transition_time == Time(t(100))));
        assert!(second.iter().all(|c| c.observed_generation == Some(2)));
        let mut f = all_ok();
        f.user_pool = Finding::failed(reasons::USER_POOL_NOT_FOUND, "gone");
        let third = conditions(&f, &sms_ok(), &second, Some(2), t(300));
        let by_type = |ty: &str| third.iter().find(|c| c.type_ == ty).unwrap().clone();
        assert_eq!(by_type(types::USER_POOL_CONFIGURED).last_transition_time, Time(t(300)));
        assert_eq!(by_type(types::READY).last_transition_time, Time(t(300)));
        assert_eq!(by_type(types::ROLE_READY).last_transition_time, Time(t(100)));
    }

    #[test]
    fn other_condition_types_are_kept() {
        let foreign = to_condition("SomethingElse", &Finding::failed("Other", "x"), &[], Some(1), t(5));
        let c = conditions(&all_ok(), &sms_ok(), std::slice::from_ref(&foreign), Some(1), t(10));
        assert!(c.contains(&foreign));
    }

    #[test]
    fn production_ready_needs_ready_sandbox_exit_spend_and_us_identity() {
        let ready = all_ok().ready();
        assert_eq!(sms_ok().production_ready(&ready).status, ConditionStatus::True);
        let mut in_sandbox = sms_ok();
        in_sandbox.sandbox = Finding::failed("InSandbox", "in the sandbox");
        let f = in_sandbox.production_ready(&ready);
        assert_eq!((f.status, f.reason), (ConditionStatus::False, "InSandbox"));
        assert_eq!(f.message, "SandboxExited: in the sandbox");
        let mut low = sms_ok();
        low.spend_limit = Finding::failed("SpendLimitTooLow", "1");
        assert_eq!(low.production_ready(&ready).reason, "SpendLimitTooLow");
        let mut no_us = sms_ok();
        no_us.origination = Finding::failed("NoUsOriginationIdentity", "none");
        assert_eq!(no_us.production_ready(&ready).reason, "NoUsOriginationIdentity");
        let mut pending = sms_ok();
        pending.phone_numbers = Finding::failed("AwaitingCode", "waiting");
        assert_eq!(
            pending.production_ready(&ready).status,
            ConditionStatus::True,
            "verification is a sandbox matter"
        );
        let mut broken = all_ok();
        broken.role = Finding::failed(reasons::ROLE_NAME_CONFLICT, "conflict");
        assert_eq!(
            sms_ok().production_ready(&broken.ready()).reason,
            reasons::ROLE_NAME_CONFLICT
        );
    }

    #[test]
    fn messages_are_one_line() {
        let f = Finding::failed(reasons::AWS_ERROR, "line one\n  line two");
        assert_eq!(to_condition("X", &f, &[], None, t(1)).message, "line one line two");
    }

    #[test]
    fn a_new_condition_reads_back_exactly_as_it_was_written() {
        let now: Timestamp = "2026-11-26T22:39:40.123456789Z".parse().unwrap();
        let c = to_condition(types::READY, &Finding::ok(reasons::READY, "ok"), &[], Some(1), now);
        let read_back: Condition = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(read_back, c);
        assert_eq!(c.last_transition_time.0.to_string(), "2026-11-26T22:39:40Z");
    }
}
