//! The change feed behind `WatchBookings`: a snapshot or the missed changes,
//! then every change as it commits. Changes made by this process wake the
//! feeds at once; those of other replicas are found by polling the log.

use std::sync::Arc;
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

/// How often a feed looks for changes made by other replicas.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
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
    /// Bumped after every change this process commits.
    committed: watch::Sender<u64>,
    /// Becomes true when the server shuts down; open streams then end.
    stopping: watch::Receiver<bool>,
}

impl ChangeFeed {
    pub fn new(store: Arc<dyn BookingStore>, stopping: watch::Receiver<bool>) -> Self {
        Self {
            store,
            committed: watch::Sender::new(0),
            stopping,
        }
    }

    /// Wakes the feeds after a change this process committed.
    pub fn committed(&self) {
        self.committed
            .send_modify(|generation| *generation = generation.wrapping_add(1));
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
        let first = self.store.first_sequence(office_id).await?;
        // A snapshot for a fresh start, for a client ahead of the log (the
        // database was replaced) and for one behind what the log still holds.
        if after == 0 || after > last || after + 1 < first {
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
        loop {
            let changes = self.store.changes(office_id, after, BATCH).await?;
            let complete = changes.len() < BATCH as usize;
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

fn to_proto(interval: Interval) -> pb::BookedInterval {
    pb::BookedInterval {
        counter_id: interval.counter_id,
        start: Some(timestamp::to_proto(interval.start)),
        end: Some(timestamp::to_proto(interval.end)),
        code: interval.code,
    }
}
