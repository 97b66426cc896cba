//! The public HTTP API v1 (JSON). A contract: extend it, don't break it.
//! Every handler is a thin translation to the services' gRPC calls.

use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use amtstermin_proto::timestamp;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Services;
use crate::error::ApiError;
use amtstermin_proto::calendar as ics;

/// Largest request body accepted; a booking request is a few hundred bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/v1/offices", get(list_offices))
        .route("/api/v1/offices/{office}/concerns", get(concerns))
        .route("/api/v1/offices/{office}/slots", get(slots))
        .route("/api/v1/bookings", axum::routing::post(create_booking))
        .route("/api/v1/bookings/{code}", get(get_booking).delete(cancel_booking))
        .route(
            "/api/v1/bookings/{code}/reschedule",
            axum::routing::post(reschedule_booking),
        )
        .route("/api/v1/bookings/{code}/calendar.ics", get(calendar))
}

fn path_value(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(value)| value)
        .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))
}

async fn list_offices(State(services): State<Services>) -> Result<Json<Value>, ApiError> {
    let offices = services.offices().await?;
    Ok(Json(Value::Array(offices.iter().map(office_json).collect())))
}

fn office_json(office: &availability::Office) -> Value {
    json!({
        "id": office.id,
        "name": office.name,
        "address": office.address,
        "timezone": office.timezone,
        "booking_window_days": office.booking_window_days,
        "min_lead_minutes": office.min_lead_minutes,
        "slot_minutes": office.slot_minutes,
        "state": office.state,
        "release_time": office.release_time,
        "staff_only_days": office.staff_only_days,
    })
}

async fn concerns(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let catalogue = services.catalogue(&path_value(office)?).await?;
    Ok(Json(json!({
        "categories": catalogue.categories.iter().map(|category| json!({
            "id": category.id,
            "name": category.name,
            "featured": category.featured,
            "concerns": category.concern_ids,
        })).collect::<Vec<_>>(),
        "concerns": catalogue.concerns.iter().map(|concern| json!({
            "id": concern.id,
            "name": concern.name,
            "category": concern.category_id,
            "duration_minutes": concern.duration_minutes,
            "required_documents": concern.required_documents,
            "fee": non_empty(&concern.fee),
            "leika_key": non_empty(&concern.leika_key),
            "max_persons": concern.max_persons,
        })).collect::<Vec<_>>(),
    })))
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

async fn slots(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let office_id = path_value(office)?;
    let Query(params) = query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let param = |name: &str| {
        params
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .next_back()
            .unwrap_or_default()
    };
    // `concerns=a,b` and `concerns=a&concerns=b` both work; a repeated id is another person.
    let concern_ids: Vec<String> = params
        .iter()
        .filter(|(key, _)| key == "concerns")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    let response = services
        .availability
        .clone()
        .list_slots(availability::ListSlotsRequest {
            office_id,
            concern_ids,
            from_date: param("from"),
            to_date: param("to"),
            // The public API is the online channel; staff use theirs.
            channel: availability::Channel::Online.into(),
        })
        .await?
        .into_inner();
    let tz = timezone(&response.timezone);
    Ok(Json(json!({
        "office": response.office_id,
        "timezone": response.timezone,
        "duration_minutes": response.duration_minutes,
        "days": response.days.iter().map(|day| json!({
            "date": day.date,
            "slots": day.slots.iter().map(|slot| json!({
                "start": local(slot.start.as_ref(), tz),
                "end": local(slot.end.as_ref(), tz),
                "free": slot.free,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
}

fn timezone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::Berlin)
}

/// RFC 3339 with the office's local offset, e.g. `2026-11-25T08:00:00+01:00`.
fn local(instant: Option<&prost_types::Timestamp>, tz: Tz) -> Option<String> {
    instant
        .and_then(timestamp::from_proto)
        .map(|instant| instant.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, false))
}

#[derive(Deserialize)]
struct CreateBooking {
    office: String,
    concerns: Vec<String>,
    start: String,
    name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
}

/// Reads a JSON body, mapping every way it can be wrong to a clear 4xx.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|error| {
        let code = if error.is_data() {
            "invalid_request"
        } else {
            "malformed_json"
        };
        ApiError::bad_request(code, format!("request body: {error}"))
    })
}

/// An RFC 3339 instant with offset.
fn parse_start(start: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(start.trim())
        .map(|start| start.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_start",
                "start must be an RFC 3339 time with offset, e.g. 2026-11-25T08:00:00+01:00",
            )
        })
}

#[derive(Deserialize)]
struct Reschedule {
    start: String,
}

async fn reschedule_booking(
    State(services): State<Services>,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let code = path_value(code)?;
    let token = bearer(&headers)?;
    let request: Reschedule = json_body(body)?;
    let start = parse_start(&request.start)?;
    let moved = services
        .bookings
        .clone()
        .reschedule_booking(booking::RescheduleBookingRequest {
            code,
            token,
            start: Some(timestamp::to_proto(start)),
        })
        .await?
        .into_inner();
    services.await_slots(&moved).await;
    Ok(Json(services.booking_json(&moved).await?))
}

async fn create_booking(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateBooking = json_body(body)?;
    let start = parse_start(&request.start)?;
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => value
            .to_str()
            .map_err(|_| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be printable ASCII"))?
            .to_owned(),
        None => String::new(),
    };
    let created = services
        .bookings
        .clone()
        .create_booking(booking::CreateBookingRequest {
            office_id: request.office,
            concern_ids: request.concerns,
            start: Some(timestamp::to_proto(start)),
            name: request.name,
            email: request.email,
            phone: request.phone.unwrap_or_default(),
            idempotency_key,
            channel: availability::Channel::Online.into(),
            actor: String::new(),
        })
        .await?
        .into_inner();
    let booking = created
        .booking
        .ok_or_else(|| tonic::Status::internal("booking service answered without a booking"))?;
    services.await_slots(&booking).await;
    let mut body = services.booking_json(&booking).await?;
    body["token"] = Value::String(created.token);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/bookings/{}", booking.code)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if created.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The token of `Authorization: Bearer <token>`; a missing or malformed
/// header is treated like a wrong token (404), revealing nothing.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(ApiError::booking_not_found)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(ApiError::booking_not_found)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::booking_not_found());
    }
    Ok(token.trim().to_owned())
}

async fn get_booking(
    State(services): State<Services>,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let booking = services.booking(path_value(code)?, bearer(&headers)?).await?;
    Ok(Json(services.booking_json(&booking).await?))
}

async fn cancel_booking(
    State(services): State<Services>,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let cancelled = services
        .bookings
        .clone()
        .cancel_booking(booking::CancelBookingRequest {
            code: path_value(code)?,
            token: bearer(&headers)?,
        })
        .await?
        .into_inner();
    services.await_slots(&cancelled).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn calendar(
    State(services): State<Services>,
    code: Result<Path<String>, PathRejection>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let token = query.map(|Query(query)| query.token).unwrap_or_default();
    let booking = services.booking(path_value(code)?, token).await?;
    let office = services.office(&booking.office_id).await?;
    let catalogue = services.catalogue(&booking.office_id).await?;
    let names: Vec<&str> = booking
        .concern_ids
        .iter()
        .filter_map(|id| catalogue.concerns.iter().find(|c| &c.id == id))
        .map(|concern| concern.name.as_str())
        .collect();
    let documents = required_documents(&catalogue, &booking.concern_ids);
    let instant = |value: Option<&prost_types::Timestamp>| value.and_then(timestamp::from_proto).unwrap_or_default();
    let body = ics::appointment(&ics::Appointment {
        code: &booking.code,
        office_id: &booking.office_id,
        office_name: &office.name,
        address: &office.address,
        concern_names: &names,
        documents: &documents,
        created: instant(booking.created_at.as_ref()),
        start: instant(booking.start.as_ref()),
        end: instant(booking.end.as_ref()),
        cancelled: booking.status() == booking::BookingStatus::Cancelled,
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"termin-{}.ics\"", booking.code),
            ),
        ],
        body,
    )
        .into_response())
}

/// A status as the APIs name it.
pub(crate) fn status_name(status: booking::BookingStatus) -> &'static str {
    match status {
        booking::BookingStatus::CheckedIn => "checked_in",
        booking::BookingStatus::Completed => "completed",
        booking::BookingStatus::NoShow => "no_show",
        booking::BookingStatus::Cancelled => "cancelled",
        booking::BookingStatus::Booked | booking::BookingStatus::Unspecified => "booked",
    }
}

/// A channel as the APIs name it.
pub(crate) fn channel_name(channel: availability::Channel) -> &'static str {
    match channel {
        availability::Channel::Foyer => "foyer",
        availability::Channel::Phone => "phone",
        availability::Channel::Online | availability::Channel::Unspecified => "online",
    }
}

/// Documents to bring for the given concerns, each once, in order.
pub fn required_documents<'a>(
    catalogue: &'a availability::GetCatalogueResponse,
    concern_ids: &[String],
) -> Vec<&'a str> {
    let mut documents: Vec<&str> = Vec::new();
    for concern in concern_ids
        .iter()
        .filter_map(|id| catalogue.concerns.iter().find(|c| &c.id == id))
    {
        for document in &concern.required_documents {
            if !documents.contains(&document.as_str()) {
                documents.push(document);
            }
        }
    }
    documents
}

impl Services {
    /// Lets the citizen read their own change: waits (briefly) until the
    /// availability service's slots reflect the booking change just made.
    /// Slots a moment behind are harmless, so failures are only logged.
    pub(crate) async fn await_slots(&self, booking: &booking::Booking) {
        if booking.sequence == 0 {
            return;
        }
        let request = availability::AwaitBookingSequenceRequest {
            office_id: booking.office_id.clone(),
            sequence: booking.sequence,
        };
        match self.availability.clone().await_booking_sequence(request).await {
            Ok(response) if response.get_ref().reached => {}
            Ok(_) => tracing::warn!(office = %booking.office_id, "slots not yet updated after a booking change"),
            Err(status) => tracing::warn!(code = ?status.code(), "cannot wait for the slots to update"),
        }
    }

    async fn booking(&self, code: String, token: String) -> Result<booking::Booking, ApiError> {
        Ok(self
            .bookings
            .clone()
            .get_booking(booking::GetBookingRequest { code, token })
            .await?
            .into_inner())
    }

    /// The public view of a booking: times in the office's zone and the
    /// documents to bring.
    async fn booking_json(&self, booking: &booking::Booking) -> Result<Value, ApiError> {
        let office = self.office(&booking.office_id).await?;
        let catalogue = self.catalogue(&booking.office_id).await?;
        let tz = timezone(&office.timezone);
        Ok(json!({
            "code": booking.code,
            "office": booking.office_id,
            "concerns": booking.concern_ids,
            "start": local(booking.start.as_ref(), tz),
            "end": local(booking.end.as_ref(), tz),
            "status": status_name(booking.status()),
            "channel": channel_name(booking.channel()),
            "counter": booking.counter_id,
            "name": booking.name,
            "email": booking.email,
            "phone": non_empty(&booking.phone),
            "required_documents": required_documents(&catalogue, &booking.concern_ids),
            "fees": booking.concern_ids.iter()
                .filter_map(|id| catalogue.concerns.iter().find(|c| &c.id == id))
                .filter(|concern| !concern.fee.is_empty())
                .map(|concern| json!({ "concern": concern.id, "fee": concern.fee }))
                .collect::<Vec<_>>(),
            "office_name": office.name,
            "address": office.address,
        }))
    }
}
