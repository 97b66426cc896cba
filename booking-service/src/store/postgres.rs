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
    BookingStore, CANCEL, Change, ChangeKind, INSERT_BOOKING, Interval, LAST_SEQUENCE, Reservation, SELECT_ACTIVE,
    SELECT_BY_CODE_AND_TOKEN, SELECT_BY_IDEMPOTENCY_KEY, SELECT_CHANGES, SELECT_INTERVALS, Snapshot, change, created,
    idempotency, sequence, split_concerns, stored_channel, stored_sequence, stored_status,
};
use crate::bookings::{Booking, Idempotency, NewBooking};
use crate::error::Error;

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
    async fn reserve(&self, new: &NewBooking, counters: &[String]) -> Result<Reservation, Error> {
        let idempotency = new.idempotency.as_ref();
        for counter_id in counters {
            // A failed INSERT aborts its transaction: one transaction per counter.
            let mut tx = self.pool.begin().await?;
            let sequence = next_sequence(&mut tx, &new.office_id).await?;
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
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => {
                    let booking = created(new, counter_id);
                    insert_change(
                        &mut tx,
                        &new.office_id,
                        sequence,
                        ChangeKind::Booked,
                        &booking.interval(),
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

    async fn cancel(
        &self,
        code: &str,
        token_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<(Booking, Option<u64>)>, Error> {
        let Some(mut booking) = self.get(code, token_hash).await? else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        // The sequence lock first, as in `reserve`.
        let sequence = next_sequence(&mut tx, &booking.office_id).await?;
        let changed = sqlx::query(CANCEL)
            .bind(code)
            .bind(token_hash)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !changed {
            // Cancelled already; rolling back returns the sequence unused.
            tx.rollback().await?;
            booking.status = crate::bookings::Status::Cancelled;
            return Ok(Some((booking, None)));
        }
        let office_id = booking.office_id.clone();
        insert_change(
            &mut tx,
            &office_id,
            sequence,
            ChangeKind::Released,
            &booking.interval(),
            at,
        )
        .await?;
        tx.commit().await?;
        booking.status = crate::bookings::Status::Cancelled;
        Ok(Some((booking, Some(sequence))))
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
}
