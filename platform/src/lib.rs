//! amtstermin's platform: the glue every process needs around the gRPC
//! contracts of `amtstermin-proto`, written once. Servers (health,
//! reflection, TCP_NODELAY), client channels, the stable error codes with
//! their gRPC and HTTP statuses, timestamps, logging and shutdown, and (with
//! the `database` feature) the database pools of the services that own
//! tables.

#[cfg(feature = "allocator")]
pub mod allocator;
pub mod auth;
pub mod client;
pub mod contact;
#[cfg(feature = "database")]
pub mod database;
pub mod error_code;
pub mod metrics;
#[cfg(feature = "qr")]
pub mod qr;
pub mod server;
pub mod telemetry;
pub mod timestamp;

pub use error_code::ErrorCode;

/// Bytes as lower-case hexadecimal text.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}
