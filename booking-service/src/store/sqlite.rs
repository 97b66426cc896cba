//! SQLite backend: one file, WAL, and every reservation in a `BEGIN
//! IMMEDIATE` transaction. IMMEDIATE takes the write lock before the overlap
//! check, so concurrent reservations queue (busy timeout) instead of both
//! seeing a free counter; a deferred transaction would fail with "database is
//! locked" when upgrading from read to write.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    BookingStore, CANCEL, INSERT_BOOKING, Interval, Reservation, SELECT_BY_CODE_AND_TOKEN, SELECT_BY_IDEMPOTENCY_KEY,
    SELECT_INTERVALS, created, idempotency, split_concerns, stored_channel, stored_status,
};
use crate::bookings::{Booking, Idempotency, NewBooking};
use crate::error::Error;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub fn open(url: &str, max_connections: u32) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // The file is created on first start; its folder too.
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::Internal(format!("cannot create {}: {error}", parent.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect_lazy_with(options);
        Ok(Self { pool })
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
    async fn reserve(&self, new: &NewBooking, counters: &[String]) -> Result<Reservation, Error> {
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
        for counter_id in counters {
            let overlapping = sqlx::query(
                "SELECT 1 FROM bookings WHERE office_id = $1 AND counter_id = $2 AND status = 'booked' \
                 AND start_at < $3 AND end_at > $4 LIMIT 1",
            )
            .bind(&new.office_id)
            .bind(counter_id)
            .bind(new.end.timestamp())
            .bind(new.start.timestamp())
            .fetch_optional(&mut *tx)
            .await?;
            if overlapping.is_some() {
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
                .execute(&mut *tx)
                .await;
            return match inserted {
                Ok(_) => {
                    tx.commit().await?;
                    Ok(Reservation::Created(created(new, counter_id)))
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

    async fn cancel(&self, code: &str, token_hash: &[u8], at: DateTime<Utc>) -> Result<Option<Booking>, Error> {
        sqlx::query(CANCEL)
            .bind(code)
            .bind(token_hash)
            .bind(at.timestamp())
            .execute(&self.pool)
            .await?;
        self.get(code, token_hash).await
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
        rows.iter()
            .map(|row| {
                Ok(Interval {
                    counter_id: row.try_get("counter_id")?,
                    start: instant(row.try_get("start_at")?)?,
                    end: instant(row.try_get("end_at")?)?,
                })
            })
            .collect()
    }
}
