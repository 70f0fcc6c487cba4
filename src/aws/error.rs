//! One error type for every AWS call, classified so the reconciler knows whether retrying soon
//! can help (recoverable) or only a change by a person can (terminal).

use std::fmt;

use aws_runtime::retries::classifiers::THROTTLING_ERRORS;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The resource does not exist (adapters usually turn this into `None`).
    NotFound,
    /// AWS asked us to slow down.
    Throttled,
    /// The operator's credentials may not do this.
    AccessDenied,
    /// The operator's credentials were refused as credentials: expired, unknown or signed wrong.
    /// Credentials are refreshed (a projected token, an instance role), so this passes.
    Credentials,
    /// AWS rejected the request as invalid; retrying the same request will not help.
    InvalidRequest,
    /// Cognito cannot yet use a role that was just created or changed.
    IamPropagation,
    /// No usable answer: network or a server-side error.
    Unavailable,
    /// No answer in time: the connection, an attempt or the whole call timed out.
    TimedOut,
    Other,
}

impl ErrorKind {
    /// Terminal errors need a person (permissions, an invalid request); retrying them quickly
    /// only adds load, so they are retried on the resync period instead of with backoff.
    pub fn is_terminal(self) -> bool {
        matches!(self, ErrorKind::AccessDenied | ErrorKind::InvalidRequest)
    }

    /// Whether the call may have taken effect although it failed: the answer never came or could
    /// not be read. A refusal (throttling, access, validation) means it did not.
    pub fn may_have_taken_effect(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::TimedOut | ErrorKind::Other)
    }

    /// Bounded label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Throttled => "throttled",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Credentials => "credentials",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::IamPropagation => "iam_propagation",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Other => "other",
        }
    }

    pub fn from_code(code: &str) -> Self {
        match code {
            "NoSuchEntity" | "ResourceNotFoundException" | "ResourceNotFound" | "NotFound" | "UserPoolNotFound" => {
                ErrorKind::NotFound
            }
            // Throttling is what the SDK's retry classifier takes for it, which also paces the
            // client-side rate limiter.
            code if THROTTLING_ERRORS.contains(&code) => ErrorKind::Throttled,
            "AccessDenied"
            | "AccessDeniedException"
            | "NotAuthorizedException"
            | "AuthorizationError"
            | "UnauthorizedOperation" => ErrorKind::AccessDenied,
            "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "RequestExpired" => ErrorKind::Credentials,
            "InvalidSmsRoleTrustRelationshipException" | "InvalidSmsRoleAccessPolicyException" => {
                ErrorKind::IamPropagation
            }
            "ValidationError"
            | "ValidationException"
            | "InvalidParameterException"
            | "InvalidParameter"
            | "InvalidInput"
            | "MalformedPolicyDocument"
            | "LimitExceeded"
            | "EntityAlreadyExists"
            | "UnmodifiableEntity"
            | "DeleteConflict"
            | "UserError"
            | "OptedOut"
            | "ConflictException"
            | "ServiceQuotaExceededException" => ErrorKind::InvalidRequest,
            "InternalFailure"
            | "InternalError"
            | "InternalErrorException"
            | "ServiceFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalServerException" => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }
}

impl ErrorKind {
    /// The kind of an error answer that names no code.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => ErrorKind::Throttled,
            401 | 403 => ErrorKind::AccessDenied,
            404 => ErrorKind::NotFound,
            // A successful status with an answer that could not be read: a broken response.
            200..=299 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed AWS call: which one, how to treat it, and AWS's own words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {operation} failed: {code}{}: {message}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub code: String,
    /// The error's `Reason`, where the API gives one (End User Messaging does).
    pub reason: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn new(
        service: &'static str,
        operation: &'static str,
        kind: ErrorKind,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            service,
            operation,
            kind,
            code: code.to_string(),
            reason: None,
            message: message.into(),
        }
    }

    pub fn from_sdk<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let reason = match &err {
            SdkError::ServiceError(service_err) => reason_in(service_err.raw()),
            _ => None,
        };
        let (kind, code, message) = classify(&err);
        Self {
            service,
            operation,
            kind,
            code,
            reason,
            message,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

/// What kind of failure an SDK error is, its code and its message.
fn classify<E>(err: &SdkError<E, HttpResponse>) -> (ErrorKind, String, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let status = service_err.raw().status().as_u16();
            let message = e.message().unwrap_or("").to_string();
            match e.code() {
                Some(code) => (ErrorKind::from_code(code), code.to_string(), message),
                // An answer without an error code: only its HTTP status says what happened.
                None => (ErrorKind::from_status(status), format!("HTTP{status}"), message),
            }
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::TimedOut,
            "Timeout".into(),
            "no answer within the call's timeout".into(),
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() => (
            ErrorKind::TimedOut,
            "Timeout".into(),
            format!(
                "no answer in time: {}",
                source_chain(&err).unwrap_or_else(|| format!("{d:?}"))
            ),
        ),
        SdkError::DispatchFailure(d) => (
            ErrorKind::Unavailable,
            "DispatchFailure".into(),
            format!(
                "could not reach AWS: {}",
                source_chain(&err).unwrap_or_else(|| format!("{d:?}"))
            ),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Unavailable,
            "ResponseError".into(),
            source_chain(&err).unwrap_or_else(|| "unreadable response".into()),
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorKind::InvalidRequest,
            "ConstructionFailure".into(),
            source_chain(&err).unwrap_or_else(|| "request could not be built".into()),
        ),
        _ => (ErrorKind::Other, "Unknown".into(), err.to_string()),
    }
}

/// The `Reason` member of a JSON error body (End User Messaging's errors carry one).
fn reason_in(response: &HttpResponse) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(response.body().bytes()?).ok()?;
    body.get("Reason")
        .or_else(|| body.get("reason"))?
        .as_str()
        .map(String::from)
}

fn source_chain(err: &dyn std::error::Error) -> Option<String> {
    let mut parts = vec![];
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(ErrorKind::from_code("NoSuchEntity"), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_code("Throttling"), ErrorKind::Throttled);
        assert_eq!(
            ErrorKind::from_code("InvalidSmsRoleTrustRelationshipException"),
            ErrorKind::IamPropagation
        );
        assert_eq!(
            ErrorKind::from_code("InvalidSmsRoleAccessPolicyException"),
            ErrorKind::IamPropagation
        );
        assert!(ErrorKind::from_code("AccessDenied").is_terminal());
        assert!(!ErrorKind::from_code("Throttling").is_terminal());
        assert!(!ErrorKind::from_code("InvalidSmsRoleTrustRelationshipException").is_terminal());
        assert!(!ErrorKind::from_code("SomethingNew").is_terminal());
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::Throttled);
    }

    #[test]
    fn refused_credentials_pass_and_throttling_is_the_sdks_call() {
        for code in [
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
        ] {
            let kind = ErrorKind::from_code(code);
            assert_eq!(kind, ErrorKind::Credentials, "{code}");
            assert!(!kind.is_terminal(), "{code} is retried with backoff");
        }
        for code in THROTTLING_ERRORS {
            assert_eq!(ErrorKind::from_code(code), ErrorKind::Throttled, "{code}");
        }
        assert_eq!(ErrorKind::from_code("RequestThrottledException"), ErrorKind::Throttled);
    }
}
