//! The gRPC face of the booking service.

mod feeds;
mod staff;
mod waitlist;
mod webhooks;

use amtstermin_platform::auth::{Scope, Scopes};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::{Channel as ProtoChannel, CheckStartRequest, ListSlotsRequest};
use amtstermin_proto::booking::v1 as pb;
use amtstermin_proto::booking::v1::booking_service_server::BookingService;
use chrono::Utc;
use tonic::{Request, Response, Status};

use crate::bookings::{self, Booking, Citizen, Idempotency, IdempotencyKey, NewBooking, Status as BookingStatus};
use crate::changes::{ChangeFeed, ChangeStream};
use amtstermin_platform::ErrorCode;

use crate::error::Error;
use crate::notifications::{MailKind, MailPolicy};
use crate::statistics;
use crate::store::{BookingStore, Move, MoveRequest, Reservation, StatusChange, StatusRequest, WaitingNumber};

/// How often a reservation may draw a new code after a collision (40-bit
/// codes collide about never; this only bounds the loop).
const CODE_ATTEMPTS: usize = 5;
/// How far ahead a walk-in is booked at most.
const WALK_IN_DAYS: i64 = 14;
/// How often unconfirmed bookings past their deadline are looked for.
const UNCONFIRMED_CHECK: std::time::Duration = std::time::Duration::from_secs(5);
/// How many free starts a walk-in tries when other desks take them first.
const WALK_IN_ATTEMPTS: usize = 5;

#[derive(Clone)]
pub struct Bookings {
    store: Arc<dyn BookingStore>,
    feed: ChangeFeed,
    availability: AvailabilityServiceClient<Channel>,
    /// Set once the database is reachable and migrated.
    ready: Arc<AtomicBool>,
    mail: MailPolicy,
    /// Wakes the mail worker after a change queued mails.
    outboxes: Outboxes,
    /// Days after an appointment until its personal data is erased.
    retention_days: u32,
    /// The offices' configuration (time zone, waiting-number prefixes).
    catalogues: amtstermin_catalogue::Catalogues,
}

/// Wakes the workers of the outboxes a change may have written to (mails,
/// webhook deliveries); each also looks by itself now and then.
#[derive(Clone, Default)]
pub struct Outboxes {
    pub mail: Arc<tokio::sync::Notify>,
    pub hooks: Arc<tokio::sync::Notify>,
}

impl Outboxes {
    pub fn written(&self) {
        self.mail.notify_one();
        self.hooks.notify_one();
    }
}

impl Bookings {
    pub fn new(
        store: Arc<dyn BookingStore>,
        feed: ChangeFeed,
        availability: Channel,
        ready: Arc<AtomicBool>,
        mail: MailPolicy,
        outboxes: Outboxes,
        retention_days: u32,
    ) -> Self {
        Self {
            store,
            feed,
            availability: AvailabilityServiceClient::new(availability.clone()),
            catalogues: amtstermin_catalogue::Catalogues::new(availability),
            ready,
            mail,
            outboxes,
            retention_days,
        }
    }

    /// After a committed change: wake the mail worker and, when it logged
    /// change `sequence` of the office, the change feeds.
    fn committed(&self, office_id: &str, sequence: Option<u64>) {
        if let Some(sequence) = sequence {
            self.feed.committed(office_id, sequence);
        }
        self.outboxes.written();
    }

    fn store(&self) -> Result<&dyn BookingStore, Error> {
        if self.ready.load(Ordering::Acquire) {
            Ok(self.store.as_ref())
        } else {
            Err(Error::NotReady)
        }
    }

    /// The booking made under `key`, with its token and the hash of the
    /// request that made it.
    async fn made_with(
        &self,
        office_id: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<(pb::CreateBookingResponse, Vec<u8>)>, Error> {
        let Some((booking, idempotency)) = self
            .store()?
            .by_idempotency_key(office_id, &key.hash(office_id))
            .await?
        else {
            return Ok(None);
        };
        let token = key
            .unseal(office_id, &idempotency.token_sealed)
            .ok_or_else(|| Error::Internal("stored sealed token is malformed".to_owned()))?;
        let response = pb::CreateBookingResponse {
            booking: Some(to_proto(booking, 0)),
            token: bookings::token_to_string(&token),
            replayed: true,
        };
        Ok(Some((response, idempotency.request_hash)))
    }

    /// The answer to a retry: the booking made under `key`, if any, provided
    /// the retry asks for the same thing.
    async fn replay(
        &self,
        office_id: &str,
        key: &IdempotencyKey,
        request_hash: &[u8],
    ) -> Result<Option<pb::CreateBookingResponse>, Error> {
        match self.made_with(office_id, key).await? {
            Some((_, made)) if made != request_hash => Err(Error::IdempotencyKeyReused),
            Some((response, _)) => Ok(Some(response)),
            None => Ok(None),
        }
    }

    async fn create(&self, request: pb::CreateBookingRequest) -> Result<pb::CreateBookingResponse, Error> {
        let start = request
            .start
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::Invalid {
                code: ErrorCode::InvalidStart,
                message: "start must be a valid instant".to_owned(),
            })?;
        let staff_booking = matches!(
            ProtoChannel::try_from(request.channel),
            Ok(ProtoChannel::Foyer | ProtoChannel::Phone)
        );
        let citizen = if staff_booking {
            Citizen::parse_walk_in(&request.name, &request.email, &request.phone)?
        } else {
            Citizen::parse(&request.name, &request.email, &request.phone)?
        };
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
                exclude_booking_code: String::new(),
            })
            .await
            .map_err(Error::Availability)?
            .into_inner();
        let channel = channel(request.channel);
        // The limit keeps bots and hoarders off the public website; staff
        // booking on someone's behalf are not limited.
        let limit = (channel == bookings::Channel::Online && check.max_active_bookings_per_email > 0)
            .then_some(check.max_active_bookings_per_email);
        // So are the addresses scripts book from: a daily quota per address.
        let quota = (channel == bookings::Channel::Online
            && check.max_online_bookings_per_address_per_day > 0
            && !request.client_address.trim().is_empty())
        .then(|| {
            bookings::ClientQuota::new(
                &office_id,
                &request.client_address,
                check.max_online_bookings_per_address_per_day,
            )
        });
        // Offices that want it hold online bookings until the link in the
        // mail is followed.
        let confirm_by = (channel == bookings::Channel::Online
            && check.confirm_by_email_minutes > 0
            && self.mail.enabled
            && !citizen.email.is_empty())
        .then(|| Utc::now() + chrono::TimeDelta::minutes(i64::from(check.confirm_by_email_minutes)));
        // The secret of the confirmation link travels only in the mail: the
        // booking's own token (in this answer) cannot confirm it.
        let confirmation = match confirm_by {
            Some(by) => {
                let secret = bookings::token_to_string(&bookings::new_token()?);
                let hash = bookings::token_hash(&secret).unwrap_or_default();
                Some((by, secret, hash))
            }
            None => None,
        };
        let actor = match channel {
            bookings::Channel::Online => "citizen".to_owned(),
            _ => staff_actor(&request.actor)?,
        };
        let end = check
            .end
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::Internal("availability service sent no end".to_owned()))?;

        for _ in 0..CODE_ATTEMPTS {
            let token = bookings::new_token()?;
            let now = Utc::now();
            let token_text = bookings::token_to_string(&token);
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
                channel,
                actor: actor.clone(),
                language: bookings::parse_language(&request.language),
                notifications: if citizen.email.is_empty() {
                    Vec::new()
                } else {
                    // A pending booking's mail carries both secrets.
                    let secrets = match &confirmation {
                        Some((_, secret, _)) => format!("{token_text}:{secret}"),
                        None => token_text,
                    };
                    self.mail.plan(MailKind::Confirmation, start, Some(secrets), now)?
                },
                created_at: now,
                quota: quota.clone(),
                confirm_by: confirmation.as_ref().map(|(by, _, hash)| (*by, hash.clone())),
            };
            match self.store()?.reserve(&new, &check.counter_ids, limit).await? {
                Reservation::Created { booking, sequence } => {
                    self.committed(&booking.office_id, Some(sequence));
                    tracing::info!(office = %booking.office_id, code = %booking.code, counter = %booking.counter_id, "booked");
                    return Ok(pb::CreateBookingResponse {
                        booking: Some(to_proto(booking, sequence)),
                        token: bookings::token_to_string(&token),
                        replayed: false,
                    });
                }
                Reservation::AllTaken => return Err(Error::SlotTaken),
                Reservation::LimitReached => {
                    return Err(Error::LimitReached {
                        limit: check.max_active_bookings_per_email,
                    });
                }
                Reservation::QuotaReached { retry_after } => {
                    return Err(Error::QuotaReached {
                        limit: check.max_online_bookings_per_address_per_day,
                        retry_after,
                    });
                }
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

    /// Books a walk-in on the next free start from now: the starts the
    /// availability service offers the staff channel, tried in order, so a
    /// start another desk takes a moment earlier only costs a retry.
    async fn next_free(&self, request: pb::BookNextFreeRequest) -> Result<pb::CreateBookingResponse, Error> {
        let channel = match ProtoChannel::try_from(request.channel) {
            Ok(ProtoChannel::Phone) => ProtoChannel::Phone,
            _ => ProtoChannel::Foyer,
        };
        let last_day = if request.today_only {
            let office = self
                .catalogues
                .office(&request.office_id)
                .await
                .map_err(Error::Availability)?;
            Utc::now().with_timezone(&office.timezone()).date_naive()
        } else {
            (Utc::now() + chrono::TimeDelta::days(WALK_IN_DAYS)).date_naive()
        };
        let days = (String::new(), last_day.to_string());
        let starts = self
            .free_starts(&request.office_id, &request.concern_ids, days, channel)
            .await?;
        for start in starts.into_iter().take(WALK_IN_ATTEMPTS) {
            let attempt = self
                .create(pb::CreateBookingRequest {
                    office_id: request.office_id.clone(),
                    concern_ids: request.concern_ids.clone(),
                    start: Some(start),
                    name: request.name.clone(),
                    email: request.email.clone(),
                    phone: request.phone.clone(),
                    idempotency_key: String::new(),
                    channel: channel.into(),
                    actor: request.actor.clone(),
                    client_address: String::new(),
                    // A walk-in reads the desk's ticket; mails, if any, in German.
                    language: String::new(),
                })
                .await;
            match attempt {
                Err(error) if matches!(error.code(), ErrorCode::SlotTaken | ErrorCode::SlotUnavailable) => {}
                outcome => return outcome,
            }
        }
        Err(Error::NothingFree)
    }

    /// The booking a code and token grant access to; NOT_FOUND alike for
    /// unknown codes, wrong tokens and malformed input.
    async fn by_token(&self, code: &str, token: &str) -> Result<Booking, Error> {
        let code = bookings::normalise_code(code).ok_or(Error::NotFound)?;
        let token_hash = bookings::token_hash(token).ok_or(Error::NotFound)?;
        self.store()?.get(&code, &token_hash).await?.ok_or(Error::NotFound)
    }

    /// A booking of an office, by code (for staff).
    async fn by_code(&self, office_id: &str, code: &str) -> Result<Booking, Error> {
        let code = bookings::normalise_code(code).ok_or(Error::NotFound)?;
        self.store()?.find(office_id, &code).await?.ok_or(Error::NotFound)
    }

    async fn change_status(
        &self,
        booking: &Booking,
        to: BookingStatus,
        actor: &str,
        note: Option<&str>,
    ) -> Result<pb::Booking, Error> {
        let notifications = match to {
            BookingStatus::Cancelled => self.cancelling(booking).await?.1,
            _ => Vec::new(),
        };
        self.set_status(booking, to, (actor, note), &notifications).await
    }

    /// The free starts for `concern_ids` in an office on the local days
    /// `from` to `to` ("YYYY-MM-DD"; an empty `from`: today), as `channel`
    /// sees them, earliest first.
    async fn free_starts(
        &self,
        office_id: &str,
        concern_ids: &[String],
        (from, to): (String, String),
        channel: ProtoChannel,
    ) -> Result<Vec<prost_types::Timestamp>, Error> {
        let slots = self
            .availability
            .clone()
            .list_slots(ListSlotsRequest {
                office_id: office_id.to_owned(),
                concern_ids: concern_ids.to_vec(),
                from_date: from,
                to_date: to,
                channel: channel.into(),
                explain_unavailable_days: false,
            })
            .await
            .map_err(Error::Availability)?
            .into_inner();
        Ok(slots
            .days
            .iter()
            .flat_map(|day| &day.slots)
            .filter_map(|slot| slot.start)
            .collect())
    }

    /// Whether `booking` is the hold of a waitlist offer, and the mails its
    /// cancellation sends: none for a hold (the offer said until when) or
    /// a booking without an address.
    async fn cancelling(&self, booking: &Booking) -> Result<(bool, Vec<crate::notifications::Notification>), Error> {
        let hold = self
            .store()?
            .offer_of_hold(&booking.office_id, &booking.code)
            .await?
            .is_some();
        let notifications = if hold || booking.email.is_empty() {
            Vec::new()
        } else {
            self.mail.plan(MailKind::Cancelled, booking.start, None, Utc::now())?
        };
        Ok((hold, notifications))
    }

    /// Moves `booking` to `to`, recording `actor` and `note`, and queues
    /// `notifications` with the change.
    async fn set_status(
        &self,
        booking: &Booking,
        to: BookingStatus,
        (actor, note): (&str, Option<&str>),
        notifications: &[crate::notifications::Notification],
    ) -> Result<pb::Booking, Error> {
        let now = Utc::now();
        // Arriving draws a waiting number of the appointment's local day.
        let waiting = match to {
            BookingStatus::CheckedIn => {
                let office = self
                    .catalogues
                    .office(&booking.office_id)
                    .await
                    .map_err(Error::Availability)?;
                let day = booking.start.with_timezone(&office.timezone()).date_naive().to_string();
                let prefix = if booking.channel == bookings::Channel::Foyer {
                    office.office.waiting_prefix_walk_in.clone()
                } else {
                    office.office.waiting_prefix_booked.clone()
                };
                Some((day, prefix))
            }
            _ => None,
        };
        let handover = match to {
            BookingStatus::Cancelled => self.handover(&booking.office_id).await,
            _ => None,
        };
        let request = StatusRequest {
            handover: handover.as_ref(),
            office_id: &booking.office_id,
            code: &booking.code,
            waiting: waiting.as_ref().map(|(day, prefix)| WaitingNumber { day, prefix }),
            to,
            actor,
            detail: note,
            at: now,
            notifications,
        };
        match self.store()?.change_status(request).await? {
            StatusChange::Changed { booking, sequence } => {
                self.committed(&booking.office_id, sequence);
                tracing::info!(office = %booking.office_id, code = %booking.code, status = to.as_str(), "status changed");
                Ok(to_proto(booking, sequence.unwrap_or(0)))
            }
            StatusChange::Unchanged(booking) => Ok(to_proto(booking, 0)),
            StatusChange::Refused(booking) => Err(Error::InvalidTransition {
                from: booking.status.as_str(),
                to: to.as_str(),
            }),
            StatusChange::NotFound => Err(Error::NotFound),
        }
    }

    /// Where the office wants it: mails those who arrived and wait at
    /// `counter_id` with at most two ahead of them, once each ("Sie sind
    /// gleich dran"), so they can wait outside the foyer.
    async fn mail_the_next(
        &self,
        office: &amtstermin_catalogue::OfficeCatalogue,
        counter_id: &str,
    ) -> Result<(), Error> {
        if !self.mail.enabled || !office.office.mail_when_two_ahead {
            return Ok(());
        }
        let store = self.store()?;
        let waiting = waiting_at(store, office, counter_id).await?;
        let mut queued = false;
        for booking in waiting.iter().take(3).filter(|booking| !booking.email.is_empty()) {
            let mail = crate::notifications::Notification::new(MailKind::Soon, Utc::now(), None)?;
            queued |= store.queue_soon_mail(&booking.office_id, &booking.code, &mail).await?;
        }
        if queued {
            self.outboxes.written();
        }
        Ok(())
    }

    /// Releases the pending bookings nobody confirmed in time (and the holds
    /// of offers not accepted in time) and draws the waitlist's lotteries,
    /// for as long as the process runs (every replica; the database decides
    /// who wins).
    pub async fn release_unconfirmed(self) {
        loop {
            if let Err(error) = self.release_unconfirmed_once().await {
                tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "cannot release unconfirmed bookings");
            }
            if let Err(error) = self.draw_lotteries().await {
                tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "cannot draw the waitlist's lotteries");
            }
            tokio::time::sleep(UNCONFIRMED_CHECK).await;
        }
    }

    async fn release_unconfirmed_once(&self) -> Result<(), Error> {
        let store = self.store()?;
        for (office_id, code) in store.expired_pending(Utc::now(), 100).await? {
            let Some(booking) = store.find(&office_id, &code).await? else {
                continue;
            };
            let (hold, notifications) = self.cancelling(&booking).await?;
            let why = if hold {
                "waitlist offer not accepted in time"
            } else {
                "not confirmed in time"
            };
            // Another replica (or the citizen, just in time) may have come
            // first; the row lock and the status decide who.
            let by = ("system", Some(why));
            match self
                .set_status(&booking, BookingStatus::Cancelled, by, &notifications)
                .await
            {
                Ok(_) => tracing::info!(office = %office_id, code = %code, "unconfirmed booking released"),
                Err(Error::InvalidTransition { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Moves `booking` to `start` if that is an open slot for it.
    async fn move_to(
        &self,
        booking: Booking,
        start: Option<&prost_types::Timestamp>,
        channel: ProtoChannel,
        actor: &str,
        token: Option<String>,
    ) -> Result<pb::Booking, Error> {
        let start = start.and_then(timestamp::from_proto).ok_or_else(|| Error::Invalid {
            code: ErrorCode::InvalidStart,
            message: "start must be a valid instant".to_owned(),
        })?;
        if booking.status != BookingStatus::Booked {
            return Err(Error::NotMovable(booking.status.as_str()));
        }
        let check = self
            .availability
            .clone()
            .check_start(CheckStartRequest {
                office_id: booking.office_id.clone(),
                concern_ids: booking.concern_ids.clone(),
                start: Some(timestamp::to_proto(start)),
                channel: channel.into(),
                exclude_booking_code: booking.code.clone(),
            })
            .await
            .map_err(Error::Availability)?
            .into_inner();
        let end = check
            .end
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::Internal("availability service sent no end".to_owned()))?;
        let now = Utc::now();
        let notifications = if booking.email.is_empty() {
            Vec::new()
        } else {
            self.mail.plan(MailKind::Rescheduled, start, token, now)?
        };
        let handover = self.handover(&booking.office_id).await;
        let request = MoveRequest {
            handover: handover.as_ref(),
            office_id: &booking.office_id,
            code: &booking.code,
            start,
            end,
            counters: &check.counter_ids,
            actor,
            at: now,
            notifications: &notifications,
        };
        match self.store()?.reschedule(request).await? {
            Move::Moved { booking, sequence } => {
                self.committed(&booking.office_id, Some(sequence));
                tracing::info!(office = %booking.office_id, code = %booking.code, counter = %booking.counter_id, "moved");
                Ok(to_proto(booking, sequence))
            }
            Move::Refused(booking) => Err(Error::NotMovable(booking.status.as_str())),
            Move::AllTaken => Err(Error::SlotTaken),
            Move::NotFound => Err(Error::NotFound),
        }
    }
}

/// The history's name for a member of staff: "staff" or "staff:<id>".
fn staff_actor(id: &str) -> Result<String, Error> {
    let id = id.trim();
    if id.is_empty() {
        return Ok("staff".to_owned());
    }
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidActor,
            message: "actor must be up to 64 characters of letters, digits and . _ - @".to_owned(),
        });
    }
    Ok(format!("staff:{id}"))
}

/// Who acts in an admin call: the caller's name for it, else "admin".
fn admin_actor(text: &str) -> String {
    match text.trim() {
        "" => "admin".to_owned(),
        actor => actor.chars().take(100).collect(),
    }
}

impl Bookings {
    /// Records an event of each office in the audit log; a failure is
    /// logged, the action it reports stands.
    async fn audit(&self, offices: &[String], (actor, action): (&str, &str), subject: &str) {
        let now = Utc::now();
        let events: Result<Vec<_>, Error> = offices
            .iter()
            .map(|office| crate::audit::event(office, (actor, action), subject, now))
            .collect();
        let recorded = match (events, self.store()) {
            (Ok(events), Ok(store)) => store.record_audit(&events).await,
            (Err(error), _) | (_, Err(error)) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::error!(error = %error, action, "an audit event was not recorded");
        }
    }
}

/// The most audit events one answer lists.
const MAX_AUDIT_EVENTS: u32 = 5000;

/// A desk session id: 32 hex digits, as the gateway makes them.
fn session_id(id: &str) -> Result<&str, Error> {
    if id.len() == 32 && id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(Error::Invalid {
            code: ErrorCode::InvalidArgument,
            message: "session_id must be 32 hex digits".to_owned(),
        })
    }
}

/// How often a board being watched is read again.
const BOARD_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The local days `first` to `last` of time zone `tz` as instants: from the
/// first's midnight to the midnight after the last.
fn local_days(
    tz: chrono_tz::Tz,
    first: chrono::NaiveDate,
    last: chrono::NaiveDate,
) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), Error> {
    let midnight = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|local| local.and_local_timezone(tz).earliest())
            .map(|instant| instant.with_timezone(&Utc))
            .ok_or_else(|| Error::Internal(format!("no midnight on {day}")))
    };
    let after = last
        .succ_opt()
        .ok_or_else(|| Error::Internal(format!("no day after {last}")))?;
    Ok((midnight(first)?, midnight(after)?))
}

/// The office's bookings of its local today, any status.
async fn todays_bookings(
    store: &dyn BookingStore,
    office: &amtstermin_catalogue::OfficeCatalogue,
) -> Result<Vec<Booking>, Error> {
    let tz = office.timezone();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (from, to) = local_days(tz, today, today)?;
    store.list(office.id(), from, to).await
}

/// Who arrived today and waits at `counter_id`, in calling order.
async fn waiting_at(
    store: &dyn BookingStore,
    office: &amtstermin_catalogue::OfficeCatalogue,
    counter_id: &str,
) -> Result<Vec<Booking>, Error> {
    let mut waiting: Vec<Booking> = todays_bookings(store, office)
        .await?
        .into_iter()
        .filter(|booking| booking.status == BookingStatus::CheckedIn && booking.counter_id == counter_id)
        .collect();
    waiting.sort_by_key(call_order);
    Ok(waiting)
}

/// The board of an office today: who is called, who waits, and about how
/// long (the waiting appointments' minutes spread over the counters).
async fn board(store: &dyn BookingStore, office: &amtstermin_catalogue::OfficeCatalogue) -> Result<pb::Board, Error> {
    let bookings = todays_bookings(store, office).await?;
    let mut called: Vec<&Booking> = bookings
        .iter()
        .filter(|booking| booking.status == BookingStatus::Called && booking.waiting_number.is_some())
        .collect();
    called.sort_by_key(|booking| std::cmp::Reverse((booking.called_at, call_order(booking))));
    let mut waiting: Vec<&Booking> = bookings
        .iter()
        .filter(|booking| booking.status == BookingStatus::CheckedIn && booking.waiting_number.is_some())
        .collect();
    waiting.sort_by_key(|booking| call_order(booking));
    let minutes: i64 = waiting
        .iter()
        .map(|booking| (booking.end - booking.start).num_minutes())
        .sum();
    let counters = office.catalogue.counters.len().max(1) as i64;
    Ok(pb::Board {
        called: called
            .iter()
            .take(6)
            .map(|booking| pb::CalledNumber {
                number: booking.waiting_number.clone().unwrap_or_default(),
                counter_id: booking.counter_id.clone(),
                called_at: booking.called_at.map(timestamp::to_proto),
            })
            .collect(),
        waiting: waiting
            .iter()
            .map(|booking| booking.waiting_number.clone().unwrap_or_default())
            .collect(),
        estimated_wait_minutes: u32::try_from((minutes + counters - 1) / counters).unwrap_or(u32::MAX),
    })
}

/// How often `CallNext` looks again after another desk called its pick.
const CALL_ATTEMPTS: usize = 5;

/// The order of calling: booked appointments first, by their time; then
/// walk-ins, by their waiting number (that is, by arrival).
fn call_order(booking: &Booking) -> (bool, chrono::DateTime<Utc>, u32) {
    if booking.channel == bookings::Channel::Foyer {
        let number = booking
            .waiting_number
            .as_deref()
            .and_then(|label| label.rsplit_once('-'))
            .and_then(|(_, digits)| digits.parse().ok())
            .unwrap_or(u32::MAX);
        (true, chrono::DateTime::<Utc>::MIN_UTC, number)
    } else {
        (false, booking.start, 0)
    }
}

fn statistics_row(row: statistics::Row) -> pb::StatisticsRow {
    let figures = &row.figures;
    pb::StatisticsRow {
        period_start: row.period_start.format("%Y-%m-%d").to_string(),
        scope: row.scope.kind().to_owned(),
        key: row.scope.key().to_owned(),
        bookings: figures.bookings,
        online: figures.online,
        phone: figures.phone,
        walk_ins: figures.walk_ins,
        cancelled: figures.cancelled,
        no_shows: figures.no_shows,
        completed: figures.completed,
        no_show_rate: figures.no_show_rate(),
        average_lead_time_hours: figures.lead_time_hours.value(),
        average_wait_minutes: figures.wait_minutes.value(),
        average_service_minutes: figures.service_minutes.value(),
        booked_minutes: figures.booked_minutes,
        offered_minutes: figures.offered_minutes,
        utilisation: figures.utilisation(),
    }
}

fn status_to_proto(status: BookingStatus) -> pb::BookingStatus {
    match status {
        BookingStatus::Pending => pb::BookingStatus::Pending,
        BookingStatus::Booked => pb::BookingStatus::Booked,
        BookingStatus::CheckedIn => pb::BookingStatus::CheckedIn,
        BookingStatus::Called => pb::BookingStatus::Called,
        BookingStatus::Completed => pb::BookingStatus::Completed,
        BookingStatus::NoShow => pb::BookingStatus::NoShow,
        BookingStatus::Cancelled => pb::BookingStatus::Cancelled,
    }
}

fn status_from_proto(value: i32) -> Option<BookingStatus> {
    match pb::BookingStatus::try_from(value).ok()? {
        pb::BookingStatus::Pending => Some(BookingStatus::Pending),
        pb::BookingStatus::Booked => Some(BookingStatus::Booked),
        pb::BookingStatus::CheckedIn => Some(BookingStatus::CheckedIn),
        pb::BookingStatus::Called => Some(BookingStatus::Called),
        pb::BookingStatus::Completed => Some(BookingStatus::Completed),
        pb::BookingStatus::NoShow => Some(BookingStatus::NoShow),
        pb::BookingStatus::Cancelled => Some(BookingStatus::Cancelled),
        pb::BookingStatus::Unspecified => None,
    }
}

fn required_instant(field: &str, value: Option<&prost_types::Timestamp>) -> Result<chrono::DateTime<Utc>, Error> {
    value.and_then(timestamp::from_proto).ok_or_else(|| Error::Invalid {
        code: ErrorCode::InvalidArgument,
        message: format!("{field} must be a valid instant"),
    })
}

fn channel(value: i32) -> bookings::Channel {
    match ProtoChannel::try_from(value) {
        Ok(ProtoChannel::Foyer) => bookings::Channel::Foyer,
        Ok(ProtoChannel::Phone) => bookings::Channel::Phone,
        _ => bookings::Channel::Online,
    }
}

/// `amtstermin_bookings_total`: attempts by office, channel and outcome
/// ("booked", "replayed" or the error code, e.g. "slot_taken").
fn count_booking(office: &str, channel: bookings::Channel, created: &Result<pb::CreateBookingResponse, Error>) {
    let outcome = match created {
        Ok(response) if response.replayed => "replayed",
        Ok(_) => "booked",
        Err(error) => error.code().as_str(),
    };
    metrics::counter!(
        "amtstermin_bookings_total",
        "office" => office.to_owned(),
        "channel" => channel.as_str(),
        "outcome" => outcome
    )
    .increment(1);
}

fn to_proto(booking: Booking, sequence: u64) -> pb::Booking {
    pb::Booking {
        code: booking.code,
        office_id: booking.office_id,
        concern_ids: booking.concern_ids,
        start: Some(timestamp::to_proto(booking.start)),
        end: Some(timestamp::to_proto(booking.end)),
        status: status_to_proto(booking.status).into(),
        counter_id: booking.counter_id,
        name: booking.name,
        email: booking.email,
        phone: booking.phone,
        created_at: Some(timestamp::to_proto(booking.created_at)),
        confirm_by: booking.confirm_by.map(timestamp::to_proto),
        language: booking.language,
        waiting_number: booking.waiting_number.unwrap_or_default(),
        called_at: booking.called_at.map(timestamp::to_proto),
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
        // The staff channels skip the online rules (limits, lead time).
        let booking_channel = channel(request.get_ref().channel);
        if booking_channel != bookings::Channel::Online {
            Scopes::of_request(&request).require(Scope::Staff)?;
        }
        let office = request.get_ref().office_id.clone();
        let created = self.create(request.into_inner()).await;
        count_booking(&office, booking_channel, &created);
        Ok(Response::new(created?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_booking(&self, request: Request<pb::GetBookingRequest>) -> Result<Response<pb::Booking>, Status> {
        let booking = self.by_token(&request.get_ref().code, &request.get_ref().token).await?;
        Ok(Response::new(to_proto(booking, 0)))
    }

    #[tracing::instrument(skip_all)]
    async fn reschedule_booking(
        &self,
        request: Request<pb::RescheduleBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let booking = self.by_token(&request.code, &request.token).await?;
        let moved = self
            .move_to(
                booking,
                request.start.as_ref(),
                ProtoChannel::Online,
                "citizen",
                Some(request.token.clone()),
            )
            .await?;
        Ok(Response::new(moved))
    }

    async fn revoke_staff_session(
        &self,
        request: Request<pb::RevokeStaffSessionRequest>,
    ) -> Result<Response<pb::RevokeStaffSessionResponse>, Status> {
        let request = request.into_inner();
        let id = session_id(&request.session_id)?;
        let expires_at = required_instant("expires_at", request.expires_at.as_ref())?;
        self.store()?.revoke_session(id, expires_at).await?;
        Ok(Response::new(pb::RevokeStaffSessionResponse {}))
    }

    async fn check_staff_session(
        &self,
        request: Request<pb::CheckStaffSessionRequest>,
    ) -> Result<Response<pb::CheckStaffSessionResponse>, Status> {
        let id = session_id(&request.get_ref().session_id)?;
        let store = self.store()?;
        let revoked = store.session_revoked(id).await?;
        let account = match request.get_ref().login.trim() {
            "" => None,
            login => store
                .staff_account(login)
                .await?
                .map(|account| staff::to_proto(account, false)),
        };
        Ok(Response::new(pb::CheckStaffSessionResponse { revoked, account }))
    }

    async fn create_staff_account(
        &self,
        request: Request<pb::CreateStaffAccountRequest>,
    ) -> Result<Response<pb::StaffAccount>, Status> {
        Ok(Response::new(self.create_staff(request.into_inner()).await?))
    }

    async fn list_staff_accounts(
        &self,
        _request: Request<pb::ListStaffAccountsRequest>,
    ) -> Result<Response<pb::ListStaffAccountsResponse>, Status> {
        Ok(Response::new(self.staff_list().await?))
    }

    async fn get_staff_account(
        &self,
        request: Request<pb::GetStaffAccountRequest>,
    ) -> Result<Response<pb::StaffAccount>, Status> {
        Ok(Response::new(self.staff_with_hash(&request.get_ref().login).await?))
    }

    async fn update_staff_account(
        &self,
        request: Request<pb::UpdateStaffAccountRequest>,
    ) -> Result<Response<pb::StaffAccount>, Status> {
        Ok(Response::new(self.update_staff(request.into_inner()).await?))
    }

    async fn set_staff_password(
        &self,
        request: Request<pb::SetStaffPasswordRequest>,
    ) -> Result<Response<pb::StaffAccount>, Status> {
        Ok(Response::new(self.set_password(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn get_booking_by_idempotency_key(
        &self,
        request: Request<pb::GetBookingByIdempotencyKeyRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        let request = request.into_inner();
        let key = IdempotencyKey::parse(&request.idempotency_key)?.ok_or(Error::NotFound)?;
        let (response, _) = self.made_with(&request.office_id, &key).await?.ok_or(Error::NotFound)?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn call_next(&self, request: Request<pb::CallNextRequest>) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let actor = staff_actor(&request.actor)?;
        let office = self
            .catalogues
            .office(&request.office_id)
            .await
            .map_err(Error::Availability)?;
        if !office
            .catalogue
            .counters
            .iter()
            .any(|counter| counter.id == request.counter_id)
        {
            return Err(Error::UnknownCounter(request.counter_id).into());
        }
        // Someone else may call the same citizen meanwhile: then the next.
        for _ in 0..CALL_ATTEMPTS {
            let waiting = waiting_at(self.store()?, &office, &request.counter_id).await?;
            let Some(next) = waiting.first() else {
                return Err(Error::NobodyWaiting.into());
            };
            match self.change_status(next, BookingStatus::Called, &actor, None).await {
                Err(Error::InvalidTransition { .. }) => continue,
                outcome => {
                    let called = outcome?;
                    // The call stands whatever becomes of the mails.
                    if let Err(error) = self.mail_the_next(&office, &request.counter_id).await {
                        tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "cannot queue the almost-your-turn mails");
                    }
                    return Ok(Response::new(called));
                }
            }
        }
        Err(Error::NobodyWaiting.into())
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn recall_booking(
        &self,
        request: Request<pb::RecallBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let actor = staff_actor(&request.actor)?;
        let code = bookings::normalise_code(&request.code).ok_or(Error::NotFound)?;
        match self
            .store()?
            .recall(&request.office_id, &code, &actor, Utc::now())
            .await?
        {
            StatusChange::Changed { booking, .. } | StatusChange::Unchanged(booking) => {
                tracing::info!(office = %booking.office_id, code = %booking.code, "recalled");
                Ok(Response::new(to_proto(booking, 0)))
            }
            StatusChange::Refused(booking) => Err(Error::InvalidTransition {
                from: booking.status.as_str(),
                to: BookingStatus::Called.as_str(),
            }
            .into()),
            StatusChange::NotFound => Err(Error::NotFound.into()),
        }
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::Statistics>, Status> {
        let request = request.into_inner();
        let day = |field: &str, value: &str| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| Error::Invalid {
                code: ErrorCode::InvalidArgument,
                message: format!("{field} must be a date written YYYY-MM-DD, got {value:?}"),
            })
        };
        let (from, to) = (day("from", &request.from)?, day("to", &request.to)?);
        if from > to || (to - from).num_days() >= statistics::MAX_DAYS {
            return Err(Error::Invalid {
                code: ErrorCode::InvalidArgument,
                message: format!(
                    "from must not be after to, and the range at most {} days",
                    statistics::MAX_DAYS
                ),
            }
            .into());
        }
        let period = match pb::StatisticsPeriod::try_from(request.period) {
            Ok(pb::StatisticsPeriod::Week) => statistics::Period::Week,
            Ok(pb::StatisticsPeriod::Month) => statistics::Period::Month,
            Ok(pb::StatisticsPeriod::Range) => statistics::Period::Range(from),
            _ => statistics::Period::Day,
        };
        let office = self
            .catalogues
            .office(&request.office_id)
            .await
            .map_err(Error::Availability)?;
        let tz = office.timezone();
        let (start, end) = local_days(tz, from, to)?;
        let records = self.store()?.statistics_records(office.id(), start, end).await?;
        let offered = self
            .availability
            .clone()
            .get_offered_time(amtstermin_proto::availability::v1::GetOfferedTimeRequest {
                office_id: request.office_id.clone(),
                from: request.from.clone(),
                to: request.to.clone(),
            })
            .await
            .map_err(Error::Availability)?
            .into_inner()
            .offered
            .into_iter()
            .filter_map(|offered| {
                Some(statistics::Offered {
                    date: chrono::NaiveDate::parse_from_str(&offered.date, "%Y-%m-%d").ok()?,
                    counter_id: offered.counter_id,
                    minutes: offered.minutes,
                })
            })
            .collect::<Vec<_>>();
        let rows = statistics::compute(&records, &offered, tz, period);
        Ok(Response::new(pb::Statistics {
            rows: rows.into_iter().map(statistics_row).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn create_waitlist_entry(
        &self,
        request: Request<pb::CreateWaitlistEntryRequest>,
    ) -> Result<Response<pb::CreateWaitlistEntryResponse>, Status> {
        Ok(Response::new(self.join_waitlist(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_waitlist_entry(
        &self,
        request: Request<pb::WaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        Ok(Response::new(self.confirm_waitlist(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_waitlist_entry(
        &self,
        request: Request<pb::WaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        Ok(Response::new(self.waitlist_entry(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn withdraw_waitlist_entry(
        &self,
        request: Request<pb::WaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        Ok(Response::new(self.withdraw_waitlist(request.get_ref()).await?))
    }

    async fn accept_waitlist_offer(
        &self,
        request: Request<pb::WaitlistOfferRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        Ok(Response::new(self.accept_offer(request.get_ref()).await?))
    }

    async fn decline_waitlist_offer(
        &self,
        request: Request<pb::WaitlistOfferRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        Ok(Response::new(self.decline_offer(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn create_calendar_feed(
        &self,
        request: Request<pb::CreateCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        Ok(Response::new(self.create_feed(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_calendar_feeds(
        &self,
        request: Request<pb::ListCalendarFeedsRequest>,
    ) -> Result<Response<pb::ListCalendarFeedsResponse>, Status> {
        Ok(Response::new(self.list_feeds(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn revoke_calendar_feed(
        &self,
        request: Request<pb::RevokeCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        Ok(Response::new(self.revoke_feed(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn read_calendar_feed(
        &self,
        request: Request<pb::ReadCalendarFeedRequest>,
    ) -> Result<Response<pb::ReadCalendarFeedResponse>, Status> {
        Ok(Response::new(self.read_feed(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        Ok(Response::new(self.subscribe(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        Ok(Response::new(self.subscriptions(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        Ok(Response::new(self.unsubscribe(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        Ok(Response::new(self.webhook_deliveries(request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_waitlist(
        &self,
        request: Request<pb::ListWaitlistRequest>,
    ) -> Result<Response<pb::ListWaitlistResponse>, Status> {
        Ok(Response::new(self.waiting(request.get_ref()).await?))
    }

    type WatchBoardStream = tokio_stream::wrappers::ReceiverStream<Result<pb::Board, Status>>;

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn watch_board(
        &self,
        request: Request<pb::WatchBoardRequest>,
    ) -> Result<Response<Self::WatchBoardStream>, Status> {
        let office_id = request.into_inner().office_id;
        let office = self.catalogues.office(&office_id).await.map_err(Error::Availability)?;
        self.store()?;
        let store = Arc::clone(&self.store);
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        // Every replica reads the board from the database, so a display
        // follows calls made on any of them.
        tokio::spawn(async move {
            let mut last: Option<pb::Board> = None;
            let mut ticks = tokio::time::interval(BOARD_INTERVAL);
            loop {
                ticks.tick().await;
                let board = match board(&*store, &office).await {
                    Ok(board) => board,
                    Err(error) => {
                        let _ = sender.send(Err(error.into())).await;
                        return;
                    }
                };
                if last.as_ref() != Some(&board) {
                    if sender.send(Ok(board.clone())).await.is_err() {
                        return;
                    }
                    last = Some(board);
                }
                if sender.is_closed() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn get_data_policy(
        &self,
        _request: Request<pb::GetDataPolicyRequest>,
    ) -> Result<Response<pb::DataPolicy>, Status> {
        Ok(Response::new(pb::DataPolicy {
            retention_days: self.retention_days,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_booking(
        &self,
        request: Request<pb::ConfirmBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let code = bookings::normalise_code(&request.code).ok_or(Error::NotFound)?;
        let hash = bookings::token_hash(&request.token).ok_or(Error::NotFound)?;
        let booking = self
            .store()?
            .by_confirmation(&code, &hash)
            .await?
            .ok_or(Error::NotFound)?;
        if booking.status == BookingStatus::Pending && booking.confirm_by.is_some_and(|by| by <= Utc::now()) {
            // Too late, even if the job has not released it yet.
            self.change_status(
                &booking,
                BookingStatus::Cancelled,
                "system",
                Some("not confirmed in time"),
            )
            .await?;
            return Err(Error::InvalidTransition {
                from: BookingStatus::Cancelled.as_str(),
                to: BookingStatus::Booked.as_str(),
            }
            .into());
        }
        // The binding confirmation, with the manage link and the reminder.
        let notifications = if booking.status == BookingStatus::Pending && !booking.email.is_empty() {
            self.mail.plan(
                MailKind::Confirmation,
                booking.start,
                Some(request.token.clone()),
                Utc::now(),
            )?
        } else {
            Vec::new()
        };
        let confirmed = self
            .set_status(
                &booking,
                BookingStatus::Booked,
                ("citizen", Some("confirmed by email")),
                &notifications,
            )
            .await?;
        Ok(Response::new(confirmed))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_booking(
        &self,
        request: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let booking = self.by_token(&request.get_ref().code, &request.get_ref().token).await?;
        Ok(Response::new(
            self.change_status(&booking, BookingStatus::Cancelled, "citizen", None)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_bookings(
        &self,
        request: Request<pb::ListBookingsRequest>,
    ) -> Result<Response<pb::ListBookingsResponse>, Status> {
        let request = request.into_inner();
        let from = required_instant("from", request.from.as_ref())?;
        let to = required_instant("to", request.to.as_ref())?;
        let bookings = self.store()?.list(&request.office_id, from, to).await?;
        Ok(Response::new(pb::ListBookingsResponse {
            bookings: bookings.into_iter().map(|booking| to_proto(booking, 0)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn record_configuration_change(
        &self,
        request: Request<pb::RecordConfigurationChangeRequest>,
    ) -> Result<Response<pb::RecordConfigurationChangeResponse>, Status> {
        let request = request.into_inner();
        let changed_at = required_instant("changed_at", request.changed_at.as_ref())?;
        let queued = self
            .store()?
            .queue_configuration_hooks(&request.office_id, request.version, (request.actor.trim(), changed_at))
            .await?;
        if queued > 0 {
            self.outboxes.written();
        }
        Ok(Response::new(pb::RecordConfigurationChangeResponse {
            queued: u32::try_from(queued).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let from = required_instant("from", request.from.as_ref())?;
        let to = required_instant("to", request.to.as_ref())?;
        let limit = match request.limit {
            0 => MAX_AUDIT_EVENTS,
            limit => limit.min(MAX_AUDIT_EVENTS),
        };
        let events = self
            .store()?
            .audit_events(&request.office_id, (from, to), limit)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events
                .into_iter()
                .map(|event| pb::AuditEvent {
                    office_id: event.office_id,
                    id: event.id,
                    at: Some(timestamp::to_proto(event.at)),
                    actor: event.actor,
                    action: event.action,
                    subject: event.subject,
                    detail: event.detail,
                })
                .collect(),
        }))
    }

    async fn record_audit_events(
        &self,
        request: Request<pb::RecordAuditEventsRequest>,
    ) -> Result<Response<pb::RecordAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let now = Utc::now();
        let events = request
            .office_ids
            .iter()
            .map(|office_id| {
                crate::audit::recorded(
                    office_id,
                    (&request.actor, &request.action),
                    (&request.subject, &request.detail),
                    now,
                )
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.store()?.record_audit(&events).await?;
        Ok(Response::new(pb::RecordAuditEventsResponse {}))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_booked_intervals(
        &self,
        request: Request<pb::ListBookedIntervalsRequest>,
    ) -> Result<Response<pb::ListBookedIntervalsResponse>, Status> {
        let request = request.into_inner();
        let from = required_instant("from", request.from.as_ref())?;
        // Bookings lie within the booking window; a year covers any office's.
        let bookings = self
            .store()?
            .list(&request.office_id, from, from + chrono::TimeDelta::days(400))
            .await?;
        let holding = |status: BookingStatus| {
            matches!(
                status,
                BookingStatus::Pending | BookingStatus::Booked | BookingStatus::CheckedIn | BookingStatus::Called
            )
        };
        Ok(Response::new(pb::ListBookedIntervalsResponse {
            intervals: bookings
                .into_iter()
                .filter(|booking| holding(booking.status) && booking.end > from)
                .map(|booking| pb::BookedInterval {
                    counter_id: booking.counter_id,
                    start: Some(timestamp::to_proto(booking.start)),
                    end: Some(timestamp::to_proto(booking.end)),
                    code: booking.code,
                    concern_ids: booking.concern_ids,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn change_booking_status(
        &self,
        request: Request<pb::ChangeBookingStatusRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let to = status_from_proto(request.status).ok_or_else(|| Error::Invalid {
            code: ErrorCode::InvalidArgument,
            message: "status must be one of booked, checked_in, completed, no_show, cancelled".to_owned(),
        })?;
        let actor = staff_actor(&request.actor)?;
        let note = bookings::parse_note(&request.note)?;
        let booking = self.by_code(&request.office_id, &request.code).await?;
        Ok(Response::new(
            self.change_status(&booking, to, &actor, note.as_deref()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn move_booking(&self, request: Request<pb::MoveBookingRequest>) -> Result<Response<pb::Booking>, Status> {
        let request = request.into_inner();
        let actor = staff_actor(&request.actor)?;
        let booking = self.by_code(&request.office_id, &request.code).await?;
        let moved = self
            .move_to(booking, request.start.as_ref(), ProtoChannel::Foyer, &actor, None)
            .await?;
        Ok(Response::new(moved))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn get_booking_history(
        &self,
        request: Request<pb::GetBookingHistoryRequest>,
    ) -> Result<Response<pb::GetBookingHistoryResponse>, Status> {
        let request = request.into_inner();
        let booking = self.by_code(&request.office_id, &request.code).await?;
        let entries = self.store()?.history(&booking.office_id, &booking.code).await?;
        Ok(Response::new(pb::GetBookingHistoryResponse {
            entries: entries
                .into_iter()
                .map(|entry| pb::HistoryEntry {
                    at: Some(timestamp::to_proto(entry.at)),
                    actor: entry.actor,
                    from_status: entry
                        .from
                        .map_or(pb::BookingStatus::Unspecified, status_to_proto)
                        .into(),
                    to_status: status_to_proto(entry.to).into(),
                    note: entry.detail.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn book_next_free(
        &self,
        request: Request<pb::BookNextFreeRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        let office = request.get_ref().office_id.clone();
        let booking_channel = channel(request.get_ref().channel);
        let created = self.next_free(request.into_inner()).await;
        count_booking(&office, booking_channel, &created);
        Ok(Response::new(created?))
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
                code: ErrorCode::InvalidArgument,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(code: &str, channel: bookings::Channel, hour: u32, number: &str) -> Booking {
        let at = |hour: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 24)
                .and_then(|day| day.and_hms_opt(hour, 0, 0))
                .map(|local| local.and_utc())
                .expect("valid")
        };
        Booking {
            office_id: "amt".to_owned(),
            code: code.to_owned(),
            counter_id: "platz-1".to_owned(),
            concern_ids: vec!["c".to_owned()],
            start: at(hour),
            end: at(hour + 1),
            status: BookingStatus::CheckedIn,
            name: String::new(),
            email: String::new(),
            phone: String::new(),
            channel,
            created_at: at(6),
            confirm_by: None,
            language: "de".to_owned(),
            waiting_number: Some(number.to_owned()),
            called_at: None,
        }
    }

    #[test]
    fn booked_appointments_are_called_by_time_then_walk_ins_by_arrival() {
        use bookings::Channel::{Foyer, Online, Phone};
        let mut queue = [
            waiting("W-2", Foyer, 8, "W-002"),
            waiting("T-10", Online, 10, "T-001"),
            waiting("W-10", Foyer, 8, "W-010"),
            waiting("T-9", Phone, 9, "T-002"),
            waiting("W-1", Foyer, 11, "W-001"),
        ];
        queue.sort_by_key(call_order);
        let order: Vec<&str> = queue.iter().map(|booking| booking.code.as_str()).collect();
        assert_eq!(order, ["T-9", "T-10", "W-1", "W-2", "W-10"]);
    }
}
