//! Where bookings live. One trait and one store written once over a small
//! dialect (`sql.rs`), on SQLite (embedded default) or PostgreSQL (production,
//! several replicas), chosen by the URL scheme. Both pass the same
//! conformance tests (`tests/tests/store_conformance.rs`).

mod sql;

use std::sync::Arc;

use amtstermin_platform::database::{self, Dialect, PostgresDialect, SqliteDialect};
use chrono::{DateTime, Utc};

pub use self::sql::SqlStore;
use crate::bookings::{Booking, HistoryEntry, Idempotency, NewBooking, Status};
use crate::changes::{Change, Snapshot};
use crate::error::Error;
use crate::notifications::{Notification, PendingMail};

/// The outcome of an attempt to reserve.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one value per request, moved once")]
pub enum Reservation {
    /// Booked; `sequence` is the office's change sequence of the booking.
    Created { booking: Booking, sequence: u64 },
    /// Every candidate counter already holds an overlapping booking.
    AllTaken,
    /// The generated code exists already in this office; draw another.
    CodeTaken,
    /// A booking with this idempotency key exists (possibly made by a
    /// concurrent retry a moment ago); answer with that one.
    KeyTaken,
    /// The email address holds the allowed number of active future bookings.
    LimitReached,
    /// The client address made its quota of bookings within a day; the
    /// oldest of them leaves the day after `retry_after` seconds.
    QuotaReached { retry_after: u64 },
}

/// The outcome of a status change.
#[derive(Debug)]
pub enum StatusChange {
    /// Changed; `sequence` is set when the change released the counter.
    Changed {
        booking: Booking,
        sequence: Option<u64>,
    },
    /// The booking has this status already; nothing changed.
    Unchanged(Booking),
    /// The life cycle does not allow this change from the current status.
    Refused(Booking),
    NotFound,
}

/// The outcome of a move to another time.
#[derive(Debug)]
pub enum Move {
    /// Moved; `sequence` is the change sequence of the new interval.
    Moved {
        booking: Booking,
        sequence: u64,
    },
    /// Only booked (not checked-in, cancelled, …) bookings move.
    Refused(Booking),
    /// Every candidate counter is taken at the new time; nothing changed.
    AllTaken,
    NotFound,
}

/// What one `change_status` call asks for.
#[derive(Clone, Copy, Debug)]
pub struct StatusRequest<'a> {
    pub office_id: &'a str,
    pub code: &'a str,
    pub to: Status,
    /// "citizen", "system", "staff" or "staff:<id>".
    pub actor: &'a str,
    pub detail: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// Mails to queue with the change; pending reminders are dropped.
    pub notifications: &'a [Notification],
}

/// What one `reschedule` call asks for.
#[derive(Clone, Copy, Debug)]
pub struct MoveRequest<'a> {
    pub office_id: &'a str,
    pub code: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Counters that can take the new time, in the order to try them.
    pub counters: &'a [String],
    pub actor: &'a str,
    pub at: DateTime<Utc>,
    /// Mails to queue with the move; pending reminders are dropped.
    pub notifications: &'a [Notification],
}

/// Whether a status change needs to touch the database at all.
enum Decision {
    Proceed(Booking),
    Done(StatusChange),
}

fn decide(booking: Booking, to: Status) -> Decision {
    if booking.status == to {
        Decision::Done(StatusChange::Unchanged(booking))
    } else if !booking.status.can_become(to) {
        Decision::Done(StatusChange::Refused(booking))
    } else {
        Decision::Proceed(booking)
    }
}

#[tonic::async_trait]
pub trait BookingStore: Send + Sync + 'static {
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), Error>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), Error>;

    /// Inserts `booking` on the first of `counters` that has no overlapping
    /// active booking. The database makes this atomic: concurrent calls,
    /// from any number of processes, never put two overlapping bookings on
    /// one counter. With a `limit`, an email address (normalised) may hold
    /// at most that many booked appointments still to come in the office;
    /// with a `quota` on the booking, its client address may make at most
    /// that many bookings (of any status) in the office within 24 hours.
    async fn reserve(
        &self,
        booking: &NewBooking,
        counters: &[String],
        limit: Option<u32>,
    ) -> Result<Reservation, Error>;

    /// The booking made under an idempotency key, with its idempotency data.
    async fn by_idempotency_key(
        &self,
        office_id: &str,
        key_hash: &[u8],
    ) -> Result<Option<(Booking, Idempotency)>, Error>;

    /// The booking with this code whose token hashes to `token_hash`.
    async fn get(&self, code: &str, token_hash: &[u8]) -> Result<Option<Booking>, Error>;

    /// The booking with this code whose confirmation secret hashes to
    /// `confirm_hash` (pending bookings, and those confirmed since).
    async fn by_confirmation(&self, code: &str, confirm_hash: &[u8]) -> Result<Option<Booking>, Error>;

    /// The booking with this code in this office (for staff).
    async fn find(&self, office_id: &str, code: &str) -> Result<Option<Booking>, Error>;

    /// Moves the booking along its life cycle and records who did it; a
    /// cancellation also logs the release of the counter.
    async fn change_status(&self, request: StatusRequest<'_>) -> Result<StatusChange, Error>;

    /// Moves a booked appointment to another time, keeping code and token:
    /// the new time is taken and the old one released in one transaction.
    async fn reschedule(&self, request: MoveRequest<'_>) -> Result<Move, Error>;

    /// Pending bookings (office, code) not confirmed by `now`, at most `limit`.
    async fn expired_pending(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<(String, String)>, Error>;

    /// All bookings of an office overlapping [from, to), any status, by start.
    async fn list(&self, office_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Booking>, Error>;

    /// The recorded changes of a booking, oldest first.
    async fn history(&self, office_id: &str, code: &str) -> Result<Vec<HistoryEntry>, Error>;

    /// Claims up to `limit` mails due at `now` for this worker until
    /// `lease_until` (another worker takes them over after that).
    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingMail>, Error>;

    /// The mail went out; its token is erased.
    async fn mail_sent(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<(), Error>;

    /// The mail failed: try again at `retry_at`, or (with `None`) give up and
    /// erase its token.
    async fn mail_failed(
        &self,
        office_id: &str,
        id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), Error>;

    /// Removes the personal data of bookings that ended before
    /// `ended_before`: name, email, phone, notes in their history and mails
    /// not yet sent. Returns how many bookings it anonymised.
    async fn anonymise(&self, ended_before: DateTime<Utc>, at: DateTime<Utc>) -> Result<u64, Error>;

    /// Records that desk session `id` ended early; kept until `expires_at`.
    async fn revoke_session(&self, id: &str, expires_at: DateTime<Utc>) -> Result<(), Error>;

    /// Whether desk session `id` was ended early.
    async fn session_revoked(&self, id: &str) -> Result<bool, Error>;

    /// Forgets revocations of sessions that have ended anyway.
    async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, Error>;

    /// The office's latest change sequence (0 before the first change).
    async fn last_sequence(&self, office_id: &str) -> Result<u64, Error>;

    /// The office's oldest change still in the log (0 when it is empty).
    async fn first_sequence(&self, office_id: &str) -> Result<u64, Error>;

    /// Forgets changes logged before `before`, keeping each office's latest
    /// one (which anchors its sequence). Returns how many it removed.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, Error>;

    /// The office's changes after `after`, oldest first, at most `limit`.
    async fn changes(&self, office_id: &str, after: u64, limit: u32) -> Result<Vec<Change>, Error>;

    /// A consistent picture: the active bookings ending after `ends_after`
    /// and the sequence they reflect.
    async fn snapshot(&self, office_id: &str, ends_after: DateTime<Utc>) -> Result<Snapshot, Error>;
}

/// Opens the store named by `url` without connecting yet: the service starts
/// (reporting NOT_SERVING) even while its database is still unreachable.
pub fn open(url: &str, max_connections: u32) -> Result<Arc<dyn BookingStore>, Error> {
    Ok(
        match database::open(url, max_connections, "amtstermin-booking-service")? {
            database::Pool::Sqlite(pool) => Arc::new(SqlStore::<SqliteDialect>::new(
                pool,
                sqlx::migrate!("./migrations/sqlite"),
            )),
            database::Pool::Postgres(pool) => Arc::new(SqlStore::<PostgresDialect>::new(
                pool,
                sqlx::migrate!("./migrations/postgres"),
            )),
        },
    )
}

/// What the booking store needs of a backend beyond the shared dialect.
pub trait BookingDialect: Dialect {
    /// Claims up to `$3` mails due at `$1` until `$2`, returning
    /// `office_id, id, code, kind, token, attempts`.
    const CLAIM_MAILS: &'static str;
}

impl BookingDialect for SqliteDialect {
    // Writers take turns (BEGIN IMMEDIATE), so a plain UPDATE claims once.
    const CLAIM_MAILS: &'static str = "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1 \
         WHERE rowid IN (SELECT rowid FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
         RETURNING office_id, id, code, kind, token, attempts";
}

impl BookingDialect for PostgresDialect {
    // SKIP LOCKED: the workers of several replicas never claim one mail twice.
    const CLAIM_MAILS: &'static str = "UPDATE mail_outbox m SET next_attempt_at = $2, attempts = m.attempts + 1 \
         FROM (SELECT office_id, id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE m.office_id = due.office_id AND m.id = due.id \
         RETURNING m.office_id, m.id, m.code, m.kind, m.token, m.attempts";
}
