//! The office's statistics for staff (`/schalter/{office}/statistik`): the
//! figures of a range per day, week or month as charts drawn on the server
//! with the numbers in tables beside them, the totals per concern and
//! counter, and the same as CSV.

use amtstermin_catalogue::german;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};

use super::chart::{self, Bar, Chart, Part};
use super::desk::signed_in_as;
use super::frame::Frame;
use super::{WebError, encode, render};
use crate::Services;
use crate::staff::Role;
use crate::statistics::{self, Period, Range, Row, Statistics, StatisticsQuery};

#[derive(Template)]
#[template(path = "desk_statistics.html")]
struct Page {
    frame: Frame,
    office_id: String,
    office_name: String,
    from: String,
    to: String,
    /// (value, label, selected)
    periods: Vec<(&'static str, &'static str, bool)>,
    error: Option<&'static str>,
    csv_link: String,
    range_label: String,
    /// The totals of the range, as (term, value).
    totals: Vec<(&'static str, String)>,
    charts: Vec<Chart>,
    per_period: Vec<RowView>,
    concerns: Vec<RowView>,
    counters: Vec<RowView>,
}

/// A row of figures as the tables show it, in German notation.
struct RowView {
    label: String,
    bookings: u32,
    online: u32,
    phone: u32,
    walk_ins: u32,
    cancelled: u32,
    no_shows: u32,
    no_show_rate: String,
    lead_time: String,
    wait: String,
    service: String,
    booked_hours: String,
    offered_hours: String,
    utilisation: String,
}

/// "12,5"
fn decimal(value: f64) -> String {
    format!("{value:.1}").replace('.', ",")
}

fn or_dash(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "–".to_owned(), format)
}

fn percent(value: Option<f64>) -> String {
    or_dash(value, |value| format!("{} %", decimal(value * 100.0)))
}

fn hours(minutes: u64) -> String {
    decimal(minutes as f64 / 60.0)
}

impl RowView {
    fn new(label: String, row: &Row) -> Self {
        Self {
            label,
            bookings: row.bookings,
            online: row.online,
            phone: row.phone,
            walk_ins: row.walk_ins,
            cancelled: row.cancelled,
            no_shows: row.no_shows,
            no_show_rate: percent(row.no_show_rate),
            lead_time: or_dash(row.average_lead_time_hours, |hours| {
                format!("{} Tage", decimal(hours / 24.0))
            }),
            wait: or_dash(row.average_wait_minutes, |minutes| format!("{} min", decimal(minutes))),
            service: or_dash(row.average_service_minutes, |minutes| {
                format!("{} min", decimal(minutes))
            }),
            booked_hours: hours(row.booked_minutes),
            offered_hours: if row.scope == "concern" {
                "–".to_owned()
            } else {
                hours(row.offered_minutes)
            },
            utilisation: percent(row.utilisation),
        }
    }
}

/// How a period is named on the axis and in the table.
fn period_label(period: Period, start: &str) -> String {
    let Ok(day) = NaiveDate::parse_from_str(start, "%Y-%m-%d") else {
        return start.to_owned();
    };
    match period {
        Period::Day => day.format("%d.%m.").to_string(),
        Period::Week => format!("KW {}", day.iso_week().week()),
        Period::Month => german::month(day),
        Period::Range => day.format("%d.%m.%Y").to_string(),
    }
}

const PERIODS: [(Period, &str); 3] = [(Period::Day, "Tag"), (Period::Week, "Woche"), (Period::Month, "Monat")];

pub async fn page(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StatisticsQuery>,
) -> Result<Response, WebError> {
    signed_in_as(&services, &headers, Some(&office_id), &[Role::Desk, Role::Audit]).await?;
    let office = services.office(&office_id).await?;
    let (range, error) = match query.range(&office) {
        Ok(range) => (range, None),
        Err(_) => (
            StatisticsQuery::default().range(&office)?,
            Some("Bitte geben Sie gültige Tage an: „von“ nicht nach „bis“, höchstens 366 Tage."),
        ),
    };
    // The page shows totals beside the periods; "range" is not a choice.
    let range = Range {
        period: if range.period == Period::Range {
            Period::Day
        } else {
            range.period
        },
        ..range
    };
    let per_period = statistics::fetch(&services, &office, range).await?;
    let totals = statistics::fetch(
        &services,
        &office,
        Range {
            period: Period::Range,
            ..range
        },
    )
    .await?;
    let office_rows: Vec<&Row> = per_period.rows.iter().filter(|row| row.scope == "office").collect();
    let total = totals.rows.iter().find(|row| row.scope == "office");
    let query_string = format!("from={}&to={}&period={}", range.from, range.to, range.period.as_str());
    let page = Page {
        frame: Frame::default(),
        office_name: office.office.name.clone(),
        from: range.from.to_string(),
        to: range.to.to_string(),
        periods: PERIODS
            .iter()
            .map(|(period, label)| (period.as_str(), *label, *period == range.period))
            .collect(),
        error,
        csv_link: format!("/schalter/{}/statistik.csv?{query_string}", encode(&office_id)),
        range_label: format!("{} bis {}", range.from.format("%d.%m.%Y"), range.to.format("%d.%m.%Y")),
        totals: total.map(summary).unwrap_or_default(),
        charts: charts(range.period, &office_rows),
        per_period: office_rows
            .iter()
            .map(|row| RowView::new(period_label(range.period, &row.period_start), row))
            .collect(),
        concerns: totals
            .rows
            .iter()
            .filter(|row| row.scope == "concern")
            .map(|row| RowView::new(row.name.clone(), row))
            .collect(),
        counters: totals
            .rows
            .iter()
            .filter(|row| row.scope == "counter")
            .map(|row| RowView::new(row.name.clone(), row))
            .collect(),
        office_id,
    };
    let mut response = render(&page)?.into_response();
    if error.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// The figures of the whole range in words.
fn summary(row: &Row) -> Vec<(&'static str, String)> {
    let view = RowView::new(String::new(), row);
    vec![
        (
            "Termine",
            format!(
                "{} (online {}, Telefon {}, Laufkundschaft {})",
                row.bookings, row.online, row.phone, row.walk_ins
            ),
        ),
        ("Abgesagt", row.cancelled.to_string()),
        (
            "Nicht erschienen",
            format!("{} ({} der nicht abgesagten)", row.no_shows, view.no_show_rate),
        ),
        ("Erledigt", row.completed.to_string()),
        ("Mittlere Vorlaufzeit", view.lead_time),
        ("Mittlere Wartezeit (Ankunft bis Aufruf)", view.wait),
        ("Mittlere Bedienzeit (Aufruf bis Erledigt)", view.service),
        (
            "Auslastung",
            format!(
                "{} ({} von {} Stunden gebucht)",
                view.utilisation, view.booked_hours, view.offered_hours
            ),
        ),
    ]
}

fn charts(period: Period, rows: &[&Row]) -> Vec<Chart> {
    let label = |row: &Row| period_label(period, &row.period_start);
    let unit_name = match period {
        Period::Week => "Woche",
        Period::Month => "Monat",
        _ => "Tag",
    };
    let bookings: Vec<Bar> = rows
        .iter()
        .map(|row| Bar {
            label: label(row),
            parts: vec![
                Part {
                    class: "series-1",
                    value: f64::from(row.online),
                },
                Part {
                    class: "series-2",
                    value: f64::from(row.phone),
                },
                Part {
                    class: "series-3",
                    value: f64::from(row.walk_ins),
                },
            ],
        })
        .collect();
    let total: u32 = rows.iter().map(|row| row.bookings).sum();
    let busiest = rows.iter().max_by_key(|row| row.bookings);
    let utilisation: Vec<Bar> = rows
        .iter()
        .map(|row| Bar {
            label: label(row),
            parts: vec![Part {
                class: "series-1",
                value: row.utilisation.unwrap_or(0.0) * 100.0,
            }],
        })
        .collect();
    let waits: Vec<Bar> = rows
        .iter()
        .map(|row| Bar {
            label: label(row),
            parts: vec![Part {
                class: "series-1",
                value: row.average_wait_minutes.unwrap_or(0.0),
            }],
        })
        .collect();
    let longest_wait = rows
        .iter()
        .filter_map(|row| row.average_wait_minutes.map(|minutes| (minutes, label(row))))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    vec![
        chart::stacked(
            "termine",
            (
                format!("Termine je {unit_name} nach Weg"),
                format!(
                    "{total} Termine in {} Zeiträumen{}.",
                    rows.len(),
                    busiest.map_or_else(String::new, |row| format!(
                        "; die meisten ({}) am {}",
                        row.bookings,
                        label(row)
                    ))
                ),
            ),
            vec![
                ("series-1", "online".to_owned()),
                ("series-2", "Telefon".to_owned()),
                ("series-3", "Laufkundschaft".to_owned()),
            ],
            &bookings,
            (&|value| format!("{value:.0}"), true),
        ),
        chart::stacked(
            "auslastung",
            (
                format!("Auslastung je {unit_name}"),
                "Gebuchte Minuten im Verhältnis zu den angebotenen, in Prozent.".to_owned(),
            ),
            vec![("series-1", "Auslastung".to_owned())],
            &utilisation,
            (&|value| format!("{} %", decimal(value)), false),
        ),
        chart::stacked(
            "wartezeit",
            (
                format!("Mittlere Wartezeit je {unit_name}"),
                longest_wait.map_or_else(
                    || "Noch keine Wartezeiten erfasst.".to_owned(),
                    |(minutes, label)| {
                        format!(
                            "Minuten von der Ankunft bis zum Aufruf; am längsten {} min ({label}).",
                            decimal(minutes)
                        )
                    },
                ),
            ),
            vec![("series-1", "Wartezeit".to_owned())],
            &waits,
            (&|value| format!("{} min", decimal(value)), false),
        ),
    ]
}

/// The page's figures as CSV (the same as the staff API's).
pub async fn csv(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StatisticsQuery>,
) -> Result<Response, WebError> {
    signed_in_as(&services, &headers, Some(&office_id), &[Role::Desk, Role::Audit]).await?;
    let office = services.office(&office_id).await?;
    let range = query
        .range(&office)
        .map_err(|_| WebError::BadRequest("Bitte geben Sie gültige Tage an."))?;
    let statistics: Statistics = statistics::fetch(&services, &office, range).await?;
    Ok(crate::staff_api::csv_download(&statistics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_named_the_german_way() {
        assert_eq!(period_label(Period::Day, "2026-11-02"), "02.11.");
        assert_eq!(period_label(Period::Week, "2026-11-02"), "KW 45");
        assert_eq!(period_label(Period::Month, "2026-11-01"), "November 2026");
        assert_eq!(percent(Some(0.125)), "12,5 %");
        assert_eq!(percent(None), "–");
    }
}
