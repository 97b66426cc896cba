//! How bookings are shown, the same in every part of the gateway: names of
//! statuses and channels in the APIs, German labels and dates on the pages,
//! times in the office's zone.

use crate::i18n;
use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// A status as the APIs name it.
pub fn status_name(status: booking::BookingStatus) -> &'static str {
    match status {
        booking::BookingStatus::Pending => "pending",
        booking::BookingStatus::CheckedIn => "checked_in",
        booking::BookingStatus::Called => "called",
        booking::BookingStatus::Completed => "completed",
        booking::BookingStatus::NoShow => "no_show",
        booking::BookingStatus::Cancelled => "cancelled",
        booking::BookingStatus::Booked | booking::BookingStatus::Unspecified => "booked",
    }
}

/// Every status a booking can have, as the APIs list them.
pub const STATUSES: [booking::BookingStatus; 7] = [
    booking::BookingStatus::Pending,
    booking::BookingStatus::Booked,
    booking::BookingStatus::CheckedIn,
    booking::BookingStatus::Called,
    booking::BookingStatus::Completed,
    booking::BookingStatus::NoShow,
    booking::BookingStatus::Cancelled,
];

/// Every channel a booking comes through.
pub const CHANNELS: [availability::Channel; 3] = [
    availability::Channel::Online,
    availability::Channel::Foyer,
    availability::Channel::Phone,
];

/// The status an API name stands for, among those staff may set (a
/// booking only becomes `pending` by being made so).
pub fn parse_status(name: &str) -> Option<booking::BookingStatus> {
    STATUSES
        .into_iter()
        .filter(|status| *status != booking::BookingStatus::Pending)
        .find(|status| status_name(*status) == name)
}

/// A status as the pages name it.
pub fn status_label(status: booking::BookingStatus) -> &'static str {
    match status {
        booking::BookingStatus::Pending => "noch nicht bestätigt",
        // Not "angemeldet": in a registration office that means a residence.
        booking::BookingStatus::CheckedIn => "eingetroffen",
        booking::BookingStatus::Called => "aufgerufen",
        booking::BookingStatus::Completed => "erledigt",
        booking::BookingStatus::NoShow => "nicht erschienen",
        booking::BookingStatus::Cancelled => "abgesagt",
        booking::BookingStatus::Booked | booking::BookingStatus::Unspecified => "gebucht",
    }
}

/// A channel as the APIs name it.
pub fn channel_name(channel: availability::Channel) -> &'static str {
    match channel {
        availability::Channel::Foyer => "foyer",
        availability::Channel::Phone => "phone",
        availability::Channel::Online | availability::Channel::Unspecified => "online",
    }
}

/// An instant of a service's answer (the epoch if it sent none).
pub fn instant(value: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    value.and_then(timestamp::from_proto).unwrap_or_default()
}

/// Start and end of a booking.
pub fn times(booking: &booking::Booking) -> (DateTime<Utc>, DateTime<Utc>) {
    (instant(booking.start.as_ref()), instant(booking.end.as_ref()))
}

/// RFC 3339 with the office's local offset, e.g. `2026-11-25T08:00:00+01:00`.
pub fn local(instant: DateTime<Utc>, tz: Tz) -> String {
    instant.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// "Donnerstag, 3. Dezember 2026, 08:20 bis 08:40 Uhr".
pub fn when(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (start, end) = (start.with_timezone(&tz), end.with_timezone(&tz));
    let lang = i18n::current();
    format!(
        "{}, {}",
        i18n::long_date(start.date_naive()),
        lang.t2(
            "booking.from_to",
            ("from", &start.format("%H:%M")),
            ("to", &end.format("%H:%M"))
        )
    )
}

/// "Donnerstag, 3. Dezember 2026, 08:20 Uhr".
pub fn at(start: DateTime<Utc>, tz: Tz) -> String {
    let start = start.with_timezone(&tz);
    format!(
        "{}, {}",
        i18n::long_date(start.date_naive()),
        i18n::current().t1("booking.at", "time", start.format("%H:%M"))
    )
}

/// "Personalausweis beantragen (2 Personen), Meldebescheinigung".
pub fn describe(office: &OfficeCatalogue, ids: &[String]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for id in ids {
        match counted.iter_mut().find(|(known, _)| known == id) {
            Some((_, count)) => *count += 1,
            None => counted.push((id, 1)),
        }
    }
    counted
        .iter()
        .map(|(id, count)| {
            let name = office.concern(id).map_or(*id, |concern| concern.name.as_str());
            if *count > 1 {
                format!("{name} ({})", i18n::current().t1("booking.persons", "count", count))
            } else {
                name.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A concern of an appointment with what to bring and what it costs.
pub struct ConcernDocuments {
    pub name: String,
    pub documents: Vec<String>,
    pub fee: Option<String>,
}

/// The documents and fees of an appointment's concerns, each concern once
/// (two persons bring the same kinds of papers).
pub fn concern_documents(office: &OfficeCatalogue, ids: &[String]) -> Vec<ConcernDocuments> {
    let mut concerns: Vec<ConcernDocuments> = Vec::new();
    for concern in office.concerns(ids) {
        if concerns.iter().any(|known| known.name == concern.name) {
            continue;
        }
        concerns.push(ConcernDocuments {
            name: concern.name.clone(),
            documents: concern.required_documents.clone(),
            fee: (!concern.fee.is_empty()).then(|| concern.fee.clone()),
        });
    }
    concerns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_name_reads_back() {
        for name in ["booked", "checked_in", "completed", "no_show", "cancelled"] {
            assert_eq!(parse_status(name).map(status_name), Some(name));
        }
        assert_eq!(parse_status("gone"), None);
    }
}
