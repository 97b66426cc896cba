//! The stable, documented error codes of amtstermin, in one table with the
//! gRPC status code and the HTTP status each one travels as.
//!
//! gRPC codes are coarse (`FAILED_PRECONDITION` covers many situations), so
//! every status a service sends also carries its `ErrorCode` in the
//! `amtstermin-error-code` metadata; the gateway reads it back and answers
//! with the HTTP status of the same table and the JSON body
//! `{"error":{"code","message"}}`. No code is ever compared as a string
//! outside this module.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

pub const ERROR_CODE_METADATA: &str = "amtstermin-error-code";

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $grpc:ident, $http:literal;)+) => {
        /// Every error code a client of amtstermin can see.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as clients read it, e.g. `slot_taken`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            /// The gRPC status code it travels with.
            pub fn grpc(self) -> Code {
                match self {
                    $(ErrorCode::$variant => Code::$grpc,)+
                }
            }

            /// The HTTP status the gateway answers with.
            pub fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $http,)+
                }
            }
        }
    };
}

error_codes! {
    // 400: the request itself is wrong.
    MalformedJson => "malformed_json", InvalidArgument, 400;
    InvalidRequest => "invalid_request", InvalidArgument, 400;
    InvalidBody => "invalid_body", InvalidArgument, 400;
    InvalidPath => "invalid_path", InvalidArgument, 400;
    InvalidQuery => "invalid_query", InvalidArgument, 400;
    InvalidArgument => "invalid_argument", InvalidArgument, 400;
    InvalidDate => "invalid_date", InvalidArgument, 400;
    InvalidStart => "invalid_start", InvalidArgument, 400;
    InvalidName => "invalid_name", InvalidArgument, 400;
    InvalidEmail => "invalid_email", InvalidArgument, 400;
    InvalidPhone => "invalid_phone", InvalidArgument, 400;
    InvalidActor => "invalid_actor", InvalidArgument, 400;
    InvalidIdempotencyKey => "invalid_idempotency_key", InvalidArgument, 400;
    ConcernsRequired => "concerns_required", InvalidArgument, 400;
    TooManyConcerns => "too_many_concerns", InvalidArgument, 400;
    TooManyPersons => "too_many_persons", InvalidArgument, 400;
    ConcernsNotCombinable => "concerns_not_combinable", InvalidArgument, 400;
    InvalidConfiguration => "invalid_configuration", InvalidArgument, 400;
    // The staff API's answer to a status name it does not know; it shares its
    // name with `InvalidStatus` (409) for compatibility, and never travels
    // over gRPC, so reading a code back always yields `InvalidStatus`.
    UnknownStatus => "invalid_status", InvalidArgument, 400;
    Unauthorized => "unauthorized", Unauthenticated, 401;
    Forbidden => "forbidden", PermissionDenied, 403;
    // 404: nothing under that name (or no access to it, alike).
    NotFound => "not_found", NotFound, 404;
    OfficeNotFound => "office_not_found", NotFound, 404;
    ConcernNotFound => "concern_not_found", NotFound, 404;
    BookingNotFound => "booking_not_found", NotFound, 404;
    CounterNotFound => "counter_not_found", NotFound, 404;
    AbsenceNotFound => "absence_not_found", NotFound, 404;
    NobodyWaiting => "nobody_waiting", NotFound, 404;
    WaitlistEntryNotFound => "waitlist_entry_not_found", NotFound, 404;
    OfferNotFound => "offer_not_found", NotFound, 404;
    WebhookNotFound => "webhook_not_found", NotFound, 404;
    CalendarFeedNotFound => "calendar_feed_not_found", NotFound, 404;
    ConfigurationChangeNotFound => "configuration_change_not_found", NotFound, 404;
    StaffAccountNotFound => "staff_account_not_found", NotFound, 404;
    MethodNotAllowed => "method_not_allowed", Unimplemented, 405;
    RequestTimeout => "request_timeout", DeadlineExceeded, 408;
    // 409: the request is fine, the state of things refuses it.
    Conflict => "conflict", FailedPrecondition, 409;
    SlotUnavailable => "slot_unavailable", FailedPrecondition, 409;
    SlotTaken => "slot_taken", Aborted, 409;
    LimitReached => "limit_reached", FailedPrecondition, 409;
    OfferExpired => "offer_expired", FailedPrecondition, 409;
    InvalidTransition => "invalid_transition", FailedPrecondition, 409;
    InvalidStatus => "invalid_status", FailedPrecondition, 409;
    // Someone saved the office's configuration since it was read.
    ConfigurationConflict => "configuration_conflict", Aborted, 409;
    OfficeHasBookings => "office_has_bookings", FailedPrecondition, 409;
    StaffAccountExists => "staff_account_exists", FailedPrecondition, 409;
    PayloadTooLarge => "payload_too_large", InvalidArgument, 413;
    UriTooLong => "uri_too_long", InvalidArgument, 414;
    HeadersTooLarge => "headers_too_large", InvalidArgument, 431;
    IdempotencyKeyReused => "idempotency_key_reused", InvalidArgument, 422;
    // 428: this booking needs a proof of work; the answer carries a challenge.
    ChallengeRequired => "challenge_required", FailedPrecondition, 428;
    // 429: this client asked too often; `Retry-After` says when to try again.
    RateLimited => "rate_limited", ResourceExhausted, 429;
    // The office's quota of online bookings per client address and day.
    QuotaReached => "quota_reached", ResourceExhausted, 429;
    Internal => "internal", Internal, 500;
    ServiceUnavailable => "service_unavailable", Unavailable, 503;
}

/// Seconds after which a refused call makes sense again.
const RETRY_AFTER_METADATA: &str = "amtstermin-retry-after";

/// The seconds a peer said to wait before trying again.
pub fn retry_after(status: &Status) -> Option<u64> {
    status
        .metadata()
        .get(RETRY_AFTER_METADATA)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// The longest status message sent, in bytes.
const MAX_MESSAGE_BYTES: usize = 512;

/// `value` quoted for a message, cut after 64 characters: requests may carry
/// values of any length, messages should not.
pub fn excerpt(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

impl ErrorCode {
    /// The code named `name`, as a peer attached it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|code| *code != ErrorCode::UnknownStatus)
            .find(|code| code.as_str() == name)
    }

    /// A status with this code's gRPC code and the code in its metadata.
    /// The message travels in a header, so it is cut to a sane length (a
    /// request's echoed value must not push it over a peer's header limit).
    pub fn status(self, message: impl Into<String>) -> Status {
        let mut message: String = message.into();
        if message.len() > MAX_MESSAGE_BYTES {
            let cut = (0..=MAX_MESSAGE_BYTES)
                .rev()
                .find(|&at| message.is_char_boundary(at))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        let mut status = Status::new(self.grpc(), message);
        status
            .metadata_mut()
            .insert(ERROR_CODE_METADATA, MetadataValue::from_static(self.as_str()));
        status
    }

    /// As `status`, telling the client to try again after `seconds`.
    pub fn status_retry_after(self, message: impl Into<String>, seconds: u64) -> Status {
        let mut status = self.status(message);
        status
            .metadata_mut()
            .insert(RETRY_AFTER_METADATA, MetadataValue::from(seconds));
        status
    }

    /// The code of a status: the one attached by an amtstermin service, or,
    /// for a status without one (a transport failure, another server), the
    /// closest by its gRPC code.
    pub fn of(status: &Status) -> Self {
        if let Some(code) = status
            .metadata()
            .get(ERROR_CODE_METADATA)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::parse)
        {
            return code;
        }
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::NotFound => ErrorCode::NotFound,
            Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => ErrorCode::Conflict,
            Code::Unauthenticated => ErrorCode::Unauthorized,
            Code::PermissionDenied => ErrorCode::Forbidden,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
                ErrorCode::ServiceUnavailable
            }
            _ => ErrorCode::Internal,
        }
    }

    /// Whether the code tells of a failure on our side (an outage or a bug)
    /// rather than of the request: its message is not for clients.
    pub fn is_failure(self) -> bool {
        matches!(self, ErrorCode::Internal | ErrorCode::ServiceUnavailable)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_do_not_make_long_messages() {
        let long = "x".repeat(20_000);
        let status = ErrorCode::OfficeNotFound.status(format!("unknown office {long}"));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert_eq!(ErrorCode::of(&status), ErrorCode::OfficeNotFound);
        assert_eq!(excerpt("bergkamen"), "\"bergkamen\"");
        assert_eq!(excerpt(&"ä".repeat(100)).chars().count(), 64 + 3);
    }

    #[test]
    fn the_error_code_travels_with_the_status() {
        let status = ErrorCode::SlotTaken.status("taken");
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(ErrorCode::of(&status), ErrorCode::SlotTaken);
        assert_eq!(ErrorCode::of(&Status::internal("x")), ErrorCode::Internal);
        assert_eq!(
            ErrorCode::of(&Status::unavailable("down")),
            ErrorCode::ServiceUnavailable
        );
        assert_eq!(ErrorCode::of(&Status::not_found("x")), ErrorCode::NotFound);
    }

    #[test]
    fn names_read_back_to_their_code() {
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
            let parsed = ErrorCode::parse(name).expect("known");
            // Only the staff API's local 400 shares its name with another code.
            if *code != ErrorCode::UnknownStatus {
                assert_eq!(parsed, *code);
            }
        }
        assert_eq!(ErrorCode::parse("invalid_status"), Some(ErrorCode::InvalidStatus));
        assert_eq!(ErrorCode::parse("nonsense"), None);
    }

    #[test]
    fn http_statuses_follow_the_readme() {
        assert_eq!(ErrorCode::IdempotencyKeyReused.http_status(), 422);
        assert_eq!(ErrorCode::SlotUnavailable.http_status(), 409);
        assert_eq!(ErrorCode::ServiceUnavailable.http_status(), 503);
        assert_eq!(ErrorCode::PayloadTooLarge.http_status(), 413);
    }
}
