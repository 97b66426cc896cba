//! Property tests of the slot engine against a deliberately simple
//! minute-by-minute reference, on random schedules, closures and bookings,
//! including the DST weeks.

use availability_service::catalogue::{Counter, CounterSet, Office};
use availability_service::holidays::State;
use availability_service::schedule::{Closure, Closures, Period, Schedule, Season, WeeklyHours};
use availability_service::slots::{self, Booked, Busy, DaySlots, Query, Slot, local_instant};
use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
use proptest::prelude::*;

/// What the engine should compute, the slow and obvious way: every grid
/// start, every counter, every minute of the appointment checked against
/// the open periods and every busy interval.
fn reference(query: &Query<'_>, busy: &[Booked]) -> Vec<DaySlots> {
    let office = query.office;
    let tz = office.timezone;
    let duration = query.duration.num_seconds();
    let mut days = Vec::new();
    for day in query.first_day.iter_days().take_while(|day| *day <= query.last_day) {
        if office.closed_all_day(day) {
            continue;
        }
        let mut slots = Vec::new();
        for minute in (0..24 * 60).step_by(office.slot_minutes as usize) {
            let Some(start) = local_instant(tz, day, minute) else {
                continue;
            };
            if start < query.earliest_start.timestamp() {
                continue;
            }
            let mut counters: CounterSet = 0;
            for (index, counter) in office.counters.iter().enumerate() {
                if query.counters & (1 << index) == 0 {
                    continue;
                }
                let mut open = Vec::new();
                office.closures.open_parts(day, counter.schedule.on(day), &mut open);
                let free = (start..start + duration).step_by(60).all(|second| {
                    let local = DateTime::from_timestamp(second, 0).expect("valid").with_timezone(&tz);
                    let minute_of_day = local.hour() * 60 + local.minute();
                    local.date_naive() == day
                        && open.iter().any(|p| p.start <= minute_of_day && minute_of_day < p.end)
                        && !busy
                            .iter()
                            .any(|b| b.counter == index && b.start.timestamp() <= second && second < b.end.timestamp())
                });
                if free {
                    counters |= 1 << index;
                }
            }
            if counters != 0 {
                let at = |s: i64| DateTime::from_timestamp(s, 0).expect("valid");
                slots.push(Slot {
                    start: at(start),
                    end: at(start + duration),
                    counters,
                });
            }
        }
        if !slots.is_empty() {
            days.push(DaySlots { date: day, slots });
        }
    }
    days
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid")
}

/// Daytime periods (05:00 to 22:00) on a 5-minute raster; overlapping ones
/// are dropped, as the configuration would refuse them.
fn day_periods() -> impl Strategy<Value = Vec<Period>> {
    prop::collection::vec((60u32..264, 3u32..72), 0..3).prop_map(|raw| {
        let mut periods: Vec<Period> = raw
            .into_iter()
            .map(|(start, length)| Period {
                start: start * 5,
                end: (start * 5 + length * 5).min(22 * 60),
            })
            .filter(|p| p.start < p.end)
            .collect();
        periods.sort();
        let mut kept: Vec<Period> = Vec::new();
        for period in periods {
            if kept.last().is_none_or(|last| last.end < period.start) {
                kept.push(period);
            }
        }
        kept
    })
}

fn weekly_hours() -> impl Strategy<Value = WeeklyHours> {
    prop::array::uniform7(day_periods()).prop_map(|days| WeeklyHours::new(days).expect("non-overlapping"))
}

/// First day of the generated range: ordinary weeks and both DST weeks of 2026/2027.
fn first_day() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        (0i64..700).prop_map(|offset| date(2026, 1, 1) + TimeDelta::days(offset)),
        (0i64..5).prop_map(|offset| date(2026, 3, 26) + TimeDelta::days(offset)),
        (0i64..5).prop_map(|offset| date(2026, 10, 22) + TimeDelta::days(offset)),
        (0i64..5).prop_map(|offset| date(2027, 3, 25) + TimeDelta::days(offset)),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    office: Office,
    counters: CounterSet,
    duration_minutes: i64,
    first_day: NaiveDate,
    days: i64,
    /// Minutes since the epoch.
    earliest_minute: i64,
    booked: Vec<Booked>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![5u32, 10, 15, 20, 30]),
        prop::collection::vec((weekly_hours(), prop::option::of(weekly_hours())), 1..5),
        first_day(),
        1i64..8,
        any::<bool>(),
        prop::collection::vec((0i64..10, 0u32..288, 0u32..4), 0..3),
        prop::collection::vec((0usize..4, 0i64..10, 60u32..264, 1i64..24), 0..30),
        (1i64..10, 1u64..16, -600i64..3000),
    )
        .prop_map(
            |(grid, hours, first_day, days, sundays, closures, bookings, (duration_steps, mask, earliest))| {
                let counters: Vec<Counter> = hours
                    .into_iter()
                    .enumerate()
                    .map(|(index, (regular, summer))| Counter {
                        id: format!("c{index}"),
                        name: format!("Counter {index}"),
                        concern_ids: Vec::new(),
                        schedule: Schedule {
                            regular,
                            seasons: summer
                                .map(|hours| Season {
                                    from: first_day + TimeDelta::days(2),
                                    until: None,
                                    hours,
                                })
                                .into_iter()
                                .collect(),
                        },
                    })
                    .collect();
                let closures = Closures(
                    closures
                        .into_iter()
                        .map(|(offset, start, length)| {
                            let day = first_day + TimeDelta::days(offset);
                            let start = start * 5;
                            let end = if length == 0 {
                                24 * 60
                            } else {
                                (start + length * 45).min(24 * 60)
                            };
                            Closure {
                                from: day,
                                until: day,
                                closed: Period { start, end },
                            }
                        })
                        .collect(),
                );
                let count = counters.len();
                let office = Office {
                    id: "amt".into(),
                    name: "Amt".into(),
                    address: "Weg 1".into(),
                    timezone: chrono_tz::Europe::Berlin,
                    state: State::NW,
                    booking_window_days: 60,
                    min_lead_minutes: 0,
                    slot_minutes: grid,
                    release_minute: 0,
                    open_on_sundays: sundays,
                    closures,
                    staff_only_counters: 0,
                    staff_only_days: 0,
                    max_active_bookings_per_email: 0,
                    max_online_bookings_per_address_per_day: 0,
                    challenge: "off".to_owned(),
                    release_delay_minutes: 0,
                    confirm_by_email_minutes: 0,
                    limits: Default::default(),
                    contact: Default::default(),
                    legal: Default::default(),
                    waiting_prefixes: ("T".to_owned(), "W".to_owned()),
                    kiosk_walk_ins: false,
                    mail_when_two_ahead: false,
                    waitlist: true,
                    max_waitlist_entries_per_email: 2,
                    waitlist_hold_minutes: 60,
                    waitlist_quiet_hours: String::new(),
                    categories: Vec::new(),
                    concerns: Vec::new(),
                    counters,
                };
                let booked = bookings
                    .into_iter()
                    .filter(|(counter, ..)| *counter < count)
                    .filter_map(|(counter, offset, start, length)| {
                        let day = first_day + TimeDelta::days(offset);
                        let start = local_instant(office.timezone, day, start * 5)?;
                        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("valid");
                        Some(Booked {
                            counter,
                            start: at(start),
                            end: at(start + length * 5 * 60),
                        })
                    })
                    .collect();
                // The earliest start lies around 08:00 of the first day.
                let eight = local_instant(office.timezone, first_day, 8 * 60).expect("08:00 exists") / 60;
                Case {
                    office,
                    counters: mask & ((1 << count) - 1),
                    duration_minutes: duration_steps * 5,
                    first_day,
                    days,
                    earliest_minute: eight + earliest,
                    booked,
                }
            },
        )
}

impl Case {
    fn query(&self) -> Query<'_> {
        Query {
            office: &self.office,
            counters: self.counters,
            duration: TimeDelta::minutes(self.duration_minutes),
            first_day: self.first_day,
            last_day: self.first_day + TimeDelta::days(self.days - 1),
            earliest_start: DateTime::<Utc>::from_timestamp(self.earliest_minute * 60, 0).expect("valid"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_minute_by_minute_reference(case in case()) {
        let query = case.query();
        let busy = Busy::new(case.office.counters.len(), case.booked.iter().copied());
        prop_assert_eq!(slots::open_slots(&query, &busy), reference(&query, &case.booked));
    }

    #[test]
    fn no_offered_counter_is_busy_and_starts_keep_local_hours(case in case()) {
        let query = case.query();
        let busy = Busy::new(case.office.counters.len(), case.booked.iter().copied());
        let tz = case.office.timezone;
        for day in slots::open_slots(&query, &busy) {
            for slot in &day.slots {
                let local = slot.start.with_timezone(&tz);
                prop_assert_eq!(local.date_naive(), day.date);
                let minute = local.hour() * 60 + local.minute();
                prop_assert_eq!(minute % case.office.slot_minutes, 0, "on the grid in local time");
                for (index, counter) in case.office.counters.iter().enumerate() {
                    if slot.counters & (1 << index) == 0 {
                        continue;
                    }
                    prop_assert!(counter.schedule.on(day.date).iter().any(|p| p.start <= minute && minute < p.end));
                    prop_assert!(!case.booked.iter().any(|b| b.counter == index && b.start < slot.end && slot.start < b.end),
                        "counter {} offered at {} while busy", index, slot.start);
                }
            }
        }
    }
}
