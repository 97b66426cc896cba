//! What every amtstermin gRPC server exposes besides its own service: the
//! standard health service and reflection in both protocol versions (grpcurl
//! speaks v1, many grpcio clients still speak v1alpha).

use tonic::service::RoutesBuilder;
use tonic_health::server::HealthReporter;

/// Adds health and reflection to `routes` and returns the health reporter,
/// whose services start as NOT_SERVING.
pub fn standard_services(routes: &mut RoutesBuilder) -> Result<HealthReporter, tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    routes
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    Ok(reporter)
}
