//! Counter absences (illness, leave, training): recorded by staff at runtime
//! through the admin API, persisted in this service's own database, and
//! applied to the projection as busy time, so no slot is offered on an
//! absent counter. Every replica reloads them every few seconds, so an
//! absence recorded on one reaches all.

mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

pub use self::store::SqlAbsences;
use crate::catalogue::Catalogue;
use crate::error::Error;
use crate::projection::Projection;
use crate::slots::Booked;

/// How often every replica reloads the absences.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Absence {
    pub id: String,
    pub office_id: String,
    pub counter_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

#[tonic::async_trait]
pub trait AbsenceStore: Send + Sync + 'static {
    async fn add(&self, absence: &Absence) -> Result<(), Error>;
    /// Removes and returns the absence; `None` if there is none with this id.
    async fn remove(&self, office_id: &str, id: &str) -> Result<Option<Absence>, Error>;
    /// Absences of all offices that end after `ends_after`, by start.
    async fn list(&self, ends_after: DateTime<Utc>) -> Result<Vec<Absence>, Error>;
    /// The connections of the pool: (size, idle).
    fn pool_use(&self) -> (u32, usize);
}

/// The absences applied to the projection, kept in step with the database.
pub struct Absences {
    store: Arc<dyn AbsenceStore>,
    catalogue: Arc<Catalogue>,
    projection: Arc<Projection>,
    applied: Mutex<HashMap<(String, String), Absence>>,
}

impl Absences {
    pub fn new(store: Arc<dyn AbsenceStore>, catalogue: Arc<Catalogue>, projection: Arc<Projection>) -> Self {
        Self {
            store,
            catalogue,
            projection,
            applied: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &dyn AbsenceStore {
        self.store.as_ref()
    }

    /// The absence as busy time of its counter; `None` for a counter the
    /// configuration no longer has.
    pub fn as_busy(&self, absence: &Absence) -> Option<Booked> {
        let office = self.catalogue.office(&absence.office_id).ok()?;
        Some(Booked {
            counter: office.counter_index(&absence.counter_id)?,
            start: absence.start,
            end: absence.end,
        })
    }

    fn apply(&self, absence: &Absence, add: bool) {
        if let Some(busy) = self.as_busy(absence) {
            let _ = self.projection.set_blocked(&absence.office_id, busy, add);
        }
    }

    /// Applies an absence this replica just stored.
    pub fn added(&self, absence: Absence) {
        let Ok(mut applied) = self.applied.lock() else { return };
        let key = (absence.office_id.clone(), absence.id.clone());
        if let std::collections::hash_map::Entry::Vacant(entry) = applied.entry(key) {
            self.apply(&absence, true);
            entry.insert(absence);
        }
    }

    /// Lifts an absence this replica just removed.
    pub fn removed(&self, absence: &Absence) {
        let Ok(mut applied) = self.applied.lock() else { return };
        if let Some(old) = applied.remove(&(absence.office_id.clone(), absence.id.clone())) {
            self.apply(&old, false);
        }
    }

    /// Reloads the current absences and applies the difference.
    pub async fn refresh(&self) -> Result<(), Error> {
        let current = self.store.list(Utc::now() - TimeDelta::days(1)).await?;
        let mut current: HashMap<(String, String), Absence> = current
            .into_iter()
            .map(|absence| ((absence.office_id.clone(), absence.id.clone()), absence))
            .collect();
        let Ok(mut applied) = self.applied.lock() else {
            return Err(Error::Internal("absence bookkeeping poisoned".to_owned()));
        };
        applied.retain(|key, absence| {
            let keep = current.remove(key).is_some();
            if !keep {
                self.apply(absence, false);
            }
            keep
        });
        for (key, absence) in current {
            self.apply(&absence, true);
            applied.insert(key, absence);
        }
        Ok(())
    }

    /// Loads the absences into the projection, retrying until the
    /// database answers, and marks them loaded.
    pub async fn load(&self) {
        let mut delay = Duration::from_millis(200);
        while let Err(error) = self.refresh().await {
            tracing::warn!(error = %error, "cannot load absences, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(REFRESH_INTERVAL);
        }
        self.projection.set_absences_loaded();
    }
}
