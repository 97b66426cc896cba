//! What the pages tell people about an error, in German: one table for
//! every code a page can meet.

use amtstermin_platform::ErrorCode;

/// The sentence a page shows for `code`.
pub fn german(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ConcernsRequired => "Bitte wählen Sie mindestens ein Anliegen aus.",
        ErrorCode::TooManyConcerns => "Für einen Termin können Sie höchstens 10 Anliegen oder Personen wählen.",
        ErrorCode::TooManyPersons => {
            "Für eines der Anliegen haben Sie mehr Personen gewählt, als für einen Termin möglich sind."
        }
        ErrorCode::ConcernsNotCombinable => {
            "Diese Anliegen werden nicht am selben Schalter bearbeitet. Bitte buchen Sie dafür getrennte Termine."
        }
        ErrorCode::ConcernNotFound => "Eines der gewählten Anliegen gibt es nicht mehr.",
        ErrorCode::InvalidName => "Bitte geben Sie Ihren Namen in Buchstaben an (höchstens 200 Zeichen).",
        ErrorCode::InvalidEmail => "Bitte geben Sie eine E-Mail-Adresse wie name@beispiel.de an.",
        ErrorCode::InvalidPhone => "Die Telefonnummer darf nur Ziffern, Leerzeichen und + - / ( ) enthalten.",
        ErrorCode::LimitReached => {
            "Mit dieser E-Mail-Adresse sind schon so viele Termine gebucht, wie möglich sind. \
             Bitte sagen Sie zuerst einen anderen Termin ab."
        }
        ErrorCode::SlotUnavailable | ErrorCode::SlotTaken => {
            "Diese Zeit ist leider nicht mehr frei. Bitte wählen Sie eine andere Zeit."
        }
        ErrorCode::InvalidTransition | ErrorCode::InvalidStatus => "Diese Änderung ist nicht möglich.",
        ErrorCode::BookingNotFound => {
            "Zu diesem Link gibt es keinen Termin. Bitte prüfen Sie, ob Sie den Link aus Ihrer Bestätigung \
             vollständig übernommen haben."
        }
        ErrorCode::OfficeNotFound => "Dieses Amt gibt es hier nicht.",
        ErrorCode::ServiceUnavailable => {
            "Die Terminvergabe ist gerade nicht erreichbar. Bitte versuchen Sie es in einigen Minuten noch einmal."
        }
        ErrorCode::RateLimited | ErrorCode::QuotaReached => {
            "Von Ihrem Anschluss kamen zu viele Anfragen oder Buchungen. Bitte warten Sie etwas."
        }
        ErrorCode::ChallengeRequired => {
            "Ihr Browser bestätigt noch, dass hier ein Mensch bucht. Bitte senden Sie das Formular in einem \
             Moment noch einmal (dafür braucht diese Seite JavaScript)."
        }
        ErrorCode::Internal => "Ein Fehler ist aufgetreten. Bitte versuchen Sie es später noch einmal.",
        code if code.http_status() == 404 => "Die gesuchte Seite gibt es nicht.",
        _ => "Diese Anfrage ist ungültig.",
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
    let minutes = seconds.div_ceil(60);
    let wait = match minutes {
        0 | 1 => "eine Minute".to_owned(),
        2..120 => format!("{minutes} Minuten"),
        _ => format!("etwa {} Stunden", minutes.div_ceil(60)),
    };
    format!(
        "Von Ihrem Anschluss kamen in kurzer Zeit sehr viele Anfragen oder Buchungen. Bitte warten Sie \
         {wait} und versuchen Sie es dann noch einmal. Ihre bereits gebuchten Termine bleiben bestehen."
    )
}

/// Tells a locked-out person when to try signing in again.
pub fn wait_for_sign_in(seconds: u64) -> String {
    let wait = match seconds.div_ceil(60) {
        0 | 1 => "einer Minute".to_owned(),
        minutes => format!("{minutes} Minuten"),
    };
    format!("Zu viele Fehlversuche. Bitte versuchen Sie es in {wait} noch einmal.")
}
