//! PostgreSQL backend. The exclusion constraint `bookings_no_double_booking`
//! (migrations/postgres) refuses an overlapping active booking of the same
//! counter, atomically across any number of replicas. Each change takes the
//! next value of its office's row in `office_sequences` first, in the same
//! transaction: that row lock orders an office's changes, so the change log
//! is gap-free and in commit order, and every lock is taken in the same order
//! (no deadlocks). The office id leads every key, so under Citus each booking
//! stays a single-shard transaction.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

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

const EXCLUSION_VIOLATION: &str = "23P01";
const UNIQUE_VIOLATION: &str = "23505";

/// Takes the office's next change sequence, locking its row until commit.
const NEXT_SEQUENCE: &str = "INSERT INTO office_sequences (office_id, last_sequence) VALUES ($1, 1) \
     ON CONFLICT (office_id) DO UPDATE SET last_sequence = office_sequences.last_sequence + 1 \
     RETURNING last_sequence";
const INSERT_CHANGE: &str = "INSERT INTO booking_events \
     (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn interval(row: &PgRow) -> Result<Interval, Error> {
    Ok(Interval {
        code: row.try_get("code")?,
        counter_id: row.try_get("counter_id")?,
        start: row.try_get("start_at")?,
        end: row.try_get("end_at")?,
    })
}

async fn next_sequence(tx: &mut Transaction<'static, Postgres>, office_id: &str) -> Result<u64, Error> {
    let stored: i64 = sqlx::query_scalar(NEXT_SEQUENCE)
        .bind(office_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(sequence(stored))
}

async fn insert_change(
    tx: &mut Transaction<'static, Postgres>,
    office_id: &str,
    sequence: u64,
    kind: ChangeKind,
    interval: &Interval,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(INSERT_CHANGE)
        .bind(office_id)
        .bind(stored_sequence(sequence))
        .bind(kind.as_str())
        .bind(&interval.code)
        .bind(&interval.counter_id)
        .bind(interval.start)
        .bind(interval.end)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
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

async fn record(tx: &mut Transaction<'static, Postgres>, entry: History<'_>) -> Result<(), Error> {
    sqlx::query(INSERT_HISTORY)
        .bind(entry.office_id)
        .bind(entry.code)
        .bind(entry.at)
        .bind(entry.actor)
        .bind(entry.from.map(Status::as_str))
        .bind(entry.to.as_str())
        .bind(entry.detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queues `mails` for booking `code`; a change of the appointment also drops
/// the reminders still pending for its old state.
async fn queue(
    tx: &mut Transaction<'static, Postgres>,
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
            .bind(mail.due_at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn is_exclusion_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.code().as_deref() == Some(EXCLUSION_VIOLATION))
}

fn booking(row: &PgRow) -> Result<Booking, Error> {
    Ok(Booking {
        office_id: row.try_get("office_id")?,
        code: row.try_get("code")?,
        counter_id: row.try_get("counter_id")?,
        concern_ids: split_concerns(row.try_get("concern_ids")?),
        start: row.try_get("start_at")?,
        end: row.try_get("end_at")?,
        status: stored_status(row.try_get("status")?)?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        channel: stored_channel(row.try_get("channel")?)?,
        created_at: row.try_get("created_at")?,
    })
}

#[tonic::async_trait]
impl BookingStore for PgStore {
    async fn migrate(&self) -> Result<(), Error> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(office = %new.office_id))]
    async fn reserve(&self, new: &NewBooking, counters: &[String], limit: Option<u32>) -> Result<Reservation, Error> {
        let idempotency = new.idempotency.as_ref();
        let email = bookings::normalise_email(&new.email);
        for counter_id in counters {
            // A failed INSERT aborts its transaction: one transaction per counter.
            let mut tx = self.pool.begin().await?;
            let sequence = next_sequence(&mut tx, &new.office_id).await?;
            // Counted under the office's lock, so two requests cannot both see room.
            if let Some(limit) = limit {
                let active: i64 = sqlx::query_scalar(COUNT_ACTIVE_FOR_EMAIL)
                    .bind(&new.office_id)
                    .bind(&email)
                    .bind(new.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                if active >= i64::from(limit) {
                    return Ok(Reservation::LimitReached);
                }
            }
            let inserted = sqlx::query(INSERT_BOOKING)
                .bind(&new.office_id)
                .bind(&new.code)
                .bind(counter_id)
                .bind(new.concern_ids.join(","))
                .bind(new.start)
                .bind(new.end)
                .bind(&new.name)
                .bind(&new.email)
                .bind(&new.phone)
                .bind(&new.token_hash)
                .bind(idempotency.map(|i| &i.key_hash))
                .bind(idempotency.map(|i| &i.request_hash))
                .bind(idempotency.map(|i| &i.token_sealed))
                .bind(new.channel.as_str())
                .bind(new.created_at)
                .bind(&email)
                .execute(&mut *tx)
                .await;
            match inserted {
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
                    let interval = booking.interval();
                    insert_change(
                        &mut tx,
                        &new.office_id,
                        sequence,
                        ChangeKind::Booked,
                        &interval,
                        new.created_at,
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(Reservation::Created { booking, sequence });
                }
                Err(sqlx::Error::Database(error)) => match error.code().as_deref() {
                    Some(EXCLUSION_VIOLATION) => continue,
                    Some(UNIQUE_VIOLATION) if error.constraint() == Some("bookings_idempotency_key") => {
                        return Ok(Reservation::KeyTaken);
                    }
                    Some(UNIQUE_VIOLATION) => return Ok(Reservation::CodeTaken),
                    _ => return Err(sqlx::Error::Database(error).into()),
                },
                Err(error) => return Err(error.into()),
            }
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
        // Optimistic: the UPDATE only applies while the status is still the
        // one decided on; a concurrent change makes it try again.
        loop {
            let Some(found) = self.find(request.office_id, request.code).await? else {
                return Ok(StatusChange::NotFound);
            };
            let mut booking = match decide(found, request.to) {
                Decision::Proceed(booking) => booking,
                Decision::Done(outcome) => return Ok(outcome),
            };
            let mut tx = self.pool.begin().await?;
            // The office's lock first, as everywhere a change is logged.
            let sequence = match request.to {
                Status::Cancelled => Some(next_sequence(&mut tx, request.office_id).await?),
                _ => None,
            };
            let updated = sqlx::query(UPDATE_STATUS)
                .bind(request.office_id)
                .bind(request.code)
                .bind(booking.status.as_str())
                .bind(request.to.as_str())
                .bind(request.at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                continue;
            }
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
            if let Some(sequence) = sequence {
                let interval = booking.interval();
                insert_change(
                    &mut tx,
                    request.office_id,
                    sequence,
                    ChangeKind::Released,
                    &interval,
                    request.at,
                )
                .await?;
            }
            tx.commit().await?;
            booking.status = request.to;
            return Ok(StatusChange::Changed { booking, sequence });
        }
    }

    #[tracing::instrument(skip_all, fields(office = %request.office_id))]
    async fn reschedule(&self, request: MoveRequest<'_>) -> Result<Move, Error> {
        let Some(booking) = self.find(request.office_id, request.code).await? else {
            return Ok(Move::NotFound);
        };
        if booking.status != Status::Booked {
            return Ok(Move::Refused(booking));
        }
        for counter_id in request.counters {
            let mut tx = self.pool.begin().await?;
            let released = next_sequence(&mut tx, request.office_id).await?;
            // One UPDATE takes the new interval and gives up the old one; the
            // exclusion constraint checks the new one against all others.
            let updated = sqlx::query(MOVE)
                .bind(request.office_id)
                .bind(request.code)
                .bind(counter_id)
                .bind(request.start)
                .bind(request.end)
                .bind(request.at)
                .execute(&mut *tx)
                .await;
            match updated {
                Ok(result) if result.rows_affected() == 0 => {
                    tx.rollback().await?;
                    return match self.find(request.office_id, request.code).await? {
                        Some(current) => Ok(Move::Refused(current)),
                        None => Ok(Move::NotFound),
                    };
                }
                Ok(_) => {}
                Err(error) if is_exclusion_violation(&error) => continue,
                Err(error) => return Err(error.into()),
            }
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
            let booked = next_sequence(&mut tx, request.office_id).await?;
            insert_change(
                &mut tx,
                request.office_id,
                released,
                ChangeKind::Released,
                &old,
                request.at,
            )
            .await?;
            insert_change(
                &mut tx,
                request.office_id,
                booked,
                ChangeKind::Booked,
                &booking.interval(),
                request.at,
            )
            .await?;
            tx.commit().await?;
            return Ok(Move::Moved {
                booking,
                sequence: booked,
            });
        }
        Ok(Move::AllTaken)
    }

    async fn list(&self, office_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Booking>, Error> {
        let rows = sqlx::query(SELECT_LIST)
            .bind(office_id)
            .bind(from)
            .bind(to)
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
        rows.iter().map(|row| history_entry(row, row.try_get("at")?)).collect()
    }

    async fn booked_intervals(
        &self,
        office_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Interval>, Error> {
        let rows = sqlx::query(SELECT_INTERVALS)
            .bind(office_id)
            .bind(from)
            .bind(to)
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
            .bind(before)
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
        // Both reads from one snapshot of the database.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let stored: i64 = sqlx::query_scalar(LAST_SEQUENCE)
            .bind(office_id)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(SELECT_ACTIVE)
            .bind(office_id)
            .bind(ends_after)
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
        // SKIP LOCKED: the workers of several replicas never claim one mail twice.
        let rows = sqlx::query(
            "UPDATE mail_outbox m SET next_attempt_at = $2, attempts = m.attempts + 1 FROM \
             (SELECT office_id, id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
             WHERE m.office_id = due.office_id AND m.id = due.id \
             RETURNING m.office_id, m.id, m.code, m.kind, m.token, m.attempts",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pending_mail).collect()
    }

    async fn mail_sent(&self, office_id: &str, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(MAIL_SENT)
            .bind(office_id)
            .bind(id)
            .bind(at)
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
            .bind(when)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn anonymise(&self, ended_before: DateTime<Utc>, at: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.pool.begin().await?;
        let anonymised = sqlx::query(ANONYMISE_BOOKINGS)
            .bind(ended_before)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(ANONYMISE_HISTORY).execute(&mut *tx).await?;
        sqlx::query(DROP_MAILS_OF_ANONYMISED).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(anonymised)
    }
}
