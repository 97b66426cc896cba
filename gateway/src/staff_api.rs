//! The staff HTTP API (JSON) for the desk's tasks and internal systems:
//! signed in through the desk (session cookie) or with the bearer token
//! `AMTSTERMIN_STAFF_API_TOKEN`. Listed in the README.

use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use amtstermin_proto::timestamp;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Services;
use crate::api::{channel_name, json_body, status_name};
use crate::error::ApiError;
use crate::staff::SESSION_COOKIE;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/v1/staff/offices/{office}/bookings", get(list))
        .route(
            "/api/v1/staff/offices/{office}/bookings/{code}/status",
            post(change_status),
        )
        .route("/api/v1/staff/offices/{office}/walk-ins", post(walk_in))
        .route("/api/v1/staff/offices/{office}/absences", post(absence))
}

/// Who calls: a signed-in member of staff (login) or an internal system.
fn caller(services: &Services, headers: &HeaderMap, office_id: &str) -> Result<String, ApiError> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return if services.staff.api_token_matches(token.trim()) {
            Ok("system".to_owned())
        } else {
            Err(ApiError::Unauthorized)
        };
    }
    let account = crate::web::cookie(headers, SESSION_COOKIE)
        .and_then(|cookie| services.staff.from_session(&cookie).cloned())
        .ok_or(ApiError::Unauthorized)?;
    if !account.may_work_for(office_id) {
        return Err(ApiError::Forbidden);
    }
    Ok(account.login)
}

fn booking_json(booking: &booking::Booking) -> Value {
    let instant =
        |value: Option<&prost_types::Timestamp>| value.and_then(timestamp::from_proto).map(|t| t.to_rfc3339());
    json!({
        "code": booking.code,
        "office": booking.office_id,
        "counter": booking.counter_id,
        "concerns": booking.concern_ids,
        "start": instant(booking.start.as_ref()),
        "end": instant(booking.end.as_ref()),
        "status": status_name(booking.status()),
        "channel": channel_name(booking.channel()),
        "name": booking.name,
        "email": booking.email,
        "phone": booking.phone,
    })
}

#[derive(Deserialize)]
struct DayQuery {
    #[serde(default)]
    date: String,
}

async fn list(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<DayQuery>,
) -> Result<Response, ApiError> {
    caller(&services, &headers, &office_id)?;
    let office = services.office(&office_id).await?;
    let tz: chrono_tz::Tz = office.timezone.parse().unwrap_or(chrono_tz::Europe::Berlin);
    let day = if query.date.is_empty() {
        Utc::now().with_timezone(&tz).date_naive()
    } else {
        NaiveDate::parse_from_str(&query.date, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request("invalid_date", "date must be written YYYY-MM-DD"))?
    };
    let bookings = services.bookings_of_day(&office, day).await?;
    Ok(Json(Value::Array(bookings.iter().map(booking_json).collect())).into_response())
}

#[derive(Deserialize)]
struct StatusChange {
    status: String,
    #[serde(default)]
    note: String,
}

async fn change_status(
    State(services): State<Services>,
    Path((office_id, code)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = caller(&services, &headers, &office_id)?;
    let request: StatusChange = json_body(body)?;
    let status = match request.status.as_str() {
        "checked_in" => booking::BookingStatus::CheckedIn,
        "completed" => booking::BookingStatus::Completed,
        "no_show" => booking::BookingStatus::NoShow,
        "cancelled" => booking::BookingStatus::Cancelled,
        "booked" => booking::BookingStatus::Booked,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_status",
                "status must be checked_in, completed, no_show or cancelled",
            ));
        }
    };
    let changed = services
        .bookings
        .clone()
        .change_booking_status(booking::ChangeBookingStatusRequest {
            office_id,
            code,
            status: status.into(),
            actor,
            note: request.note,
        })
        .await?
        .into_inner();
    services.await_slots(&changed).await;
    Ok(Json(booking_json(&changed)).into_response())
}

#[derive(Deserialize)]
struct WalkIn {
    concerns: Vec<String>,
    name: String,
}

async fn walk_in(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = caller(&services, &headers, &office_id)?;
    let request: WalkIn = json_body(body)?;
    let booked = crate::web::book_walk_in(&services, &office_id, &request.concerns, &request.name, &actor).await?;
    match booked {
        Some(booking) => Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response()),
        None => Err(ApiError::Service(amtstermin_proto::status::with_error_code(
            tonic::Code::FailedPrecondition,
            "slot_unavailable",
            "nothing is free in the next two weeks",
        ))),
    }
}

#[derive(Deserialize)]
struct Absence {
    counter: String,
    start: String,
    end: String,
    #[serde(default)]
    reason: String,
}

async fn absence(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller(&services, &headers, &office_id)?;
    let request: Absence = json_body(body)?;
    let instant = |field: &str, value: &str| {
        DateTime::parse_from_rfc3339(value.trim())
            .map(|instant| instant.with_timezone(&Utc))
            .map_err(|_| ApiError::bad_request("invalid_argument", format!("{field} must be an RFC 3339 time")))
    };
    let added = services
        .schedule_admin
        .clone()
        .add_absence(availability::AddAbsenceRequest {
            office_id,
            counter_id: request.counter,
            start: Some(timestamp::to_proto(instant("start", &request.start)?)),
            end: Some(timestamp::to_proto(instant("end", &request.end)?)),
            reason: request.reason,
        })
        .await?
        .into_inner();
    let instant =
        |value: Option<&prost_types::Timestamp>| value.and_then(timestamp::from_proto).map(|t| t.to_rfc3339());
    let absence = added.absence.unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "absence": {
                "id": absence.id,
                "counter": absence.counter_id,
                "start": instant(absence.start.as_ref()),
                "end": instant(absence.end.as_ref()),
                "reason": absence.reason,
            },
            "affected_bookings": added.affected_bookings.iter().map(|affected| json!({
                "code": affected.code,
                "start": instant(affected.start.as_ref()),
                "end": instant(affected.end.as_ref()),
            })).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}
