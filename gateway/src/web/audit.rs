//! The audit log of an office (`/verwaltung/{office}/protokoll`, roles admin
//! and audit): who signed in, changed bookings, recorded absences, changed
//! the configuration, webhooks, feeds and accounts, and when; filtered by
//! days, person and kind, and as CSV for the internal audit.

use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::desk::signed_in_as;
use super::frame::Frame;
use super::{WebError, render};
use crate::Services;
use crate::staff::Role;

/// Days shown unless asked otherwise (today and the six before).
const DEFAULT_DAYS: i64 = 7;
/// The longest range one page or file covers.
const LONGEST_RANGE_DAYS: i64 = 366;

/// Kinds of events to filter by: (value, label, action prefixes).
const KINDS: [(&str, &str, &[&str]); 6] = [
    ("anmeldungen", "An- und Abmeldungen", &["staff.signed_"]),
    ("termine", "Termine", &["booking."]),
    ("abwesenheiten", "Abwesenheiten", &["absence."]),
    ("konfiguration", "Konfiguration", &["configuration."]),
    ("integrationen", "Webhooks und Kalender-Abos", &["webhook.", "feed."]),
    (
        "konten",
        "Konten",
        &["staff.created", "staff.changed", "staff.disabled", "staff.password_set"],
    ),
];

fn label(action: &str) -> &str {
    match action {
        "staff.signed_in" => "Angemeldet",
        "staff.signed_out" => "Abgemeldet",
        "booking.pending" => "Termin vorgemerkt",
        "booking.booked" => "Termin vergeben oder bestätigt",
        "booking.checked_in" => "Eingetroffen",
        "booking.called" => "Aufgerufen",
        "booking.completed" => "Erledigt",
        "booking.no_show" => "Nicht erschienen",
        "booking.cancelled" => "Termin abgesagt",
        "booking.moved" => "Termin verschoben",
        "absence.added" => "Abwesenheit eingetragen",
        "absence.removed" => "Abwesenheit aufgehoben",
        "configuration.changed" => "Konfiguration geändert",
        "webhook.created" => "Webhook angelegt",
        "webhook.deleted" => "Webhook gelöscht",
        "feed.created" => "Kalender-Abo angelegt",
        "feed.revoked" => "Kalender-Abo widerrufen",
        "staff.created" => "Konto angelegt",
        "staff.changed" => "Konto geändert",
        "staff.disabled" => "Konto gesperrt",
        "staff.password_set" => "Passwort gesetzt",
        other => other,
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    von: String,
    #[serde(default)]
    bis: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    art: String,
}

struct Row {
    at: String,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    from: String,
    to: String,
    person: String,
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
    /// The query for the CSV link, as given.
    query: String,
}

/// The local days `von`..=`bis` as instants [from, to).
fn range(
    query: &AuditQuery,
    tz: Tz,
) -> Result<(NaiveDate, NaiveDate, chrono::DateTime<Utc>, chrono::DateTime<Utc>), WebError> {
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = |text: &str, default: NaiveDate| {
        if text.trim().is_empty() {
            return Ok(default);
        }
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| WebError::BadRequest("Bitte geben Sie die Tage als Datum an (JJJJ-MM-TT)."))
    };
    let last = day(&query.bis, today)?;
    let first = day(&query.von, last - TimeDelta::days(DEFAULT_DAYS - 1))?;
    if first > last || (last - first).num_days() >= LONGEST_RANGE_DAYS {
        return Err(WebError::BadRequest(
            "Der erste Tag muss vor dem letzten liegen, höchstens ein Jahr davor.",
        ));
    }
    let midnight = |date: NaiveDate| {
        tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .ok_or(WebError::BadRequest(
                "Diesen Tag gibt es in der Zeitzone des Amtes nicht.",
            ))
    };
    Ok((first, last, midnight(first)?, midnight(last + TimeDelta::days(1))?))
}

/// The office's events of the query, newest first, as rows.
async fn rows(
    services: &Services,
    office_id: &str,
    query: &AuditQuery,
) -> Result<(String, NaiveDate, NaiveDate, Vec<Row>), WebError> {
    let office = services.office(office_id).await?;
    let tz = office.timezone();
    let (first, last, from, to) = range(query, tz)?;
    let events = services
        .bookings
        .clone()
        .list_audit_events(booking::ListAuditEventsRequest {
            office_id: office_id.to_owned(),
            from: Some(timestamp::to_proto(from)),
            to: Some(timestamp::to_proto(to)),
            limit: 0,
        })
        .await?
        .into_inner()
        .events;
    let person = query.person.trim().to_lowercase();
    let prefixes: &[&str] = KINDS
        .iter()
        .find(|(value, _, _)| *value == query.art)
        .map_or(&[], |(_, _, prefixes)| prefixes);
    let rows = events
        .into_iter()
        .filter(|event| person.is_empty() || event.actor.to_lowercase().contains(&person))
        .filter(|event| prefixes.is_empty() || prefixes.iter().any(|prefix| event.action.starts_with(prefix)))
        .map(|event| Row {
            at: event
                .at
                .as_ref()
                .and_then(timestamp::from_proto)
                .map(|at| at.with_timezone(&tz).format("%d.%m.%Y %H:%M:%S").to_string())
                .unwrap_or_default(),
            actor: event.actor.strip_prefix("staff:").unwrap_or(&event.actor).to_owned(),
            action: label(&event.action).to_owned(),
            subject: event.subject,
            detail: event.detail,
        })
        .collect();
    Ok((office.office.name.clone(), first, last, rows))
}

pub async fn page(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    signed_in_as(&services, &headers, Some(&office_id), &[Role::Admin, Role::Audit]).await?;
    let (office_name, first, last, rows) = rows(&services, &office_id, &query).await?;
    let link = format!(
        "von={first}&bis={last}&person={}&art={}",
        super::encode(query.person.trim()),
        super::encode(&query.art)
    );
    let page = render(&AuditPage {
        frame: Frame::default(),
        office_id,
        office_name,
        from: first.to_string(),
        to: last.to_string(),
        person: query.person.trim().to_owned(),
        kind: query.art.clone(),
        kinds: KINDS.iter().map(|(value, label, _)| (*value, *label)).collect(),
        rows,
        query: link,
    })?;
    Ok(page.into_response())
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

pub async fn csv(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    signed_in_as(&services, &headers, Some(&office_id), &[Role::Admin, Role::Audit]).await?;
    let (_, first, last, rows) = rows(&services, &office_id, &query).await?;
    let mut out = String::from("Zeit,Person,Aktion,Betreff,Einzelheiten\r\n");
    for row in &rows {
        let fields = [&row.at, &row.actor, &row.action, &row.subject, &row.detail].map(|field| cell(field));
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    let name = format!("attachment; filename=\"protokoll-{office_id}-{first}-{last}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("eva"), "\"eva\"");
        assert_eq!(cell("a \"b\""), "\"a \"\"b\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(cell("-1"), "\"'-1\"");
    }

    #[test]
    fn the_range_defaults_to_the_last_week_and_is_checked() {
        let tz = chrono_tz::Europe::Berlin;
        let (first, last, from, to) = range(&AuditQuery::default(), tz).expect("default");
        assert_eq!((last - first).num_days(), DEFAULT_DAYS - 1);
        assert!(from < to);
        let query = |von: &str, bis: &str| AuditQuery {
            von: von.to_owned(),
            bis: bis.to_owned(),
            ..AuditQuery::default()
        };
        assert!(range(&query("2026-11-30", "2026-11-01"), tz).is_err());
        assert!(range(&query("2025-01-01", "2026-11-01"), tz).is_err());
        assert!(range(&query("gestern", ""), tz).is_err());
    }
}
