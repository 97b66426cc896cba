//! booking-service: keeps the bookings and reserves counters atomically.

pub mod bookings;
pub mod changes;
pub mod error;
pub mod service;
pub mod store;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use amtstermin_proto::booking::v1::booking_service_server::BookingServiceServer;
use amtstermin_proto::server::Health;
use amtstermin_proto::telemetry::error_chain;
use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;

pub use error::Error;
use store::BookingStore;

/// Settings of the booking service (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, clap::Args)]
pub struct Settings {
    /// Where bookings are stored: `sqlite:PATH` (created on first start) or
    /// `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(long, env = "AMTSTERMIN_DATABASE_URL", default_value = "sqlite:data/bookings.db")]
    pub database_url: String,
    /// Size of the database connection pool.
    #[arg(long, env = "AMTSTERMIN_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    /// gRPC address of the availability service, asked before each reservation.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_URL", default_value = "http://127.0.0.1:50051")]
    pub availability_url: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &amtstermin_proto::database::redact(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("availability_url", &self.availability_url)
            .finish()
    }
}

/// How often the database is checked once it is ready.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Serves the booking gRPC API on `listener` until `shutdown` resolves.
/// Health reports NOT_SERVING until the database is reachable and migrated.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let store = store::open(&settings.database_url, settings.database_max_connections)?;
    let channel = amtstermin_proto::client::lazy_channel(&settings.availability_url)
        .with_context(|| format!("invalid availability service URL {:?}", settings.availability_url))?;
    let ready = Arc::new(AtomicBool::new(false));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let feed = changes::ChangeFeed::new(store.clone(), stopping);
    let service = BookingServiceServer::new(service::Bookings::new(store.clone(), feed, channel, ready.clone()));

    let mut routes = RoutesBuilder::default();
    let health = amtstermin_proto::server::standard_services(
        &mut routes,
        &[amtstermin_proto::booking::v1::booking_service_server::SERVICE_NAME],
    )
    .await?;
    routes.add_service(service);
    let watcher = tokio::spawn(watch_database(
        store,
        health,
        ready,
        amtstermin_proto::database::redact(&settings.database_url),
    ));

    tracing::info!(address = %listener.local_addr()?, "booking service listening");
    let served = tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            // Change feeds never end by themselves; the server waits for them.
            let _ = stop.send(true);
        })
        .await;
    watcher.abort();
    served.context("booking gRPC server failed")
}

/// Migrates once the database answers, then keeps health in step with it.
async fn watch_database(store: Arc<dyn BookingStore>, health: Health, ready: Arc<AtomicBool>, url: String) {
    let mut delay = Duration::from_millis(200);
    while let Err(error) = store.migrate().await {
        tracing::warn!(database = %url, error = %error_chain(&error), "database not ready, retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(HEALTH_INTERVAL);
    }
    tracing::info!(database = %url, "database migrated");
    ready.store(true, Ordering::Release);
    let mut serving = None;
    loop {
        let status = match store.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "database unreachable");
                ServingStatus::NotServing
            }
        };
        if serving != Some(status) {
            health.set(status).await;
            serving = Some(status);
        }
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}
