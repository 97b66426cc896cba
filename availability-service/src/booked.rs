//! The booked intervals, asked from the booking service over gRPC: the two
//! services never read each other's tables.

use amtstermin_proto::booking::v1::ListBookedIntervalsRequest;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::timestamp;
use chrono::{DateTime, Utc};
use tonic::transport::Channel;

use crate::catalogue::Office;
use crate::error::Error;
use crate::slots::Booked;

#[derive(Clone, Debug)]
pub struct BookedIntervals {
    client: BookingServiceClient<Channel>,
}

impl BookedIntervals {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: BookingServiceClient::new(channel),
        }
    }

    /// Active bookings of `office` overlapping [from, to). Intervals on
    /// counters the configuration no longer knows are left out.
    pub async fn between(&self, office: &Office, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Booked>, Error> {
        let request = ListBookedIntervalsRequest {
            office_id: office.id.clone(),
            from: Some(timestamp::to_proto(from)),
            to: Some(timestamp::to_proto(to)),
        };
        let response = self
            .client
            .clone()
            .list_booked_intervals(request)
            .await
            .map_err(Error::BookingsUnavailable)?;
        Ok(response
            .into_inner()
            .intervals
            .iter()
            .filter_map(|interval| {
                Some(Booked {
                    counter: office.counter_index(&interval.counter_id)?,
                    start: timestamp::from_proto(interval.start.as_ref()?)?,
                    end: timestamp::from_proto(interval.end.as_ref()?)?,
                })
            })
            .collect())
    }
}
