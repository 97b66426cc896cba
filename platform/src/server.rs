//! What every amtstermin gRPC server exposes besides its own service: the
//! standard health service and reflection in both protocol versions (grpcurl
//! speaks v1, many grpcio clients still speak v1alpha); and how every server
//! serves its listener.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{Access, AccessLayer};

/// The health of one server: the overall status ("") and that of its services
/// always move together.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: &'static [&'static str],
}

impl Health {
    pub async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for service in self.services {
            self.reporter.set_service_status(*service, status).await;
        }
    }
}

/// Adds health and reflection to `routes`. Health starts as NOT_SERVING for
/// the server and each of `services` (full gRPC names), until `Health::set`.
pub async fn standard_services(
    routes: &mut RoutesBuilder,
    services: &'static [&'static str],
) -> Result<Health, tonic_reflection::server::Error> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health { reporter, services };
    health.set(ServingStatus::NotServing).await;
    // Reflection lists what this port serves, not every contract there is.
    let reflection = || {
        services.iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(amtstermin_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health"),
            |builder, service| builder.with_service_name(*service),
        )
    };
    routes
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    Ok(health)
}

/// Serves `routes` on `listener` until `shutdown` resolves. Accepted sockets
/// get TCP_NODELAY: without it, Nagle's algorithm holds back the last
/// segment of a response until the client's delayed ACK, about 40 ms on
/// every call.
///
/// Every call except health and reflection must carry a token of `access`
/// with the method's scope (see `auth`); every call is counted and timed,
/// refused ones included (see `metrics`).
pub async fn serve(
    routes: Routes,
    listener: TcpListener,
    access: Arc<Access>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(crate::metrics::GrpcMetricsLayer)
        .layer(AccessLayer(access))
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await
}
