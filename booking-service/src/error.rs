//! The one error type of the booking service, mapped once to gRPC.

use amtstermin_platform::ErrorCode;
use amtstermin_platform::telemetry::error_chain;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    #[error("this Idempotency-Key was already used for a different booking request")]
    IdempotencyKeyReused,
    #[error("no booking with this code and token")]
    NotFound,
    #[error("no waitlist entry with this id and secret")]
    EntryNotFound,
    #[error("no such offer of this waitlist entry")]
    OfferNotFound,
    #[error("this office has no webhook with this id")]
    WebhookNotFound,
    #[error("no calendar feed with this address")]
    FeedNotFound,
    #[error("this offer was {0}; its time is no longer held")]
    OfferClosed(&'static str),
    #[error("the slot was taken meanwhile on every counter that could serve it")]
    SlotTaken,
    #[error("nothing is free in the next two weeks")]
    NothingFree,
    #[error("nobody is waiting for this counter")]
    NobodyWaiting,
    #[error("the office has no counter {0:?}")]
    UnknownCounter(String),
    #[error("this email address already holds {limit} upcoming appointments at this office")]
    LimitReached { limit: u32 },
    #[error("this address has made {limit} online bookings at this office within a day")]
    QuotaReached { limit: u32, retry_after: u64 },
    #[error("a booking cannot go from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    #[error("only booked appointments can be moved; this one is {0}")]
    NotMovable(&'static str),
    /// The availability service refused or could not answer.
    #[error("availability service: {}", .0.message())]
    Availability(Status),
    #[error(transparent)]
    OpenDatabase(#[from] amtstermin_platform::database::OpenError),
    #[error("the database is not ready yet")]
    NotReady,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable code clients see (documented in the README).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid { code, .. } => *code,
            Error::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Error::NotFound => ErrorCode::BookingNotFound,
            Error::EntryNotFound => ErrorCode::WaitlistEntryNotFound,
            Error::OfferNotFound => ErrorCode::OfferNotFound,
            Error::WebhookNotFound => ErrorCode::WebhookNotFound,
            Error::FeedNotFound => ErrorCode::CalendarFeedNotFound,
            Error::OfferClosed(_) => ErrorCode::OfferExpired,
            Error::SlotTaken => ErrorCode::SlotTaken,
            Error::NothingFree => ErrorCode::SlotUnavailable,
            Error::NobodyWaiting => ErrorCode::NobodyWaiting,
            Error::UnknownCounter(_) => ErrorCode::CounterNotFound,
            Error::LimitReached { .. } => ErrorCode::LimitReached,
            Error::QuotaReached { .. } => ErrorCode::QuotaReached,
            Error::InvalidTransition { .. } => ErrorCode::InvalidTransition,
            Error::NotMovable(_) => ErrorCode::InvalidStatus,
            Error::Availability(status) => ErrorCode::of(status),
            Error::NotReady => ErrorCode::ServiceUnavailable,
            Error::Database(error) if amtstermin_platform::database::is_outage(error) => ErrorCode::ServiceUnavailable,
            Error::OpenDatabase(_) | Error::Database(_) | Error::Migration(_) | Error::Internal(_) => {
                ErrorCode::Internal
            }
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match (&error, error.code()) {
            (Error::Availability(status), _) => forward(status),
            (Error::NotReady, code) => code.status(error.to_string()),
            (Error::QuotaReached { retry_after, .. }, code) => code.status_retry_after(error.to_string(), *retry_after),
            (_, ErrorCode::ServiceUnavailable) => {
                tracing::error!(error = %error_chain(&error), "database unreachable");
                ErrorCode::ServiceUnavailable.status(error.to_string())
            }
            (_, ErrorCode::Internal) => {
                tracing::error!(error = %error_chain(&error), "internal error");
                ErrorCode::Internal.status("an internal error occurred")
            }
            (_, code) => code.status(error.to_string()),
        }
    }
}

/// The availability service's verdicts on the request reach the client as
/// they are; its failures become UNAVAILABLE.
fn forward(status: &Status) -> Status {
    match ErrorCode::of(status) {
        code if !code.is_failure()
            && matches!(
                code.grpc(),
                Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition
            ) =>
        {
            code.status(status.message())
        }
        _ => {
            tracing::warn!(code = ?status.code(), message = status.message(), "availability service failed");
            ErrorCode::ServiceUnavailable.status("the availability service is unavailable")
        }
    }
}
