//! The one error type of the booking service, mapped once to gRPC.

use amtstermin_proto::status::{error_code, with_error_code};
use amtstermin_proto::telemetry::error_chain;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("this Idempotency-Key was already used for a different booking request")]
    IdempotencyKeyReused,
    #[error("no booking with this code and token")]
    NotFound,
    #[error("the slot was taken meanwhile on every counter that could serve it")]
    SlotTaken,
    #[error("this email address already holds {limit} upcoming appointments at this office")]
    LimitReached { limit: u32 },
    #[error("a booking cannot go from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    #[error("only booked appointments can be moved; this one is {0}")]
    NotMovable(&'static str),
    /// The availability service refused or could not answer.
    #[error("availability service: {}", .0.message())]
    Availability(Status),
    #[error(transparent)]
    OpenDatabase(#[from] amtstermin_proto::database::OpenError),
    #[error("the database is not ready yet")]
    NotReady,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let (code, error_code) = match &error {
            Error::Invalid { code, .. } => (Code::InvalidArgument, *code),
            Error::IdempotencyKeyReused => (Code::InvalidArgument, "idempotency_key_reused"),
            Error::NotFound => (Code::NotFound, "booking_not_found"),
            Error::SlotTaken => (Code::Aborted, "slot_taken"),
            Error::LimitReached { .. } => (Code::FailedPrecondition, "limit_reached"),
            Error::InvalidTransition { .. } => (Code::FailedPrecondition, "invalid_transition"),
            Error::NotMovable(_) => (Code::FailedPrecondition, "invalid_status"),
            Error::Availability(status) => return forward(status),
            Error::NotReady => (Code::Unavailable, "service_unavailable"),
            Error::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                tracing::error!(error = %error_chain(&error), "database unreachable");
                (Code::Unavailable, "service_unavailable")
            }
            Error::OpenDatabase(_) | Error::Database(_) | Error::Migration(_) | Error::Internal(_) => {
                tracing::error!(error = %error_chain(&error), "internal error");
                return with_error_code(Code::Internal, "internal", "an internal error occurred");
            }
        };
        with_error_code(code, error_code, error.to_string())
    }
}

/// The availability service's verdicts on the request reach the client as
/// they are; its failures become UNAVAILABLE.
fn forward(status: &Status) -> Status {
    match (status.code(), error_code(status)) {
        (Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition, Some(code)) => {
            with_error_code(status.code(), code, status.message())
        }
        _ => {
            tracing::warn!(code = ?status.code(), message = status.message(), "availability service failed");
            with_error_code(
                Code::Unavailable,
                "service_unavailable",
                "the availability service is unavailable",
            )
        }
    }
}
