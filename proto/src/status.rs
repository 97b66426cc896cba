//! Stable, documented error codes carried next to the gRPC status code.
//!
//! gRPC codes are coarse (`FAILED_PRECONDITION` covers many situations), so
//! every status we send also carries the machine-readable code the gateway
//! puts into its JSON error body, in the `amtstermin-error-code` metadata.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

pub const ERROR_CODE_METADATA: &str = "amtstermin-error-code";

/// A status with a stable error code attached.
pub fn with_error_code(code: Code, error_code: &str, message: impl Into<String>) -> Status {
    let mut status = Status::new(code, message);
    // Our codes are plain ASCII words; anything else is simply not attached.
    if let Ok(value) = MetadataValue::try_from(error_code) {
        status.metadata_mut().insert(ERROR_CODE_METADATA, value);
    }
    status
}

/// The stable error code of a status, if the peer attached one.
pub fn error_code(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(ERROR_CODE_METADATA)
        .and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_code_travels_with_the_status() {
        let status = with_error_code(Code::Aborted, "slot_taken", "taken");
        assert_eq!(error_code(&status), Some("slot_taken"));
        assert_eq!(error_code(&Status::internal("x")), None);
    }
}
