//! The foyer desk: staff sign in, see the day's bookings per counter and the
//! free times from now on, give walk-ins the next free slot (no email
//! needed, a printable ticket), record arrivals, completions and no-shows,
//! cancel or move on a citizen's behalf, and record counter absences. Every
//! booking goes through the same atomic booking path (channel "foyer").

use amtstermin_catalogue::german;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use serde::Deserialize;

use super::frame::Frame;
use super::{Csrf, WebError, encode, render, see_other};
use crate::Https;
use crate::Services;
use crate::client::Client;
use crate::sign_in::Refusal;
use crate::staff::{Account, Role, SESSION_COOKIE};
use crate::view::{self, describe, status_label, times};

/// The signed-in member of staff at the desk (who works for `office_id`,
/// if given).
pub(super) async fn signed_in(
    services: &Services,
    headers: &HeaderMap,
    office_id: Option<&str>,
) -> Result<Account, WebError> {
    signed_in_as(services, headers, office_id, &[Role::Desk]).await
}

/// The signed-in member of staff with one of `roles` (for `office_id`, if
/// given).
pub(super) async fn signed_in_as(
    services: &Services,
    headers: &HeaderMap,
    office_id: Option<&str>,
    roles: &[Role],
) -> Result<Account, WebError> {
    let account = services
        .staff_session(headers)
        .await?
        .ok_or(WebError::SignIn)?
        .account
        .clone();
    if !roles.iter().any(|role| account.has(*role)) {
        return Err(WebError::Forbidden("Ihr Konto hat für diese Seite keine Berechtigung."));
    }
    match office_id {
        Some(office_id) if !account.may_work_for(office_id) => {
            Err(WebError::NotFound("Für dieses Amt sind Sie nicht freigeschaltet."))
        }
        _ => Ok(account),
    }
}

/// Checks a posted desk form: the browser's CSRF token, and that it is the
/// one the session was started with (a token planted in the browser by
/// someone else does not match the session).
pub(super) fn verify_bound(services: &Services, headers: &HeaderMap, posted: &str) -> Result<(), WebError> {
    Csrf::verify(headers, posted)?;
    let session = super::cookie(headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
    match services.staff.from_session(&session) {
        Some(session) if session.csrf == posted => Ok(()),
        Some(_) => Err(WebError::BadRequest(
            "Das Formular gehört nicht zu Ihrer Anmeldung. Bitte laden Sie die Seite neu.",
        )),
        None => Err(WebError::SignIn),
    }
}

/// The CSRF token of desk forms: the one the session is bound to.
pub(super) fn desk_csrf(services: &Services, headers: &HeaderMap) -> Result<Csrf, WebError> {
    let session = super::cookie(headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
    let session = services.staff.from_session(&session).ok_or(WebError::SignIn)?;
    Ok(Csrf::with_token(headers, session.csrf))
}

pub(super) fn session_cookie(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    ))
    .ok()
}

#[derive(Template)]
#[template(path = "desk_login.html")]
struct Login {
    frame: Frame,
    csrf: String,
    login: String,
    /// Sign-in through the identity provider is offered.
    oidc: bool,
    failed: bool,
    /// Set while locked out: when to try again, in words.
    wait: Option<String>,
}

/// The desk's session cookie is `Secure`: over plain HTTP a browser drops it
/// and every sign-in would end at the sign-in again. Say so instead (a
/// browser on this very machine keeps it, so local use works).
pub(super) fn needs_https(https: Option<Extension<Https>>, headers: &HeaderMap) -> Option<Response> {
    if https.is_some_and(|Extension(Https(https))| https) {
        return None;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    if matches!(name, "localhost" | "127.0.0.1" | "[::1]") || name.ends_with(".localhost") {
        return None;
    }
    let page = super::Message {
        frame: Frame::default(),
        heading: "Anmeldung nur über HTTPS",
        text: "Der Schalter braucht eine verschlüsselte Verbindung. Bitte rufen Sie diese Seite mit https:// auf \
               oder bitten Sie die IT, die Terminvergabe über HTTPS bereitzustellen.",
        link: "/",
        link_label: "Zur Startseite",
    };
    Some(match render(&page) {
        Ok(body) => (StatusCode::FORBIDDEN, body).into_response(),
        Err(error) => error.into_response(),
    })
}

pub async fn login_form(
    State(services): State<Services>,
    https: Option<Extension<Https>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(refusal) = needs_https(https, &headers) {
        return Ok(refusal);
    }
    let csrf = Csrf::from_headers(&headers)?;
    let page = render(&Login {
        frame: Frame::default(),
        csrf: csrf.token.clone(),
        login: String::new(),
        oidc: services.oidc.is_some(),
        failed: false,
        wait: None,
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(services): State<Services>,
    client: Client,
    https: Option<Extension<Https>>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Result<Response, WebError> {
    if let Some(refusal) = needs_https(https, &headers) {
        return Ok(refusal);
    }
    Csrf::verify(&headers, &credentials.csrf)?;
    let verified = services
        .sign_in
        .verify(
            |login| {
                let services = services.clone();
                async move { services.staff_account(&login).await }
            },
            credentials.login.trim(),
            &credentials.password,
            client.key(),
        )
        .await;
    let (status, wait) = match &verified {
        Ok(_) | Err(Refusal::Wrong) => (StatusCode::UNAUTHORIZED, None),
        Err(Refusal::Locked(wait)) => (StatusCode::TOO_MANY_REQUESTS, Some(wait.as_secs().max(1))),
        Err(Refusal::Busy) => return Err(WebError::Unavailable),
    };
    let signed_in = verified.ok().and_then(|account| {
        let session = services.staff.session(&account, &credentials.csrf)?;
        Some((account, session))
    });
    match signed_in {
        Some((account, session)) => {
            tracing::info!("staff signed in");
            services
                .record(&account.offices, (&account.login, "staff.signed_in"), ("", ""))
                .await;
            let mut response = see_other("/schalter");
            if let Some(cookie) = session_cookie(&session, 10 * 3600) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        None => {
            tracing::warn!(locked = wait.is_some(), "failed staff sign-in");
            let csrf = Csrf::from_headers(&headers)?;
            let page = render(&Login {
                frame: Frame::default(),
                csrf: csrf.token.clone(),
                login: credentials.login,
                oidc: services.oidc.is_some(),
                failed: true,
                wait: wait.map(super::messages::wait_for_sign_in),
            })?;
            let mut response = csrf.respond(page);
            *response.status_mut() = status;
            if let Some(seconds) = wait {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Ok(response)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(services): State<Services>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    Csrf::verify(&headers, &form.csrf)?;
    // Whose session it is, for the audit log (none: already ended).
    let account = services.staff_session(&headers).await?.map(|session| session.account);
    // Ended everywhere, not only in this browser: a copied cookie is dead too.
    if let Some(session) = super::cookie(&headers, SESSION_COOKIE)
        .as_deref()
        .and_then(|cookie| services.staff.from_session(cookie))
    {
        services
            .bookings
            .clone()
            .revoke_staff_session(booking::RevokeStaffSessionRequest {
                session_id: session.id.clone(),
                expires_at: Some(timestamp::to_proto(session.expires_at)),
            })
            .await?;
        tracing::info!("staff signed out");
        if let Some(account) = account {
            services
                .record(&account.offices, (&account.login, "staff.signed_out"), ("", ""))
                .await;
        }
    }
    let mut response = see_other("/schalter/anmelden");
    if let Some(cookie) = session_cookie("", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "desk_offices.html")]
struct Offices {
    frame: Frame,
    name: String,
    offices: Vec<availability::Office>,
    csrf: String,
    administers: bool,
}

pub async fn offices(State(services): State<Services>, headers: HeaderMap) -> Result<Response, WebError> {
    let account = signed_in_as(&services, &headers, None, &[Role::Desk, Role::Admin, Role::Audit]).await?;
    // An account without the desk role finds its pages in the administration.
    if !account.has(Role::Desk) {
        return Ok(super::see_other("/verwaltung"));
    }
    let csrf = desk_csrf(&services, &headers)?;
    let offices = services
        .catalogues
        .offices()
        .await?
        .iter()
        .filter(|office| account.may_work_for(&office.id))
        .cloned()
        .collect();
    let page = render(&Offices {
        frame: Frame::default(),
        name: account.display_name().to_owned(),
        offices,
        csrf: csrf.token.clone(),
        administers: account.has(Role::Admin) || account.has(Role::Audit),
    })?;
    Ok(csrf.respond(page))
}

/// The desk's day choice (desk_day_nav.html): the page without `?tag=`,
/// the day shown and its neighbours.
struct DayNav {
    base: String,
    previous_day: Option<String>,
    next_day: String,
    is_today: bool,
}

impl DayNav {
    fn new(base: String, day: NaiveDate, today: NaiveDate, past_allowed: bool) -> Self {
        Self {
            base,
            previous_day: (past_allowed || day > today)
                .then(|| day.pred_opt())
                .flatten()
                .map(|day| day.to_string()),
            next_day: day.succ_opt().unwrap_or(day).to_string(),
            is_today: day == today,
        }
    }
}

struct BookingRow {
    time: String,
    /// Actions that need a confirmation (cancel, no-show) lead to it.
    code: String,
    name: String,
    concerns: String,
    /// With the waiting number once drawn: "eingetroffen · T-003".
    status: String,
    actions: Vec<(&'static str, &'static str)>,
    movable: bool,
}

struct CounterColumn {
    id: String,
    name: String,
    bookings: Vec<BookingRow>,
}

#[derive(Template)]
#[template(path = "desk_day.html")]
struct Day {
    frame: Frame,
    office_id: String,
    office_name: String,
    staff_name: String,
    day: String,
    day_label: String,
    nav: DayNav,
    message: Option<&'static str>,
    csrf: String,
    concerns: Vec<(String, String)>,
    shown_concern: String,
    free_times: Vec<String>,
    counters: Vec<CounterColumn>,
    all_counters: Vec<(String, String)>,
    /// (concern name, people waiting) for the day shown, from the waitlist.
    waiting: Vec<(String, u32)>,
    /// The day's absences: (id, counter, "08:00–12:00", reason).
    absences: Vec<(String, String, String, String)>,
}

#[derive(Deserialize)]
pub struct DayQuery {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    meldung: String,
}

fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "status" => "Der Status wurde gespeichert.",
        "verschoben" => "Der Termin wurde verschoben.",
        "aufgerufen" => "Die nächste Person wurde aufgerufen.",
        "niemand" => "An diesem Platz wartet niemand, der schon eingetroffen ist.",
        "abwesenheit" => "Die Abwesenheit wurde eingetragen.",
        "abwesenheit-aufgehoben" => "Die Abwesenheit wurde aufgehoben; ihre Zeit ist wieder frei.",
        "kein-termin" => "Heute ist für dieses Anliegen kein Termin mehr frei.",
        "name" => "Bitte geben Sie einen Namen an.",
        "nicht-moeglich" => "Diese Änderung ist nicht möglich.",
        "erneut-aufgerufen" => "Die Nummer wurde erneut aufgerufen.",
        _ => return None,
    })
}

pub async fn day(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<DayQuery>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    let csrf = desk_csrf(&services, &headers)?;
    let office = services.office(&office_id).await?;
    let catalogue = &office.catalogue;
    let tz = office.timezone();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = NaiveDate::parse_from_str(&query.tag, "%Y-%m-%d").unwrap_or(today);
    let listed = services.bookings_of_day(&office, day).await?;
    let mut by_counter: Vec<CounterColumn> = Vec::new();
    for entry in listed {
        let start = entry.start.as_ref().and_then(timestamp::from_proto).unwrap_or_default();
        let status = entry.status();
        let actions: Vec<(&'static str, &'static str)> = match status {
            booking::BookingStatus::Booked => vec![("checked_in", "Angekommen"), ("no_show", "Nicht erschienen")],
            booking::BookingStatus::CheckedIn => vec![("completed", "Erledigt")],
            booking::BookingStatus::Called => vec![
                ("recall", "Erneut aufrufen"),
                ("completed", "Erledigt"),
                ("no_show", "Nicht erschienen"),
            ],
            _ => Vec::new(),
        };
        let row = BookingRow {
            time: start.with_timezone(&tz).format("%H:%M").to_string(),
            code: entry.code.clone(),
            name: entry.name.clone(),
            concerns: describe(&office, &entry.concern_ids),
            status: match entry.waiting_number.as_str() {
                "" => status_label(status).to_owned(),
                number => format!("{} · {number}", status_label(status)),
            },
            movable: status == booking::BookingStatus::Booked,
            actions,
        };
        let counter_name = office.counter_name(&entry.counter_id).to_owned();
        match by_counter.iter_mut().find(|column| column.name == counter_name) {
            Some(column) => column.bookings.push(row),
            None => by_counter.push(CounterColumn {
                id: entry.counter_id.clone(),
                name: counter_name,
                bookings: vec![row],
            }),
        }
    }
    by_counter.sort_by(|a, b| a.name.cmp(&b.name));
    let concerns: Vec<(String, String)> = catalogue
        .concerns
        .iter()
        .map(|concern| (concern.id.clone(), concern.name.clone()))
        .collect();
    let shown_concern = if concerns.iter().any(|(id, _)| *id == query.anliegen) {
        query.anliegen.clone()
    } else {
        concerns.first().map(|(id, _)| id.clone()).unwrap_or_default()
    };
    let free_times = foyer_slots(
        &services,
        &office_id,
        std::slice::from_ref(&shown_concern),
        today,
        today,
    )
    .await
    .unwrap_or_default()
    .into_iter()
    .map(|(start, free)| format!("{} Uhr ({free} frei)", start.with_timezone(&tz).format("%H:%M")))
    .collect();
    // The waitlist is a help on the side: the desk works without it.
    let waiting = services
        .bookings
        .clone()
        .list_waitlist(booking::ListWaitlistRequest {
            office_id: office_id.clone(),
            date: day.to_string(),
        })
        .await
        .map(|listed| {
            listed
                .into_inner()
                .waiting
                .into_iter()
                .map(|concern| {
                    let name = office
                        .concern(&concern.concern_id)
                        .map_or_else(|| concern.concern_id.clone(), |known| known.name.clone());
                    (name, concern.entries)
                })
                .collect()
        })
        .unwrap_or_default();
    let all_counters: Vec<(String, String)> = catalogue
        .counters
        .iter()
        .map(|counter| (counter.id.clone(), counter.name.clone()))
        .collect();
    let midnight = |date: NaiveDate| {
        tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
            .earliest()
            .map(|at| timestamp::to_proto(at.with_timezone(&Utc)))
    };
    let absences = services
        .schedule_admin
        .clone()
        .list_absences(availability::ListAbsencesRequest {
            office_id: office_id.clone(),
            from: midnight(day),
            to: midnight(day + TimeDelta::days(1)),
        })
        .await?
        .into_inner()
        .absences
        .into_iter()
        .map(|absence| {
            let local = |at: Option<&prost_types::Timestamp>| {
                at.and_then(timestamp::from_proto)
                    .map(|at| at.with_timezone(&tz).format("%d.%m. %H:%M").to_string())
                    .unwrap_or_default()
            };
            let span = format!("{}–{}", local(absence.start.as_ref()), local(absence.end.as_ref()));
            (
                absence.id,
                office.counter_name(&absence.counter_id).to_owned(),
                span,
                absence.reason,
            )
        })
        .collect();
    let page = render(&Day {
        frame: Frame::default(),
        office_id: office_id.clone(),
        office_name: office.office.name.clone(),
        staff_name: account.display_name().to_owned(),
        day: day.to_string(),
        day_label: german::long_date(day),
        nav: DayNav::new(format!("/schalter/{}", encode(&office_id)), day, today, true),
        message: message(&query.meldung),
        csrf: csrf.token.clone(),
        concerns,
        shown_concern,
        free_times,
        counters: by_counter,
        all_counters,
        waiting,
        absences,
    })?;
    Ok(csrf.respond(page))
}

/// Free starts for staff (foyer channel: from now, staff-only capacity included).
async fn foyer_slots(
    services: &Services,
    office_id: &str,
    concern_ids: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(DateTime<Utc>, u32)>, tonic::Status> {
    let response = services
        .availability
        .clone()
        .list_slots(availability::ListSlotsRequest {
            office_id: office_id.to_owned(),
            concern_ids: concern_ids.to_vec(),
            from_date: from.to_string(),
            to_date: to.to_string(),
            channel: availability::Channel::Foyer.into(),
            explain_unavailable_days: false,
        })
        .await?
        .into_inner();
    Ok(response
        .days
        .iter()
        .flat_map(|day| &day.slots)
        .filter_map(|slot| Some((timestamp::from_proto(slot.start.as_ref()?)?, slot.free)))
        .collect())
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    /// The day the desk shows, to return to it.
    #[serde(default)]
    tag: String,
    /// Set by the confirm step a no-show or a cancellation goes through.
    #[serde(default)]
    bestaetigt: String,
}

#[derive(Template)]
#[template(path = "desk_confirm.html")]
struct ConfirmStatus {
    frame: Frame,
    office_id: String,
    code: String,
    heading: &'static str,
    text: &'static str,
    summary: Vec<(&'static str, String)>,
    status: String,
    confirm: &'static str,
    danger: bool,
    day: String,
    csrf: String,
}

pub async fn change_status(
    State(services): State<Services>,
    Path((office_id, code)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    if form.status == "recall" {
        let recalled = services
            .bookings
            .clone()
            .recall_booking(booking::RecallBookingRequest {
                office_id: office_id.clone(),
                code,
                actor: account.login.clone(),
            })
            .await;
        let outcome = match recalled {
            Ok(_) => "erneut-aufgerufen",
            Err(status) if ErrorCode::of(&status) == ErrorCode::InvalidTransition => "nicht-moeglich",
            Err(status) => return Err(status.into()),
        };
        return Ok(see_other(&format!(
            "/schalter/{}?meldung={outcome}&tag={}#termine",
            encode(&office_id),
            encode(&form.tag)
        )));
    }
    let status = match form.status.as_str() {
        "checked_in" => booking::BookingStatus::CheckedIn,
        "completed" => booking::BookingStatus::Completed,
        "no_show" => booking::BookingStatus::NoShow,
        "cancelled" => booking::BookingStatus::Cancelled,
        _ => return Err(WebError::BadRequest("Unbekannter Status.")),
    };
    // What cannot be undone at the desk is asked once more.
    let final_step = matches!(
        status,
        booking::BookingStatus::NoShow | booking::BookingStatus::Cancelled
    );
    if final_step && form.bestaetigt.is_empty() {
        let csrf = desk_csrf(&services, &headers)?;
        let booking = find(&services, &office_id, &code).await?;
        let office = services.office(&office_id).await?;
        let (start, _) = times(&booking);
        let cancelling = status == booking::BookingStatus::Cancelled;
        let page = render(&ConfirmStatus {
            frame: Frame::default(),
            office_id: office_id.clone(),
            code: booking.code.clone(),
            heading: if cancelling {
                "Termin absagen?"
            } else {
                "Als nicht erschienen vermerken?"
            },
            text: if cancelling {
                "Die Zeit wird sofort wieder frei. Die Person erhält eine Absage per E-Mail, wenn sie eine Adresse angegeben hat."
            } else {
                "Der Termin bleibt in der Statistik als nicht wahrgenommen."
            },
            summary: vec![
                ("Zeit", view::at(start, office.timezone())),
                ("Name", booking.name.clone()),
                ("Anliegen", describe(&office, &booking.concern_ids)),
                ("Platz", office.counter_name(&booking.counter_id).to_owned()),
            ],
            status: form.status.clone(),
            confirm: if cancelling {
                "Ja, Termin absagen"
            } else {
                "Ja, nicht erschienen"
            },
            danger: cancelling,
            day: form.tag.clone(),
            csrf: csrf.token.clone(),
        })?;
        return Ok(csrf.respond(page));
    }
    let changed = services
        .bookings
        .clone()
        .change_booking_status(booking::ChangeBookingStatusRequest {
            office_id: office_id.clone(),
            code: code.clone(),
            status: status.into(),
            actor: account.login.clone(),
            note: String::new(),
        })
        .await;
    let outcome = match changed {
        Ok(changed) => {
            services.await_slots(&changed.into_inner()).await;
            "status"
        }
        Err(status) if ErrorCode::of(&status) == ErrorCode::InvalidTransition => "nicht-moeglich",
        Err(status) => return Err(status.into()),
    };
    Ok(see_other(&format!(
        "/schalter/{}?meldung={outcome}&tag={}#termine",
        encode(&office_id),
        encode(&form.tag)
    )))
}

#[derive(Deserialize)]
pub struct WalkIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    personen: String,
    #[serde(default)]
    name: String,
}

pub async fn walk_in(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<WalkIn>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    if form.name.trim().is_empty() {
        return Ok(see_other(&format!(
            "/schalter/{}?meldung=name#laufkundschaft",
            encode(&office_id)
        )));
    }
    let persons = form.personen.trim().parse::<usize>().unwrap_or(1).clamp(1, 10);
    let ids = vec![form.anliegen.clone(); persons];
    match services
        .book_walk_in(&office_id, &ids, (&form.name, &account.login), false)
        .await
    {
        Ok(booking) => Ok(see_other(&format!(
            "/schalter/{}/ticket/{}",
            encode(&office_id),
            encode(&booking.code)
        ))),
        Err(error) if error.code == ErrorCode::SlotUnavailable => Ok(see_other(&format!(
            "/schalter/{}?meldung=kein-termin#laufkundschaft",
            encode(&office_id)
        ))),
        Err(error) => Err(error.into()),
    }
}

#[derive(Template)]
#[template(path = "desk_ticket.html")]
struct Ticket {
    frame: Frame,
    office_id: String,
    office_name: String,
    address: String,
    /// The booking's day, for the way back to the desk.
    day: String,
    code: String,
    time: String,
    counter: String,
    concerns: String,
    documents: Vec<String>,
}

/// A booking of an office by code, for staff.
pub(super) async fn find(services: &Services, office_id: &str, code: &str) -> Result<booking::Booking, WebError> {
    let now = Utc::now();
    services
        .bookings
        .clone()
        .list_bookings(booking::ListBookingsRequest {
            office_id: office_id.to_owned(),
            from: Some(timestamp::to_proto(now - TimeDelta::days(1))),
            to: Some(timestamp::to_proto(now + TimeDelta::days(400))),
        })
        .await?
        .into_inner()
        .bookings
        .into_iter()
        .find(|booking| booking.code == code)
        .ok_or(WebError::NotFound("Diesen Termin gibt es nicht."))
}

pub async fn ticket(
    State(services): State<Services>,
    Path((office_id, code)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    signed_in(&services, &headers, Some(&office_id)).await?;
    let booking = find(&services, &office_id, &code).await?;
    let office = services.office(&office_id).await?;
    let tz = office.timezone();
    let (start, _) = times(&booking);
    let documents: Vec<String> = office
        .documents(&booking.concern_ids)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let page = render(&Ticket {
        frame: Frame::default(),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        office_id,
        day: start.with_timezone(&tz).date_naive().to_string(),
        code: booking.code.clone(),
        time: view::at(start, tz),
        counter: office.counter_name(&booking.counter_id).to_owned(),
        concerns: describe(&office, &booking.concern_ids),
        documents,
    })?;
    Ok(page.into_response())
}

#[derive(Template)]
#[template(path = "desk_list.html")]
struct Choices {
    frame: Frame,
    office_id: String,
    heading: String,
    text: String,
    empty: &'static str,
    action: String,
    csrf: String,
    items: Vec<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "desk_move.html")]
struct MoveChoices {
    frame: Frame,
    office_id: String,
    code: String,
    booking_summary: String,
    day: String,
    day_label: String,
    nav: DayNav,
    /// (label, value) of every free start that day.
    times: Vec<(String, String)>,
    csrf: String,
}

#[derive(Deserialize)]
pub struct MoveQuery {
    #[serde(default)]
    tag: String,
}

/// Moving at the desk: any free time of a chosen day (today by default),
/// picked and then confirmed with one button.
pub async fn move_choices(
    State(services): State<Services>,
    Path((office_id, code)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<MoveQuery>,
) -> Result<Response, WebError> {
    signed_in(&services, &headers, Some(&office_id)).await?;
    let csrf = desk_csrf(&services, &headers)?;
    let booking = find(&services, &office_id, &code).await?;
    let office = services.office(&office_id).await?;
    let tz = office.timezone();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = NaiveDate::parse_from_str(&query.tag, "%Y-%m-%d")
        .unwrap_or(today)
        .max(today);
    let times = foyer_slots(&services, &office_id, &booking.concern_ids, day, day)
        .await?
        .into_iter()
        .map(|(start, free)| {
            let local = start.with_timezone(&tz);
            (
                format!("{} Uhr ({free} frei)", local.format("%H:%M")),
                local.to_rfc3339(),
            )
        })
        .collect();
    let (start, _) = view::times(&booking);
    let base = format!("/schalter/{}/termine/{}/verschieben", encode(&office_id), encode(&code));
    let page = render(&MoveChoices {
        frame: Frame::default(),
        // A booking cannot move into the past.
        nav: DayNav::new(base, day, today, false),
        office_id: office_id.clone(),
        booking_summary: format!(
            "{}, {}, {}",
            view::at(start, tz),
            booking.name,
            describe(&office, &booking.concern_ids)
        ),
        code,
        day: day.to_string(),
        day_label: german::long_date(day),
        times,
        csrf: csrf.token.clone(),
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    start: String,
}

pub async fn move_booking(
    State(services): State<Services>,
    Path((office_id, code)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<MoveForm>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let start = DateTime::parse_from_rfc3339(form.start.trim())
        .map_err(|_| WebError::BadRequest("Diese Zeit ist ungültig."))?
        .with_timezone(&Utc);
    let moved = services
        .bookings
        .clone()
        .move_booking(booking::MoveBookingRequest {
            office_id: office_id.clone(),
            code,
            start: Some(timestamp::to_proto(start)),
            actor: account.login.clone(),
        })
        .await;
    let outcome = match moved {
        Ok(moved) => {
            services.await_slots(&moved.into_inner()).await;
            "verschoben"
        }
        Err(status)
            if matches!(
                ErrorCode::of(&status).grpc(),
                tonic::Code::FailedPrecondition | tonic::Code::Aborted
            ) =>
        {
            "nicht-moeglich"
        }
        Err(status) => return Err(status.into()),
    };
    Ok(see_other(&format!(
        "/schalter/{}?meldung={outcome}#termine",
        encode(&office_id)
    )))
}

#[derive(Deserialize)]
pub struct AbsenceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    platz: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    von: String,
    #[serde(default)]
    bis: String,
    #[serde(default)]
    grund: String,
}

pub async fn absence(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AbsenceForm>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let csrf = desk_csrf(&services, &headers)?;
    let office = services.office(&office_id).await?;
    let tz = office.timezone();
    let invalid = || WebError::BadRequest("Bitte geben Sie Tag, Beginn und Ende der Abwesenheit an.");
    let date = NaiveDate::parse_from_str(&form.tag, "%Y-%m-%d").map_err(|_| invalid())?;
    let instant = |time: &str| {
        let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| invalid())?;
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|instant| instant.with_timezone(&Utc))
            .ok_or_else(invalid)
    };
    let (start, end) = (instant(&form.von)?, instant(&form.bis)?);
    let added = services
        .schedule_admin
        .clone()
        .add_absence(availability::AddAbsenceRequest {
            office_id: office_id.clone(),
            counter_id: form.platz.clone(),
            start: Some(timestamp::to_proto(start)),
            end: Some(timestamp::to_proto(end)),
            reason: form.grund.clone(),
        })
        .await
        .map_err(|status| match ErrorCode::of(&status) {
            ErrorCode::InvalidArgument => WebError::BadRequest("Das Ende muss nach dem Beginn liegen."),
            _ => status.into(),
        })?
        .into_inner();
    let absence = added.absence.clone().unwrap_or_default();
    // The time, not the reason: a reason may tell of someone's health.
    let span = format!("{} {}, {}–{} Uhr", absence.counter_id, date, form.von, form.bis);
    services
        .record(
            std::slice::from_ref(&office_id),
            (&account.login, "absence.added"),
            (&absence.id, &span),
        )
        .await;
    let items: Vec<(String, Option<String>)> = added
        .affected_bookings
        .iter()
        .map(|affected| {
            let start = affected
                .start
                .as_ref()
                .and_then(timestamp::from_proto)
                .unwrap_or_default();
            (
                format!("{} um {} Uhr", affected.code, start.with_timezone(&tz).format("%H:%M")),
                None,
            )
        })
        .collect();
    let page = render(&Choices {
        frame: Frame::default(),
        office_id: office_id.clone(),
        heading: "Abwesenheit eingetragen".to_owned(),
        text: format!(
            "{} ist am {} von {} bis {} Uhr abwesend. Betroffene Termine bleiben bestehen; bitte verschieben oder sagen Sie sie ab:",
            office.counter_name(&form.platz),
            german::long_date(date),
            form.von,
            form.bis
        ),
        empty: "Keine gebuchten Termine sind betroffen.",
        action: String::new(),
        csrf: csrf.token.clone(),
        items,
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(default)]
    csrf: String,
    /// The day the desk shows, to return to it.
    #[serde(default)]
    tag: String,
}

/// Lifts an absence: its time is offered again.
pub async fn lift_absence(
    State(services): State<Services>,
    Path((office_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<LiftForm>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let lifted = services
        .schedule_admin
        .clone()
        .remove_absence(availability::RemoveAbsenceRequest {
            office_id: office_id.clone(),
            absence_id: id,
        })
        .await
        .map_err(|status| match ErrorCode::of(&status) {
            ErrorCode::AbsenceNotFound => WebError::NotFound("Diese Abwesenheit gibt es nicht (mehr)."),
            _ => status.into(),
        })?
        .into_inner();
    let span = format!(
        "{} {}–{}",
        lifted.counter_id,
        lifted
            .start
            .as_ref()
            .and_then(timestamp::from_proto)
            .map(|at| at.to_rfc3339())
            .unwrap_or_default(),
        lifted
            .end
            .as_ref()
            .and_then(timestamp::from_proto)
            .map(|at| at.to_rfc3339())
            .unwrap_or_default()
    );
    services
        .record(
            std::slice::from_ref(&office_id),
            (&account.login, "absence.removed"),
            (&lifted.id, &span),
        )
        .await;
    let day = NaiveDate::parse_from_str(&form.tag, "%Y-%m-%d")
        .map(|day| format!("tag={day}&"))
        .unwrap_or_default();
    Ok(see_other(&format!(
        "/schalter/{}?{day}meldung=abwesenheit-aufgehoben#abwesenheit",
        encode(&office_id)
    )))
}

#[derive(Deserialize)]
pub struct CallForm {
    #[serde(default)]
    csrf: String,
}

/// "Nächste/n aufrufen" at a counter.
pub async fn call_next(
    State(services): State<Services>,
    Path((office_id, counter_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CallForm>,
) -> Result<Response, WebError> {
    let account = signed_in(&services, &headers, Some(&office_id)).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let called = services
        .bookings
        .clone()
        .call_next(booking::CallNextRequest {
            office_id: office_id.clone(),
            counter_id,
            actor: account.login.clone(),
        })
        .await;
    let outcome = match called {
        Ok(_) => "aufgerufen",
        Err(status) if ErrorCode::of(&status) == ErrorCode::NobodyWaiting => "niemand",
        Err(status) => return Err(status.into()),
    };
    Ok(see_other(&format!(
        "/schalter/{}?meldung={outcome}#termine",
        encode(&office_id)
    )))
}
