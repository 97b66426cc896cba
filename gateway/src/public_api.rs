//! The public HTTP API v1 (JSON). A contract: extend it, don't break it.
//! Every handler is a thin translation to the services' gRPC calls; the
//! answers are the typed views at the end of this module.

use amtstermin_catalogue::{Appointment, OfficeCatalogue};
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Services;
use crate::client::Client;
use crate::error::{ApiError, Body as ErrorBody};
use crate::protection::Class;
use crate::view::{self, channel_name, local, status_name};

/// Largest request body accepted; a booking request is a few hundred bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list_offices))
        .routes(routes!(concerns))
        .routes(routes!(slots))
        .routes(routes!(challenge))
        .routes(routes!(create_booking))
        .routes(routes!(get_booking, cancel_booking))
        .routes(routes!(reschedule_booking))
        .routes(routes!(confirm_booking))
        .routes(routes!(calendar))
}

/// The path's values, each a short id or code: every way they can be wrong
/// answers `invalid_path`.
pub(crate) fn path_value<T: PathIds>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    let value = path
        .map(|Path(value)| value)
        .map_err(|rejection| ApiError::new(ErrorCode::InvalidPath, rejection.body_text()))?;
    // Ids and codes are short; a longer one names nothing.
    if value.ids().any(|id| id.chars().count() > MAX_PATH_ID) {
        return Err(ApiError::new(
            ErrorCode::InvalidPath,
            format!("an id in the path has at most {MAX_PATH_ID} characters"),
        ));
    }
    Ok(value)
}

/// The ids a path carries.
pub(crate) trait PathIds {
    fn ids(&self) -> impl Iterator<Item = &str>;
}

impl PathIds for String {
    fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.as_str())
    }
}

impl PathIds for (String, String) {
    fn ids(&self) -> impl Iterator<Item = &str> {
        [self.0.as_str(), self.1.as_str()].into_iter()
    }
}

/// The longest office id, concern id or booking code there is.
const MAX_PATH_ID: usize = 64;

/// The offices that take bookings.
#[utoipa::path(get, path = "/api/v1/offices", tag = "public",
    responses((status = 200, description = "Every office", body = Vec<OfficeView>)))]
async fn list_offices(State(services): State<Services>) -> Result<Json<Vec<OfficeView>>, ApiError> {
    let offices = services.catalogues.offices().await?;
    Ok(Json(offices.iter().map(OfficeView::from).collect()))
}

/// An office's concerns (Anliegen), grouped into categories, the most asked
/// for first, each with the documents to bring.
#[utoipa::path(get, path = "/api/v1/offices/{office}/concerns", tag = "public",
    params(OfficePath),
    responses(
        (status = 200, description = "The office's catalogue", body = CatalogueView),
        (status = 400, description = "The office id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such office (`office_not_found`)", body = ErrorBody),
    ))]
async fn concerns(
    State(services): State<Services>,
    office: Result<Path<String>, PathRejection>,
) -> Result<Json<CatalogueView>, ApiError> {
    let office = services.office(&path_value(office)?).await?;
    Ok(Json(CatalogueView::from(office.as_ref())))
}

/// The free start times for a visit with these concerns, day by day, in the
/// office's time zone.
#[utoipa::path(get, path = "/api/v1/offices/{office}/slots", tag = "public",
    params(
        OfficePath,
        ("concerns" = Vec<String>, Query, style = Form, explode = false, example = json!(["personalausweis"]),
            description = "The concerns of the visit, comma-separated; a repeated id is another person."),
        ("from" = Option<String>, Query, format = Date, description = "First day (YYYY-MM-DD); default today."),
        ("to" = Option<String>, Query, format = Date, description = "Last day (YYYY-MM-DD); default the end of the booking window."),
    ),
    responses(
        (status = 200, description = "Free times", body = SlotsView),
        (status = 400, description = "No or too many concerns, concerns that cannot be combined, or a bad date", body = ErrorBody),
        (status = 404, description = "No such office or concern", body = ErrorBody),
        (status = 429, description = "Too many reads from this client (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn slots(
    State(services): State<Services>,
    client: Client,
    office: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SlotsView>, ApiError> {
    let office_id = path_value(office)?;
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    let Query(params) = query.map_err(|rejection| ApiError::new(ErrorCode::InvalidQuery, rejection.body_text()))?;
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
            explain_unavailable_days: false,
        })
        .await?
        .into_inner();
    Ok(Json(SlotsView::from(response)))
}

/// A booking request.
#[derive(Deserialize, ToSchema)]
struct CreateBooking {
    /// The office's id.
    #[schema(example = "bergkamen")]
    office: String,
    /// The concerns of the visit; a repeated id is another person.
    #[schema(example = json!(["personalausweis"]))]
    concerns: Vec<String>,
    /// A free start time, as `GET …/slots` lists it (RFC 3339 with offset).
    #[schema(format = DateTime)]
    start: String,
    #[schema(example = "Erika Mustermann")]
    name: String,
    #[schema(example = "erika@example.org")]
    email: String,
    #[serde(default)]
    phone: Option<String>,
    /// The solved proof of work (base64 JSON, as the ALTCHA widget sends
    /// it), where the office asks for one.
    #[serde(default)]
    altcha: Option<String>,
    /// The language of the citizen's mails: `de` (the default) or `en`.
    #[serde(default)]
    #[schema(example = "de")]
    language: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeQuery {
    #[serde(default)]
    office: String,
}

/// A proof-of-work challenge for the office's booking form: of the work
/// asked of this client now, or the least where none is asked.
#[utoipa::path(get, path = "/api/v1/challenge", tag = "public",
    params(("office" = String, Query, example = "bergkamen", description = "The office to book at.")),
    responses(
        (status = 200, description = "A challenge, valid for ten minutes, for this client only", body = crate::challenge::ChallengeDoc),
        (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody),
        (status = 404, description = "No such office", body = ErrorBody),
        (status = 429, description = "Too many requests from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn challenge(
    State(services): State<Services>,
    client: Client,
    query: Result<Query<ChallengeQuery>, QueryRejection>,
) -> Result<Json<altcha_lib_rs::Challenge>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::new(ErrorCode::InvalidQuery, rejection.body_text()))?;
    services.limit(Class::SlotReads, Some(&query.office), client).await?;
    let office = services.office(&query.office).await?;
    let mode = crate::challenge::Mode::of(&office);
    let work = services
        .challenges
        .demanded(mode, client)
        .unwrap_or(crate::challenge::EASIEST);
    Ok(Json(services.challenges.issue(client, work)?))
}

/// Reads a JSON body, mapping every way it can be wrong to a clear 4xx.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {BODY_LIMIT} bytes"),
            )
        } else {
            ApiError::new(ErrorCode::InvalidBody, rejection.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|error| {
        let code = if error.is_data() {
            ErrorCode::InvalidRequest
        } else {
            ErrorCode::MalformedJson
        };
        ApiError::new(code, format!("request body: {error}"))
    })
}

/// An RFC 3339 instant with offset.
fn parse_start(start: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(start.trim())
        .map(|start| start.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidStart,
                "start must be an RFC 3339 time with offset, e.g. 2026-11-25T08:00:00+01:00",
            )
        })
}

/// Where to move a booking.
#[derive(Deserialize, ToSchema)]
struct Reschedule {
    /// A free start time for the same concerns (RFC 3339 with offset).
    #[schema(format = DateTime)]
    start: String,
}

/// Moves a booking to another free time; its code and token stay.
#[utoipa::path(post, path = "/api/v1/bookings/{code}/reschedule", tag = "public",
    params(CodePath), request_body = Reschedule, security(("booking_token" = [])),
    responses(
        (status = 200, description = "The moved booking", body = BookingView),
        (status = 400, description = "A bad body or start time", body = ErrorBody),
        (status = 404, description = "No booking with this code and token (`booking_not_found`)", body = ErrorBody),
        (status = 409, description = "The time is not free (`slot_taken`, `slot_unavailable`), or the booking is not `booked` (`invalid_status`)", body = ErrorBody),
        (status = 429, description = "Too many changes from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn reschedule_booking(
    State(services): State<Services>,
    client: Client,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BookingView>, ApiError> {
    services.limit(Class::Bookings, None, client).await?;
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
    let office = services.office(&moved.office_id).await?;
    Ok(Json(BookingView::new(&moved, &office, None)))
}

/// Books a binding appointment. The answer holds the token that manages it,
/// once; keep it.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "public",
    request_body = CreateBooking,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Repeating a request with the same key answers the same booking instead of booking twice.")),
    responses(
        (status = 201, description = "Booked (or, where the office asks for it, `pending` until confirmed by mail)", body = BookingView,
            headers(
                ("Location" = String, description = "The booking's address"),
                ("Idempotent-Replayed" = Option<String>, description = "`true` when the answer repeats an earlier request with the same key"),
            )),
        (status = 400, description = "A bad body, name, email, phone, start time or concerns", body = ErrorBody),
        (status = 404, description = "No such office or concern", body = ErrorBody),
        (status = 409, description = "The time is not free (`slot_taken`, `slot_unavailable`), or this email address already has as many bookings as allowed (`limit_reached`)", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used for another request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 428, description = "This office asks this client for a proof of work first (`challenge_required`); the answer carries the challenge", body = ErrorBody),
        (status = 429, description = "Too many bookings from this client (`rate_limited`, `quota_reached`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn create_booking(
    State(services): State<Services>,
    client: Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateBooking = json_body(body)?;
    // A request without the proof of work asked costs only a read; the
    // booking budget counts the ones that could book.
    services.limit(Class::SlotReads, Some(&request.office), client).await?;
    let office = services.office(&request.office).await?;
    services
        .challenges
        .admit(crate::challenge::Mode::of(&office), client, request.altcha.as_deref())?;
    services.limit(Class::Bookings, Some(&request.office), client).await?;
    let start = parse_start(&request.start)?;
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => value
            .to_str()
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidIdempotencyKey,
                    "Idempotency-Key must be printable ASCII",
                )
            })?
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
            client_address: client.key().to_string(),
            language: request.language.unwrap_or_default(),
        })
        .await?
        .into_inner();
    let booking = created
        .booking
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the booking service answered without a booking"))?;
    services.await_slots(&booking).await;
    let office = services.office(&booking.office_id).await?;
    let mut response = booked(&booking, &office, created.token);
    if created.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The answer to a booking made: 201, the booking with its token, and
/// where it lives.
pub(crate) fn booked(booking: &booking::Booking, office: &OfficeCatalogue, token: String) -> Response {
    let body = BookingView::new(booking, office, Some(token));
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/bookings/{}", booking.code)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The token of `Authorization: Bearer <token>`; a missing or malformed
/// header is treated like a wrong token (404), revealing nothing.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    bearer_token(headers).ok_or_else(ApiError::booking_not_found)
}

/// The token of `Authorization: Bearer <token>`, if the header is one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

async fn booking_by_token(services: &Services, code: String, token: String) -> Result<booking::Booking, ApiError> {
    Ok(services
        .bookings
        .clone()
        .get_booking(booking::GetBookingRequest { code, token })
        .await?
        .into_inner())
}

/// A booking, for whoever holds its token.
#[utoipa::path(get, path = "/api/v1/bookings/{code}", tag = "public",
    params(CodePath), security(("booking_token" = [])),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 400, description = "The code is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No booking with this code and token (`booking_not_found`)", body = ErrorBody),
        (status = 429, description = "Too many look-ups from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn get_booking(
    State(services): State<Services>,
    client: Client,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<BookingView>, ApiError> {
    services.limit(Class::Lookups, None, client).await?;
    let booking = booking_by_token(&services, path_value(code)?, bearer(&headers)?).await?;
    let office = services.office(&booking.office_id).await?;
    Ok(Json(BookingView::new(&booking, &office, None)))
}

/// Cancels a booking; its time is free again at once.
#[utoipa::path(delete, path = "/api/v1/bookings/{code}", tag = "public",
    params(CodePath), security(("booking_token" = [])),
    responses(
        (status = 204, description = "Cancelled; the time is offered again at once. Repeating it changes nothing."),
        (status = 400, description = "The code is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No booking with this code and token (`booking_not_found`)", body = ErrorBody),
        (status = 409, description = "The visitor has already checked in (`invalid_transition`)", body = ErrorBody),
        (status = 429, description = "Too many changes from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn cancel_booking(
    State(services): State<Services>,
    client: Client,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    services.limit(Class::Bookings, None, client).await?;
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

/// Confirms a pending booking with the secret of its confirmation mail.
#[utoipa::path(post, path = "/api/v1/bookings/{code}/confirm", tag = "public",
    params(CodePath), security(("booking_token" = [])),
    responses(
        (status = 200, description = "The booking, now `booked` (also when it already was)", body = BookingView),
        (status = 400, description = "The code is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No booking with this code and secret (`booking_not_found`)", body = ErrorBody),
        (status = 409, description = "The booking was released or cancelled (`invalid_transition`)", body = ErrorBody),
        (status = 429, description = "Too many look-ups from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn confirm_booking(
    State(services): State<Services>,
    client: Client,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<BookingView>, ApiError> {
    services.limit(Class::Lookups, None, client).await?;
    let confirmed = services
        .bookings
        .clone()
        .confirm_booking(booking::ConfirmBookingRequest {
            code: path_value(code)?,
            token: bearer(&headers)?,
        })
        .await?
        .into_inner();
    let office = services.office(&confirmed.office_id).await?;
    Ok(Json(BookingView::new(&confirmed, &office, None)))
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The appointment as an iCalendar file, for a calendar app (the token in
/// the query, so a plain link works).
#[utoipa::path(get, path = "/api/v1/bookings/{code}/calendar.ics", tag = "public",
    params(CodePath, ("token" = String, Query, description = "The booking's token.")),
    responses(
        (status = 200, description = "The event (cancelled bookings as a cancelled event)", content_type = "text/calendar", body = String),
        (status = 400, description = "The code is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No booking with this code and token (`booking_not_found`)", body = ErrorBody),
        (status = 429, description = "Too many look-ups from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn calendar(
    State(services): State<Services>,
    client: Client,
    code: Result<Path<String>, PathRejection>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    services.limit(Class::Lookups, None, client).await?;
    let token = query.map(|Query(query)| query.token).unwrap_or_default();
    let booking = booking_by_token(&services, path_value(code)?, token).await?;
    let office = services.office(&booking.office_id).await?;
    let (start, end) = view::times(&booking);
    // In the language the citizen booked in.
    let office = OfficeCatalogue::in_language(office, &booking.language);
    let body = office.calendar_file(&Appointment {
        code: &booking.code,
        language: &booking.language,
        concern_ids: &booking.concern_ids,
        created: view::instant(booking.created_at.as_ref()),
        start,
        end,
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

/// The path parameters, documented once (the handlers read them with
/// `path_value`, which answers every bad one with `invalid_path`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only describes the path in the OpenAPI document")]
pub(crate) struct OfficePath {
    /// The office's id.
    #[param(example = "bergkamen")]
    office: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only describes the path in the OpenAPI document")]
pub(crate) struct CodePath {
    /// The booking's code, as the confirmation shows it.
    #[param(example = "K7M2QX")]
    code: String,
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// An office in `GET /api/v1/offices`.
#[derive(Serialize, ToSchema)]
#[schema(as = Office)]
struct OfficeView {
    id: String,
    name: String,
    address: String,
    /// The IANA zone of its schedules and of every time it answers.
    timezone: String,
    /// How many days ahead citizens can book.
    booking_window_days: u32,
    /// How many minutes ahead a booking must be made at the least.
    min_lead_minutes: u32,
    /// The grid of start times, in minutes.
    slot_minutes: u32,
    /// The German state whose public holidays close the office (`NW`).
    state: String,
    /// Local time (HH:MM) at which the last day of the window opens.
    release_time: String,
    /// Online bookings start this many days after today; the days before
    /// are kept for the foyer desk and the phone.
    staff_only_days: u32,
}

impl From<&availability::Office> for OfficeView {
    fn from(office: &availability::Office) -> Self {
        Self {
            id: office.id.clone(),
            name: office.name.clone(),
            address: office.address.clone(),
            timezone: office.timezone.clone(),
            booking_window_days: office.booking_window_days,
            min_lead_minutes: office.min_lead_minutes,
            slot_minutes: office.slot_minutes,
            state: office.state.clone(),
            release_time: office.release_time.clone(),
            staff_only_days: office.staff_only_days,
        }
    }
}

/// `GET /api/v1/offices/{office}/concerns`.
#[derive(Serialize, ToSchema)]
#[schema(as = Catalogue)]
struct CatalogueView {
    categories: Vec<CategoryView>,
    concerns: Vec<ConcernView>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Category)]
struct CategoryView {
    id: String,
    name: String,
    /// Among the most asked for, shown first.
    featured: bool,
    /// Its concerns' ids, in order.
    concerns: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Concern)]
struct ConcernView {
    id: String,
    name: String,
    /// The category's id.
    category: String,
    duration_minutes: u32,
    /// What to bring, so the visit does not fail for a missing paper.
    required_documents: Vec<String>,
    fee: Option<String>,
    /// The key of the German service catalogue (LeiKa), where known.
    leika_key: Option<String>,
    /// How many people one booking may bring for this concern.
    max_persons: u32,
    /// Among the most asked for: shown first.
    featured: bool,
}

impl From<&OfficeCatalogue> for CatalogueView {
    fn from(office: &OfficeCatalogue) -> Self {
        let catalogue = &office.catalogue;
        Self {
            categories: catalogue
                .categories
                .iter()
                .map(|category| CategoryView {
                    id: category.id.clone(),
                    name: category.name.clone(),
                    featured: category.featured,
                    concerns: category.concern_ids.clone(),
                })
                .collect(),
            concerns: catalogue
                .concerns
                .iter()
                .map(|concern| ConcernView {
                    id: concern.id.clone(),
                    name: concern.name.clone(),
                    category: concern.category_id.clone(),
                    duration_minutes: concern.duration_minutes,
                    required_documents: concern.required_documents.clone(),
                    fee: non_empty(&concern.fee),
                    leika_key: non_empty(&concern.leika_key),
                    max_persons: concern.max_persons,
                    featured: concern.featured,
                })
                .collect(),
        }
    }
}

/// `GET /api/v1/offices/{office}/slots`.
#[derive(Serialize, ToSchema)]
#[schema(as = Slots)]
struct SlotsView {
    office: String,
    timezone: String,
    /// How long the visit takes, for all its concerns.
    duration_minutes: u32,
    /// Days with at least one free time, in order.
    days: Vec<DayView>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Day)]
struct DayView {
    #[schema(format = Date)]
    date: String,
    slots: Vec<SlotView>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Slot)]
struct SlotView {
    /// In the office's zone, with its offset.
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    /// How many counters are free then.
    free: u32,
}

impl From<availability::ListSlotsResponse> for SlotsView {
    fn from(response: availability::ListSlotsResponse) -> Self {
        let tz = response.timezone.parse().unwrap_or(chrono_tz::Europe::Berlin);
        Self {
            days: response
                .days
                .into_iter()
                .map(|day| DayView {
                    date: day.date,
                    slots: day
                        .slots
                        .iter()
                        .map(|slot| SlotView {
                            start: local(view::instant(slot.start.as_ref()), tz),
                            end: local(view::instant(slot.end.as_ref()), tz),
                            free: slot.free,
                        })
                        .collect(),
                })
                .collect(),
            office: response.office_id,
            timezone: response.timezone,
            duration_minutes: response.duration_minutes,
        }
    }
}

/// A booking as the citizen sees it: times in the office's zone, the
/// documents to bring and the fees.
#[derive(Serialize, ToSchema)]
#[schema(as = Booking)]
pub(crate) struct BookingView {
    /// The booking's code, as the citizen quotes it.
    code: String,
    /// Only in the answer to the request that made the booking: the key to
    /// look it up, move or cancel it (`Authorization: Bearer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    office: String,
    concerns: Vec<String>,
    /// In the office's zone, with its offset.
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    #[schema(schema_with = crate::openapi::status_schema)]
    status: &'static str,
    /// For a `pending` booking: when it is released unless confirmed.
    #[schema(format = DateTime)]
    confirm_by: Option<String>,
    #[schema(schema_with = crate::openapi::channel_schema)]
    channel: &'static str,
    /// The counter (desk) that serves it.
    counter: String,
    name: String,
    email: String,
    phone: Option<String>,
    /// What to bring, for all its concerns.
    required_documents: Vec<String>,
    fees: Vec<FeeView>,
    office_name: String,
    address: String,
    /// Drawn on arrival at the office, e.g. `T-017`; `null` before.
    waiting_number: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Fee)]
struct FeeView {
    concern: String,
    fee: String,
}

impl BookingView {
    pub(crate) fn new(booking: &booking::Booking, office: &OfficeCatalogue, token: Option<String>) -> Self {
        let tz = office.timezone();
        let (start, end) = view::times(booking);
        Self {
            code: booking.code.clone(),
            token,
            office: booking.office_id.clone(),
            concerns: booking.concern_ids.clone(),
            start: local(start, tz),
            end: local(end, tz),
            status: status_name(booking.status()),
            confirm_by: booking
                .confirm_by
                .as_ref()
                .filter(|_| booking.status() == booking::BookingStatus::Pending)
                .map(|by| local(view::instant(Some(by)), tz)),
            channel: channel_name(booking.channel()),
            counter: booking.counter_id.clone(),
            name: booking.name.clone(),
            email: booking.email.clone(),
            phone: non_empty(&booking.phone),
            required_documents: office
                .documents(&booking.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            fees: office
                .fees(&booking.concern_ids)
                .map(|concern| FeeView {
                    concern: concern.id.clone(),
                    fee: concern.fee.clone(),
                })
                .collect(),
            office_name: office.office.name.clone(),
            address: office.office.address.clone(),
            waiting_number: non_empty(&booking.waiting_number),
        }
    }
}
