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
use crate::feeds::Feed;
use crate::notifications::{Notification, PendingMail};
use crate::waitlist::{Entry, Handover, Offer, OfferStatus};
use crate::webhooks::{Delivery, Due, Webhook};

/// What became of one attempt to deliver a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    GivenUp,
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
    /// On arrival: the waiting number to draw, unless the booking has one.
    pub waiting: Option<WaitingNumber<'a>>,
    /// Where the office keeps a waitlist: a time a cancellation frees is
    /// offered to the next entry in line, in the same transaction.
    pub handover: Option<&'a Handover>,
}

/// Which counter a waiting number comes from: the office's local day of the
/// appointment and the prefix of its kind (booked or walk-in).
#[derive(Clone, Copy, Debug)]
pub struct WaitingNumber<'a> {
    /// "YYYY-MM-DD".
    pub day: &'a str,
    pub prefix: &'a str,
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
    /// As `StatusRequest::handover`, for the time the move frees.
    pub handover: Option<&'a Handover>,
}

/// An answer to a waitlist offer: the entry's id, the offer's and the
/// hash of a secret that opens it (the entry's token or the offer mail's).
#[derive(Clone, Copy, Debug)]
pub struct OfferKey<'a> {
    pub entry_id: &'a str,
    pub offer_id: &'a str,
    pub secret_hash: &'a [u8],
}

/// What accepting an offer asks for besides its key.
#[derive(Clone, Copy, Debug)]
pub struct Acceptance<'a> {
    pub at: DateTime<Utc>,
    /// The hash of the token the new booking gets.
    pub token_hash: &'a [u8],
    /// The booking's mails (its confirmation, reminders).
    pub notifications: &'a [Notification],
    /// The office's limit of upcoming bookings per email address.
    pub limit: Option<u32>,
}

/// What became of an answer to an offer.
#[derive(Debug)]
pub enum Answer {
    /// Accepted: the booking it became.
    Booked(Booking),
    /// Declined; `sequence` is the last change it logged (the release and
    /// perhaps the next offer's hold).
    Declined {
        entry: Entry,
        sequence: u64,
    },
    /// The offer was answered before or its hold has ended.
    Closed(OfferStatus),
    /// The address holds its limit of upcoming bookings.
    LimitReached,
    NotFound,
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

    /// Calls a called citizen again: the call time moves to `at` and the
    /// history records the recall. `Refused` unless the booking is called.
    async fn recall(&self, office_id: &str, code: &str, actor: &str, at: DateTime<Utc>) -> Result<StatusChange, Error>;

    /// Queues `mail` ("Sie sind gleich dran") for the arrived booking,
    /// once: false when it was queued before or the booking is no longer
    /// waiting.
    async fn queue_soon_mail(&self, office_id: &str, code: &str, mail: &Notification) -> Result<bool, Error>;

    /// Adds a waitlist entry with its confirmation mail, unless the address
    /// holds `limit` entries waiting (unconfirmed or active) already.
    async fn add_waitlist_entry(
        &self,
        new: &crate::waitlist::NewEntry,
        limit: Option<u32>,
    ) -> Result<crate::waitlist::Added, Error>;

    /// The entry with this id whose token hashes to `token_hash`, with its
    /// offers (oldest first).
    /// The offer whose time booking `code` holds, if it is a hold.
    async fn offer_of_hold(&self, office_id: &str, code: &str) -> Result<Option<Offer>, Error>;

    /// Accepts an offer: the hold becomes a booked appointment with its own
    /// token, in one transaction with the offer and the entry.
    async fn accept_offer(&self, key: OfferKey<'_>, acceptance: Acceptance<'_>) -> Result<Answer, Error>;

    /// Declines an open offer: releases its hold and offers the time to the
    /// next in line (`handover`), in one transaction.
    async fn decline_offer(
        &self,
        key: OfferKey<'_>,
        at: DateTime<Utc>,
        handover: Option<&Handover>,
    ) -> Result<Answer, Error>;

    /// Offers the free time `spans` (counter, start, end) of an office,
    /// each in its own transaction, to the first entry in line, or only to
    /// entry `to` (then it stops at the first hold). Returns the last change
    /// sequence logged, if any.
    async fn offer_free_time(
        &self,
        office_id: &str,
        spans: &[(String, DateTime<Utc>, DateTime<Utc>)],
        handover: &Handover,
        to: Option<&str>,
    ) -> Result<Option<u64>, Error>;

    /// Takes the drawing of the lottery of `day` (YYYY-MM-DD) in an office:
    /// `true` for the one caller that does, across replicas; a claim not
    /// finished within `LOTTERY_LEASE` may be taken again.
    async fn claim_lottery(&self, office_id: &str, day: &str, at: DateTime<Utc>) -> Result<bool, Error>;

    /// Marks the lottery of `day` drawn to the end.
    async fn finish_lottery(&self, office_id: &str, day: &str, at: DateTime<Utc>) -> Result<(), Error>;

    /// The entries that may get an offer and whose range is not over on
    /// the office's `today`, first in line first (at most a few hundred).
    async fn entries_in_line(&self, office_id: &str, today: chrono::NaiveDate) -> Result<Vec<Entry>, Error>;

    /// The entries taking part in the lottery of `day`: active since before
    /// `confirmed_before`, covering the day, free for an offer.
    async fn lottery_entries(
        &self,
        office_id: &str,
        day: &str,
        confirmed_before: DateTime<Utc>,
    ) -> Result<Vec<Entry>, Error>;

    /// Stores a new staff account; `false` when its login is taken.
    async fn add_staff_account(&self, account: &crate::staff::StaffAccount) -> Result<bool, Error>;
    /// Every stored staff account, by login.
    async fn staff_accounts(&self) -> Result<Vec<crate::staff::StaffAccount>, Error>;
    async fn staff_account(&self, login: &str) -> Result<Option<crate::staff::StaffAccount>, Error>;
    /// Sets name, offices, roles and whether it is disabled; `None` for an
    /// unknown login.
    async fn update_staff_account(
        &self,
        account: &crate::staff::StaffAccount,
    ) -> Result<Option<crate::staff::StaffAccount>, Error>;
    /// A new password hash (the version grows); `None` for an unknown login.
    async fn set_staff_password(
        &self,
        login: &str,
        password_hash: &str,
        (actor, at): (&str, DateTime<Utc>),
    ) -> Result<Option<crate::staff::StaffAccount>, Error>;

    /// Queues `configuration.changed` of `version` for the office's
    /// subscriptions that want it, and records it in the audit log: once per
    /// subscription, however often it is asked (the availability service
    /// announces at least once). How many deliveries are new.
    async fn queue_configuration_hooks(
        &self,
        office_id: &str,
        version: u64,
        (actor, at): (&str, DateTime<Utc>),
    ) -> Result<u64, Error>;

    /// Adds events to the audit log (one already there stays as it is).
    async fn record_audit(&self, events: &[crate::audit::AuditEvent]) -> Result<(), Error>;
    /// The office's audit log in [from, to), newest first, with the staff's
    /// entries of the bookings' history; at most `limit`.
    async fn audit_events(
        &self,
        office_id: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEvent>, Error>;

    /// Adds a subscription with its signing secret; `false` when its id is
    /// taken (draw another).
    async fn add_webhook(&self, webhook: &Webhook, secret: &str) -> Result<bool, Error>;

    /// An office's subscriptions not deleted, oldest first.
    async fn webhooks(&self, office_id: &str) -> Result<Vec<Webhook>, Error>;

    /// Deletes a subscription (nothing more goes to it); `None` when unknown.
    async fn delete_webhook(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<Option<Webhook>, Error>;

    /// A subscription's latest deliveries, newest first.
    async fn webhook_deliveries(&self, office_id: &str, webhook_id: &str, limit: u32) -> Result<Vec<Delivery>, Error>;

    /// Claims up to `limit` deliveries due at `now` until `until` (another
    /// replica takes them again only after that), with each's URL and secret;
    /// a delivery of a deleted subscription is given up instead.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Due, String, String)>, Error>;

    /// Records a delivery's answer: delivered, to be tried again at `retry`,
    /// or (neither) given up.
    async fn delivery_answered(
        &self,
        due: &Due,
        (at, status, error): (DateTime<Utc>, u32, Option<&str>),
        outcome: DeliveryOutcome,
    ) -> Result<(), Error>;

    /// Adds a calendar feed with the hash of its token; `false` when its id
    /// is taken (draw another).
    async fn add_feed(&self, feed: &Feed, token_hash: &[u8]) -> Result<bool, Error>;

    /// An office's feeds not revoked, oldest first.
    async fn feeds(&self, office_id: &str) -> Result<Vec<Feed>, Error>;

    /// Revokes a feed; `None` when unknown.
    async fn revoke_feed(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<Option<Feed>, Error>;

    /// The feed of an office a token opens, if not revoked.
    async fn feed_by_token(&self, office_id: &str, token_hash: &[u8]) -> Result<Option<Feed>, Error>;

    /// The entry and its offers, for whoever holds its token or the secret
    /// of one of its offer mails.
    async fn waitlist_entry(
        &self,
        id: &str,
        token_hash: &[u8],
    ) -> Result<Option<(crate::waitlist::Entry, Vec<crate::waitlist::Offer>)>, Error>;

    /// The entry `id` of an office (for its mails).
    async fn find_waitlist_entry(&self, office_id: &str, id: &str) -> Result<Option<crate::waitlist::Entry>, Error>;

    /// Confirms the entry whose confirmation secret hashes to
    /// `confirm_hash`: an unconfirmed one becomes active at `at`. The entry
    /// as it is then; `None` for a wrong id or secret.
    async fn confirm_waitlist_entry(
        &self,
        id: &str,
        confirm_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<crate::waitlist::Entry>, Error>;

    /// Withdraws the entry (unconfirmed or active) at `at`. The entry as it
    /// is then; `None` for a wrong id or token.
    async fn withdraw_waitlist_entry(
        &self,
        id: &str,
        token_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<crate::waitlist::Entry>, Error>;

    /// The concern lists of the office's active entries whose range covers
    /// `day` (any day when `None`), each with how many entries have it.
    async fn waiting_entries(
        &self,
        office_id: &str,
        day: Option<chrono::NaiveDate>,
    ) -> Result<Vec<(Vec<String>, u32)>, Error>;

    /// The appointments of an office starting in [from, to), with their
    /// history, for the statistics (no personal data).
    async fn statistics_records(
        &self,
        office_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::statistics::Record>, Error>;

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

    /// The position through which a reader of the office's changes can
    /// have everything now (0 before the first change).
    async fn last_sequence(&self, office_id: &str) -> Result<u64, Error>;

    /// The position through which the office's log has been pruned (0 when
    /// nothing was): a reader resuming below it has missed changes.
    async fn pruned_through(&self, office_id: &str) -> Result<u64, Error>;

    /// Forgets changes logged before `before`, keeping each office's latest
    /// one, and moves the offices' horizons. Returns how many it removed.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, Error>;

    /// The office's changes after position `after` that a reader may see
    /// now, in order, at most `limit`.
    async fn changes(&self, office_id: &str, after: u64, limit: u32) -> Result<Vec<Change>, Error>;

    /// A consistent picture: the active bookings ending after `ends_after`
    /// and the sequence they reflect.
    async fn snapshot(&self, office_id: &str, ends_after: DateTime<Utc>) -> Result<Snapshot, Error>;

    /// Mails neither sent nor given up yet.
    async fn mail_backlog(&self) -> Result<u64, Error>;

    /// The connections of the store's pools: name, (size, idle).
    fn pool_use(&self) -> [(&'static str, (u32, usize)); 2];

    /// Tells every replica's feeds that these offices logged changes up to
    /// these positions (PostgreSQL: NOTIFY; nothing to do on SQLite).
    async fn announce(&self, changes: &[(String, u64)]) -> Result<(), Error>;

    /// Hands every announced change (office, position) to `on` until the
    /// connection fails; returns at once where nothing is announced.
    async fn follow_announcements(&self, on: &(dyn for<'s> Fn(&'s str, u64) + Send + Sync)) -> Result<(), Error>;
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

/// The columns of a booking as the store reads them; `FROM bookings` follows.
macro_rules! booking_columns {
    () => {
        "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
         name, email, phone, channel, created_at, confirm_by, language, waiting_number, called_at"
    };
}
pub(crate) use booking_columns;

/// What the booking store needs of a backend beyond the shared dialect:
/// how changes are numbered and read back, how mails are claimed, and what
/// serialises the writes that a check must not race.
///
/// The change log's promise on both backends: a reader that resumes after
/// position `p` gets every change above `p`, in order, each once, and never
/// later finds one below what it has read. SQLite gets it from one writer at
/// a time: an office's positions count up in commit order (`office_sequences`).
/// PostgreSQL numbers a change by its transaction id instead (4 × xid + n),
/// so no lock is shared by an office's bookings, and a reader reads only
/// below the oldest transaction still running (`pg_snapshot_xmin`): every
/// lower position has committed or rolled back by then, and no later one can
/// appear below it.
pub trait BookingDialect: Dialect {
    /// Claims up to `$3` mails due at `$1` until `$2`, returning
    /// `office_id, id, code, kind, token, attempts`.
    const CLAIM_MAILS: &'static str;
    /// As `CLAIM_MAILS`, for webhook deliveries, returning
    /// `office_id, id, webhook_id, payload, attempts`.
    const CLAIM_DELIVERIES: &'static str;
    /// The changes of office `$1` above position `$2` that a reader may see
    /// now, in order, at most `$3`.
    const SELECT_CHANGES: &'static str;
    /// Takes one serialising lock for `$1` (office) and `$2` (an email address
    /// or client key) until commit; `None` where writers take turns anyway.
    const LOCK_CITIZEN: Option<&'static str>;
    /// Reads booking `$2` of office `$1` and locks it until commit.
    const SELECT_FOR_CHANGE: &'static str;
    /// Whether an active booking other than `$5` overlaps [`$4`, `$3`) on
    /// counter `$2` of office `$1`.
    const COUNTER_TAKEN: &'static str;
    /// Locks buckets `$3` to `$4` (in order) of counter `$2` of office `$1`
    /// until commit; `None` where writers take turns anyway.
    const LOCK_INTERVAL: Option<&'static str>;

    /// Takes the positions of `count` (at most [`MAX_CHANGES_PER_WRITE`])
    /// changes of `office_id` in this transaction; returns the first.
    fn take_positions<'c>(
        conn: &'c mut <Self::Db as sqlx::Database>::Connection,
        office_id: &'c str,
        count: u32,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// The position through which a reader of `office_id` can have read
    /// everything (in a snapshot transaction: as of that snapshot).
    fn read_position<'c>(
        conn: &'c mut <Self::Db as sqlx::Database>::Connection,
        office_id: &'c str,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Sends `payloads` to the processes following announcements.
    fn announce<'c>(
        pool: &'c sqlx::Pool<Self::Db>,
        payloads: &'c [String],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// Hands every payload announced to `on` until the connection fails;
    /// returns `Ok` at once where nothing is announced.
    fn follow_announcements<'c>(
        pool: &'c sqlx::Pool<Self::Db>,
        on: &'c (dyn Fn(&str) + Send + Sync),
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;
}

/// The PostgreSQL channel on which replicas announce logged changes.
const ANNOUNCEMENTS: &str = "amtstermin_booking_changes";

/// The most changes one transaction logs (a move: released and booked, and
/// the hold of the waitlist offer the released time became).
pub const MAX_CHANGES_PER_WRITE: u32 = 3;

/// A position read from the database; a negative one means "nothing yet".
fn position(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

impl BookingDialect for SqliteDialect {
    // Writers take turns (BEGIN IMMEDIATE), so a plain UPDATE claims once.
    const CLAIM_MAILS: &'static str = "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1 \
         WHERE rowid IN (SELECT rowid FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
         RETURNING office_id, id, code, kind, token, attempts";
    const CLAIM_DELIVERIES: &'static str = "UPDATE webhook_deliveries SET next_attempt_at = $2, \
         attempts = attempts + 1 WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE delivered_at IS NULL \
         AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
         RETURNING office_id, id, webhook_id, payload, attempts";
    const SELECT_CHANGES: &'static str = "SELECT sequence, kind, code, counter_id, start_at, end_at, created_at, \
         by_citizen FROM booking_events WHERE office_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3";
    const LOCK_CITIZEN: Option<&'static str> = None;
    const LOCK_INTERVAL: Option<&'static str> = None;
    // BEGIN IMMEDIATE holds the database's write lock already.
    const SELECT_FOR_CHANGE: &'static str =
        concat!(booking_columns!(), " FROM bookings WHERE office_id = $1 AND code = $2");
    // No appointment lasts a day: the index scan starts a day before.
    const COUNTER_TAKEN: &'static str = "SELECT 1 AS taken FROM bookings WHERE office_id = $1 AND counter_id = $2 \
         AND start_at < $3 AND start_at > $4 - 86400 AND end_at > $4 AND status <> 'cancelled' AND code <> $5 LIMIT 1";

    async fn take_positions(
        conn: &mut sqlx::SqliteConnection,
        office_id: &str,
        count: u32,
    ) -> Result<u64, sqlx::Error> {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO office_sequences (office_id, last_sequence) VALUES ($1, $2) \
             ON CONFLICT (office_id) DO UPDATE SET last_sequence = office_sequences.last_sequence + $2 \
             RETURNING last_sequence",
        )
        .bind(office_id)
        .bind(i64::from(count))
        .fetch_one(conn)
        .await?;
        Ok(position(last - i64::from(count) + 1))
    }

    async fn read_position(conn: &mut sqlx::SqliteConnection, office_id: &str) -> Result<u64, sqlx::Error> {
        let last: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) FROM booking_events WHERE office_id = $1")
                .bind(office_id)
                .fetch_one(conn)
                .await?;
        Ok(position(last))
    }

    // One process writes a SQLite file; its feeds are woken directly.
    async fn announce(_: &sqlx::SqlitePool, _: &[String]) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn follow_announcements(_: &sqlx::SqlitePool, _: &(dyn Fn(&str) + Send + Sync)) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl BookingDialect for PostgresDialect {
    // SKIP LOCKED: the workers of several replicas never claim one mail twice.
    const CLAIM_MAILS: &'static str = "UPDATE mail_outbox m SET next_attempt_at = $2, attempts = m.attempts + 1 \
         FROM (SELECT office_id, id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE m.office_id = due.office_id AND m.id = due.id \
         RETURNING m.office_id, m.id, m.code, m.kind, m.token, m.attempts";
    const CLAIM_DELIVERIES: &'static str = "UPDATE webhook_deliveries d SET next_attempt_at = $2, \
         attempts = d.attempts + 1 FROM (SELECT office_id, id FROM webhook_deliveries WHERE delivered_at IS NULL \
         AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE d.office_id = due.office_id AND d.id = due.id \
         RETURNING d.office_id, d.id, d.webhook_id, d.payload, d.attempts";
    // Only below the statement snapshot's xmin: see the trait.
    const SELECT_CHANGES: &'static str = "SELECT sequence, kind, code, counter_id, start_at, end_at, created_at, \
         by_citizen FROM booking_events WHERE office_id = $1 AND sequence > $2 \
         AND sequence < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 4 ORDER BY sequence LIMIT $3";
    // Limits per email address and per client count what exists: two
    // bookings of one citizen must not both count before either inserts.
    // Keys are hashed to 64 bits; a collision only makes two citizens wait
    // for each other.
    const LOCK_CITIZEN: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))");
    // In ascending order, so two writers never wait for each other in turn.
    const LOCK_INTERVAL: Option<&'static str> = Some(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || bucket::text, 0)) \
         FROM generate_series($3::bigint, $4::bigint) AS bucket ORDER BY bucket",
    );
    const SELECT_FOR_CHANGE: &'static str = concat!(
        booking_columns!(),
        " FROM bookings WHERE office_id = $1 AND code = $2 FOR UPDATE"
    );
    // In the terms of the exclusion constraint, so its GiST index answers.
    const COUNTER_TAKEN: &'static str = "SELECT 1 AS taken FROM bookings WHERE office_id = $1 AND counter_id = $2 \
         AND status <> 'cancelled' AND tstzrange(start_at, end_at, '[)') && tstzrange($4, $3, '[)') \
         AND code <> $5 LIMIT 1";

    fn take_positions<'c>(
        conn: &'c mut sqlx::PgConnection,
        _office_id: &'c str,
        count: u32,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c {
        debug_assert!(count <= MAX_CHANGES_PER_WRITE);
        async move {
            let xid: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
                .fetch_one(conn)
                .await?;
            Ok(position(xid.saturating_mul(4)))
        }
    }

    async fn read_position(conn: &mut sqlx::PgConnection, _office_id: &str) -> Result<u64, sqlx::Error> {
        let xmin: i64 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(conn)
            .await?;
        Ok(position(xmin.saturating_mul(4) - 1))
    }

    // In a transaction of its own, after the changes committed: NOTIFY takes
    // a lock shared by the whole cluster at commit, which must not lengthen
    // bookings. Without a synchronous commit it waits for no disk either; a
    // lost announcement costs one poll interval.
    async fn announce(pool: &sqlx::PgPool, payloads: &[String]) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit TO off")
            .execute(&mut *tx)
            .await?;
        for payload in payloads {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ANNOUNCEMENTS)
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    async fn follow_announcements(pool: &sqlx::PgPool, on: &(dyn Fn(&str) + Send + Sync)) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(ANNOUNCEMENTS).await?;
        loop {
            let notification = listener.recv().await?;
            on(notification.payload());
        }
    }
}
