//! Responses: JSON bodies, the API server's `Status` errors, streamed bodies, and what the
//! `Accept` header asks for.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What a request handler answers: an error is a finished response too.
pub(crate) type Reply = Result<Response, Response>;

/// A failure `Status` object, as the API server sends in error responses and watch `ERROR`s.
pub(crate) fn status_body(code: u16, reason: &str, message: impl Into<String>) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message.into(), "reason": reason, "code": code
    })
}

pub(crate) fn error(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(status_body(code, reason, message))).into_response()
}

/// `400 BadRequest`, for bodies and parameters the server cannot use.
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    error(400, "BadRequest", message)
}

/// The `reason` the API server gives a failure with this HTTP status (`metav1.StatusReason`).
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}

/// The failure an injected fault answers with: the API server's reason for the code, and for
/// `429` its `Retry-After` header and `details.retryAfterSeconds` (1 second unless given).
pub(crate) fn injected(code: u16, verb: &str, resource: &str, retry_after: Option<u64>) -> Response {
    let message = match code {
        409 => format!("Operation cannot be fulfilled on {resource}: injected conflict ({verb})"),
        429 => "Too many requests, please try again later.".to_string(),
        500 => format!("Internal error occurred: injected fault for {verb} {resource}"),
        503 => format!("the server is currently unable to handle the request ({verb} {resource})"),
        504 => format!("Timeout: request did not complete within the allowed duration ({verb} {resource})"),
        _ => format!("injected fault for {verb} {resource}"),
    };
    let mut body = status_body(code, reason(code), message);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code != 429 {
        return (status, axum::Json(body)).into_response();
    }
    let seconds = retry_after.unwrap_or(1);
    body["details"] = json!({"retryAfterSeconds": seconds});
    (status, [(header::RETRY_AFTER, seconds.to_string())], axum::Json(body)).into_response()
}

/// `404 NotFound` for the object `name` of the type `plural`.
pub(crate) fn not_found(plural: &str, name: &str) -> Response {
    error(404, "NotFound", format!("{plural} \"{name}\" not found"))
}

pub(crate) fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A `200` JSON response with `body`, which may be a stream.
pub(crate) fn json_body(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| error(500, "InternalError", "response"))
}

/// Whether the client asked for metadata only (`as=PartialObjectMetadata[List]`).
pub(crate) fn as_metadata(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

/// Whether the client asked for a Table, as `kubectl get` does.
pub(crate) fn as_table(accept: &str) -> bool {
    accept.contains("as=Table")
}
