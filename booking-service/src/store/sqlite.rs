//! SQLite backend: one file, WAL, and every write in a `BEGIN IMMEDIATE`
//! transaction. IMMEDIATE takes the write lock before the overlap check, so
//! concurrent reservations queue (busy timeout) instead of both seeing a free
//! counter; a deferred transaction would fail with "database is locked" when
//! upgrading from read to write. One writer at a time also makes the change
//! log's `MAX(sequence) + 1` gap-free and in commit order.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::{
    ANONYMISE_BOOKINGS, ANONYMISE_HISTORY, DROP_MAILS_OF_ANONYMISED, DROP_PENDING_REMINDERS, INSERT_MAIL,
    MAIL_GIVEN_UP, MAIL_RETRY, MAIL_SENT, pending_mail,
};
use super::{
    BookingStore, COUNT_ACTIVE_FOR_EMAIL, Change, ChangeKind, Decision, INSERT_BOOKING, INSERT_HISTORY, Interval,
    LAST_SEQUENCE, MOVE, Move, MoveRequest, Reservation, SELECT_ACTIVE, SELECT_BY_CODE_AND_TOKEN,
    SELECT_BY_IDEMPOTENCY_KEY, SELECT_BY_OFFICE_AND_CODE, SELECT_CHANGES, SELECT_HISTORY, SELECT_INTERVALS,
    SELECT_LIST, Snapshot, StatusChange, StatusRequest, UPDATE_STATUS, change, created, decide, history_entry,
    idempotency, move_detail, moved, sequence, split_concerns, stored_channel, stored_sequence, stored_status,
};
use super::{FIRST_SEQUENCE, PRUNE_CHANGES};
use crate::bookings::{self, Booking, HistoryEntry, Idempotency, NewBooking, Status};
use crate::error::Error;
use crate::notifications::{Notification, PendingMail};

/// Appends to the office's change log with the next sequence.
const APPEND_CHANGE: &str = "INSERT INTO booking_events \
     (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at) \
     SELECT $1, COALESCE(MAX(sequence), 0) + 1, $2, $3, $4, $5, $6, $7 FROM booking_events WHERE office_id = $1 \
     RETURNING sequence";

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn instant(seconds: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| Error::Internal(format!("stored instant {seconds} out of range")))
}

fn booking(row: &SqliteRow) -> Result<Booking, Error> {
    Ok(Booking {
        office_id: row.try_get("office_id")?,
        code: row.try_get("code")?,
        counter_id: row.try_get("counter_id")?,
        concern_ids: split_concerns(row.try_get("concern_ids")?),
        start: instant(row.try_get("start_at")?)?,
        end: instant(row.try_get("end_at")?)?,
        status: stored_status(row.try_get("status")?)?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        channel: stored_channel(row.try_get("channel")?)?,
        created_at: instant(row.try_get("created_at")?)?,
    })
}

fn interval(row: &SqliteRow) -> Result<Interval, Error> {
    Ok(Interval {
        code: row.try_get("code")?,
        counter_id: row.try_get("counter_id")?,
        start: instant(row.try_get("start_at")?)?,
        end: instant(row.try_get("end_at")?)?,
    })
}

/// One entry of the booking's history: who changed what, when.
struct History<'a> {
    office_id: &'a str,
    code: &'a str,
    at: DateTime<Utc>,
    actor: &'a str,
    from: Option<Status>,
    to: Status,
    detail: Option<&'a str>,
}

async fn record(tx: &mut Transaction<'static, Sqlite>, entry: History<'_>) -> Result<(), Error> {
    sqlx::query(INSERT_HISTORY)
        .bind(entry.office_id)
        .bind(entry.code)
        .bind(entry.at.timestamp())
        .bind(entry.actor)
        .bind(entry.from.map(Status::as_str))
        .bind(entry.to.as_str())
        .bind(entry.detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether `counter_id` is free for [start, end), not counting booking `code`.
async fn counter_free(
    tx: &mut Transaction<'static, Sqlite>,
    office_id: &str,
    counter_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    code: &str,
) -> Result<bool, Error> {
    let overlapping = sqlx::query(
        "SELECT 1 FROM bookings WHERE office_id = $1 AND counter_id = $2 AND status <> 'cancelled' \
         AND start_at < $3 AND end_at > $4 AND code <> $5 LIMIT 1",
    )
    .bind(office_id)
    .bind(counter_id)
    .bind(end.timestamp())
    .bind(start.timestamp())
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(overlapping.is_none())
}

async fn find_in(tx: &mut Transaction<'static, Sqlite>, office_id: &str, code: &str) -> Result<Option<Booking>, Error> {
    let row = sqlx::query(SELECT_BY_OFFICE_AND_CODE)
        .bind(office_id)
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(booking).transpose()
}

/// Queues `mails` for booking `code`; a change of the appointment also drops
/// the reminders still pending for its old state.
async fn queue(
    tx: &mut Transaction<'static, Sqlite>,
    office_id: &str,
    code: &str,
    mails: &[Notification],
    drop_reminders: bool,
) -> Result<(), Error> {
    if drop_reminders {
        sqlx::query(DROP_PENDING_REMINDERS)
            .bind(office_id)
            .bind(code)
            .execute(&mut **tx)
            .await?;
    }
    for mail in mails {
        sqlx::query(INSERT_MAIL)
            .bind(office_id)
            .bind(&mail.id)
            .bind(code)
            .bind(mail.kind.as_str())
            .bind(mail.token.as_deref())
            .bind(mail.due_at.timestamp())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn append_change(
    tx: &mut Transaction<'static, Sqlite>,
    office_id: &str,
    kind: ChangeKind,
    interval: &Interval,
    at: DateTime<Utc>,
) -> Result<u64, Error> {
    let stored: i64 = sqlx::query_scalar(APPEND_CHANGE)
        .bind(office_id)
        .bind(kind.as_str())
        .bind(&interval.code)
        .bind(&interval.counter_id)
        .bind(interval.start.timestamp())
        .bind(interval.end.timestamp())
        .bind(at.timestamp())
        .fetch_one(&mut **tx)
        .await?;
    Ok(sequence(stored))
}

#[tonic::async_trait]
impl BookingStore for SqliteStore {
    async fn migrate(&self) -> Result<(), Error> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(office = %new.office_id))]
    async fn reserve(&self, new: &NewBooking, counters: &[String], limit: Option<u32>) -> Result<Reservation, Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(idempotency) = &new.idempotency {
            let existing = sqlx::query("SELECT 1 FROM bookings WHERE office_id = $1 AND idempotency_key_hash = $2")
                .bind(&new.office_id)
                .bind(&idempotency.key_hash)
                .fetch_optional(&mut *tx)
                .await?;
            if existing.is_some() {
                return Ok(Reservation::KeyTaken);
            }
        }
        let email = bookings::normalise_email(&new.email);
        if let Some(limit) = limit {
            let active: i64 = sqlx::query_scalar(COUNT_ACTIVE_FOR_EMAIL)
                .bind(&new.office_id)
                .bind(&email)
                .bind(new.created_at.timestamp())
                .fetch_one(&mut *tx)
                .await?;
            if active >= i64::from(limit) {
                return Ok(Reservation::LimitReached);
            }
        }
        for counter_id in counters {
            if !counter_free(&mut tx, &new.office_id, counter_id, new.start, new.end, &new.code).await? {
                continue;
            }
            let idempotency = new.idempotency.as_ref();
            let inserted = sqlx::query(INSERT_BOOKING)
                .bind(&new.office_id)
                .bind(&new.code)
                .bind(counter_id)
                .bind(new.concern_ids.join(","))
                .bind(new.start.timestamp())
                .bind(new.end.timestamp())
                .bind(&new.name)
                .bind(&new.email)
                .bind(&new.phone)
                .bind(&new.token_hash)
                .bind(idempotency.map(|i| &i.key_hash))
                .bind(idempotency.map(|i| &i.request_hash))
                .bind(idempotency.map(|i| &i.token_sealed))
                .bind(new.channel.as_str())
                .bind(new.created_at.timestamp())
                .bind(&email)
                .execute(&mut *tx)
                .await;
            return match inserted {
                Ok(_) => {
                    let booking = created(new, counter_id);
                    let history = History {
                        office_id: &new.office_id,
                        code: &new.code,
                        at: new.created_at,
                        actor: &new.actor,
                        from: None,
                        to: Status::Booked,
                        detail: None,
                    };
                    record(&mut tx, history).await?;
                    queue(&mut tx, &new.office_id, &new.code, &new.notifications, false).await?;
                    let sequence = append_change(
                        &mut tx,
                        &new.office_id,
                        ChangeKind::Booked,
                        &booking.interval(),
                        new.created_at,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(Reservation::Created { booking, sequence })
                }
                Err(sqlx::Error::Database(error)) if error.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                    Ok(Reservation::CodeTaken)
                }
                Err(error) => Err(error.into()),
            };
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
        row.map(|row| Ok((booking(&row)?, idempotency(&row)?))).transpose()
    }

    async fn get(&self, code: &str, token_hash: &[u8]) -> Result<Option<Booking>, Error> {
        let row = sqlx::query(SELECT_BY_CODE_AND_TOKEN)
            .bind(code)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(booking).transpose()
    }

    async fn find(&self, office_id: &str, code: &str) -> Result<Option<Booking>, Error> {
        let row = sqlx::query(SELECT_BY_OFFICE_AND_CODE)
            .bind(office_id)
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(booking).transpose()
    }

    #[tracing::instrument(skip_all, fields(office = %request.office_id, to = request.to.as_str()))]
    async fn change_status(&self, request: StatusRequest<'_>) -> Result<StatusChange, Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(found) = find_in(&mut tx, request.office_id, request.code).await? else {
            return Ok(StatusChange::NotFound);
        };
        let mut booking = match decide(found, request.to) {
            Decision::Proceed(booking) => booking,
            Decision::Done(outcome) => return Ok(outcome),
        };
        sqlx::query(UPDATE_STATUS)
            .bind(request.office_id)
            .bind(request.code)
            .bind(booking.status.as_str())
            .bind(request.to.as_str())
            .bind(request.at.timestamp())
            .execute(&mut *tx)
            .await?;
        let history = History {
            office_id: request.office_id,
            code: request.code,
            at: request.at,
            actor: request.actor,
            from: Some(booking.status),
            to: request.to,
            detail: request.detail,
        };
        record(&mut tx, history).await?;
        queue(&mut tx, request.office_id, request.code, request.notifications, true).await?;
        let sequence = if request.to == Status::Cancelled {
            let interval = booking.interval();
            Some(append_change(&mut tx, request.office_id, ChangeKind::Released, &interval, request.at).await?)
        } else {
            None
        };
        tx.commit().await?;
        booking.status = request.to;
        Ok(StatusChange::Changed { booking, sequence })
    }

    #[tracing::instrument(skip_all, fields(office = %request.office_id))]
    async fn reschedule(&self, request: MoveRequest<'_>) -> Result<Move, Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(booking) = find_in(&mut tx, request.office_id, request.code).await? else {
            return Ok(Move::NotFound);
        };
        if booking.status != Status::Booked {
            return Ok(Move::Refused(booking));
        }
        for counter_id in request.counters {
            if !counter_free(
                &mut tx,
                request.office_id,
                counter_id,
                request.start,
                request.end,
                request.code,
            )
            .await?
            {
                continue;
            }
            sqlx::query(MOVE)
                .bind(request.office_id)
                .bind(request.code)
                .bind(counter_id)
                .bind(request.start.timestamp())
                .bind(request.end.timestamp())
                .bind(request.at.timestamp())
                .execute(&mut *tx)
                .await?;
            let detail = move_detail(&booking, &request);
            let history = History {
                office_id: request.office_id,
                code: request.code,
                at: request.at,
                actor: request.actor,
                from: Some(Status::Booked),
                to: Status::Booked,
                detail: Some(&detail),
            };
            record(&mut tx, history).await?;
            queue(&mut tx, request.office_id, request.code, request.notifications, true).await?;
            let old = booking.interval();
            let booking = moved(booking, &request, counter_id);
            append_change(&mut tx, request.office_id, ChangeKind::Released, &old, request.at).await?;
            let sequence = append_change(
                &mut tx,
                request.office_id,
                ChangeKind::Booked,
                &booking.interval(),
                request.at,
            )
            .await?;
            tx.commit().await?;
            return Ok(Move::Moved { booking, sequence });
        }
        Ok(Move::AllTaken)
    }

    async fn list(&self, office_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Booking>, Error> {
        let rows = sqlx::query(SELECT_LIST)
            .bind(office_id)
            .bind(from.timestamp())
            .bind(to.timestamp())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(booking).collect()
    }

    async fn history(&self, office_id: &str, code: &str) -> Result<Vec<HistoryEntry>, Error> {
        let rows = sqlx::query(SELECT_HISTORY)
            .bind(office_id)
            .bind(code)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| history_entry(row, instant(row.try_get("at")?)?))
            .collect()
    }

    async fn booked_intervals(
        &self,
        office_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Interval>, Error> {
        let rows = sqlx::query(SELECT_INTERVALS)
            .bind(office_id)
            .bind(from.timestamp())
            .bind(to.timestamp())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(interval).collect()
    }

    async fn last_sequence(&self, office_id: &str) -> Result<u64, Error> {
        let stored: i64 = sqlx::query_scalar(LAST_SEQUENCE)
            .bind(office_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(sequence(stored))
    }

    async fn first_sequence(&self, office_id: &str) -> Result<u64, Error> {
        let stored: i64 = sqlx::query_scalar(FIRST_SEQUENCE)
            .bind(office_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(sequence(stored))
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let removed = sqlx::query(PRUNE_CHANGES)
            .bind(before.timestamp())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed)
    }

    async fn changes(&self, office_id: &str, after: u64, limit: u32) -> Result<Vec<Change>, Error> {
        let rows = sqlx::query(SELECT_CHANGES)
            .bind(office_id)
            .bind(stored_sequence(after))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| change(row, interval)).collect()
    }

    async fn snapshot(&self, office_id: &str, ends_after: DateTime<Utc>) -> Result<Snapshot, Error> {
        // In WAL mode a read transaction sees one consistent state.
        let mut tx = self.pool.begin().await?;
        let stored: i64 = sqlx::query_scalar(LAST_SEQUENCE)
            .bind(office_id)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(SELECT_ACTIVE)
            .bind(office_id)
            .bind(ends_after.timestamp())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Snapshot {
            sequence: sequence(stored),
            intervals: rows.iter().map(interval).collect::<Result<_, _>>()?,
        })
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingMail>, Error> {
        let rows = sqlx::query(
            "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1 WHERE rowid IN \
             (SELECT rowid FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $3) \
             RETURNING office_id, id, code, kind, token, attempts",
        )
        .bind(now.timestamp())
        .bind(lease_until.timestamp())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pending_mail).collect()
    }

    async fn mail_sent(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(MAIL_SENT)
            .bind(office_id)
            .bind(id)
            .bind(at.timestamp())
            .execute(&self.pool)
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
            .bind(when.timestamp())
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn anonymise(&self, ended_before: DateTime<Utc>, at: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let anonymised = sqlx::query(ANONYMISE_BOOKINGS)
            .bind(ended_before.timestamp())
            .bind(at.timestamp())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(ANONYMISE_HISTORY).execute(&mut *tx).await?;
        sqlx::query(DROP_MAILS_OF_ANONYMISED).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(anonymised)
    }
}
