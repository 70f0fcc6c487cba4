//! One error type for every AWS call, classified so the plan knows whether retrying soon can
//! help (recoverable) or only a change by a person can (terminal). The AWS adapters classify the
//! SDK's errors into it.

use std::fmt;

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

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}
