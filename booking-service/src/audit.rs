//! The audit log: who did what, when, in the administration and at the desk.
//! Events of the booking service itself, of the availability service (its
//! configuration changes) and of the gateway (sign-ins, absences) are
//! stored here; the bookings' own history (statuses, moves, walk-ins by
//! staff) is read with them, so nothing is written twice.

use amtstermin_platform::ErrorCode;
use chrono::{DateTime, Utc};

use crate::error::Error;

/// What can be recorded from outside (the booking service records the rest
/// itself).
pub const RECORDABLE: [&str; 4] = [
    "staff.signed_in",
    "staff.signed_out",
    "absence.added",
    "absence.removed",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub office_id: String,
    /// Unique per office; the same for an event recorded twice.
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// e.g. "configuration.changed", "booking.cancelled".
    pub action: String,
    /// What it concerns: a booking code, a version, a login, an id.
    pub subject: String,
    pub detail: String,
}

fn text(field: &str, value: &str, longest: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.chars().count() > longest || value.chars().any(char::is_control) {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidArgument,
            message: format!("{field} must be at most {longest} characters of text"),
        });
    }
    Ok(value.to_owned())
}

/// An event recorded from outside, checked; a new id.
pub fn recorded(
    office_id: &str,
    (actor, action): (&str, &str),
    (subject, detail): (&str, &str),
    at: DateTime<Utc>,
) -> Result<AuditEvent, Error> {
    if !RECORDABLE.contains(&action) {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidArgument,
            message: format!("action must be one of {}", RECORDABLE.join(", ")),
        });
    }
    let actor = text("actor", actor, 100)?;
    if actor.is_empty() {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidArgument,
            message: "actor must name who acted".to_owned(),
        });
    }
    Ok(AuditEvent {
        office_id: office_id.to_owned(),
        id: crate::webhooks::new_message_id(at)?,
        at,
        actor,
        action: action.to_owned(),
        subject: text("subject", subject, 200)?,
        detail: text("detail", detail, 500)?,
    })
}

/// An event of this service, with a fresh id.
pub fn event(
    office_id: &str,
    (actor, action): (&str, &str),
    subject: &str,
    at: DateTime<Utc>,
) -> Result<AuditEvent, Error> {
    Ok(AuditEvent {
        office_id: office_id.to_owned(),
        id: crate::webhooks::new_message_id(at)?,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_events_are_recorded_from_outside() {
        let at = Utc::now();
        let event = recorded("amt", ("eva", "staff.signed_in"), ("", ""), at).expect("valid");
        assert_eq!(
            (event.action.as_str(), event.actor.as_str()),
            ("staff.signed_in", "eva")
        );
        assert!(recorded("amt", ("eva", "booking.cancelled"), ("", ""), at).is_err());
        assert!(recorded("amt", ("", "staff.signed_in"), ("", ""), at).is_err());
        assert!(recorded("amt", ("eva", "absence.added"), ("p1", "a\nb"), at).is_err());
    }
}
