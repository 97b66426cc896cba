//! Absences in PostgreSQL (timestamptz).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::{Absence, AbsenceStore, DELETE, INSERT, SELECT_CURRENT};
use crate::error::Error;

pub struct PgAbsences {
    pool: PgPool,
}

impl PgAbsences {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn absence(row: &PgRow) -> Result<Absence, Error> {
    Ok(Absence {
        id: row.try_get("id")?,
        office_id: row.try_get("office_id")?,
        counter_id: row.try_get("counter_id")?,
        start: row.try_get("start_at")?,
        end: row.try_get("end_at")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

#[tonic::async_trait]
impl AbsenceStore for PgAbsences {
    async fn migrate(&self) -> Result<(), Error> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn add(&self, absence: &Absence) -> Result<(), Error> {
        sqlx::query(INSERT)
            .bind(&absence.office_id)
            .bind(&absence.id)
            .bind(&absence.counter_id)
            .bind(absence.start)
            .bind(absence.end)
            .bind(&absence.reason)
            .bind(absence.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn remove(&self, office_id: &str, id: &str) -> Result<Option<Absence>, Error> {
        let row = sqlx::query(DELETE)
            .bind(office_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(absence).transpose()
    }

    async fn list(&self, ends_after: DateTime<Utc>) -> Result<Vec<Absence>, Error> {
        let rows = sqlx::query(SELECT_CURRENT)
            .bind(ends_after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(absence).collect()
    }
}
