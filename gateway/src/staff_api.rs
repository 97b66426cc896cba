//! The staff HTTP API (JSON) for the desk's tasks and internal systems:
//! signed in through the desk (session cookie) or with the bearer token
//! `AMTSTERMIN_STAFF_API_TOKEN`. Listed in the README.

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Services;
use crate::error::{ApiError, Body as ErrorBody};
use crate::public_api::{CodePath, OfficePath, json_body, path_value};
use crate::view::{self, local};

pub fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(change_status))
        .routes(routes!(walk_in))
        .routes(routes!(absence))
        .routes(routes!(call_next))
        .routes(routes!(recall))
        .routes(routes!(statistics))
        .routes(routes!(statistics_csv))
}

fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "sign in at the desk or send the staff API token",
    )
}

/// Whether a write with a session cookie comes from our own pages: the
/// browser's `Origin` is this host, or the request repeats the session's
/// CSRF token in `X-CSRF-Token` (a cross-site page can do neither).
fn same_origin(headers: &HeaderMap, csrf: &str) -> bool {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    let origin_host = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    let token = headers.get("x-csrf-token").and_then(|value| value.to_str().ok());
    (origin_host.is_some() && origin_host == host) || token.is_some_and(|token| !csrf.is_empty() && token == csrf)
}

/// Who calls: a signed-in member of staff (login) or an internal system.
/// A `write` with a session cookie must also come from our own pages.
async fn caller(services: &Services, headers: &HeaderMap, office_id: &str, write: bool) -> Result<String, ApiError> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return if services.staff.api_token_matches(token.trim()) {
            Ok("system".to_owned())
        } else {
            Err(unauthorized())
        };
    }
    let session = services.staff_session(headers).await?.ok_or_else(unauthorized)?;
    if write && !same_origin(headers, &session.csrf) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "a change with a desk session needs the Origin of this site or the X-CSRF-Token header",
        ));
    }
    if !session.account.may_work_for(office_id) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this account does not work for this office",
        ));
    }
    // An audit account reads; only the desk's change bookings.
    if write && !session.account.has(crate::staff::Role::Desk) {
        return Err(ApiError::new(ErrorCode::Forbidden, "this account has no desk role"));
    }
    Ok(session.account.login.clone())
}

#[derive(Deserialize)]
struct DayQuery {
    #[serde(default)]
    date: String,
}

/// The office's bookings of one day, every status, by start.
#[utoipa::path(get, path = "/api/v1/staff/offices/{office}/bookings", tag = "staff",
    params(OfficePath, ("date" = Option<String>, Query, format = Date, description = "The day (YYYY-MM-DD, local); default today.")),
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The day's bookings", body = Vec<StaffBooking>),
        (status = 400, description = "A bad date or path", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "This account does not work for this office (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office", body = ErrorBody),
    ))]
async fn list(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let office_id = path_value(office)?;
    caller(&services, &headers, &office_id, false).await?;
    let Query(query) = query.map_err(|rejection| ApiError::new(ErrorCode::InvalidQuery, rejection.body_text()))?;
    let office = services.office(&office_id).await?;
    let day = if query.date.is_empty() {
        Utc::now().with_timezone(&office.timezone()).date_naive()
    } else {
        NaiveDate::parse_from_str(&query.date, "%Y-%m-%d")
            .map_err(|_| ApiError::new(ErrorCode::InvalidDate, "date must be written YYYY-MM-DD"))?
    };
    let bookings = services.bookings_of_day(&office, day).await?;
    let views: Vec<StaffBooking> = bookings
        .iter()
        .map(|booking| StaffBooking::new(booking, &office))
        .collect();
    Ok(Json(views).into_response())
}

/// A status change by staff.
#[derive(Deserialize, ToSchema)]
struct StatusChange {
    #[schema(schema_with = crate::openapi::settable_status_schema)]
    status: String,
    /// Kept in the booking's history.
    #[serde(default)]
    note: String,
}

/// Checks a visitor in, completes a visit, marks a no-show or cancels.
#[utoipa::path(post, path = "/api/v1/staff/offices/{office}/bookings/{code}/status", tag = "staff",
    params(OfficePath, CodePath), request_body = StatusChange,
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The booking as it is now", body = StaffBooking),
        (status = 400, description = "A bad body or an unknown status", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not for this account, or a desk session without this site's Origin or CSRF token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office or booking", body = ErrorBody),
        (status = 409, description = "The booking cannot change to this status now (`invalid_transition`)", body = ErrorBody),
    ))]
async fn change_status(
    State(services): State<Services>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (office_id, code) = path_value(path)?;
    let actor = caller(&services, &headers, &office_id, true).await?;
    let request: StatusChange = json_body(body)?;
    let status = view::parse_status(&request.status).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownStatus,
            "status must be checked_in, completed, no_show or cancelled",
        )
    })?;
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
    let office = services.office(&changed.office_id).await?;
    Ok(Json(StaffBooking::new(&changed, &office)).into_response())
}

/// The counter's path parameters (documentation only; `path_value` reads them).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only describes the path in the OpenAPI document")]
struct CounterPath {
    /// The office's id.
    #[param(example = "bergkamen")]
    office: String,
    /// The counter's id.
    #[param(example = "platz-1")]
    counter: String,
}

/// Calls the next citizen waiting for this counter today: of those who
/// arrived at it, booked appointments first by their time, then walk-ins
/// by their waiting number. The booking becomes `called`.
#[utoipa::path(post, path = "/api/v1/staff/offices/{office}/counters/{counter}/call-next", tag = "staff",
    params(CounterPath),
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The booking called, with its waiting number", body = StaffBooking),
        (status = 400, description = "A bad path", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not for this account, or a desk session without this site's Origin or CSRF token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "Nobody waits there (`nobody_waiting`), or no such office or counter", body = ErrorBody),
    ))]
async fn call_next(
    State(services): State<Services>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (office_id, counter_id) = path_value(path)?;
    let actor = caller(&services, &headers, &office_id, true).await?;
    let called = services
        .bookings
        .clone()
        .call_next(booking::CallNextRequest {
            office_id: office_id.clone(),
            counter_id,
            actor,
        })
        .await?
        .into_inner();
    let office = services.office(&office_id).await?;
    Ok(Json(StaffBooking::new(&called, &office)).into_response())
}

/// Calls a called citizen again, who did not come: the call display shows
/// the number as the latest call and chimes again.
#[utoipa::path(post, path = "/api/v1/staff/offices/{office}/bookings/{code}/recall", tag = "staff",
    params(OfficePath, CodePath),
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The booking, called again", body = StaffBooking),
        (status = 400, description = "A bad path", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not for this account, or a desk session without this site's Origin or CSRF token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office or booking", body = ErrorBody),
        (status = 409, description = "The booking is not called (`invalid_transition`)", body = ErrorBody),
    ))]
async fn recall(
    State(services): State<Services>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (office_id, code) = path_value(path)?;
    let actor = caller(&services, &headers, &office_id, true).await?;
    let recalled = services
        .bookings
        .clone()
        .recall_booking(booking::RecallBookingRequest {
            office_id: office_id.clone(),
            code,
            actor,
        })
        .await?
        .into_inner();
    let office = services.office(&office_id).await?;
    Ok(Json(StaffBooking::new(&recalled, &office)).into_response())
}

/// The statistics' query (documentation only; `StatisticsQuery` reads it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "only describes the query in the OpenAPI document")]
struct StatisticsParams {
    /// First local day (YYYY-MM-DD); default 29 days before `to`.
    #[param(format = Date)]
    from: Option<String>,
    /// Last local day (YYYY-MM-DD), at most 366 days after `from`; default today.
    #[param(format = Date)]
    to: Option<String>,
    /// `day` (default), `week` (from Monday), `month`, or `range` for
    /// the totals of the whole range.
    #[param(pattern = "^(day|week|month|range)$")]
    period: Option<String>,
}

async fn statistics_of(
    services: &Services,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    query: Result<Query<crate::statistics::StatisticsQuery>, QueryRejection>,
) -> Result<crate::statistics::Statistics, ApiError> {
    let office_id = path_value(path)?;
    caller(services, headers, &office_id, false).await?;
    let Query(query) = query.map_err(|rejection| ApiError::new(ErrorCode::InvalidQuery, rejection.body_text()))?;
    let office = services.office(&office_id).await?;
    let range = query.range(&office)?;
    crate::statistics::fetch(services, &office, range).await
}

/// The office's figures per day, week or month: for the office, each
/// concern and each counter, the appointments by channel, cancellations,
/// no-shows, lead, waiting and service times and the utilisation. They
/// survive the retention job, which removes only personal data.
#[utoipa::path(get, path = "/api/v1/staff/offices/{office}/statistics", tag = "staff",
    params(OfficePath, StatisticsParams),
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The figures", body = crate::statistics::Statistics),
        (status = 400, description = "A bad date or range (`invalid_date`), period (`invalid_query`) or path", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "This account does not work for this office (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office", body = ErrorBody),
    ))]
async fn statistics(
    State(services): State<Services>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<crate::statistics::StatisticsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(statistics_of(&services, path, &headers, query).await?).into_response())
}

/// The same figures as CSV, one row per line, for a spreadsheet.
#[utoipa::path(get, path = "/api/v1/staff/offices/{office}/statistics.csv", tag = "staff",
    params(OfficePath, StatisticsParams),
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 200, description = "The figures as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A bad date or range (`invalid_date`), period (`invalid_query`) or path", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "This account does not work for this office (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office", body = ErrorBody),
    ))]
async fn statistics_csv(
    State(services): State<Services>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<crate::statistics::StatisticsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let statistics = statistics_of(&services, path, &headers, query).await?;
    Ok(csv_download(&statistics))
}

/// The figures as a CSV download named after office and range.
pub fn csv_download(statistics: &crate::statistics::Statistics) -> Response {
    let name = format!(
        "attachment; filename=\"statistik-{}-{}-{}.csv\"",
        statistics.office, statistics.from, statistics.to
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        crate::statistics::csv(statistics),
    )
        .into_response()
}

/// A visitor at the foyer desk, without an appointment.
#[derive(Deserialize, ToSchema)]
struct WalkIn {
    #[schema(example = json!(["personalausweis"]))]
    concerns: Vec<String>,
    #[schema(example = "Erika Mustermann")]
    name: String,
}

/// Books a walk-in on the next free start (foyer channel, no email).
#[utoipa::path(post, path = "/api/v1/staff/offices/{office}/walk-ins", tag = "staff",
    params(OfficePath), request_body = WalkIn,
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 201, description = "Booked", body = StaffBooking),
        (status = 400, description = "A bad body, name or concerns", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not for this account, or a desk session without this site's Origin or CSRF token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office or concern", body = ErrorBody),
        (status = 409, description = "Nothing free within 14 days (`slot_unavailable`)", body = ErrorBody),
    ))]
async fn walk_in(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let office_id = path_value(office)?;
    let actor = caller(&services, &headers, &office_id, true).await?;
    let request: WalkIn = json_body(body)?;
    let booking = services
        .book_walk_in(&office_id, &request.concerns, (&request.name, &actor), false)
        .await?;
    let office = services.office(&office_id).await?;
    Ok((StatusCode::CREATED, Json(StaffBooking::new(&booking, &office))).into_response())
}

/// A counter closed for a while (illness, a meeting).
#[derive(Deserialize, ToSchema)]
#[schema(as = NewAbsence)]
struct Absence {
    /// The counter's id.
    #[schema(example = "platz-1")]
    counter: String,
    /// RFC 3339 with offset.
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    #[serde(default)]
    reason: String,
}

/// Closes a counter for a while; the answer lists the bookings it meets,
/// which staff then move or cancel.
#[utoipa::path(post, path = "/api/v1/staff/offices/{office}/absences", tag = "staff",
    params(OfficePath), request_body = Absence,
    security(("staff_token" = []), ("desk_session" = [])),
    responses(
        (status = 201, description = "Added", body = AddedAbsence),
        (status = 400, description = "A bad body or time span", body = ErrorBody),
        (status = 401, description = "Neither signed in nor the staff token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not for this account, or a desk session without this site's Origin or CSRF token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such office or counter", body = ErrorBody),
    ))]
async fn absence(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let office_id = path_value(office)?;
    let actor = caller(&services, &headers, &office_id, true).await?;
    let request: Absence = json_body(body)?;
    let instant = |field: &str, value: &str| {
        DateTime::parse_from_rfc3339(value.trim())
            .map(|instant| instant.with_timezone(&Utc))
            .map_err(|_| ApiError::new(ErrorCode::InvalidArgument, format!("{field} must be an RFC 3339 time")))
    };
    let office = services.office(&office_id).await?;
    let tz = office.timezone();
    let added = services
        .schedule_admin
        .clone()
        .add_absence(availability::AddAbsenceRequest {
            office_id: office_id.clone(),
            counter_id: request.counter,
            start: Some(timestamp::to_proto(instant("start", &request.start)?)),
            end: Some(timestamp::to_proto(instant("end", &request.end)?)),
            reason: request.reason,
        })
        .await?
        .into_inner();
    let absence = added.absence.unwrap_or_default();
    let at = |value: Option<&prost_types::Timestamp>| local(view::instant(value), tz);
    // The time, not the reason: a reason may tell of someone's health.
    let span = format!(
        "{} {}–{}",
        absence.counter_id,
        at(absence.start.as_ref()),
        at(absence.end.as_ref())
    );
    services
        .record(
            std::slice::from_ref(&office_id),
            (&actor, "absence.added"),
            (&absence.id, &span),
        )
        .await;
    let body = AddedAbsence {
        absence: AbsenceView {
            id: absence.id.clone(),
            counter: absence.counter_id.clone(),
            start: at(absence.start.as_ref()),
            end: at(absence.end.as_ref()),
            reason: non_empty(&absence.reason),
        },
        affected_bookings: added
            .affected_bookings
            .iter()
            .map(|affected| AffectedView {
                code: affected.code.clone(),
                start: at(affected.start.as_ref()),
                end: at(affected.end.as_ref()),
            })
            .collect(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A booking as staff see it: times with the office's local offset (like
/// the public API), fields a booking does not have (a walk-in's email) as
/// `null`.
#[derive(Serialize, ToSchema)]
struct StaffBooking {
    code: String,
    office: String,
    counter: String,
    concerns: Vec<String>,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    #[schema(schema_with = crate::openapi::status_schema)]
    status: &'static str,
    #[schema(schema_with = crate::openapi::channel_schema)]
    channel: &'static str,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// Drawn on arrival, e.g. `T-017`; `null` before.
    #[schema(example = "T-017")]
    waiting_number: Option<String>,
    /// When last called to the counter; `null` before.
    #[schema(format = DateTime)]
    called_at: Option<String>,
}

impl StaffBooking {
    fn new(booking: &booking::Booking, office: &OfficeCatalogue) -> Self {
        let (start, end) = view::times(booking);
        Self {
            code: booking.code.clone(),
            office: booking.office_id.clone(),
            counter: booking.counter_id.clone(),
            concerns: booking.concern_ids.clone(),
            start: local(start, office.timezone()),
            end: local(end, office.timezone()),
            status: view::status_name(booking.status()),
            channel: view::channel_name(booking.channel()),
            name: non_empty(&booking.name),
            email: non_empty(&booking.email),
            phone: non_empty(&booking.phone),
            waiting_number: non_empty(&booking.waiting_number),
            called_at: booking
                .called_at
                .as_ref()
                .and_then(timestamp::from_proto)
                .map(|at| local(at, office.timezone())),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AddedAbsence {
    absence: AbsenceView,
    /// Bookings in the span, still standing: staff move or cancel them.
    affected_bookings: Vec<AffectedView>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Absence)]
struct AbsenceView {
    id: String,
    counter: String,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AffectedBooking)]
struct AffectedView {
    code: String,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
}
