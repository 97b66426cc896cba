//! availability-service: owns the offices' configuration and computes open
//! slots from it and the booked intervals it asks the booking service for.

pub mod catalogue;
pub mod config;
pub mod error;
pub mod holidays;
pub mod projection;
pub mod schedule;
pub mod service;
pub mod slots;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use amtstermin_proto::availability::v1::availability_service_server::AvailabilityServiceServer;
use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::RoutesBuilder;

pub use catalogue::Catalogue;
pub use error::Error;

/// Settings of the availability service (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// The office configuration file (TOML).
    #[arg(long = "config", env = "AMTSTERMIN_CONFIG", default_value = "config/offices.toml")]
    pub config_path: PathBuf,
    /// gRPC address of the booking service, whose change stream it follows.
    #[arg(long, env = "AMTSTERMIN_BOOKING_URL", default_value = "http://127.0.0.1:50052")]
    pub booking_url: String,
}

/// Serves the availability gRPC API on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let catalogue = Arc::new(config::load(&settings.config_path)?);
    let channel = amtstermin_proto::client::lazy_channel(&settings.booking_url)
        .with_context(|| format!("invalid booking service URL {:?}", settings.booking_url))?;
    let projection = Arc::new(projection::Projection::new(&catalogue));
    let followers: Vec<_> = catalogue
        .offices()
        .iter()
        .map(|office| tokio::spawn(projection::follow(projection.clone(), channel.clone(), office.clone())))
        .collect();
    let service = AvailabilityServiceServer::new(service::Availability::new(catalogue.clone(), projection.clone()));

    let mut routes = RoutesBuilder::default();
    let health = amtstermin_proto::server::standard_services(
        &mut routes,
        &[amtstermin_proto::availability::v1::availability_service_server::SERVICE_NAME],
    )
    .await?;
    routes.add_service(service);
    // SERVING while every office's projection is caught up.
    let health_task = tokio::spawn(async move {
        let mut changed = projection.subscribe();
        loop {
            let status = if projection.live() {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            health.set(status).await;
            if changed.changed().await.is_err() {
                return;
            }
        }
    });

    tracing::info!(
        address = %listener.local_addr()?,
        offices = catalogue.offices().len(),
        "availability service listening"
    );
    let served = tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    health_task.abort();
    for follower in followers {
        follower.abort();
    }
    served.context("availability gRPC server failed")
}
