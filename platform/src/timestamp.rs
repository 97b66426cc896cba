//! Conversions between protobuf timestamps and `chrono` instants (always UTC).

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

pub fn to_proto(instant: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// `None` for a timestamp outside chrono's range or with invalid nanos.
pub fn from_proto(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).expect("valid");
        assert_eq!(from_proto(&to_proto(now)), Some(now));
        assert_eq!(from_proto(&Timestamp { seconds: 0, nanos: -1 }), None);
        assert_eq!(
            from_proto(&Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }
}
