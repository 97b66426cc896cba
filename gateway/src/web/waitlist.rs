//! The waitlist's pages behind the links of its mails: confirming the
//! address (a button, so a mail scanner following links confirms nothing),
//! and the entry's own page, from which it can be withdrawn.

use amtstermin_platform::ErrorCode;
use amtstermin_proto::booking::v1 as booking;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::frame::Frame;
use super::manage::{Confirm, Posted, TokenQuery};
use super::{Csrf, WebError, encode, messages, render};
use crate::Services;
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
pub async fn show(
    State(services): State<Services>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
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
        token: query.token,
        start: None,
        confirm: lang.t("confirm.waitlist_withdraw"),
        danger: true,
        back_link: format!("/amt/{}", encode(&entry.office_id)),
        back_label: lang.t("site.home"),
        note: None,
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
