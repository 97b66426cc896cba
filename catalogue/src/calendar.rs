//! iCalendar (RFC 5545): the export of a booking, so citizens can put the
//! appointment into their calendar, and the feeds of an office's or a
//! counter's coming bookings that staff calendars subscribe to.

use std::fmt::Write;

use chrono::{DateTime, Utc};

/// The parts of a booking a calendar event shows.
pub struct Event<'a> {
    pub uid: String,
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    pub cancelled: bool,
}

/// What an appointment's calendar entry shows.
pub struct Appointment<'a> {
    pub code: &'a str,
    /// "en" for English; German otherwise.
    pub language: &'a str,
    pub office_id: &'a str,
    pub office_name: &'a str,
    pub address: &'a str,
    pub concern_names: &'a [&'a str],
    pub documents: &'a [&'a str],
    /// (concern name, fee) of the concerns that cost something.
    pub fees: &'a [(&'a str, &'a str)],
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cancelled: bool,
}

/// The calendar file of an appointment (download and mail attachment alike).
pub fn appointment(appointment: &Appointment<'_>) -> String {
    let (code, bring, fees) = match appointment.language {
        "en" => ("Booking code", "Please bring:", "Fees:"),
        _ => ("Buchungscode", "Bitte mitbringen:", "Gebühren:"),
    };
    let mut description = format!("{code}: {}\n", appointment.code);
    if !appointment.documents.is_empty() {
        description.push_str(bring);
        description.push('\n');
        for document in appointment.documents {
            description.push_str(&format!("- {document}\n"));
        }
    }
    if !appointment.fees.is_empty() {
        description.push_str(fees);
        description.push('\n');
        for (concern, fee) in appointment.fees {
            description.push_str(&format!("- {concern}: {fee}\n"));
        }
    }
    calendar(&Event {
        uid: format!("{}@{}.amtstermin", appointment.code, appointment.office_id),
        created: appointment.created,
        start: appointment.start,
        end: appointment.end,
        summary: &format!("{}: {}", appointment.office_name, appointment.concern_names.join(", ")),
        location: &format!("{}, {}", appointment.office_name, appointment.address),
        description: description.trim_end(),
        cancelled: appointment.cancelled,
    })
}

/// A VCALENDAR with one VEVENT: CRLF line ends, escaped text, lines folded
/// at 75 octets.
pub fn calendar(event: &Event<'_>) -> String {
    feed(std::slice::from_ref(event), None)
}

/// A VCALENDAR with `events`, named `name` for a subscribed calendar.
pub fn feed(events: &[Event<'_>], name: Option<&str>) -> String {
    let stamp = |instant: DateTime<Utc>| instant.format("%Y%m%dT%H%M%SZ").to_string();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//amtstermin//Terminvergabe//DE".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
    ];
    if let Some(name) = name {
        lines.push(format!("X-WR-CALNAME:{}", escape(name)));
    }
    for event in events {
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}", escape(&event.uid)),
            format!("DTSTAMP:{}", stamp(event.created)),
            format!("DTSTART:{}", stamp(event.start)),
            format!("DTEND:{}", stamp(event.end)),
            format!("SUMMARY:{}", escape(event.summary)),
            format!("LOCATION:{}", escape(event.location)),
            format!("DESCRIPTION:{}", escape(event.description)),
            format!("STATUS:{}", if event.cancelled { "CANCELLED" } else { "CONFIRMED" }),
            "TRANSP:OPAQUE".to_owned(),
            "END:VEVENT".to_owned(),
        ]);
    }
    lines.push("END:VCALENDAR".to_owned());
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
    out
}

/// TEXT escaping of RFC 5545 section 3.3.11.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// Folds a content line after at most 75 octets, never inside a UTF-8
/// sequence (section 3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    let _ = out.write_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(description: &'a str) -> Event<'a> {
        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("valid");
        Event {
            uid: "K7MQ-4PXZ@bergkamen.amtstermin".to_owned(),
            created: at(1_795_000_000),
            start: at(1_795_100_000),
            end: at(1_795_101_200),
            summary: "Termin: Personalausweis, Reisepass",
            location: "Rathausplatz 1, 59192 Bergkamen",
            description,
            cancelled: false,
        }
    }

    #[test]
    fn the_calendar_is_well_formed() {
        let ics = calendar(&event("Bitte mitbringen:\n- Ausweis; Foto"));
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
        assert!(ics.contains("\r\nDTSTART:20261119T145320Z\r\n"));
        assert!(ics.contains("SUMMARY:Termin: Personalausweis\\, Reisepass\r\n"));
        assert!(ics.contains("DESCRIPTION:Bitte mitbringen:\\n- Ausweis\\; Foto\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'), "only CRLF line ends");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let long = "Geburtsurkunde – beglaubigte Abschrift äöü ".repeat(6);
        let ics = calendar(&event(&long));
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{long}")));
    }
}
