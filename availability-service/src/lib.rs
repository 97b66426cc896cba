//! availability-service: owns the offices' configuration and computes open
//! slots from it and the booked intervals it asks the booking service for.

pub mod absences;
pub mod admin;
pub mod catalogue;
pub mod config;
pub mod configuration;
pub mod error;
pub mod holidays;
pub mod live;
pub mod projection;
pub mod schedule;
pub mod service;
pub mod slots;

use amtstermin_platform::auth::Auth;
use std::future::Future;
use std::path::PathBuf;

use amtstermin_proto::availability::v1::availability_service_server::AvailabilityServiceServer;
use amtstermin_proto::availability::v1::configuration_admin_service_server::ConfigurationAdminServiceServer;
use amtstermin_proto::availability::v1::schedule_admin_service_server::ScheduleAdminServiceServer;
use anyhow::Context;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;

pub use catalogue::Catalogue;
pub use error::Error;

/// Settings of the availability service itself (flags and `AMTSTERMIN_…`
/// variables).
#[derive(Clone, clap::Args)]
#[group(id = "availability_settings")]
pub struct Settings {
    /// The office configuration file (TOML): seeds an empty availability
    /// database on first start; after that the database holds the
    /// configuration (`/verwaltung`, `amtstermin config import`).
    #[arg(long = "config", env = "AMTSTERMIN_CONFIG", default_value = "config/offices.toml")]
    pub config_path: PathBuf,
    /// Where the configuration and counter absences are stored: `sqlite:PATH` (created on first
    /// start) or `postgres://USER:PASSWORD@HOST/DB`; not the booking database.
    #[arg(
        id = "availability_database_url",
        long = "availability-database-url",
        env = "AMTSTERMIN_AVAILABILITY_DATABASE_URL",
        default_value = "sqlite:data/availability.db"
    )]
    pub database_url: String,
    /// Size of the database connection pool.
    #[arg(
        id = "availability_database_max_connections",
        long = "availability-database-max-connections",
        env = "AMTSTERMIN_AVAILABILITY_DATABASE_MAX_CONNECTIONS",
        default_value_t = 4
    )]
    pub database_max_connections: u32,
    /// Address of a Prometheus metrics listener (e.g. 0.0.0.0:9101); none
    /// when empty. The all-in-one's gateway serves them at /metrics anyway.
    #[arg(
        id = "availability_metrics_listen",
        long = "availability-metrics-listen",
        env = "AMTSTERMIN_AVAILABILITY_METRICS_LISTEN",
        default_value = ""
    )]
    pub metrics_listen: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("config_path", &self.config_path)
            .field(
                "database_url",
                &amtstermin_platform::database::redact(&self.database_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .finish()
    }
}

/// Where the availability service finds its peers.
#[derive(Clone, Debug, clap::Args)]
pub struct Peers {
    /// gRPC address of the booking service, whose change stream it follows.
    #[arg(long, env = "AMTSTERMIN_BOOKING_URL", default_value = "http://127.0.0.1:50052")]
    pub booking_url: String,
}

/// Serves the availability gRPC API on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    peers: Peers,
    auth: Auth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    amtstermin_platform::metrics::install();
    let metrics_task = if settings.metrics_listen.is_empty() {
        None
    } else {
        let metrics = TcpListener::bind(&settings.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {} for metrics", settings.metrics_listen))?;
        Some(tokio::spawn(amtstermin_platform::metrics::serve(
            metrics,
            std::future::pending(),
        )))
    };
    let channel = amtstermin_platform::client::channel(&peers.booking_url, &auth.credentials)
        .with_context(|| format!("invalid booking service URL {:?}", peers.booking_url))?;
    let stores = configuration::open(&settings.database_url, settings.database_max_connections)?;
    let current = live::start(
        stores.configuration.clone(),
        stores.absences.clone(),
        channel.clone(),
        &settings.config_path,
    )
    .await?;
    let follow_task = tokio::spawn(live::follow(
        current.clone(),
        stores.configuration.clone(),
        stores.absences.clone(),
        channel.clone(),
    ));
    let announce_task = tokio::spawn(configuration::announce::run(
        stores.configuration.clone(),
        channel.clone(),
    ));
    let prune_task = tokio::spawn({
        let current = current.clone();
        async move {
            let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every_hour.tick().await;
                current
                    .get()
                    .projection
                    .prune(chrono::Utc::now() - chrono::TimeDelta::days(1));
            }
        }
    });
    let service = AvailabilityServiceServer::new(service::Availability::new(current.clone()));
    let admin = ScheduleAdminServiceServer::new(admin::ScheduleAdmin::new(current.clone()));
    let configuration_admin = ConfigurationAdminServiceServer::new(configuration::ConfigurationAdmin::new(
        stores.configuration.clone(),
        current.clone(),
        channel,
    ));

    let mut routes = RoutesBuilder::default();
    let health = amtstermin_platform::server::standard_services(
        &mut routes,
        &[
            amtstermin_proto::availability::v1::availability_service_server::SERVICE_NAME,
            amtstermin_proto::availability::v1::schedule_admin_service_server::SERVICE_NAME,
            amtstermin_proto::availability::v1::configuration_admin_service_server::SERVICE_NAME,
        ],
    )
    .await?;
    routes
        .add_service(service)
        .add_service(admin)
        .add_service(configuration_admin);
    // SERVING while every office's projection is caught up.
    let health_task = tokio::spawn({
        let current = current.clone();
        async move {
            let mut swapped = current.subscribe();
            loop {
                let world = current.get();
                let mut changed = world.projection.subscribe();
                let status = if world.projection.live() {
                    tonic_health::ServingStatus::Serving
                } else {
                    tonic_health::ServingStatus::NotServing
                };
                drop(world);
                health.set(status).await;
                tokio::select! {
                    changed = changed.changed() => if changed.is_err() { continue },
                    swap = swapped.changed() => if swap.is_err() { return },
                }
            }
        }
    });

    tracing::info!(
        address = %listener.local_addr()?,
        offices = current.get().catalogue.offices().len(),
        "availability service listening"
    );
    let served = amtstermin_platform::server::serve(routes.routes(), listener, auth.access, shutdown).await;
    health_task.abort();
    follow_task.abort();
    announce_task.abort();
    prune_task.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    served.context("availability gRPC server failed")
}
