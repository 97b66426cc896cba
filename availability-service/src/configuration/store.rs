//! The configuration documents in this service's own database, written once
//! for both backends over the shared `Dialect`.

use std::marker::PhantomData;

use amtstermin_platform::database::{Dialect, Pools};
use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{Change, ConfigurationStore, StoredOffice, Write};
use crate::config::Document;
use crate::error::Error;

const SELECT_OFFICES: &str = "SELECT office_id, version, document, changed_at, changed_by FROM office_configurations \
     ORDER BY position, office_id";
const SELECT_VERSIONS: &str = "SELECT office_id, version FROM office_configurations ORDER BY position, office_id";
const COUNT: &str = "SELECT COUNT(*) FROM office_configurations";
const SELECT_ONE: &str = "SELECT version, document FROM office_configurations WHERE office_id = $1";
const NEXT_POSITION: &str = "SELECT COALESCE(MAX(position), 0) + 1 FROM office_configurations";
const INSERT: &str = "INSERT INTO office_configurations \
     (office_id, version, document, position, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE: &str = "UPDATE office_configurations \
     SET version = $3, document = $4, position = COALESCE($5, position), changed_at = $6, changed_by = $7 \
     WHERE office_id = $1 AND version = $2";
const INSERT_CHANGE: &str = "INSERT INTO office_configuration_changes \
     (office_id, version, changed_at, actor, document_before, document_after, reverts) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SELECT_UNANNOUNCED: &str = "SELECT office_id, version, changed_at, actor, document_before, document_after, reverts \
     FROM office_configuration_changes WHERE announced_at IS NULL ORDER BY changed_at, office_id, version LIMIT $1";
const MARK_ANNOUNCED: &str = "UPDATE office_configuration_changes SET announced_at = $3 \
     WHERE office_id = $1 AND version = $2 AND announced_at IS NULL";
const MARK_SEED_ANNOUNCED: &str = "UPDATE office_configuration_changes SET announced_at = changed_at \
     WHERE office_id = $1 AND version = 1";
const SELECT_CHANGES: &str = "SELECT office_id, version, changed_at, actor, document_before, document_after, reverts \
     FROM office_configuration_changes WHERE office_id = $1 ORDER BY version DESC LIMIT $2";
const SELECT_CHANGE: &str = "SELECT office_id, version, changed_at, actor, document_before, document_after, reverts \
     FROM office_configuration_changes WHERE office_id = $1 AND version = $2";

pub struct SqlConfiguration<D: Dialect> {
    pool: Pool<D::Db>,
    migrator: sqlx::migrate::Migrator,
    dialect: PhantomData<D>,
}

impl<D: Dialect> SqlConfiguration<D> {
    /// Configuration changes seldom: the read pool serves the writes too.
    pub fn new(pools: Pools<D::Db>, migrator: sqlx::migrate::Migrator) -> Self {
        Self {
            pool: pools.read,
            migrator,
            dialect: PhantomData,
        }
    }
}

fn version(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or_default()
}

fn stored_version(version: u64) -> Result<i64, Error> {
    i64::try_from(version).map_err(|_| Error::InvalidArgument("version out of range".to_owned()))
}

fn change<D: Dialect>(row: &<D::Db as Database>::Row) -> Result<Change, Error>
where
    for<'a> &'a str: ColumnIndex<<D::Db as Database>::Row>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> i64: Decode<'a, D::Db> + Type<D::Db>,
{
    Ok(Change {
        office_id: row.try_get("office_id")?,
        version: version(row.try_get("version")?),
        changed_at: D::instant(row.try_get("changed_at")?)?,
        actor: row.try_get("actor")?,
        before: row.try_get("document_before")?,
        after: row.try_get("document_after")?,
        reverts: row.try_get::<Option<i64>, _>("reverts")?.map(version),
    })
}

/// Another change of the same office won: its key (office, version) exists.
fn conflict(error: sqlx::Error, office_id: &str) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.kind() == ErrorKind::UniqueViolation => {
            Error::ConfigurationConflict(office_id.to_owned())
        }
        _ => Error::Database(error),
    }
}

#[tonic::async_trait]
impl<D: Dialect> ConfigurationStore for SqlConfiguration<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'a> &'a str: ColumnIndex<<D::Db as Database>::Row> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<&'a str>: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> i64: Decode<'a, D::Db> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<i64>: Decode<'a, D::Db> + Encode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<String>: Decode<'a, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn migrate(&self) -> Result<(), Error> {
        self.migrator.run(&self.pool).await?;
        Ok(())
    }

    async fn seed(&self, documents: &[Document], actor: &str, at: DateTime<Utc>) -> Result<bool, Error> {
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let count: i64 = sqlx::query(COUNT).fetch_one(&mut *tx).await?.try_get(0)?;
        if count > 0 {
            return Ok(false);
        }
        for (position, document) in (1_i64..).zip(documents) {
            let office_id = document.office_id.as_str();
            let inserted = sqlx::query(INSERT)
                .bind(office_id)
                .bind(1_i64)
                .bind(Some(document.text.as_str()))
                .bind(position)
                .bind(D::stored(at))
                .bind(actor)
                .execute(&mut *tx)
                .await;
            match inserted.map_err(|error| conflict(error, office_id)) {
                // Another replica seeded at the same moment.
                Err(Error::ConfigurationConflict(_)) => return Ok(false),
                other => other?,
            };
            sqlx::query(INSERT_CHANGE)
                .bind(office_id)
                .bind(1_i64)
                .bind(D::stored(at))
                .bind(actor)
                .bind(None::<&str>)
                .bind(Some(document.text.as_str()))
                .bind(None::<i64>)
                .execute(&mut *tx)
                .await?;
            // The seed is where the history starts, no change to announce.
            sqlx::query(MARK_SEED_ANNOUNCED)
                .bind(office_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn offices(&self) -> Result<Vec<StoredOffice>, Error> {
        let rows = sqlx::query(SELECT_OFFICES).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(StoredOffice {
                    office_id: row.try_get("office_id")?,
                    version: version(row.try_get("version")?),
                    document: row.try_get("document")?,
                    changed_at: D::instant(row.try_get("changed_at")?)?,
                    changed_by: row.try_get("changed_by")?,
                })
            })
            .collect()
    }

    async fn versions(&self) -> Result<Vec<(String, u64)>, Error> {
        let rows = sqlx::query(SELECT_VERSIONS).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("office_id")?, version(row.try_get("version")?))))
            .collect()
    }

    async fn write(&self, writes: &[Write], actor: &str, at: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.pool.begin_with(D::BEGIN_WRITE).await?;
        let mut next_position: i64 = sqlx::query(NEXT_POSITION).fetch_one(&mut *tx).await?.try_get(0)?;
        for write in writes {
            let office_id = write.office_id.as_str();
            let current = sqlx::query(SELECT_ONE).bind(office_id).fetch_optional(&mut *tx).await?;
            let (current_version, before): (u64, Option<String>) = match &current {
                Some(row) => (version(row.try_get("version")?), row.try_get("document")?),
                None => (0, None),
            };
            if current_version != write.expected_version {
                return Err(Error::ConfigurationConflict(write.office_id.clone()));
            }
            let new_version = stored_version(current_version + 1)?;
            let document = write.document.as_deref();
            if current.is_none() {
                let position = write.position.unwrap_or(next_position);
                next_position = next_position.max(position + 1);
                sqlx::query(INSERT)
                    .bind(office_id)
                    .bind(new_version)
                    .bind(document)
                    .bind(position)
                    .bind(D::stored(at))
                    .bind(actor)
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| conflict(error, office_id))?;
            } else {
                let updated = sqlx::query(UPDATE)
                    .bind(office_id)
                    .bind(stored_version(current_version)?)
                    .bind(new_version)
                    .bind(document)
                    .bind(write.position)
                    .bind(D::stored(at))
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                if D::rows_affected(&updated) != 1 {
                    return Err(Error::ConfigurationConflict(write.office_id.clone()));
                }
            }
            sqlx::query(INSERT_CHANGE)
                .bind(office_id)
                .bind(new_version)
                .bind(D::stored(at))
                .bind(actor)
                .bind(before.as_deref())
                .bind(document)
                .bind(write.reverts.map(stored_version).transpose()?)
                .execute(&mut *tx)
                .await
                .map_err(|error| conflict(error, office_id))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unannounced(&self, limit: u32) -> Result<Vec<Change>, Error> {
        let rows = sqlx::query(SELECT_UNANNOUNCED)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change::<D>).collect()
    }

    async fn announced(&self, office_id: &str, version: u64, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(MARK_ANNOUNCED)
            .bind(office_id)
            .bind(stored_version(version)?)
            .bind(D::stored(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn changes(&self, office_id: &str, limit: u32) -> Result<Vec<Change>, Error> {
        let rows = sqlx::query(SELECT_CHANGES)
            .bind(office_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change::<D>).collect()
    }

    async fn change(&self, office_id: &str, version: u64) -> Result<Option<Change>, Error> {
        let row = sqlx::query(SELECT_CHANGE)
            .bind(office_id)
            .bind(stored_version(version)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(change::<D>).transpose()
    }
}
