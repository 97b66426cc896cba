//! gateway: the web face of amtstermin. Serves the public JSON API and
//! translates every request into gRPC calls to the availability and booking
//! services; it keeps no state of its own, so any number can run.

pub mod api;
pub mod error;
pub mod staff;
pub mod staff_api;
pub mod web;

pub mod stack;

use std::future::Future;
use std::time::Instant;

use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::schedule_admin_service_client::ScheduleAdminServiceClient;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use anyhow::Context;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::error::ApiError;

/// Settings of the gateway (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// gRPC address of the availability service.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_URL", default_value = "http://127.0.0.1:50051")]
    pub availability_url: String,
    /// gRPC address of the booking service.
    #[arg(long, env = "AMTSTERMIN_BOOKING_URL", default_value = "http://127.0.0.1:50052")]
    pub booking_url: String,
    /// Public address of the website (e.g. `https://termine.bergkamen.de`),
    /// for the manage link shown after booking.
    #[arg(long = "public-url", env = "AMTSTERMIN_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub staff: staff::StaffSettings,
}

/// The gRPC clients every handler uses; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub availability: AvailabilityServiceClient<Channel>,
    pub schedule_admin: ScheduleAdminServiceClient<Channel>,
    pub bookings: BookingServiceClient<Channel>,
    pub staff: staff::Staff,
    pub public_url: Option<String>,
}

impl Services {
    pub fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let channel = |url: &str| {
            amtstermin_proto::client::lazy_channel(url).with_context(|| format!("invalid service URL {url:?}"))
        };
        let availability = channel(&settings.availability_url)?;
        Ok(Self {
            availability: AvailabilityServiceClient::new(availability.clone()),
            schedule_admin: ScheduleAdminServiceClient::new(availability),
            bookings: BookingServiceClient::new(channel(&settings.booking_url)?),
            staff: staff::Staff::load(&settings.staff)?,
            public_url: settings.public_url.clone(),
        })
    }

    pub async fn offices(&self) -> Result<Vec<availability::Office>, ApiError> {
        Ok(self
            .availability
            .clone()
            .list_offices(availability::ListOfficesRequest {})
            .await?
            .into_inner()
            .offices)
    }

    pub async fn office(&self, id: &str) -> Result<availability::Office, ApiError> {
        self.offices()
            .await?
            .into_iter()
            .find(|office| office.id == id)
            .ok_or_else(|| ApiError::NotFound {
                code: "office_not_found",
                message: format!("unknown office {id:?}"),
            })
    }

    /// All bookings of an office on one local day, any status, by start.
    pub async fn bookings_of_day(
        &self,
        office: &availability::Office,
        day: chrono::NaiveDate,
    ) -> Result<Vec<amtstermin_proto::booking::v1::Booking>, tonic::Status> {
        use chrono::TimeZone;
        let tz: chrono_tz::Tz = office.timezone.parse().unwrap_or(chrono_tz::Europe::Berlin);
        let midnight = |date: chrono::NaiveDate| {
            tz.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map_or_else(chrono::Utc::now, |instant| instant.with_timezone(&chrono::Utc))
        };
        let request = amtstermin_proto::booking::v1::ListBookingsRequest {
            office_id: office.id.clone(),
            from: Some(amtstermin_proto::timestamp::to_proto(midnight(day))),
            to: Some(amtstermin_proto::timestamp::to_proto(midnight(
                day + chrono::TimeDelta::days(1),
            ))),
        };
        Ok(self
            .bookings
            .clone()
            .list_bookings(request)
            .await?
            .into_inner()
            .bookings)
    }

    pub async fn catalogue(&self, office_id: &str) -> Result<availability::GetCatalogueResponse, ApiError> {
        Ok(self
            .availability
            .clone()
            .get_catalogue(availability::GetCatalogueRequest {
                office_id: office_id.to_owned(),
            })
            .await?
            .into_inner())
    }
}

/// The whole HTTP application.
pub fn app(services: Services) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(web::routes())
        .merge(staff_api::routes())
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .fallback(|| async {
            ApiError::NotFound {
                code: "not_found",
                message: "no such resource".to_owned(),
            }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(api::BODY_LIMIT))
        .layer(middleware::from_fn(trace_requests))
        .layer(middleware::from_fn(security_headers))
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
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
    });
    response
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
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
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let services = Services::connect(&settings)?;
    tracing::info!(address = %listener.local_addr()?, "gateway listening");
    axum::serve(listener, app(services))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}
