//! Dates as English readers read them ("Thursday, 26 November 2026").

use chrono::{Datelike, NaiveDate};

pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "Thursday, 26 November 2026".
pub fn long_date(date: NaiveDate) -> String {
    format!(
        "{}, {} {} {}",
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
    fn dates_read_english() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 5).expect("valid");
        assert_eq!(long_date(date), "Thursday, 5 March 2026");
        assert_eq!(month(date), "March 2026");
    }
}
