//! The gRPC schedule administration: counter absences recorded by staff.

use std::sync::Arc;

use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::schedule_admin_service_server::ScheduleAdminService;
use chrono::{DateTime, TimeDelta, Utc};
use tonic::{Request, Response, Status};

use crate::absences::Absence;
use crate::error::Error;
use crate::live::Current;

/// The longest absence one call may record.
const MAX_ABSENCE: TimeDelta = TimeDelta::days(366);

pub struct ScheduleAdmin {
    current: Arc<Current>,
}

impl ScheduleAdmin {
    pub fn new(current: Arc<Current>) -> Self {
        Self { current }
    }
}

fn instant(field: &str, value: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, Error> {
    value
        .and_then(timestamp::from_proto)
        .ok_or_else(|| Error::InvalidArgument(format!("{field} must be a valid instant")))
}

fn new_id() -> Result<String, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn to_proto(absence: &Absence) -> pb::Absence {
    pb::Absence {
        id: absence.id.clone(),
        office_id: absence.office_id.clone(),
        counter_id: absence.counter_id.clone(),
        start: Some(timestamp::to_proto(absence.start)),
        end: Some(timestamp::to_proto(absence.end)),
        reason: absence.reason.clone(),
    }
}

#[tonic::async_trait]
impl ScheduleAdminService for ScheduleAdmin {
    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn add_absence(
        &self,
        request: Request<pb::AddAbsenceRequest>,
    ) -> Result<Response<pb::AddAbsenceResponse>, Status> {
        let request = request.into_inner();
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        if office.counter_index(&request.counter_id).is_none() {
            return Err(Error::UnknownCounter(request.counter_id).into());
        }
        let start = instant("start", request.start.as_ref())?;
        let end = instant("end", request.end.as_ref())?;
        if end <= start || end - start > MAX_ABSENCE {
            return Err(Error::InvalidArgument("end must be after start, and at most a year later".to_owned()).into());
        }
        let reason = request.reason.trim();
        if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
            return Err(Error::InvalidArgument("reason must be at most 200 characters of text".to_owned()).into());
        }
        let absence = Absence {
            id: new_id()?,
            office_id: office.id.clone(),
            counter_id: request.counter_id,
            start,
            end,
            reason: reason.to_owned(),
            created_at: Utc::now(),
        };
        world.absences.store().add(&absence).await?;
        world.absences.added(absence.clone());
        let busy = world
            .absences
            .as_busy(&absence)
            .ok_or_else(|| Error::UnknownCounter(absence.counter_id.clone()))?;
        let affected = world.projection.bookings_overlapping(&office.id, busy)?;
        tracing::info!(counter = %absence.counter_id, id = %absence.id, affected = affected.len(), "absence recorded");
        Ok(Response::new(pb::AddAbsenceResponse {
            absence: Some(to_proto(&absence)),
            affected_bookings: affected
                .into_iter()
                .map(|(code, booked)| pb::AffectedBooking {
                    code,
                    start: Some(timestamp::to_proto(booked.start)),
                    end: Some(timestamp::to_proto(booked.end)),
                    counter_id: absence.counter_id.clone(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn remove_absence(
        &self,
        request: Request<pb::RemoveAbsenceRequest>,
    ) -> Result<Response<pb::Absence>, Status> {
        let request = request.into_inner();
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        let absence = world
            .absences
            .store()
            .remove(&office.id, &request.absence_id)
            .await?
            .ok_or(Error::UnknownAbsence(request.absence_id))?;
        world.absences.removed(&absence);
        tracing::info!(counter = %absence.counter_id, id = %absence.id, "absence lifted");
        Ok(Response::new(to_proto(&absence)))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_absences(
        &self,
        request: Request<pb::ListAbsencesRequest>,
    ) -> Result<Response<pb::ListAbsencesResponse>, Status> {
        let request = request.into_inner();
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        let from = request
            .from
            .as_ref()
            .and_then(timestamp::from_proto)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let to = request.to.as_ref().and_then(timestamp::from_proto);
        let absences = world.absences.store().list(from).await?;
        Ok(Response::new(pb::ListAbsencesResponse {
            absences: absences
                .iter()
                .filter(|absence| absence.office_id == office.id && to.is_none_or(|to| absence.start < to))
                .map(to_proto)
                .collect(),
        }))
    }
}
