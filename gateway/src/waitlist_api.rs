//! The waitlist in the public HTTP API ("Terminwecker"): join, confirm with
//! the mail's secret, read and withdraw an entry. Listed in the README.

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::booking::v1 as booking;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Services;
use crate::client::Client;
use crate::error::{ApiError, Body as ErrorBody};
use crate::protection::Class;
use crate::public_api::{OfficePath, bearer_token, json_body, path_value};
use crate::view::local;

pub fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(join))
        .routes(routes!(get_entry, withdraw))
        .routes(routes!(confirm))
        .routes(routes!(accept))
        .routes(routes!(decline))
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only describes the path in the OpenAPI document")]
struct OfferPath {
    /// The entry's id.
    #[param(example = "W7MQ-4PXZ")]
    id: String,
    /// The offer's id, as the entry lists it (and the offer's mail links it).
    #[param(example = "A3KD-9QRT")]
    offer: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "only describes the path in the OpenAPI document")]
struct EntryPath {
    /// The entry's id, as the answer to joining gave it.
    #[param(example = "W7MQ-4PXZ")]
    id: String,
}

/// Joining the waitlist.
#[derive(Deserialize, ToSchema)]
struct JoinWaitlist {
    /// The concerns of the visit; a repeated id is another person.
    #[schema(example = json!(["personalausweis"]))]
    concerns: Vec<String>,
    /// First local day a time would do (inside the booking window).
    #[schema(format = Date)]
    from: String,
    /// Last local day a time would do.
    #[schema(format = Date)]
    to: String,
    /// `any` (the default), `morning` (starts before noon) or `afternoon`.
    #[serde(default)]
    #[schema(example = "morning")]
    time_of_day: Option<String>,
    #[schema(example = "Erika Mustermann")]
    name: String,
    #[schema(example = "erika@example.org")]
    email: String,
    /// The solved proof of work, where the office asks for one (as for a booking).
    #[serde(default)]
    altcha: Option<String>,
    /// The language of the mails: `de` (the default) or `en`.
    #[serde(default)]
    #[schema(example = "de")]
    language: Option<String>,
}

/// A time offered to the entry.
#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistOffer)]
struct OfferView {
    id: String,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    /// `offered`, `accepted`, `declined` or `expired`.
    #[schema(example = "offered")]
    status: String,
    /// Until when the time is held.
    #[schema(format = DateTime)]
    expires_at: String,
    /// The booking an accepted offer became.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

/// A waitlist entry.
#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistEntry)]
struct EntryView {
    id: String,
    office: String,
    concerns: Vec<String>,
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    #[schema(example = "any")]
    time_of_day: String,
    name: String,
    email: String,
    /// `unconfirmed` (until the address is confirmed), `active`,
    /// `fulfilled`, `withdrawn` or `ended`.
    #[schema(example = "unconfirmed")]
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    /// When the address was confirmed: the entry's place in the queue.
    #[schema(format = DateTime)]
    confirmed_at: Option<String>,
    /// Offers made so far (at most three).
    offers_made: u32,
    offers: Vec<OfferView>,
    /// The secret that reads and withdraws the entry; only in the answer to joining.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn status_name(status: booking::WaitlistStatus) -> &'static str {
    match status {
        booking::WaitlistStatus::Unconfirmed | booking::WaitlistStatus::Unspecified => "unconfirmed",
        booking::WaitlistStatus::Active => "active",
        booking::WaitlistStatus::Fulfilled => "fulfilled",
        booking::WaitlistStatus::Withdrawn => "withdrawn",
        booking::WaitlistStatus::Ended => "ended",
    }
}

impl EntryView {
    fn new(entry: &booking::WaitlistEntry, office: &OfficeCatalogue, token: Option<String>) -> Self {
        let tz = office.timezone();
        let instant =
            |at: &Option<prost_types::Timestamp>| at.as_ref().and_then(timestamp::from_proto).map(|at| local(at, tz));
        Self {
            id: entry.id.clone(),
            office: entry.office_id.clone(),
            concerns: entry.concern_ids.clone(),
            from: entry.from.clone(),
            to: entry.to.clone(),
            time_of_day: entry.time_of_day.clone(),
            name: entry.name.clone(),
            email: entry.email.clone(),
            status: status_name(entry.status()),
            created_at: instant(&entry.created_at).unwrap_or_default(),
            confirmed_at: instant(&entry.confirmed_at),
            offers_made: entry.offers_made,
            offers: entry
                .offers
                .iter()
                .map(|offer| OfferView {
                    id: offer.id.clone(),
                    start: instant(&offer.start).unwrap_or_default(),
                    end: instant(&offer.end).unwrap_or_default(),
                    status: offer.status.clone(),
                    expires_at: instant(&offer.expires_at).unwrap_or_default(),
                    code: (!offer.code.is_empty()).then(|| offer.code.clone()),
                })
                .collect(),
            token,
        }
    }
}

fn entry_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::WaitlistEntryNotFound,
        "no waitlist entry with this id and secret",
    )
}

/// Asks to be offered a time for the concerns within `from` to `to`. The
/// entry takes part once the email address is confirmed with the link of
/// the mail this sends; whoever confirms first is served first. The answer
/// holds the entry's token, once; keep it.
#[utoipa::path(post, path = "/api/v1/offices/{office}/waitlist", tag = "public",
    params(OfficePath), request_body = JoinWaitlist,
    responses(
        (status = 201, description = "Joined, `unconfirmed` until the address is confirmed", body = EntryView,
            headers(("Location" = String, description = "The entry's address"))),
        (status = 400, description = "A bad body, name, email, range (`invalid_date`), time of day or concerns", body = ErrorBody),
        (status = 404, description = "No such office or concern, or the office keeps no waitlist", body = ErrorBody),
        (status = 409, description = "This email address already has as many entries as allowed (`limit_reached`)", body = ErrorBody),
        (status = 428, description = "This office asks this client for a proof of work first (`challenge_required`)", body = ErrorBody),
        (status = 429, description = "Too many requests from this client (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn join(
    State(services): State<Services>,
    client: Client,
    office: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let office_id = path_value(office)?;
    let request: JoinWaitlist = json_body(body)?;
    // As a booking: a read without the proof of work, then the bookings budget.
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    let office = services.office(&office_id).await?;
    services
        .challenges
        .admit(crate::challenge::Mode::of(&office), client, request.altcha.as_deref())?;
    services.limit(Class::Bookings, Some(&office_id), client).await?;
    let created = services
        .bookings
        .clone()
        .create_waitlist_entry(booking::CreateWaitlistEntryRequest {
            office_id,
            concern_ids: request.concerns,
            from: request.from,
            to: request.to,
            time_of_day: request.time_of_day.unwrap_or_default(),
            name: request.name,
            email: request.email,
            language: request.language.unwrap_or_default(),
        })
        .await?
        .into_inner();
    let entry = created
        .entry
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the booking service answered without an entry"))?;
    let mut response = (
        StatusCode::CREATED,
        Json(EntryView::new(&entry, &office, Some(created.token))),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/waitlist/{}", entry.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The entry as the API shows it (times in its office's zone, no token).
async fn view(services: &Services, entry: &booking::WaitlistEntry) -> Result<Json<EntryView>, ApiError> {
    let office = services.office(&entry.office_id).await?;
    Ok(Json(EntryView::new(entry, &office, None)))
}

fn entry_request(id: String, headers: &HeaderMap) -> Result<booking::WaitlistEntryRequest, ApiError> {
    Ok(booking::WaitlistEntryRequest {
        id,
        token: bearer_token(headers).ok_or_else(entry_not_found)?,
    })
}

/// Confirms the entry's email address with the secret of its mail (the
/// mail's link leads to a page that sends this): the entry becomes
/// `active` and takes its place in the queue. Again is harmless.
#[utoipa::path(post, path = "/api/v1/waitlist/{id}/confirm", tag = "public",
    params(EntryPath), security(("booking_token" = [])),
    responses(
        (status = 200, description = "The entry, now `active`", body = EntryView),
        (status = 400, description = "The id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No entry with this id and secret (`waitlist_entry_not_found`)", body = ErrorBody),
        (status = 409, description = "The entry was withdrawn or has ended (`invalid_transition`)", body = ErrorBody),
        (status = 429, description = "Too many look-ups from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn confirm(
    State(services): State<Services>,
    client: Client,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<EntryView>, ApiError> {
    services.limit(Class::Lookups, None, client).await?;
    let request = entry_request(path_value(id)?, &headers)?;
    let entry = services.bookings.clone().confirm_waitlist_entry(request).await?;
    view(&services, &entry.into_inner()).await
}

/// The entry and the times offered to it, for whoever holds its token.
#[utoipa::path(get, path = "/api/v1/waitlist/{id}", tag = "public",
    params(EntryPath), security(("booking_token" = [])),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        (status = 400, description = "The id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No entry with this id and token (`waitlist_entry_not_found`)", body = ErrorBody),
        (status = 429, description = "Too many look-ups from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn get_entry(
    State(services): State<Services>,
    client: Client,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<EntryView>, ApiError> {
    services.limit(Class::Lookups, None, client).await?;
    let request = entry_request(path_value(id)?, &headers)?;
    let entry = services.bookings.clone().get_waitlist_entry(request).await?;
    view(&services, &entry.into_inner()).await
}

/// Withdraws the entry. Again is harmless.
#[utoipa::path(delete, path = "/api/v1/waitlist/{id}", tag = "public",
    params(EntryPath), security(("booking_token" = [])),
    responses(
        (status = 204, description = "Withdrawn (also when it was already)"),
        (status = 400, description = "The id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No entry with this id and token (`waitlist_entry_not_found`)", body = ErrorBody),
        (status = 429, description = "Too many changes from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn withdraw(
    State(services): State<Services>,
    client: Client,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    services.limit(Class::Bookings, None, client).await?;
    let request = entry_request(path_value(id)?, &headers)?;
    services.bookings.clone().withdraw_waitlist_entry(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn offer_request(path: (String, String), headers: &HeaderMap) -> Result<booking::WaitlistOfferRequest, ApiError> {
    let (id, offer_id) = path;
    Ok(booking::WaitlistOfferRequest {
        id,
        offer_id,
        token: bearer_token(headers)
            .ok_or_else(|| ApiError::new(ErrorCode::OfferNotFound, "no such offer of this waitlist entry"))?,
    })
}

/// Accepts an offered time: it becomes an ordinary booking, answered as
/// `POST /api/v1/bookings` answers (with the booking's token; the
/// confirmation mail follows), and the entry is fulfilled. The token is
/// the entry's or the offer mail's secret.
#[utoipa::path(post, path = "/api/v1/waitlist/{id}/offers/{offer}/accept", tag = "public",
    params(OfferPath), security(("booking_token" = [])),
    responses(
        (status = 201, description = "Booked", body = crate::public_api::BookingView,
            headers(("Location" = String, description = "The booking's address"))),
        (status = 400, description = "An id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such offer of this entry, or a wrong token (`offer_not_found`)", body = ErrorBody),
        (status = 409, description = "The offer's hold has ended or it was answered (`offer_expired`), or this email address already has as many bookings as allowed (`limit_reached`)", body = ErrorBody),
        (status = 429, description = "Too many changes from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn accept(
    State(services): State<Services>,
    client: Client,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    services.limit(Class::Bookings, None, client).await?;
    let request = offer_request(path_value(path)?, &headers)?;
    let created = services
        .bookings
        .clone()
        .accept_waitlist_offer(request)
        .await?
        .into_inner();
    let booking = created
        .booking
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the booking service answered without a booking"))?;
    let office = services.office(&booking.office_id).await?;
    Ok(crate::public_api::booked(&booking, &office, created.token))
}

/// Declines an offered time: it passes to the next in line. The entry
/// waits on, unless this was its third offer.
#[utoipa::path(post, path = "/api/v1/waitlist/{id}/offers/{offer}/decline", tag = "public",
    params(OfferPath), security(("booking_token" = [])),
    responses(
        (status = 204, description = "Declined"),
        (status = 400, description = "An id is too long (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such offer of this entry, or a wrong token (`offer_not_found`)", body = ErrorBody),
        (status = 409, description = "The offer was answered or has expired (`offer_expired`)", body = ErrorBody),
        (status = 429, description = "Too many changes from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is taken"))),
    ))]
async fn decline(
    State(services): State<Services>,
    client: Client,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    services.limit(Class::Bookings, None, client).await?;
    let request = offer_request(path_value(path)?, &headers)?;
    services.bookings.clone().decline_waitlist_offer(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
