//! Opening hours: weekly hours with breaks, seasons that replace them from a
//! date on (e.g. summer hours), and closures of whole or partial days.
//! Times are local wall-clock minutes after midnight.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

/// Minutes in a day; a period may end at 24:00.
pub const DAY_MINUTES: u32 = 24 * 60;

/// One opening period of a day, in minutes after local midnight, `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("ungültige Uhrzeit {0:?}: bitte als \"HH:MM\" schreiben")]
pub struct InvalidTime(String);

/// Parses "HH:MM" (and "24:00" for the end of the day) into minutes.
pub fn parse_minutes(text: &str) -> Result<u32, InvalidTime> {
    let text = text.trim();
    if text == "24:00" {
        return Ok(DAY_MINUTES);
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map(|time| chrono::Timelike::num_seconds_from_midnight(&time) / 60)
        .map_err(|_| InvalidTime(text.to_owned()))
}

fn format_minutes(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("ungültige Öffnungszeit {0:?}: bitte als \"HH:MM-HH:MM\" schreiben, der Beginn vor dem Ende")]
pub struct InvalidPeriod(String);

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(input.to_owned());
        let (start, end) = input.split_once('-').ok_or_else(invalid)?;
        let period = Period {
            start: parse_minutes(start).map_err(|_| invalid())?,
            end: parse_minutes(end).map_err(|_| invalid())?,
        };
        if period.start < period.end {
            Ok(period)
        } else {
            Err(invalid())
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", format_minutes(self.start), format_minutes(self.end))
    }
}

/// Opening periods per weekday (Monday first), sorted and not overlapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<Period>; 7],
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Öffnungszeiten am {weekday} überschneiden sich: {first} und {second}")]
pub struct OverlappingPeriods {
    weekday: Weekday,
    first: Period,
    second: Period,
}

impl WeeklyHours {
    /// Sorts each day's periods, joins adjacent ones (an appointment may run
    /// from one into the next) and refuses overlapping ones, which would
    /// otherwise offer the same counter twice.
    pub fn new(days: [Vec<Period>; 7]) -> Result<Self, OverlappingPeriods> {
        let mut days = days;
        for (index, periods) in days.iter_mut().enumerate() {
            periods.sort();
            if let Some(pair) = periods.windows(2).find(|pair| pair[1].start < pair[0].end) {
                return Err(OverlappingPeriods {
                    weekday: weekday_from_index(index),
                    first: pair[0],
                    second: pair[1],
                });
            }
            periods.dedup_by(|next, previous| {
                let adjacent = previous.end == next.start;
                if adjacent {
                    previous.end = next.end;
                }
                adjacent
            });
        }
        Ok(Self { days })
    }

    pub fn on(&self, weekday: Weekday) -> &[Period] {
        &self.days[weekday.num_days_from_monday() as usize]
    }
}

fn weekday_from_index(index: usize) -> Weekday {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ][index % 7]
}

/// Weekly hours valid from a date on (and until a date, inclusive, if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Season {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub hours: WeeklyHours,
}

/// The hours of one counter: the regular week, replaced by the last listed
/// season that covers a date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub regular: WeeklyHours,
    pub seasons: Vec<Season>,
}

impl Schedule {
    pub fn on(&self, date: NaiveDate) -> &[Period] {
        self.seasons
            .iter()
            .rev()
            .find(|season| season.from <= date && season.until.is_none_or(|until| date <= until))
            .map_or(&self.regular, |season| &season.hours)
            .on(date.weekday())
    }
}

/// The office is closed on the dates `from..=until`, between `start` and
/// `end` (minutes; a whole day is 0 to 24:00).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure {
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub closed: Period,
}

impl Closure {
    fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.until
    }

    fn whole_day(&self) -> bool {
        self.closed.start == 0 && self.closed.end >= DAY_MINUTES
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closures(pub Vec<Closure>);

impl Closures {
    pub fn closes_all_day(&self, date: NaiveDate) -> bool {
        self.0.iter().any(|closure| closure.covers(date) && closure.whole_day())
    }

    /// `periods` with the closed parts of `date` cut out, into `out`.
    pub fn open_parts(&self, date: NaiveDate, periods: &[Period], out: &mut Vec<Period>) {
        out.clear();
        out.extend_from_slice(periods);
        for closure in self.0.iter().filter(|closure| closure.covers(date)) {
            let closed = closure.closed;
            let mut index = 0;
            while index < out.len() {
                let open = out[index];
                if closed.end <= open.start || open.end <= closed.start {
                    index += 1;
                    continue;
                }
                let before = Period {
                    start: open.start,
                    end: closed.start,
                };
                let after = Period {
                    start: closed.end,
                    end: open.end,
                };
                out.remove(index);
                for part in [before, after].into_iter().filter(|part| part.start < part.end) {
                    out.insert(index, part);
                    index += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(s: &str) -> Period {
        s.parse().expect("valid period")
    }

    fn date(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("valid")
    }

    fn week(mon: &[&str]) -> WeeklyHours {
        let mut days: [Vec<Period>; 7] = Default::default();
        days[0] = mon.iter().map(|p| period(p)).collect();
        WeeklyHours::new(days).expect("valid")
    }

    #[test]
    fn periods_parse_and_reject_nonsense() {
        assert_eq!(period("08:00-12:30").to_string(), "08:00-12:30");
        assert_eq!(period(" 7:30 - 9:00 ").to_string(), "07:30-09:00");
        assert_eq!(period("20:00-24:00").end, DAY_MINUTES);
        for bad in ["12:00-08:00", "08:00-08:00", "8-12", "08:00", "25:00-26:00", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn weekly_hours_sort_and_refuse_overlaps() {
        let mut days: [Vec<Period>; 7] = Default::default();
        days[0] = vec![period("14:00-16:00"), period("08:00-10:00"), period("10:00-12:00")];
        let hours = WeeklyHours::new(days.clone()).expect("valid");
        assert_eq!(hours.on(Weekday::Mon), [period("08:00-12:00"), period("14:00-16:00")]);
        assert!(hours.on(Weekday::Tue).is_empty());

        days[3] = vec![period("08:00-12:00"), period("11:00-13:00")];
        let error = WeeklyHours::new(days).expect_err("overlap");
        assert_eq!(error.weekday, Weekday::Thu);
    }

    #[test]
    fn the_last_season_covering_a_date_wins() {
        let schedule = Schedule {
            regular: week(&["08:00-16:00"]),
            seasons: vec![
                Season {
                    from: date(6, 1),
                    until: None,
                    hours: week(&["07:00-13:00"]),
                },
                Season {
                    from: date(7, 1),
                    until: Some(date(7, 31)),
                    hours: week(&["09:00-11:00"]),
                },
            ],
        };
        assert_eq!(schedule.on(date(5, 25)), [period("08:00-16:00")]);
        assert_eq!(schedule.on(date(6, 1)), [period("07:00-13:00")]);
        assert_eq!(schedule.on(date(7, 27)), [period("09:00-11:00")]);
        assert_eq!(schedule.on(date(8, 3)), [period("07:00-13:00")], "summer hours go on");
    }

    #[test]
    fn closures_cut_whole_and_partial_days() {
        let closures = Closures(vec![
            Closure {
                from: date(12, 24),
                until: date(12, 24),
                closed: period("12:00-24:00"),
            },
            Closure {
                from: date(12, 28),
                until: date(12, 30),
                closed: period("00:00-24:00"),
            },
            Closure {
                from: date(12, 2),
                until: date(12, 2),
                closed: period("10:00-10:30"),
            },
        ]);
        let day = [period("08:00-12:30"), period("14:00-16:00")];
        let mut open = Vec::new();
        closures.open_parts(date(12, 24), &day, &mut open);
        assert_eq!(open, [period("08:00-12:00")]);
        closures.open_parts(date(12, 2), &day, &mut open);
        assert_eq!(
            open,
            [period("08:00-10:00"), period("10:30-12:30"), period("14:00-16:00")]
        );
        closures.open_parts(date(12, 3), &day, &mut open);
        assert_eq!(open, day);
        assert!(closures.closes_all_day(date(12, 29)));
        assert!(!closures.closes_all_day(date(12, 24)), "only the afternoon");
    }
}
