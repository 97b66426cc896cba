//! The citizen's path: concern(s) → calendar → form → confirmation.

use std::collections::HashMap;

use amtstermin_catalogue::{OfficeCatalogue, german};
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;

use super::{Csrf, WebError, encode, messages, random_hex, render, see_other};
use crate::Services;
use crate::challenge::Mode;
use crate::client::Client;
use crate::error::ApiError;
use crate::protection::Class;
use crate::view::{self, describe, when};

/// Concern ids as the pages carry them: "personalausweis,personalausweis,meldebescheinigung".
pub fn parse_ids(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .filter(|id| {
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

/// The open slots of an appointment, online, over the whole window or the given days.
pub async fn slots(
    services: &Services,
    office: &str,
    ids: &[String],
    days: Option<(NaiveDate, NaiveDate)>,
) -> Result<availability::ListSlotsResponse, tonic::Status> {
    let (from_date, to_date) = days.map_or_else(Default::default, |(from, to)| (from.to_string(), to.to_string()));
    Ok(services
        .availability
        .clone()
        .list_slots(availability::ListSlotsRequest {
            office_id: office.to_owned(),
            concern_ids: ids.to_vec(),
            from_date,
            to_date,
            channel: availability::Channel::Online.into(),
        })
        .await?
        .into_inner())
}

/// What the start page says when the chosen concerns cannot make one appointment.
fn selection_problem(status: &tonic::Status) -> Option<&'static str> {
    let code = ErrorCode::of(status);
    messages::is_selection_problem(code).then(|| messages::german(code))
}

struct Tile {
    id: String,
    name: String,
}

struct ConcernView {
    id: String,
    name: String,
    duration: u32,
    max: u32,
    count: usize,
    search_text: String,
}

struct Group {
    id: String,
    name: String,
    concerns: Vec<ConcernView>,
}

#[derive(Template)]
#[template(path = "office.html")]
struct Start {
    office: availability::Office,
    tiles: Vec<Tile>,
    groups: Vec<Group>,
    search: String,
    error: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    suche: String,
    #[serde(default)]
    anliegen: String,
}

async fn start_page(
    services: &Services,
    office_id: &str,
    search: &str,
    chosen: &[String],
    error: Option<&'static str>,
) -> Result<Response, WebError> {
    let office = services.office(office_id).await?;
    let catalogue = &office.catalogue;
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    let groups = catalogue
        .categories
        .iter()
        .map(|category| Group {
            id: category.id.clone(),
            name: category.name.clone(),
            concerns: category
                .concern_ids
                .iter()
                .filter_map(|id| catalogue.concerns.iter().find(|concern| &concern.id == id))
                .map(|concern| ConcernView {
                    id: concern.id.clone(),
                    name: concern.name.clone(),
                    duration: concern.duration_minutes,
                    max: concern.max_persons.max(1),
                    count: chosen.iter().filter(|id| **id == concern.id).count(),
                    search_text: format!("{} {}", concern.name, category.name).to_lowercase(),
                })
                .filter(|concern| words.iter().all(|word| concern.search_text.contains(word)))
                .collect(),
        })
        .filter(|group: &Group| !group.concerns.is_empty())
        .collect();
    let tiles = catalogue
        .categories
        .iter()
        .filter(|category| category.featured)
        .map(|category| Tile {
            id: category.id.clone(),
            name: category.name.clone(),
        })
        .collect();
    let page = render(&Start {
        office: office.office.clone(),
        tiles,
        groups,
        search: search.to_owned(),
        error,
    })?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

pub async fn start(
    State(services): State<Services>,
    Path(office): Path<String>,
    query: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    start_page(&services, &office, &query.suche, &parse_ids(&query.anliegen), None).await
}

/// The start page's form: counts per concern, checked, then on to the calendar.
pub async fn choose(
    State(services): State<Services>,
    Path(office): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ids: Vec<String> = Vec::new();
    let mut invalid = false;
    let mut counts: Vec<(&String, &String)> = params.iter().filter(|(key, _)| key.starts_with("anzahl_")).collect();
    counts.sort();
    for (key, value) in counts {
        let id = &key["anzahl_".len()..];
        match value.trim().parse::<usize>() {
            Ok(count) if count <= 10 => ids.extend(std::iter::repeat_n(id.to_owned(), count)),
            _ if value.trim().is_empty() => {}
            _ => invalid = true,
        }
    }
    let ids: Vec<String> = parse_ids(&ids.join(","));
    if invalid {
        let error = Some("Bitte geben Sie die Anzahl der Personen als Zahl von 0 bis 10 an.");
        return start_page(&services, &office, "", &ids, error).await;
    }
    // Checks the choice without computing slots: a range before the window is empty.
    let past = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    match slots(&services, &office, &ids, Some((past, past))).await {
        Ok(_) => Ok(see_other(&format!(
            "/amt/{}/kalender?anliegen={}",
            encode(&office),
            encode(&ids.join(","))
        ))),
        Err(status) => match selection_problem(&status) {
            Some(problem) => start_page(&services, &office, "", &ids, Some(problem)).await,
            None => Err(status.into()),
        },
    }
}

struct DayCell {
    number: u32,
    label: String,
    link: Option<String>,
    free_times: usize,
    selected: bool,
}

struct MonthView {
    key: String,
    label: String,
    weeks: Vec<[Option<DayCell>; 7]>,
}

struct TimeView {
    start: String,
    end: String,
    link: String,
}

struct SelectedDay {
    label: String,
    times: Vec<TimeView>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct Calendar {
    office_name: String,
    address: String,
    concerns: String,
    duration: u32,
    back_link: String,
    moving: Option<String>,
    months: Vec<MonthView>,
    selected: Option<SelectedDay>,
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    tag: String,
    /// Move mode: the booking being moved and its token.
    #[serde(default)]
    termin: String,
    #[serde(default)]
    token: String,
}

pub async fn calendar(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    Query(query): Query<CalendarQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    let ids = parse_ids(&query.anliegen);
    let office = services.office(&office_id).await?;
    let response = match slots(&services, &office_id, &ids, None).await {
        Ok(response) => response,
        Err(status) => {
            return match selection_problem(&status) {
                Some(problem) => start_page(&services, &office_id, "", &ids, Some(problem)).await,
                None => Err(status.into()),
            };
        }
    };
    let tz = office.timezone();
    let moving = (!query.termin.is_empty()).then(|| query.termin.clone());
    let base = format!(
        "/amt/{}/kalender?anliegen={}",
        encode(&office_id),
        encode(&ids.join(","))
    );
    let base = match &moving {
        Some(code) => format!("{base}&termin={}&token={}", encode(code), encode(&query.token)),
        None => base,
    };
    let by_date: HashMap<String, &availability::Day> =
        response.days.iter().map(|day| (day.date.clone(), day)).collect();
    let selected_date = by_date.get(query.tag.as_str()).map(|day| day.date.clone());

    let today = Utc::now().with_timezone(&tz).date_naive();
    let last = today + TimeDelta::days(i64::from(office.office.booking_window_days));
    let mut months = Vec::new();
    let mut first_of_month = today.with_day(1).unwrap_or(today);
    while first_of_month <= last {
        let mut weeks: Vec<[Option<DayCell>; 7]> = Vec::new();
        let mut week: [Option<DayCell>; 7] = Default::default();
        let mut day = first_of_month;
        while day.month() == first_of_month.month() {
            let key = day.to_string();
            let slots = by_date.get(&key).map_or(0, |day| day.slots.len());
            let column = day.weekday().num_days_from_monday() as usize;
            week[column] = Some(DayCell {
                number: day.day(),
                label: german::long_date(day),
                link: (slots > 0).then(|| format!("{base}&tag={key}#zeiten")),
                free_times: slots,
                selected: selected_date.as_deref() == Some(key.as_str()),
            });
            if column == 6 {
                weeks.push(std::mem::take(&mut week));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        if week.iter().any(Option::is_some) {
            weeks.push(week);
        }
        if by_date
            .keys()
            .any(|date| date.starts_with(&first_of_month.format("%Y-%m").to_string()))
        {
            months.push(MonthView {
                key: first_of_month.format("%Y-%m").to_string(),
                label: german::month(first_of_month),
                weeks,
            });
        }
        first_of_month = first_of_month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(last + TimeDelta::days(1));
    }

    let selected = selected_date
        .and_then(|date| by_date.get(&date).copied())
        .map(|day| SelectedDay {
            label: NaiveDate::parse_from_str(&day.date, "%Y-%m-%d")
                .map(german::long_date)
                .unwrap_or_default(),
            times: day
                .slots
                .iter()
                .filter_map(|slot| {
                    let start = timestamp::from_proto(slot.start.as_ref()?)?;
                    let end = timestamp::from_proto(slot.end.as_ref()?)?;
                    let value = encode(&start.with_timezone(&tz).to_rfc3339());
                    let link = match &moving {
                        Some(code) => format!(
                            "/termin/{}/verschieben?token={}&start={value}",
                            encode(code),
                            encode(&query.token)
                        ),
                        None => format!(
                            "/amt/{}/buchen?anliegen={}&start={value}",
                            encode(&office_id),
                            encode(&ids.join(","))
                        ),
                    };
                    Some(TimeView {
                        start: start.with_timezone(&tz).format("%H:%M").to_string(),
                        end: end.with_timezone(&tz).format("%H:%M").to_string(),
                        link,
                    })
                })
                .collect(),
        });
    let back_link = match &moving {
        Some(code) => format!("/termin/{}?token={}", encode(code), encode(&query.token)),
        None => format!("/amt/{}?anliegen={}", encode(&office_id), encode(&ids.join(","))),
    };
    let page = render(&Calendar {
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        concerns: describe(&office, &ids),
        duration: response.duration_minutes,
        back_link,
        moving,
        months,
        selected,
    })?;
    Ok(page.into_response())
}

struct FieldError {
    field: &'static str,
    message: String,
}

struct Alternative {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct BookingForm {
    office_id: String,
    office_name: String,
    address: String,
    concerns: String,
    concern_ids: String,
    duration: u32,
    start: String,
    when: String,
    back_link: String,
    csrf: String,
    form_id: String,
    name: String,
    email: String,
    phone: String,
    consent: bool,
    errors: Vec<FieldError>,
    taken: bool,
    alternatives: Vec<Alternative>,
    /// The proof of work asked of this client (JSON for app.js), or empty.
    challenge: String,
}

impl BookingForm {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|error| error.field == field)
            .map(|error| error.message.as_str())
    }
}

#[derive(Deserialize)]
pub struct FormQuery {
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    start: String,
}

#[derive(Deserialize, Default)]
pub struct Submitted {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    formular: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    consent: Option<String>,
    /// The solved proof of work, where one is asked (filled in by app.js).
    #[serde(default)]
    altcha: String,
}

fn parse_start(text: &str) -> Result<DateTime<Utc>, WebError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|start| start.with_timezone(&Utc))
        .map_err(|_| WebError::BadRequest("Diese Terminzeit ist ungültig. Bitte wählen Sie sie im Kalender neu."))
}

async fn form_page(
    services: &Services,
    office_id: &str,
    client: Client,
    submitted: Submitted,
    csrf: Csrf,
    errors: Vec<FieldError>,
    alternatives: Option<Vec<Alternative>>,
) -> Result<Response, WebError> {
    let ids = parse_ids(&submitted.anliegen);
    let start = parse_start(&submitted.start)?;
    let office = services.office(office_id).await?;
    let tz = office.timezone();
    let duration: u32 = office.concerns(&ids).map(|concern| concern.duration_minutes).sum();
    let challenge = match services.challenges.demanded(Mode::of(&office), client) {
        Some(work) => serde_json::to_string(&services.challenges.issue(client, work)?).unwrap_or_default(),
        None => String::new(),
    };
    let status = if errors.iter().any(|error| error.field == "altcha") {
        StatusCode::PRECONDITION_REQUIRED
    } else if errors.is_empty() && alternatives.is_none() {
        StatusCode::OK
    } else if alternatives.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    };
    let form_id = if submitted.formular.len() == 32 {
        submitted.formular.clone()
    } else {
        random_hex(16)?
    };
    let day = start.with_timezone(&tz).date_naive();
    let page = render(&BookingForm {
        office_id: office_id.to_owned(),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        concerns: describe(&office, &ids),
        concern_ids: ids.join(","),
        duration,
        start: start.with_timezone(&tz).to_rfc3339(),
        when: when(start, start + TimeDelta::minutes(i64::from(duration)), tz),
        back_link: format!(
            "/amt/{}/kalender?anliegen={}&tag={day}#zeiten",
            encode(office_id),
            encode(&ids.join(","))
        ),
        csrf: csrf.token.clone(),
        form_id,
        name: submitted.name,
        email: submitted.email,
        phone: submitted.phone,
        consent: submitted.consent.is_some(),
        errors,
        taken: alternatives.is_some(),
        alternatives: alternatives.unwrap_or_default(),
        challenge,
    })?;
    let mut response = csrf.respond(page);
    *response.status_mut() = status;
    Ok(response)
}

pub async fn form(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<FormQuery>,
) -> Result<Response, WebError> {
    let csrf = Csrf::from_headers(&headers)?;
    let submitted = Submitted {
        anliegen: query.anliegen,
        start: query.start,
        ..Submitted::default()
    };
    form_page(&services, &office_id, client, submitted, csrf, Vec::new(), None).await
}

/// The five free times nearest to the one just taken.
async fn nearest(
    services: &Services,
    office: &OfficeCatalogue,
    ids: &[String],
    wanted: DateTime<Utc>,
) -> Vec<Alternative> {
    let tz = office.timezone();
    let day = wanted.with_timezone(&tz).date_naive();
    let Ok(response) = slots(services, office.id(), ids, Some((day, day + TimeDelta::days(7)))).await else {
        return Vec::new();
    };
    let mut starts: Vec<DateTime<Utc>> = response
        .days
        .iter()
        .flat_map(|day| &day.slots)
        .filter_map(|slot| slot.start.as_ref().and_then(timestamp::from_proto))
        .collect();
    starts.sort_by_key(|start| (*start - wanted).num_seconds().abs());
    starts.truncate(5);
    starts.sort();
    starts
        .into_iter()
        .map(|start| Alternative {
            value: start.with_timezone(&tz).to_rfc3339(),
            label: view::at(start, tz),
        })
        .collect()
}

pub async fn submit(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(submitted): Form<Submitted>,
) -> Result<Response, WebError> {
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    Csrf::verify(&headers, &submitted.csrf)?;
    let csrf = Csrf::from_headers(&headers)?;
    let start = parse_start(&submitted.start)?;
    let mut errors = Vec::new();
    if submitted.name.trim().is_empty() {
        errors.push(FieldError {
            field: "name",
            message: "Bitte geben Sie Ihren Vor- und Nachnamen an.".to_owned(),
        });
    }
    let email = submitted.email.trim();
    if email.is_empty() || !email.contains('@') {
        errors.push(FieldError {
            field: "email",
            message: "Bitte geben Sie eine E-Mail-Adresse wie name@beispiel.de an.".to_owned(),
        });
    }
    if submitted.consent.is_none() {
        errors.push(FieldError {
            field: "consent",
            message: "Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben.".to_owned(),
        });
    }
    if !errors.is_empty() {
        return form_page(&services, &office_id, client, submitted, csrf, errors, None).await;
    }
    let office = services.office(&office_id).await?;
    if let Err(error) = services
        .challenges
        .admit(Mode::of(&office), client, Some(&submitted.altcha))
    {
        if error.code != ErrorCode::ChallengeRequired {
            return Err(error.into());
        }
        let errors = vec![FieldError {
            field: "altcha",
            message: messages::german(ErrorCode::ChallengeRequired).to_owned(),
        }];
        return form_page(&services, &office_id, client, submitted, csrf, errors, None).await;
    }
    services.limit(Class::Bookings, Some(&office_id), client).await?;
    let ids = parse_ids(&submitted.anliegen);
    let created = services
        .bookings
        .clone()
        .create_booking(booking::CreateBookingRequest {
            office_id: office_id.clone(),
            concern_ids: ids.clone(),
            start: Some(timestamp::to_proto(start)),
            name: submitted.name.clone(),
            email: submitted.email.clone(),
            phone: submitted.phone.clone(),
            // One form, one booking: a double click or a reload books once.
            idempotency_key: submitted.formular.clone(),
            channel: availability::Channel::Online.into(),
            actor: String::new(),
            client_address: client.key().to_string(),
        })
        .await;
    match created {
        Ok(created) => {
            let created = created.into_inner();
            let Some(booking) = created.booking else {
                return Err(WebError::Internal);
            };
            services.await_slots(&booking).await;
            Ok(see_other(&format!(
                "/termin/{}?token={}&neu=1",
                encode(&booking.code),
                encode(&created.token)
            )))
        }
        Err(status) => {
            let code = ErrorCode::of(&status);
            let field = match code {
                ErrorCode::InvalidName => Some("name"),
                ErrorCode::InvalidEmail | ErrorCode::LimitReached => Some("email"),
                ErrorCode::InvalidPhone => Some("phone"),
                _ => None,
            };
            if let Some(field) = field {
                let errors = vec![FieldError {
                    field,
                    message: messages::german(code).to_owned(),
                }];
                return form_page(&services, &office_id, client, submitted, csrf, errors, None).await;
            }
            match code {
                ErrorCode::SlotUnavailable | ErrorCode::SlotTaken => {
                    let office = services.office(&office_id).await?;
                    let alternatives = nearest(&services, &office, &ids, start).await;
                    // The same form id would replay nothing; a new choice is a new request.
                    let submitted = Submitted {
                        formular: random_hex(16)?,
                        ..submitted
                    };
                    form_page(
                        &services,
                        &office_id,
                        client,
                        submitted,
                        csrf,
                        Vec::new(),
                        Some(alternatives),
                    )
                    .await
                }
                _ => Err(ApiError::from(status).into()),
            }
        }
    }
}
