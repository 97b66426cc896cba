//! The statistics of a year: an office's appointments of the last 365 days
//! with their history, as the retention job leaves them (no personal data),
//! written straight into the booking service's database, then the figures
//! read through the gateway as staff read them.

use chrono::{Datelike, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};

/// The office the year is written for and its counters; its hours, 08:00
/// to 18:00 on weekdays with 15-minute appointments (see `stack`).
const OFFICE: &str = "vergleich";
const COUNTERS: usize = 4;
const SLOTS_A_DAY: i64 = 40;

/// Where the year goes.
pub enum Target {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Target {
    /// Runs `sql`, generated here from numbers and fixed words only.
    async fn execute(&self, sql: String) -> anyhow::Result<()> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Target::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ())?,
            Target::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    /// An instant as the backend stores it (UTC seconds).
    fn instant(&self, seconds: i64) -> String {
        match self {
            Target::Sqlite(_) => seconds.to_string(),
            Target::Postgres(_) => format!("to_timestamp({seconds})"),
        }
    }

    fn bytes(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "X'00'",
            Target::Postgres(_) => "'\\x00'::bytea",
        }
    }
}

/// A small deterministic generator: the same year in every run.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }
}

/// Writes the year before today; returns how many appointments and history
/// entries it wrote.
pub async fn write_year(target: &Target) -> anyhow::Result<(usize, usize)> {
    let tz = chrono_tz::Europe::Berlin;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let mut dice = Dice(42);
    let (mut bookings, mut entries) = (Vec::new(), Vec::new());
    let mut written = (0, 0);
    for day in (1..=365)
        .rev()
        .filter_map(|back| today.checked_sub_signed(TimeDelta::days(back)))
    {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for slot in 0..SLOTS_A_DAY {
            for counter in 1..=COUNTERS {
                // Nine in ten places are booked.
                if dice.roll(10) == 0 {
                    continue;
                }
                let Some(start) = local(tz, day, 8 * 60 + slot * 15) else {
                    continue;
                };
                let index = written.0 + bookings.len();
                appointment(target, &mut dice, (index, counter, start), &mut bookings, &mut entries);
            }
        }
        if bookings.len() >= 2000 {
            written.0 += bookings.len();
            written.1 += entries.len();
            flush(target, &mut bookings, &mut entries).await?;
        }
    }
    written.0 += bookings.len();
    written.1 += entries.len();
    flush(target, &mut bookings, &mut entries).await?;
    Ok(written)
}

fn local(tz: chrono_tz::Tz, day: NaiveDate, minute: i64) -> Option<i64> {
    let local = day.and_hms_opt(0, 0, 0)? + TimeDelta::minutes(minute);
    Some(tz.from_local_datetime(&local).earliest()?.timestamp())
}

/// One appointment and its history: most served after a wait, some
/// cancelled, some missed; online, by phone or walked in.
fn appointment(
    target: &Target,
    dice: &mut Dice,
    (index, counter, start): (usize, usize, i64),
    bookings: &mut Vec<String>,
    entries: &mut Vec<String>,
) {
    let code = format!("Y{index:07}");
    let channel = match dice.roll(10) {
        0 => "phone",
        1 => "foyer",
        _ => "online",
    };
    let created = if channel == "foyer" {
        start - 600
    } else {
        start - 3600 * i64::try_from(1 + dice.roll(24 * 30)).unwrap_or(1)
    };
    let mut history = vec![(created, None, "booked")];
    // The steps the booking keeps itself: arrival, first call, completion.
    let mut steps = ["NULL".to_owned(), "NULL".to_owned(), "NULL".to_owned()];
    let status = match dice.roll(100) {
        0..8 => {
            history.push((created + 3600, Some("booked"), "cancelled"));
            "cancelled"
        }
        8..14 => {
            history.push((start + 1800, Some("booked"), "no_show"));
            "no_show"
        }
        _ => {
            let arrived = start - 60 * i64::try_from(dice.roll(15)).unwrap_or(0);
            let called = start + 60 * i64::try_from(dice.roll(20)).unwrap_or(0);
            let done = called + 60 * i64::try_from(5 + dice.roll(15)).unwrap_or(5);
            history.push((arrived, Some("booked"), "checked_in"));
            history.push((called, Some("checked_in"), "called"));
            history.push((done, Some("called"), "completed"));
            steps = [arrived, called, done].map(|at| target.instant(at));
            "completed"
        }
    };
    let updated = history.last().map_or(created, |entry| entry.0);
    let [arrived, called, completed] = steps;
    bookings.push(format!(
        "('{OFFICE}', '{code}', 'p{counter}', 'beratung', {}, {}, '{status}', '', '', {}, {}, {}, '{channel}', {}, \
         {arrived}, {called}, {completed})",
        target.instant(start),
        target.instant(start + 900),
        target.bytes(),
        target.instant(created),
        target.instant(updated),
        target.instant(updated),
    ));
    for (entry, (at, from, to)) in (1..).zip(history) {
        let from = from.map_or_else(|| "NULL".to_owned(), |from| format!("'{from}'"));
        entries.push(format!(
            "('{OFFICE}', '{code}', {entry}, {}, 'staff', {from}, '{to}')",
            target.instant(at)
        ));
    }
}

async fn flush(target: &Target, bookings: &mut Vec<String>, entries: &mut Vec<String>) -> anyhow::Result<()> {
    if bookings.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "BEGIN;\nINSERT INTO bookings (office_id, code, counter_id, concern_ids, start_at, end_at, status, name, \
         email, token_hash, created_at, updated_at, channel, anonymised_at, arrived_at, first_called_at, completed_at) \
         VALUES {};\n\
         INSERT INTO booking_history (office_id, code, entry, at, actor, from_status, to_status) VALUES {};\nCOMMIT;",
        bookings.join(",\n"),
        entries.join(",\n")
    );
    target.execute(sql).await?;
    bookings.clear();
    entries.clear();
    Ok(())
}

/// The queries measured: a year per month and per day, and its CSV.
pub fn queries() -> Vec<(&'static str, String)> {
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let from = today - TimeDelta::days(365);
    let to = today - TimeDelta::days(1);
    let path = format!("/api/v1/staff/offices/{OFFICE}/statistics");
    vec![
        (
            "statistics: a year per month",
            format!("{path}?from={from}&to={to}&period=month"),
        ),
        (
            "statistics: a year per day",
            format!("{path}?from={from}&to={to}&period=day"),
        ),
        (
            "statistics: a year as CSV, per week",
            format!("{path}.csv?from={from}&to={to}&period=week"),
        ),
    ]
}
