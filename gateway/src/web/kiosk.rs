//! Self check-in in the foyer (`/einchecken/{office}`): a kiosk where a
//! citizen types the booking code and draws their waiting number, instead
//! of queueing at the desk. Too early, too late, another day, another
//! office and already checked in each get their own answer.

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::ErrorCode;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{TimeDelta, Utc};
use serde::Deserialize;

use super::desk::find;
use super::frame::Frame;
use super::{Csrf, WebError, render};
use crate::Services;
use crate::client::Client;
use crate::i18n;
use crate::protection::Class;
use crate::view::{self, describe};

/// How long before the appointment a citizen may check in.
const EARLIEST_MINUTES: i64 = 60;

#[derive(Template)]
#[template(path = "kiosk.html")]
struct Kiosk {
    frame: Frame,
    office_id: String,
    office_name: String,
    csrf: String,
    code: String,
    /// The waiting number drawn, shown large.
    number: Option<String>,
    /// What the kiosk says about the code (a refusal or the appointment).
    answer: Option<String>,
    refused: bool,
    /// (id, name) of the concerns a walk-in may draw a number for; empty
    /// where the office does not allow it.
    walk_in_concerns: Vec<(String, String)>,
}

fn walk_in_concerns(office: &OfficeCatalogue) -> Vec<(String, String)> {
    if !office.office.kiosk_walk_ins {
        return Vec::new();
    }
    office
        .catalogue
        .concerns
        .iter()
        .map(|concern| (concern.id.clone(), concern.name.clone()))
        .collect()
}

#[derive(Deserialize)]
pub struct Prefill {
    /// From a booking's QR code opened on a phone: the code, filled in.
    #[serde(default)]
    code: String,
}

pub async fn form(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(prefill): Query<Prefill>,
) -> Result<Response, WebError> {
    let office = services.page_office(&office_id).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let page = render(&Kiosk {
        frame: Frame::office(&office),
        office_name: office.office.name.clone(),
        office_id,
        csrf: csrf.token.clone(),
        code: code_from(&prefill.code),
        number: None,
        answer: None,
        refused: false,
        walk_in_concerns: walk_in_concerns(&office),
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct CheckIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn check_in(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CheckIn>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, Some(&office_id), client).await?;
    Csrf::verify(&headers, &form.csrf)?;
    let csrf = Csrf::from_headers(&headers)?;
    let office = services.page_office(&office_id).await?;
    let code = code_from(&form.code);
    let shown = match arrive(&services, &office_id, &code).await? {
        Arrival::CheckedIn(found) | Arrival::Already(found) => Shown::Number(Box::new(found)),
        Arrival::Refused(text) => Shown::Refusal(text, code),
    };
    answer(&office, &office_id, csrf, shown)
}

/// The booking code in what was typed: the code itself, or the link of a
/// booking's QR code, which a scanner at the kiosk types in full.
fn code_from(typed: &str) -> String {
    let typed = typed.trim();
    let code = typed.rsplit_once("code=").map_or(typed, |(_, code)| code);
    let code = code.split(['&', '#']).next().unwrap_or(code);
    code.chars().take(20).collect::<String>().trim().to_ascii_uppercase()
}

/// What the kiosk shows after a try: the number drawn, or why not (with
/// the code typed, to correct it).
enum Shown {
    Number(Box<booking::Booking>),
    Refusal(String, String),
}

/// The kiosk page with the outcome of a try (409 for a refusal).
fn answer(office: &OfficeCatalogue, office_id: &str, csrf: Csrf, shown: Shown) -> Result<Response, WebError> {
    let lang = i18n::current();
    let (number, answer, code) = match shown {
        Shown::Number(found) => {
            let (start, _) = view::times(&found);
            let answer = lang.t2(
                "kiosk.your_appointment",
                ("time", &view::at(start, office.timezone())),
                ("concerns", &describe(office, &found.concern_ids)),
            );
            (Some(found.waiting_number), answer, String::new())
        }
        Shown::Refusal(text, code) => (None, text, code),
    };
    let refused = number.is_none();
    let page = render(&Kiosk {
        frame: Frame::office(office),
        office_name: office.office.name.clone(),
        office_id: office_id.to_owned(),
        csrf: csrf.token.clone(),
        code,
        number,
        answer: Some(answer),
        refused,
        walk_in_concerns: walk_in_concerns(office),
    })?;
    let mut response = csrf.respond(page);
    if refused {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct WalkIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    anliegen: String,
}

/// A walk-in draws a number for a concern: the next free time of today
/// (foyer channel), checked in at once.
pub async fn walk_in(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<WalkIn>,
) -> Result<Response, WebError> {
    // A booking each: the bookings budget of the kiosk's address counts it.
    services.limit(Class::Bookings, Some(&office_id), client).await?;
    Csrf::verify(&headers, &form.csrf)?;
    let csrf = Csrf::from_headers(&headers)?;
    let office = services.page_office(&office_id).await?;
    let lang = i18n::current();
    if !office.office.kiosk_walk_ins || office.concern(&form.anliegen).is_none() {
        return Err(WebError::NotFound(lang.t("error.not_found")));
    }
    let name = lang.t("kiosk.walk_in_name");
    let booked = services
        .book_walk_in(&office_id, std::slice::from_ref(&form.anliegen), (name, "kiosk"), true)
        .await;
    let shown = match booked {
        // Here now, whenever the time is: checked in at once.
        Ok(booked) => Shown::Number(Box::new(check_in_now(&services, &office_id, &booked.code).await?)),
        Err(error) if error.code == ErrorCode::SlotUnavailable => {
            Shown::Refusal(lang.t("kiosk.nothing_today").to_owned(), String::new())
        }
        Err(error) => return Err(error.into()),
    };
    answer(&office, &office_id, csrf, shown)
}

enum Arrival {
    CheckedIn(booking::Booking),
    Already(booking::Booking),
    Refused(String),
}

/// Checks the citizen with `code` in at `office_id`, or says why not.
async fn arrive(services: &Services, office_id: &str, code: &str) -> Result<Arrival, WebError> {
    let lang = i18n::current();
    let found = match find(services, office_id, code).await {
        Ok(found) => found,
        Err(WebError::NotFound(_)) => return Ok(Arrival::Refused(elsewhere(services, office_id, code).await)),
        Err(error) => return Err(error),
    };
    let office = services.page_office(office_id).await?;
    let tz = office.timezone();
    let (start, end) = view::times(&found);
    let now = Utc::now();
    match found.status() {
        booking::BookingStatus::CheckedIn | booking::BookingStatus::Called => return Ok(Arrival::Already(found)),
        booking::BookingStatus::Booked => {}
        _ => return Ok(Arrival::Refused(lang.t("kiosk.not_active").to_owned())),
    }
    if start.with_timezone(&tz).date_naive() != now.with_timezone(&tz).date_naive() {
        let day = i18n::long_date(start.with_timezone(&tz).date_naive());
        return Ok(Arrival::Refused(lang.t1("kiosk.other_day", "day", day)));
    }
    let earliest = start - TimeDelta::minutes(EARLIEST_MINUTES);
    if now < earliest {
        let from = earliest.with_timezone(&tz).format("%H:%M");
        return Ok(Arrival::Refused(lang.t1("kiosk.too_early", "from", from)));
    }
    if now > end {
        return Ok(Arrival::Refused(lang.t("kiosk.too_late").to_owned()));
    }
    match check_in_now(services, office_id, &found.code).await {
        Ok(arrived) => Ok(Arrival::CheckedIn(arrived)),
        Err(WebError::BadRequest(_)) => Ok(Arrival::Refused(lang.t("kiosk.not_active").to_owned())),
        Err(error) => Err(error),
    }
}

/// Marks the booking `code` arrived (drawing its waiting number).
async fn check_in_now(services: &Services, office_id: &str, code: &str) -> Result<booking::Booking, WebError> {
    Ok(services
        .bookings
        .clone()
        .change_booking_status(booking::ChangeBookingStatusRequest {
            office_id: office_id.to_owned(),
            code: code.to_owned(),
            status: booking::BookingStatus::CheckedIn.into(),
            actor: "kiosk".to_owned(),
            note: String::new(),
        })
        .await?
        .into_inner())
}

/// The answer for a code this office does not know: the office it belongs
/// to, if any.
async fn elsewhere(services: &Services, office_id: &str, code: &str) -> String {
    let lang = i18n::current();
    let offices = services
        .catalogues
        .offices()
        .await
        .map(|offices| offices.to_vec())
        .unwrap_or_default();
    for other in offices.iter().filter(|other| other.id != office_id) {
        if find(services, &other.id, code).await.is_ok() {
            return lang.t1("kiosk.other_office", "office", &other.name);
        }
    }
    lang.t("kiosk.unknown").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_link_gives_its_code() {
        assert_eq!(code_from(" abcd-2345 "), "ABCD-2345");
        assert_eq!(
            code_from("https://termine.bergkamen.de/einchecken/bergkamen?code=ABCD-2345"),
            "ABCD-2345"
        );
        assert_eq!(code_from("http://x/einchecken/b?code=abcd-2345&lang=en"), "ABCD-2345");
        assert_eq!(code_from(""), "");
    }
}
