//! The waitlist's pages behind the links of its mails: confirming the
//! address (a button, so a mail scanner following links confirms nothing),
//! the entry's own page, from which it can be withdrawn, and an offer's
//! pages, which accept or decline it (buttons again); and the form that
//! joins it, linked under the calendar.

use amtstermin_platform::ErrorCode;
use amtstermin_proto::booking::v1 as booking;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::citizen::{FieldError, contact_errors, parse_ids};
use super::frame::Frame;
use super::manage::{Confirm, Posted, TokenQuery};
use super::{Csrf, WebError, encode, messages, render, see_other};
use crate::Services;
use crate::challenge::Mode;
use crate::client::Client;
use crate::i18n;
use crate::protection::Class;
use crate::view::describe;

fn not_found_or(status: tonic::Status) -> WebError {
    match ErrorCode::of(&status).http_status() {
        404 => WebError::NotFound(messages::text(ErrorCode::WaitlistEntryNotFound)),
        _ => status.into(),
    }
}

/// What the pages say about an entry.
async fn summary(services: &Services, entry: &booking::WaitlistEntry) -> Result<Vec<(&'static str, String)>, WebError> {
    let lang = i18n::current();
    let office = services.page_office(&entry.office_id).await?;
    let day = |text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_or_else(|_| text.to_owned(), i18n::long_date)
    };
    let times = match entry.time_of_day.as_str() {
        "morning" => lang.t("confirm.waitlist_morning"),
        "afternoon" => lang.t("confirm.waitlist_afternoon"),
        _ => lang.t("confirm.waitlist_any"),
    };
    let status = match entry.status() {
        booking::WaitlistStatus::Active => lang.t("confirm.waitlist_active_status"),
        booking::WaitlistStatus::Fulfilled => lang.t("confirm.waitlist_fulfilled"),
        booking::WaitlistStatus::Withdrawn => lang.t("confirm.waitlist_withdrawn_status"),
        booking::WaitlistStatus::Ended => lang.t("confirm.waitlist_ended"),
        _ => lang.t("confirm.waitlist_unconfirmed"),
    };
    Ok(vec![
        (
            lang.t("booking.place"),
            format!("{}, {}", office.office.name, office.office.address),
        ),
        (
            lang.t("confirm.waitlist_concerns"),
            describe(&office, &entry.concern_ids),
        ),
        (
            lang.t("confirm.waitlist_days"),
            format!("{} – {}, {times}", day(&entry.from), day(&entry.to)),
        ),
        (lang.t("confirm.waitlist_status"), status.to_owned()),
    ])
}

fn entry_url(id: &str, token: &str) -> String {
    format!("/warteliste/{}?token={}", encode(id), encode(token))
}

/// The confirmation link of the mail: a button to confirm.
pub async fn confirm_form(
    State(services): State<Services>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let lang = i18n::current();
    let page = render(&Confirm {
        frame: services.site_frame().await,
        heading: lang.t("confirm.waitlist_heading"),
        problem: None,
        summary: Vec::new(),
        action: format!("/warteliste/{}/bestaetigen", encode(&id)),
        csrf: csrf.token.clone(),
        token: query.token,
        start: None,
        confirm: lang.t("confirm.waitlist_button"),
        danger: false,
        back_link: "/".to_owned(),
        back_label: lang.t("site.home"),
        note: None,
    })?;
    Ok(csrf.respond(page))
}

pub async fn confirm(
    State(services): State<Services>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let entry = services
        .bookings
        .clone()
        .confirm_waitlist_entry(booking::WaitlistEntryRequest {
            id,
            token: posted.token,
        })
        .await
        .map_err(not_found_or)?
        .into_inner();
    let office = services.page_office(&entry.office_id).await?;
    let mut page = Confirm::done(
        Frame::office(&office),
        i18n::current().t("confirm.waitlist_active"),
        summary(&services, &entry).await?,
    );
    page.note = Some(i18n::current().t("confirm.waitlist_note"));
    Ok(render(&page)?.into_response())
}

/// The entry's page (the manage link of its mail): what it waits for, and
/// a button to withdraw it.
#[derive(serde::Deserialize)]
pub struct EntryQuery {
    #[serde(default)]
    token: String,
    /// Set right after joining: the page says a mail asks to confirm.
    #[serde(default)]
    neu: Option<String>,
}

pub async fn show(
    State(services): State<Services>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<EntryQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let entry = services
        .bookings
        .clone()
        .get_waitlist_entry(booking::WaitlistEntryRequest {
            id,
            token: query.token.clone(),
        })
        .await
        .map_err(not_found_or)?
        .into_inner();
    let csrf = Csrf::from_headers(&headers)?;
    let lang = i18n::current();
    let waiting = matches!(
        entry.status(),
        booking::WaitlistStatus::Unconfirmed | booking::WaitlistStatus::Active
    );
    let office = services.page_office(&entry.office_id).await?;
    let open_offer = entry.offers.iter().find(|offer| offer.status == "offered");
    let page = render(&Confirm {
        frame: Frame::office(&office),
        heading: lang.t("confirm.waitlist_yours"),
        problem: None,
        summary: summary(&services, &entry).await?,
        // Nothing to withdraw any more: no button.
        action: if waiting {
            format!("/warteliste/{}/zurueckziehen", encode(&entry.id))
        } else {
            String::new()
        },
        csrf: csrf.token.clone(),
        token: query.token.clone(),
        start: None,
        confirm: lang.t("confirm.waitlist_withdraw"),
        danger: true,
        // An open offer is what matters most: the way to it.
        back_link: match open_offer {
            Some(offer) => format!("{}?token={}", offer_url(&entry.id, &offer.id), encode(&query.token)),
            None => format!("/amt/{}", encode(&entry.office_id)),
        },
        back_label: match open_offer {
            Some(_) => lang.t("confirm.offer_open_link"),
            None => lang.t("site.home"),
        },
        note: if open_offer.is_some() {
            Some(lang.t("confirm.offer_open"))
        } else {
            (query.neu.is_some() && entry.status() == booking::WaitlistStatus::Unconfirmed)
                .then(|| lang.t("confirm.waitlist_mail_sent"))
        },
    })?;
    Ok(csrf.respond(page))
}

pub async fn withdraw(
    State(services): State<Services>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Bookings, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let entry = services
        .bookings
        .clone()
        .withdraw_waitlist_entry(booking::WaitlistEntryRequest {
            id: id.clone(),
            token: posted.token.clone(),
        })
        .await
        .map_err(not_found_or)?
        .into_inner();
    let office = services.page_office(&entry.office_id).await?;
    let mut page = Confirm::done(
        Frame::office(&office),
        i18n::current().t("confirm.waitlist_withdrawn"),
        summary(&services, &entry).await?,
    );
    page.note = None;
    page.back_link = entry_url(&id, &posted.token);
    page.back_label = i18n::current().t("confirm.waitlist_yours");
    Ok(render(&page)?.into_response())
}

/// The offer `offer_id` of `entry`, if it lists it.
fn offer_of<'e>(entry: &'e booking::WaitlistEntry, offer_id: &str) -> Result<&'e booking::WaitlistOffer, WebError> {
    entry
        .offers
        .iter()
        .find(|offer| offer.id.eq_ignore_ascii_case(offer_id.trim()))
        .ok_or_else(|| WebError::NotFound(messages::text(ErrorCode::OfferNotFound)))
}

/// What the offer pages say: the time, where, what, what to bring, and
/// until when it is held.
async fn offer_summary(
    services: &Services,
    entry: &booking::WaitlistEntry,
    offer: &booking::WaitlistOffer,
) -> Result<Vec<(&'static str, String)>, WebError> {
    let lang = i18n::current();
    let office = services.page_office(&entry.office_id).await?;
    let tz = office.timezone();
    let at = |instant: &Option<prost_types::Timestamp>| {
        instant
            .as_ref()
            .and_then(amtstermin_platform::timestamp::from_proto)
            .map(|at| at.with_timezone(&tz))
    };
    let (Some(start), Some(end), Some(until)) = (at(&offer.start), at(&offer.end), at(&offer.expires_at)) else {
        return Err(WebError::Internal);
    };
    let mut summary = vec![
        (
            lang.t("booking.appointment"),
            format!(
                "{}, {} – {}",
                i18n::long_date(start.date_naive()),
                start.format("%H:%M"),
                end.format("%H:%M")
            ),
        ),
        (
            lang.t("booking.place"),
            format!("{}, {}", office.office.name, office.office.address),
        ),
        (
            lang.t("confirm.waitlist_concerns"),
            describe(&office, &entry.concern_ids),
        ),
    ];
    let documents = office.documents(&entry.concern_ids);
    if !documents.is_empty() {
        summary.push((lang.t("booking.bring"), documents.join(", ")));
    }
    let held = match offer.status.as_str() {
        "offered" => format!(
            "{} {}, {}",
            lang.t("confirm.offer_held_until"),
            i18n::long_date(until.date_naive()),
            until.format("%H:%M")
        ),
        "accepted" => lang.t("confirm.offer_accepted_status").to_owned(),
        "declined" => lang.t("confirm.offer_declined_status").to_owned(),
        _ => lang.t("confirm.offer_expired_status").to_owned(),
    };
    summary.push((lang.t("confirm.waitlist_status"), held));
    Ok(summary)
}

fn offer_url(id: &str, offer_id: &str) -> String {
    format!("/warteliste/{}/angebot/{}", encode(id), encode(offer_id))
}

/// The entry, read with a secret of the entry or of one of its offers.
async fn entry_with(services: &Services, id: String, token: String) -> Result<booking::WaitlistEntry, WebError> {
    Ok(services
        .bookings
        .clone()
        .get_waitlist_entry(booking::WaitlistEntryRequest { id, token })
        .await
        .map_err(not_found_or)?
        .into_inner())
}

/// Which of an offer's two pages: the one that books it (the accept link
/// of its mail) or the one that declines it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OfferPage {
    Accept,
    Decline,
}

/// An offer's page: the time held, and a button that books or declines it.
async fn offer_page(
    services: &Services,
    (id, offer_id): (String, String),
    headers: &HeaderMap,
    token: String,
    which: OfferPage,
) -> Result<Response, WebError> {
    let entry = entry_with(services, id, token.clone()).await?;
    let offer = offer_of(&entry, &offer_id)?;
    let csrf = Csrf::from_headers(headers)?;
    let lang = i18n::current();
    let open = offer.status == "offered";
    let office = services.page_office(&entry.office_id).await?;
    let url = offer_url(&entry.id, &offer.id);
    let (heading, confirm, action) = match which {
        OfferPage::Accept => ("confirm.offer_heading", "confirm.offer_accept", url.clone()),
        OfferPage::Decline => (
            "confirm.offer_decline_heading",
            "confirm.offer_decline",
            format!("{url}/ablehnen"),
        ),
    };
    // The way on: to the other page while the offer is open, else the entry.
    let (back_link, back_label) = match (which, open) {
        (OfferPage::Accept, true) => (
            format!("{url}/ablehnen?token={}", encode(&token)),
            lang.t("confirm.offer_decline_link"),
        ),
        (OfferPage::Decline, _) => (format!("{url}?token={}", encode(&token)), lang.t("confirm.offer_back")),
        (OfferPage::Accept, false) => (entry_url(&entry.id, &token), lang.t("confirm.waitlist_yours")),
    };
    let page = render(&Confirm {
        frame: Frame::office(&office),
        heading: lang.t(heading),
        problem: None,
        summary: offer_summary(services, &entry, offer).await?,
        action: if open { action } else { String::new() },
        csrf: csrf.token.clone(),
        token,
        start: None,
        confirm: lang.t(confirm),
        danger: which == OfferPage::Decline,
        back_link,
        back_label,
        note: (open && which == OfferPage::Accept).then(|| lang.t("confirm.offer_note")),
    })?;
    Ok(csrf.respond(page))
}

/// An offer's page (the accept link of its mail).
pub async fn offer(
    State(services): State<Services>,
    client: Client,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    offer_page(&services, path, &headers, query.token, OfferPage::Accept).await
}

/// Accepts the offer: the booking's own page takes over, with its token.
pub async fn accept(
    State(services): State<Services>,
    client: Client,
    Path((id, offer_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Bookings, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let created = services
        .bookings
        .clone()
        .accept_waitlist_offer(booking::WaitlistOfferRequest {
            id,
            offer_id,
            token: posted.token,
        })
        .await?
        .into_inner();
    let booking = created.booking.ok_or(WebError::Internal)?;
    Ok(super::see_other(&format!(
        "/termin/{}?token={}",
        encode(&booking.code),
        encode(&created.token)
    )))
}

/// The decline link of an offer's mail: a button to decline.
pub async fn decline_form(
    State(services): State<Services>,
    client: Client,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    offer_page(&services, path, &headers, query.token, OfferPage::Decline).await
}

pub async fn decline(
    State(services): State<Services>,
    client: Client,
    Path((id, offer_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    services.limit(Class::Bookings, None, client).await?;
    Csrf::verify(&headers, &posted.csrf)?;
    let entry = services
        .bookings
        .clone()
        .decline_waitlist_offer(booking::WaitlistOfferRequest {
            id: id.clone(),
            offer_id,
            token: posted.token.clone(),
        })
        .await?
        .into_inner();
    let office = services.page_office(&entry.office_id).await?;
    let mut page = Confirm::done(
        Frame::office(&office),
        i18n::current().t("confirm.offer_declined"),
        summary(&services, &entry).await?,
    );
    page.note = None;
    page.back_link = entry_url(&id, &posted.token);
    page.back_label = i18n::current().t("confirm.waitlist_yours");
    Ok(render(&page)?.into_response())
}

#[derive(askama::Template)]
#[template(path = "waitlist_form.html")]
struct JoinForm {
    frame: Frame,
    office_id: String,
    office_name: String,
    address: String,
    concerns: String,
    concern_ids: String,
    back_link: String,
    csrf: String,
    /// The booking window citizens see, YYYY-MM-DD, and in words.
    first: String,
    last: String,
    days_hint: String,
    from: String,
    to: String,
    time_of_day: String,
    times: [(&'static str, &'static str); 3],
    name: String,
    email: String,
    consent: bool,
    errors: Vec<FieldError>,
    challenge: String,
    email_hint: &'static str,
    consent_after: &'static str,
}

impl JoinForm {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|error| error.field == field)
            .map(|error| error.message.as_str())
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Joining {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    anliegen: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    time_of_day: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    consent: Option<String>,
    /// The solved proof of work, where one is asked (filled in by app.js).
    #[serde(default)]
    altcha: String,
}

async fn join_page(
    services: &Services,
    office_id: &str,
    client: Client,
    (joining, csrf): (Joining, Csrf),
    errors: Vec<FieldError>,
) -> Result<Response, WebError> {
    let office = services.page_office(office_id).await?;
    if !office.office.waitlist {
        return Err(WebError::NotFound(messages::text(ErrorCode::NotFound)));
    }
    let lang = i18n::current();
    let ids = parse_ids(&joining.anliegen);
    let today = chrono::Utc::now().with_timezone(&office.timezone()).date_naive();
    let first = today + chrono::TimeDelta::days(i64::from(office.office.staff_only_days));
    let last = today + chrono::TimeDelta::days(i64::from(office.office.booking_window_days));
    let challenge = match services.challenges.demanded(Mode::of(&office), client) {
        Some(work) => serde_json::to_string(&services.challenges.issue(client, work)?).unwrap_or_default(),
        None => String::new(),
    };
    let status = if errors.iter().any(|error| error.field == "altcha") {
        axum::http::StatusCode::PRECONDITION_REQUIRED
    } else if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    let or = |text: &str, default: chrono::NaiveDate| {
        if text.trim().is_empty() {
            default.to_string()
        } else {
            text.trim().to_owned()
        }
    };
    let page = render(&JoinForm {
        frame: Frame::office(&office),
        office_id: office_id.to_owned(),
        office_name: office.office.name.clone(),
        address: office.office.address.clone(),
        concerns: describe(&office, &ids),
        concern_ids: ids.join(","),
        back_link: format!(
            "/amt/{}/kalender?anliegen={}",
            encode(office_id),
            encode(&ids.join(","))
        ),
        csrf: csrf.token.clone(),
        first: first.to_string(),
        last: last.to_string(),
        days_hint: lang
            .t1("waitlist.days_hint", "first", i18n::long_date(first))
            .replace("{last}", &i18n::long_date(last)),
        from: or(&joining.from, first),
        to: or(&joining.to, last),
        time_of_day: match joining.time_of_day.as_str() {
            "morning" | "afternoon" => joining.time_of_day.clone(),
            _ => "any".to_owned(),
        },
        times: [
            ("any", lang.t("confirm.waitlist_any")),
            ("morning", lang.t("confirm.waitlist_morning")),
            ("afternoon", lang.t("confirm.waitlist_afternoon")),
        ],
        name: joining.name,
        email: joining.email,
        consent: joining.consent.is_some(),
        errors,
        challenge,
        email_hint: "waitlist.email_hint",
        consent_after: "waitlist.consent_after",
    })?;
    let mut response = csrf.respond(page);
    *response.status_mut() = status;
    Ok(response)
}

#[derive(serde::Deserialize)]
pub struct JoinQuery {
    #[serde(default)]
    anliegen: String,
}

/// The form that joins the waitlist for the concerns chosen.
pub async fn join_form(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<JoinQuery>,
) -> Result<Response, WebError> {
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    let csrf = Csrf::from_headers(&headers)?;
    let joining = Joining {
        anliegen: query.anliegen,
        ..Joining::default()
    };
    join_page(&services, &office_id, client, (joining, csrf), Vec::new()).await
}

/// Joins: on to the entry's own page, which says a mail asks to confirm.
pub async fn join(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(joining): Form<Joining>,
) -> Result<Response, WebError> {
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    Csrf::verify(&headers, &joining.csrf)?;
    let csrf = Csrf::from_headers(&headers)?;
    let errors = contact_errors(&joining.name, &joining.email, None, joining.consent.is_some());
    if !errors.is_empty() {
        return join_page(&services, &office_id, client, (joining, csrf), errors).await;
    }
    let office = services.page_office(&office_id).await?;
    if let Err(error) = services
        .challenges
        .admit(Mode::of(&office), client, Some(&joining.altcha))
    {
        if error.code != ErrorCode::ChallengeRequired {
            return Err(error.into());
        }
        let errors = vec![FieldError {
            field: "altcha",
            message: messages::text(ErrorCode::ChallengeRequired).to_owned(),
        }];
        return join_page(&services, &office_id, client, (joining, csrf), errors).await;
    }
    services.limit(Class::Bookings, Some(&office_id), client).await?;
    let created = services
        .bookings
        .clone()
        .create_waitlist_entry(booking::CreateWaitlistEntryRequest {
            office_id: office_id.clone(),
            concern_ids: parse_ids(&joining.anliegen),
            from: joining.from.clone(),
            to: joining.to.clone(),
            time_of_day: joining.time_of_day.clone(),
            name: joining.name.clone(),
            email: joining.email.clone(),
            language: i18n::current().code().to_owned(),
        })
        .await;
    match created {
        Ok(created) => {
            let created = created.into_inner();
            let entry = created.entry.ok_or(WebError::Internal)?;
            Ok(see_other(&format!("{}&neu=1", entry_url(&entry.id, &created.token))))
        }
        Err(status) => {
            let code = ErrorCode::of(&status);
            let field = match code {
                ErrorCode::InvalidName => "name",
                ErrorCode::InvalidEmail | ErrorCode::LimitReached => "email",
                ErrorCode::InvalidDate => "from",
                _ => return Err(status.into()),
            };
            let message = match code {
                ErrorCode::LimitReached => i18n::current().t("waitlist.limit_reached").to_owned(),
                ErrorCode::InvalidDate => i18n::current().t("waitlist.invalid_days").to_owned(),
                code => messages::text(code).to_owned(),
            };
            let errors = vec![FieldError { field, message }];
            join_page(&services, &office_id, client, (joining, csrf), errors).await
        }
    }
}
