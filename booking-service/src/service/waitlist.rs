//! The waitlist's gRPC calls: joining, confirming, reading and withdrawing
//! an entry (see `crate::waitlist` for the rules).

use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1::{Channel as ProtoChannel, CheckStartRequest, ListSlotsRequest};
use amtstermin_proto::booking::v1 as pb;
use chrono::{NaiveDate, NaiveTime, TimeDelta, Utc};

use super::Bookings;
use crate::bookings::{self, Citizen};
use crate::error::Error;
use crate::notifications::{MailKind, Notification};
use crate::store::{Acceptance, Answer, OfferKey};
use crate::waitlist::{Added, Entry, EntryStatus, Handover, NewEntry, Offer, OfferStatus, TimeOfDay};

/// How often an entry draws a new id after a collision.
const ID_ATTEMPTS: usize = 5;

fn invalid(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::Invalid {
        code,
        message: message.into(),
    }
}

fn day(field: &str, value: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        invalid(
            ErrorCode::InvalidDate,
            format!("{field} must be a date written YYYY-MM-DD"),
        )
    })
}

impl Bookings {
    pub(super) async fn join_waitlist(
        &self,
        request: pb::CreateWaitlistEntryRequest,
    ) -> Result<pb::CreateWaitlistEntryResponse, Error> {
        let office = self
            .catalogues
            .office(&request.office_id)
            .await
            .map_err(Error::Availability)?;
        if !office.office.waitlist {
            return Err(invalid(ErrorCode::NotFound, "this office keeps no waitlist"));
        }
        let citizen = Citizen::parse(&request.name, &request.email, "")?;
        let time_of_day = match request.time_of_day.trim() {
            "" => TimeOfDay::Any,
            text => TimeOfDay::parse(text).ok_or_else(|| {
                invalid(
                    ErrorCode::InvalidArgument,
                    "time_of_day must be any, morning or afternoon",
                )
            })?,
        };
        let (from, to) = (day("from", &request.from)?, day("to", &request.to)?);
        let today = Utc::now().with_timezone(&office.timezone()).date_naive();
        let last = today + TimeDelta::days(i64::from(office.office.booking_window_days));
        crate::waitlist::check_range(from, to, (today, last))?;
        // The concerns must make one appointment, as for a booking: the
        // availability service says so (and which are unknown).
        self.availability
            .clone()
            .list_slots(ListSlotsRequest {
                office_id: request.office_id.clone(),
                concern_ids: request.concern_ids.clone(),
                from_date: from.max(today).to_string(),
                to_date: from.max(today).to_string(),
                channel: ProtoChannel::Online.into(),
                explain_unavailable_days: false,
            })
            .await
            .map_err(Error::Availability)?;
        let token = bookings::new_token()?;
        let confirm = bookings::new_token()?;
        let (token, confirm) = (bookings::token_to_string(&token), bookings::token_to_string(&confirm));
        let hash =
            |secret: &str| bookings::token_hash(secret).ok_or_else(|| Error::Internal("unhashable token".to_owned()));
        let limit = office.office.max_waitlist_entries_per_email;
        let now = Utc::now();
        for _ in 0..ID_ATTEMPTS {
            let entry = Entry {
                office_id: office.id().to_owned(),
                id: bookings::new_code()?,
                concern_ids: request.concern_ids.clone(),
                from,
                to,
                time_of_day,
                name: citizen.name.clone(),
                email: citizen.email.clone(),
                language: bookings::parse_language(&request.language),
                status: EntryStatus::Unconfirmed,
                created_at: now,
                confirmed_at: None,
                place: 0,
                offers_made: 0,
                open_offer: None,
            };
            let new = NewEntry {
                token_hash: hash(&token)?,
                confirm_hash: hash(&confirm)?,
                email_normalized: bookings::normalise_email(&citizen.email),
                today,
                mail: Notification::new(MailKind::WaitlistConfirm, now, Some(format!("{token}:{confirm}")))?,
                entry,
            };
            match self
                .store()?
                .add_waitlist_entry(&new, (limit > 0).then_some(limit))
                .await?
            {
                Added::Added => {
                    self.outboxes.written();
                    tracing::info!(office = %new.entry.office_id, entry = %new.entry.id, "joined the waitlist");
                    return Ok(pb::CreateWaitlistEntryResponse {
                        entry: Some(entry_to_proto(new.entry, Vec::new())),
                        token,
                    });
                }
                Added::LimitReached => return Err(Error::LimitReached { limit }),
                Added::IdTaken => continue,
            }
        }
        Err(Error::Internal("no free waitlist id after several draws".to_owned()))
    }

    pub(super) async fn confirm_waitlist(
        &self,
        request: &pb::WaitlistEntryRequest,
    ) -> Result<pb::WaitlistEntry, Error> {
        let id = bookings::normalise_code(&request.id).ok_or(Error::EntryNotFound)?;
        let secret = bookings::token_hash(&request.token).ok_or(Error::EntryNotFound)?;
        let entry = self
            .store()?
            .confirm_waitlist_entry(&id, &secret, Utc::now())
            .await?
            .ok_or(Error::EntryNotFound)?;
        let entry = self.as_of_today(entry).await?;
        match entry.status {
            EntryStatus::Active | EntryStatus::Fulfilled => {
                tracing::info!(office = %entry.office_id, entry = %entry.id, "waitlist entry confirmed");
                Ok(entry_to_proto(entry, Vec::new()))
            }
            status => Err(Error::InvalidTransition {
                from: status.as_str(),
                to: EntryStatus::Active.as_str(),
            }),
        }
    }

    pub(super) async fn waitlist_entry(&self, request: &pb::WaitlistEntryRequest) -> Result<pb::WaitlistEntry, Error> {
        let id = bookings::normalise_code(&request.id).ok_or(Error::EntryNotFound)?;
        let token = bookings::token_hash(&request.token).ok_or(Error::EntryNotFound)?;
        let (entry, offers) = self
            .store()?
            .waitlist_entry(&id, &token)
            .await?
            .ok_or(Error::EntryNotFound)?;
        Ok(entry_to_proto(self.as_of_today(entry).await?, offers))
    }

    pub(super) async fn withdraw_waitlist(
        &self,
        request: &pb::WaitlistEntryRequest,
    ) -> Result<pb::WaitlistEntry, Error> {
        let id = bookings::normalise_code(&request.id).ok_or(Error::EntryNotFound)?;
        let token = bookings::token_hash(&request.token).ok_or(Error::EntryNotFound)?;
        // An open offer's time goes on to the next in line first.
        let (waiting, _) = self
            .store()?
            .waitlist_entry(&id, &token)
            .await?
            .ok_or(Error::EntryNotFound)?;
        if let Some(open) = &waiting.open_offer {
            let key = OfferKey {
                entry_id: &id,
                offer_id: open,
                secret_hash: &token,
            };
            self.decline(key, &waiting.office_id).await?;
        }
        let entry = self
            .store()?
            .withdraw_waitlist_entry(&id, &token, Utc::now())
            .await?
            .ok_or(Error::EntryNotFound)?;
        let entry = self.as_of_today(entry).await?;
        tracing::info!(office = %entry.office_id, entry = %entry.id, status = entry.status.as_str(), "waitlist entry withdrawn");
        Ok(entry_to_proto(entry, Vec::new()))
    }
}

impl Bookings {
    pub(super) async fn accept_offer(
        &self,
        request: &pb::WaitlistOfferRequest,
    ) -> Result<pb::CreateBookingResponse, Error> {
        let (id, offer_id, secret) = offer_key(request)?;
        // The offer first, for the mails of the booking it becomes.
        let (entry, offers) = self
            .store()?
            .waitlist_entry(&id, &secret)
            .await?
            .ok_or(Error::OfferNotFound)?;
        let offer = offers
            .into_iter()
            .find(|offer| offer.id == offer_id)
            .ok_or(Error::OfferNotFound)?;
        let office = self
            .catalogues
            .office(&entry.office_id)
            .await
            .map_err(Error::Availability)?;
        let limit = office.office.max_active_bookings_per_email;
        let token = bookings::token_to_string(&bookings::new_token()?);
        let token_hash = bookings::token_hash(&token).ok_or_else(|| Error::Internal("unhashable token".to_owned()))?;
        let now = Utc::now();
        let notifications = self
            .mail
            .plan(MailKind::Confirmation, offer.start, Some(token.clone()), now)?;
        let key = OfferKey {
            entry_id: &id,
            offer_id: &offer_id,
            secret_hash: &secret,
        };
        let acceptance = Acceptance {
            at: now,
            token_hash: &token_hash,
            notifications: &notifications,
            limit: (limit > 0).then_some(limit),
        };
        match self.store()?.accept_offer(key, acceptance).await? {
            Answer::Booked(booking) => {
                self.committed(&booking.office_id, None);
                tracing::info!(office = %booking.office_id, code = %booking.code, entry = %id, "waitlist offer accepted");
                Ok(pb::CreateBookingResponse {
                    booking: Some(super::to_proto(booking, 0)),
                    token,
                    replayed: false,
                })
            }
            Answer::LimitReached => Err(Error::LimitReached { limit }),
            Answer::Closed(status) => Err(Error::OfferClosed(status.as_str())),
            Answer::Declined { .. } | Answer::NotFound => Err(Error::OfferNotFound),
        }
    }

    pub(super) async fn decline_offer(&self, request: &pb::WaitlistOfferRequest) -> Result<pb::WaitlistEntry, Error> {
        let (id, offer_id, secret) = offer_key(request)?;
        let (entry, _) = self
            .store()?
            .waitlist_entry(&id, &secret)
            .await?
            .ok_or(Error::OfferNotFound)?;
        let key = OfferKey {
            entry_id: &id,
            offer_id: &offer_id,
            secret_hash: &secret,
        };
        let entry = self.decline(key, &entry.office_id).await?;
        Ok(entry_to_proto(self.as_of_today(entry).await?, Vec::new()))
    }

    /// Declines the offer `key` of an entry of `office_id`; its time goes
    /// to the next in line.
    async fn decline(&self, key: OfferKey<'_>, office_id: &str) -> Result<Entry, Error> {
        let handover = self.handover(office_id).await;
        match self.store()?.decline_offer(key, Utc::now(), handover.as_ref()).await? {
            Answer::Declined { entry, sequence } => {
                self.committed(&entry.office_id, Some(sequence));
                tracing::info!(office = %entry.office_id, entry = %entry.id, "waitlist offer declined");
                Ok(entry)
            }
            Answer::Closed(status) => Err(Error::OfferClosed(status.as_str())),
            Answer::Booked(_) | Answer::LimitReached | Answer::NotFound => Err(Error::OfferNotFound),
        }
    }

    /// Draws the lotteries due now: for each office whose newly released
    /// day opens within minutes, its entries active before then, in random
    /// order, are offered a time of that day each (the first they want);
    /// what is left opens to the public at the release. Every replica looks;
    /// the one that claims an office's day draws it, and should it die
    /// drawing, another takes over after `LOTTERY_LEASE` (those offered
    /// already have their offer and are not drawn again).
    pub(super) async fn draw_lotteries(&self) -> Result<(), Error> {
        if !self.mail.enabled {
            return Ok(());
        }
        let now = Utc::now();
        let offices = self.catalogues.offices().await.map_err(Error::Availability)?;
        for office in offices.iter().filter(|office| office.waitlist) {
            let tz: chrono_tz::Tz = office.timezone.parse().unwrap_or(chrono_tz::Europe::Berlin);
            let release = NaiveTime::parse_from_str(office.release_time.trim(), "%H:%M").unwrap_or(NaiveTime::MIN);
            let Some(day) = crate::waitlist::lottery_day(tz, release, office.booking_window_days, now) else {
                continue;
            };
            let store = self.store()?;
            if !store.claim_lottery(&office.id, &day.to_string(), now).await? {
                continue;
            }
            let entries = store.lottery_entries(&office.id, &day.to_string(), now).await?;
            let taking_part = entries.len();
            let order = crate::waitlist::draw(entries, |n| random_below(n).unwrap_or(0));
            let catalogue = self.catalogues.office(&office.id).await.map_err(Error::Availability)?;
            let handover = Handover::of(&catalogue, now);
            let mut offered = 0;
            for entry in &order {
                let held = self
                    .offer_a_time(&handover, entry, (day, day), ProtoChannel::Foyer)
                    .await?;
                offered += usize::from(held);
            }
            store.finish_lottery(&office.id, &day.to_string(), Utc::now()).await?;
            tracing::info!(office = %office.id, %day, taking_part, offered, "waitlist lottery drawn");
        }
        Ok(())
    }

    /// Offers free time that opened without a booking changing (an absence
    /// removed, a counter added) to the entries waiting, every `every`, for
    /// as long as the process runs (every replica; an entry gets one offer
    /// at a time, whoever makes it).
    pub async fn match_free_time(self, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            if let Err(error) = self.match_free_time_once().await {
                tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "cannot offer free time to the waitlist");
            }
        }
    }

    async fn match_free_time_once(&self) -> Result<(), Error> {
        if !self.mail.enabled {
            return Ok(());
        }
        let offices = self.catalogues.offices().await.map_err(Error::Availability)?;
        for office in offices.iter().filter(|office| office.waitlist) {
            let catalogue = self.catalogues.office(&office.id).await.map_err(Error::Availability)?;
            let handover = Handover::of(&catalogue, Utc::now());
            let today = handover.now.with_timezone(&handover.tz).date_naive();
            let entries = self.store()?.entries_in_line(&office.id, today).await?;
            let mut offered = 0;
            for entry in &entries {
                let range = (entry.from.max(today), entry.to);
                offered += usize::from(self.offer_a_time(&handover, entry, range, ProtoChannel::Online).await?);
            }
            if offered > 0 {
                tracing::info!(office = %office.id, offered, "free time offered to the waitlist");
            }
        }
        Ok(())
    }

    /// Offers `entry` the first time in `days` it wants that a counter open
    /// to citizens has free, as `channel` sees it (staff see a new day before
    /// citizens).
    async fn offer_a_time(
        &self,
        handover: &Handover,
        entry: &Entry,
        (from, to): (NaiveDate, NaiveDate),
        channel: ProtoChannel,
    ) -> Result<bool, Error> {
        let days = (from.to_string(), to.to_string());
        let free = self
            .free_starts(&entry.office_id, &entry.concern_ids, days, channel)
            .await?;
        let starts = free
            .iter()
            .filter_map(timestamp::from_proto)
            .filter(|start| entry.wants(handover.tz, *start));
        for start in starts {
            let check = self
                .availability
                .clone()
                .check_start(CheckStartRequest {
                    office_id: entry.office_id.clone(),
                    concern_ids: entry.concern_ids.clone(),
                    start: Some(timestamp::to_proto(start)),
                    channel: channel.into(),
                    exclude_booking_code: String::new(),
                })
                .await;
            // Taken meanwhile: the next start.
            let Ok(check) = check.map(tonic::Response::into_inner) else {
                continue;
            };
            let Some(end) = check.end.as_ref().and_then(timestamp::from_proto) else {
                continue;
            };
            let spans: Vec<_> = check
                .counter_ids
                .into_iter()
                .map(|counter| (counter, start, end))
                .collect();
            let held = self
                .store()?
                .offer_free_time(&entry.office_id, &spans, handover, Some(&entry.id))
                .await?;
            if let Some(sequence) = held {
                self.committed(&entry.office_id, Some(sequence));
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The waitlist's part in a change of `office_id` that frees time: none
    /// where the office keeps no waitlist or sends no mail (offers go by
    /// mail), or where its configuration cannot be read just now: the
    /// change itself goes on.
    pub(super) async fn handover(&self, office_id: &str) -> Option<Handover> {
        if !self.mail.enabled {
            return None;
        }
        let office = match self.catalogues.office(office_id).await {
            Ok(office) => office,
            Err(status) => {
                tracing::warn!(office = %office_id, error = %status.message(), "freed time not offered to the waitlist");
                return None;
            }
        };
        office.office.waitlist.then(|| Handover::of(&office, Utc::now()))
    }

    /// The entry as it stands today in its office's time zone.
    async fn as_of_today(&self, entry: Entry) -> Result<Entry, Error> {
        let office = self
            .catalogues
            .office(&entry.office_id)
            .await
            .map_err(Error::Availability)?;
        Ok(entry.as_of(Utc::now().with_timezone(&office.timezone()).date_naive()))
    }

    pub(super) async fn waiting(&self, request: &pb::ListWaitlistRequest) -> Result<pb::ListWaitlistResponse, Error> {
        let day = match request.date.trim() {
            "" => None,
            date => Some(day("date", date)?),
        };
        let lists = self.store()?.waiting_entries(&request.office_id, day).await?;
        Ok(count_by_concern(&lists))
    }
}

/// A uniformly random number below `n` (the lottery's draws).
fn random_below(n: usize) -> Result<usize, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    // 64 random bits reduced modulo n: the bias is below 2^-40 for any
    // waitlist that fits in memory.
    Ok(usize::try_from(u64::from_le_bytes(bytes) % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0))
}

/// The entry, offer and secret (hash) a request names; NOT_FOUND alike
/// for malformed ids and secrets.
fn offer_key(request: &pb::WaitlistOfferRequest) -> Result<(String, String, Vec<u8>), Error> {
    let id = bookings::normalise_code(&request.id).ok_or(Error::OfferNotFound)?;
    let offer_id = bookings::normalise_code(&request.offer_id).ok_or(Error::OfferNotFound)?;
    let secret = bookings::token_hash(&request.token).ok_or(Error::OfferNotFound)?;
    Ok((id, offer_id, secret))
}

/// How many entries wait per concern: an entry with several concerns (or
/// persons) counts once for each concern.
fn count_by_concern(lists: &[(Vec<String>, u32)]) -> pb::ListWaitlistResponse {
    let mut by_concern: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    for (concerns, entries) in lists {
        let mut distinct: Vec<&String> = concerns.iter().collect();
        distinct.sort();
        distinct.dedup();
        for concern in distinct {
            *by_concern.entry(concern.as_str()).or_default() += entries;
        }
    }
    pb::ListWaitlistResponse {
        waiting: by_concern
            .into_iter()
            .map(|(concern_id, entries)| pb::WaitingForConcern {
                concern_id: concern_id.to_owned(),
                entries,
            })
            .collect(),
        entries: lists.iter().map(|(_, entries)| entries).sum(),
    }
}

fn status_to_proto(status: EntryStatus) -> pb::WaitlistStatus {
    match status {
        EntryStatus::Unconfirmed => pb::WaitlistStatus::Unconfirmed,
        EntryStatus::Active => pb::WaitlistStatus::Active,
        EntryStatus::Fulfilled => pb::WaitlistStatus::Fulfilled,
        EntryStatus::Withdrawn => pb::WaitlistStatus::Withdrawn,
        EntryStatus::Ended => pb::WaitlistStatus::Ended,
    }
}

pub(super) fn entry_to_proto(entry: Entry, offers: Vec<Offer>) -> pb::WaitlistEntry {
    pb::WaitlistEntry {
        id: entry.id,
        office_id: entry.office_id,
        concern_ids: entry.concern_ids,
        from: entry.from.to_string(),
        to: entry.to.to_string(),
        time_of_day: entry.time_of_day.as_str().to_owned(),
        name: entry.name,
        email: entry.email,
        status: status_to_proto(entry.status).into(),
        created_at: Some(timestamp::to_proto(entry.created_at)),
        confirmed_at: entry.confirmed_at.map(timestamp::to_proto),
        offers_made: entry.offers_made,
        offers: offers
            .into_iter()
            .map(|offer| pb::WaitlistOffer {
                code: if offer.status == OfferStatus::Accepted {
                    offer.code
                } else {
                    String::new()
                },
                id: offer.id,
                start: Some(timestamp::to_proto(offer.start)),
                end: Some(timestamp::to_proto(offer.end)),
                status: offer.status.as_str().to_owned(),
                expires_at: Some(timestamp::to_proto(offer.expires_at)),
            })
            .collect(),
        language: entry.language,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_concern_counts_the_entries_that_want_it_once() {
        let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        let counted = count_by_concern(&[(ids(&["pass"]), 2), (ids(&["pass", "pass", "ausweis"]), 1)]);
        let waiting: Vec<(&str, u32)> = counted
            .waiting
            .iter()
            .map(|concern| (concern.concern_id.as_str(), concern.entries))
            .collect();
        assert_eq!(waiting, [("ausweis", 1), ("pass", 3)]);
        assert_eq!(counted.entries, 3);
    }
}
