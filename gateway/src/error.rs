//! The one error type of the gateway's APIs: an [`ErrorCode`] (whose table
//! gives the HTTP status) and a message, answered as the JSON body
//! `{"error":{"code","message"}}`. The codes are stable and listed in the
//! README.

use amtstermin_platform::ErrorCode;
use amtstermin_platform::telemetry::error_chain;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds after which trying again makes sense (`Retry-After`).
    pub retry_after: Option<u64>,
    /// The proof of work to solve (with `challenge_required`).
    pub challenge: Option<Box<altcha_lib_rs::Challenge>>,
}

/// What an outage tells clients to wait before trying again.
const OUTAGE_RETRY_SECONDS: u64 = 5;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retry_after = (code == ErrorCode::ServiceUnavailable).then_some(OUTAGE_RETRY_SECONDS);
        Self {
            code,
            message: message.into(),
            retry_after,
            challenge: None,
        }
    }

    pub fn with_challenge(mut self, challenge: altcha_lib_rs::Challenge) -> Self {
        self.challenge = Some(Box::new(challenge));
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn booking_not_found() -> Self {
        Self::new(ErrorCode::BookingNotFound, "no booking with this code and token")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// A service's answer: its verdict on the request passes through; its
/// failures are logged and answered without their details.
impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        match ErrorCode::of(&status) {
            ErrorCode::ServiceUnavailable => {
                tracing::warn!(code = ?status.code(), message = status.message(), "service unavailable");
                Self::new(
                    ErrorCode::ServiceUnavailable,
                    "a service is unavailable, please try again shortly",
                )
            }
            ErrorCode::Internal => {
                tracing::error!(code = ?status.code(), error = %error_chain(&status), "service failed");
                Self::new(ErrorCode::Internal, "an internal error occurred")
            }
            code => {
                let error = Self::new(code, status.message());
                match amtstermin_platform::error_code::retry_after(&status) {
                    Some(seconds) => error.retry_after(seconds),
                    None => error,
                }
            }
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
struct Detail<'a> {
    #[schema(schema_with = crate::openapi::error_code_schema)]
    code: &'static str,
    /// For people: what to change, in English.
    message: &'a str,
    /// With `challenge_required`: the proof of work to solve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::challenge::ChallengeDoc>)]
    challenge: Option<&'a altcha_lib_rs::Challenge>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code.as_str(),
                message: &self.message,
                challenge: self.challenge.as_deref(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == ErrorCode::PayloadTooLarge {
            // The rest of the body stays unread, so the connection cannot
            // carry another request: say so, or a client reusing it fails.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
