//! The one error type of the gateway, mapped once to HTTP status and the
//! JSON body `{"error":{"code","message"}}`. The codes are stable and listed
//! in the README.

use amtstermin_proto::status::error_code;
use amtstermin_proto::telemetry::error_chain;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is malformed or invalid (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Nothing here under that name (404).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("sign in at the desk or send the staff API token")]
    Unauthorized,
    #[error("this account does not work for this office")]
    Forbidden,
    /// A service answered with an error status.
    #[error("{}", .0.message())]
    Service(#[from] tonic::Status),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn booking_not_found() -> Self {
        ApiError::NotFound {
            code: "booking_not_found",
            message: "no booking with this code and token".to_owned(),
        }
    }

    fn status_code_message(&self) -> (StatusCode, String, String) {
        match self {
            ApiError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, (*code).to_owned(), message.clone()),
            ApiError::NotFound { code, message } => (StatusCode::NOT_FOUND, (*code).to_owned(), message.clone()),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large".to_owned(),
                self.to_string(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed".to_owned(),
                self.to_string(),
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".to_owned(), self.to_string()),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden".to_owned(), self.to_string()),
            ApiError::Service(status) => from_status(status),
        }
    }
}

/// gRPC status (with the services' error code) to HTTP.
fn from_status(status: &tonic::Status) -> (StatusCode, String, String) {
    let code = error_code(status);
    let http = match (status.code(), code) {
        (Code::InvalidArgument, Some("idempotency_key_reused")) => StatusCode::UNPROCESSABLE_ENTITY,
        (Code::InvalidArgument | Code::OutOfRange, _) => StatusCode::BAD_REQUEST,
        (Code::NotFound, _) => StatusCode::NOT_FOUND,
        (Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists, _) => StatusCode::CONFLICT,
        (Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled, _) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "service unavailable");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable".to_owned(),
                "a service is unavailable, please try again shortly".to_owned(),
            );
        }
        _ => {
            tracing::error!(code = ?status.code(), error = %error_chain(status), "service failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal".to_owned(),
                "an internal error occurred".to_owned(),
            );
        }
    };
    let fallback = match http {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        _ => "invalid_argument",
    };
    (http, code.unwrap_or(fallback).to_owned(), status.message().to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_message();
        (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
    }
}
