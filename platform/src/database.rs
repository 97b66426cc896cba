//! Database pools as both services open them: the backend is chosen by the
//! URL scheme, pools connect lazily (a service starts, NOT_SERVING, while its
//! database is still unreachable), SQLite runs in WAL mode with a busy
//! timeout and creates its file (and folder) on first start.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// A pool of one of the supported backends.
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
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
                .synchronous(SqliteSynchronous::Normal)
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
            Ok(Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(15))
                    .connect_lazy_with(options),
            ))
        }
        Some("postgres" | "postgresql") => {
            let options = PgConnectOptions::from_str(url)
                .map_err(invalid)?
                .application_name(application);
            Ok(Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_lazy_with(options),
            ))
        }
        _ => Err(OpenError::UnsupportedScheme(redact(url))),
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
