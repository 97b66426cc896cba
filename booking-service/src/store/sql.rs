//! The booking store, written once for both backends over a `Dialect`.
//!
//! Every write runs in one `BEGIN_WRITE` transaction with the change it
//! logs; how changes are numbered and read back is the dialect's (see
//! `BookingDialect`): no lock is shared by all bookings of an office on
//! PostgreSQL. Checks that count what exists (limits per email address and
//! client) first take the citizen's lock; a change of an existing booking
//! first locks its row. The office id leads every key, so under Citus each
//! booking stays a single-shard transaction.
//!
//! The database is the arbiter of overlaps: on SQLite the write lock of
//! `BEGIN IMMEDIATE` makes the overlap check and the insert one step; on
//! PostgreSQL the exclusion constraint `bookings_no_double_booking` refuses an
//! overlapping booking whatever the check saw, across any number of replicas.

use std::marker::PhantomData;

use amtstermin_platform::database::{Dialect, Pools};
use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{
    Acceptance, Answer, BookingDialect, BookingStore, Decision, DeliveryOutcome, Move, MoveRequest, OfferKey,
    Reservation, StatusChange, StatusRequest, booking_columns, decide,
};
use crate::bookings::{self, Booking, Channel, HistoryEntry, Idempotency, Interval, NewBooking, Status};
use crate::changes::{Change, ChangeKind, Snapshot};
use crate::error::Error;
use crate::feeds::Feed;
use crate::notifications::{MailKind, Notification, PendingMail};
use crate::waitlist::{Handover, Offer, OfferStatus};
use crate::webhooks::{Delivery, Due, Event, Webhook};

const INSERT_BOOKING: &str = "INSERT INTO bookings (office_id, code, counter_id, concern_ids, start_at, end_at, \
     name, email, phone, token_hash, idempotency_key_hash, request_hash, token_sealed, channel, created_at, \
     updated_at, email_normalized, client_key, status, confirm_by, confirm_hash, language) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18, $19, $20, $21)";
const SELECT_BY_IDEMPOTENCY_KEY: &str = "SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, \
     name, email, phone, channel, created_at, confirm_by, language, waiting_number, called_at, \
     idempotency_key_hash, request_hash, token_sealed FROM bookings \
     WHERE office_id = $1 AND idempotency_key_hash = $2";
const SELECT_BY_CODE_AND_TOKEN: &str =
    concat!(booking_columns!(), " FROM bookings WHERE code = $1 AND token_hash = $2");
const SELECT_BY_CODE_AND_CONFIRMATION: &str = concat!(
    booking_columns!(),
    " FROM bookings WHERE code = $1 AND confirm_hash = $2"
);
const SELECT_BY_OFFICE_AND_CODE: &str =
    concat!(booking_columns!(), " FROM bookings WHERE office_id = $1 AND code = $2");
const SELECT_LIST: &str = concat!(
    booking_columns!(),
    " FROM bookings WHERE office_id = $1 AND start_at < $3 AND end_at > $2 ORDER BY start_at, code"
);
/// The next number of an office's day and kind: the row's lock makes
/// concurrent check-ins take turns, so numbers are unique and gap-free.
const NEXT_WAITING_NUMBER: &str = "INSERT INTO waiting_counters (office_id, day, prefix, last_number) \
     VALUES ($1, $2, $3, 1) \
     ON CONFLICT (office_id, day, prefix) DO UPDATE SET last_number = waiting_counters.last_number + 1 \
     RETURNING last_number";
const SET_WAITING_NUMBER: &str =
    "UPDATE bookings SET waiting_number = $3, waiting_day = $4 WHERE office_id = $1 AND code = $2";
const UPDATE_STATUS: &str = "UPDATE bookings SET status = $4, updated_at = $5 \
     WHERE office_id = $1 AND code = $2 AND status = $3";
/// Marks the "almost your turn" mail as due, once per booking.
const MARK_SOON_MAILED: &str = "UPDATE bookings SET soon_mailed = $3 \
     WHERE office_id = $1 AND code = $2 AND soon_mailed = $4 AND status = 'checked_in'";
const SET_CALLED_AT: &str = "UPDATE bookings SET called_at = $3, updated_at = $3 WHERE office_id = $1 AND code = $2";
/// The appointments the statistics count, by the office's start index;
/// the steps they count are kept with each booking (see `MARK_STEP`).
const SELECT_STATISTICS: &str = "SELECT counter_id, concern_ids, channel, start_at, end_at, created_at, status, \
     arrived_at, first_called_at, completed_at, never_confirmed \
     FROM bookings WHERE office_id = $1 AND start_at >= $2 AND start_at < $3";
/// Keeps a step the statistics count with the booking: the first arrival,
/// the first call, the completion (each taking the instant as $3), a
/// release before confirmation.
fn mark_step(from: Status, to: Status) -> Option<(&'static str, bool)> {
    Some(match (from, to) {
        (_, Status::CheckedIn) => (
            "UPDATE bookings SET arrived_at = COALESCE(arrived_at, $3) WHERE office_id = $1 AND code = $2",
            true,
        ),
        (_, Status::Called) => (
            "UPDATE bookings SET first_called_at = COALESCE(first_called_at, $3) WHERE office_id = $1 AND code = $2",
            true,
        ),
        (_, Status::Completed) => (
            "UPDATE bookings SET completed_at = COALESCE(completed_at, $3) WHERE office_id = $1 AND code = $2",
            true,
        ),
        (Status::Pending, Status::Cancelled) => (
            "UPDATE bookings SET never_confirmed = TRUE WHERE office_id = $1 AND code = $2",
            false,
        ),
        _ => return None,
    })
}
const INSERT_WAITLIST_ENTRY: &str = "INSERT INTO waitlist_entries (office_id, id, token_hash, confirm_hash, \
     concern_ids, from_day, to_day, time_of_day, name, email, email_normalized, language, status, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'unconfirmed', $13, $13)";
/// Entries whose range is over ($3: the office's today) no longer wait.
const COUNT_WAITING_FOR_EMAIL: &str = "SELECT COUNT(*) AS waiting FROM waitlist_entries \
     WHERE office_id = $1 AND email_normalized = $2 AND status IN ('unconfirmed', 'active') AND to_day >= $3";
macro_rules! entry_columns {
    () => {
        "SELECT office_id, id, concern_ids, from_day, to_day, time_of_day, name, email, language, status, \
         created_at, confirmed_at, place, offers_made, open_offer FROM waitlist_entries"
    };
}
const SELECT_ENTRY_BY_TOKEN: &str = concat!(entry_columns!(), " WHERE id = $1 AND token_hash = $2");
/// The entry, by its token or an offer mail's secret.
const SELECT_ENTRY_BY_SECRET: &str = concat!(
    entry_columns!(),
    " WHERE id = $1 AND (token_hash = $2 OR EXISTS (SELECT 1 FROM waitlist_offers o \
     WHERE o.office_id = waitlist_entries.office_id AND o.entry_id = waitlist_entries.id AND o.secret_hash = $2))"
);
/// The entries a time starting at $3 on local day $2 may go to, first in
/// line first; not those offered this start before (who declined it or let
/// it expire).
const SELECT_IN_LINE: &str = concat!(
    entry_columns!(),
    " WHERE office_id = $1 AND status = 'active' AND open_offer IS NULL AND offers_made < 3 \
     AND from_day <= $2 AND to_day >= $2 AND NOT EXISTS (SELECT 1 FROM waitlist_offers o \
     WHERE o.office_id = waitlist_entries.office_id AND o.entry_id = waitlist_entries.id AND o.start_at = $3) \
     ORDER BY confirmed_at, place, id LIMIT 500"
);
macro_rules! feed_columns {
    () => {
        "SELECT office_id, id, counter_id, names, created_at, created_by, revoked_at FROM calendar_feeds"
    };
}
const INSERT_FEED: &str = "INSERT INTO calendar_feeds (office_id, id, token_hash, counter_id, names, created_at, \
     created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SELECT_FEEDS: &str = concat!(
    feed_columns!(),
    " WHERE office_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
);
const SELECT_FEED: &str = concat!(feed_columns!(), " WHERE office_id = $1 AND id = $2");
const SELECT_FEED_BY_TOKEN: &str = concat!(
    feed_columns!(),
    " WHERE office_id = $1 AND token_hash = $2 AND revoked_at IS NULL"
);
const REVOKE_FEED: &str =
    "UPDATE calendar_feeds SET revoked_at = $3 WHERE office_id = $1 AND id = $2 AND revoked_at IS NULL";
const SELECT_HOOKS: &str = "SELECT office_id, id, url, events, personal_data, created_at, created_by, deleted_at \
     FROM webhooks WHERE office_id = $1 AND deleted_at IS NULL ORDER BY created_at, id";
const INSERT_HOOK: &str = "INSERT INTO webhooks (office_id, id, url, secret, events, personal_data, created_at, \
     created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const DELETE_HOOK: &str = "UPDATE webhooks SET deleted_at = $3 WHERE office_id = $1 AND id = $2 AND deleted_at IS NULL";
const SELECT_HOOK: &str = "SELECT office_id, id, url, events, personal_data, created_at, created_by, deleted_at \
     FROM webhooks WHERE office_id = $1 AND id = $2";
const SELECT_HOOK_SECRET: &str = "SELECT url, secret, deleted_at FROM webhooks WHERE office_id = $1 AND id = $2";
const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (office_id, id, webhook_id, event, payload, created_at, \
     next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)";
const STAFF_COLUMNS: &str = "login, name, password_hash, password_version, offices, roles, disabled_at, \
     created_at, created_by, changed_at, changed_by";
const INSERT_STAFF: &str = "INSERT INTO staff_accounts (login, name, password_hash, password_version, offices, roles, \
     disabled_at, created_at, created_by, changed_at, changed_by) VALUES ($1, $2, $3, 1, $4, $5, NULL, $6, $7, $6, $7)";
const UPDATE_STAFF: &str = "UPDATE staff_accounts SET name = $2, offices = $3, roles = $4, \
     disabled_at = CASE WHEN $5 THEN COALESCE(disabled_at, $6) ELSE NULL END, changed_at = $6, changed_by = $7 \
     WHERE login = $1";
const SET_STAFF_PASSWORD: &str = "UPDATE staff_accounts SET password_hash = $2, \
     password_version = password_version + 1, changed_at = $3, changed_by = $4 WHERE login = $1";
const INSERT_AUDIT: &str = "INSERT INTO audit_events (office_id, id, at, actor, action, subject, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
/// The audit log with the staff's entries of the bookings' history: a status
/// change names the new status, a move (the status stays) is `booking.moved`.
const SELECT_AUDIT: &str = "SELECT id, at, actor, action, subject, detail FROM audit_events \
     WHERE office_id = $1 AND at >= $2 AND at < $3 \
     UNION ALL \
     SELECT code || '#' || CAST(entry AS TEXT), at, actor, \
     CASE WHEN from_status = to_status THEN 'booking.moved' ELSE 'booking.' || to_status END, \
     code, COALESCE(detail, '') FROM booking_history \
     WHERE office_id = $1 AND at >= $2 AND at < $3 AND actor LIKE 'staff:%' \
     ORDER BY at DESC, id DESC LIMIT $4";
const INSERT_DELIVERY_ONCE: &str = "INSERT INTO webhook_deliveries (office_id, id, webhook_id, event, payload, \
     created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING";
const SELECT_DELIVERIES: &str = "SELECT id, event, payload, created_at, attempts, last_status, last_error, \
     delivered_at, failed_at, next_attempt_at FROM webhook_deliveries \
     WHERE office_id = $1 AND webhook_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3";
const DROP_OLD_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE created_at < $1 \
     AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL)";
const DELIVERED: &str = "UPDATE webhook_deliveries SET delivered_at = $3, last_status = $4, last_error = NULL \
     WHERE office_id = $1 AND id = $2";
const DELIVERY_RETRY: &str = "UPDATE webhook_deliveries SET next_attempt_at = $3, last_status = $4, last_error = $5 \
     WHERE office_id = $1 AND id = $2";
const DELIVERY_GIVEN_UP: &str = "UPDATE webhook_deliveries SET failed_at = $3, last_status = $4, last_error = $5 \
     WHERE office_id = $1 AND id = $2";
/// The entries of a lottery of day $2: active since before $3.
const SELECT_LOTTERY: &str = concat!(
    entry_columns!(),
    " WHERE office_id = $1 AND status = 'active' AND open_offer IS NULL AND offers_made < 3 \
     AND from_day <= $2 AND to_day >= $2 AND confirmed_at < $3 ORDER BY place, id"
);
/// The entries waiting on day $2, first in line first.
const SELECT_WAITING: &str = concat!(
    entry_columns!(),
    " WHERE office_id = $1 AND status = 'active' AND open_offer IS NULL AND offers_made < 3 \
     AND to_day >= $2 ORDER BY confirmed_at, place, id LIMIT 500"
);
/// Claims the lottery of an office's day at $3: new, or left unfinished by
/// a claim made before $4 (its replica died).
const CLAIM_LOTTERY: &str = "INSERT INTO waitlist_lotteries (office_id, day, drawn_at) VALUES ($1, $2, $3) \
     ON CONFLICT (office_id, day) DO UPDATE SET drawn_at = excluded.drawn_at \
     WHERE waitlist_lotteries.finished_at IS NULL AND waitlist_lotteries.drawn_at < $4";
const FINISH_LOTTERY: &str = "UPDATE waitlist_lotteries SET finished_at = $3 WHERE office_id = $1 AND day = $2";
/// Gives the entry its open offer $3, while it still may get one: of two
/// writers offering to the same entry, one wins.
const TAKE_ENTRY: &str = "UPDATE waitlist_entries SET open_offer = $3, offers_made = offers_made + 1, \
     updated_at = $4 WHERE office_id = $1 AND id = $2 AND status = 'active' AND open_offer IS NULL \
     AND offers_made < 3";
const INSERT_OFFER: &str = "INSERT INTO waitlist_offers (office_id, id, entry_id, code, counter_id, start_at, \
     end_at, status, created_at, sent_at, expires_at, secret_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'offered', $8, $9, $10, $11)";
macro_rules! offer_columns {
    () => {
        "SELECT office_id, id, entry_id, code, counter_id, start_at, end_at, status, created_at, sent_at, \
         expires_at FROM waitlist_offers"
    };
}
const SELECT_OFFER_OF_HOLD: &str = concat!(offer_columns!(), " WHERE office_id = $1 AND code = $2");
/// An offer of entry $1, opened by the entry's token or the offer's secret ($3).
const SELECT_OFFER_BY_SECRET: &str = "SELECT o.office_id, o.id, o.entry_id, o.code, o.counter_id, o.start_at, \
     o.end_at, o.status, o.created_at, o.sent_at, o.expires_at FROM waitlist_offers o \
     JOIN waitlist_entries e ON e.office_id = o.office_id AND e.id = o.entry_id \
     WHERE o.entry_id = $1 AND o.id = $2 AND (e.token_hash = $3 OR o.secret_hash = $3)";
/// Closes an open offer ($3: how); only one writer does.
const CLOSE_OFFER: &str = "UPDATE waitlist_offers SET status = $3, answered_at = $4 \
     WHERE office_id = $1 AND id = $2 AND status = 'offered'";
/// Accepts an open offer while it holds.
const ACCEPT_OFFER: &str = "UPDATE waitlist_offers SET status = 'accepted', answered_at = $3 \
     WHERE office_id = $1 AND id = $2 AND status = 'offered' AND expires_at > $3";
/// The entry's offer $3 is closed: it waits on, unless it had its last.
const OFFER_CLOSED: &str = "UPDATE waitlist_entries SET open_offer = NULL, updated_at = $4, \
     status = CASE WHEN offers_made >= 3 AND status = 'active' THEN 'ended' ELSE status END \
     WHERE office_id = $1 AND id = $2 AND open_offer = $3";
const ENTRY_FULFILLED: &str = "UPDATE waitlist_entries SET open_offer = NULL, status = 'fulfilled', updated_at = $3 \
     WHERE office_id = $1 AND id = $2";
/// The hold becomes the citizen's booking, with its own token.
const BOOK_HOLD: &str = "UPDATE bookings SET status = 'booked', token_hash = $3, confirm_by = NULL, \
     confirm_hash = NULL, updated_at = $4 WHERE office_id = $1 AND code = $2 AND status = 'pending'";
const RELEASE_HOLD: &str = "UPDATE bookings SET status = 'cancelled', updated_at = $3 \
     WHERE office_id = $1 AND code = $2 AND status = 'pending'";
const SELECT_ENTRY: &str = concat!(entry_columns!(), " WHERE office_id = $1 AND id = $2");
/// Confirming again is harmless: the secret stays valid, the first
/// confirmation keeps the entry's place.
const CONFIRM_ENTRY: &str = "UPDATE waitlist_entries SET status = 'active', confirmed_at = $3, updated_at = $3, \
     place = (SELECT COALESCE(MAX(w.place), 0) + 1 FROM waitlist_entries w WHERE w.office_id = waitlist_entries.office_id) \
     WHERE id = $1 AND confirm_hash = $2 AND status = 'unconfirmed'";
const SELECT_ENTRY_BY_CONFIRMATION: &str = concat!(entry_columns!(), " WHERE id = $1 AND confirm_hash = $2");
const WITHDRAW_ENTRY: &str = "UPDATE waitlist_entries SET status = 'withdrawn', updated_at = $3 \
     WHERE id = $1 AND token_hash = $2 AND status IN ('unconfirmed', 'active')";
/// Active entries by their concerns, for the desk ($2: a day their range
/// covers, or NULL for any).
const COUNT_WAITING: &str = "SELECT concern_ids, COUNT(*) AS entries FROM waitlist_entries \
     WHERE office_id = $1 AND status = 'active' AND ($2 IS NULL OR (from_day <= $2 AND to_day >= $2)) \
     GROUP BY concern_ids";
const SELECT_OFFERS: &str = concat!(
    offer_columns!(),
    " WHERE office_id = $1 AND entry_id = $2 ORDER BY created_at, id"
);
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
     request_hash = NULL, token_sealed = NULL, client_key = NULL, confirm_hash = NULL, anonymised_at = $2 WHERE end_at < $1 AND anonymised_at IS NULL";
const ANONYMISE_HISTORY: &str = "UPDATE booking_history SET detail = NULL WHERE detail IS NOT NULL AND EXISTS \
     (SELECT 1 FROM bookings b WHERE b.office_id = booking_history.office_id AND b.code = booking_history.code \
     AND b.anonymised_at IS NOT NULL)";
const DROP_MAILS_OF_ANONYMISED: &str = "DELETE FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND EXISTS \
     (SELECT 1 FROM bookings b WHERE b.office_id = mail_outbox.office_id AND b.code = mail_outbox.code \
     AND b.anonymised_at IS NOT NULL)";
/// A waitlist offer's hold is not the address's booking until accepted.
const COUNT_ACTIVE_FOR_EMAIL: &str = "SELECT COUNT(*) AS active FROM bookings \
     WHERE office_id = $1 AND email_normalized = $2 AND status IN ('pending', 'booked') AND start_at > $3 \
     AND NOT EXISTS (SELECT 1 FROM waitlist_offers o WHERE o.office_id = bookings.office_id \
     AND o.code = bookings.code AND o.status = 'offered')";
const SELECT_ACTIVE: &str = "SELECT code, counter_id, start_at, end_at FROM bookings \
     WHERE office_id = $1 AND status <> 'cancelled' AND end_at > $2 ORDER BY start_at";
const MAIL_BACKLOG: &str = "SELECT COUNT(*) AS backlog FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL";
const PRUNED_THROUGH: &str =
    "SELECT COALESCE(MAX(pruned_through), 0) AS sequence FROM change_log_horizons WHERE office_id = $1";
/// Moves the horizons over the changes logged before $1, but each office's
/// latest (it anchors the office's position on SQLite).
const MOVE_HORIZONS: &str = "INSERT INTO change_log_horizons (office_id, pruned_through) \
     SELECT office_id, MAX(sequence) FROM booking_events e WHERE created_at < $1 AND sequence < \
     (SELECT MAX(latest.sequence) FROM booking_events latest WHERE latest.office_id = e.office_id) \
     GROUP BY office_id \
     ON CONFLICT (office_id) DO UPDATE SET pruned_through = CASE \
     WHEN excluded.pruned_through > change_log_horizons.pruned_through THEN excluded.pruned_through \
     ELSE change_log_horizons.pruned_through END";
/// Removes what lies behind the horizons, whatever was logged meanwhile.
const PRUNE_CHANGES: &str = "DELETE FROM booking_events WHERE sequence <= \
     (SELECT h.pruned_through FROM change_log_horizons h WHERE h.office_id = booking_events.office_id)";
const REVOKE_SESSION: &str = "INSERT INTO revoked_sessions (session_id, expires_at) VALUES ($1, $2) \
     ON CONFLICT (session_id) DO NOTHING";
const SESSION_REVOKED: &str = "SELECT 1 AS revoked FROM revoked_sessions WHERE session_id = $1";
const PRUNE_SESSIONS: &str = "DELETE FROM revoked_sessions WHERE expires_at < $1";
/// Pending bookings not confirmed by $1, oldest deadline first.
const EXPIRED_PENDING: &str = "SELECT office_id, code FROM bookings \
     WHERE status = 'pending' AND confirm_by <= $1 ORDER BY confirm_by LIMIT $2";
/// The bookings a client address made since $3, and the oldest of them.
const COUNT_FOR_CLIENT: &str = "SELECT COUNT(*) AS booked, MIN(created_at) AS oldest FROM bookings \
     WHERE office_id = $1 AND client_key = $2 AND created_at > $3";
const KEY_TAKEN: &str = "SELECT 1 AS taken FROM bookings WHERE office_id = $1 AND idempotency_key_hash = $2";
const INSERT_CHANGE: &str = "INSERT INTO booking_events \
     (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at, by_citizen) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Intervals are locked in buckets of five minutes: two overlapping
/// intervals share at least one.
const LOCK_BUCKET_SECONDS: i64 = 300;

/// The actor of what citizens do themselves.
const CITIZEN: &str = "citizen";

/// The actor of what happens by itself (holds, expiries).
const SYSTEM: &str = "system";

/// The unique key that makes a retried request find its first booking.
const IDEMPOTENCY_KEY: &str = "bookings_idempotency_key";

type RowOf<D> = <<D as Dialect>::Db as Database>::Row;
type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// Why the database refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conflict {
    /// Another active booking overlaps on the counter (exclusion constraint).
    Overlap,
    /// A booking with this idempotency key exists.
    IdempotencyKey,
    /// Another unique key, i.e. the booking code.
    Code,
}

fn conflict(error: &sqlx::Error) -> Option<Conflict> {
    let sqlx::Error::Database(error) = error else {
        return None;
    };
    match error.kind() {
        ErrorKind::ExclusionViolation => Some(Conflict::Overlap),
        ErrorKind::UniqueViolation if error.constraint() == Some(IDEMPOTENCY_KEY) => Some(Conflict::IdempotencyKey),
        ErrorKind::UniqueViolation => Some(Conflict::Code),
        _ => None,
    }
}

pub struct SqlStore<D: Dialect> {
    /// For reads; `writer` for every write (one connection on SQLite).
    pool: Pool<D::Db>,
    writer: Pool<D::Db>,
    migrator: Migrator,
    dialect: PhantomData<D>,
}

impl<D: BookingDialect> SqlStore<D> {
    /// The store on `pools`, with the embedded migrations of its backend.
    pub fn new(pools: Pools<D::Db>, migrator: Migrator) -> Self {
        Self {
            pool: pools.read,
            writer: pools.write,
            migrator,
            dialect: PhantomData,
        }
    }
}

// The bounds say which Rust types the backend binds and reads; they hold for
// both backends and are repeated on the trait impl below.
impl<D: BookingDialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'a> &'a str: ColumnIndex<RowOf<D>> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> &'a [u8]: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<&'a str>: Encode<'a, D::Db>,
    for<'a> Option<&'a [u8]>: Encode<'a, D::Db>,
    for<'a> i64: Encode<'a, D::Db> + Decode<'a, D::Db> + Type<D::Db>,
    for<'a> i32: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> bool: Encode<'a, D::Db> + Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<D::Instant>: Encode<'a, D::Db>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Vec<u8>: Decode<'a, D::Db> + Type<D::Db>,
{
    fn instant(row: &RowOf<D>, column: &str) -> Result<DateTime<Utc>, Error> {
        Ok(D::instant(row.try_get(column)?)?)
    }

    fn booking(row: &RowOf<D>) -> Result<Booking, Error> {
        let concerns: String = row.try_get("concern_ids")?;
        let status: String = row.try_get("status")?;
        let channel: String = row.try_get("channel")?;
        Ok(Booking {
            office_id: row.try_get("office_id")?,
            code: row.try_get("code")?,
            counter_id: row.try_get("counter_id")?,
            concern_ids: concerns
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            start: Self::instant(row, "start_at")?,
            end: Self::instant(row, "end_at")?,
            status: stored_status(&status)?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            channel: Channel::parse(&channel)
                .ok_or_else(|| Error::Internal(format!("unknown stored channel {channel:?}")))?,
            created_at: Self::instant(row, "created_at")?,
            confirm_by: row
                .try_get::<Option<D::Instant>, _>("confirm_by")?
                .map(D::instant)
                .transpose()?,
            language: row.try_get("language")?,
            waiting_number: row.try_get("waiting_number")?,
            called_at: row
                .try_get::<Option<D::Instant>, _>("called_at")?
                .map(D::instant)
                .transpose()?,
        })
    }

    fn interval(row: &RowOf<D>) -> Result<Interval, Error> {
        Ok(Interval {
            code: row.try_get("code")?,
            counter_id: row.try_get("counter_id")?,
            start: Self::instant(row, "start_at")?,
            end: Self::instant(row, "end_at")?,
        })
    }

    fn sequence(row: &RowOf<D>, column: &str) -> Result<u64, Error> {
        let stored: i64 = row.try_get(column)?;
        Ok(u64::try_from(stored).unwrap_or(0))
    }

    fn history_entry(row: &RowOf<D>) -> Result<HistoryEntry, Error> {
        let from: Option<String> = row.try_get("from_status")?;
        let to: String = row.try_get("to_status")?;
        Ok(HistoryEntry {
            at: Self::instant(row, "at")?,
            actor: row.try_get("actor")?,
            from: from.as_deref().map(stored_status).transpose()?,
            to: stored_status(&to)?,
            detail: row.try_get("detail")?,
        })
    }

    fn waitlist_entry_of(row: &RowOf<D>) -> Result<crate::waitlist::Entry, Error> {
        use crate::waitlist::{EntryStatus, TimeOfDay};
        let concerns: String = row.try_get("concern_ids")?;
        let day = |column: &str| -> Result<chrono::NaiveDate, Error> {
            let text: String = row.try_get(column)?;
            chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| Error::Internal(format!("stored {column} {text:?} is not a date")))
        };
        let time_of_day: String = row.try_get("time_of_day")?;
        let status: String = row.try_get("status")?;
        let offers_made: i32 = row.try_get("offers_made")?;
        let place: i64 = row.try_get("place")?;
        Ok(crate::waitlist::Entry {
            office_id: row.try_get("office_id")?,
            id: row.try_get("id")?,
            concern_ids: concerns
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            from: day("from_day")?,
            to: day("to_day")?,
            time_of_day: TimeOfDay::parse(&time_of_day)
                .ok_or_else(|| Error::Internal(format!("unknown stored time of day {time_of_day:?}")))?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            language: row.try_get("language")?,
            status: EntryStatus::parse(&status)
                .ok_or_else(|| Error::Internal(format!("unknown stored entry status {status:?}")))?,
            created_at: Self::instant(row, "created_at")?,
            confirmed_at: row
                .try_get::<Option<D::Instant>, _>("confirmed_at")?
                .map(D::instant)
                .transpose()?,
            place: u64::try_from(place).unwrap_or(0),
            offers_made: u32::try_from(offers_made).unwrap_or(0),
            open_offer: row.try_get("open_offer")?,
        })
    }

    fn waitlist_offer_of(row: &RowOf<D>) -> Result<crate::waitlist::Offer, Error> {
        let status: String = row.try_get("status")?;
        Ok(crate::waitlist::Offer {
            office_id: row.try_get("office_id")?,
            id: row.try_get("id")?,
            entry_id: row.try_get("entry_id")?,
            code: row.try_get("code")?,
            counter_id: row.try_get("counter_id")?,
            start: Self::instant(row, "start_at")?,
            end: Self::instant(row, "end_at")?,
            status: crate::waitlist::OfferStatus::parse(&status)
                .ok_or_else(|| Error::Internal(format!("unknown stored offer status {status:?}")))?,
            created_at: Self::instant(row, "created_at")?,
            sent_at: Self::instant(row, "sent_at")?,
            expires_at: Self::instant(row, "expires_at")?,
        })
    }

    /// Runs `update` on the entry `key` (id, secret hash) at `at`, and reads
    /// it back with `read`, in one transaction.
    async fn change_entry(
        &self,
        (update, read): (&'static str, &'static str),
        key: (&str, &[u8]),
        at: DateTime<Utc>,
    ) -> Result<Option<crate::waitlist::Entry>, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        sqlx::query(update)
            .bind(key.0)
            .bind(key.1)
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        let entry = Self::entry_in(&mut tx, read, key).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The entry `id` (read with `sql` and `key`).
    async fn entry_in(
        conn: &mut Conn<D>,
        sql: &'static str,
        key: (&str, &[u8]),
    ) -> Result<Option<crate::waitlist::Entry>, Error> {
        let row = sqlx::query(sql)
            .bind(key.0)
            .bind(key.1)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Self::waitlist_entry_of).transpose()
    }

    /// Offers the freed `span` on `counter_id` to the first entry in line
    /// that may get an offer, in the transaction that freed it, so nobody
    /// else can take the time first. The hold is a pending booking until
    /// the offer's end; the caller logs its change.
    async fn offer_freed(
        conn: &mut Conn<D>,
        handover: &Handover,
        (office_id, counter_id): (&str, &str),
        span: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Option<Booking>, Error> {
        Self::offer_to(conn, handover, (office_id, counter_id), span, None).await
    }

    /// As `offer_freed`, but only to entry `only` where given.
    async fn offer_to(
        conn: &mut Conn<D>,
        handover: &Handover,
        (office_id, counter_id): (&str, &str),
        span: (DateTime<Utc>, DateTime<Utc>),
        only: Option<&str>,
    ) -> Result<Option<Booking>, Error> {
        let Some((sent, expires)) = handover.timing(span.0) else {
            return Ok(None);
        };
        let day = span.0.with_timezone(&handover.tz).date_naive().to_string();
        let rows = sqlx::query(SELECT_IN_LINE)
            .bind(office_id)
            .bind(day.as_str())
            .bind(D::stored(span.0))
            .fetch_all(&mut *conn)
            .await?;
        let entries = rows
            .iter()
            .map(Self::waitlist_entry_of)
            .collect::<Result<Vec<_>, _>>()?;
        let line = handover.candidates(&entries, (counter_id, span));
        for entry in line.into_iter().filter(|entry| only.is_none_or(|id| id == entry.id)) {
            let Some(duration) = handover.duration(&entry.concern_ids) else {
                continue;
            };
            let hold = (span.0, span.0 + duration);
            if !Self::counter_free(conn, office_id, counter_id, hold, "").await? {
                return Ok(None);
            }
            let offer_id = bookings::new_code()?;
            let taken = sqlx::query(TAKE_ENTRY)
                .bind(office_id)
                .bind(entry.id.as_str())
                .bind(offer_id.as_str())
                .bind(D::stored(handover.now))
                .execute(&mut *conn)
                .await?;
            if D::rows_affected(&taken) == 0 {
                continue;
            }
            let secret = bookings::token_to_string(&bookings::new_token()?);
            // Nobody holds the hold's own secrets: it is answered through
            // the offer, and gets a token of its own when accepted.
            let unknowable = || -> Result<Vec<u8>, Error> {
                Ok(bookings::token_hash(&bookings::token_to_string(&bookings::new_token()?)).unwrap_or_default())
            };
            let new = NewBooking {
                office_id: office_id.to_owned(),
                code: bookings::new_code()?,
                concern_ids: entry.concern_ids.clone(),
                start: hold.0,
                end: hold.1,
                name: entry.name.clone(),
                email: entry.email.clone(),
                phone: String::new(),
                token_hash: unknowable()?,
                idempotency: None,
                channel: Channel::Online,
                actor: SYSTEM.to_owned(),
                notifications: Vec::new(),
                created_at: handover.now,
                quota: None,
                language: entry.language.clone(),
                confirm_by: Some((expires, unknowable()?)),
            };
            // A refused insert ends the transaction on PostgreSQL; after the
            // check above under the interval's lock only a code drawn twice
            // (one in 10^12) can cause it, and the change is retried whole.
            if Self::insert(conn, &new, counter_id, &bookings::normalise_email(&entry.email))
                .await?
                .is_err()
            {
                return Err(Error::Internal("the hold of a waitlist offer was refused".to_owned()));
            }
            let detail = format!("held for waitlist offer {offer_id}");
            let key = (office_id, new.code.as_str());
            Self::record(conn, key, handover.now, SYSTEM, (None, Status::Pending), Some(&detail)).await?;
            sqlx::query(INSERT_OFFER)
                .bind(office_id)
                .bind(offer_id.as_str())
                .bind(entry.id.as_str())
                .bind(new.code.as_str())
                .bind(counter_id)
                .bind(D::stored(hold.0))
                .bind(D::stored(hold.1))
                .bind(D::stored(handover.now))
                .bind(D::stored(sent))
                .bind(D::stored(expires))
                .bind(bookings::token_hash(&secret).unwrap_or_default().as_slice())
                .execute(&mut *conn)
                .await?;
            let mail = Notification::new(MailKind::WaitlistOffer, sent, Some(secret))?;
            Self::queue(conn, office_id, &new.code, std::slice::from_ref(&mail), false).await?;
            let hold = created(&new, counter_id);
            let payload = |_| crate::webhooks::offer_payload(&hold, (&entry.id, &offer_id), handover.now);
            Self::queue_hooks(conn, (office_id, Event::WaitlistOffered), payload, handover.now).await?;
            return Ok(Some(hold));
        }
        Ok(None)
    }

    /// Logs the release of `freed` (and `held`, the hold of the offer it
    /// became, if any) after the changes `before` (a move's new interval);
    /// returns the last position taken.
    async fn log_release(
        conn: &mut Conn<D>,
        (freed, before, held): (&Booking, Option<&Booking>, Option<&Booking>),
        (at, actor): (DateTime<Utc>, &str),
    ) -> Result<u64, Error> {
        let count = 1 + u32::from(before.is_some()) + u32::from(held.is_some());
        let mut position = D::take_positions(conn, &freed.office_id, count).await?;
        Self::log_change(conn, (position, ChangeKind::Released), freed, (at, actor)).await?;
        if let Some(booked) = before {
            position += 1;
            Self::log_change(conn, (position, ChangeKind::Booked), booked, (at, actor)).await?;
        }
        if let Some(hold) = held {
            position += 1;
            Self::log_change(conn, (position, ChangeKind::Booked), hold, (at, SYSTEM)).await?;
        }
        Ok(position)
    }

    /// Closes the offer booking `code` holds, if it is a hold (`how`: why),
    /// and lets its entry wait on.
    async fn close_offer_of_hold(
        conn: &mut Conn<D>,
        (office_id, code): (&str, &str),
        how: OfferStatus,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let row = sqlx::query(SELECT_OFFER_OF_HOLD)
            .bind(office_id)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(offer) = row.as_ref().map(Self::waitlist_offer_of).transpose()? else {
            return Ok(());
        };
        let closed = sqlx::query(CLOSE_OFFER)
            .bind(office_id)
            .bind(offer.id.as_str())
            .bind(how.as_str())
            .bind(D::stored(at))
            .execute(&mut *conn)
            .await?;
        if D::rows_affected(&closed) > 0 {
            sqlx::query(OFFER_CLOSED)
                .bind(office_id)
                .bind(offer.entry_id.as_str())
                .bind(offer.id.as_str())
                .bind(D::stored(at))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The offer `key` opens, read in `conn`.
    async fn offer_in(conn: &mut Conn<D>, key: OfferKey<'_>) -> Result<Option<Offer>, Error> {
        let row = sqlx::query(SELECT_OFFER_BY_SECRET)
            .bind(key.entry_id)
            .bind(key.offer_id)
            .bind(key.secret_hash)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Self::waitlist_offer_of).transpose()
    }

    /// Ends the row (`update`: office $1, id $2, at $3) and reads it back
    /// (`read`, mapped by `of`) in one transaction; `None` when unknown.
    async fn end<T>(
        &self,
        (update, read): (&'static str, &'static str),
        (office_id, id): (&str, &str),
        at: DateTime<Utc>,
        of: fn(&RowOf<D>) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        sqlx::query(update)
            .bind(office_id)
            .bind(id)
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(read)
            .bind(office_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(of).transpose()
    }

    fn feed_of(row: &RowOf<D>) -> Result<Feed, Error> {
        Ok(Feed {
            office_id: row.try_get("office_id")?,
            id: row.try_get("id")?,
            counter_id: row.try_get("counter_id")?,
            names: row.try_get("names")?,
            created_at: Self::instant(row, "created_at")?,
            created_by: row.try_get("created_by")?,
            revoked_at: row
                .try_get::<Option<D::Instant>, _>("revoked_at")?
                .map(D::instant)
                .transpose()?,
        })
    }

    fn webhook_of(row: &RowOf<D>) -> Result<Webhook, Error> {
        let events: String = row.try_get("events")?;
        Ok(Webhook {
            office_id: row.try_get("office_id")?,
            id: row.try_get("id")?,
            url: row.try_get("url")?,
            events: events.split(',').filter_map(Event::parse).collect(),
            personal_data: row.try_get("personal_data")?,
            created_at: Self::instant(row, "created_at")?,
            created_by: row.try_get("created_by")?,
            deleted_at: row
                .try_get::<Option<D::Instant>, _>("deleted_at")?
                .map(D::instant)
                .transpose()?,
        })
    }

    /// Queues `event` for every subscription of the office that wants it, in
    /// the transaction of the change; `payload` says it with or without
    /// personal data.
    async fn queue_hooks(
        conn: &mut Conn<D>,
        (office_id, event): (&str, Event),
        payload: impl Fn(bool) -> String,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let rows = sqlx::query(SELECT_HOOKS).bind(office_id).fetch_all(&mut *conn).await?;
        for hook in rows.iter().map(Self::webhook_of) {
            let hook = hook?;
            if !hook.wants(event) {
                continue;
            }
            sqlx::query(INSERT_DELIVERY)
                .bind(office_id)
                .bind(crate::webhooks::new_message_id(Utc::now())?.as_str())
                .bind(hook.id.as_str())
                .bind(event.as_str())
                .bind(payload(hook.personal_data).as_str())
                .bind(D::stored(at))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Queues `event` about `booking` (as it is after the change).
    async fn queue_booking_hooks(
        conn: &mut Conn<D>,
        event: Event,
        booking: &Booking,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let payload = |personal| crate::webhooks::booking_payload(event, booking, personal, at);
        Self::queue_hooks(conn, (&booking.office_id, event), payload, at).await
    }

    async fn insert_audit(conn: &mut Conn<D>, event: &crate::audit::AuditEvent) -> Result<(), Error> {
        sqlx::query(INSERT_AUDIT)
            .bind(event.office_id.as_str())
            .bind(event.id.as_str())
            .bind(D::stored(event.at))
            .bind(event.actor.as_str())
            .bind(event.action.as_str())
            .bind(event.subject.as_str())
            .bind(event.detail.as_str())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    fn staff_of(row: &RowOf<D>) -> Result<crate::staff::StaffAccount, Error> {
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let version: i64 = row.try_get("password_version")?;
        Ok(crate::staff::StaffAccount {
            login: row.try_get("login")?,
            name: row.try_get("name")?,
            offices: list(row.try_get("offices")?),
            roles: list(row.try_get("roles")?),
            disabled: row.try_get::<Option<D::Instant>, _>("disabled_at")?.is_some(),
            password_hash: row.try_get("password_hash")?,
            password_version: u64::try_from(version).unwrap_or_default(),
            created_at: D::instant(row.try_get("created_at")?)?,
            created_by: row.try_get("created_by")?,
            changed_at: D::instant(row.try_get("changed_at")?)?,
            changed_by: row.try_get("changed_by")?,
        })
    }

    fn pending_mail(row: &RowOf<D>) -> Result<PendingMail, Error> {
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

    /// Takes the locks that keep two bookings of one citizen from both
    /// passing a limit: the email address's when `limit` applies, the client
    /// address's when the booking has a quota.
    async fn lock_citizen(conn: &mut Conn<D>, new: &NewBooking, email: &str, limit: Option<u32>) -> Result<(), Error> {
        let Some(lock) = D::LOCK_CITIZEN else {
            return Ok(());
        };
        if limit.is_some() {
            let key = format!("email {email}");
            sqlx::query(lock)
                .bind(new.office_id.as_str())
                .bind(key.as_str())
                .execute(&mut *conn)
                .await?;
        }
        if let Some(quota) = &new.quota {
            let key = format!("client {}", amtstermin_platform::hex(&quota.key));
            sqlx::query(lock)
                .bind(new.office_id.as_str())
                .bind(key.as_str())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Appends change `sequence` of `booking`'s interval to its office's
    /// log, made by `actor` at `at`.
    async fn log_change(
        conn: &mut Conn<D>,
        (sequence, kind): (u64, ChangeKind),
        booking: &Booking,
        (at, actor): (DateTime<Utc>, &str),
    ) -> Result<(), Error> {
        sqlx::query(INSERT_CHANGE)
            .bind(booking.office_id.as_str())
            .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
            .bind(kind.as_str())
            .bind(booking.code.as_str())
            .bind(booking.counter_id.as_str())
            .bind(D::stored(booking.start))
            .bind(D::stored(booking.end))
            .bind(D::stored(at))
            .bind(actor == CITIZEN)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Adds to the booking's history who changed what, when.
    async fn record(
        conn: &mut Conn<D>,
        (office_id, code): (&str, &str),
        at: DateTime<Utc>,
        actor: &str,
        (from, to): (Option<Status>, Status),
        detail: Option<&str>,
    ) -> Result<(), Error> {
        sqlx::query(INSERT_HISTORY)
            .bind(office_id)
            .bind(code)
            .bind(D::stored(at))
            .bind(actor)
            .bind(from.map(Status::as_str))
            .bind(to.as_str())
            .bind(detail)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Queues `mails` for booking `code`; a change of the appointment also
    /// drops the reminders still pending for its old state.
    async fn queue(
        conn: &mut Conn<D>,
        office_id: &str,
        code: &str,
        mails: &[Notification],
        drop_reminders: bool,
    ) -> Result<(), Error> {
        if drop_reminders {
            sqlx::query(DROP_PENDING_REMINDERS)
                .bind(office_id)
                .bind(code)
                .execute(&mut *conn)
                .await?;
        }
        for mail in mails {
            sqlx::query(INSERT_MAIL)
                .bind(office_id)
                .bind(mail.id.as_str())
                .bind(code)
                .bind(mail.kind.as_str())
                .bind(mail.token.as_deref())
                .bind(D::stored(mail.due_at))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Whether the counter is free for [start, end), not counting booking
    /// `code`. Where the dialect says so, it first locks the interval on the
    /// counter until commit: two writers that both inserted an overlapping
    /// booking would each wait for the other in the exclusion constraint, a
    /// deadlock PostgreSQL breaks only after a second.
    async fn counter_free(
        conn: &mut Conn<D>,
        office_id: &str,
        counter_id: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        code: &str,
    ) -> Result<bool, Error> {
        if let Some(lock) = D::LOCK_INTERVAL {
            let first = start.timestamp().div_euclid(LOCK_BUCKET_SECONDS);
            let last = (end.timestamp() - 1).div_euclid(LOCK_BUCKET_SECONDS).max(first);
            sqlx::query(lock)
                .bind(office_id)
                .bind(counter_id)
                .bind(first)
                .bind(last)
                .execute(&mut *conn)
                .await?;
        }
        let taken = sqlx::query(D::COUNTER_TAKEN)
            .bind(office_id)
            .bind(counter_id)
            .bind(D::stored(end))
            .bind(D::stored(start))
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(taken.is_none())
    }

    /// The booking, read with `sql` (plain, or `D::SELECT_FOR_CHANGE`).
    async fn find_in(
        conn: &mut Conn<D>,
        sql: &'static str,
        office_id: &str,
        code: &str,
    ) -> Result<Option<Booking>, Error> {
        let row = sqlx::query(sql)
            .bind(office_id)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Self::booking).transpose()
    }

    /// Whether booking `new` may still be made: its idempotency key unused,
    /// the email address under its limit of upcoming bookings and the client
    /// address under its daily quota.
    async fn admissible(
        conn: &mut Conn<D>,
        new: &NewBooking,
        email: &str,
        limit: Option<u32>,
    ) -> Result<Option<Reservation>, Error> {
        if let Some(idempotency) = &new.idempotency {
            let taken = sqlx::query(KEY_TAKEN)
                .bind(new.office_id.as_str())
                .bind(idempotency.key_hash.as_slice())
                .fetch_optional(&mut *conn)
                .await?;
            if taken.is_some() {
                return Ok(Some(Reservation::KeyTaken));
            }
        }
        if let Some(limit) = limit {
            let row = sqlx::query(COUNT_ACTIVE_FOR_EMAIL)
                .bind(new.office_id.as_str())
                .bind(email)
                .bind(D::stored(new.created_at))
                .fetch_one(&mut *conn)
                .await?;
            let active: i64 = row.try_get("active")?;
            if active >= i64::from(limit) {
                return Ok(Some(Reservation::LimitReached));
            }
        }
        if let Some(quota) = &new.quota {
            let day = chrono::TimeDelta::days(1);
            let row = sqlx::query(COUNT_FOR_CLIENT)
                .bind(new.office_id.as_str())
                .bind(quota.key.as_slice())
                .bind(D::stored(new.created_at - day))
                .fetch_one(&mut *conn)
                .await?;
            let booked: i64 = row.try_get("booked")?;
            if booked >= i64::from(quota.per_day) {
                let oldest: Option<D::Instant> = row.try_get("oldest")?;
                let oldest = oldest.map(D::instant).transpose()?.unwrap_or(new.created_at);
                let wait = (oldest + day - new.created_at).num_seconds().max(1);
                return Ok(Some(Reservation::QuotaReached {
                    retry_after: u64::try_from(wait).unwrap_or(1),
                }));
            }
        }
        Ok(None)
    }

    /// Inserts `new` on `counter_id`; `Err` with a conflict when the database refuses.
    async fn insert(
        conn: &mut Conn<D>,
        new: &NewBooking,
        counter_id: &str,
        email: &str,
    ) -> Result<Result<(), Conflict>, Error> {
        let concerns = new.concern_ids.join(",");
        let idempotency = new.idempotency.as_ref();
        let status = if new.confirm_by.is_some() {
            Status::Pending
        } else {
            Status::Booked
        };
        let inserted = sqlx::query(INSERT_BOOKING)
            .bind(new.office_id.as_str())
            .bind(new.code.as_str())
            .bind(counter_id)
            .bind(concerns.as_str())
            .bind(D::stored(new.start))
            .bind(D::stored(new.end))
            .bind(new.name.as_str())
            .bind(new.email.as_str())
            .bind(new.phone.as_str())
            .bind(new.token_hash.as_slice())
            .bind(idempotency.map(|i| i.key_hash.as_slice()))
            .bind(idempotency.map(|i| i.request_hash.as_slice()))
            .bind(idempotency.map(|i| i.token_sealed.as_slice()))
            .bind(new.channel.as_str())
            .bind(D::stored(new.created_at))
            .bind(email)
            .bind(new.quota.as_ref().map(|quota| quota.key.as_slice()))
            .bind(status.as_str())
            .bind(new.confirm_by.as_ref().map(|(by, _)| D::stored(*by)))
            .bind(new.confirm_by.as_ref().map(|(_, hash)| hash.as_slice()))
            .bind(new.language.as_str())
            .execute(&mut *conn)
            .await;
        match inserted {
            Ok(_) => Ok(Ok(())),
            Err(error) => conflict(&error).map(Err).ok_or_else(|| error.into()),
        }
    }
}

#[tonic::async_trait]
impl<D: BookingDialect> BookingStore for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'a> &'a str: ColumnIndex<RowOf<D>> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> &'a [u8]: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<&'a str>: Encode<'a, D::Db>,
    for<'a> Option<&'a [u8]>: Encode<'a, D::Db>,
    for<'a> i64: Encode<'a, D::Db> + Decode<'a, D::Db> + Type<D::Db>,
    for<'a> i32: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> bool: Encode<'a, D::Db> + Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<D::Instant>: Encode<'a, D::Db>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Vec<u8>: Decode<'a, D::Db> + Type<D::Db>,
{
    async fn migrate(&self) -> Result<(), Error> {
        self.migrator.run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(office = %new.office_id))]
    async fn reserve(&self, new: &NewBooking, counters: &[String], limit: Option<u32>) -> Result<Reservation, Error> {
        let email = bookings::normalise_email(&new.email);
        // One transaction per counter: on PostgreSQL a refused INSERT ends its
        // transaction. Checked under the citizen's locks, so two requests
        // cannot both see room under a limit.
        for counter_id in counters {
            let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
            Self::lock_citizen(&mut tx, new, &email, limit).await?;
            if let Some(refused) = Self::admissible(&mut tx, new, &email, limit).await? {
                return Ok(refused);
            }
            let span = (new.start, new.end);
            if !Self::counter_free(&mut tx, &new.office_id, counter_id, span, &new.code).await? {
                continue;
            }
            match Self::insert(&mut tx, new, counter_id, &email).await? {
                Ok(()) => {}
                Err(Conflict::Overlap) => continue,
                Err(Conflict::IdempotencyKey) => return Ok(Reservation::KeyTaken),
                Err(Conflict::Code) => return Ok(Reservation::CodeTaken),
            }
            let booking = created(new, counter_id);
            let key = (new.office_id.as_str(), new.code.as_str());
            let status = booking.status;
            Self::record(&mut tx, key, new.created_at, &new.actor, (None, status), None).await?;
            Self::queue(&mut tx, &new.office_id, &new.code, &new.notifications, false).await?;
            Self::queue_booking_hooks(&mut tx, Event::BookingCreated, &booking, new.created_at).await?;
            let by = (new.created_at, new.actor.as_str());
            let sequence = D::take_positions(&mut tx, &new.office_id, 1).await?;
            Self::log_change(&mut tx, (sequence, ChangeKind::Booked), &booking, by).await?;
            tx.commit().await?;
            return Ok(Reservation::Created { booking, sequence });
        }
        Ok(Reservation::AllTaken)
    }

    async fn by_idempotency_key(
        &self,
        office_id: &str,
        key_hash: &[u8],
    ) -> Result<Option<(Booking, Idempotency)>, Error> {
        let row = sqlx::query(SELECT_BY_IDEMPOTENCY_KEY)
            .bind(office_id)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let idempotency = Idempotency {
            key_hash: row.try_get("idempotency_key_hash")?,
            request_hash: row.try_get("request_hash")?,
            token_sealed: row.try_get("token_sealed")?,
        };
        Ok(Some((Self::booking(&row)?, idempotency)))
    }

    async fn get(&self, code: &str, token_hash: &[u8]) -> Result<Option<Booking>, Error> {
        let row = sqlx::query(SELECT_BY_CODE_AND_TOKEN)
            .bind(code)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::booking).transpose()
    }

    async fn by_confirmation(&self, code: &str, confirm_hash: &[u8]) -> Result<Option<Booking>, Error> {
        let row = sqlx::query(SELECT_BY_CODE_AND_CONFIRMATION)
            .bind(code)
            .bind(confirm_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::booking).transpose()
    }

    async fn find(&self, office_id: &str, code: &str) -> Result<Option<Booking>, Error> {
        Self::find_in(
            &mut *self.pool.acquire().await?,
            SELECT_BY_OFFICE_AND_CODE,
            office_id,
            code,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(office = %request.office_id, to = request.to.as_str()))]
    async fn change_status(&self, request: StatusRequest<'_>) -> Result<StatusChange, Error> {
        // The row is locked while deciding, so the interval a cancellation
        // releases is the current one. The UPDATE still applies only while
        // the status is the one decided on, and decides again otherwise.
        loop {
            let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
            let found = Self::find_in(&mut tx, D::SELECT_FOR_CHANGE, request.office_id, request.code).await?;
            let Some(found) = found else {
                return Ok(StatusChange::NotFound);
            };
            let mut booking = match decide(found, request.to) {
                Decision::Proceed(booking) => booking,
                Decision::Done(outcome) => return Ok(outcome),
            };
            let updated = sqlx::query(UPDATE_STATUS)
                .bind(request.office_id)
                .bind(request.code)
                .bind(booking.status.as_str())
                .bind(request.to.as_str())
                .bind(D::stored(request.at))
                .execute(&mut *tx)
                .await?;
            if D::rows_affected(&updated) == 0 {
                continue;
            }
            let (key, transition) = ((request.office_id, request.code), (Some(booking.status), request.to));
            Self::record(&mut tx, key, request.at, request.actor, transition, request.detail).await?;
            Self::queue(&mut tx, request.office_id, request.code, request.notifications, true).await?;
            if let Some((step, at)) = mark_step(booking.status, request.to) {
                let query = sqlx::query(step).bind(request.office_id).bind(request.code);
                let query = if at { query.bind(D::stored(request.at)) } else { query };
                query.execute(&mut *tx).await?;
            }
            if request.to == Status::Called {
                sqlx::query(SET_CALLED_AT)
                    .bind(request.office_id)
                    .bind(request.code)
                    .bind(D::stored(request.at))
                    .execute(&mut *tx)
                    .await?;
                booking.called_at = Some(request.at);
            }
            if let Some(waiting) = request.waiting
                && booking.waiting_number.is_none()
            {
                let number: i64 = sqlx::query(NEXT_WAITING_NUMBER)
                    .bind(request.office_id)
                    .bind(waiting.day)
                    .bind(waiting.prefix)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("last_number")?;
                let label = format!("{}-{number:03}", waiting.prefix);
                sqlx::query(SET_WAITING_NUMBER)
                    .bind(request.office_id)
                    .bind(request.code)
                    .bind(label.as_str())
                    .bind(waiting.day)
                    .execute(&mut *tx)
                    .await?;
                booking.waiting_number = Some(label);
            }
            // Only a cancellation releases the counter, so only it is logged;
            // the time it frees goes to the waitlist first. A hold released
            // closes its offer.
            let mut sequence = None;
            if request.to == Status::Cancelled {
                let key = (request.office_id, request.code);
                Self::close_offer_of_hold(&mut tx, key, OfferStatus::Expired, request.at).await?;
                let held = match request.handover {
                    Some(handover) => {
                        let on = (request.office_id, booking.counter_id.as_str());
                        Self::offer_freed(&mut tx, handover, on, (booking.start, booking.end)).await?
                    }
                    None => None,
                };
                let by = (request.at, request.actor);
                sequence = Some(Self::log_release(&mut tx, (&booking, None, held.as_ref()), by).await?);
            }
            booking.status = request.to;
            let event = match request.to {
                Status::Cancelled => Event::BookingCancelled,
                _ => Event::BookingStatusChanged,
            };
            Self::queue_booking_hooks(&mut tx, event, &booking, request.at).await?;
            tx.commit().await?;
            return Ok(StatusChange::Changed { booking, sequence });
        }
    }

    #[tracing::instrument(skip_all, fields(office = %request.office_id))]
    async fn reschedule(&self, request: MoveRequest<'_>) -> Result<Move, Error> {
        for counter_id in request.counters {
            // Locked while moving: the interval released is the current one.
            let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
            let found = Self::find_in(&mut tx, D::SELECT_FOR_CHANGE, request.office_id, request.code).await?;
            let Some(booking) = found else {
                return Ok(Move::NotFound);
            };
            if booking.status != Status::Booked {
                return Ok(Move::Refused(booking));
            }
            let span = (request.start, request.end);
            if !Self::counter_free(&mut tx, request.office_id, counter_id, span, request.code).await? {
                continue;
            }
            // One UPDATE takes the new interval and gives up the old one.
            let moved_to = sqlx::query(MOVE)
                .bind(request.office_id)
                .bind(request.code)
                .bind(counter_id.as_str())
                .bind(D::stored(request.start))
                .bind(D::stored(request.end))
                .bind(D::stored(request.at))
                .execute(&mut *tx)
                .await;
            match moved_to {
                Ok(_) => {}
                Err(error) if conflict(&error) == Some(Conflict::Overlap) => continue,
                Err(error) => return Err(error.into()),
            }
            let detail = format!(
                "moved from {} to {}",
                booking.start.to_rfc3339(),
                request.start.to_rfc3339()
            );
            let key = (request.office_id, request.code);
            let transition = (Some(Status::Booked), Status::Booked);
            Self::record(&mut tx, key, request.at, request.actor, transition, Some(&detail)).await?;
            Self::queue(&mut tx, request.office_id, request.code, request.notifications, true).await?;
            let old = booking.clone();
            let mut booking = booking;
            (booking.counter_id, booking.start, booking.end) = (counter_id.clone(), request.start, request.end);
            let held = match request.handover {
                Some(handover) => {
                    let on = (request.office_id, old.counter_id.as_str());
                    Self::offer_freed(&mut tx, handover, on, (old.start, old.end)).await?
                }
                None => None,
            };
            let by = (request.at, request.actor);
            let last = Self::log_release(&mut tx, (&old, Some(&booking), held.as_ref()), by).await?;
            Self::queue_booking_hooks(&mut tx, Event::BookingMoved, &booking, request.at).await?;
            tx.commit().await?;
            return Ok(Move::Moved {
                booking,
                sequence: last,
            });
        }
        Ok(Move::AllTaken)
    }

    async fn expired_pending(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(EXPIRED_PENDING)
            .bind(D::stored(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("office_id")?, row.try_get("code")?)))
            .collect()
    }

    async fn recall(&self, office_id: &str, code: &str, actor: &str, at: DateTime<Utc>) -> Result<StatusChange, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let Some(mut booking) = Self::find_in(&mut tx, D::SELECT_FOR_CHANGE, office_id, code).await? else {
            return Ok(StatusChange::NotFound);
        };
        if booking.status != Status::Called {
            return Ok(StatusChange::Refused(booking));
        }
        sqlx::query(SET_CALLED_AT)
            .bind(office_id)
            .bind(code)
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        Self::record(
            &mut tx,
            (office_id, code),
            at,
            actor,
            (Some(Status::Called), Status::Called),
            None,
        )
        .await?;
        tx.commit().await?;
        booking.called_at = Some(at);
        Ok(StatusChange::Changed {
            booking,
            sequence: None,
        })
    }

    async fn queue_soon_mail(&self, office_id: &str, code: &str, mail: &Notification) -> Result<bool, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let marked = sqlx::query(MARK_SOON_MAILED)
            .bind(office_id)
            .bind(code)
            .bind(true)
            .bind(false)
            .execute(&mut *tx)
            .await?;
        if D::rows_affected(&marked) == 0 {
            return Ok(false);
        }
        Self::queue(&mut tx, office_id, code, std::slice::from_ref(mail), false).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_waitlist_entry(
        &self,
        new: &crate::waitlist::NewEntry,
        limit: Option<u32>,
    ) -> Result<crate::waitlist::Added, Error> {
        use crate::waitlist::Added;
        let entry = &new.entry;
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        if let Some(limit) = limit {
            // Two requests for one address take turns (PostgreSQL; SQLite's
            // write lock does it already).
            if let Some(lock) = D::LOCK_CITIZEN {
                let key = format!("waitlist {}", new.email_normalized);
                sqlx::query(lock)
                    .bind(entry.office_id.as_str())
                    .bind(key.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let waiting: i64 = sqlx::query(COUNT_WAITING_FOR_EMAIL)
                .bind(entry.office_id.as_str())
                .bind(new.email_normalized.as_str())
                .bind(new.today.to_string().as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("waiting")?;
            if waiting >= i64::from(limit) {
                return Ok(Added::LimitReached);
            }
        }
        let inserted = sqlx::query(INSERT_WAITLIST_ENTRY)
            .bind(entry.office_id.as_str())
            .bind(entry.id.as_str())
            .bind(new.token_hash.as_slice())
            .bind(new.confirm_hash.as_slice())
            .bind(entry.concern_ids.join(",").as_str())
            .bind(entry.from.to_string().as_str())
            .bind(entry.to.to_string().as_str())
            .bind(entry.time_of_day.as_str())
            .bind(entry.name.as_str())
            .bind(entry.email.as_str())
            .bind(new.email_normalized.as_str())
            .bind(entry.language.as_str())
            .bind(D::stored(entry.created_at))
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(error) if conflict(&error).is_some() => return Ok(Added::IdTaken),
            Err(error) => return Err(error.into()),
        }
        Self::queue(
            &mut tx,
            &entry.office_id,
            &entry.id,
            std::slice::from_ref(&new.mail),
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(Added::Added)
    }

    async fn offer_of_hold(&self, office_id: &str, code: &str) -> Result<Option<Offer>, Error> {
        let row = sqlx::query(SELECT_OFFER_OF_HOLD)
            .bind(office_id)
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::waitlist_offer_of).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn accept_offer(&self, key: OfferKey<'_>, acceptance: Acceptance<'_>) -> Result<Answer, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let Some(offer) = Self::offer_in(&mut tx, key).await? else {
            return Ok(Answer::NotFound);
        };
        let Some(hold) = Self::find_in(&mut tx, D::SELECT_FOR_CHANGE, &offer.office_id, &offer.code).await? else {
            return Ok(Answer::NotFound);
        };
        // Answered before, or its hold ended (the expiry may not have run
        // yet: the time is what counts). An offer never opens again, so a
        // closed one stays closed; an open one the guarded update decides.
        let closed = match offer.status {
            OfferStatus::Offered if offer.expires_at <= acceptance.at => Some(OfferStatus::Expired),
            OfferStatus::Offered => None,
            status => Some(status),
        };
        if let Some(status) = closed {
            return Ok(Answer::Closed(status));
        }
        if let Some(limit) = acceptance.limit {
            // Under the address's lock, as for a new booking (the hold
            // itself is not counted while its offer is open).
            let email = bookings::normalise_email(&hold.email);
            if let Some(lock) = D::LOCK_CITIZEN {
                let lock_key = format!("email {email}");
                sqlx::query(lock)
                    .bind(offer.office_id.as_str())
                    .bind(lock_key.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let active: i64 = sqlx::query(COUNT_ACTIVE_FOR_EMAIL)
                .bind(offer.office_id.as_str())
                .bind(email.as_str())
                .bind(D::stored(acceptance.at))
                .fetch_one(&mut *tx)
                .await?
                .try_get("active")?;
            if active >= i64::from(limit) {
                return Ok(Answer::LimitReached);
            }
        }
        let accepted = sqlx::query(ACCEPT_OFFER)
            .bind(offer.office_id.as_str())
            .bind(offer.id.as_str())
            .bind(D::stored(acceptance.at))
            .execute(&mut *tx)
            .await?;
        if D::rows_affected(&accepted) == 0 {
            return Ok(Answer::Closed(OfferStatus::Expired));
        }
        let booked = sqlx::query(BOOK_HOLD)
            .bind(offer.office_id.as_str())
            .bind(offer.code.as_str())
            .bind(acceptance.token_hash)
            .bind(D::stored(acceptance.at))
            .execute(&mut *tx)
            .await?;
        if D::rows_affected(&booked) == 0 {
            return Err(Error::Internal(format!(
                "the hold of open offer {} is no longer pending",
                offer.id
            )));
        }
        let code = (offer.office_id.as_str(), offer.code.as_str());
        let transition = (Some(Status::Pending), Status::Booked);
        let detail = format!("waitlist offer {} accepted", offer.id);
        Self::record(&mut tx, code, acceptance.at, CITIZEN, transition, Some(&detail)).await?;
        Self::queue(&mut tx, code.0, code.1, acceptance.notifications, false).await?;
        sqlx::query(ENTRY_FULFILLED)
            .bind(offer.office_id.as_str())
            .bind(offer.entry_id.as_str())
            .bind(D::stored(acceptance.at))
            .execute(&mut *tx)
            .await?;
        let mut booking = hold;
        booking.status = Status::Booked;
        booking.confirm_by = None;
        // For everyone else the hold becomes a booking only now.
        Self::queue_booking_hooks(&mut tx, Event::BookingCreated, &booking, acceptance.at).await?;
        tx.commit().await?;
        Ok(Answer::Booked(booking))
    }

    #[tracing::instrument(skip_all)]
    async fn decline_offer(
        &self,
        key: OfferKey<'_>,
        at: DateTime<Utc>,
        handover: Option<&Handover>,
    ) -> Result<Answer, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let Some(offer) = Self::offer_in(&mut tx, key).await? else {
            return Ok(Answer::NotFound);
        };
        let Some(hold) = Self::find_in(&mut tx, D::SELECT_FOR_CHANGE, &offer.office_id, &offer.code).await? else {
            return Ok(Answer::NotFound);
        };
        let office_id = offer.office_id.as_str();
        let closed = sqlx::query(CLOSE_OFFER)
            .bind(office_id)
            .bind(offer.id.as_str())
            .bind(OfferStatus::Declined.as_str())
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        if D::rows_affected(&closed) == 0 {
            return Ok(Answer::Closed(offer.status));
        }
        sqlx::query(OFFER_CLOSED)
            .bind(office_id)
            .bind(offer.entry_id.as_str())
            .bind(offer.id.as_str())
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        let released = sqlx::query(RELEASE_HOLD)
            .bind(office_id)
            .bind(offer.code.as_str())
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        if D::rows_affected(&released) == 0 {
            return Err(Error::Internal(format!(
                "the hold of open offer {} is no longer pending",
                offer.id
            )));
        }
        let code = (office_id, offer.code.as_str());
        let detail = format!("waitlist offer {} declined", offer.id);
        let transition = (Some(Status::Pending), Status::Cancelled);
        Self::record(&mut tx, code, at, CITIZEN, transition, Some(&detail)).await?;
        let held = match handover {
            Some(handover) => {
                let on = (office_id, hold.counter_id.as_str());
                Self::offer_freed(&mut tx, handover, on, (hold.start, hold.end)).await?
            }
            None => None,
        };
        let sequence = Self::log_release(&mut tx, (&hold, None, held.as_ref()), (at, CITIZEN)).await?;
        let mut released = hold.clone();
        released.status = Status::Cancelled;
        Self::queue_booking_hooks(&mut tx, Event::BookingCancelled, &released, at).await?;
        let entry = sqlx::query(SELECT_ENTRY)
            .bind(office_id)
            .bind(offer.entry_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let entry = Self::waitlist_entry_of(&entry)?;
        tx.commit().await?;
        Ok(Answer::Declined { entry, sequence })
    }

    async fn offer_free_time(
        &self,
        office_id: &str,
        spans: &[(String, DateTime<Utc>, DateTime<Utc>)],
        handover: &Handover,
        to: Option<&str>,
    ) -> Result<Option<u64>, Error> {
        let mut last = None;
        for (counter_id, start, end) in spans {
            let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
            let on = (office_id, counter_id.as_str());
            let Some(hold) = Self::offer_to(&mut tx, handover, on, (*start, *end), to).await? else {
                continue;
            };
            let position = D::take_positions(&mut tx, office_id, 1).await?;
            Self::log_change(&mut tx, (position, ChangeKind::Booked), &hold, (handover.now, SYSTEM)).await?;
            tx.commit().await?;
            last = Some(position);
            if to.is_some() {
                break;
            }
        }
        Ok(last)
    }

    async fn claim_lottery(&self, office_id: &str, day: &str, at: DateTime<Utc>) -> Result<bool, Error> {
        let claimed = sqlx::query(CLAIM_LOTTERY)
            .bind(office_id)
            .bind(day)
            .bind(D::stored(at))
            .bind(D::stored(at - crate::waitlist::LOTTERY_LEASE))
            .execute(&self.writer)
            .await?;
        Ok(D::rows_affected(&claimed) == 1)
    }

    async fn entries_in_line(
        &self,
        office_id: &str,
        today: chrono::NaiveDate,
    ) -> Result<Vec<crate::waitlist::Entry>, Error> {
        let rows = sqlx::query(SELECT_WAITING)
            .bind(office_id)
            .bind(today.to_string().as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::waitlist_entry_of).collect()
    }

    async fn finish_lottery(&self, office_id: &str, day: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(FINISH_LOTTERY)
            .bind(office_id)
            .bind(day)
            .bind(D::stored(at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn lottery_entries(
        &self,
        office_id: &str,
        day: &str,
        confirmed_before: DateTime<Utc>,
    ) -> Result<Vec<crate::waitlist::Entry>, Error> {
        let rows = sqlx::query(SELECT_LOTTERY)
            .bind(office_id)
            .bind(day)
            .bind(D::stored(confirmed_before))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::waitlist_entry_of).collect()
    }

    async fn add_feed(&self, feed: &Feed, token_hash: &[u8]) -> Result<bool, Error> {
        let inserted = sqlx::query(INSERT_FEED)
            .bind(feed.office_id.as_str())
            .bind(feed.id.as_str())
            .bind(token_hash)
            .bind(feed.counter_id.as_str())
            .bind(feed.names)
            .bind(D::stored(feed.created_at))
            .bind(feed.created_by.as_str())
            .execute(&self.writer)
            .await;
        added(inserted)
    }

    async fn feeds(&self, office_id: &str) -> Result<Vec<Feed>, Error> {
        let rows = sqlx::query(SELECT_FEEDS).bind(office_id).fetch_all(&self.pool).await?;
        rows.iter().map(Self::feed_of).collect()
    }

    async fn revoke_feed(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<Option<Feed>, Error> {
        self.end((REVOKE_FEED, SELECT_FEED), (office_id, id), at, Self::feed_of)
            .await
    }

    async fn feed_by_token(&self, office_id: &str, token_hash: &[u8]) -> Result<Option<Feed>, Error> {
        let row = sqlx::query(SELECT_FEED_BY_TOKEN)
            .bind(office_id)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::feed_of).transpose()
    }

    async fn record_audit(&self, events: &[crate::audit::AuditEvent]) -> Result<(), Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        for event in events {
            Self::insert_audit(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_events(
        &self,
        office_id: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEvent>, Error> {
        let rows = sqlx::query(SELECT_AUDIT)
            .bind(office_id)
            .bind(D::stored(from))
            .bind(D::stored(to))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::audit::AuditEvent {
                    office_id: office_id.to_owned(),
                    id: row.try_get("id")?,
                    at: D::instant(row.try_get("at")?)?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn add_staff_account(&self, account: &crate::staff::StaffAccount) -> Result<bool, Error> {
        let inserted = sqlx::query(INSERT_STAFF)
            .bind(account.login.as_str())
            .bind(account.name.as_str())
            .bind(account.password_hash.as_str())
            .bind(account.offices.join(",").as_str())
            .bind(account.roles.join(",").as_str())
            .bind(D::stored(account.created_at))
            .bind(account.created_by.as_str())
            .execute(&self.writer)
            .await;
        added(inserted)
    }

    async fn staff_accounts(&self) -> Result<Vec<crate::staff::StaffAccount>, Error> {
        let statement = format!("SELECT {STAFF_COLUMNS} FROM staff_accounts ORDER BY login");
        let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::staff_of).collect()
    }

    async fn staff_account(&self, login: &str) -> Result<Option<crate::staff::StaffAccount>, Error> {
        let statement = format!("SELECT {STAFF_COLUMNS} FROM staff_accounts WHERE login = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::staff_of).transpose()
    }

    async fn update_staff_account(
        &self,
        account: &crate::staff::StaffAccount,
    ) -> Result<Option<crate::staff::StaffAccount>, Error> {
        let updated = sqlx::query(UPDATE_STAFF)
            .bind(account.login.as_str())
            .bind(account.name.as_str())
            .bind(account.offices.join(",").as_str())
            .bind(account.roles.join(",").as_str())
            .bind(account.disabled)
            .bind(D::stored(account.changed_at))
            .bind(account.changed_by.as_str())
            .execute(&self.writer)
            .await?;
        if D::rows_affected(&updated) == 0 {
            return Ok(None);
        }
        self.staff_account(&account.login).await
    }

    async fn set_staff_password(
        &self,
        login: &str,
        password_hash: &str,
        (actor, at): (&str, DateTime<Utc>),
    ) -> Result<Option<crate::staff::StaffAccount>, Error> {
        let updated = sqlx::query(SET_STAFF_PASSWORD)
            .bind(login)
            .bind(password_hash)
            .bind(D::stored(at))
            .bind(actor)
            .execute(&self.writer)
            .await?;
        if D::rows_affected(&updated) == 0 {
            return Ok(None);
        }
        self.staff_account(login).await
    }

    async fn queue_configuration_hooks(
        &self,
        office_id: &str,
        version: u64,
        (actor, at): (&str, DateTime<Utc>),
    ) -> Result<u64, Error> {
        let event = Event::ConfigurationChanged;
        let payload = crate::webhooks::configuration_payload(office_id, version, at);
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let recorded = crate::audit::AuditEvent {
            id: format!("cfg_{version:012}"),
            subject: version.to_string(),
            ..crate::audit::event(office_id, (actor, event.as_str()), "", at)?
        };
        Self::insert_audit(&mut *tx, &recorded).await?;
        let rows = sqlx::query(SELECT_HOOKS).bind(office_id).fetch_all(&mut *tx).await?;
        let mut queued = 0;
        for hook in rows.iter().map(Self::webhook_of) {
            let hook = hook?;
            if !hook.wants(event) {
                continue;
            }
            let inserted = sqlx::query(INSERT_DELIVERY_ONCE)
                .bind(office_id)
                .bind(crate::webhooks::configuration_message_id(&hook.id, version).as_str())
                .bind(hook.id.as_str())
                .bind(event.as_str())
                .bind(payload.as_str())
                .bind(D::stored(at))
                .execute(&mut *tx)
                .await?;
            queued += D::rows_affected(&inserted);
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn add_webhook(&self, webhook: &Webhook, secret: &str) -> Result<bool, Error> {
        let events: Vec<&str> = webhook.events.iter().map(|event| event.as_str()).collect();
        let inserted = sqlx::query(INSERT_HOOK)
            .bind(webhook.office_id.as_str())
            .bind(webhook.id.as_str())
            .bind(webhook.url.as_str())
            .bind(secret)
            .bind(events.join(",").as_str())
            .bind(webhook.personal_data)
            .bind(D::stored(webhook.created_at))
            .bind(webhook.created_by.as_str())
            .execute(&self.writer)
            .await;
        added(inserted)
    }

    async fn webhooks(&self, office_id: &str) -> Result<Vec<Webhook>, Error> {
        let rows = sqlx::query(SELECT_HOOKS).bind(office_id).fetch_all(&self.pool).await?;
        rows.iter().map(Self::webhook_of).collect()
    }

    async fn delete_webhook(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<Option<Webhook>, Error> {
        self.end((DELETE_HOOK, SELECT_HOOK), (office_id, id), at, Self::webhook_of)
            .await
    }

    async fn webhook_deliveries(&self, office_id: &str, webhook_id: &str, limit: u32) -> Result<Vec<Delivery>, Error> {
        let rows = sqlx::query(SELECT_DELIVERIES)
            .bind(office_id)
            .bind(webhook_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let optional = |row: &RowOf<D>, column: &str| -> Result<Option<DateTime<Utc>>, Error> {
            Ok(row
                .try_get::<Option<D::Instant>, _>(column)?
                .map(D::instant)
                .transpose()?)
        };
        rows.iter()
            .map(|row| {
                let attempts: i32 = row.try_get("attempts")?;
                let status: i32 = row.try_get("last_status")?;
                Ok(Delivery {
                    id: row.try_get("id")?,
                    event: row.try_get("event")?,
                    payload: row.try_get("payload")?,
                    created_at: Self::instant(row, "created_at")?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    last_status: u32::try_from(status).unwrap_or(0),
                    last_error: row.try_get("last_error")?,
                    delivered_at: optional(row, "delivered_at")?,
                    failed_at: optional(row, "failed_at")?,
                    next_attempt_at: Self::instant(row, "next_attempt_at")?,
                })
            })
            .collect()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Due, String, String)>, Error> {
        let rows = sqlx::query(D::CLAIM_DELIVERIES)
            .bind(D::stored(now))
            .bind(D::stored(until))
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let attempts: i32 = row.try_get("attempts")?;
            let due = Due {
                office_id: row.try_get("office_id")?,
                id: row.try_get("id")?,
                webhook_id: row.try_get("webhook_id")?,
                payload: row.try_get("payload")?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            };
            let hook = sqlx::query(SELECT_HOOK_SECRET)
                .bind(due.office_id.as_str())
                .bind(due.webhook_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
            let live = match &hook {
                Some(hook) => hook.try_get::<Option<D::Instant>, _>("deleted_at")?.is_none(),
                None => false,
            };
            match hook {
                Some(hook) if live => claimed.push((due, hook.try_get("url")?, hook.try_get("secret")?)),
                _ => {
                    let answer = (now, 0, Some("the subscription was deleted"));
                    self.delivery_answered(&due, answer, DeliveryOutcome::GivenUp).await?;
                }
            }
        }
        Ok(claimed)
    }

    async fn delivery_answered(
        &self,
        due: &Due,
        (at, status, error): (DateTime<Utc>, u32, Option<&str>),
        outcome: DeliveryOutcome,
    ) -> Result<(), Error> {
        let (sql, when) = match outcome {
            DeliveryOutcome::Delivered => (DELIVERED, at),
            DeliveryOutcome::RetryAt(next) => (DELIVERY_RETRY, next),
            DeliveryOutcome::GivenUp => (DELIVERY_GIVEN_UP, at),
        };
        let query = sqlx::query(sql)
            .bind(due.office_id.as_str())
            .bind(due.id.as_str())
            .bind(D::stored(when))
            .bind(i64::from(status));
        let query = if outcome == DeliveryOutcome::Delivered {
            query
        } else {
            query.bind(error)
        };
        query.execute(&self.writer).await?;
        Ok(())
    }

    async fn waitlist_entry(
        &self,
        id: &str,
        token_hash: &[u8],
    ) -> Result<Option<(crate::waitlist::Entry, Vec<crate::waitlist::Offer>)>, Error> {
        let mut conn = self.pool.acquire().await?;
        let Some(entry) = Self::entry_in(&mut conn, SELECT_ENTRY_BY_SECRET, (id, token_hash)).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(SELECT_OFFERS)
            .bind(entry.office_id.as_str())
            .bind(entry.id.as_str())
            .fetch_all(&mut *conn)
            .await?;
        let offers = rows
            .iter()
            .map(Self::waitlist_offer_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((entry, offers)))
    }

    async fn find_waitlist_entry(&self, office_id: &str, id: &str) -> Result<Option<crate::waitlist::Entry>, Error> {
        let row = sqlx::query(SELECT_ENTRY)
            .bind(office_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::waitlist_entry_of).transpose()
    }

    async fn confirm_waitlist_entry(
        &self,
        id: &str,
        confirm_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<crate::waitlist::Entry>, Error> {
        self.change_entry((CONFIRM_ENTRY, SELECT_ENTRY_BY_CONFIRMATION), (id, confirm_hash), at)
            .await
    }

    async fn withdraw_waitlist_entry(
        &self,
        id: &str,
        token_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<crate::waitlist::Entry>, Error> {
        self.change_entry((WITHDRAW_ENTRY, SELECT_ENTRY_BY_TOKEN), (id, token_hash), at)
            .await
    }

    async fn waiting_entries(
        &self,
        office_id: &str,
        day: Option<chrono::NaiveDate>,
    ) -> Result<Vec<(Vec<String>, u32)>, Error> {
        let day = day.map(|day| day.to_string());
        let rows = sqlx::query(COUNT_WAITING)
            .bind(office_id)
            .bind(day.as_deref())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let concerns: String = row.try_get("concern_ids")?;
                let entries: i64 = row.try_get("entries")?;
                Ok((
                    concerns
                        .split(',')
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    u32::try_from(entries).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    async fn statistics_records(
        &self,
        office_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::statistics::Record>, Error> {
        let rows = sqlx::query(SELECT_STATISTICS)
            .bind(office_id)
            .bind(D::stored(from))
            .bind(D::stored(to))
            .fetch_all(&self.pool)
            .await?;
        let optional = |row: &RowOf<D>, column: &str| -> Result<Option<DateTime<Utc>>, Error> {
            Ok(row
                .try_get::<Option<D::Instant>, _>(column)?
                .map(D::instant)
                .transpose()?)
        };
        rows.iter()
            .map(|row| {
                let concerns: String = row.try_get("concern_ids")?;
                let status: String = row.try_get("status")?;
                let channel: String = row.try_get("channel")?;
                Ok(crate::statistics::Record {
                    counter_id: row.try_get("counter_id")?,
                    concern_ids: concerns
                        .split(',')
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| Error::Internal(format!("unknown stored channel {channel:?}")))?,
                    start: Self::instant(row, "start_at")?,
                    end: Self::instant(row, "end_at")?,
                    created_at: Self::instant(row, "created_at")?,
                    status: stored_status(&status)?,
                    arrived: optional(row, "arrived_at")?,
                    called: optional(row, "first_called_at")?,
                    completed: optional(row, "completed_at")?,
                    never_confirmed: row.try_get("never_confirmed")?,
                })
            })
            .collect()
    }

    async fn list(&self, office_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Booking>, Error> {
        let rows = sqlx::query(SELECT_LIST)
            .bind(office_id)
            .bind(D::stored(from))
            .bind(D::stored(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::booking).collect()
    }

    async fn history(&self, office_id: &str, code: &str) -> Result<Vec<HistoryEntry>, Error> {
        let rows = sqlx::query(SELECT_HISTORY)
            .bind(office_id)
            .bind(code)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::history_entry).collect()
    }

    async fn revoke_session(&self, id: &str, expires_at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(REVOKE_SESSION)
            .bind(id)
            .bind(D::stored(expires_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn session_revoked(&self, id: &str) -> Result<bool, Error> {
        let row = sqlx::query(SESSION_REVOKED).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let removed = sqlx::query(PRUNE_SESSIONS)
            .bind(D::stored(now))
            .execute(&self.writer)
            .await?;
        Ok(D::rows_affected(&removed))
    }

    async fn last_sequence(&self, office_id: &str) -> Result<u64, Error> {
        Ok(D::read_position(&mut *self.pool.acquire().await?, office_id).await?)
    }

    async fn pruned_through(&self, office_id: &str) -> Result<u64, Error> {
        let row = sqlx::query(PRUNED_THROUGH)
            .bind(office_id)
            .fetch_one(&self.pool)
            .await?;
        Self::sequence(&row, "sequence")
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        sqlx::query(MOVE_HORIZONS)
            .bind(D::stored(before))
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query(PRUNE_CHANGES).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(D::rows_affected(&removed))
    }

    async fn changes(&self, office_id: &str, after: u64, limit: u32) -> Result<Vec<Change>, Error> {
        let rows = sqlx::query(D::SELECT_CHANGES)
            .bind(office_id)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Change {
                    sequence: Self::sequence(row, "sequence")?,
                    kind: ChangeKind::parse(&kind)?,
                    interval: Self::interval(row)?,
                    at: Self::instant(row, "created_at")?,
                    by_citizen: row.try_get("by_citizen")?,
                })
            })
            .collect()
    }

    async fn snapshot(&self, office_id: &str, ends_after: DateTime<Utc>) -> Result<Snapshot, Error> {
        // Both reads see one state of the database.
        let mut tx = self.pool.begin_with(D::BEGIN_SNAPSHOT).await?;
        let sequence = D::read_position(&mut tx, office_id).await?;
        let rows = sqlx::query(SELECT_ACTIVE)
            .bind(office_id)
            .bind(D::stored(ends_after))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Snapshot {
            sequence,
            intervals: rows.iter().map(Self::interval).collect::<Result<_, _>>()?,
        })
    }

    async fn mail_backlog(&self) -> Result<u64, Error> {
        let row = sqlx::query(MAIL_BACKLOG).fetch_one(&self.pool).await?;
        Self::sequence(&row, "backlog")
    }

    fn pool_use(&self) -> [(&'static str, (u32, usize)); 2] {
        [
            ("read", (self.pool.size(), self.pool.num_idle())),
            ("write", (self.writer.size(), self.writer.num_idle())),
        ]
    }

    async fn announce(&self, changes: &[(String, u64)]) -> Result<(), Error> {
        let payloads: Vec<String> = changes
            .iter()
            .map(|(office_id, sequence)| format!("{office_id} {sequence}"))
            .collect();
        Ok(D::announce(&self.writer, &payloads).await?)
    }

    async fn follow_announcements(&self, on: &(dyn for<'s> Fn(&'s str, u64) + Send + Sync)) -> Result<(), Error> {
        let parse: &(dyn Fn(&str) + Send + Sync) = &|payload| {
            if let Some((office_id, sequence)) = announced(payload) {
                on(office_id, sequence);
            }
        };
        Ok(D::follow_announcements(&self.pool, parse).await?)
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingMail>, Error> {
        let rows = sqlx::query(D::CLAIM_MAILS)
            .bind(D::stored(now))
            .bind(D::stored(lease_until))
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
        rows.iter().map(Self::pending_mail).collect()
    }

    async fn mail_sent(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(MAIL_SENT)
            .bind(office_id)
            .bind(id)
            .bind(D::stored(at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn mail_failed(
        &self,
        office_id: &str,
        id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (query, when) = match retry_at {
            Some(retry_at) => (MAIL_RETRY, retry_at),
            None => (MAIL_GIVEN_UP, at),
        };
        sqlx::query(query)
            .bind(office_id)
            .bind(id)
            .bind(D::stored(when))
            .bind(error)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn anonymise(&self, ended_before: DateTime<Utc>, at: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.writer.begin_with(D::BEGIN_WRITE).await?;
        let anonymised = sqlx::query(ANONYMISE_BOOKINGS)
            .bind(D::stored(ended_before))
            .bind(D::stored(at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(ANONYMISE_HISTORY).execute(&mut *tx).await?;
        sqlx::query(DROP_MAILS_OF_ANONYMISED).execute(&mut *tx).await?;
        // A payload may carry personal data: answered ones go as the
        // bookings' data does.
        sqlx::query(DROP_OLD_DELIVERIES)
            .bind(D::stored(ended_before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(D::rows_affected(&anonymised))
    }
}

/// Whether an insert added its row: `false` when a unique key refused it
/// (an id drawn twice).
fn added<R>(inserted: Result<R, sqlx::Error>) -> Result<bool, Error> {
    match inserted {
        Ok(_) => Ok(true),
        Err(error) if conflict(&error).is_some() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// An announcement's office and position ("office position").
fn announced(payload: &str) -> Option<(&str, u64)> {
    let (office_id, sequence) = payload.rsplit_once(' ')?;
    Some((office_id, sequence.parse().ok()?))
}

fn stored_status(stored: &str) -> Result<Status, Error> {
    Status::parse(stored).ok_or_else(|| Error::Internal(format!("unknown stored status {stored:?}")))
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
        status: if new.confirm_by.is_some() {
            Status::Pending
        } else {
            Status::Booked
        },
        name: new.name.clone(),
        email: new.email.clone(),
        phone: new.phone.clone(),
        channel: new.channel,
        created_at: new.created_at,
        confirm_by: new.confirm_by.as_ref().map(|(by, _)| *by),
        language: new.language.clone(),
        waiting_number: None,
        called_at: None,
    }
}
