//! The administration's integrations (`/verwaltung/{office}/webhooks` and
//! `/kalender`): admins subscribe other systems to the office's events and
//! make calendar feeds for staff calendars, see each delivery with its
//! answer, and delete or revoke them. Secrets are shown once, when made.

use std::collections::HashMap;

use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono_tz::Tz;

use super::desk::{desk_csrf, signed_in_as, verify_bound};
use super::frame::Frame;
use super::{WebError, form_status, render, ticked};
use crate::Services;
use crate::staff::{Account, Role};

/// The events a subscription may want, as the booking service names them,
/// with what they mean to staff.
const EVENTS: [(&str, &str); 6] = [
    ("booking.created", "Termin gebucht"),
    ("booking.moved", "Termin verschoben"),
    ("booking.cancelled", "Termin abgesagt"),
    (
        "booking.status_changed",
        "Status geändert (bestätigt, eingetroffen, aufgerufen, erledigt, nicht erschienen)",
    ),
    ("waitlist.offered", "Termin aus der Warteliste angeboten"),
    ("configuration.changed", "Konfiguration des Amtes geändert"),
];

fn event_label(name: &str) -> &str {
    EVENTS
        .iter()
        .find(|(event, _)| *event == name)
        .map_or(name, |(_, label)| label)
}

struct WebhookRow {
    id: String,
    url: String,
    events: String,
    personal_data: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_webhooks.html")]
struct Webhooks {
    frame: Frame,
    office_id: String,
    office_name: String,
    csrf: String,
    webhooks: Vec<WebhookRow>,
    events: Vec<(&'static str, &'static str)>,
    /// A refusal of the form, with what was entered.
    error: Option<&'static str>,
    url: String,
    /// Set after a subscription was made: its id and secret, shown once.
    made: Option<(String, String)>,
    notice: Option<&'static str>,
}

struct DeliveryRow {
    id: String,
    event: String,
    created: String,
    state: &'static str,
    attempts: u32,
    last_answer: String,
}

#[derive(Template)]
#[template(path = "admin_webhook.html")]
struct Deliveries {
    frame: Frame,
    office_id: String,
    office_name: String,
    url: String,
    deliveries: Vec<DeliveryRow>,
}

struct FeedRow {
    id: String,
    scope: String,
    names: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_feeds.html")]
struct Feeds {
    frame: Frame,
    office_id: String,
    office_name: String,
    csrf: String,
    feeds: Vec<FeedRow>,
    counters: Vec<(String, String)>,
    /// Set after a feed was made: its address, shown once.
    made: Option<String>,
    notice: Option<&'static str>,
}

/// The office as the catalogue has it; integrations need an existing one.
async fn office(services: &Services, office_id: &str) -> Result<(Tz, String, Vec<(String, String)>), WebError> {
    let office = services.catalogues.office(office_id).await?;
    let counters = office
        .catalogue
        .counters
        .iter()
        .map(|counter| (counter.id.clone(), counter.name.clone()))
        .collect();
    Ok((office.timezone(), office.office.name.clone(), counters))
}

fn local(at: Option<&prost_types::Timestamp>, tz: Tz) -> String {
    at.and_then(timestamp::from_proto)
        .map(|at| at.with_timezone(&tz).format("%d.%m.%Y, %H:%M Uhr").to_string())
        .unwrap_or_default()
}

async fn admin(services: &Services, headers: &HeaderMap, office_id: &str) -> Result<Account, WebError> {
    signed_in_as(services, headers, Some(office_id), &[Role::Admin]).await
}

/// What the last form did, for the webhooks page.
#[derive(Default)]
struct Outcome {
    /// A refusal, with the address entered.
    error: Option<&'static str>,
    url: String,
    /// A subscription made: its address and secret, shown once.
    made: Option<(String, String)>,
    notice: Option<&'static str>,
}

async fn webhooks_page(
    services: &Services,
    headers: &HeaderMap,
    office_id: &str,
    outcome: Outcome,
) -> Result<Response, WebError> {
    let csrf = desk_csrf(services, headers)?;
    let (tz, office_name, _) = office(services, office_id).await?;
    let listed = services
        .bookings
        .clone()
        .list_webhooks(booking::ListWebhooksRequest {
            office_id: office_id.to_owned(),
        })
        .await?
        .into_inner()
        .webhooks;
    let webhooks = listed
        .into_iter()
        .map(|webhook| WebhookRow {
            events: if webhook.events.is_empty() {
                "alle Ereignisse".to_owned()
            } else {
                webhook
                    .events
                    .iter()
                    .map(|event| event_label(event))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            created: format!("{} von {}", local(webhook.created_at.as_ref(), tz), webhook.created_by),
            id: webhook.id,
            url: webhook.url,
            personal_data: webhook.personal_data,
        })
        .collect();
    let Outcome {
        error,
        url,
        made,
        notice,
    } = outcome;
    let page = Webhooks {
        frame: Frame::default(),
        office_id: office_id.to_owned(),
        office_name,
        csrf: csrf.token.clone(),
        webhooks,
        events: EVENTS.to_vec(),
        error,
        url,
        made,
        notice,
    };
    let status = form_status(error.is_some());
    Ok(csrf.respond((status, render(&page)?)))
}

pub async fn webhooks(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    admin(&services, &headers, &office_id).await?;
    webhooks_page(&services, &headers, &office_id, Outcome::default()).await
}

/// The form: `csrf`, `url`, `personenbezogen` ("ja"), and `ereignis:NAME`
/// for each event ticked (none: all).
pub async fn subscribe(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let account = admin(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, form.get("csrf").map_or("", String::as_str))?;
    let url = form.get("url").map_or("", |url| url.trim()).to_owned();
    let events = ticked(&form, "ereignis:");
    let request = booking::CreateWebhookRequest {
        office_id: office_id.clone(),
        url: url.clone(),
        events,
        personal_data: form.get("personenbezogen").is_some_and(|value| value == "ja"),
        actor: account.login.clone(),
    };
    match services.bookings.clone().create_webhook(request).await {
        Ok(made) => {
            let made = made.into_inner();
            tracing::info!(office = %office_id, webhook = %made.id, "webhook subscribed");
            let outcome = Outcome {
                made: Some((made.url, made.secret)),
                ..Outcome::default()
            };
            webhooks_page(&services, &headers, &office_id, outcome).await
        }
        Err(status) if ErrorCode::of(&status) == ErrorCode::InvalidArgument => {
            let refused = "Bitte geben Sie eine vollständige Adresse an, die mit https:// (oder http://) beginnt.";
            let outcome = Outcome {
                error: Some(refused),
                url,
                ..Outcome::default()
            };
            webhooks_page(&services, &headers, &office_id, outcome).await
        }
        Err(status) => Err(status.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn unsubscribe(
    State(services): State<Services>,
    Path((office_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let account = admin(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    services
        .bookings
        .clone()
        .delete_webhook(booking::DeleteWebhookRequest {
            office_id: office_id.clone(),
            id,
            actor: account.login.clone(),
        })
        .await?;
    let outcome = Outcome {
        notice: Some("Der Webhook wurde gelöscht; er bekommt keine Zustellungen mehr."),
        ..Outcome::default()
    };
    webhooks_page(&services, &headers, &office_id, outcome).await
}

pub async fn deliveries(
    State(services): State<Services>,
    Path((office_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    admin(&services, &headers, &office_id).await?;
    let (tz, office_name, _) = office(&services, &office_id).await?;
    let webhook = services
        .bookings
        .clone()
        .list_webhooks(booking::ListWebhooksRequest {
            office_id: office_id.clone(),
        })
        .await?
        .into_inner()
        .webhooks
        .into_iter()
        .find(|webhook| webhook.id == id)
        .ok_or(WebError::NotFound("Diesen Webhook gibt es nicht (mehr)."))?;
    let listed = services
        .bookings
        .clone()
        .list_webhook_deliveries(booking::ListWebhookDeliveriesRequest {
            office_id: office_id.clone(),
            webhook_id: id,
            limit: 100,
        })
        .await?
        .into_inner()
        .deliveries;
    let deliveries = listed
        .into_iter()
        .map(|delivery| DeliveryRow {
            state: if delivery.delivered_at.is_some() {
                "zugestellt"
            } else if delivery.failed_at.is_some() {
                "aufgegeben"
            } else {
                "wird versucht"
            },
            last_answer: match (delivery.last_status, delivery.last_error.as_str()) {
                (0, "") => "–".to_owned(),
                (0, error) => error.to_owned(),
                (status, _) => format!("HTTP {status}"),
            },
            event: event_label(&delivery.event).to_owned(),
            created: local(delivery.created_at.as_ref(), tz),
            attempts: delivery.attempts,
            id: delivery.id,
        })
        .collect();
    let page = render(&Deliveries {
        frame: Frame::default(),
        office_id,
        office_name,
        url: webhook.url,
        deliveries,
    })?;
    Ok(axum::response::IntoResponse::into_response(page))
}

async fn feeds_page(
    services: &Services,
    headers: &HeaderMap,
    office_id: &str,
    (made, notice): (Option<String>, Option<&'static str>),
) -> Result<Response, WebError> {
    let csrf = desk_csrf(services, headers)?;
    let (tz, office_name, counters) = office(services, office_id).await?;
    let listed = services
        .bookings
        .clone()
        .list_calendar_feeds(booking::ListCalendarFeedsRequest {
            office_id: office_id.to_owned(),
        })
        .await?
        .into_inner()
        .feeds;
    let feeds = listed
        .into_iter()
        .map(|feed| FeedRow {
            scope: if feed.counter_id.is_empty() {
                "das ganze Amt".to_owned()
            } else {
                counters
                    .iter()
                    .find(|(id, _)| *id == feed.counter_id)
                    .map_or(feed.counter_id.clone(), |(_, name)| name.clone())
            },
            names: feed.names,
            created: format!("{} von {}", local(feed.created_at.as_ref(), tz), feed.created_by),
            id: feed.id,
        })
        .collect();
    let page = render(&Feeds {
        frame: Frame::default(),
        office_id: office_id.to_owned(),
        office_name,
        csrf: csrf.token.clone(),
        feeds,
        counters,
        made,
        notice,
    })?;
    Ok(csrf.respond(page))
}

pub async fn feeds(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    admin(&services, &headers, &office_id).await?;
    feeds_page(&services, &headers, &office_id, (None, None)).await
}

#[derive(serde::Deserialize)]
pub struct FeedForm {
    #[serde(default)]
    csrf: String,
    /// A counter's id; empty: the whole office.
    #[serde(default)]
    platz: String,
    /// "ja": the events show the citizens' names.
    #[serde(default)]
    namen: String,
}

pub async fn add_feed(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FeedForm>,
) -> Result<Response, WebError> {
    let account = admin(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let feed = services
        .bookings
        .clone()
        .create_calendar_feed(booking::CreateCalendarFeedRequest {
            office_id: office_id.clone(),
            counter_id: form.platz,
            names: form.namen == "ja",
            actor: account.login.clone(),
        })
        .await?
        .into_inner();
    tracing::info!(office = %office_id, feed = %feed.id, "calendar feed made");
    let address = format!(
        "{}/kalender/{}/{}.ics",
        super::site_base(&services, &headers),
        feed.office_id,
        feed.token
    );
    feeds_page(&services, &headers, &office_id, (Some(address), None)).await
}

pub async fn revoke_feed(
    State(services): State<Services>,
    Path((office_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let account = admin(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    services
        .bookings
        .clone()
        .revoke_calendar_feed(booking::RevokeCalendarFeedRequest {
            office_id: office_id.clone(),
            id,
            actor: account.login.clone(),
        })
        .await?;
    let notice = Some("Das Kalender-Abo wurde widerrufen; seine Adresse liefert nichts mehr.");
    feeds_page(&services, &headers, &office_id, (None, notice)).await
}
