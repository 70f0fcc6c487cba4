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
