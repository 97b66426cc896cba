//! What the pages tell people about an error: one table from every code a
//! page can meet to its sentence in the catalogue (`locales/`).

use amtstermin_platform::ErrorCode;

use crate::i18n;

/// The sentence a page shows for `code`, in the request's language.
pub fn text(code: ErrorCode) -> &'static str {
    i18n::current().t(key(code))
}

/// The catalogue key of a code's sentence.
fn key(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ConcernsRequired => "error.concerns_required",
        ErrorCode::TooManyConcerns => "error.too_many_concerns",
        ErrorCode::TooManyPersons => "error.too_many_persons",
        ErrorCode::ConcernsNotCombinable => "error.concerns_not_combinable",
        ErrorCode::ConcernNotFound => "error.concern_not_found",
        ErrorCode::InvalidName => "error.invalid_name",
        ErrorCode::InvalidEmail => "error.invalid_email",
        ErrorCode::InvalidPhone => "error.invalid_phone",
        ErrorCode::LimitReached => "error.limit_reached",
        ErrorCode::SlotUnavailable | ErrorCode::SlotTaken => "error.slot_taken",
        ErrorCode::InvalidTransition | ErrorCode::InvalidStatus => "error.not_possible",
        ErrorCode::BookingNotFound => "error.booking_not_found",
        ErrorCode::WaitlistEntryNotFound => "error.waitlist_entry_not_found",
        ErrorCode::OfferNotFound => "error.offer_not_found",
        ErrorCode::OfferExpired => "error.offer_expired",
        ErrorCode::CalendarFeedNotFound => "error.calendar_feed_not_found",
        ErrorCode::OfficeNotFound => "error.office_not_found",
        ErrorCode::ServiceUnavailable => "error.unavailable",
        ErrorCode::RateLimited | ErrorCode::QuotaReached => "error.rate_limited",
        ErrorCode::ChallengeRequired => "error.challenge_required",
        ErrorCode::Internal => "error.internal",
        code if code.http_status() == 404 => "error.not_found",
        _ => "error.invalid",
    }
}

/// Whether the code says the chosen concerns cannot make one appointment
/// (the start page then shows the problem next to the choice).
pub fn is_selection_problem(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ConcernsRequired
            | ErrorCode::TooManyConcerns
            | ErrorCode::TooManyPersons
            | ErrorCode::ConcernsNotCombinable
            | ErrorCode::ConcernNotFound
    )
}

/// Asks a person to wait before trying again (after a rate limit).
pub fn wait_a_while(seconds: u64) -> String {
    let lang = i18n::current();
    let minutes = seconds.div_ceil(60);
    let wait = match minutes {
        0 | 1 => lang.t("wait.a_minute").to_owned(),
        2..120 => lang.t1("wait.minutes", "minutes", minutes),
        _ => lang.t1("wait.hours", "hours", minutes.div_ceil(60)),
    };
    lang.t1("wait.text", "wait", wait)
}

/// Tells a locked-out person when to try signing in again.
pub fn wait_for_sign_in(seconds: u64) -> String {
    let wait = match seconds.div_ceil(60) {
        0 | 1 => "einer Minute".to_owned(),
        minutes => format!("{minutes} Minuten"),
    };
    format!("Zu viele Fehlversuche. Bitte versuchen Sie es in {wait} noch einmal.")
}
