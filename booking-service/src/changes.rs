//! The change feed behind `WatchBookings`: a snapshot or the missed changes,
//! then every change as it commits. Changes made by this process wake the
//! feeds at once; those of other replicas wake them by announcement
//! (PostgreSQL's LISTEN/NOTIFY), and polling the log stays as the fallback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1 as pb;
use amtstermin_proto::booking::v1::booking_change::Change as PbChange;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::bookings::Interval;
use crate::error::Error;
use crate::store::BookingStore;

/// How often a feed looks for changes made by other replicas unannounced.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How soon a feed first looks again for a change known to have committed
/// but not yet readable (on PostgreSQL, an older transaction is still
/// running); it backs off to `POLL_INTERVAL`.
const RETRY_INTERVAL: Duration = Duration::from_millis(2);
/// How long announcements pause after the database failed them.
const ANNOUNCE_BACKOFF: Duration = Duration::from_secs(1);
/// Changes read from the log at once.
const BATCH: u32 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Booked,
    Released,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Booked => "booked",
            ChangeKind::Released => "released",
        }
    }

    pub fn parse(stored: &str) -> Result<Self, Error> {
        match stored {
            "booked" => Ok(ChangeKind::Booked),
            "released" => Ok(ChangeKind::Released),
            other => Err(Error::Internal(format!("unknown stored change {other:?}"))),
        }
    }
}

/// One entry of an office's change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub sequence: u64,
    pub kind: ChangeKind,
    pub interval: Interval,
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// A release the citizen made (online cancellation or move).
    pub by_citizen: bool,
}

/// The active bookings of an office as of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub sequence: u64,
    pub intervals: Vec<Interval>,
}

pub type ChangeStream = ReceiverStream<Result<pb::BookingChange, Status>>;

#[derive(Clone)]
pub struct ChangeFeed {
    store: Arc<dyn BookingStore>,
    /// The latest position known committed per office (by this process or
    /// announced by another).
    known: Arc<Mutex<HashMap<String, u64>>>,
    /// Bumped whenever `known` moves.
    committed: watch::Sender<u64>,
    /// This process's commits not yet announced to other replicas.
    unannounced: Arc<Mutex<HashMap<String, u64>>>,
    announce: Arc<tokio::sync::Notify>,
    /// Becomes true when the server shuts down; open streams then end.
    stopping: watch::Receiver<bool>,
}

impl ChangeFeed {
    pub fn new(store: Arc<dyn BookingStore>, stopping: watch::Receiver<bool>) -> Self {
        Self {
            store,
            known: Arc::default(),
            committed: watch::Sender::new(0),
            unannounced: Arc::default(),
            announce: Arc::default(),
            stopping,
        }
    }

    /// Wakes the feeds after this process committed change `sequence` of
    /// the office, and has it announced to the other replicas.
    pub fn committed(&self, office_id: &str, sequence: u64) {
        self.learn(office_id, sequence);
        raise(&self.unannounced, office_id, sequence);
        self.announce.notify_one();
    }

    /// Notes that change `sequence` of the office committed.
    fn learn(&self, office_id: &str, sequence: u64) {
        raise(&self.known, office_id, sequence);
        self.committed
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn known(&self, office_id: &str) -> u64 {
        lock(&self.known).get(office_id).copied().unwrap_or(0)
    }

    /// Announces this process's commits and follows the other replicas'
    /// until the server stops. Announcements only hasten what polling finds.
    pub async fn exchange_announcements(self) {
        let mut stopping = self.stopping.clone();
        tokio::select! {
            () = self.announce_commits() => {}
            () = self.follow_others() => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    }

    /// One announcement at a time: commits made meanwhile go in the next.
    async fn announce_commits(&self) {
        loop {
            self.announce.notified().await;
            let changes: Vec<(String, u64)> = lock(&self.unannounced).drain().collect();
            if let Err(error) = self.store.announce(&changes).await {
                tracing::warn!(%error, "cannot announce changes to other replicas; they poll");
                tokio::time::sleep(ANNOUNCE_BACKOFF).await;
            }
        }
    }

    async fn follow_others(&self) {
        let on = |office_id: &str, sequence: u64| self.learn(office_id, sequence);
        loop {
            match self.store.follow_announcements(&on).await {
                Ok(()) => return std::future::pending().await,
                Err(error) => tracing::warn!(%error, "not hearing other replicas' announcements; polling"),
            }
            tokio::time::sleep(ANNOUNCE_BACKOFF).await;
        }
    }

    pub fn watch(&self, office_id: String, after: u64) -> ChangeStream {
        let (sender, receiver) = mpsc::channel(64);
        let feed = self.clone();
        tokio::spawn(async move {
            if let Err(error) = feed.follow(&office_id, after, &sender).await {
                let _ = sender.send(Err(error.into())).await;
            }
        });
        ReceiverStream::new(receiver)
    }

    async fn follow(
        &self,
        office_id: &str,
        mut after: u64,
        sender: &mpsc::Sender<Result<pb::BookingChange, Status>>,
    ) -> Result<(), Error> {
        let mut committed = self.committed.subscribe();
        let mut stopping = self.stopping.clone();
        let send = |change: pb::BookingChange| async move { sender.send(Ok(change)).await.is_ok() };

        let last = self.store.last_sequence(office_id).await?;
        let pruned = self.store.pruned_through(office_id).await?;
        // A snapshot for a fresh start, for a client ahead of the log (the
        // database was replaced) and for one behind what the log still holds.
        if after == 0 || after > last || after < pruned {
            // Bookings that ended before yesterday cannot matter to anyone.
            let snapshot = self.store.snapshot(office_id, Utc::now() - TimeDelta::days(1)).await?;
            after = snapshot.sequence;
            let change = pb::BookingChange {
                sequence: snapshot.sequence,
                change: Some(PbChange::Snapshot(pb::Snapshot {
                    intervals: snapshot.intervals.into_iter().map(to_proto).collect(),
                })),
                ..pb::BookingChange::default()
            };
            if !send(change).await {
                return Ok(());
            }
        }
        let mut caught_up = false;
        let mut retry = RETRY_INTERVAL;
        loop {
            let changes = self.store.changes(office_id, after, BATCH).await?;
            let complete = changes.len() < BATCH as usize;
            if !changes.is_empty() {
                retry = RETRY_INTERVAL;
            }
            for change in changes {
                after = change.sequence;
                let interval = to_proto(change.interval);
                let change = pb::BookingChange {
                    sequence: change.sequence,
                    change: Some(match change.kind {
                        ChangeKind::Booked => PbChange::Booked(interval),
                        ChangeKind::Released => PbChange::Released(interval),
                    }),
                    at: Some(timestamp::to_proto(change.at)),
                    by_citizen: change.by_citizen,
                };
                if !send(change).await {
                    return Ok(());
                }
            }
            if !complete {
                continue;
            }
            if self.known(office_id) > after {
                // Committed, not yet readable: soon, and less often the
                // longer an older transaction keeps it back.
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(POLL_INTERVAL);
                continue;
            }
            if !caught_up {
                caught_up = true;
                let change = pb::BookingChange {
                    sequence: after,
                    change: Some(PbChange::CaughtUp(pb::CaughtUp {})),
                    ..pb::BookingChange::default()
                };
                if !send(change).await {
                    return Ok(());
                }
            }
            tokio::select! {
                _ = committed.changed() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = stopping.wait_for(|stop| *stop) => return Ok(()),
                () = sender.closed() => return Ok(()),
            }
        }
    }
}

fn raise(positions: &Mutex<HashMap<String, u64>>, office_id: &str, sequence: u64) {
    let mut positions = lock(positions);
    match positions.get_mut(office_id) {
        Some(known) => *known = (*known).max(sequence),
        None => {
            positions.insert(office_id.to_owned(), sequence);
        }
    }
}

/// The map behind a mutex; no code panics while holding it, so a poisoned
/// lock still holds consistent data.
fn lock(positions: &Mutex<HashMap<String, u64>>) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
    positions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_proto(interval: Interval) -> pb::BookedInterval {
    pb::BookedInterval {
        counter_id: interval.counter_id,
        start: Some(timestamp::to_proto(interval.start)),
        end: Some(timestamp::to_proto(interval.end)),
        code: interval.code,
        concern_ids: Vec::new(),
    }
}
