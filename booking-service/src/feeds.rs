//! Calendar feeds: secret iCalendar addresses of an office's (or one
//! counter's) coming bookings, for staff calendars. What a feed is and
//! which bookings it shows; no I/O (the gateway renders the calendar).

use chrono::{DateTime, Utc};

use crate::bookings::{Booking, Status};

/// How far ahead a feed reaches.
pub const DAYS_AHEAD: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feed {
    pub office_id: String,
    pub id: String,
    /// Empty: the whole office.
    pub counter_id: String,
    /// Whether its events show the citizens' names.
    pub names: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Feed {
    /// What the feed shows of `bookings` at `now`: those of its counter
    /// not cancelled and not over, without contact data, and without names
    /// unless it shows them.
    pub fn shows(&self, bookings: Vec<Booking>, now: DateTime<Utc>) -> Vec<Booking> {
        bookings
            .into_iter()
            .filter(|booking| booking.status != Status::Cancelled && booking.end > now)
            .filter(|booking| self.counter_id.is_empty() || booking.counter_id == self.counter_id)
            .map(|mut booking| {
                booking.email.clear();
                booking.phone.clear();
                if !self.names {
                    booking.name.clear();
                }
                booking
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn booking(code: &str, counter: &str, status: Status, hours: i64) -> Booking {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).single().unwrap_or_default();
        Booking {
            office_id: "amt".into(),
            code: code.into(),
            counter_id: counter.into(),
            concern_ids: vec!["pass".into()],
            start: now + TimeDelta::hours(hours),
            end: now + TimeDelta::hours(hours) + TimeDelta::minutes(20),
            status,
            name: "Erika Mustermann".into(),
            email: "erika@example.de".into(),
            phone: "0170 1".into(),
            channel: crate::bookings::Channel::Online,
            created_at: now,
            confirm_by: None,
            language: "de".into(),
            waiting_number: None,
            called_at: None,
        }
    }

    #[test]
    fn a_feed_shows_the_coming_bookings_of_its_counter_without_contact_data() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).single().unwrap_or_default();
        let all = || {
            vec![
                booking("A", "eins", Status::Booked, 2),
                booking("B", "zwei", Status::Booked, 3),
                booking("C", "eins", Status::Cancelled, 4),
                booking("D", "eins", Status::Completed, -2),
            ]
        };
        let mut feed = Feed {
            office_id: "amt".into(),
            id: "f".into(),
            counter_id: String::new(),
            names: false,
            created_at: now,
            created_by: "admin".into(),
            revoked_at: None,
        };
        let codes = |shown: &[Booking]| shown.iter().map(|booking| booking.code.clone()).collect::<Vec<_>>();
        let office = feed.shows(all(), now);
        assert_eq!(codes(&office), ["A", "B"]);
        assert!(
            office
                .iter()
                .all(|booking| booking.name.is_empty() && booking.email.is_empty())
        );
        feed.counter_id = "eins".into();
        feed.names = true;
        let counter = feed.shows(all(), now);
        assert_eq!(codes(&counter), ["A"]);
        assert_eq!(counter[0].name, "Erika Mustermann");
        assert!(counter[0].email.is_empty() && counter[0].phone.is_empty());
    }
}
