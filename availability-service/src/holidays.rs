//! Statutory public holidays of the German states, computed (no table to
//! maintain): fixed dates plus the movable feasts that follow Easter.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

/// A German state (Land), by its ISO 3166-2:DE code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    BW,
    BY,
    BE,
    BB,
    HB,
    HH,
    HE,
    MV,
    NI,
    NW,
    RP,
    SL,
    SN,
    ST,
    SH,
    TH,
}

impl State {
    const ALL: [(State, &'static str); 16] = [
        (State::BW, "BW"),
        (State::BY, "BY"),
        (State::BE, "BE"),
        (State::BB, "BB"),
        (State::HB, "HB"),
        (State::HH, "HH"),
        (State::HE, "HE"),
        (State::MV, "MV"),
        (State::NI, "NI"),
        (State::NW, "NW"),
        (State::RP, "RP"),
        (State::SL, "SL"),
        (State::SN, "SN"),
        (State::ST, "ST"),
        (State::SH, "SH"),
        (State::TH, "TH"),
    ];

    pub fn code(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(state, _)| *state == self)
            .map_or("", |(_, code)| code)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unbekanntes Bundesland {0:?}: bitte das Kürzel nach ISO 3166-2:DE angeben, z. B. \"NW\"")]
pub struct UnknownState(String);

impl FromStr for State {
    type Err = UnknownState;

    /// Accepts "NW" as well as "DE-NW" and the common "NRW" (any case).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let upper = input.trim().to_ascii_uppercase();
        let code = match upper.strip_prefix("DE-").unwrap_or(&upper) {
            "NRW" => "NW",
            code => code,
        };
        Self::ALL
            .iter()
            .find(|(_, name)| *name == code)
            .map(|(state, _)| *state)
            .ok_or_else(|| UnknownState(input.to_owned()))
    }
}

/// Easter Sunday of the Gregorian calendar (anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // The algorithm yields March or April with a valid day for every year.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

/// Name of the statutory public holiday on `date` in `state`, if there is one.
pub fn public_holiday(state: State, date: NaiveDate) -> Option<&'static str> {
    use State::*;
    let in_states = |states: &[State]| states.contains(&state);
    let year = date.year();
    match (date.month(), date.day()) {
        (1, 1) => return Some("Neujahr"),
        (1, 6) if in_states(&[BW, BY, ST]) => return Some("Heilige Drei Könige"),
        (3, 8) if (state == BE && year >= 2019) || (state == MV && year >= 2023) => {
            return Some("Internationaler Frauentag");
        }
        (5, 1) => return Some("Tag der Arbeit"),
        (8, 15) if in_states(&[BY, SL]) => return Some("Mariä Himmelfahrt"),
        (9, 20) if state == TH && year >= 2019 => return Some("Weltkindertag"),
        (10, 3) => return Some("Tag der Deutschen Einheit"),
        (10, 31) if in_states(&[BB, MV, SN, ST, TH]) || (in_states(&[HB, HH, NI, SH]) && year >= 2018) => {
            return Some("Reformationstag");
        }
        (10, 31) if year == 2017 => return Some("Reformationstag"),
        (11, 1) if in_states(&[BW, BY, NW, RP, SL]) => return Some("Allerheiligen"),
        (12, 25) => return Some("1. Weihnachtstag"),
        (12, 26) => return Some("2. Weihnachtstag"),
        _ => {}
    }
    if state == SN && date == repentance_day(year) {
        return Some("Buß- und Bettag");
    }
    let easter = easter_sunday(year);
    match (date - easter).num_days() {
        -2 => Some("Karfreitag"),
        0 if state == BB => Some("Ostersonntag"),
        1 => Some("Ostermontag"),
        39 => Some("Christi Himmelfahrt"),
        49 if state == BB => Some("Pfingstsonntag"),
        50 => Some("Pfingstmontag"),
        60 if in_states(&[BW, BY, HE, NW, RP, SL]) => Some("Fronleichnam"),
        _ => None,
    }
}

/// Buß- und Bettag: the Wednesday before 23 November.
fn repentance_day(year: i32) -> NaiveDate {
    let nov_22 = NaiveDate::from_ymd_opt(year, 11, 22).unwrap_or(NaiveDate::MIN);
    let back = (7 + nov_22.weekday().num_days_from_monday() - Weekday::Wed.num_days_from_monday()) % 7;
    nov_22 - TimeDelta::days(i64::from(back))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn easter_matches_the_published_dates() {
        assert_eq!(easter_sunday(2024), date(2024, 3, 31));
        assert_eq!(easter_sunday(2025), date(2025, 4, 20));
        assert_eq!(easter_sunday(2026), date(2026, 4, 5));
        assert_eq!(easter_sunday(2027), date(2027, 3, 28));
        assert_eq!(easter_sunday(2038), date(2038, 4, 25));
    }

    #[test]
    fn nrw_2026_has_its_eleven_holidays_and_no_others() {
        let expected = [
            (date(2026, 1, 1), "Neujahr"),
            (date(2026, 4, 3), "Karfreitag"),
            (date(2026, 4, 6), "Ostermontag"),
            (date(2026, 5, 1), "Tag der Arbeit"),
            (date(2026, 5, 14), "Christi Himmelfahrt"),
            (date(2026, 5, 25), "Pfingstmontag"),
            (date(2026, 6, 4), "Fronleichnam"),
            (date(2026, 10, 3), "Tag der Deutschen Einheit"),
            (date(2026, 11, 1), "Allerheiligen"),
            (date(2026, 12, 25), "1. Weihnachtstag"),
            (date(2026, 12, 26), "2. Weihnachtstag"),
        ];
        let found: Vec<_> = date(2026, 1, 1)
            .iter_days()
            .take_while(|d| d.year() == 2026)
            .filter_map(|d| public_holiday(State::NW, d).map(|name| (d, name)))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn state_specific_days_follow_the_state() {
        assert_eq!(public_holiday(State::SN, date(2026, 11, 18)), Some("Buß- und Bettag"));
        assert_eq!(public_holiday(State::NW, date(2026, 11, 18)), None);
        assert_eq!(public_holiday(State::NI, date(2026, 10, 31)), Some("Reformationstag"));
        assert_eq!(public_holiday(State::NW, date(2026, 10, 31)), None);
        assert_eq!(public_holiday(State::BY, date(2026, 1, 6)), Some("Heilige Drei Könige"));
        assert_eq!(
            public_holiday(State::BE, date(2026, 3, 8)),
            Some("Internationaler Frauentag")
        );
        assert_eq!(public_holiday(State::HE, date(2026, 6, 4)), Some("Fronleichnam"));
        assert_eq!(public_holiday(State::HH, date(2026, 6, 4)), None);
    }

    #[test]
    fn states_parse_from_iso_codes() {
        assert_eq!("NW".parse::<State>().ok(), Some(State::NW));
        assert_eq!("de-by".parse::<State>().ok(), Some(State::BY));
        assert_eq!("NRW".parse::<State>().ok(), Some(State::NW));
        assert!("XX".parse::<State>().is_err());
        assert_eq!(State::TH.to_string(), "TH");
    }
}
