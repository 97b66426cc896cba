//! The booked intervals of every office, held in memory and kept current by
//! the booking service's change stream (`WatchBookings`): a slot request is
//! answered without asking a database or another service. The booking
//! database stays the final arbiter: a projection a moment behind may offer
//! a slot just taken, and the reservation then fails cleanly; it can never
//! cause a double booking.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1::booking_change::Change;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{BookedInterval, BookingChange, WatchBookingsRequest};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

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
    /// Time citizens gave back that the online channel sees as busy until
    /// the office's release delay has passed (staff see it free at once).
    held: Vec<(Booked, DateTime<Utc>)>,
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

    /// Runs `f` on the office's busy intervals as the online channel
    /// (`online`, with the time still held back) or staff see them, unless
    /// the projection has never been current or has been cut off for too
    /// long. The booking `moving`, if given, does not count: what a move of
    /// that booking may use.
    pub fn read<R>(
        &self,
        office_id: &str,
        online: bool,
        moving: Option<&str>,
        f: impl FnOnce(&Busy) -> R,
    ) -> Result<R, Error> {
        let state = self.current(office_id)?;
        let now = Utc::now();
        let held: Vec<Booked> = if online {
            state
                .held
                .iter()
                .filter(|(_, until)| *until > now)
                .map(|(held, _)| *held)
                .collect()
        } else {
            Vec::new()
        };
        let moved = moving.and_then(|code| state.bookings.get(code));
        if held.is_empty() && moved.is_none() {
            return Ok(f(&state.busy));
        }
        let mut busy = state.busy.clone();
        if let Some(booked) = moved {
            busy.remove(*booked);
        }
        for held in held {
            busy.insert(held);
        }
        Ok(f(&busy))
    }

    fn current(&self, office_id: &str) -> Result<std::sync::RwLockReadGuard<'_, State>, Error> {
        let office = self.office(office_id)?;
        let state = office.state.read().map_err(|_| Error::ProjectionUnavailable)?;
        let stale = state.lost_at.is_some_and(|lost| lost.elapsed() > MAX_STALENESS);
        if !state.ever_live || stale {
            return Err(Error::ProjectionUnavailable);
        }
        Ok(state)
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
        drop(state);
        // Watchers of the slots look again; the sequence stays.
        office.applied.send_modify(|_| {});
        Ok(())
    }

    /// Wakes on every change applied to the office's projection.
    pub fn changes(&self, office_id: &str) -> Result<watch::Receiver<u64>, Error> {
        Ok(self.office(office_id)?.applied.subscribe())
    }

    /// Forgets bookings that ended before `before`: no slot can overlap them
    /// any more, and the projection should not grow with history.
    pub fn prune(&self, before: chrono::DateTime<chrono::Utc>) {
        for office in self.offices.values() {
            let Ok(mut state) = office.state.write() else { continue };
            let ended: Vec<String> = state
                .bookings
                .iter()
                .filter(|(_, booked)| booked.end < before)
                .map(|(code, _)| code.clone())
                .collect();
            for code in ended {
                if let Some(booked) = state.bookings.remove(&code) {
                    state.busy.remove(booked);
                }
            }
            let now = Utc::now();
            state.held.retain(|(_, until)| *until > now);
        }
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
        // Outside the lock: slot reads wait for it.
        record_freshness(&office.id, &change);
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
                    let delay = TimeDelta::minutes(i64::from(office.release_delay_minutes));
                    let at = change.at.as_ref().and_then(timestamp::from_proto);
                    if let (true, Some(at)) = (change.by_citizen && delay > TimeDelta::zero(), at)
                        && at + delay > Utc::now()
                    {
                        let now = Utc::now();
                        state.held.retain(|(_, until)| *until > now);
                        state.held.push((booked, at + delay));
                    }
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

/// `amtstermin_projection_updated_timestamp_seconds` (when the office's
/// feed last said anything: staleness is `time() -` it) and
/// `amtstermin_projection_delay_seconds` (from a change's commit to here).
fn record_freshness(office_id: &str, change: &BookingChange) {
    let now = Utc::now();
    metrics::gauge!("amtstermin_projection_updated_timestamp_seconds", "office" => office_id.to_owned())
        .set(now.timestamp_millis() as f64 / 1000.0);
    if let Some(at) = change.at.as_ref().and_then(timestamp::from_proto) {
        let delay = (now - at).to_std().unwrap_or_default();
        metrics::histogram!("amtstermin_projection_delay_seconds", "office" => office_id.to_owned())
            .record(delay.as_secs_f64());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use amtstermin_proto::booking::v1::{CaughtUp, Snapshot};
    use chrono::{TimeZone, Utc};

    const OFFICE: &str = r#"
        [[offices]]
        id = "amt"
        name = "Amt"
        address = "Weg 1"
        state = "NW"
        hours = { mon = ["08:00-12:00"] }
        categories = [{ id = "k", name = "K" }]
        concerns = [{ id = "c", name = "C", category = "k", duration_minutes = 15 }]
        counters = [{ id = "p1", name = "Platz 1" }, { id = "p2", name = "Platz 2" }]
    "#;

    fn interval(code: &str, counter: &str, hour: u32) -> BookedInterval {
        let at = |h: u32| timestamp::to_proto(Utc.with_ymd_and_hms(2026, 11, 30, h, 0, 0).single().expect("valid"));
        BookedInterval {
            counter_id: counter.to_owned(),
            start: Some(at(hour)),
            end: Some(at(hour + 1)),
            code: code.to_owned(),
            concern_ids: Vec::new(),
        }
    }

    fn change(sequence: u64, change: Change) -> BookingChange {
        BookingChange {
            sequence,
            change: Some(change),
            ..BookingChange::default()
        }
    }

    #[test]
    fn time_a_citizen_gave_back_stays_off_the_online_channel_for_the_delay() {
        let delayed = OFFICE.replace("state = \"NW\"", "state = \"NW\"\nrelease_delay_minutes = 30");
        let catalogue = config::parse(&delayed).expect("valid");
        let office = catalogue.office("amt").expect("office").clone();
        let projection = Projection::new(&catalogue);
        projection.set_absences_loaded();
        let snapshot = Snapshot {
            intervals: vec![interval("A", "p1", 8), interval("B", "p1", 9), interval("C", "p2", 9)],
        };
        projection.apply(&office, change(3, Change::Snapshot(snapshot)));
        projection.apply(&office, change(3, Change::CaughtUp(CaughtUp {})));
        let release = |sequence, code, counter, hour, by_citizen, minutes_ago: i64| BookingChange {
            sequence,
            change: Some(Change::Released(interval(code, counter, hour))),
            at: Some(timestamp::to_proto(Utc::now() - TimeDelta::minutes(minutes_ago))),
            by_citizen,
        };
        projection.apply(&office, release(4, "A", "p1", 8, true, 0));
        projection.apply(&office, release(5, "B", "p1", 9, false, 0));
        projection.apply(&office, release(6, "C", "p2", 9, true, 45));
        let online = projection.read("amt", true, None, Busy::len).expect("live");
        let staff = projection.read("amt", false, None, Busy::len).expect("live");
        // Online still sees A (a citizen cancelled just now); staff see all free;
        // B was released by staff, C's delay has passed.
        assert_eq!((online, staff), (1, 0));
    }

    #[test]
    fn changes_apply_in_order_and_snapshots_replace_bookings_but_keep_absences() {
        let catalogue = config::parse(OFFICE).expect("valid");
        let office = catalogue.office("amt").expect("office").clone();
        let projection = Projection::new(&catalogue);
        assert!(
            matches!(
                projection.read("amt", false, None, |_| ()),
                Err(Error::ProjectionUnavailable)
            ),
            "not live yet"
        );
        projection.set_absences_loaded();

        projection.apply(
            &office,
            change(
                3,
                Change::Snapshot(Snapshot {
                    intervals: vec![interval("A", "p1", 8)],
                }),
            ),
        );
        projection.apply(&office, change(3, Change::CaughtUp(CaughtUp {})));
        projection.apply(&office, change(4, Change::Booked(interval("B", "p2", 9))));
        projection.apply(&office, change(5, Change::Booked(interval("B", "p2", 9))));
        assert!(projection.live());
        assert_eq!(
            projection.read("amt", false, None, Busy::len).expect("live"),
            2,
            "a repeated change applies once"
        );
        assert_eq!(projection.sequence("amt"), 5);

        let absence = booked(&office, &interval("-", "p1", 10)).expect("interval");
        projection.set_blocked("amt", absence, true).expect("office");
        projection.apply(&office, change(6, Change::Released(interval("A", "p1", 8))));
        assert_eq!(projection.read("amt", false, None, Busy::len).expect("live"), 2);
        let overlapping = projection.bookings_overlapping("amt", absence).expect("office");
        assert!(overlapping.is_empty(), "an absence is no booking");

        projection.apply(
            &office,
            change(
                9,
                Change::Snapshot(Snapshot {
                    intervals: vec![interval("C", "p2", 8)],
                }),
            ),
        );
        assert_eq!(
            projection.read("amt", false, None, Busy::len).expect("live"),
            2,
            "booking C and the absence"
        );
        let whole_day = booked(
            &office,
            &BookedInterval {
                end: interval("", "p2", 20).end,
                ..interval("", "p2", 0)
            },
        )
        .expect("interval");
        let codes: Vec<_> = projection
            .bookings_overlapping("amt", whole_day)
            .expect("office")
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(codes, ["C"]);

        projection.prune(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().expect("valid"));
        assert_eq!(
            projection.read("amt", false, None, Busy::len).expect("live"),
            1,
            "only the absence is left"
        );
    }

    #[test]
    fn a_lost_stream_is_not_live_and_goes_stale() {
        let catalogue = config::parse(OFFICE).expect("valid");
        let office = catalogue.office("amt").expect("office").clone();
        let projection = Projection::new(&catalogue);
        projection.set_absences_loaded();
        projection.apply(&office, change(0, Change::CaughtUp(CaughtUp {})));
        assert!(projection.live());
        projection.lost("amt");
        assert!(!projection.live());
        assert!(
            projection.read("amt", false, None, |_| ()).is_ok(),
            "a moment behind is still answered"
        );
        if let Some(office) = projection.offices.get("amt")
            && let Ok(mut state) = office.state.write()
        {
            state.lost_at = Some(Instant::now() - MAX_STALENESS - Duration::from_secs(1));
        }
        assert!(matches!(
            projection.read("amt", false, None, |_| ()),
            Err(Error::ProjectionUnavailable)
        ));
    }
}
