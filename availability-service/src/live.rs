//! The configuration in force, and how every replica follows a new one.
//!
//! A `World` is everything shaped by one configuration: the catalogue, the
//! projection of bookings (indexed by its counters) and the absences applied
//! to it. A change builds a new world beside the old one (its own change
//! streams, a snapshot of the bookings, the absences), waits until it is
//! caught up, then swaps it in: requests see either the old configuration or
//! the new one, never a mix, and no replica needs a restart.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use amtstermin_platform::client::Channel;
use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::absences::{AbsenceStore, Absences};
use crate::catalogue::Catalogue;
use crate::config;
use crate::configuration::{self, ConfigurationStore};
use crate::error::Error;
use crate::projection::{self, Projection};

/// How often a replica asks the database for the offices' versions.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a new world may take to catch up before it is used anyway (the
/// booking service is away: the old world would not answer either).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Who seeds the database from the file, as recorded in the history.
pub const SEED_ACTOR: &str = "Konfigurationsdatei";

pub struct World {
    pub catalogue: Arc<Catalogue>,
    pub projection: Arc<Projection>,
    pub absences: Arc<Absences>,
    /// The (office, version) rows it was built from.
    versions: Vec<(String, u64)>,
    followers: Vec<AbortHandle>,
}

impl Drop for World {
    fn drop(&mut self) {
        for follower in &self.followers {
            follower.abort();
        }
    }
}

impl World {
    /// Starts following the booking changes for `catalogue` and loads the
    /// absences into its projection.
    async fn build(
        catalogue: Catalogue,
        versions: Vec<(String, u64)>,
        absences: Arc<dyn AbsenceStore>,
        booking: &Channel,
    ) -> Self {
        let catalogue = Arc::new(catalogue);
        let projection = Arc::new(Projection::new(&catalogue));
        let followers = catalogue
            .offices()
            .iter()
            .map(|office| {
                tokio::spawn(projection::follow(projection.clone(), booking.clone(), office.clone())).abort_handle()
            })
            .collect();
        let absences = Arc::new(Absences::new(absences, catalogue.clone(), projection.clone()));
        let world = Self {
            catalogue,
            projection,
            absences,
            versions,
            followers,
        };
        world.absences.load().await;
        world
    }

    async fn caught_up(&self, timeout: Duration) -> bool {
        let mut changed = self.projection.subscribe();
        let live = async {
            while !self.projection.live() {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, live).await.is_ok()
    }
}

/// The world in force, swapped whole when the configuration changes.
pub struct Current {
    world: RwLock<Arc<World>>,
    /// Counts the swaps, for whoever holds on to a world's parts.
    swapped: watch::Sender<u64>,
    /// Wakes the follower at once (after a change made by this replica).
    reload: Notify,
}

impl Current {
    fn new(world: World) -> Self {
        Self {
            world: RwLock::new(Arc::new(world)),
            swapped: watch::Sender::new(0),
            reload: Notify::new(),
        }
    }

    pub fn get(&self) -> Arc<World> {
        // Nothing panics while holding the lock: a poisoned one is consistent.
        self.world
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes on every swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    /// Asks the follower to look for a new configuration now.
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    fn swap(&self, world: World) {
        *self.world.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(world);
        self.swapped.send_modify(|count| *count += 1);
    }
}

/// Migrates the database, seeds it from the file at `seed` when it holds no
/// configuration yet, and builds the world of the stored configuration.
/// Waits (retrying) while the database is not reachable; fails on a file or
/// a stored configuration that does not validate.
pub async fn start(
    store: Arc<dyn ConfigurationStore>,
    absences: Arc<dyn AbsenceStore>,
    booking: Channel,
    seed: &Path,
) -> Result<Arc<Current>, Error> {
    let mut delay = Duration::from_millis(200);
    let offices = loop {
        match prepare(store.as_ref(), seed).await {
            Ok(offices) => break offices,
            Err(error @ (Error::InvalidConfig(_) | Error::ReadConfig { .. })) => return Err(error),
            Err(error) => {
                tracing::warn!(error = %error, "availability database not ready, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    let (catalogue, versions) = loaded(&offices)?;
    tracing::info!(version = %catalogue.version(), offices = catalogue.offices().len(), "office configuration loaded");
    Ok(Arc::new(Current::new(
        World::build(catalogue, versions, absences, &booking).await,
    )))
}

async fn prepare(store: &dyn ConfigurationStore, seed: &Path) -> Result<Vec<configuration::StoredOffice>, Error> {
    store.migrate().await?;
    if store.versions().await?.is_empty() {
        let text = std::fs::read_to_string(seed).map_err(|source| Error::ReadConfig {
            path: seed.display().to_string(),
            source,
        })?;
        let documents = config::split(&text).map_err(|error| match error {
            Error::InvalidConfig(message) => Error::InvalidConfig(format!("{}: {message}", seed.display())),
            other => other,
        })?;
        if store.seed(&documents, SEED_ACTOR, Utc::now()).await? {
            tracing::info!(file = %seed.display(), "office configuration seeded from the file");
        }
    }
    let offices = store.offices().await?;
    // An operator who edited the file expects it to count: say how it does.
    if let Ok(text) = std::fs::read_to_string(seed)
        && text != config::join(&configuration::documents(&offices))
    {
        tracing::warn!(
            file = %seed.display(),
            "the configuration file differs from the configuration in force (the database's); \
             `amtstermin config import` makes the file count"
        );
    }
    Ok(offices)
}

/// The catalogue of the stored rows and their versions.
fn loaded(offices: &[configuration::StoredOffice]) -> Result<(Catalogue, Vec<(String, u64)>), Error> {
    let documents = configuration::documents(offices);
    let catalogue = config::parse(&config::join(&documents))
        .map_err(|error| Error::InvalidConfig(format!("the stored configuration: {error}")))?;
    let versions = offices
        .iter()
        .map(|office| (office.office_id.clone(), office.version))
        .collect();
    Ok((catalogue, versions))
}

/// Keeps `current` at the stored configuration for as long as the process
/// runs: polls the versions, and builds and swaps in a new world when they
/// changed. Also reloads the absences every few seconds.
pub async fn follow(
    current: Arc<Current>,
    store: Arc<dyn ConfigurationStore>,
    absences: Arc<dyn AbsenceStore>,
    booking: Channel,
) {
    let mut absences_due = tokio::time::Instant::now() + crate::absences::REFRESH_INTERVAL;
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = current.reload.notified() => {}
        }
        match store.versions().await {
            Ok(versions) if versions != current.get().versions => {
                if let Err(error) = change(&current, store.as_ref(), absences.clone(), &booking).await {
                    tracing::error!(error = %error, "cannot follow the new office configuration");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "cannot read the configuration versions"),
        }
        if tokio::time::Instant::now() >= absences_due {
            absences_due += crate::absences::REFRESH_INTERVAL;
            let world = current.get();
            if let Err(error) = world.absences.refresh().await {
                tracing::warn!(error = %error, "cannot reload absences");
            }
            amtstermin_platform::metrics::pool_connections("availability", "read", world.absences.store().pool_use());
        }
    }
}

async fn change(
    current: &Current,
    store: &dyn ConfigurationStore,
    absences: Arc<dyn AbsenceStore>,
    booking: &Channel,
) -> Result<(), Error> {
    let offices = store.offices().await?;
    let (catalogue, versions) = loaded(&offices)?;
    if versions == current.get().versions {
        return Ok(());
    }
    let version = catalogue.version().to_owned();
    let world = World::build(catalogue, versions, absences, booking).await;
    if !world.caught_up(CATCH_UP_TIMEOUT).await {
        tracing::warn!("the new configuration's booking projection is not caught up; using it anyway");
    }
    current.swap(world);
    // An absence recorded while the world was built reached only the old one.
    current.get().absences.refresh().await?;
    tracing::info!(%version, "office configuration changed");
    Ok(())
}
