//! The offices and catalogues, cached. The configuration changes only when
//! an administrator saves a new one, so a client asks for the list of
//! offices (with the configuration's version) at most once a second
//! and fetches an office's catalogue once per version, instead of two calls
//! on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use amtstermin_platform::ErrorCode;
use amtstermin_platform::client::Channel;
use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use tonic::Status;

use crate::OfficeCatalogue;

/// How long a cached configuration is trusted before its version is checked:
/// an administrator's change reaches every client within about a second.
pub const CHECK_AFTER: Duration = Duration::from_secs(1);

/// The offices and their catalogues, fetched from the availability service
/// and kept while its configuration version stays the same. Cheap to clone.
#[derive(Clone)]
pub struct Catalogues {
    client: AvailabilityServiceClient<Channel>,
    state: Arc<RwLock<State>>,
}

#[derive(Default)]
struct State {
    /// When the offices were last fetched; `None` before the first time.
    checked: Option<Instant>,
    version: String,
    offices: Arc<[pb::Office]>,
    catalogues: HashMap<String, Arc<OfficeCatalogue>>,
}

impl Catalogues {
    pub fn new(availability: Channel) -> Self {
        Self {
            client: AvailabilityServiceClient::new(availability),
            state: Arc::default(),
        }
    }

    /// All offices, in configuration order.
    pub async fn offices(&self) -> Result<Arc<[pb::Office]>, Status> {
        self.checked().await?;
        Ok(self.state()?.offices.clone())
    }

    /// One office with its catalogue; NOT_FOUND (`office_not_found`) for an
    /// office the configuration does not have.
    pub async fn office(&self, id: &str) -> Result<Arc<OfficeCatalogue>, Status> {
        self.checked().await?;
        let (office, cached) = {
            let state = self.state()?;
            let office = state.offices.iter().find(|office| office.id == id).cloned();
            (office, state.catalogues.get(id).cloned())
        };
        if let Some(cached) = cached {
            return Ok(cached);
        }
        let office = office.ok_or_else(|| unknown(id))?;
        let catalogue = self
            .client
            .clone()
            .get_catalogue(pb::GetCatalogueRequest {
                office_id: id.to_owned(),
            })
            .await?
            .into_inner();
        let version = catalogue.catalogue_version.clone();
        let entry = Arc::new(OfficeCatalogue::new(office, catalogue));
        let mut state = self.state.write().map_err(|_| poisoned())?;
        // A catalogue of another version than the offices waits for the next check.
        if state.version == version {
            state.catalogues.insert(id.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    fn state(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, Status> {
        self.state.read().map_err(|_| poisoned())
    }

    /// Makes sure the cached configuration is at most `CHECK_AFTER` old.
    async fn checked(&self) -> Result<(), Status> {
        let fresh = self
            .state()?
            .checked
            .is_some_and(|checked| checked.elapsed() < CHECK_AFTER);
        if !fresh {
            self.refresh().await?;
        }
        Ok(())
    }

    /// Fetches the offices; a new configuration version drops the catalogues.
    async fn refresh(&self) -> Result<(), Status> {
        let response = self
            .client
            .clone()
            .list_offices(pb::ListOfficesRequest {})
            .await?
            .into_inner();
        let mut state = self.state.write().map_err(|_| poisoned())?;
        if state.version != response.catalogue_version {
            if state.checked.is_some() {
                tracing::info!(version = %response.catalogue_version, "office configuration changed");
            }
            state.catalogues.clear();
            state.version = response.catalogue_version;
        }
        state.offices = response.offices.into();
        state.checked = Some(Instant::now());
        Ok(())
    }
}

fn poisoned() -> Status {
    ErrorCode::Internal.status("the catalogue cache is poisoned")
}

fn unknown(id: &str) -> Status {
    // Long ids are not echoed whole.
    let shown: String = id.chars().take(64).collect();
    ErrorCode::OfficeNotFound.status(format!("unknown office {shown:?}"))
}
