//! The booked intervals of every office, held in memory and kept current by
//! the booking service's change stream (`WatchBookings`): a slot request is
//! answered without asking a database or another service. The booking
//! database stays the final arbiter: a projection a moment behind may offer
//! a slot just taken, and the reservation then fails cleanly; it can never
//! cause a double booking.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use amtstermin_proto::booking::v1::booking_change::Change;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{BookedInterval, BookingChange, WatchBookingsRequest};
use amtstermin_proto::timestamp;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::catalogue::{Catalogue, Office};
use crate::error::Error;
use crate::slots::{Booked, Busy};

/// How long a projection cut off from the booking service still answers;
/// after that, slot requests fail with UNAVAILABLE rather than show old data.
pub const MAX_STALENESS: Duration = Duration::from_secs(30);

/// The projection of all offices.
pub struct Projection {
    offices: HashMap<String, OfficeProjection>,
    /// The absences have been loaded from the database once.
    absences_loaded: std::sync::atomic::AtomicBool,
    /// Signals every change of any office's sync state (for health).
    sync_changed: watch::Sender<()>,
}

struct OfficeProjection {
    state: RwLock<State>,
    /// The sequence applied last, for callers waiting for their own change.
    applied: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    busy: Busy,
    bookings: HashMap<String, Booked>,
    sequence: u64,
    /// Caught up with the stream it currently follows.
    live: bool,
    /// Has been caught up at least once.
    ever_live: bool,
    /// When the stream was lost; `None` while it is followed.
    lost_at: Option<Instant>,
}

impl Projection {
    pub fn new(catalogue: &Catalogue) -> Self {
        let offices = catalogue
            .offices()
            .iter()
            .map(|office| {
                let state = State {
                    busy: Busy::new(office.counters.len(), []),
                    lost_at: Some(Instant::now()),
                    ..State::default()
                };
                let projection = OfficeProjection {
                    state: RwLock::new(state),
                    applied: watch::Sender::new(0),
                };
                (office.id.clone(), projection)
            })
            .collect();
        Self {
            offices,
            absences_loaded: std::sync::atomic::AtomicBool::new(false),
            sync_changed: watch::Sender::new(()),
        }
    }

    fn office(&self, office_id: &str) -> Result<&OfficeProjection, Error> {
        self.offices
            .get(office_id)
            .ok_or_else(|| Error::UnknownOffice(office_id.to_owned()))
    }

    /// Runs `f` on the office's busy intervals, unless the projection has
    /// never been current or has been cut off for too long.
    pub fn read<R>(&self, office_id: &str, f: impl FnOnce(&Busy) -> R) -> Result<R, Error> {
        let office = self.office(office_id)?;
        let state = office.state.read().map_err(|_| Error::ProjectionUnavailable)?;
        let stale = state.lost_at.is_some_and(|lost| lost.elapsed() > MAX_STALENESS);
        if !state.ever_live || stale {
            return Err(Error::ProjectionUnavailable);
        }
        Ok(f(&state.busy))
    }

    /// Whether the absences are loaded and every office follows its stream
    /// and is caught up.
    pub fn live(&self) -> bool {
        self.absences_loaded.load(std::sync::atomic::Ordering::Acquire)
            && self
                .offices
                .values()
                .all(|office| office.state.read().is_ok_and(|state| state.live))
    }

    pub fn set_absences_loaded(&self) {
        self.absences_loaded.store(true, std::sync::atomic::Ordering::Release);
        self.sync_changed.send_replace(());
    }

    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.sync_changed.subscribe()
    }

    /// Waits until the office has applied `sequence`, at most `timeout`.
    pub async fn wait_for(&self, office_id: &str, sequence: u64, timeout: Duration) -> Result<bool, Error> {
        let mut applied = self.office(office_id)?.applied.subscribe();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|applied| *applied >= sequence)).await;
        Ok(matches!(reached, Ok(Ok(_))))
    }

    /// Codes of the bookings on `counter` overlapping [start, end).
    pub fn bookings_overlapping(&self, office_id: &str, interval: Booked) -> Result<Vec<(String, Booked)>, Error> {
        let office = self.office(office_id)?;
        let state = office.state.read().map_err(|_| Error::ProjectionUnavailable)?;
        let mut found: Vec<(String, Booked)> = state
            .bookings
            .iter()
            .filter(|(_, b)| b.counter == interval.counter && b.start < interval.end && interval.start < b.end)
            .map(|(code, booked)| (code.clone(), *booked))
            .collect();
        found.sort_by_key(|(code, booked)| (booked.start, code.clone()));
        Ok(found)
    }

    /// Adds (or, with `add` false, removes) a busy interval that is not a
    /// booking, such as a counter absence.
    pub fn set_blocked(&self, office_id: &str, interval: Booked, add: bool) -> Result<(), Error> {
        let office = self.office(office_id)?;
        let mut state = office.state.write().map_err(|_| Error::ProjectionUnavailable)?;
        if add {
            state.busy.insert(interval);
        } else {
            state.busy.remove(interval);
        }
        Ok(())
    }

    fn sequence(&self, office_id: &str) -> u64 {
        self.offices
            .get(office_id)
            .and_then(|office| office.state.read().ok().map(|state| state.sequence))
            .unwrap_or(0)
    }

    fn apply(&self, office: &Office, change: BookingChange) {
        let Some(projection) = self.offices.get(&office.id) else {
            return;
        };
        let Ok(mut state) = projection.state.write() else {
            return;
        };
        let was_live = state.live;
        match change.change {
            Some(Change::Snapshot(snapshot)) => {
                // Keep what is not a booking (absences), replace the bookings.
                let old: Vec<Booked> = state.bookings.drain().map(|(_, booked)| booked).collect();
                for booked in old {
                    state.busy.remove(booked);
                }
                for interval in &snapshot.intervals {
                    if let Some(booked) = booked(office, interval) {
                        state.busy.insert(booked);
                        state.bookings.insert(interval.code.clone(), booked);
                    }
                }
            }
            Some(Change::Booked(interval)) => {
                if let Some(booked) = booked(office, &interval)
                    && !state.bookings.contains_key(&interval.code)
                {
                    state.busy.insert(booked);
                    state.bookings.insert(interval.code, booked);
                }
            }
            Some(Change::Released(interval)) => {
                if let Some(booked) = state.bookings.remove(&interval.code) {
                    state.busy.remove(booked);
                }
            }
            Some(Change::CaughtUp(_)) => {
                state.live = true;
                state.ever_live = true;
                state.lost_at = None;
            }
            None => {}
        }
        state.sequence = change.sequence;
        let live = state.live;
        drop(state);
        projection.applied.send_replace(change.sequence);
        if live != was_live {
            self.sync_changed.send_replace(());
        }
    }

    fn lost(&self, office_id: &str) {
        let Some(projection) = self.offices.get(office_id) else {
            return;
        };
        let Ok(mut state) = projection.state.write() else {
            return;
        };
        let was_live = state.live;
        state.live = false;
        state.lost_at.get_or_insert_with(Instant::now);
        drop(state);
        if was_live {
            self.sync_changed.send_replace(());
        }
    }
}

fn booked(office: &Office, interval: &BookedInterval) -> Option<Booked> {
    Some(Booked {
        counter: office.counter_index(&interval.counter_id)?,
        start: timestamp::from_proto(interval.start.as_ref()?)?,
        end: timestamp::from_proto(interval.end.as_ref()?)?,
    })
}

/// Follows the booking service's change stream of `office` for as long as
/// the process runs, reconnecting with backoff and resuming from the last
/// applied sequence.
pub async fn follow(projection: Arc<Projection>, channel: Channel, office: Office) {
    let mut client = BookingServiceClient::new(channel);
    let mut backoff = Duration::from_millis(100);
    loop {
        let request = WatchBookingsRequest {
            office_id: office.id.clone(),
            after_sequence: projection.sequence(&office.id),
        };
        match client.watch_bookings(request).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(change)) => {
                            if matches!(change.change, Some(Change::CaughtUp(_))) {
                                tracing::info!(office = %office.id, sequence = change.sequence, "booking projection caught up");
                                backoff = Duration::from_millis(100);
                            }
                            projection.apply(&office, change);
                        }
                        Ok(None) => break,
                        Err(status) => {
                            tracing::warn!(office = %office.id, code = ?status.code(), message = status.message(), "booking stream lost");
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                tracing::debug!(office = %office.id, code = ?status.code(), "booking service not reachable");
            }
        }
        projection.lost(&office.id);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
