//! The slot engine under the load of a busy office: 12 counters, a 60-day
//! window, 6,000 existing bookings. `cargo bench -p availability-service`.

use std::hint::black_box;

use availability_service::catalogue::{Counter, Office};
use availability_service::holidays::State;
use availability_service::schedule::{Closures, Period, Schedule, WeeklyHours};
use availability_service::slots::{self, Booked, Busy, Query, local_instant};
use chrono::{DateTime, NaiveDate, TimeDelta};
use criterion::{Criterion, criterion_group, criterion_main};

const COUNTERS: usize = 12;
const DAYS: i64 = 60;
const BOOKINGS: usize = 6_000;

fn period(text: &str) -> Period {
    text.parse().expect("valid period")
}

fn office() -> Office {
    let weekday = vec![period("08:00-12:30"), period("14:00-18:00")];
    let hours = WeeklyHours::new([
        weekday.clone(),
        weekday.clone(),
        vec![period("08:00-12:30")],
        weekday.clone(),
        vec![period("08:00-12:30")],
        vec![period("09:00-12:00")],
        Vec::new(),
    ])
    .expect("valid hours");
    Office {
        id: "bench".into(),
        name: "Benchmark office".into(),
        address: "Weg 1".into(),
        timezone: chrono_tz::Europe::Berlin,
        state: State::NW,
        booking_window_days: DAYS as u32,
        min_lead_minutes: 60,
        slot_minutes: 5,
        release_minute: 0,
        open_on_sundays: false,
        closures: Closures::default(),
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
        counters: (0..COUNTERS)
            .map(|index| Counter {
                id: format!("platz-{index}"),
                name: format!("Platz {index}"),
                concern_ids: Vec::new(),
                schedule: Schedule {
                    regular: hours.clone(),
                    seasons: Vec::new(),
                },
            })
            .collect(),
    }
}

/// 6,000 non-overlapping 15-minute bookings spread over all counters and days.
fn bookings(office: &Office, first_day: NaiveDate) -> Vec<Booked> {
    let mut booked = Vec::with_capacity(BOOKINGS);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    'days: for offset in 0..DAYS {
        let day = first_day + TimeDelta::days(offset);
        for counter in 0..COUNTERS {
            for slot in 0..9u32 {
                if booked.len() == BOOKINGS {
                    break 'days;
                }
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Quarter hours from 08:00, some in the morning, some in the afternoon.
                let minute = 8 * 60 + slot * 30 + (seed % 2) as u32 * 15;
                let Some(start) = local_instant(office.timezone, day, minute) else {
                    continue;
                };
                let at = |s: i64| DateTime::from_timestamp(s, 0).expect("valid");
                booked.push(Booked {
                    counter,
                    start: at(start),
                    end: at(start + 15 * 60),
                });
            }
        }
    }
    booked
}

fn bench(c: &mut Criterion) {
    let office = office();
    let first_day = NaiveDate::from_ymd_opt(2027, 3, 1).expect("valid");
    let booked = bookings(&office, first_day);
    let busy = Busy::new(COUNTERS, booked.iter().copied());
    let earliest = DateTime::from_timestamp(0, 0).expect("valid");
    let query = |days: i64| Query {
        office: &office,
        counters: (1 << COUNTERS) - 1,
        duration: TimeDelta::minutes(20),
        first_day,
        last_day: first_day + TimeDelta::days(days - 1),
        earliest_start: earliest,
    };
    let whole = query(DAYS + 1);
    let slot_count: usize = slots::open_slots(&whole, &busy).iter().map(|d| d.slots.len()).sum();
    eprintln!("{} bookings, {slot_count} open slots in the window", busy.len());

    c.bench_function(
        "slots: one concern, whole 60-day window, 12 counters, 6000 bookings",
        |b| b.iter(|| slots::open_slots(black_box(&whole), black_box(&busy))),
    );
    let day = query(1);
    c.bench_function("slots: one concern, single day", |b| {
        b.iter(|| slots::open_slots(black_box(&day), black_box(&busy)))
    });
    c.bench_function("busy: index 6000 bookings", |b| {
        b.iter(|| Busy::new(COUNTERS, black_box(&booked).iter().copied()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
