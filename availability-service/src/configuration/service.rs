//! The gRPC face of the runtime configuration (admin scope).

use std::sync::Arc;

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::configuration_admin_service_server::ConfigurationAdminService;
use amtstermin_proto::booking::v1::ListBookedIntervalsRequest;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use chrono::Utc;
use tonic::{Request, Response, Status};

use super::{Booked, ConfigurationStore, StoredOffice, Write, affected, check, documents};
use crate::config::{self, Document};
use crate::error::Error;
use crate::live::Current;

/// The largest document or file accepted (the demo file is 30 KiB).
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
const MAX_CHANGES_LISTED: u32 = 200;

pub struct ConfigurationAdmin {
    store: Arc<dyn ConfigurationStore>,
    current: Arc<Current>,
    booking: BookingServiceClient<Channel>,
}

impl ConfigurationAdmin {
    pub fn new(store: Arc<dyn ConfigurationStore>, current: Arc<Current>, booking: Channel) -> Self {
        Self {
            store,
            current,
            booking: BookingServiceClient::new(booking),
        }
    }

    /// The office's active bookings still to come, with their concerns.
    async fn coming_bookings(&self, office_id: &str) -> Result<Vec<Booked>, Error> {
        let response = self
            .booking
            .clone()
            .list_booked_intervals(ListBookedIntervalsRequest {
                office_id: office_id.to_owned(),
                from: Some(timestamp::to_proto(Utc::now())),
            })
            .await
            .map_err(Error::Booking)?;
        Ok(response
            .into_inner()
            .intervals
            .into_iter()
            .filter_map(|interval| {
                Some(Booked {
                    start: timestamp::from_proto(interval.start.as_ref()?)?,
                    end: timestamp::from_proto(interval.end.as_ref()?)?,
                    code: interval.code,
                    counter_id: interval.counter_id,
                    concern_ids: interval.concern_ids,
                })
            })
            .collect())
    }

    /// What `target` (`None`: removal) of an office does, checked; saved
    /// unless `dry_run`.
    async fn save(&self, change: Proposed<'_>) -> Result<pb::SaveOfficeConfigurationResponse, Error> {
        let offices = self.store.offices().await?;
        let stored = offices.iter().find(|office| office.office_id == change.office_id);
        let current_version = stored.map_or(0, |office| office.version);
        if current_version != change.expected_version {
            return Err(Error::ConfigurationConflict(change.office_id.to_owned()));
        }
        let existing = stored.and_then(|office| office.document.as_deref());
        let rest: Vec<Document> = documents(&offices)
            .into_iter()
            .filter(|document| document.office_id != change.office_id)
            .collect();
        let configured = match change.target {
            Some(text) => Some(check(
                &Document {
                    office_id: change.office_id.to_owned(),
                    text: text.to_owned(),
                },
                &rest,
            )?),
            None if rest.is_empty() => {
                return Err(Error::RefusedConfig(
                    "das letzte Amt kann nicht entfernt werden".to_owned(),
                ));
            }
            None => None,
        };
        let bookings = if existing.is_some() {
            self.coming_bookings(change.office_id).await?
        } else {
            Vec::new()
        };
        if configured.is_none() && !bookings.is_empty() {
            return Err(Error::OfficeHasBookings(change.office_id.to_owned()));
        }
        let affected_bookings = affected(configured.as_ref(), &bookings)
            .into_iter()
            .map(affected_to_proto)
            .collect();
        let unchanged = existing == change.target;
        let saved = !change.dry_run && !unchanged;
        let now = Utc::now();
        if saved {
            let write = Write {
                office_id: change.office_id.to_owned(),
                expected_version: change.expected_version,
                document: change.target.map(str::to_owned),
                position: None,
                reverts: change.reverts,
            };
            self.store.write(&[write], change.actor, now).await?;
            self.current.reload();
            tracing::info!(office = %change.office_id, version = current_version + 1, "office configuration saved");
        }
        let office = if saved {
            StoredOffice {
                office_id: change.office_id.to_owned(),
                version: current_version + 1,
                document: change.target.map(str::to_owned),
                changed_at: now,
                changed_by: change.actor.to_owned(),
            }
        } else {
            stored.cloned().unwrap_or_else(|| StoredOffice {
                office_id: change.office_id.to_owned(),
                version: 0,
                document: None,
                changed_at: now,
                changed_by: String::new(),
            })
        };
        Ok(pb::SaveOfficeConfigurationResponse {
            office: Some(office_to_proto(&office)),
            affected_bookings,
            saved,
        })
    }
}

struct Proposed<'a> {
    office_id: &'a str,
    target: Option<&'a str>,
    expected_version: u64,
    actor: &'a str,
    dry_run: bool,
    reverts: Option<u64>,
}

fn office_to_proto(office: &StoredOffice) -> pb::OfficeConfiguration {
    pb::OfficeConfiguration {
        office_id: office.office_id.clone(),
        version: office.version,
        document: office.document.clone().unwrap_or_default(),
        changed_at: Some(timestamp::to_proto(office.changed_at)),
        changed_by: office.changed_by.clone(),
    }
}

fn affected_to_proto(booked: &Booked) -> pb::AffectedBooking {
    pb::AffectedBooking {
        code: booked.code.clone(),
        start: Some(timestamp::to_proto(booked.start)),
        end: Some(timestamp::to_proto(booked.end)),
        counter_id: booked.counter_id.clone(),
    }
}

/// Who makes a change: a login or a name, as the history shows it.
fn actor(value: &str) -> Result<&str, Error> {
    let actor = value.trim();
    if actor.is_empty() || actor.chars().count() > 100 || actor.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(
            "actor must name who makes the change (1 to 100 characters)".to_owned(),
        ));
    }
    Ok(actor)
}

fn sized(field: &str, text: &str) -> Result<(), Error> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{field} is larger than {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl ConfigurationAdminService for ConfigurationAdmin {
    async fn get_configuration(
        &self,
        _request: Request<pb::GetConfigurationRequest>,
    ) -> Result<Response<pb::Configuration>, Status> {
        let offices = self.store.offices().await?;
        let file = config::join(&documents(&offices));
        Ok(Response::new(pb::Configuration {
            offices: offices
                .iter()
                .filter(|office| office.document.is_some())
                .map(office_to_proto)
                .collect(),
            catalogue_version: config::version(&file),
            file,
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn save_office_configuration(
        &self,
        request: Request<pb::SaveOfficeConfigurationRequest>,
    ) -> Result<Response<pb::SaveOfficeConfigurationResponse>, Status> {
        let request = request.into_inner();
        sized("document", &request.document)?;
        if request.document.trim().is_empty() {
            return Err(Error::RefusedConfig(
                "das Dokument ist leer; ein Amt entfernt man, indem man eine Datei ohne dieses Amt einliest".to_owned(),
            )
            .into());
        }
        let change = Proposed {
            office_id: &request.office_id,
            target: Some(&request.document),
            expected_version: request.expected_version,
            actor: actor(&request.actor)?,
            dry_run: request.dry_run,
            reverts: None,
        };
        Ok(Response::new(self.save(change).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn import_configuration(
        &self,
        request: Request<pb::ImportConfigurationRequest>,
    ) -> Result<Response<pb::ImportConfigurationResponse>, Status> {
        let request = request.into_inner();
        sized("file", &request.file)?;
        let actor = actor(&request.actor)?;
        let documents = config::split(&request.file).map_err(|error| match error {
            Error::InvalidConfig(message) => Error::RefusedConfig(message),
            other => other,
        })?;
        let catalogue = config::parse(&request.file).map_err(|error| Error::RefusedConfig(error.to_string()))?;
        let offices = self.store.offices().await?;
        let mut response = pb::ImportConfigurationResponse {
            catalogue_version: catalogue.version().to_owned(),
            ..Default::default()
        };
        let mut writes = Vec::new();
        for (position, document) in (1_i64..).zip(&documents) {
            let stored = offices.iter().find(|office| office.office_id == document.office_id);
            let existing = stored.and_then(|office| office.document.as_deref());
            if existing == Some(document.text.as_str()) {
                continue;
            }
            if existing.is_some() {
                response.changed.push(document.office_id.clone());
                let office = catalogue.office(&document.office_id)?;
                let bookings = self.coming_bookings(&document.office_id).await?;
                response
                    .affected_bookings
                    .extend(affected(Some(office), &bookings).into_iter().map(affected_to_proto));
            } else {
                response.added.push(document.office_id.clone());
            }
            writes.push(Write {
                office_id: document.office_id.clone(),
                expected_version: stored.map_or(0, |office| office.version),
                document: Some(document.text.clone()),
                position: Some(position),
                reverts: None,
            });
        }
        for office in offices.iter().filter(|office| office.document.is_some()) {
            if documents.iter().any(|document| document.office_id == office.office_id) {
                continue;
            }
            if !self.coming_bookings(&office.office_id).await?.is_empty() {
                return Err(Error::OfficeHasBookings(office.office_id.clone()).into());
            }
            response.removed.push(office.office_id.clone());
            writes.push(Write {
                office_id: office.office_id.clone(),
                expected_version: office.version,
                document: None,
                position: None,
                reverts: None,
            });
        }
        if !request.dry_run && !writes.is_empty() {
            self.store.write(&writes, actor, Utc::now()).await?;
            self.current.reload();
            tracing::info!(
                added = response.added.len(),
                changed = response.changed.len(),
                removed = response.removed.len(),
                "office configuration imported"
            );
        }
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_configuration_changes(
        &self,
        request: Request<pb::ListConfigurationChangesRequest>,
    ) -> Result<Response<pb::ListConfigurationChangesResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.limit {
            0 => MAX_CHANGES_LISTED,
            limit => limit.min(MAX_CHANGES_LISTED),
        };
        let changes = self.store.changes(&request.office_id, limit).await?;
        if changes.is_empty() {
            return Err(Error::UnknownOffice(request.office_id).into());
        }
        Ok(Response::new(pb::ListConfigurationChangesResponse {
            changes: changes
                .into_iter()
                .map(|change| pb::ConfigurationChange {
                    office_id: change.office_id,
                    version: change.version,
                    changed_at: Some(timestamp::to_proto(change.changed_at)),
                    actor: change.actor,
                    before: change.before.unwrap_or_default(),
                    after: change.after.unwrap_or_default(),
                    reverts: change.reverts.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn revert_configuration_change(
        &self,
        request: Request<pb::RevertConfigurationChangeRequest>,
    ) -> Result<Response<pb::SaveOfficeConfigurationResponse>, Status> {
        let request = request.into_inner();
        let reverted = self
            .store
            .change(&request.office_id, request.version)
            .await?
            .ok_or(Error::UnknownConfigurationChange(request.version))?;
        let change = Proposed {
            office_id: &request.office_id,
            target: reverted.before.as_deref(),
            expected_version: request.expected_version,
            actor: actor(&request.actor)?,
            dry_run: request.dry_run,
            reverts: Some(reverted.version),
        };
        Ok(Response::new(self.save(change).await?))
    }
}
