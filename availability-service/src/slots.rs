//! The slot engine: opening hours minus busy intervals (bookings, absences),
//! on the office's grid, inside the booking window of a channel. Pure
//! computation, no I/O: everything it needs is passed in.
//!
//! It is the hot path of the availability service, so it works on plain
//! seconds: each counter's busy intervals are sorted once, and a cursor per
//! counter walks them while starts only grow, making a whole 60-day query
//! linear in the number of grid points and intervals.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::catalogue::{CounterSet, Office};
use crate::schedule::{DAY_MINUTES, Period};

/// Who books: citizens online, or staff at the foyer desk or on the phone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    #[default]
    Online,
    Staff,
}

/// How much earlier than citizens staff (and the waitlist's lottery, which
/// draws in these minutes) see a newly released day.
pub const STAFF_RELEASE_LEAD: TimeDelta = TimeDelta::minutes(10);

/// The days, instants and counters a booking may use, as of `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub first_day: NaiveDate,
    /// Today plus the booking window, inclusive; the last day only once its
    /// release time has passed.
    pub last_day: NaiveDate,
    /// Online: now plus the office's lead time. Staff: now.
    pub earliest_start: DateTime<Utc>,
    /// Counters open to the channel (staff-only counters are not online).
    pub counters: CounterSet,
    /// The online channel: time citizens just gave back is still held.
    pub online: bool,
}

impl Window {
    pub fn of(office: &Office, now: DateTime<Utc>, channel: Channel) -> Self {
        let local = now.with_timezone(&office.timezone);
        let today = local.date_naive();
        // The last day of the window as of an instant: its release time passed.
        let last_day_at = |at: DateTime<Utc>| {
            let local = at.with_timezone(&office.timezone);
            let released = local.time().num_seconds_from_midnight() / 60 >= office.release_minute;
            let window_days = i64::from(office.booking_window_days) - i64::from(!released);
            local.date_naive() + TimeDelta::days(window_days)
        };
        let last_day = match channel {
            Channel::Online => last_day_at(now),
            Channel::Staff => last_day_at(now + STAFF_RELEASE_LEAD),
        };
        match channel {
            Channel::Online => Self {
                first_day: today + TimeDelta::days(i64::from(office.staff_only_days)),
                last_day,
                earliest_start: now + TimeDelta::minutes(i64::from(office.min_lead_minutes)),
                counters: !office.staff_only_counters,
                online: true,
            },
            Channel::Staff => Self {
                first_day: today,
                last_day,
                earliest_start: now,
                counters: CounterSet::MAX,
                online: false,
            },
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&day)
    }
}

/// A busy interval of one counter (by its index in `Office::counters`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booked {
    pub counter: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Busy intervals per counter as UTC seconds, sorted by start. They may
/// overlap (an absence over bookings); the engine copes with that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Busy {
    per_counter: Vec<Vec<(i64, i64)>>,
}

impl Busy {
    pub fn new(counters: usize, intervals: impl IntoIterator<Item = Booked>) -> Self {
        let mut busy = Self {
            per_counter: vec![Vec::new(); counters],
        };
        for interval in intervals {
            if let Some(list) = busy.per_counter.get_mut(interval.counter) {
                list.push((interval.start.timestamp(), interval.end.timestamp()));
            }
        }
        for list in &mut busy.per_counter {
            list.sort_unstable();
        }
        busy
    }

    /// Adds an interval, keeping the order (for projections kept up to date).
    pub fn insert(&mut self, interval: Booked) {
        if let Some(list) = self.per_counter.get_mut(interval.counter) {
            let entry = (interval.start.timestamp(), interval.end.timestamp());
            let position = list.partition_point(|existing| *existing < entry);
            list.insert(position, entry);
        }
    }

    /// Removes one occurrence of an interval; false if it was not there.
    pub fn remove(&mut self, interval: Booked) -> bool {
        let Some(list) = self.per_counter.get_mut(interval.counter) else {
            return false;
        };
        let entry = (interval.start.timestamp(), interval.end.timestamp());
        match list.binary_search(&entry) {
            Ok(position) => {
                list.remove(position);
                true
            }
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.per_counter.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn of(&self, counter: usize) -> &[(i64, i64)] {
        self.per_counter.get(counter).map_or(&[], Vec::as_slice)
    }
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
    /// Counters that handle every concern and are open to the channel.
    pub counters: CounterSet,
    pub duration: TimeDelta,
    /// Local days to cover, inclusive; the caller clips them to the window.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub earliest_start: DateTime<Utc>,
}

/// Open slots per day (days without any are left out), in time order.
pub fn open_slots(query: &Query<'_>, busy: &Busy) -> Vec<DaySlots> {
    let office = query.office;
    let grid = office.slot_minutes.max(1);
    let positions = DAY_MINUTES.div_ceil(grid) as usize;
    let mut masks: Vec<CounterSet> = vec![0; positions];
    let mut starts: Vec<i64> = vec![0; positions];
    let mut cursors = vec![0usize; office.counters.len()];
    let mut open = Vec::new();
    let duration = query.duration.num_seconds();
    let earliest = query.earliest_start.timestamp();
    let mut days = Vec::new();
    for day in query.first_day.iter_days().take_while(|day| *day <= query.last_day) {
        if office.closed_all_day(day) {
            continue;
        }
        let mut any = false;
        for (index, counter) in office.counters.iter().enumerate() {
            if query.counters & (1 << index) == 0 {
                continue;
            }
            office.closures.open_parts(day, counter.schedule.on(day), &mut open);
            let intervals = busy.of(index);
            for period in &open {
                let Some(clock) = PeriodClock::new(office.timezone, day, *period) else {
                    continue;
                };
                let mut minute = period.start.div_ceil(grid) * grid;
                while minute < period.end {
                    if let Some(start) = clock.instant(minute) {
                        let end = start + duration;
                        if end > clock.close {
                            break;
                        }
                        if start >= earliest && is_free(intervals, &mut cursors[index], start, end) {
                            let position = (minute / grid) as usize;
                            masks[position] |= 1 << index;
                            starts[position] = start;
                            any = true;
                        }
                    }
                    minute += grid;
                }
            }
        }
        if any {
            let mut slots = Vec::new();
            for (mask, start) in masks.iter_mut().zip(&starts) {
                if *mask != 0 {
                    slots.push(Slot {
                        start: instant(*start),
                        end: instant(*start + duration),
                        counters: *mask,
                    });
                    *mask = 0;
                }
            }
            days.push(DaySlots { date: day, slots });
        }
    }
    days
}

/// Why a day offers no time to book, for a calendar that explains itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoTime {
    /// Before the online window: kept for the desk and the phone.
    NotOnline,
    /// A public holiday of the office's state, by name.
    Holiday(&'static str),
    /// No counter for these concerns works that day (a weekend, a closure).
    Closed,
    /// Open, but every time is taken or already past.
    FullyBooked,
}

/// Why `day`, which `open_slots` left out, has no time for `query`;
/// `online_from` is the first day the channel may book.
pub fn no_time(query: &Query<'_>, online_from: NaiveDate, day: NaiveDate) -> NoTime {
    let office = query.office;
    if day < online_from {
        return NoTime::NotOnline;
    }
    if let Some(name) = crate::holidays::public_holiday(office.state, day) {
        return NoTime::Holiday(name);
    }
    if office.closed_all_day(day) {
        return NoTime::Closed;
    }
    let mut open = Vec::new();
    let works = office.counters.iter().enumerate().any(|(index, counter)| {
        if query.counters & (1 << index) == 0 {
            return false;
        }
        office.closures.open_parts(day, counter.schedule.on(day), &mut open);
        !open.is_empty()
    });
    if works { NoTime::FullyBooked } else { NoTime::Closed }
}

fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// Local minutes of one opening period mapped to UTC seconds. Away from DST
/// changes the mapping is linear and costs an addition; on a change day the
/// time zone is asked per minute.
struct PeriodClock {
    tz: Tz,
    day: NaiveDate,
    start_minute: u32,
    open: i64,
    close: i64,
    linear: bool,
}

impl PeriodClock {
    fn new(tz: Tz, day: NaiveDate, period: Period) -> Option<Self> {
        let open = local_instant(tz, day, period.start)?;
        let close = local_instant(tz, day, period.end)?;
        Some(Self {
            tz,
            day,
            start_minute: period.start,
            open,
            close,
            linear: close - open == i64::from(period.end - period.start) * 60,
        })
    }

    fn instant(&self, minute: u32) -> Option<i64> {
        if self.linear {
            Some(self.open + i64::from(minute - self.start_minute) * 60)
        } else {
            local_instant(self.tz, self.day, minute)
        }
    }
}

/// UTC seconds of `minute` minutes after local midnight of `day`. Local
/// times skipped by a DST change have none; repeated ones take the first.
pub fn local_instant(tz: Tz, day: NaiveDate, minute: u32) -> Option<i64> {
    let local = day.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(minute));
    tz.from_local_datetime(&local)
        .earliest()
        .map(|instant| instant.timestamp())
}

/// Whether `counter` of `office` is open during the whole of [start, end):
/// one of its opening periods that day (less closures) covers it.
pub fn open_during(office: &Office, counter: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let Some(schedule) = office.counters.get(counter).map(|counter| &counter.schedule) else {
        return false;
    };
    let day = start.with_timezone(&office.timezone).date_naive();
    if office.closed_all_day(day) {
        return false;
    }
    let mut open = Vec::new();
    office.closures.open_parts(day, schedule.on(day), &mut open);
    open.iter().any(|period| {
        matches!(
            (
                local_instant(office.timezone, day, period.start),
                local_instant(office.timezone, day, period.end),
            ),
            (Some(from), Some(to)) if from <= start.timestamp() && end.timestamp() <= to
        )
    })
}

/// Minutes counter `counter` is open on the local `day`: its hours less
/// closures and holidays, and less `absent` (UTC seconds, any order).
/// Counters that serve staff only count too: their time is offered.
pub fn offered_minutes(office: &Office, counter: usize, day: NaiveDate, absent: &[(i64, i64)]) -> u32 {
    let Some(schedule) = office.counters.get(counter).map(|counter| &counter.schedule) else {
        return 0;
    };
    if office.closed_all_day(day) {
        return 0;
    }
    let mut open = Vec::new();
    office.closures.open_parts(day, schedule.on(day), &mut open);
    let mut seconds = 0;
    for period in &open {
        let (Some(from), Some(to)) = (
            local_instant(office.timezone, day, period.start),
            local_instant(office.timezone, day, period.end),
        ) else {
            continue;
        };
        let mut covered: Vec<(i64, i64)> = absent
            .iter()
            .map(|&(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start < end)
            .collect();
        covered.sort_unstable();
        // Absences may overlap each other: count their union once.
        let (mut away, mut reached) = (0, from);
        for (start, end) in covered {
            let start = start.max(reached);
            if end > start {
                away += end - start;
                reached = end;
            }
        }
        seconds += (to - from) - away;
    }
    u32::try_from(seconds / 60).unwrap_or(0)
}

/// Whether [start, end) overlaps none of `busy` (sorted by start). Starts
/// passed for one counter never decrease, so intervals ending before a start
/// are skipped for good; the first interval ending after it decides: it
/// overlaps, or it and every later one begins at or after `end`.
fn is_free(busy: &[(i64, i64)], cursor: &mut usize, start: i64, end: i64) -> bool {
    while busy.get(*cursor).is_some_and(|&(_, busy_end)| busy_end <= start) {
        *cursor += 1;
    }
    busy.get(*cursor).is_none_or(|&(busy_start, _)| busy_start >= end)
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
    fn offered_time_is_the_hours_less_holidays_and_absences() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // Thursday 3 December: counter one 08-09 and 14-15, counter two not.
        let thursday = date(2026, 12, 3);
        assert_eq!(offered_minutes(office, 0, thursday, &[]), 120);
        assert_eq!(offered_minutes(office, 1, thursday, &[]), 0);
        // Monday: counter two 08:30-09:30.
        assert_eq!(offered_minutes(office, 1, date(2026, 11, 30), &[]), 60);
        assert_eq!(offered_minutes(office, 0, date(2026, 12, 25), &[]), 0);
        // Absent 08:30-14:30 and, overlapping, 08:45-08:50: 30 + 30 remain.
        let absent = [
            (
                berlin(2026, 12, 3, 8, 30).timestamp(),
                berlin(2026, 12, 3, 14, 30).timestamp(),
            ),
            (
                berlin(2026, 12, 3, 8, 45).timestamp(),
                berlin(2026, 12, 3, 8, 50).timestamp(),
            ),
        ];
        assert_eq!(offered_minutes(office, 0, thursday, &absent), 60);
        assert_eq!(offered_minutes(office, 7, thursday, &[]), 0);
    }

    #[test]
    fn a_day_without_time_says_why() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let (monday, saturday, sunday) = (date(2026, 11, 30), date(2026, 12, 5), date(2026, 12, 6));
        let christmas = date(2026, 12, 25);
        let short = query(office, &["kurz"], monday, christmas);
        let long = query(office, &["lang"], monday, christmas);
        let online_from = monday;
        assert_eq!(no_time(&short, online_from, date(2026, 11, 29)), NoTime::NotOnline);
        assert_eq!(no_time(&short, online_from, sunday), NoTime::Closed);
        assert_eq!(
            no_time(&short, online_from, christmas),
            NoTime::Holiday("1. Weihnachtstag")
        );
        // Only the second counter works on Saturdays, and only for "kurz".
        assert_eq!(no_time(&short, online_from, saturday), NoTime::FullyBooked);
        assert_eq!(no_time(&long, online_from, saturday), NoTime::Closed);
        // A Monday whose one counter for "lang" is taken all morning.
        let busy = Busy::new(
            2,
            [Booked {
                counter: 0,
                start: berlin(2026, 11, 30, 8, 0),
                end: berlin(2026, 11, 30, 9, 0),
            }],
        );
        let monday_only = query(office, &["lang"], monday, monday);
        assert!(open_slots(&monday_only, &busy).is_empty());
        assert_eq!(no_time(&monday_only, online_from, monday), NoTime::FullyBooked);
    }

    #[test]
    fn slots_follow_the_grid_and_count_free_counters() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // Monday 30 November 2026: counter 1 08:00-09:00, counter 2 08:30-09:30.
        let monday = date(2026, 11, 30);
        let days = open_slots(&query(office, &["kurz"], monday, monday), &Busy::default());
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
        let days = open_slots(&query(office, &["lang"], thursday, thursday), &Busy::default());
        let times: Vec<_> = local_times(&days[0]).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            times,
            ["08:00", "08:10", "08:20", "08:30", "14:00", "14:10", "14:20", "14:30"]
        );
        // Two persons for "kurz" last 20 minutes.
        let days = open_slots(&query(office, &["kurz", "kurz"], thursday, thursday), &Busy::default());
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
        let days = open_slots(&query(office, &["kurz"], monday, monday), &Busy::new(2, booked));
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
        let days = open_slots(
            &query(office, &["kurz"], date(2026, 12, 24), date(2026, 12, 27)),
            &Busy::default(),
        );
        let dates: Vec<_> = days.iter().map(|d| d.date).collect();
        assert_eq!(dates, [date(2026, 12, 24)]);
        // Saturday 26 is a holiday; Saturday 19 December counter 2 opens 09:00-10:00.
        let days = open_slots(
            &query(office, &["kurz"], date(2026, 12, 19), date(2026, 12, 19)),
            &Busy::default(),
        );
        assert_eq!(days[0].slots.len(), 6);
        let days = open_slots(
            &query(office, &["lang"], date(2026, 12, 19), date(2026, 12, 19)),
            &Busy::default(),
        );
        assert!(days.is_empty(), "counter 2 does not handle the long concern");
    }

    #[test]
    fn nothing_starts_before_the_lead_time() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let monday = date(2026, 11, 30);
        let mut q = query(office, &["kurz"], monday, monday);
        q.earliest_start = berlin(2026, 11, 30, 8, 55);
        let times: Vec<_> = local_times(&open_slots(&q, &Busy::default())[0])
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
            let days = open_slots(&query(office, &["lang"], before, after), &Busy::default());
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
        let days = open_slots(
            &query(office, &["geburt"], date(2026, 12, 1), date(2026, 12, 7)),
            &Busy::default(),
        );
        assert_eq!(days.len(), 1);
        let times: Vec<_> = local_times(&days[0]).into_iter().map(|(t, _)| t).collect();
        assert_eq!(times, ["10:00", "10:30", "11:00"]);
        let epiphany = date(2027, 1, 6);
        assert_eq!(epiphany.weekday(), chrono::Weekday::Wed);
        assert!(open_slots(&query(office, &["geburt"], epiphany, epiphany), &Busy::default()).is_empty());
    }

    #[test]
    fn the_last_day_opens_at_the_release_time_and_staff_keep_their_days_and_counters() {
        let text = OFFICE.replace(
            "booking_window_days = 60",
            "booking_window_days = 60\nrelease_time = \"07:00\"\nstaff_only_days = 2\nstaff_only_counters = [\"zwei\"]",
        );
        let catalogue = catalogue(&text);
        let office = catalogue.office("amt").expect("office");
        let before = berlin(2026, 11, 30, 6, 59);
        let after = berlin(2026, 11, 30, 7, 0);
        assert_eq!(Window::of(office, before, Channel::Online).last_day, date(2027, 1, 28));
        assert_eq!(Window::of(office, after, Channel::Online).last_day, date(2027, 1, 29));
        // Staff see the new day ten minutes early: the waitlist's lottery draws then.
        let lead = berlin(2026, 11, 30, 6, 49);
        assert_eq!(Window::of(office, lead, Channel::Staff).last_day, date(2027, 1, 28));
        assert_eq!(Window::of(office, before, Channel::Staff).last_day, date(2027, 1, 29));
        assert_eq!(Window::of(office, before, Channel::Online).last_day, date(2027, 1, 28));

        let online = Window::of(office, after, Channel::Online);
        assert_eq!(
            online.first_day,
            date(2026, 12, 2),
            "today and tomorrow are for walk-ins"
        );
        assert_eq!(online.counters & 0b11, 0b01, "counter two is staff-only");
        assert_eq!(online.earliest_start, after + TimeDelta::hours(1));
        let staff = Window::of(office, after, Channel::Staff);
        assert_eq!((staff.first_day, staff.earliest_start), (date(2026, 11, 30), after));
        assert_eq!(staff.counters & 0b11, 0b11);
    }

    #[test]
    fn closures_remove_whole_and_partial_days() {
        let text = OFFICE.replace(
            "booking_window_days = 60",
            "booking_window_days = 60\nclosures = [{ date = \"2026-11-30\", from = \"08:30\" }, { date = \"2026-12-01\" }]",
        );
        let catalogue = catalogue(&text);
        let office = catalogue.office("amt").expect("office");
        let days = open_slots(
            &query(office, &["kurz"], date(2026, 11, 30), date(2026, 12, 2)),
            &Busy::default(),
        );
        assert_eq!(
            days.iter().map(|d| d.date).collect::<Vec<_>>(),
            [date(2026, 11, 30), date(2026, 12, 2)]
        );
        let times: Vec<_> = local_times(&days[0]).into_iter().map(|(t, _)| t).collect();
        assert_eq!(times, ["08:00", "08:10", "08:20"], "closed from 08:30 on");
    }

    #[test]
    fn busy_intervals_can_be_added_and_removed() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        let monday = date(2026, 11, 30);
        let interval = Booked {
            counter: 0,
            start: berlin(2026, 11, 30, 8, 0),
            end: berlin(2026, 11, 30, 9, 0),
        };
        let mut busy = Busy::new(2, []);
        busy.insert(interval);
        let q = query(office, &["lang"], monday, monday);
        assert!(open_slots(&q, &busy).is_empty());
        assert!(busy.remove(interval));
        assert!(!busy.remove(interval), "removed already");
        assert_eq!(open_slots(&q, &busy)[0].slots.len(), 4);
    }

    #[test]
    fn the_window_runs_from_today_to_today_plus_the_booking_window() {
        let catalogue = catalogue(OFFICE);
        let office = catalogue.office("amt").expect("office");
        // 23:30 UTC on 24 November is already 25 November in Berlin.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).single().expect("valid");
        let window = Window::of(office, now, Channel::Online);
        assert_eq!(window.first_day, date(2026, 11, 25));
        assert_eq!(window.last_day, date(2027, 1, 24));
        assert_eq!(window.earliest_start, now + TimeDelta::hours(1));
        assert!(window.contains(date(2027, 1, 24)) && !window.contains(date(2027, 1, 25)));
    }
}
