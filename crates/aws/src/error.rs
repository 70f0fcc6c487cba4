//! Classification of the SDK's errors into the core's [`AwsError`]: whether retrying soon can
//! help (recoverable) or only a change by a person can (terminal).

use aws_runtime::retries::classifiers::THROTTLING_ERRORS;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ErrorKind as RetryKind, ProvideErrorKind};

pub use cognito_sms_core::error::{AwsError, ErrorKind};

/// The kind of an error answer with `code`: by the code where it says what the reconciler must
/// know, else as the SDK would retry it (the error's modeled retry kind, its HTTP status).
fn kind_of_answer(code: &str, modeled: Option<RetryKind>, status: u16) -> ErrorKind {
    match (kind_of_code(code), modeled) {
        (ErrorKind::Other, Some(RetryKind::ThrottlingError)) => ErrorKind::Throttled,
        (ErrorKind::Other, Some(RetryKind::ServerError | RetryKind::TransientError)) => ErrorKind::Unavailable,
        (ErrorKind::Other, _) if (500..=599).contains(&status) => ErrorKind::Unavailable,
        (kind, _) => kind,
    }
}

/// The kind of an error answer, by its code.
///
/// A table of codes across services, kept rather than taken from the SDK's typed errors: those
/// are per operation, and mark only some errors retryable (IAM's `ServiceFailure` is not), while
/// the reconciler needs the same kinds for every service (not found, refused credentials, IAM
/// propagation). Throttling is the SDK's own list; unknown codes fall back on the SDK's retry
/// classification.
pub fn kind_of_code(code: &str) -> ErrorKind {
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
        "InvalidSmsRoleTrustRelationshipException" | "InvalidSmsRoleAccessPolicyException" => ErrorKind::IamPropagation,
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

/// The kind of an error answer that names no code.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled,
        401 | 403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        // A successful status with an answer that could not be read: a broken response.
        200..=299 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// The error of a failed call `operation` of `service`, classified.
pub fn from_sdk<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    let reason = match &err {
        SdkError::ServiceError(service_err) => reason_in(service_err.raw()),
        _ => None,
    };
    let (kind, code, message) = classify(&err);
    AwsError {
        service,
        operation,
        kind,
        code,
        reason,
        message,
    }
}

/// What kind of failure an SDK error is, its code and its message.
fn classify<E>(err: &SdkError<E, HttpResponse>) -> (ErrorKind, String, String)
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let status = service_err.raw().status().as_u16();
            let message = e.message().unwrap_or("").to_string();
            match ProvideErrorMetadata::code(e) {
                Some(code) => (
                    kind_of_answer(code, e.retryable_error_kind(), status),
                    code.to_string(),
                    message,
                ),
                // An answer without an error code: only its HTTP status says what happened.
                None => (kind_of_status(status), format!("HTTP{status}"), message),
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
        assert_eq!(kind_of_code("NoSuchEntity"), ErrorKind::NotFound);
        assert_eq!(kind_of_code("Throttling"), ErrorKind::Throttled);
        assert_eq!(
            kind_of_code("InvalidSmsRoleTrustRelationshipException"),
            ErrorKind::IamPropagation
        );
        assert_eq!(
            kind_of_code("InvalidSmsRoleAccessPolicyException"),
            ErrorKind::IamPropagation
        );
        assert!(kind_of_code("AccessDenied").is_terminal());
        assert!(!kind_of_code("Throttling").is_terminal());
        assert!(!kind_of_code("InvalidSmsRoleTrustRelationshipException").is_terminal());
        assert!(!kind_of_code("SomethingNew").is_terminal());
        assert_eq!(kind_of_status(503), ErrorKind::Unavailable);
        assert_eq!(kind_of_status(429), ErrorKind::Throttled);
    }

    #[test]
    fn unknown_codes_are_classified_as_the_sdk_retries_them() {
        assert_eq!(
            kind_of_answer("NewThrottle", Some(RetryKind::ThrottlingError), 400),
            ErrorKind::Throttled
        );
        assert_eq!(kind_of_answer("NewFailure", None, 502), ErrorKind::Unavailable);
        assert_eq!(kind_of_answer("NewRefusal", None, 400), ErrorKind::Other);
        assert_eq!(kind_of_answer("AccessDenied", None, 500), ErrorKind::AccessDenied);
    }

    #[test]
    fn refused_credentials_pass_and_throttling_is_the_sdks_call() {
        for code in [
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
        ] {
            let kind = kind_of_code(code);
            assert_eq!(kind, ErrorKind::Credentials, "{code}");
            assert!(!kind.is_terminal(), "{code} is retried with backoff");
        }
        for code in THROTTLING_ERRORS {
            assert_eq!(kind_of_code(code), ErrorKind::Throttled, "{code}");
        }
        assert_eq!(kind_of_code("RequestThrottledException"), ErrorKind::Throttled);
    }
}
