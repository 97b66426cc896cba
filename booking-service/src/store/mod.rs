//! Where bookings live. One trait, two backends chosen by the URL scheme:
//! SQLite (embedded default) and PostgreSQL (production, several replicas).
//! Both pass the same conformance tests (`tests/store_conformance.rs`).

mod postgres;
mod sqlite;

use std::sync::Arc;

use amtstermin_platform::database;
use chrono::{DateTime, Utc};

pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;
use crate::bookings::{Booking, HistoryEntry, Idempotency, NewBooking, Status};
use crate::error::Error;
use crate::notifications::{MailKind, Notification, PendingMail};

/// A booking's interval on its counter, without personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    pub code: String,
    pub counter_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Booked,
    Released,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Booked => "booked",
            ChangeKind::Released => "released",
        }
    }

    fn parse(stored: &str) -> Result<Self, Error> {
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
}

/// The active bookings of an office as of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub sequence: u64,
    pub intervals: Vec<Interval>,
}

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
    /// at most that many booked appointments still to come in the office.
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

    /// The booking with this code in this office (for staff).
    async fn find(&self, office_id: &str, code: &str) -> Result<Option<Booking>, Error>;

    /// Moves the booking along its life cycle and records who did it; a
    /// cancellation also logs the release of the counter.
    async fn change_status(&self, request: StatusRequest<'_>) -> Result<StatusChange, Error>;

    /// Moves a booked appointment to another time, keeping code and token:
    /// the new time is taken and the old one released in one transaction.
    async fn reschedule(&self, request: MoveRequest<'_>) -> Result<Move, Error>;

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

    /// Active bookings of an office overlapping [from, to).
    async fn booked_intervals(
        &self,
        office_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Interval>, Error>;

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
            database::Pool::Sqlite(pool) => Arc::new(SqliteStore::new(pool)),
            database::Pool::Postgres(pool) => Arc::new(PgStore::new(pool)),
        },
    )
}

// The SQL both backends share ($n placeholders work in both dialects); only
// how instants are bound and read differs.
const INSERT_BOOKING: &str = "INSERT INTO bookings (office_id, code, counter_id, concern_ids, start_at, end_at, \
     status, name, email, phone, token_hash, idempotency_key_hash, request_hash, token_sealed, channel, created_at, \
     updated_at, email_normalized) \
     VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)";
const SELECT_BY_IDEMPOTENCY_KEY: &str = "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
     name, email, phone, channel, created_at, idempotency_key_hash, request_hash, token_sealed FROM bookings \
     WHERE office_id = $1 AND idempotency_key_hash = $2";
const SELECT_BY_CODE_AND_TOKEN: &str = "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
     name, email, phone, channel, created_at FROM bookings WHERE code = $1 AND token_hash = $2";
const SELECT_BY_OFFICE_AND_CODE: &str = "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
     name, email, phone, channel, created_at FROM bookings WHERE office_id = $1 AND code = $2";
const SELECT_LIST: &str = "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
     name, email, phone, channel, created_at FROM bookings \
     WHERE office_id = $1 AND start_at < $3 AND end_at > $2 ORDER BY start_at, code";
const UPDATE_STATUS: &str = "UPDATE bookings SET status = $4, updated_at = $5 \
     WHERE office_id = $1 AND code = $2 AND status = $3";
const MOVE: &str = "UPDATE bookings SET counter_id = $3, start_at = $4, end_at = $5, updated_at = $6 \
     WHERE office_id = $1 AND code = $2 AND status = 'booked'";
const INSERT_HISTORY: &str = "INSERT INTO booking_history \
     (office_id, code, entry, at, actor, from_status, to_status, detail) \
     SELECT $1, $2, COALESCE(MAX(entry), 0) + 1, $3, $4, $5, $6, $7 FROM booking_history \
     WHERE office_id = $1 AND code = $2";
const SELECT_HISTORY: &str = "SELECT at, actor, from_status, to_status, detail FROM booking_history \
     WHERE office_id = $1 AND code = $2 ORDER BY entry";
const DROP_PENDING_REMINDERS: &str = "DELETE FROM mail_outbox WHERE office_id = $1 AND code = $2 \
     AND kind = 'reminder' AND sent_at IS NULL AND failed_at IS NULL";
const INSERT_MAIL: &str = "INSERT INTO mail_outbox (office_id, id, code, kind, token, due_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6)";
const MAIL_SENT: &str = "UPDATE mail_outbox SET sent_at = $3, token = NULL WHERE office_id = $1 AND id = $2";
const MAIL_RETRY: &str =
    "UPDATE mail_outbox SET next_attempt_at = $3, last_error = $4 WHERE office_id = $1 AND id = $2";
const MAIL_GIVEN_UP: &str =
    "UPDATE mail_outbox SET failed_at = $3, last_error = $4, token = NULL WHERE office_id = $1 AND id = $2";
const ANONYMISE_BOOKINGS: &str = "UPDATE bookings SET name = '', email = '', phone = '', email_normalized = '', \
     request_hash = NULL, token_sealed = NULL, anonymised_at = $2 WHERE end_at < $1 AND anonymised_at IS NULL";
const ANONYMISE_HISTORY: &str = "UPDATE booking_history SET detail = NULL WHERE detail IS NOT NULL AND EXISTS \
     (SELECT 1 FROM bookings b WHERE b.office_id = booking_history.office_id AND b.code = booking_history.code \
     AND b.anonymised_at IS NOT NULL)";
const DROP_MAILS_OF_ANONYMISED: &str = "DELETE FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND EXISTS \
     (SELECT 1 FROM bookings b WHERE b.office_id = mail_outbox.office_id AND b.code = mail_outbox.code \
     AND b.anonymised_at IS NOT NULL)";
const COUNT_ACTIVE_FOR_EMAIL: &str = "SELECT COUNT(*) FROM bookings \
     WHERE office_id = $1 AND email_normalized = $2 AND status = 'booked' AND start_at > $3";
const SELECT_INTERVALS: &str = "SELECT code, counter_id, start_at, end_at FROM bookings \
     WHERE office_id = $1 AND status <> 'cancelled' AND start_at < $3 AND end_at > $2 ORDER BY start_at";
const SELECT_ACTIVE: &str = "SELECT code, counter_id, start_at, end_at FROM bookings \
     WHERE office_id = $1 AND status <> 'cancelled' AND end_at > $2 ORDER BY start_at";
const LAST_SEQUENCE: &str = "SELECT COALESCE(MAX(sequence), 0) FROM booking_events WHERE office_id = $1";
const FIRST_SEQUENCE: &str = "SELECT COALESCE(MIN(sequence), 0) FROM booking_events WHERE office_id = $1";
const PRUNE_CHANGES: &str = "DELETE FROM booking_events WHERE created_at < $1 AND sequence < \
     (SELECT MAX(latest.sequence) FROM booking_events latest WHERE latest.office_id = booking_events.office_id)";
const SELECT_CHANGES: &str = "SELECT sequence, kind, code, counter_id, start_at, end_at FROM booking_events \
     WHERE office_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3";
fn sequence(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

fn stored_sequence(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

/// A row read with `SELECT_CHANGES`; `interval` reads the backend's instants.
fn change<R>(row: &R, interval: impl Fn(&R) -> Result<Interval, Error>) -> Result<Change, Error>
where
    R: sqlx::Row,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    let kind: String = row.try_get("kind")?;
    Ok(Change {
        sequence: sequence(row.try_get("sequence")?),
        kind: ChangeKind::parse(&kind)?,
        interval: interval(row)?,
    })
}

/// The idempotency columns of a row read with `SELECT_BY_IDEMPOTENCY_KEY`.
fn idempotency<R>(row: &R) -> Result<Idempotency, Error>
where
    R: sqlx::Row,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok(Idempotency {
        key_hash: row.try_get("idempotency_key_hash")?,
        request_hash: row.try_get("request_hash")?,
        token_sealed: row.try_get("token_sealed")?,
    })
}

/// A row read with `SELECT_HISTORY`; `at` reads the backend's instant.
fn history_entry<R>(row: &R, at: DateTime<Utc>) -> Result<HistoryEntry, Error>
where
    R: sqlx::Row,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    let from: Option<String> = row.try_get("from_status")?;
    let to: String = row.try_get("to_status")?;
    Ok(HistoryEntry {
        at,
        actor: row.try_get("actor")?,
        from: from.as_deref().map(stored_status).transpose()?,
        to: stored_status(&to)?,
        detail: row.try_get("detail")?,
    })
}

/// A row claimed from the outbox.
fn pending_mail<R>(row: &R) -> Result<PendingMail, Error>
where
    R: sqlx::Row,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    let kind: String = row.try_get("kind")?;
    let attempts: i32 = row.try_get("attempts")?;
    Ok(PendingMail {
        office_id: row.try_get("office_id")?,
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        kind: MailKind::parse(&kind).ok_or_else(|| Error::Internal(format!("unknown mail kind {kind:?}")))?,
        token: row.try_get("token")?,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

/// The history note of a move.
fn move_detail(from: &Booking, request: &MoveRequest<'_>) -> String {
    format!(
        "moved from {} to {}",
        from.start.to_rfc3339(),
        request.start.to_rfc3339()
    )
}

fn split_concerns(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

fn stored_status(stored: &str) -> Result<crate::bookings::Status, Error> {
    crate::bookings::Status::parse(stored).ok_or_else(|| Error::Internal(format!("unknown stored status {stored:?}")))
}

fn stored_channel(stored: &str) -> Result<crate::bookings::Channel, Error> {
    crate::bookings::Channel::parse(stored).ok_or_else(|| Error::Internal(format!("unknown stored channel {stored:?}")))
}

/// The booking after a successful move.
fn moved(mut booking: Booking, request: &MoveRequest<'_>, counter_id: &str) -> Booking {
    booking.counter_id = counter_id.to_owned();
    booking.start = request.start;
    booking.end = request.end;
    booking
}

/// The booking `reserve` created from `new` on `counter_id`.
fn created(new: &NewBooking, counter_id: &str) -> Booking {
    Booking {
        office_id: new.office_id.clone(),
        code: new.code.clone(),
        counter_id: counter_id.to_owned(),
        concern_ids: new.concern_ids.clone(),
        start: new.start,
        end: new.end,
        status: crate::bookings::Status::Booked,
        name: new.name.clone(),
        email: new.email.clone(),
        phone: new.phone.clone(),
        channel: new.channel,
        created_at: new.created_at,
    }
}
