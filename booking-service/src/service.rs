//! The gRPC face of the booking service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::{Channel as ProtoChannel, CheckStartRequest};
use amtstermin_proto::booking::v1 as pb;
use amtstermin_proto::booking::v1::booking_service_server::BookingService;
use amtstermin_proto::timestamp;
use chrono::Utc;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::bookings::{self, Booking, Citizen, Idempotency, IdempotencyKey, NewBooking};
use crate::changes::{self, ChangeFeed, ChangeStream};
use crate::error::Error;
use crate::store::{BookingStore, Reservation};

/// How often a reservation may draw a new code after a collision (40-bit
/// codes collide about never; this only bounds the loop).
const CODE_ATTEMPTS: usize = 5;

pub struct Bookings {
    store: Arc<dyn BookingStore>,
    feed: ChangeFeed,
    availability: AvailabilityServiceClient<Channel>,
    /// Set once the database is reachable and migrated.
    ready: Arc<AtomicBool>,
}

impl Bookings {
    pub fn new(store: Arc<dyn BookingStore>, feed: ChangeFeed, availability: Channel, ready: Arc<AtomicBool>) -> Self {
        Self {
            store,
            feed,
            availability: AvailabilityServiceClient::new(availability),
            ready,
        }
    }

    fn store(&self) -> Result<&dyn BookingStore, Error> {
        if self.ready.load(Ordering::Acquire) {
            Ok(self.store.as_ref())
        } else {
            Err(Error::NotReady)
        }
    }

    /// The answer to a retry: the booking made under `key`, if any, provided
    /// the retry asks for the same thing.
    async fn replay(
        &self,
        office_id: &str,
        key: &IdempotencyKey,
        request_hash: &[u8],
    ) -> Result<Option<pb::CreateBookingResponse>, Error> {
        let Some((booking, idempotency)) = self
            .store()?
            .by_idempotency_key(office_id, &key.hash(office_id))
            .await?
        else {
            return Ok(None);
        };
        if idempotency.request_hash != request_hash {
            return Err(Error::IdempotencyKeyReused);
        }
        let token = key
            .unseal(office_id, &idempotency.token_sealed)
            .ok_or_else(|| Error::Internal("stored sealed token is malformed".to_owned()))?;
        Ok(Some(pb::CreateBookingResponse {
            booking: Some(to_proto(booking, 0)),
            token: bookings::token_to_string(&token),
            replayed: true,
        }))
    }

    async fn create(&self, request: pb::CreateBookingRequest) -> Result<pb::CreateBookingResponse, Error> {
        let start = request
            .start
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::Invalid {
                code: "invalid_start",
                message: "start must be a valid instant".to_owned(),
            })?;
        let citizen = Citizen::parse(&request.name, &request.email, &request.phone)?;
        let key = IdempotencyKey::parse(&request.idempotency_key)?;
        let office_id = request.office_id;
        let request_hash = bookings::request_hash(&office_id, &request.concern_ids, start, &citizen);
        if let Some(key) = &key
            && let Some(response) = self.replay(&office_id, key, &request_hash).await?
        {
            return Ok(response);
        }
        self.store()?;

        let check = self
            .availability
            .clone()
            .check_start(CheckStartRequest {
                office_id: office_id.clone(),
                concern_ids: request.concern_ids.clone(),
                start: Some(timestamp::to_proto(start)),
                channel: request.channel,
            })
            .await
            .map_err(Error::Availability)?
            .into_inner();
        let end = check
            .end
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::Internal("availability service sent no end".to_owned()))?;

        for _ in 0..CODE_ATTEMPTS {
            let token = bookings::new_token()?;
            let new = NewBooking {
                office_id: office_id.clone(),
                code: bookings::new_code()?,
                concern_ids: request.concern_ids.clone(),
                start,
                end,
                name: citizen.name.clone(),
                email: citizen.email.clone(),
                phone: citizen.phone.clone(),
                token_hash: bookings::token_hash(&bookings::token_to_string(&token)).unwrap_or_default(),
                idempotency: key.as_ref().map(|key| Idempotency {
                    key_hash: key.hash(&office_id),
                    request_hash: request_hash.clone(),
                    token_sealed: key.seal(&office_id, &token).to_vec(),
                }),
                channel: channel(request.channel),
                created_at: Utc::now(),
            };
            match self.store()?.reserve(&new, &check.counter_ids).await? {
                Reservation::Created { booking, sequence } => {
                    self.feed.committed();
                    tracing::info!(office = %booking.office_id, code = %booking.code, counter = %booking.counter_id, "booked");
                    return Ok(pb::CreateBookingResponse {
                        booking: Some(to_proto(booking, sequence)),
                        token: bookings::token_to_string(&token),
                        replayed: false,
                    });
                }
                Reservation::AllTaken => return Err(Error::SlotTaken),
                Reservation::CodeTaken => continue,
                Reservation::KeyTaken => {
                    // A concurrent retry with the same key won the race.
                    let key = key
                        .as_ref()
                        .ok_or_else(|| Error::Internal("key conflict without a key".to_owned()))?;
                    return self
                        .replay(&office_id, key, &request_hash)
                        .await?
                        .ok_or_else(|| Error::Internal("idempotent booking vanished".to_owned()));
                }
            }
        }
        Err(Error::Internal("no free booking code found".to_owned()))
    }

    /// The booking a code and token grant access to; NOT_FOUND alike for
    /// unknown codes, wrong tokens and malformed input.
    fn credentials(code: &str, token: &str) -> Result<(String, Vec<u8>), Error> {
        let code = bookings::normalise_code(code).ok_or(Error::NotFound)?;
        let token_hash = bookings::token_hash(token).ok_or(Error::NotFound)?;
        Ok((code, token_hash))
    }
}

fn channel(value: i32) -> bookings::Channel {
    match ProtoChannel::try_from(value) {
        Ok(ProtoChannel::Foyer) => bookings::Channel::Foyer,
        Ok(ProtoChannel::Phone) => bookings::Channel::Phone,
        _ => bookings::Channel::Online,
    }
}

fn to_proto(booking: Booking, sequence: u64) -> pb::Booking {
    pb::Booking {
        code: booking.code,
        office_id: booking.office_id,
        concern_ids: booking.concern_ids,
        start: Some(timestamp::to_proto(booking.start)),
        end: Some(timestamp::to_proto(booking.end)),
        status: match booking.status {
            bookings::Status::Booked => pb::BookingStatus::Booked,
            bookings::Status::Cancelled => pb::BookingStatus::Cancelled,
        }
        .into(),
        counter_id: booking.counter_id,
        name: booking.name,
        email: booking.email,
        phone: booking.phone,
        created_at: Some(timestamp::to_proto(booking.created_at)),
        channel: match booking.channel {
            bookings::Channel::Online => ProtoChannel::Online,
            bookings::Channel::Foyer => ProtoChannel::Foyer,
            bookings::Channel::Phone => ProtoChannel::Phone,
        }
        .into(),
        sequence,
    }
}

#[tonic::async_trait]
impl BookingService for Bookings {
    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn create_booking(
        &self,
        request: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        Ok(Response::new(self.create(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_booking(&self, request: Request<pb::GetBookingRequest>) -> Result<Response<pb::Booking>, Status> {
        let (code, token_hash) = Self::credentials(&request.get_ref().code, &request.get_ref().token)?;
        let booking = self.store()?.get(&code, &token_hash).await?.ok_or(Error::NotFound)?;
        Ok(Response::new(to_proto(booking, 0)))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_booking(
        &self,
        request: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let (code, token_hash) = Self::credentials(&request.get_ref().code, &request.get_ref().token)?;
        let (booking, sequence) = self
            .store()?
            .cancel(&code, &token_hash, Utc::now())
            .await?
            .ok_or(Error::NotFound)?;
        if sequence.is_some() {
            self.feed.committed();
            tracing::info!(office = %booking.office_id, code = %booking.code, "cancelled");
        }
        Ok(Response::new(to_proto(booking, sequence.unwrap_or(0))))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_booked_intervals(
        &self,
        request: Request<pb::ListBookedIntervalsRequest>,
    ) -> Result<Response<pb::ListBookedIntervalsResponse>, Status> {
        let request = request.into_inner();
        let instant = |field: &str, value: Option<&prost_types::Timestamp>| {
            value.and_then(timestamp::from_proto).ok_or_else(|| Error::Invalid {
                code: "invalid_argument",
                message: format!("{field} must be a valid instant"),
            })
        };
        let from = instant("from", request.from.as_ref())?;
        let to = instant("to", request.to.as_ref())?;
        let intervals = self.store()?.booked_intervals(&request.office_id, from, to).await?;
        Ok(Response::new(pb::ListBookedIntervalsResponse {
            intervals: intervals.into_iter().map(changes::to_proto).collect(),
        }))
    }

    type WatchBookingsStream = ChangeStream;

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn watch_bookings(
        &self,
        request: Request<pb::WatchBookingsRequest>,
    ) -> Result<Response<Self::WatchBookingsStream>, Status> {
        self.store()?;
        let request = request.into_inner();
        if request.office_id.is_empty() {
            return Err(Error::Invalid {
                code: "invalid_argument",
                message: "office_id is required".to_owned(),
            }
            .into());
        }
        tracing::debug!(after = request.after_sequence, "change feed opened");
        Ok(Response::new(
            self.feed.watch(request.office_id, request.after_sequence),
        ))
    }
}
