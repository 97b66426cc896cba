//! Dates as German citizens read them ("Donnerstag, 26. November 2026").

use chrono::{Datelike, NaiveDate};

pub const WEEKDAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
pub const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

/// "Donnerstag, 26. November 2026".
pub fn long_date(date: NaiveDate) -> String {
    format!(
        "{}, {}. {} {}",
        WEEKDAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    )
}

/// "November 2026".
pub fn month(date: NaiveDate) -> String {
    format!("{} {}", MONTHS[date.month0() as usize], date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_german() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 5).expect("valid");
        assert_eq!(long_date(date), "Donnerstag, 5. März 2026");
        assert_eq!(month(date), "März 2026");
    }
}
