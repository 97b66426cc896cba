//! Weekly opening hours and the days an office is closed.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

use crate::holidays::{self, State};

/// One opening period of a day in local wall-clock time, `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid opening period {0:?}: write it as \"HH:MM-HH:MM\" with the start before the end")]
pub struct InvalidPeriod(String);

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(input.to_owned());
        let (start, end) = input.split_once('-').ok_or_else(invalid)?;
        let parse = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| invalid());
        let period = Period {
            start: parse(start)?,
            end: parse(end)?,
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
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

/// Opening periods per weekday (Monday first), sorted and not overlapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<Period>; 7],
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("opening periods on {weekday} overlap: {first} and {second}")]
pub struct OverlappingPeriods {
    weekday: Weekday,
    first: Period,
    second: Period,
}

impl WeeklyHours {
    /// Sorts each day's periods and refuses overlapping ones, which would
    /// otherwise offer the same counter twice.
    pub fn new(days: [Vec<Period>; 7]) -> Result<Self, OverlappingPeriods> {
        let mut days = days;
        for (index, periods) in days.iter_mut().enumerate() {
            periods.sort_by_key(|period| period.start);
            if let Some(pair) = periods.windows(2).find(|pair| pair[1].start < pair[0].end) {
                return Err(OverlappingPeriods {
                    weekday: weekday_from_index(index),
                    first: pair[0],
                    second: pair[1],
                });
            }
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

/// Whether the office stays closed all day: Sundays and public holidays.
pub fn closed_all_day(state: State, date: NaiveDate) -> bool {
    date.weekday() == Weekday::Sun || holidays::public_holiday(state, date).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(s: &str) -> Period {
        s.parse().expect("valid period")
    }

    #[test]
    fn periods_parse_and_reject_nonsense() {
        assert_eq!(period("08:00-12:30").to_string(), "08:00-12:30");
        assert_eq!(period(" 7:30 - 9:00 ").to_string(), "07:30-09:00");
        for bad in ["12:00-08:00", "08:00-08:00", "8-12", "08:00", "25:00-26:00", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn weekly_hours_sort_and_refuse_overlaps() {
        let mut days: [Vec<Period>; 7] = Default::default();
        days[0] = vec![period("14:00-16:00"), period("08:00-12:00")];
        let hours = WeeklyHours::new(days.clone()).expect("valid");
        assert_eq!(hours.on(Weekday::Mon)[0], period("08:00-12:00"));
        assert!(hours.on(Weekday::Tue).is_empty());

        days[3] = vec![period("08:00-12:00"), period("11:00-13:00")];
        let error = WeeklyHours::new(days).expect_err("overlap");
        assert_eq!(error.weekday, Weekday::Thu);
    }

    #[test]
    fn sundays_and_nrw_holidays_are_closed() {
        let date = |m, d| NaiveDate::from_ymd_opt(2026, m, d).expect("valid");
        assert!(closed_all_day(State::NW, date(11, 29)), "a Sunday");
        assert!(closed_all_day(State::NW, date(12, 25)), "Christmas");
        assert!(!closed_all_day(State::NW, date(11, 28)), "a Saturday is a normal day");
        assert!(!closed_all_day(State::NW, date(11, 30)), "a Monday");
    }
}
