//! The shared gRPC contracts of amtstermin and the little glue every service
//! needs around them: error codes on statuses, timestamps, health and
//! reflection, logging and shutdown.

pub mod availability {
    pub mod v1 {
        tonic::include_proto!("amtstermin.availability.v1");
    }
}

pub mod booking {
    pub mod v1 {
        tonic::include_proto!("amtstermin.booking.v1");
    }
}

pub mod calendar;
pub mod client;
#[cfg(feature = "database")]
pub mod database;
pub mod german;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod timestamp;

/// Encoded descriptors of every amtstermin `.proto`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("amtstermin_descriptor");
