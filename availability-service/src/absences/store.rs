//! Absences in this service's own database, written once for both backends
//! over the shared `Dialect`.

use std::marker::PhantomData;

use amtstermin_platform::database::{Dialect, Pools};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{Absence, AbsenceStore};
use crate::error::Error;

const INSERT: &str = "INSERT INTO absences (office_id, id, counter_id, start_at, end_at, reason, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const DELETE: &str = "DELETE FROM absences WHERE office_id = $1 AND id = $2 \
     RETURNING office_id, id, counter_id, start_at, end_at, reason, created_at";
const SELECT_CURRENT: &str = "SELECT office_id, id, counter_id, start_at, end_at, reason, created_at \
     FROM absences WHERE end_at > $1 ORDER BY start_at, office_id, id";

pub struct SqlAbsences<D: Dialect> {
    pool: Pool<D::Db>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> SqlAbsences<D> {
    /// Absences change seldom: the read pool serves their writes too. The
    /// configuration store migrates the database they share.
    pub fn new(pools: Pools<D::Db>) -> Self {
        Self {
            pool: pools.read,
            dialect: PhantomData,
        }
    }
}

fn absence<D: Dialect>(row: &<D::Db as Database>::Row) -> Result<Absence, Error>
where
    for<'a> &'a str: ColumnIndex<<D::Db as Database>::Row>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
{
    Ok(Absence {
        id: row.try_get("id")?,
        office_id: row.try_get("office_id")?,
        counter_id: row.try_get("counter_id")?,
        start: D::instant(row.try_get("start_at")?)?,
        end: D::instant(row.try_get("end_at")?)?,
        reason: row.try_get("reason")?,
        created_at: D::instant(row.try_get("created_at")?)?,
    })
}

#[tonic::async_trait]
impl<D: Dialect> AbsenceStore for SqlAbsences<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'a> &'a str: ColumnIndex<<D::Db as Database>::Row> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
{
    async fn add(&self, absence: &Absence) -> Result<(), Error> {
        sqlx::query(INSERT)
            .bind(absence.office_id.as_str())
            .bind(absence.id.as_str())
            .bind(absence.counter_id.as_str())
            .bind(D::stored(absence.start))
            .bind(D::stored(absence.end))
            .bind(absence.reason.as_str())
            .bind(D::stored(absence.created_at))
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
        row.as_ref().map(absence::<D>).transpose()
    }

    async fn list(&self, ends_after: DateTime<Utc>) -> Result<Vec<Absence>, Error> {
        let rows = sqlx::query(SELECT_CURRENT)
            .bind(D::stored(ends_after))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(absence::<D>).collect()
    }

    fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }
}
