//! Absences in SQLite; instants as UTC seconds.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{Absence, AbsenceStore, DELETE, INSERT, SELECT_CURRENT};
use crate::error::Error;

pub struct SqliteAbsences {
    pool: SqlitePool,
}

impl SqliteAbsences {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn instant(seconds: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| Error::Internal(format!("stored instant {seconds} out of range")))
}

fn absence(row: &SqliteRow) -> Result<Absence, Error> {
    Ok(Absence {
        id: row.try_get("id")?,
        office_id: row.try_get("office_id")?,
        counter_id: row.try_get("counter_id")?,
        start: instant(row.try_get("start_at")?)?,
        end: instant(row.try_get("end_at")?)?,
        reason: row.try_get("reason")?,
        created_at: instant(row.try_get("created_at")?)?,
    })
}

#[tonic::async_trait]
impl AbsenceStore for SqliteAbsences {
    async fn migrate(&self) -> Result<(), Error> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    async fn add(&self, absence: &Absence) -> Result<(), Error> {
        sqlx::query(INSERT)
            .bind(&absence.office_id)
            .bind(&absence.id)
            .bind(&absence.counter_id)
            .bind(absence.start.timestamp())
            .bind(absence.end.timestamp())
            .bind(&absence.reason)
            .bind(absence.created_at.timestamp())
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
            .bind(ends_after.timestamp())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(absence).collect()
    }
}
