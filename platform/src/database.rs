//! Database pools as both services open them: the backend is chosen by the
//! URL scheme, pools connect lazily (a service starts, NOT_SERVING, while its
//! database is still unreachable), SQLite runs in WAL mode with a busy
//! timeout and creates its file (and folder) on first start.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// The pools of one of the supported backends.
pub enum Pool {
    Sqlite(Pools<sqlx::Sqlite>),
    Postgres(Pools<sqlx::Postgres>),
}

/// Where a store reads and where it writes. On SQLite, one file takes one
/// writer at a time: writes queue for the single connection of `write`, in
/// order (the pool is fair), instead of spinning in SQLite's busy handler;
/// reads go on in parallel (WAL). On PostgreSQL both are the same pool.
pub struct Pools<DB: sqlx::Database> {
    pub read: sqlx::Pool<DB>,
    pub write: sqlx::Pool<DB>,
}

// By hand: a derive would ask `DB: Clone`, which no backend type is.
impl<DB: sqlx::Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            write: self.write.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL {0:?}: use sqlite:… or postgres://…")]
    UnsupportedScheme(String),
    #[error("invalid database URL {url:?}")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the database folder {path}")]
    CreateFolder {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Opens a pool for `url` without connecting yet. `application` names the
/// connections in PostgreSQL's `pg_stat_activity`.
pub fn open(url: &str, max_connections: u32, application: &str) -> Result<Pool, OpenError> {
    let invalid = |source| OpenError::InvalidUrl {
        url: redact(url),
        source,
    };
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("sqlite") => {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(invalid)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // A booking confirmed to the citizen is on disk: FULL syncs
                // the WAL at every commit (NORMAL could lose the last
                // commits on power loss).
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|source| OpenError::CreateFolder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let pool = |connections: u32| {
                SqlitePoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(Duration::from_secs(15))
                    .connect_lazy_with(options.clone())
            };
            Ok(Pool::Sqlite(Pools {
                read: pool(max_connections),
                write: pool(1),
            }))
        }
        Some("postgres" | "postgresql") => {
            let options = PgConnectOptions::from_str(url)
                .map_err(invalid)?
                .application_name(application);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy_with(options);
            Ok(Pool::Postgres(Pools {
                read: pool.clone(),
                write: pool,
            }))
        }
        _ => Err(OpenError::UnsupportedScheme(redact(url))),
    }
}

/// What differs between the backends in the SQL a store writes once: how an
/// instant is stored and how transactions begin. Statements use `$n`
/// placeholders, which both backends understand.
pub trait Dialect: Send + Sync + 'static {
    type Db: sqlx::Database<Connection: sqlx::migrate::Migrate>;
    /// An instant as the backend stores it; converted only by `stored` and
    /// `instant`, so every comparison in SQL compares like with like.
    type Instant: for<'q> sqlx::Encode<'q, Self::Db>
        + for<'r> sqlx::Decode<'r, Self::Db>
        + sqlx::Type<Self::Db>
        + Send
        + Sync
        + 'static;
    /// Begins a transaction that will write: on SQLite it takes the write lock
    /// at once, so a check and the write that depends on it cannot interleave
    /// with another writer's (a deferred transaction would fail with "database
    /// is locked" when upgrading from read to write).
    const BEGIN_WRITE: &'static str;
    /// Begins a read-only transaction whose statements all see one state.
    const BEGIN_SNAPSHOT: &'static str;

    fn stored(at: DateTime<Utc>) -> Self::Instant;
    fn instant(stored: Self::Instant) -> Result<DateTime<Utc>, sqlx::Error>;
    /// How many rows a statement changed (sqlx has no generic accessor).
    fn rows_affected(result: &<Self::Db as sqlx::Database>::QueryResult) -> u64;
}

/// SQLite: instants as UTC seconds (INTEGER).
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = sqlx::Sqlite;
    type Instant = i64;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // In WAL mode a read transaction sees one consistent state.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    fn stored(at: DateTime<Utc>) -> i64 {
        at.timestamp()
    }

    fn instant(seconds: i64) -> Result<DateTime<Utc>, sqlx::Error> {
        DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| sqlx::Error::Decode(format!("stored instant {seconds} out of range").into()))
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// PostgreSQL: instants as TIMESTAMPTZ.
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = sqlx::Postgres;
    type Instant = DateTime<Utc>;
    // Read committed; the stores take row locks or rely on constraints.
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    fn instant(stored: DateTime<Utc>) -> Result<DateTime<Utc>, sqlx::Error> {
        Ok(stored)
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Whether `error` says the database is out of reach (down, restarting,
/// refusing connections, overloaded) rather than that a statement is wrong:
/// clients should hear "unavailable, try again", not "internal error".
pub fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08), insufficient resources
            // (53), operator intervention (57: shutdown, cannot connect now),
            // a database not accepting connections (55000). SQLite: busy (5)
            // and locked (6).
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "55000"
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}

/// A database URL fit for logs: the password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/amt"),
            "postgres://app:***@db:5432/amt"
        );
        assert_eq!(redact("postgres://app@db/amt"), "postgres://app@db/amt");
        assert_eq!(redact("sqlite:data/bookings.db"), "sqlite:data/bookings.db");
    }

    #[test]
    fn unknown_schemes_are_refused_clearly() {
        let error = open("mysql://x:pw@y/z", 1, "test").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("unsupported database URL \"mysql://x:***@y/z\": use sqlite:… or postgres://…")
        );
    }
}
