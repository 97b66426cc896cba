//! The citizen's path: concern(s) → calendar → form → confirmation.

use std::collections::HashMap;

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::{ErrorCode, contact, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::frame::Frame;
use super::{Csrf, WebError, encode, messages, render, see_other};
use crate::Services;
use crate::challenge::Mode;
use crate::client::Client;
use crate::error::ApiError;
use crate::i18n;
use crate::protection::Class;
use crate::view::{self, ConcernDocuments, concern_documents, describe, when};

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
    explain: bool,
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
            explain_unavailable_days: explain,
        })
        .await?
        .into_inner())
}

/// What the start page says when the chosen concerns cannot make one appointment.
fn selection_problem(status: &tonic::Status) -> Option<&'static str> {
    let code = ErrorCode::of(status);
    messages::is_selection_problem(code).then(|| messages::text(code))
}

/// A concern to tick on the start page.
struct ConcernOption {
    id: String,
    /// The checkbox's id: a featured concern is listed twice (at the top
    /// and in its category), each with an input of its own.
    input_id: String,
    name: String,
    duration: u32,
    fee: String,
    checked: bool,
    search_text: String,
}

struct Group {
    id: String,
    name: String,
    /// Shown opened: a search is on, or it holds a ticked concern.
    open: bool,
    concerns: Vec<ConcernOption>,
}

#[derive(Template)]
#[template(path = "office.html")]
struct Start {
    frame: Frame,
    office: availability::Office,
    featured: Vec<ConcernOption>,
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
    let office = services.page_office(office_id).await?;
    let catalogue = &office.catalogue;
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    let option = |concern: &availability::Concern, category: &str, input_id: String| ConcernOption {
        id: concern.id.clone(),
        input_id,
        name: concern.name.clone(),
        duration: concern.duration_minutes,
        fee: concern.fee.clone(),
        checked: chosen.contains(&concern.id),
        search_text: format!("{} {category}", concern.name).to_lowercase(),
    };
    let mut categories: Vec<&availability::Category> = catalogue.categories.iter().collect();
    // Featured categories first, otherwise as configured.
    categories.sort_by_key(|category| !category.featured);
    let groups: Vec<Group> = categories
        .into_iter()
        .map(|category| {
            let concerns: Vec<ConcernOption> = category
                .concern_ids
                .iter()
                .filter_map(|id| catalogue.concerns.iter().find(|concern| &concern.id == id))
                .map(|concern| {
                    option(
                        concern,
                        &category.name,
                        format!("anliegen-{}-{}", category.id, concern.id),
                    )
                })
                .filter(|concern| words.iter().all(|word| concern.search_text.contains(word)))
                .collect();
            Group {
                id: category.id.clone(),
                name: category.name.clone(),
                open: !words.is_empty() || concerns.iter().any(|concern| concern.checked),
                concerns,
            }
        })
        .filter(|group| !group.concerns.is_empty())
        .collect();
    // During a search the matches are in the opened categories.
    let featured = if words.is_empty() {
        catalogue
            .concerns
            .iter()
            .filter(|concern| concern.featured)
            .map(|concern| {
                let category = catalogue
                    .categories
                    .iter()
                    .find(|category| category.id == concern.category_id)
                    .map_or("", |category| category.name.as_str());
                option(concern, category, format!("anliegen-{}", concern.id))
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = render(&Start {
        frame: Frame::office(&office),
        office: office.office.clone(),
        featured,
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

/// A "Für wie viele Personen?" question of the second step.
struct PersonsQuestion {
    id: String,
    name: String,
    hint: String,
    max: u32,
    count: u32,
}

#[derive(Template)]
#[template(path = "persons.html")]
struct Persons {
    frame: Frame,
    office_id: String,
    office_name: String,
    chosen: Vec<String>,
    questions: Vec<PersonsQuestion>,
    back_link: String,
    error: Option<&'static str>,
}

/// The concerns ticked on the start page (`anliegen`, repeated or
/// comma-separated; once each, in order) with the persons for each: from
/// `personen_<id>`, or the old form's `anzahl_<id>`.
struct Choice {
    chosen: Vec<String>,
    persons: HashMap<String, String>,
}

impl Choice {
    fn of(params: &[(String, String)]) -> Self {
        let mut chosen: Vec<String> = Vec::new();
        let mut persons = HashMap::new();
        for (key, value) in params {
            if key == "anliegen" {
                chosen.extend(parse_ids(value));
            } else if let Some(id) = key.strip_prefix("personen_") {
                persons.insert(id.to_owned(), value.trim().to_owned());
            } else if let Some(id) = key.strip_prefix("anzahl_") {
                let value = value.trim();
                if !value.is_empty() && value != "0" {
                    chosen.extend(parse_ids(id));
                    persons.insert(id.to_owned(), value.to_owned());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        chosen.retain(|id| seen.insert(id.clone()));
        Self { chosen, persons }
    }
}

/// Step two: how many persons come for each chosen concern that may bring
/// more than one; then on to the calendar. A choice whose every concern
/// takes one person goes straight on.
pub async fn choose(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let office = services.page_office(&office_id).await?;
    let choice = Choice::of(&params);
    let ask = params.iter().any(|(key, _)| key == "fragen");
    let mut ids: Vec<String> = Vec::new();
    let mut questions = Vec::new();
    let (mut missing, mut invalid, mut too_many) = (false, false, false);
    for id in &choice.chosen {
        let Some(concern) = office.concern(id) else {
            // The service names the problem below.
            ids.push(id.clone());
            continue;
        };
        let max = concern.max_persons.max(1);
        let count = match choice.persons.get(id) {
            _ if max == 1 => Some(1),
            Some(value) => match value.parse::<u32>() {
                Ok(count) if (1..=max).contains(&count) => Some(count),
                Ok(count) => {
                    invalid = true;
                    too_many |= count > max;
                    None
                }
                Err(_) => {
                    invalid = true;
                    None
                }
            },
            None => {
                missing = true;
                None
            }
        };
        if max > 1 {
            questions.push(PersonsQuestion {
                id: id.clone(),
                name: concern.name.clone(),
                hint: i18n::current().t2("persons.hint", ("max", &max), ("minutes", &concern.duration_minutes)),
                max,
                count: count.unwrap_or(1),
            });
        }
        ids.extend(std::iter::repeat_n(id.clone(), count.unwrap_or(1) as usize));
    }
    if !choice.chosen.is_empty() && (missing || invalid || ask) && !questions.is_empty() {
        let error = match (invalid, too_many) {
            (_, true) => Some(messages::text(ErrorCode::TooManyPersons)),
            (true, false) => Some(i18n::current().t("persons.invalid")),
            _ => None,
        };
        let page = render(&Persons {
            frame: Frame::office(&office),
            office_id: office_id.clone(),
            office_name: office.office.name.clone(),
            back_link: format!(
                "/amt/{}?anliegen={}",
                encode(&office_id),
                encode(&choice.chosen.join(","))
            ),
            chosen: choice.chosen,
            questions,
            error,
        })?;
        let status = if invalid {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        return Ok((status, page).into_response());
    }
    // Checks the choice without computing slots: a range before the window is empty.
    let past = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    match slots(&services, &office_id, &ids, Some((past, past)), false).await {
        Ok(_) => Ok(see_other(&format!(
            "/amt/{}/kalender?anliegen={}",
            encode(&office_id),
            encode(&ids.join(","))
        ))),
        Err(status) => match selection_problem(&status) {
            Some(problem) => start_page(&services, &office_id, "", &choice.chosen, Some(problem)).await,
            None => Err(status.into()),
        },
    }
}

/// Where "back" leads from the calendar: to the persons question where the
/// choice had one, else to the start page, the choice kept either way.
fn choice_link(office: &OfficeCatalogue, ids: &[String]) -> String {
    let mut once: Vec<&str> = Vec::new();
    for id in ids {
        if !once.contains(&id.as_str()) {
            once.push(id);
        }
    }
    let office_id = encode(office.id());
    let chosen = encode(&once.join(","));
    let asked: Vec<&str> = once
        .iter()
        .copied()
        .filter(|id| office.concern(id).is_some_and(|concern| concern.max_persons > 1))
        .collect();
    if asked.is_empty() {
        return format!("/amt/{office_id}?anliegen={chosen}");
    }
    let mut link = format!("/amt/{office_id}/auswahl?fragen=1&anliegen={chosen}");
    for id in asked {
        let count = ids.iter().filter(|other| *other == id).count();
        link.push_str(&format!("&personen_{}={count}", encode(id)));
    }
    link
}

struct DayCell {
    number: u32,
    /// ISO date, for the arrow keys (app.js).
    date: String,
    label: String,
    link: Option<String>,
    free_times: usize,
    selected: bool,
    today: bool,
    /// Before today: a blank cell.
    past: bool,
    /// Why a day without a link has none: the short mark the legend
    /// explains, and the words for screen readers.
    mark: &'static str,
    reason: String,
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
    morning: Vec<TimeView>,
    afternoon: Vec<TimeView>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct Calendar {
    frame: Frame,
    /// The table's head: (full name, short name) from Monday.
    weekdays: Vec<(&'static str, String)>,
    office_name: String,
    address: String,
    concerns: String,
    documents: Vec<ConcernDocuments>,
    has_fees: bool,
    duration: u32,
    /// The earliest free time: a shortcut past the calendar.
    next_free: Option<TimeView>,
    next_free_label: String,
    back_link: String,
    moving: Option<String>,
    months: Vec<MonthView>,
    selected: Option<SelectedDay>,
    /// Where the open page hears of changed free times.
    live_events: Option<String>,
    /// The fingerprint of the free times shown (`live::version`).
    version: String,
    /// The waitlist's form for these concerns, where the office keeps one.
    waitlist_link: Option<String>,
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    #[serde(default)]
    pub anliegen: String,
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
    let office = services.page_office(&office_id).await?;
    let response = match slots(&services, &office_id, &ids, None, true).await {
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
    let months = month_views(
        today,
        last,
        &by_date,
        &response.unavailable_days,
        selected_date.as_deref(),
        &base,
    );

    let time_view = |slot: &availability::Slot| -> Option<TimeView> {
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
    };
    let first = response.days.first().and_then(|day| Some((day, day.slots.first()?)));
    let next_free_label = first
        .and_then(|(_, slot)| Some(view::at(timestamp::from_proto(slot.start.as_ref()?)?, tz)))
        .unwrap_or_default();
    let next_free = first.and_then(|(_, slot)| time_view(slot));
    let selected = selected_date
        .and_then(|date| by_date.get(&date).copied())
        .map(|day| SelectedDay {
            label: NaiveDate::parse_from_str(&day.date, "%Y-%m-%d")
                .map(i18n::long_date)
                .unwrap_or_default(),
            morning: day
                .slots
                .iter()
                .filter(|slot| local_hour(slot, tz) < 12)
                .filter_map(time_view)
                .collect(),
            afternoon: day
                .slots
                .iter()
                .filter(|slot| local_hour(slot, tz) >= 12)
                .filter_map(time_view)
                .collect(),
        });
    let back_link = match &moving {
        Some(code) => format!("/termin/{}?token={}", encode(code), encode(&query.token)),
        None => choice_link(&office, &ids),
    };
    let page = render(&Calendar {
        frame: Frame::office(&office),
        weekdays: i18n::weekdays(),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        concerns: describe(&office, &ids),
        has_fees: office.fees(&ids).next().is_some(),
        documents: concern_documents(&office, &ids),
        duration: response.duration_minutes,
        next_free,
        next_free_label,
        back_link,
        moving: moving.clone(),
        months,
        selected,
        live_events: Some(super::live::events_url(&office_id, &ids)),
        version: super::live::version(&response),
        // Not while moving a booking: that one has its time already.
        waitlist_link: (office.office.waitlist && moving.is_none()).then(|| {
            format!(
                "/amt/{}/terminwecker?anliegen={}",
                encode(&office_id),
                encode(&ids.join(","))
            )
        }),
    })?;
    Ok(page.into_response())
}

fn local_hour(slot: &availability::Slot, tz: chrono_tz::Tz) -> u32 {
    slot.start
        .as_ref()
        .and_then(timestamp::from_proto)
        .map_or(0, |start| start.with_timezone(&tz).hour())
}

/// The months from today's to the last day of the window, each day with its
/// link or with why it has none.
fn month_views(
    today: NaiveDate,
    last: NaiveDate,
    free: &HashMap<String, &availability::Day>,
    unavailable: &[availability::UnavailableDay],
    selected: Option<&str>,
    base: &str,
) -> Vec<MonthView> {
    let unavailable: HashMap<&str, &availability::UnavailableDay> =
        unavailable.iter().map(|day| (day.date.as_str(), day)).collect();
    let mut months = Vec::new();
    let mut first_of_month = today.with_day(1).unwrap_or(today);
    while first_of_month <= last {
        let mut weeks: Vec<[Option<DayCell>; 7]> = Vec::new();
        let mut week: [Option<DayCell>; 7] = Default::default();
        let mut day = first_of_month;
        while day.month() == first_of_month.month() {
            let key = day.to_string();
            let slots = free.get(&key).map_or(0, |day| day.slots.len());
            let column = day.weekday().num_days_from_monday() as usize;
            let lang = i18n::current();
            let (mark, reason) = if slots > 0 || day < today {
                ("", String::new())
            } else if day > last {
                ("–", lang.t("calendar.not_yet").to_owned())
            } else {
                match unavailable.get(key.as_str()).map(|why| (why.reason(), why)) {
                    Some((availability::DayReason::Holiday, why)) => (
                        lang.t("calendar.mark_holiday"),
                        lang.t1("calendar.holiday_named", "name", &why.name),
                    ),
                    Some((availability::DayReason::Closed, _)) => {
                        (lang.t("calendar.mark_closed"), lang.t("calendar.closed").to_owned())
                    }
                    Some((availability::DayReason::FullyBooked, _)) => {
                        (lang.t("calendar.mark_full"), lang.t("calendar.full").to_owned())
                    }
                    Some((availability::DayReason::NotOnline, _)) => (
                        lang.t("calendar.mark_not_online"),
                        lang.t("calendar.not_online").to_owned(),
                    ),
                    Some((availability::DayReason::Unspecified, _)) | None => {
                        ("–", lang.t("calendar.no_times").to_owned())
                    }
                }
            };
            week[column] = Some(DayCell {
                number: day.day(),
                label: i18n::long_date(day),
                link: (slots > 0).then(|| format!("{base}&tag={key}#zeiten")),
                free_times: slots,
                selected: selected == Some(key.as_str()),
                today: day == today,
                past: day < today,
                mark,
                reason,
                date: key,
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
        // Rows of days all before today say nothing.
        weeks.retain(|week| week.iter().flatten().any(|cell| !cell.past));
        months.push(MonthView {
            key: first_of_month.format("%Y-%m").to_string(),
            label: i18n::month(first_of_month),
            weeks,
        });
        first_of_month = first_of_month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(last + TimeDelta::days(1));
    }
    months
}

pub(super) struct FieldError {
    pub(super) field: &'static str,
    pub(super) message: String,
}

/// Every mistake in a citizen's contact data at once, by the rules the
/// booking service applies: name, email, phone (where asked), consent.
pub(super) fn contact_errors(name: &str, email: &str, phone: Option<&str>, consent: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if name.trim().is_empty() {
        errors.push(FieldError {
            field: "name",
            message: i18n::current().t("form.name_missing").to_owned(),
        });
    } else if let Err(code) = contact::name(name) {
        errors.push(FieldError {
            field: "name",
            message: messages::text(code).to_owned(),
        });
    }
    let phone = phone.map(|phone| ("phone", contact::phone(phone)));
    for (field, check) in [("email", contact::email(email))].into_iter().chain(phone) {
        if let Err(code) = check {
            errors.push(FieldError {
                field,
                message: messages::text(code).to_owned(),
            });
        }
    }
    if !consent {
        errors.push(FieldError {
            field: "consent",
            message: i18n::current().t("form.consent_missing").to_owned(),
        });
    }
    errors
}

struct Alternative {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct BookingForm {
    frame: Frame,
    office_id: String,
    office_name: String,
    address: String,
    concerns: String,
    documents: Vec<ConcernDocuments>,
    concern_ids: String,
    duration: u32,
    start: String,
    when: String,
    back_link: String,
    csrf: String,
    name: String,
    email: String,
    phone: String,
    consent: bool,
    errors: Vec<FieldError>,
    taken: bool,
    alternatives: Vec<Alternative>,
    /// The proof of work asked of this client (JSON for app.js), or empty.
    challenge: String,
    /// Catalogue keys of what the shared fields say (`form_contact.html`,
    /// `form_consent.html`).
    email_hint: &'static str,
    consent_after: &'static str,
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
        .map_err(|_| WebError::BadRequest(i18n::current().t("form.invalid_time")))
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
    let office = services.page_office(office_id).await?;
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
    let day = start.with_timezone(&tz).date_naive();
    let page = render(&BookingForm {
        frame: Frame::office(&office),
        office_id: office_id.to_owned(),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        concerns: describe(&office, &ids),
        documents: concern_documents(&office, &ids),
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
        name: submitted.name,
        email: submitted.email,
        phone: submitted.phone,
        consent: submitted.consent.is_some(),
        errors,
        taken: alternatives.is_some(),
        alternatives: alternatives.unwrap_or_default(),
        challenge,
        email_hint: "form.email_hint",
        consent_after: "form.consent_after",
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
    let Ok(response) = slots(services, office.id(), ids, Some((day, day + TimeDelta::days(7))), false).await else {
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
    let errors = contact_errors(
        &submitted.name,
        &submitted.email,
        Some(&submitted.phone),
        submitted.consent.is_some(),
    );
    if !errors.is_empty() {
        return form_page(&services, &office_id, client, submitted, csrf, errors, None).await;
    }
    let office = services.page_office(&office_id).await?;
    if let Err(error) = services
        .challenges
        .admit(Mode::of(&office), client, Some(&submitted.altcha))
    {
        if error.code != ErrorCode::ChallengeRequired {
            return Err(error.into());
        }
        let errors = vec![FieldError {
            field: "altcha",
            message: messages::text(ErrorCode::ChallengeRequired).to_owned(),
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
            // One browser, one time, one booking: a double click, a reload
            // or a form sent again after going back books once.
            idempotency_key: form_key(&submitted.csrf, &office_id, &ids, start),
            channel: availability::Channel::Online.into(),
            actor: String::new(),
            client_address: client.key().to_string(),
            language: i18n::current().code().to_owned(),
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
                    message: messages::text(code).to_owned(),
                }];
                return form_page(&services, &office_id, client, submitted, csrf, errors, None).await;
            }
            match code {
                ErrorCode::IdempotencyKeyReused => {
                    already_booked(
                        &services,
                        &office_id,
                        &form_key(&submitted.csrf, &office_id, &ids, start),
                    )
                    .await
                }
                ErrorCode::SlotUnavailable | ErrorCode::SlotTaken => {
                    let office = services.page_office(&office_id).await?;
                    let alternatives = nearest(&services, &office, &ids, start).await;
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

/// The idempotency key of a booking from the website: derived from the
/// browser's own secret (its CSRF token, checked before) and what it books.
/// The same browser asking for the same time again (a double click, a
/// reload, or back to the form to change the address) gets the same key, so
/// it books once and is shown what it booked; nobody else can derive it.
fn form_key(csrf: &str, office_id: &str, ids: &[String], start: DateTime<Utc>) -> String {
    let digest = Sha256::new()
        .chain_update(b"amtstermin web form\0")
        .chain_update(csrf.as_bytes())
        .chain_update(b"\0")
        .chain_update(office_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(ids.join(",").as_bytes())
        .chain_update(b"\0")
        .chain_update(start.to_rfc3339().as_bytes())
        .finalize();
    amtstermin_platform::hex(&digest[..16])
}

#[derive(Template)]
#[template(path = "already_booked.html")]
struct AlreadyBooked {
    frame: Frame,
    code: String,
    when: String,
    concerns: String,
    email: String,
    manage_link: String,
    office_id: String,
}

/// A form sent again with other details (the citizen went back and changed
/// it): the booking it already made stands; say which, and where it went.
async fn already_booked(services: &Services, office_id: &str, key: &str) -> Result<Response, WebError> {
    let made = services
        .bookings
        .clone()
        .get_booking_by_idempotency_key(booking::GetBookingByIdempotencyKeyRequest {
            office_id: office_id.to_owned(),
            idempotency_key: key.to_owned(),
        })
        .await?
        .into_inner();
    let booking = made.booking.ok_or(WebError::Internal)?;
    let office = services.page_office(office_id).await?;
    let (start, end) = view::times(&booking);
    let page = render(&AlreadyBooked {
        frame: Frame::office(&office),
        when: when(start, end, office.timezone()),
        concerns: describe(&office, &booking.concern_ids),
        email: booking.email.clone(),
        manage_link: format!("/termin/{}?token={}", encode(&booking.code), encode(&made.token)),
        office_id: office_id.to_owned(),
        code: booking.code,
    })?;
    Ok((StatusCode::CONFLICT, page).into_response())
}
