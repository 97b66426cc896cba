//! The gRPC face of the availability service.

use amtstermin_platform::auth::{Scope, Scopes};
use std::sync::Arc;

use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::availability_service_server::AvailabilityService;
use chrono::{NaiveDate, TimeDelta, Utc};
use tonic::{Request, Response, Status};

use crate::catalogue::{Appointment, Office};
use crate::error::Error;
use crate::live::{Current, World};
use crate::slots::{self, Channel, DaySlots, Window};

/// How long AwaitBookingSequence waits at most.
const AWAIT_SEQUENCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a slot watcher lets changes settle before it computes again.
const WATCH_SETTLE: std::time::Duration = std::time::Duration::from_millis(250);
/// How often a slot watcher computes again without a change (time passes:
/// starts slip into the past, held time is released).
const WATCH_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct Availability {
    current: Arc<Current>,
}

impl Availability {
    pub fn new(current: Arc<Current>) -> Self {
        Self { current }
    }

    /// The open slots `request` asks for (its scope checked by the caller).
    fn slots(&self, request: &pb::ListSlotsRequest) -> Result<pb::ListSlotsResponse, Error> {
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        let appointment = office.appointment(&request.concern_ids)?;
        let from = parse_day("from", &request.from_date)?;
        let to = parse_day("to", &request.to_date)?;
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(Error::InvalidArgument(format!(
                "from ({from}) must not be after to ({to})"
            )));
        }
        let now = Utc::now();
        let window = Window::of(office, now, channel(request.channel));
        let first = from.map_or(window.first_day, |day| day.max(window.first_day));
        let last = to.map_or(window.last_day, |day| day.min(window.last_day));
        let days = if first <= last {
            open_slots(&world, office, appointment, &window, (first, last), None)?
        } else {
            Vec::new()
        };
        let unavailable = if request.explain_unavailable_days {
            // From today on, the days before the window included.
            let today = now.with_timezone(&office.timezone).date_naive();
            let explained = (from.map_or(today, |day| day.max(today)), last);
            unavailable_days(
                &query(office, appointment, &window, explained),
                window.first_day,
                explained,
                &days,
            )
        } else {
            Vec::new()
        };
        let slot_count: usize = days.iter().map(|day| day.slots.len()).sum();
        tracing::debug!(days = days.len(), slots = slot_count, "computed slots");
        Ok(pb::ListSlotsResponse {
            office_id: office.id.clone(),
            timezone: office.timezone.name().to_owned(),
            duration_minutes: appointment.duration_minutes,
            days: days
                .into_iter()
                .map(|day| pb::Day {
                    date: day.date.format("%Y-%m-%d").to_string(),
                    slots: day
                        .slots
                        .iter()
                        .map(|slot| pb::Slot {
                            start: Some(timestamp::to_proto(slot.start)),
                            end: Some(timestamp::to_proto(slot.end)),
                            free: slot.free(),
                        })
                        .collect(),
                })
                .collect(),
            unavailable_days: unavailable,
        })
    }
}

/// Open slots of `appointment` on the local days `first..=last`; the
/// booking `moving`, if given, does not block its own new time.
fn open_slots(
    world: &World,
    office: &Office,
    appointment: Appointment,
    window: &Window,
    (first, last): (NaiveDate, NaiveDate),
    moving: Option<&str>,
) -> Result<Vec<DaySlots>, Error> {
    let query = query(office, appointment, window, (first, last));
    let compute = |busy: &slots::Busy| slots::open_slots(&query, busy);
    world.projection.read(&office.id, window.online, moving, compute)
}

fn query<'a>(
    office: &'a Office,
    appointment: Appointment,
    window: &Window,
    (first, last): (NaiveDate, NaiveDate),
) -> slots::Query<'a> {
    slots::Query {
        office,
        counters: appointment.counters & window.counters,
        duration: TimeDelta::minutes(i64::from(appointment.duration_minutes)),
        first_day: first,
        last_day: last,
        earliest_start: window.earliest_start,
    }
}

/// The days of `first..=last` (from today on) that `days` does not list,
/// each with why.
fn unavailable_days(
    query: &slots::Query<'_>,
    online_from: NaiveDate,
    (first, last): (NaiveDate, NaiveDate),
    days: &[DaySlots],
) -> Vec<pb::UnavailableDay> {
    // `days` is in date order: one walk along both.
    let mut listed = days.iter().map(|day| day.date).peekable();
    first
        .iter_days()
        .take_while(|day| *day <= last)
        .filter(|day| {
            while listed.next_if(|date| date < day).is_some() {}
            listed.next_if_eq(day).is_none()
        })
        .map(|day| {
            let (reason, name) = match slots::no_time(query, online_from, day) {
                slots::NoTime::NotOnline => (pb::DayReason::NotOnline, ""),
                slots::NoTime::Holiday(name) => (pb::DayReason::Holiday, name),
                slots::NoTime::Closed => (pb::DayReason::Closed, ""),
                slots::NoTime::FullyBooked => (pb::DayReason::FullyBooked, ""),
            };
            pb::UnavailableDay {
                date: day.format("%Y-%m-%d").to_string(),
                reason: reason.into(),
                name: name.to_owned(),
            }
        })
        .collect()
}

fn channel(value: i32) -> Channel {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Foyer | pb::Channel::Phone) => Channel::Staff,
        _ => Channel::Online,
    }
}

fn parse_day(field: &str, value: &str) -> Result<Option<NaiveDate>, Error> {
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| Error::InvalidArgument(format!("{field} must be a date written YYYY-MM-DD, got {value:?}")))
}

fn office_to_proto(office: &Office) -> pb::Office {
    pb::Office {
        id: office.id.clone(),
        name: office.name.clone(),
        address: office.address.clone(),
        timezone: office.timezone.name().to_owned(),
        booking_window_days: office.booking_window_days,
        min_lead_minutes: office.min_lead_minutes,
        slot_minutes: office.slot_minutes,
        state: office.state.to_string(),
        release_time: format!("{:02}:{:02}", office.release_minute / 60, office.release_minute % 60),
        staff_only_days: office.staff_only_days,
        max_active_bookings_per_email: office.max_active_bookings_per_email,
        max_online_bookings_per_address_per_day: office.max_online_bookings_per_address_per_day,
        challenge: office.challenge.clone(),
        confirm_by_email_minutes: office.confirm_by_email_minutes,
        limits: Some(pb::RateLimits {
            slot_reads_per_minute: office.limits.slot_reads_per_minute,
            bookings_per_hour: office.limits.bookings_per_hour,
            lookups_per_minute: office.limits.lookups_per_minute,
        }),
        contact: Some(pb::Contact {
            phone: office.contact.phone.clone(),
            email: office.contact.email.clone(),
            website: office.contact.website.clone(),
            opening_hours: office.contact.opening_hours.clone(),
        }),
        legal: Some(pb::Legal {
            operator: office.legal.operator.clone(),
            representative: office.legal.representative.clone(),
            address: office.legal.address.clone(),
            data_protection_officer: office.legal.data_protection_officer.clone(),
            supervisory_authority: office.legal.supervisory_authority.clone(),
            accessibility_arbitration: office.legal.accessibility_arbitration.clone(),
            accessibility_reviewed: office
                .legal
                .accessibility_reviewed
                .map(|date| date.to_string())
                .unwrap_or_default(),
            accessibility_contact: office.legal.accessibility_contact.clone(),
            website: office.legal.website.clone(),
        }),
        waiting_prefix_booked: office.waiting_prefixes.0.clone(),
        waiting_prefix_walk_in: office.waiting_prefixes.1.clone(),
        kiosk_walk_ins: office.kiosk_walk_ins,
        mail_when_two_ahead: office.mail_when_two_ahead,
        waitlist: office.waitlist,
        max_waitlist_entries_per_email: office.max_waitlist_entries_per_email,
        waitlist_hold_minutes: office.waitlist_hold_minutes,
        waitlist_quiet_hours: office.waitlist_quiet_hours.clone(),
        staff_only_counters: office
            .counters
            .iter()
            .enumerate()
            .filter(|(index, _)| office.staff_only_counters & (1 << index) != 0)
            .map(|(_, counter)| counter.id.clone())
            .collect(),
    }
}

#[tonic::async_trait]
impl AvailabilityService for Availability {
    #[tracing::instrument(skip_all)]
    async fn list_offices(
        &self,
        _request: Request<pb::ListOfficesRequest>,
    ) -> Result<Response<pb::ListOfficesResponse>, Status> {
        let world = self.current.get();
        Ok(Response::new(pb::ListOfficesResponse {
            offices: world.catalogue.offices().iter().map(office_to_proto).collect(),
            catalogue_version: world.catalogue.version().to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn get_catalogue(
        &self,
        request: Request<pb::GetCatalogueRequest>,
    ) -> Result<Response<pb::GetCatalogueResponse>, Status> {
        let world = self.current.get();
        let office = world.catalogue.office(&request.get_ref().office_id)?;
        Ok(Response::new(pb::GetCatalogueResponse {
            categories: office
                .categories
                .iter()
                .map(|category| pb::Category {
                    id: category.id.clone(),
                    name: category.name.clone(),
                    featured: category.featured,
                    concern_ids: category.concern_ids.clone(),
                    translated_names: category.translated_names.clone().into_iter().collect(),
                })
                .collect(),
            concerns: office
                .concerns
                .iter()
                .map(|concern| pb::Concern {
                    id: concern.id.clone(),
                    name: concern.name.clone(),
                    category_id: concern.category_id.clone(),
                    duration_minutes: concern.duration_minutes,
                    required_documents: concern.required_documents.clone(),
                    fee: concern.fee.clone(),
                    leika_key: concern.leika_key.clone(),
                    max_persons: concern.max_persons,
                    featured: concern.featured,
                    translations: concern
                        .translations
                        .iter()
                        .map(|(language, text)| {
                            (
                                language.clone(),
                                pb::ConcernText {
                                    name: text.name.clone(),
                                    required_documents: text.required_documents.clone(),
                                    fee: text.fee.clone(),
                                },
                            )
                        })
                        .collect(),
                })
                .collect(),
            counters: office
                .counters
                .iter()
                .map(|counter| pb::Counter {
                    id: counter.id.clone(),
                    name: counter.name.clone(),
                    concern_ids: counter.concern_ids.clone(),
                })
                .collect(),
            catalogue_version: world.catalogue.version().to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn list_slots(
        &self,
        request: Request<pb::ListSlotsRequest>,
    ) -> Result<Response<pb::ListSlotsResponse>, Status> {
        // Staff-only time is for staff, and for the booking service giving it out.
        if channel(request.get_ref().channel) != Channel::Online {
            let scopes = Scopes::of_request(&request);
            if !scopes.has(Scope::Service) {
                scopes.require(Scope::Staff)?;
            }
        }
        Ok(Response::new(self.slots(request.get_ref())?))
    }

    type WatchSlotsStream = tokio_stream::wrappers::ReceiverStream<Result<pb::ListSlotsResponse, Status>>;

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn watch_slots(
        &self,
        request: Request<pb::ListSlotsRequest>,
    ) -> Result<Response<Self::WatchSlotsStream>, Status> {
        if channel(request.get_ref().channel) != Channel::Online {
            Scopes::of_request(&request).require(Scope::Staff)?;
        }
        let request = request.into_inner();
        let first = self.slots(&request)?;
        let mut swapped = self.current.subscribe();
        let mut changes = self.current.get().projection.changes(&request.office_id)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let service = self.clone();
        tokio::spawn(async move {
            let mut last = first;
            if sender.send(Ok(last.clone())).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    // A new configuration: its projection tells of the changes now.
                    swap = swapped.changed() => {
                        if swap.is_err() {
                            return;
                        }
                        match service.current.get().projection.changes(&request.office_id) {
                            Ok(next) => changes = next,
                            Err(error) => {
                                let _ = sender.send(Err(error.into())).await;
                                return;
                            }
                        }
                    }
                    () = tokio::time::sleep(WATCH_REFRESH) => {}
                    () = sender.closed() => return,
                }
                // A burst of changes (a busy morning) is computed once.
                tokio::time::sleep(WATCH_SETTLE).await;
                changes.mark_unchanged();
                match service.slots(&request) {
                    Ok(next) if next == last => {}
                    Ok(next) => {
                        if sender.send(Ok(next.clone())).await.is_err() {
                            return;
                        }
                        last = next;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error.into())).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn check_start(
        &self,
        request: Request<pb::CheckStartRequest>,
    ) -> Result<Response<pb::CheckStartResponse>, Status> {
        let request = request.into_inner();
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        let appointment = office.appointment(&request.concern_ids)?;
        let start = request
            .start
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| Error::InvalidArgument("start must be a valid instant".to_owned()))?;
        let window = Window::of(office, Utc::now(), channel(request.channel));
        let day = start.with_timezone(&office.timezone).date_naive();
        if !window.contains(day) {
            return Err(Error::SlotUnavailable.into());
        }
        let moving = Some(request.exclude_booking_code.as_str()).filter(|code| !code.is_empty());
        let days = open_slots(&world, office, appointment, &window, (day, day), moving)?;
        let slot = days
            .iter()
            .flat_map(|day| &day.slots)
            .find(|slot| slot.start == start)
            .ok_or(Error::SlotUnavailable)?;
        let counter_ids = office
            .counters
            .iter()
            .enumerate()
            .filter(|(index, _)| slot.counters & (1 << index) != 0)
            .map(|(_, counter)| counter.id.clone())
            .collect();
        Ok(Response::new(pb::CheckStartResponse {
            end: Some(timestamp::to_proto(slot.end)),
            counter_ids,
            duration_minutes: appointment.duration_minutes,
            max_active_bookings_per_email: office.max_active_bookings_per_email,
            max_online_bookings_per_address_per_day: office.max_online_bookings_per_address_per_day,
            confirm_by_email_minutes: office.confirm_by_email_minutes,
        }))
    }

    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    #[tracing::instrument(skip_all, fields(office = %request.get_ref().office_id))]
    async fn get_offered_time(
        &self,
        request: Request<pb::GetOfferedTimeRequest>,
    ) -> Result<Response<pb::GetOfferedTimeResponse>, Status> {
        let request = request.into_inner();
        let world = self.current.get();
        let office = world.catalogue.office(&request.office_id)?;
        let (Some(from), Some(to)) = (parse_day("from", &request.from)?, parse_day("to", &request.to)?) else {
            return Err(Error::InvalidArgument("from and to are required".to_owned()).into());
        };
        if from > to || (to - from).num_days() >= 366 {
            return Err(
                Error::InvalidArgument("from must not be after to, and at most 366 days before".to_owned()).into(),
            );
        }
        let since = slots::local_instant(office.timezone, from, 0).unwrap_or_default();
        let absences = world
            .absences
            .store()
            .list(chrono::DateTime::from_timestamp(since, 0).unwrap_or_default())
            .await?;
        let mut offered = Vec::new();
        for (index, counter) in office.counters.iter().enumerate() {
            let absent: Vec<(i64, i64)> = absences
                .iter()
                .filter(|absence| absence.office_id == office.id && absence.counter_id == counter.id)
                .map(|absence| (absence.start.timestamp(), absence.end.timestamp()))
                .collect();
            for day in from.iter_days().take_while(|day| *day <= to) {
                let minutes = slots::offered_minutes(office, index, day, &absent);
                if minutes > 0 {
                    offered.push(pb::OfferedTime {
                        date: day.format("%Y-%m-%d").to_string(),
                        counter_id: counter.id.clone(),
                        minutes,
                    });
                }
            }
        }
        Ok(Response::new(pb::GetOfferedTimeResponse { offered }))
    }

    async fn await_booking_sequence(
        &self,
        request: Request<pb::AwaitBookingSequenceRequest>,
    ) -> Result<Response<pb::AwaitBookingSequenceResponse>, Status> {
        let request = request.into_inner();
        let reached = self
            .current
            .get()
            .projection
            .wait_for(&request.office_id, request.sequence, AWAIT_SEQUENCE_TIMEOUT)
            .await?;
        Ok(Response::new(pb::AwaitBookingSequenceResponse { reached }))
    }
}
