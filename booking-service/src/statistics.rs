//! The office's figures: what became of its appointments, how long citizens
//! waited and were served, and how much of the offered time was booked.
//!
//! Pure: it reads the bookings (without personal data) and the times their
//! history records, which the retention job keeps, so the figures of past
//! years stay. The store fetches (one row per appointment, the history
//! folded in by the database), this module counts, tested on fixed data.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::bookings::{Channel, Status};

/// The longest range one request may cover.
pub const MAX_DAYS: i64 = 366;

/// An appointment as the statistics see it: the booking without personal
/// data, and from its history when it first reached the steps that count.
#[derive(Clone, Debug)]
pub struct Record {
    pub counter_id: String,
    pub concern_ids: Vec<String>,
    pub channel: Channel,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub status: Status,
    /// First arrival (checked in).
    pub arrived: Option<DateTime<Utc>>,
    /// First call (a recall does not move it).
    pub called: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    /// Released while it waited for its confirmation by mail.
    pub never_confirmed: bool,
}

impl Record {
    /// Whether it was ever a binding appointment: not pending, and not
    /// released while still waiting for its confirmation.
    fn counts(&self) -> bool {
        self.status != Status::Pending && !self.never_confirmed
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    /// The whole range as one period, starting on its first day.
    Range(NaiveDate),
}

impl Period {
    /// The first day of the period `day` falls into.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - TimeDelta::days(i64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).unwrap_or(day),
            Period::Range(first) => first,
        }
    }
}

/// What a row is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Office,
    Concern(String),
    Counter(String),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Office => "office",
            Scope::Concern(_) => "concern",
            Scope::Counter(_) => "counter",
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Scope::Office => "",
            Scope::Concern(id) | Scope::Counter(id) => id,
        }
    }
}

/// A mean under construction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mean {
    sum: f64,
    count: u32,
}

impl Mean {
    fn add(&mut self, value: f64) {
        self.sum += value;
        self.count += 1;
    }

    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / f64::from(self.count))
    }
}

/// The figures of one period and scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub bookings: u32,
    pub online: u32,
    pub phone: u32,
    pub walk_ins: u32,
    pub cancelled: u32,
    pub no_shows: u32,
    pub completed: u32,
    /// Booking to appointment, in hours (walk-ins left out).
    pub lead_time_hours: Mean,
    /// Arrival to the first call, in minutes.
    pub wait_minutes: Mean,
    /// First call to completion, in minutes.
    pub service_minutes: Mean,
    pub booked_minutes: u64,
    pub offered_minutes: u64,
}

impl Figures {
    /// Of the appointments not cancelled, the share nobody came to.
    pub fn no_show_rate(&self) -> Option<f64> {
        let held = self.bookings - self.cancelled;
        (held > 0).then(|| f64::from(self.no_shows) / f64::from(held))
    }

    /// Booked minutes against offered minutes.
    pub fn utilisation(&self) -> Option<f64> {
        (self.offered_minutes > 0).then(|| self.booked_minutes as f64 / self.offered_minutes as f64)
    }

    fn add(&mut self, record: &Record) {
        self.bookings += 1;
        match record.channel {
            Channel::Online => self.online += 1,
            Channel::Phone => self.phone += 1,
            Channel::Foyer => self.walk_ins += 1,
        }
        match record.status {
            Status::Cancelled => self.cancelled += 1,
            Status::NoShow => self.no_shows += 1,
            Status::Completed => self.completed += 1,
            _ => {}
        }
        if record.status != Status::Cancelled {
            self.booked_minutes += u64::try_from((record.end - record.start).num_minutes()).unwrap_or(0);
        }
        if record.channel != Channel::Foyer {
            self.lead_time_hours
                .add((record.start - record.created_at).num_seconds() as f64 / 3600.0);
        }
        if let (Some(arrived), Some(called)) = (record.arrived, record.called) {
            self.wait_minutes.add((called - arrived).num_seconds() as f64 / 60.0);
        }
        if let (Some(called), Some(completed)) = (record.called, record.completed) {
            self.service_minutes
                .add((completed - called).num_seconds() as f64 / 60.0);
        }
    }
}

/// One row: a period (by its first day) and a scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub period_start: NaiveDate,
    pub scope: Scope,
    pub figures: Figures,
}

/// Minutes a counter was open on a local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offered {
    pub date: NaiveDate,
    pub counter_id: String,
    pub minutes: u32,
}

/// The rows for `records` (appointments starting in the range asked for)
/// and `offered`, per `period` in the office's time zone: per period the
/// office, then each concern, then each counter (by id).
pub fn compute(records: &[Record], offered: &[Offered], tz: Tz, period: Period) -> Vec<Row> {
    let mut rows: BTreeMap<(NaiveDate, Scope), Figures> = BTreeMap::new();
    for record in records.iter().filter(|record| record.counts()) {
        let start = period.start_of(record.start.with_timezone(&tz).date_naive());
        rows.entry((start, Scope::Office)).or_default().add(record);
        rows.entry((start, Scope::Counter(record.counter_id.clone())))
            .or_default()
            .add(record);
        let mut concerns: Vec<&String> = record.concern_ids.iter().collect();
        concerns.sort();
        concerns.dedup();
        for concern in concerns {
            rows.entry((start, Scope::Concern(concern.clone())))
                .or_default()
                .add(record);
        }
    }
    for day in offered {
        let start = period.start_of(day.date);
        let minutes = u64::from(day.minutes);
        rows.entry((start, Scope::Office)).or_default().offered_minutes += minutes;
        rows.entry((start, Scope::Counter(day.counter_id.clone())))
            .or_default()
            .offered_minutes += minutes;
    }
    rows.into_iter()
        .map(|((period_start, scope), figures)| Row {
            period_start,
            scope,
            figures,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        BERLIN
            .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .single()
            .map(|local| local.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// An appointment at `day` `hour`:00 for 20 minutes, booked 48 hours
    /// ahead, that went through `steps` (status, minutes after the start).
    fn record(
        day: u32,
        hour: u32,
        counter: &str,
        concerns: &[&str],
        channel: Channel,
        steps: &[(Status, i64)],
    ) -> Record {
        let start = at(day, hour, 0);
        let created_at = if channel == Channel::Foyer {
            start - TimeDelta::minutes(5)
        } else {
            start - TimeDelta::hours(48)
        };
        let when = |status: Status| {
            steps
                .iter()
                .find(|(step, _)| *step == status)
                .map(|(_, minutes)| start + TimeDelta::minutes(*minutes))
        };
        Record {
            counter_id: counter.to_owned(),
            concern_ids: concerns.iter().map(|id| (*id).to_owned()).collect(),
            channel,
            start,
            end: start + TimeDelta::minutes(20),
            created_at,
            status: steps.last().map_or(Status::Booked, |(status, _)| *status),
            arrived: when(Status::CheckedIn),
            called: when(Status::Called),
            completed: when(Status::Completed),
            never_confirmed: false,
        }
    }

    fn fixed_week() -> Vec<Record> {
        use Status::*;
        vec![
            // Monday 2 November: served after 10 minutes' wait, 15 minutes.
            record(
                2,
                9,
                "a",
                &["pass"],
                Channel::Online,
                &[(CheckedIn, -5), (Called, 5), (Completed, 20)],
            ),
            // Monday: two concerns, nobody came.
            record(2, 10, "b", &["pass", "ausweis"], Channel::Phone, &[(NoShow, 30)]),
            // Monday: cancelled.
            record(2, 11, "a", &["ausweis"], Channel::Online, &[(Cancelled, -600)]),
            // Wednesday 4 November: a walk-in, 20 minutes' wait, 5 minutes.
            record(
                4,
                9,
                "a",
                &["pass"],
                Channel::Foyer,
                &[(CheckedIn, 0), (Called, 20), (Completed, 25)],
            ),
            // Monday 9 November (next week): served without a call.
            record(
                9,
                9,
                "b",
                &["pass"],
                Channel::Online,
                &[(CheckedIn, 0), (Completed, 10)],
            ),
        ]
    }

    fn find(rows: &[Row], start: (u32, u32), scope: Scope) -> &Figures {
        let day = NaiveDate::from_ymd_opt(2026, start.0, start.1).unwrap_or_default();
        rows.iter()
            .find(|row| row.period_start == day && row.scope == scope)
            .map(|row| &row.figures)
            .unwrap_or_else(|| panic!("no row {day} {scope:?} in {rows:#?}"))
    }

    #[test]
    fn a_week_of_appointments_adds_up_to_hand_computed_figures() {
        let offered = vec![
            Offered {
                date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default(),
                counter_id: "a".to_owned(),
                minutes: 240,
            },
            Offered {
                date: NaiveDate::from_ymd_opt(2026, 11, 4).unwrap_or_default(),
                counter_id: "b".to_owned(),
                minutes: 160,
            },
        ];
        let rows = compute(&fixed_week(), &offered, BERLIN, Period::Week);
        let office = find(&rows, (11, 2), Scope::Office);
        assert_eq!(
            (office.bookings, office.online, office.phone, office.walk_ins),
            (4, 2, 1, 1)
        );
        assert_eq!((office.cancelled, office.no_shows, office.completed), (1, 1, 2));
        // One of the three not cancelled.
        assert_eq!(office.no_show_rate(), Some(1.0 / 3.0));
        // Three booked 48 hours ahead; the walk-in does not count.
        assert_eq!(office.lead_time_hours.value(), Some(48.0));
        // 10 and 20 minutes.
        assert_eq!(office.wait_minutes.value(), Some(15.0));
        // 15 and 5 minutes.
        assert_eq!(office.service_minutes.value(), Some(10.0));
        assert_eq!((office.booked_minutes, office.offered_minutes), (60, 400));
        assert_eq!(office.utilisation(), Some(0.15));

        let pass = find(&rows, (11, 2), Scope::Concern("pass".to_owned()));
        assert_eq!((pass.bookings, pass.no_shows, pass.booked_minutes), (3, 1, 60));
        assert_eq!(pass.utilisation(), None);
        let ausweis = find(&rows, (11, 2), Scope::Concern("ausweis".to_owned()));
        assert_eq!(
            (ausweis.bookings, ausweis.cancelled, ausweis.booked_minutes),
            (2, 1, 20)
        );
        let counter_a = find(&rows, (11, 2), Scope::Counter("a".to_owned()));
        assert_eq!(
            (counter_a.bookings, counter_a.booked_minutes, counter_a.offered_minutes),
            (3, 40, 240)
        );

        let next_week = find(&rows, (11, 9), Scope::Office);
        assert_eq!((next_week.bookings, next_week.completed), (1, 1));
        // Completed without a call: no waiting or service time to tell.
        assert_eq!(next_week.wait_minutes.value(), None);
        assert_eq!(next_week.service_minutes.value(), None);
    }

    #[test]
    fn rows_come_per_day_or_month_in_the_office_time_zone() {
        let mut records = fixed_week();
        // 00:30 in Berlin on 3 November is still 2 November in UTC.
        records.push(record(3, 0, "a", &["pass"], Channel::Online, &[]));
        records[5].start = at(3, 0, 30);
        records[5].end = at(3, 0, 50);
        let days = compute(&records, &[], BERLIN, Period::Day);
        assert_eq!(find(&days, (11, 2), Scope::Office).bookings, 3);
        assert_eq!(find(&days, (11, 3), Scope::Office).bookings, 1);
        let months = compute(&records, &[], BERLIN, Period::Month);
        let starts: Vec<NaiveDate> = months
            .iter()
            .filter(|row| row.scope == Scope::Office)
            .map(|row| row.period_start)
            .collect();
        assert_eq!(starts, [NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()]);
        assert_eq!(find(&months, (11, 1), Scope::Office).bookings, 6);
        let first = NaiveDate::from_ymd_opt(2026, 10, 26).unwrap_or_default();
        let whole = compute(&records, &[], BERLIN, Period::Range(first));
        assert_eq!(find(&whole, (10, 26), Scope::Office).bookings, 6);
        assert_eq!(whole.iter().filter(|row| row.scope == Scope::Office).count(), 1);
    }

    #[test]
    fn bookings_never_confirmed_do_not_count() {
        let mut unconfirmed = record(2, 9, "a", &["pass"], Channel::Online, &[(Status::Cancelled, -60)]);
        unconfirmed.never_confirmed = true;
        let mut pending = record(2, 10, "a", &["pass"], Channel::Online, &[]);
        pending.status = Status::Pending;
        assert!(compute(&[unconfirmed, pending], &[], BERLIN, Period::Day).is_empty());
    }
}
