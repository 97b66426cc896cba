//! PostgreSQL backend. A reservation is a single INSERT; the exclusion
//! constraint `bookings_no_double_booking` (migrations/postgres) refuses an
//! overlapping active booking of the same counter, atomically across any
//! number of replicas. The office id leads every key, so under Citus each
//! booking stays a single-shard statement.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use super::{
    BookingStore, CANCEL, INSERT_BOOKING, Interval, Reservation, SELECT_BY_CODE_AND_TOKEN, SELECT_BY_IDEMPOTENCY_KEY,
    SELECT_INTERVALS, created, idempotency, split_concerns, stored_channel, stored_status,
};
use crate::bookings::{Booking, Idempotency, NewBooking};
use crate::error::Error;

const EXCLUSION_VIOLATION: &str = "23P01";
const UNIQUE_VIOLATION: &str = "23505";

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn open(url: &str, max_connections: u32) -> Result<Self, Error> {
        let options = PgConnectOptions::from_str(url)?.application_name("amtstermin-booking-service");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
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
                .execute(&self.pool)
                .await;
            match inserted {
                Ok(_) => return Ok(Reservation::Created(created(new, counter_id))),
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

    async fn cancel(&self, code: &str, token_hash: &[u8], at: DateTime<Utc>) -> Result<Option<Booking>, Error> {
        sqlx::query(CANCEL)
            .bind(code)
            .bind(token_hash)
            .bind(at)
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
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Interval {
                    counter_id: row.try_get("counter_id")?,
                    start: row.try_get("start_at")?,
                    end: row.try_get("end_at")?,
                })
            })
            .collect()
    }
}
