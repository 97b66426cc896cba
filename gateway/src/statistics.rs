//! The office's statistics as the staff API and the desk show them: the
//! booking service's rows with names, as JSON, CSV and the figures the
//! statistics page draws.

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::ErrorCode;
use amtstermin_proto::booking::v1 as booking;
use chrono::{NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Services;
use crate::error::ApiError;

/// The range shown when none is asked for: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// The longest range one request may cover.
const MAX_DAYS: i64 = 366;

/// What to count, as the query string says it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StatisticsQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub period: String,
}

/// A checked range and period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub period: Period,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    /// The whole range as one period: the totals.
    Range,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Range];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Range => "range",
        }
    }

    fn to_proto(self) -> booking::StatisticsPeriod {
        match self {
            Period::Day => booking::StatisticsPeriod::Day,
            Period::Week => booking::StatisticsPeriod::Week,
            Period::Month => booking::StatisticsPeriod::Month,
            Period::Range => booking::StatisticsPeriod::Range,
        }
    }
}

impl StatisticsQuery {
    /// The range asked for, by default the last 30 days per day, in the
    /// office's time zone.
    pub fn range(&self, office: &OfficeCatalogue) -> Result<Range, ApiError> {
        let today = Utc::now().with_timezone(&office.timezone()).date_naive();
        let date = |field: &str, value: &str, default: NaiveDate| {
            if value.is_empty() {
                return Ok(default);
            }
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|_| ApiError::new(ErrorCode::InvalidDate, format!("{field} must be written YYYY-MM-DD")))
        };
        let to = date("to", &self.to, today)?;
        let from = date("from", &self.from, to - TimeDelta::days(DEFAULT_DAYS - 1))?;
        if from > to {
            return Err(ApiError::new(ErrorCode::InvalidDate, "from must not be after to"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(ApiError::new(
                ErrorCode::InvalidDate,
                format!("the range may cover at most {MAX_DAYS} days"),
            ));
        }
        let period = match self.period.as_str() {
            "" => Period::Day,
            text => Period::ALL
                .into_iter()
                .find(|period| period.as_str() == text)
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "period must be day, week, month or range"))?,
        };
        Ok(Range { from, to, period })
    }
}

/// One row of figures, as the API gives it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = StatisticsRow)]
pub struct Row {
    /// First local day of the period.
    #[schema(format = Date, example = "2026-11-02")]
    pub period_start: String,
    /// `office`, `concern` or `counter`.
    #[schema(example = "concern")]
    pub scope: String,
    /// The concern's or counter's id; `null` for the office.
    pub key: Option<String>,
    /// The concern's or counter's name, or the office's.
    pub name: String,
    /// Appointments in the period, whatever became of them.
    pub bookings: u32,
    pub online: u32,
    /// Given out by staff on the phone.
    pub phone: u32,
    /// Given out in the foyer.
    pub walk_ins: u32,
    pub cancelled: u32,
    pub no_shows: u32,
    pub completed: u32,
    /// `no_shows / (bookings - cancelled)`; `null` without such appointments.
    pub no_show_rate: Option<f64>,
    /// Mean hours from booking to appointment (walk-ins left out).
    pub average_lead_time_hours: Option<f64>,
    /// Mean minutes from arrival to the first call.
    pub average_wait_minutes: Option<f64>,
    /// Mean minutes from the first call to completion.
    pub average_service_minutes: Option<f64>,
    /// Minutes of the appointments not cancelled.
    pub booked_minutes: u64,
    /// Minutes the counters were open (0 for concerns).
    pub offered_minutes: u64,
    /// `booked_minutes / offered_minutes`; `null` where nothing was offered.
    pub utilisation: Option<f64>,
}

/// The statistics of an office for a range.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Statistics {
    pub office: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    #[schema(example = "week")]
    pub period: String,
    /// By period; in each the office, then its concerns, then its counters.
    pub rows: Vec<Row>,
}

/// Asks the booking service for the figures of `range`.
pub async fn fetch(services: &Services, office: &OfficeCatalogue, range: Range) -> Result<Statistics, ApiError> {
    let answer = services
        .bookings
        .clone()
        .get_statistics(booking::GetStatisticsRequest {
            office_id: office.id().to_owned(),
            from: range.from.to_string(),
            to: range.to.to_string(),
            period: range.period.to_proto().into(),
        })
        .await?
        .into_inner();
    let name = |row: &booking::StatisticsRow| match row.scope.as_str() {
        "concern" => office
            .concern(&row.key)
            .map_or_else(|| row.key.clone(), |concern| concern.name.clone()),
        "counter" => office.counter_name(&row.key).to_owned(),
        _ => office.office.name.clone(),
    };
    Ok(Statistics {
        office: office.id().to_owned(),
        from: range.from.to_string(),
        to: range.to.to_string(),
        period: range.period.as_str().to_owned(),
        rows: answer
            .rows
            .iter()
            .map(|row| Row {
                period_start: row.period_start.clone(),
                scope: row.scope.clone(),
                key: (!row.key.is_empty()).then(|| row.key.clone()),
                name: name(row),
                bookings: row.bookings,
                online: row.online,
                phone: row.phone,
                walk_ins: row.walk_ins,
                cancelled: row.cancelled,
                no_shows: row.no_shows,
                completed: row.completed,
                no_show_rate: row.no_show_rate,
                average_lead_time_hours: row.average_lead_time_hours,
                average_wait_minutes: row.average_wait_minutes,
                average_service_minutes: row.average_service_minutes,
                booked_minutes: row.booked_minutes,
                offered_minutes: row.offered_minutes,
                utilisation: row.utilisation,
            })
            .collect(),
    })
}

/// The header of the CSV export.
const CSV_HEADER: &str = "period_start,scope,key,name,bookings,online,phone,walk_ins,cancelled,no_shows,completed,\
no_show_rate,average_lead_time_hours,average_wait_minutes,average_service_minutes,booked_minutes,offered_minutes,\
utilisation";

/// The rows as CSV (RFC 4180: comma, CRLF, quoted text; decimals with a
/// point, an empty field where a figure has no value).
pub fn csv(statistics: &Statistics) -> String {
    let decimal = |value: Option<f64>| value.map(|value| format!("{value:.4}")).unwrap_or_default();
    let quoted = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut out = String::with_capacity(64 * (statistics.rows.len() + 1));
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for row in &statistics.rows {
        let fields = [
            row.period_start.clone(),
            row.scope.clone(),
            quoted(row.key.as_deref().unwrap_or_default()),
            quoted(&row.name),
            row.bookings.to_string(),
            row.online.to_string(),
            row.phone.to_string(),
            row.walk_ins.to_string(),
            row.cancelled.to_string(),
            row.no_shows.to_string(),
            row.completed.to_string(),
            decimal(row.no_show_rate),
            decimal(row.average_lead_time_hours),
            decimal(row.average_wait_minutes),
            decimal(row.average_service_minutes),
            row.booked_minutes.to_string(),
            row.offered_minutes.to_string(),
            decimal(row.utilisation),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}
