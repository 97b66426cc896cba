//! The slot engine: opening hours minus booked intervals, on the office's
//! grid, inside the booking window. Pure computation, no I/O: everything it
//! needs (office, time, bookings) is passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

use crate::catalogue::{CounterSet, Office};
use crate::schedule;

/// The days and instants an online booking may fall on, as of `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Today in the office's time zone.
    pub first_day: NaiveDate,
    /// Today plus the booking window, inclusive.
    pub last_day: NaiveDate,
    /// Nothing starts before now plus the office's lead time.
    pub earliest_start: DateTime<Utc>,
}

impl Window {
    pub fn of(office: &Office, now: DateTime<Utc>) -> Self {
        let today = now.with_timezone(&office.timezone).date_naive();
        Self {
            first_day: today,
            last_day: today + TimeDelta::days(i64::from(office.booking_window_days)),
            earliest_start: now + TimeDelta::minutes(i64::from(office.min_lead_minutes)),
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&day)
    }
}

/// A booked interval of one counter (by its index in `Office::counters`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booked {
    pub counter: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The counters that can take the appointment at this start.
    pub counters: CounterSet,
}

impl Slot {
    pub fn free(&self) -> u32 {
        self.counters.count_ones()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaySlots {
    pub date: NaiveDate,
    pub slots: Vec<Slot>,
}

/// What to compute slots for.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub office: &'a Office,
    /// Counters that handle every concern of the appointment.
    pub counters: CounterSet,
    pub duration: TimeDelta,
    /// Local days to cover, inclusive; the caller clips them to the window.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub earliest_start: DateTime<Utc>,
}

/// Open slots per day (days without any are left out), in time order.
pub fn open_slots(query: &Query<'_>, booked: &[Booked]) -> Vec<DaySlots> {
    let office = query.office;
    let busy = busy_by_counter(office.counters.len(), booked);
    let grid = office.slot_minutes;
    let mut days = Vec::new();
    let mut day = query.first_day;
    while day <= query.last_day {
        if !schedule::closed_all_day(office.state, day) {
            let mut slots: BTreeMap<DateTime<Utc>, Slot> = BTreeMap::new();
            for (index, counter) in office.counters.iter().enumerate() {
                if query.counters & (1 << index) == 0 {
                    continue;
                }
                for period in counter.hours.on(chrono::Datelike::weekday(&day)) {
                    let close = minutes_of(period.end);
                    let Some(close_at) = local_instant(office, day, close) else {
                        continue;
                    };
                    // Starts sit on the grid counted from local midnight.
                    let mut minute = minutes_of(period.start).div_ceil(grid) * grid;
                    while minute < close {
                        if let Some(start) = local_instant(office, day, minute) {
                            let end = start + query.duration;
                            if end > close_at {
                                break;
                            }
                            if start >= query.earliest_start && is_free(&busy[index], start, end) {
                                slots
                                    .entry(start)
                                    .or_insert(Slot {
                                        start,
                                        end,
                                        counters: 0,
                                    })
                                    .counters |= 1 << index;
                            }
                        }
                        minute += grid;
                    }
                }
            }
            if !slots.is_empty() {
                days.push(DaySlots {
                    date: day,
                    slots: slots.into_values().collect(),
                });
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    days
}

fn minutes_of(time: NaiveTime) -> u32 {
    chrono::Timelike::num_seconds_from_midnight(&time) / 60
}

/// The instant of `minute` minutes after local midnight of `day`. Local
/// times skipped by a DST change have no instant; repeated ones take the
/// first occurrence.
fn local_instant(office: &Office, day: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    let local = day.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(minute));
    office
        .timezone
        .from_local_datetime(&local)
        .earliest()
        .map(|instant| instant.with_timezone(&Utc))
}

/// Booked intervals per counter, sorted by start.
fn busy_by_counter(counters: usize, booked: &[Booked]) -> Vec<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let mut busy = vec![Vec::new(); counters];
    for booking in booked.iter().filter(|b| b.counter < counters) {
        busy[booking.counter].push((booking.start, booking.end));
    }
    for intervals in &mut busy {
        intervals.sort_unstable();
    }
    busy
}

/// Whether [start, end) overlaps none of `busy` (sorted by start; intervals
/// of one counter never overlap each other, so they are sorted by end too).
fn is_free(busy: &[(DateTime<Utc>, DateTime<Utc>)], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let first_ending_after_start = busy.partition_point(|&(_, busy_end)| busy_end <= start);
    busy.get(first_ending_after_start)
        .is_none_or(|&(busy_start, _)| busy_start >= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use crate::config;
    use chrono::Datelike;

    /// Two counters with different hours; the second also opens on Saturdays.
    const OFFICE: &str = r#"
        [[offices]]
        id = "amt"
        name = "Amt"
        address = "Weg 1"
        state = "NW"
        slot_minutes = 10
        min_lead_minutes = 60
        booking_window_days = 60
        categories = [{ id = "k", name = "K" }]
        concerns = [
          { id = "kurz", name = "Kurz", category = "k", duration_minutes = 10 },
          { id = "lang", name = "Lang", category = "k", duration_minutes = 25 },
        ]
        [offices.hours]
        mon = ["08:00-09:00"]
        tue = ["08:00-09:00"]
        wed = ["08:00-09:00"]
        thu = ["08:00-09:00", "14:00-15:00"]
        fri = ["08:00-09:00"]
        [[offices.counters]]
        id = "eins"
        name = "Platz 1"
        [[offices.counters]]
        id = "zwei"
        name = "Platz 2"
        concerns = ["kurz"]
        hours = { mon = ["08:30-09:30"], sat = ["09:00-10:00"] }
    "#;

    fn catalogue(text: &str) -> Catalogue {
        config::parse(text).expect("valid test office")
    }

    fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Berlin
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("unambiguous")
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid")
    }

    fn query<'a>(office: &'a Office, concerns: &[&str], first: NaiveDate, last: NaiveDate) -> Query<'a> {
        let ids: Vec<String> = concerns.iter().map(|s| s.to_string()).collect();
        let appointment = office.appointment(&ids).expect("bookable");
        Query {
            office,
            counters: appointment.counters,
            duration: TimeDelta::minutes(i64::from(appointment.duration_minutes)),
            first_day: first,
            last_day: last,
            earliest_start: berlin(2026, 1, 1, 0, 0),
        }
    }

    fn local_times(day: &DaySlots) -> Vec<(String, u32)> {
        day.slots
            .iter()
            .map(|slot| {
                let local = slot.start.with_timezone(&chrono_tz::Europe::Berlin);
                (local.format("%H:%M").to_string(), slot.free())
            })
            .collect()
    }

    #[test]
    fn slots_follow_the_grid_and_count_free_counters() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // Monday 30 November 2026: counter 1 08:00-09:00, counter 2 08:30-09:30.
        let monday = date(2026, 11, 30);
        let days = open_slots(&query(office, &["kurz"], monday, monday), &[]);
        assert_eq!(days.len(), 1);
        let expected = [
            ("08:00", 1),
            ("08:10", 1),
            ("08:20", 1),
            ("08:30", 2),
            ("08:40", 2),
            ("08:50", 2),
            ("09:00", 1),
            ("09:10", 1),
            ("09:20", 1),
        ];
        let expected: Vec<_> = expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(local_times(&days[0]), expected);
        assert_eq!(days[0].slots[0].end - days[0].slots[0].start, TimeDelta::minutes(10));
    }

    #[test]
    fn a_long_appointment_must_end_before_closing_and_only_on_counters_serving_it() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let thursday = date(2026, 12, 3);
        let days = open_slots(&query(office, &["lang"], thursday, thursday), &[]);
        let times: Vec<_> = local_times(&days[0]).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            times,
            ["08:00", "08:10", "08:20", "08:30", "14:00", "14:10", "14:20", "14:30"]
        );
        // Two persons for "kurz" last 20 minutes.
        let days = open_slots(&query(office, &["kurz", "kurz"], thursday, thursday), &[]);
        assert_eq!(days[0].slots.last().map(|s| s.end), Some(berlin(2026, 12, 3, 15, 0)));
    }

    #[test]
    fn bookings_take_counters_away_and_overlaps_are_respected() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let monday = date(2026, 11, 30);
        let booked = [
            // Counter 1 busy 08:05-08:35 (an odd, off-grid interval).
            Booked {
                counter: 0,
                start: berlin(2026, 11, 30, 8, 5),
                end: berlin(2026, 11, 30, 8, 35),
            },
            // Counter 2 busy 08:40-08:50.
            Booked {
                counter: 1,
                start: berlin(2026, 11, 30, 8, 40),
                end: berlin(2026, 11, 30, 8, 50),
            },
        ];
        let days = open_slots(&query(office, &["kurz"], monday, monday), &booked);
        let got = local_times(&days[0]);
        let expected = [
            ("08:30", 1),
            ("08:40", 1),
            ("08:50", 2),
            ("09:00", 1),
            ("09:10", 1),
            ("09:20", 1),
        ];
        let expected: Vec<_> = expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn sundays_holidays_and_closed_days_have_no_slots() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // 24 Dec 2026 (Thu) .. 27 Dec (Sun): 25 and 26 are holidays, 27 a Sunday.
        let days = open_slots(&query(office, &["kurz"], date(2026, 12, 24), date(2026, 12, 27)), &[]);
        let dates: Vec<_> = days.iter().map(|d| d.date).collect();
        assert_eq!(dates, [date(2026, 12, 24)]);
        // Saturday 26 is a holiday; Saturday 19 December counter 2 opens 09:00-10:00.
        let days = open_slots(&query(office, &["kurz"], date(2026, 12, 19), date(2026, 12, 19)), &[]);
        assert_eq!(days[0].slots.len(), 6);
        let days = open_slots(&query(office, &["lang"], date(2026, 12, 19), date(2026, 12, 19)), &[]);
        assert!(days.is_empty(), "counter 2 does not handle the long concern");
    }

    #[test]
    fn nothing_starts_before_the_lead_time() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let monday = date(2026, 11, 30);
        let mut q = query(office, &["kurz"], monday, monday);
        q.earliest_start = berlin(2026, 11, 30, 8, 55);
        let times: Vec<_> = local_times(&open_slots(&q, &[])[0])
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(times, ["09:00", "09:10", "09:20"]);
    }

    #[test]
    fn a_dst_week_keeps_local_opening_hours() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // Summer time starts on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
        for (before, after) in [
            (date(2026, 3, 27), date(2026, 3, 30)),
            (date(2026, 10, 23), date(2026, 10, 26)),
        ] {
            let days = open_slots(&query(office, &["lang"], before, after), &[]);
            for day in &days {
                let first = day.slots[0].start.with_timezone(&chrono_tz::Europe::Berlin);
                assert_eq!(first.format("%H:%M").to_string(), "08:00", "on {}", day.date);
                assert_eq!(first.date_naive(), day.date);
                assert_eq!(day.slots[0].end - day.slots[0].start, TimeDelta::minutes(25));
            }
            let offsets: Vec<_> = days
                .iter()
                .map(|d| {
                    d.slots[0]
                        .start
                        .with_timezone(&chrono_tz::Europe::Berlin)
                        .format("%:z")
                        .to_string()
                })
                .collect();
            assert_eq!(offsets.len(), 2, "Friday and Monday");
            assert_ne!(offsets[0], offsets[1], "the UTC offset changes across the weekend");
        }
    }

    #[test]
    fn a_second_office_uses_its_own_hours_and_holidays() {
        let text = format!(
            "{OFFICE}\n{}",
            r#"
            [[offices]]
            id = "standesamt"
            name = "Standesamt"
            address = "Weg 2"
            state = "BY"
            slot_minutes = 30
            categories = [{ id = "urk", name = "Urkunden" }]
            concerns = [{ id = "geburt", name = "Geburtsurkunde", category = "urk", duration_minutes = 30 }]
            counters = [{ id = "s1", name = "Standesbeamtin", hours = { wed = ["10:00-11:30"] } }]
            "#
        );
        let catalogue = catalogue(&text);
        let office = catalogue.office("standesamt").expect("second office");
        // 2 Dec 2026 is a Wednesday; 6 Jan 2027 (Wednesday) is a holiday in Bavaria only.
        let days = open_slots(&query(office, &["geburt"], date(2026, 12, 1), date(2026, 12, 7)), &[]);
        assert_eq!(days.len(), 1);
        let times: Vec<_> = local_times(&days[0]).into_iter().map(|(t, _)| t).collect();
        assert_eq!(times, ["10:00", "10:30", "11:00"]);
        let epiphany = date(2027, 1, 6);
        assert_eq!(epiphany.weekday(), chrono::Weekday::Wed);
        assert!(open_slots(&query(office, &["geburt"], epiphany, epiphany), &[]).is_empty());
    }

    #[test]
    fn the_window_runs_from_today_to_today_plus_the_booking_window() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // 23:30 UTC on 24 November is already 25 November in Berlin.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).single().expect("valid");
        let window = Window::of(office, now);
        assert_eq!(window.first_day, date(2026, 11, 25));
        assert_eq!(window.last_day, date(2027, 1, 24));
        assert_eq!(window.earliest_start, now + TimeDelta::hours(1));
        assert!(window.contains(date(2027, 1, 24)) && !window.contains(date(2027, 1, 25)));
    }
}
