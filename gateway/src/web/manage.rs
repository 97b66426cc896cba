//! The private manage page behind the link with the booking's token: see the
//! booking, move it, cancel it (each change behind a confirm step).

use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::citizen::parse_ids;
use super::frame::Frame;
use super::{Csrf, WebError, encode, messages, render, see_other};
use crate::Services;
use crate::client::Client;
use crate::i18n;
use crate::protection::Class;
use crate::view::{self, ConcernDocuments, concern_documents, describe, times, when};

#[derive(Template)]
#[template(path = "booking.html")]
struct BookingPage {
    frame: Frame,
    new: bool,
    /// For a pending booking: until when it must be confirmed, in words.
    pending: Option<String>,
    message: Option<&'static str>,
    /// Why a booking that is not `booked` cannot be managed any more.
    status_note: Option<&'static str>,
    code: String,
    email: String,
    concerns: String,
    active: bool,
    date: String,
    time: String,
    office_name: String,
    address: String,
    documents: Vec<ConcernDocuments>,
    calendar_link: String,
    manage_link: String,
    /// The kiosk link as a QR code (SVG), for the self check-in.
    check_in_qr: String,
    move_link: String,
    cancel_link: String,
    book_link: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub(super) token: String,
    #[serde(default)]
    neu: Option<String>,
    #[serde(default)]
    abgesagt: Option<String>,
    #[serde(default)]
    verschoben: Option<String>,
    #[serde(default)]
    start: String,
}

async fn load(services: &Services, code: &str, token: &str) -> Result<booking::Booking, WebError> {
    services
        .bookings
        .clone()
        .get_booking(booking::GetBookingRequest {
            code: code.to_owned(),
            token: token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(not_found_or)
}

/// Any unknown code or token reads "no such booking".
fn not_found_or(status: tonic::Status) -> WebError {
    match ErrorCode::of(&status).http_status() {
        404 => WebError::NotFound(messages::text(ErrorCode::BookingNotFound)),
        _ => status.into(),
    }
}

fn manage_url(code: &str, token: &str) -> String {
    format!("/termin/{}?token={}", encode(code), encode(token))
}

/// What the manage page says of a booking that is not (or no longer) `booked`.
fn status_note(status: booking::BookingStatus) -> Option<&'static str> {
    match status {
        booking::BookingStatus::Cancelled => Some(i18n::current().t("booking.cancelled_note")),
        booking::BookingStatus::Completed => Some(i18n::current().t("booking.completed_note")),
        booking::BookingStatus::NoShow => Some(i18n::current().t("booking.no_show_note")),
        booking::BookingStatus::CheckedIn | booking::BookingStatus::Called => {
            Some(i18n::current().t("booking.checked_in_note"))
        }
        booking::BookingStatus::Pending | booking::BookingStatus::Booked | booking::BookingStatus::Unspecified => None,
    }
}

pub async fn show(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let booking = load(&services, &code, &query.token).await?;
    let office = services.page_office(&booking.office_id).await?;
    let tz = office.timezone();
    let (start, end) = times(&booking);
    let documents = concern_documents(&office, &booking.concern_ids);
    let message = if query.abgesagt.is_some() {
        Some(i18n::current().t("booking.was_cancelled"))
    } else if query.verschoben.is_some() {
        Some(i18n::current().t("booking.was_moved"))
    } else {
        None
    };
    let base = super::site_base(&services, &headers);
    let pending = booking
        .confirm_by
        .as_ref()
        .filter(|_| booking.status() == booking::BookingStatus::Pending)
        .map(|by| view::at(view::instant(Some(by)), tz));
    let page = render(&BookingPage {
        frame: Frame::office(&office),
        new: query.neu.is_some(),
        pending,
        message,
        status_note: status_note(booking.status()).filter(|_| message.is_none()),
        code: booking.code.clone(),
        email: booking.email.clone(),
        concerns: describe(&office, &booking.concern_ids),
        active: booking.status() == booking::BookingStatus::Booked,
        date: i18n::long_date(start.with_timezone(&tz).date_naive()),
        time: i18n::current().t2(
            "booking.from_to",
            ("from", &start.with_timezone(&tz).format("%H:%M")),
            ("to", &end.with_timezone(&tz).format("%H:%M")),
        ),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        documents,
        calendar_link: format!(
            "/api/v1/bookings/{}/calendar.ics?token={}",
            encode(&booking.code),
            encode(&query.token)
        ),
        manage_link: format!(
            "{}{}",
            base.trim_end_matches('/'),
            manage_url(&booking.code, &query.token)
        ),
        check_in_qr: amtstermin_platform::qr::svg(
            &amtstermin_platform::qr::check_in_link(&base, &booking.office_id, &booking.code),
            &i18n::current().t1("booking.qr_label", "code", &booking.code),
        ),
        move_link: format!(
            "/amt/{}/kalender?anliegen={}&termin={}&token={}",
            encode(&booking.office_id),
            encode(&booking.concern_ids.join(",")),
            encode(&booking.code),
            encode(&query.token)
        ),
        cancel_link: format!(
            "/termin/{}/absagen?token={}",
            encode(&booking.code),
            encode(&query.token)
        ),
        book_link: format!("/amt/{}", encode(&booking.office_id)),
    })?;
    Ok(page.into_response())
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(super) struct Confirm {
    pub(super) frame: Frame,
    pub(super) heading: &'static str,
    pub(super) problem: Option<&'static str>,
    pub(super) summary: Vec<(&'static str, String)>,
    pub(super) action: String,
    pub(super) csrf: String,
    pub(super) token: String,
    pub(super) start: Option<String>,
    pub(super) confirm: &'static str,
    pub(super) danger: bool,
    pub(super) back_link: String,
    pub(super) back_label: &'static str,
    /// What a page reporting a change done adds (e.g. that a mail follows).
    pub(super) note: Option<&'static str>,
}

async fn summary(services: &Services, booking: &booking::Booking) -> Result<Vec<(&'static str, String)>, WebError> {
    let office = services.page_office(&booking.office_id).await?;
    let (start, end) = times(booking);
    Ok(vec![
        (i18n::current().t("booking.code"), booking.code.clone()),
        (
            i18n::current().t("booking.appointment"),
            when(start, end, office.timezone()),
        ),
        (
            i18n::current().t("booking.concerns"),
            describe(&office, &booking.concern_ids),
        ),
        (
            i18n::current().t("booking.place"),
            format!("{}, {}", office.office.name, office.office.address),
        ),
    ])
}

pub async fn confirm_cancel(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let booking = load(&services, &code, &query.token).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let page = render(&Confirm {
        frame: Frame::office(&*services.page_office(&booking.office_id).await?),
        heading: i18n::current().t("confirm.cancel_heading"),
        problem: (booking.status() != booking::BookingStatus::Booked)
            .then_some(i18n::current().t("confirm.cancel_impossible")),
        summary: summary(&services, &booking).await?,
        action: format!("/termin/{}/absagen", encode(&booking.code)),
        csrf: csrf.token.clone(),
        token: query.token.clone(),
        start: None,
        confirm: i18n::current().t("confirm.cancel_yes"),
        danger: true,
        back_link: manage_url(&booking.code, &query.token),
        back_label: i18n::current().t("confirm.cancel_no"),
        note: None,
    })?;
    Ok(csrf.respond(page))
}

/// The link of a confirmation mail: a button, so that a mail scanner
/// following links confirms nothing.
pub async fn confirm_booking_form(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let page = render(&Confirm {
        frame: services.site_frame().await,
        heading: i18n::current().t("confirm.confirm_heading"),
        problem: None,
        summary: vec![(i18n::current().t("booking.code"), code.clone())],
        action: format!("/termin/{}/bestaetigen", encode(&code)),
        csrf: csrf.token.clone(),
        token: query.token.clone(),
        start: None,
        confirm: i18n::current().t("confirm.confirm_button"),
        danger: false,
        back_link: "/".to_owned(),
        back_label: i18n::current().t("site.home"),
        note: None,
    })?;
    Ok(csrf.respond(page))
}

pub async fn confirm_booking(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let confirmed = services
        .bookings
        .clone()
        .confirm_booking(booking::ConfirmBookingRequest {
            code,
            token: posted.token,
        })
        .await;
    let booking = match confirmed {
        Ok(booking) => booking.into_inner(),
        Err(status) if ErrorCode::of(&status) == ErrorCode::InvalidTransition => {
            return Err(WebError::BadRequest(i18n::current().t("confirm.confirm_expired")));
        }
        Err(status) => return Err(not_found_or(status)),
    };
    let page = render(&Confirm::done(
        Frame::office(&*services.page_office(&booking.office_id).await?),
        i18n::current().t("confirm.confirmed"),
        summary(&services, &booking).await?,
    ))?;
    Ok(page.into_response())
}

impl Confirm {
    /// A page that reports a change done: no form, back to the start.
    pub(super) fn done(frame: Frame, heading: &'static str, summary: Vec<(&'static str, String)>) -> Self {
        Self {
            frame,
            heading,
            problem: None,
            summary,
            action: String::new(),
            csrf: String::new(),
            token: String::new(),
            start: None,
            confirm: "",
            danger: false,
            back_link: "/".to_owned(),
            back_label: i18n::current().t("site.home"),
            note: Some(i18n::current().t("confirm.mail_follows")),
        }
    }
}

#[derive(Deserialize)]
pub struct Posted {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) token: String,
    #[serde(default)]
    start: String,
}

pub async fn cancel(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Bookings, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let cancelled = services
        .bookings
        .clone()
        .cancel_booking(booking::CancelBookingRequest {
            code: code.clone(),
            token: posted.token.clone(),
        })
        .await
        .map_err(|status| match ErrorCode::of(&status) {
            ErrorCode::InvalidTransition => WebError::BadRequest(i18n::current().t("error.cannot_cancel")),
            _ => not_found_or(status),
        })?
        .into_inner();
    services.await_slots(&cancelled).await;
    Ok(see_other(&format!(
        "{}&abgesagt=1",
        manage_url(&cancelled.code, &posted.token)
    )))
}

async fn move_page(
    services: &Services,
    booking: &booking::Booking,
    token: &str,
    start: &str,
    csrf: Csrf,
    problem: Option<&'static str>,
) -> Result<Response, WebError> {
    let new_start = chrono::DateTime::parse_from_rfc3339(start.trim())
        .map_err(|_| WebError::BadRequest(i18n::current().t("form.invalid_time")))?;
    let office = services.page_office(&booking.office_id).await?;
    let mut items = summary(services, booking).await?;
    items.insert(
        2,
        (
            i18n::current().t("confirm.new_time"),
            view::at(new_start.with_timezone(&chrono::Utc), office.timezone()),
        ),
    );
    let calendar = format!(
        "/amt/{}/kalender?anliegen={}&termin={}&token={}",
        encode(&booking.office_id),
        encode(&parse_ids(&booking.concern_ids.join(",")).join(",")),
        encode(&booking.code),
        encode(token)
    );
    let page = render(&Confirm {
        frame: Frame::office(&office),
        heading: i18n::current().t("confirm.move_heading"),
        problem,
        summary: items,
        action: format!("/termin/{}/verschieben", encode(&booking.code)),
        csrf: csrf.token.clone(),
        token: token.to_owned(),
        start: Some(start.to_owned()),
        confirm: i18n::current().t("confirm.move_yes"),
        danger: false,
        back_link: calendar,
        back_label: i18n::current().t("confirm.move_other"),
        note: None,
    })?;
    let mut response = csrf.respond(page);
    if problem.is_some() {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    Ok(response)
}

pub async fn confirm_move(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let booking = load(&services, &code, &query.token).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let problem =
        (booking.status() != booking::BookingStatus::Booked).then_some(i18n::current().t("confirm.move_impossible"));
    move_page(&services, &booking, &query.token, &query.start, csrf, problem).await
}

pub async fn reschedule(
    State(services): State<Services>,
    client: Client,
    Path(code): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Bookings, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let booking = load(&services, &code, &posted.token).await?;
    let start = chrono::DateTime::parse_from_rfc3339(posted.start.trim())
        .map_err(|_| WebError::BadRequest(i18n::current().t("form.invalid_time")))?;
    let moved = services
        .bookings
        .clone()
        .reschedule_booking(booking::RescheduleBookingRequest {
            code: code.clone(),
            token: posted.token.clone(),
            start: Some(timestamp::to_proto(start.with_timezone(&chrono::Utc))),
        })
        .await;
    match moved {
        Ok(moved) => {
            let moved = moved.into_inner();
            services.await_slots(&moved).await;
            Ok(see_other(&format!(
                "{}&verschoben=1",
                manage_url(&moved.code, &posted.token)
            )))
        }
        Err(status)
            if matches!(
                ErrorCode::of(&status).grpc(),
                tonic::Code::FailedPrecondition | tonic::Code::Aborted
            ) =>
        {
            let csrf = Csrf::from_headers(&headers)?;
            let problem = Some(messages::text(ErrorCode::SlotTaken));
            move_page(&services, &booking, &posted.token, &posted.start, csrf, problem).await
        }
        Err(status) => Err(status.into()),
    }
}
