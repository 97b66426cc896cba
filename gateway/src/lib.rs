//! gateway: the web face of amtstermin. Serves the public JSON API and
//! translates every request into gRPC calls to the availability and booking
//! services; it keeps no state of its own, so any number can run.

pub mod challenge;
pub mod client;
pub mod error;
pub mod i18n;
pub mod oidc;
pub mod openapi;
pub mod protection;
pub mod public_api;
pub mod serve;
pub mod sign_in;
pub mod staff;
pub mod staff_api;
pub mod statistics;
pub mod view;
pub mod waitlist_api;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use amtstermin_catalogue::{Catalogues, OfficeCatalogue};
use amtstermin_platform::auth::Credentials;
use amtstermin_platform::client::Channel;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::configuration_admin_service_client::ConfigurationAdminServiceClient;
use amtstermin_proto::availability::v1::schedule_admin_service_client::ScheduleAdminServiceClient;
use amtstermin_proto::booking::v1 as booking;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use anyhow::Context;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use tokio::net::TcpListener;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;

/// Settings of the gateway itself (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "gateway_settings")]
pub struct Settings {
    /// Public address of the website (e.g. `https://termine.bergkamen.de`),
    /// for the manage link shown after booking.
    #[arg(long = "public-url", env = "AMTSTERMIN_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub staff: staff::StaffSettings,
    #[command(flatten)]
    pub protection: protection::ProtectionSettings,
    #[command(flatten)]
    pub http: serve::HttpSettings,
    #[command(flatten)]
    pub challenge: challenge::ChallengeSettings,
}

/// Where the gateway finds the services.
#[derive(Clone, Debug, clap::Args)]
pub struct Peers {
    /// gRPC address of the availability service.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_URL", default_value = "http://127.0.0.1:50051")]
    pub availability_url: String,
    /// gRPC address of the booking service.
    #[arg(long, env = "AMTSTERMIN_BOOKING_URL", default_value = "http://127.0.0.1:50052")]
    pub booking_url: String,
}

/// The gRPC clients every handler uses, and the cached catalogues; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub availability: AvailabilityServiceClient<Channel>,
    pub schedule_admin: ScheduleAdminServiceClient<Channel>,
    pub configuration: ConfigurationAdminServiceClient<Channel>,
    pub bookings: BookingServiceClient<Channel>,
    pub catalogues: Catalogues,
    pub staff: staff::Staff,
    pub public_url: Option<String>,
    pub protection: Arc<protection::Protection>,
    pub sign_in: Arc<sign_in::SignIn>,
    /// Sign-in through the city's identity provider, if configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    pub challenges: Arc<challenge::Challenges>,
}

impl Services {
    pub fn connect(settings: &Settings, peers: &Peers, credentials: &Credentials) -> anyhow::Result<Self> {
        let channel = |url: &str| {
            amtstermin_platform::client::channel(url, credentials)
                .with_context(|| format!("invalid service URL {url:?}"))
        };
        let availability = channel(&peers.availability_url)?;
        Ok(Self {
            availability: AvailabilityServiceClient::new(availability.clone()),
            schedule_admin: ScheduleAdminServiceClient::new(availability.clone()),
            configuration: ConfigurationAdminServiceClient::new(availability.clone()),
            bookings: BookingServiceClient::new(channel(&peers.booking_url)?),
            catalogues: Catalogues::new(availability),
            staff: staff::Staff::load(&settings.staff)?,
            public_url: settings.public_url.clone(),
            protection: Arc::new(protection::Protection::new(settings.protection.clone())),
            sign_in: Arc::new(sign_in::SignIn::new()?),
            oidc: oidc::Oidc::new(&settings.staff.oidc)?,
            challenges: Arc::new(challenge::Challenges::new(&settings.challenge)?),
        })
    }

    /// An office with its catalogue (cached).
    pub async fn office(&self, id: &str) -> Result<Arc<OfficeCatalogue>, ApiError> {
        Ok(self.catalogues.office(id).await?)
    }

    /// An office with its catalogue in the language of the page being
    /// answered (the configuration's translations).
    pub async fn page_office(&self, id: &str) -> Result<Arc<OfficeCatalogue>, ApiError> {
        let office = self.office(id).await?;
        Ok(OfficeCatalogue::in_language(office, i18n::current().code()))
    }

    /// Counts a request of `client` against the limits of its class, the
    /// office's where it sets its own.
    pub async fn limit(
        &self,
        class: protection::Class,
        office_id: Option<&str>,
        client: client::Client,
    ) -> Result<(), ApiError> {
        let office = match office_id {
            // An unknown office (or an outage) counts against the global limits.
            Some(id) => self.catalogues.office(id).await.ok(),
            None => None,
        };
        self.protection.check(class, office.as_deref(), client)
    }

    /// The member of staff whose session cookie `headers` carry, unless the
    /// session is invalid or was ended (sign-out, in any replica). An
    /// unreachable booking service is an outage, not a pass.
    /// The account is the staff file's or else the one stored in the booking
    /// service (a disabled one signs nobody in).
    pub async fn staff_session(&self, headers: &axum::http::HeaderMap) -> Result<Option<staff::Session>, ApiError> {
        let Some(cookie) = web::cookie(headers, staff::SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(claims) = self.staff.from_session(&cookie) else {
            return Ok(None);
        };
        let file_account = self.staff.file_account(&claims.login).cloned();
        let checked = self
            .bookings
            .clone()
            .check_staff_session(booking::CheckStaffSessionRequest {
                session_id: claims.id.clone(),
                login: if file_account.is_some() {
                    String::new()
                } else {
                    claims.login.clone()
                },
            })
            .await?
            .into_inner();
        if checked.revoked {
            return Ok(None);
        }
        let account = file_account.or_else(|| checked.account.and_then(staff::Account::stored));
        Ok(account.and_then(|account| claims.of(account)))
    }

    /// The account of `login` for a sign-in: the staff file's, or the one
    /// stored in the booking service with its hash (`None`: no such login,
    /// or disabled).
    pub async fn staff_account(&self, login: &str) -> Result<Option<staff::Account>, ApiError> {
        if let Some(account) = self.staff.file_account(login) {
            return Ok(Some(account.clone()));
        }
        match self
            .bookings
            .clone()
            .get_staff_account(booking::GetStaffAccountRequest {
                login: login.to_owned(),
            })
            .await
        {
            Ok(account) => Ok(staff::Account::stored(account.into_inner())),
            Err(status) if ErrorCode::of(&status) == ErrorCode::StaffAccountNotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// Records in the audit log what only the gateway sees (sign-ins,
    /// absences), for `offices` (empty: every office, for an account of all
    /// offices). A failure is logged; what it reports stands.
    pub async fn record(&self, offices: &[String], (actor, action): (&str, &str), (subject, detail): (&str, &str)) {
        let office_ids = if offices.is_empty() {
            match self.catalogues.offices().await {
                Ok(all) => all.iter().map(|office| office.id.clone()).collect(),
                Err(_) => Vec::new(),
            }
        } else {
            offices.to_vec()
        };
        let recorded = self
            .bookings
            .clone()
            .record_audit_events(booking::RecordAuditEventsRequest {
                office_ids,
                actor: actor.to_owned(),
                action: action.to_owned(),
                subject: subject.to_owned(),
                detail: detail.to_owned(),
            })
            .await;
        if let Err(status) = recorded {
            tracing::error!(code = ?status.code(), action, "an audit event was not recorded");
        }
    }

    /// All bookings of an office on one local day, any status, by start.
    pub async fn bookings_of_day(
        &self,
        office: &OfficeCatalogue,
        day: NaiveDate,
    ) -> Result<Vec<booking::Booking>, ApiError> {
        let tz = office.timezone();
        let midnight = |date: NaiveDate| {
            tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
                .earliest()
                .map_or_else(Utc::now, |instant| instant.with_timezone(&Utc))
        };
        let request = booking::ListBookingsRequest {
            office_id: office.id().to_owned(),
            from: Some(timestamp::to_proto(midnight(day))),
            to: Some(timestamp::to_proto(midnight(day + TimeDelta::days(1)))),
        };
        Ok(self
            .bookings
            .clone()
            .list_bookings(request)
            .await?
            .into_inner()
            .bookings)
    }

    /// Lets a client read its own change: waits (briefly) until the
    /// availability service's slots reflect the booking change just made.
    /// Slots a moment behind are harmless, so failures are only logged.
    pub async fn await_slots(&self, booking: &booking::Booking) {
        if booking.sequence == 0 {
            return;
        }
        let request = availability::AwaitBookingSequenceRequest {
            office_id: booking.office_id.clone(),
            sequence: booking.sequence,
        };
        match self.availability.clone().await_booking_sequence(request).await {
            Ok(response) if response.get_ref().reached => {}
            Ok(_) => tracing::warn!(office = %booking.office_id, "slots not yet updated after a booking change"),
            Err(status) => tracing::warn!(code = ?status.code(), "cannot wait for the slots to update"),
        }
    }

    /// Books a walk-in on the next free start (staff channel, no email),
    /// within two weeks or, `today_only`, today.
    pub async fn book_walk_in(
        &self,
        office_id: &str,
        concern_ids: &[String],
        (name, actor): (&str, &str),
        today_only: bool,
    ) -> Result<booking::Booking, ApiError> {
        let created = self
            .bookings
            .clone()
            .book_next_free(booking::BookNextFreeRequest {
                office_id: office_id.to_owned(),
                concern_ids: concern_ids.to_vec(),
                name: name.to_owned(),
                email: String::new(),
                phone: String::new(),
                channel: availability::Channel::Foyer.into(),
                actor: actor.to_owned(),
                today_only,
            })
            .await?
            .into_inner();
        let booking = created
            .booking
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the booking service answered without a booking"))?;
        self.await_slots(&booking).await;
        Ok(booking)
    }
}

/// The whole HTTP application.
pub fn app(services: Services, http: &serve::HttpSettings) -> Router {
    let timeout = std::time::Duration::from_secs(http.request_timeout_seconds.max(1));
    Router::new()
        .merge(openapi::routes())
        .merge(web::routes())
        .fallback(web::not_found)
        .method_not_allowed_fallback(web::method_not_allowed)
        .layer(DefaultBodyLimit::max(public_api::BODY_LIMIT))
        .layer(middleware::from_fn(i18n::middleware))
        .layer(middleware::from_fn(trace_requests))
        .layer(middleware::from_fn_with_state(services.clone(), security_headers))
        .layer(middleware::from_fn(move |request, next| {
            serve::limits(timeout, request, next)
        }))
        .with_state(services)
}

/// One line per request, named by the matched route: no codes, no tokens,
/// no query strings reach the log.
async fn trace_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let span = tracing::info_span!("http", %method, route);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "request"
        );
    });
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method.as_str().to_owned())];
    metrics::histogram!("amtstermin_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let [route, method] = labels;
    metrics::counter!("amtstermin_http_requests_total", &[route, method, ("status", status)]).increment(1);
    response
}

/// The operations endpoints, documented with the API.
fn operations_routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
}

/// Whether the gateway runs (it answers without asking the services).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Running", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process's metrics for Prometheus (all services of an all-in-one).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (the README lists the names)", content_type = "text/plain", body = String)))]
async fn metrics_text() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            amtstermin_platform::metrics::CONTENT_TYPE,
        )],
        amtstermin_platform::metrics::render(),
    )
        .into_response()
}

/// Whether the client reached us over HTTPS: the configured public address
/// says so, or a trusted proxy forwarded `X-Forwarded-Proto: https`.
pub fn over_https(services: &Services, request_headers: &axum::http::HeaderMap, client_is_proxy: bool) -> bool {
    services
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
        || (client_is_proxy
            && request_headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| proto.eq_ignore_ascii_case("https")))
}

/// Whether this request came over HTTPS (see `over_https`), for handlers.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);

async fn security_headers(
    axum::extract::State(services): axum::extract::State<Services>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let from_proxy = peer.is_some_and(|peer| services.protection.trusted_proxies.trusts(peer));
    let https = over_https(&services, request.headers(), from_proxy);
    request.extensions_mut().insert(Https(https));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // Pages and answers carry personal data or change by the minute; only
    // what says otherwise (the static assets) may be kept.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    peers: Peers,
    credentials: Credentials,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let services = Services::connect(&settings, &peers, &credentials)?;
    amtstermin_platform::metrics::install();
    tracing::info!(address = %listener.local_addr()?, "gateway listening");
    serve::serve(listener, app(services, &settings.http), &settings.http, shutdown)
        .await
        .context("HTTP server failed")
}
