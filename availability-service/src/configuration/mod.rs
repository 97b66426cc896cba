//! The offices' configuration at runtime. Each office is one document (the
//! TOML of its `[[offices]]` table, as in the file) stored in this service's
//! database with a version and the history of its changes: who, when, before
//! and after. The configuration file seeds an empty database and stays the
//! import/export format; every replica follows the stored versions (see
//! `live`). Validation is the file's (`config::parse`), so a document is
//! accepted at runtime exactly when it would be in the file.

pub mod announce;
mod service;
mod store;

use std::sync::Arc;

use amtstermin_platform::database::{self, PostgresDialect, SqliteDialect};
use chrono::{DateTime, Utc};

pub use self::service::ConfigurationAdmin;
use self::store::SqlConfiguration;
use crate::absences::{AbsenceStore, SqlAbsences};
use crate::catalogue::Office;
use crate::config::{self, Document};
use crate::error::Error;

/// One office's row: its current document (`None` once removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOffice {
    pub office_id: String,
    pub version: u64,
    pub document: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
}

/// One saved change of an office's document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub office_id: String,
    /// The version it produced.
    pub version: u64,
    pub changed_at: DateTime<Utc>,
    pub actor: String,
    /// `None` when the change created the office.
    pub before: Option<String>,
    /// `None` when the change removed the office.
    pub after: Option<String>,
    pub reverts: Option<u64>,
}

/// A change to save: made on `expected_version` (0 for a new office).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub office_id: String,
    pub expected_version: u64,
    /// `None` removes the office.
    pub document: Option<String>,
    /// Where the office is listed; `None` keeps its place (new ones go last).
    pub position: Option<i64>,
    pub reverts: Option<u64>,
}

#[tonic::async_trait]
pub trait ConfigurationStore: Send + Sync + 'static {
    /// Runs the database's migrations (absences included).
    async fn migrate(&self) -> Result<(), Error>;
    /// Stores `documents` as version 1 each, unless a configuration is
    /// stored already (then `false`).
    async fn seed(&self, documents: &[Document], actor: &str, at: DateTime<Utc>) -> Result<bool, Error>;
    /// Every office's row, removed ones included, in order.
    async fn offices(&self) -> Result<Vec<StoredOffice>, Error>;
    /// (office, version) of every row, in order: what replicas poll.
    async fn versions(&self) -> Result<Vec<(String, u64)>, Error>;
    /// Saves the writes in one transaction, or none of them:
    /// `ConfigurationConflict` when an office is not at its expected version.
    async fn write(&self, writes: &[Write], actor: &str, at: DateTime<Utc>) -> Result<(), Error>;
    /// Changes not yet told to the booking service, oldest first.
    async fn unannounced(&self, limit: u32) -> Result<Vec<Change>, Error>;
    async fn announced(&self, office_id: &str, version: u64, at: DateTime<Utc>) -> Result<(), Error>;
    /// An office's changes, newest first.
    async fn changes(&self, office_id: &str, limit: u32) -> Result<Vec<Change>, Error>;
    async fn change(&self, office_id: &str, version: u64) -> Result<Option<Change>, Error>;
}

/// The availability database: absences and configuration.
pub struct Stores {
    pub absences: Arc<dyn AbsenceStore>,
    pub configuration: Arc<dyn ConfigurationStore>,
}

/// Opens the stores named by `url` without connecting yet.
pub fn open(url: &str, max_connections: u32) -> Result<Stores, Error> {
    Ok(
        match database::open(url, max_connections, "amtstermin-availability-service")? {
            database::Pool::Sqlite(pools) => Stores {
                absences: Arc::new(SqlAbsences::<SqliteDialect>::new(pools.clone())),
                configuration: Arc::new(SqlConfiguration::<SqliteDialect>::new(
                    pools,
                    sqlx::migrate!("./migrations/sqlite"),
                )),
            },
            database::Pool::Postgres(pools) => Stores {
                absences: Arc::new(SqlAbsences::<PostgresDialect>::new(pools.clone())),
                configuration: Arc::new(SqlConfiguration::<PostgresDialect>::new(
                    pools,
                    sqlx::migrate!("./migrations/postgres"),
                )),
            },
        },
    )
}

/// The stored documents of the offices that exist, in order.
pub fn documents(offices: &[StoredOffice]) -> Vec<Document> {
    offices
        .iter()
        .filter_map(|office| {
            Some(Document {
                office_id: office.office_id.clone(),
                text: office.document.clone()?,
            })
        })
        .collect()
}

/// A coming booking as the booking service lists it for a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booked {
    pub code: String,
    pub counter_id: String,
    pub concern_ids: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The bookings `office` (as it would be; `None`: removed) has no room for:
/// their counter is gone or no longer serves one of their concerns, or is not
/// open for the whole of their time. Absences are not looked at: they are
/// recorded (and their bookings listed) on their own.
pub fn affected<'a>(office: Option<&Office>, bookings: &'a [Booked]) -> Vec<&'a Booked> {
    let fits = |booked: &Booked| {
        let Some(office) = office else { return false };
        let Some(index) = office.counter_index(&booked.counter_id) else {
            return false;
        };
        let counter = &office.counters[index];
        booked
            .concern_ids
            .iter()
            .all(|concern| counter.concern_ids.contains(concern))
            && crate::slots::open_during(office, index, booked.start, booked.end)
    };
    let mut affected: Vec<&Booked> = bookings.iter().filter(|booked| !fits(booked)).collect();
    affected.sort_by(|a, b| (a.start, &a.code).cmp(&(b.start, &b.code)));
    affected
}

/// Checks one office's document on its own and among the others (`rest`, in
/// order, the office itself left out): the file it would make must be valid.
/// Returns the office as configured by it.
pub fn check(document: &Document, rest: &[Document]) -> Result<Office, Error> {
    let refused = |error: Error| match error {
        Error::InvalidConfig(message) => Error::RefusedConfig(message),
        other => other,
    };
    let alone = config::parse(&document.text).map_err(refused)?;
    let office = match alone.offices() {
        [office] if office.id == document.office_id => office.clone(),
        [office] => {
            return Err(Error::RefusedConfig(format!(
                "das Dokument beschreibt das Amt {:?}, nicht {:?}",
                office.id, document.office_id
            )));
        }
        _ => {
            return Err(Error::RefusedConfig(
                "bitte genau ein Amt beschreiben ([[offices]])".to_owned(),
            ));
        }
    };
    let mut all = rest.to_vec();
    all.push(document.clone());
    config::parse(&config::join(&all)).map_err(refused)?;
    Ok(office)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const OFFICE: &str = r#"
[[offices]]
id = "amt"
name = "Amt"
address = "Weg 1"
state = "NW"
hours = { mon = ["08:00-12:00"], tue = ["08:00-12:00"] }
categories = [{ id = "k", name = "K" }]
concerns = [
  { id = "a", name = "A", category = "k", duration_minutes = 15 },
  { id = "b", name = "B", category = "k", duration_minutes = 15 },
]
counters = [{ id = "p1", name = "Platz 1" }, { id = "p2", name = "Platz 2", concerns = ["a"] }]
"#;

    fn office(text: &str) -> Office {
        config::parse(text).expect("valid").offices()[0].clone()
    }

    fn booked(code: &str, counter: &str, concerns: &[&str], day: u32, hour: u32) -> Booked {
        // 2026-11-30 is a Monday; Berlin is UTC+1 then.
        let start = Utc
            .with_ymd_and_hms(2026, 11, day, hour - 1, 0, 0)
            .single()
            .expect("valid");
        Booked {
            code: code.to_owned(),
            counter_id: counter.to_owned(),
            concern_ids: concerns.iter().map(|c| c.to_string()).collect(),
            start,
            end: start + chrono::TimeDelta::minutes(15),
        }
    }

    fn codes(affected: Vec<&Booked>) -> Vec<&str> {
        affected.into_iter().map(|booked| booked.code.as_str()).collect()
    }

    #[test]
    fn a_change_lists_the_bookings_it_takes_the_room_of() {
        let bookings = [
            booked("MON-9", "p1", &["a"], 30, 9),
            booked("MON-11", "p1", &["b"], 30, 11),
            booked("P2-A", "p2", &["a"], 30, 10),
        ];
        assert!(affected(Some(&office(OFFICE)), &bookings).is_empty());

        let shorter = OFFICE.replace("mon = [\"08:00-12:00\"]", "mon = [\"08:00-10:00\"]");
        assert_eq!(codes(affected(Some(&office(&shorter)), &bookings)), ["P2-A", "MON-11"]);

        let closed = OFFICE.replace(
            "state = \"NW\"",
            "state = \"NW\"\nclosures = [{ date = \"2026-11-30\", reason = \"Umzug\" }]",
        );
        assert_eq!(
            codes(affected(Some(&office(&closed)), &bookings)),
            ["MON-9", "P2-A", "MON-11"]
        );

        let narrower = OFFICE.replace("concerns = [\"a\"]", "concerns = [\"b\"]");
        assert_eq!(codes(affected(Some(&office(&narrower)), &bookings)), ["P2-A"]);

        let one_counter = OFFICE.replace(", { id = \"p2\", name = \"Platz 2\", concerns = [\"a\"] }", "");
        assert_eq!(codes(affected(Some(&office(&one_counter)), &bookings)), ["P2-A"]);

        assert_eq!(
            codes(affected(None, &bookings)).len(),
            3,
            "a removed office has room for none"
        );
    }

    #[test]
    fn a_document_is_checked_alone_and_with_the_others() {
        let document = |text: &str| Document {
            office_id: "amt".to_owned(),
            text: text.to_owned(),
        };
        assert!(check(&document(OFFICE), &[]).is_ok());
        let broken = OFFICE.replace(
            "duration_minutes = 15 },\n  { id = \"b\"",
            "duration_minutes = 0 },\n  { id = \"b\"",
        );
        assert!(matches!(check(&document(&broken), &[]), Err(Error::RefusedConfig(_))));
        let other = Document {
            office_id: "other".to_owned(),
            text: OFFICE.to_owned(),
        };
        assert!(
            matches!(check(&other, &[]), Err(Error::RefusedConfig(message)) if message.contains("nicht \"other\"")),
            "a document names its own office"
        );
        assert!(
            matches!(
                check(&document(&format!("{OFFICE}{OFFICE}")), &[]),
                Err(Error::RefusedConfig(_))
            ),
            "one office per document"
        );
    }

    #[test]
    fn a_file_splits_into_documents_that_join_into_it_again() {
        let second = OFFICE.replace("id = \"amt\"", "id = \"zwei\"");
        let file = format!("# Kopf\n{OFFICE}\n# zweites Amt\n{second}");
        let documents = config::split(&file).expect("valid");
        assert_eq!(
            documents.iter().map(|d| d.office_id.as_str()).collect::<Vec<_>>(),
            ["amt", "zwei"]
        );
        assert!(documents[0].text.starts_with("# Kopf\n"));
        assert_eq!(config::join(&documents), file);
        assert!(
            config::split("offices = [{ id = \"x\" }]").is_err(),
            "only [[offices]] tables can be split"
        );
    }
}
