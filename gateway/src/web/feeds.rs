//! A calendar feed's address, `/kalender/{office}/{token}.ics`: the coming
//! bookings of an office or a counter as iCalendar, for staff calendars
//! (Outlook, Thunderbird) to subscribe to. The token is the only key, so
//! the answer is never cached by anyone else.

use amtstermin_catalogue::FeedEntry;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::booking::v1 as booking;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{WebError, messages};
use crate::Services;
use crate::client::Client;
use crate::protection::Class;

pub async fn calendar(
    State(services): State<Services>,
    client: Client,
    Path((office_id, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    services.limit(Class::Lookups, None, client).await?;
    let not_found = || WebError::NotFound(messages::text(ErrorCode::CalendarFeedNotFound));
    let token = file.strip_suffix(".ics").ok_or_else(not_found)?;
    let read = services
        .bookings
        .clone()
        .read_calendar_feed(booking::ReadCalendarFeedRequest {
            office_id: office_id.clone(),
            token: token.to_owned(),
        })
        .await
        .map_err(|status| match ErrorCode::of(&status).http_status() {
            404 => not_found(),
            _ => status.into(),
        })?
        .into_inner();
    let feed = read.feed.ok_or(WebError::Internal)?;
    let office = services.page_office(&office_id).await?;
    let entries: Vec<FeedEntry<'_>> = read
        .bookings
        .iter()
        .filter_map(|booking| {
            Some(FeedEntry {
                code: &booking.code,
                counter_id: &booking.counter_id,
                concern_ids: &booking.concern_ids,
                created: booking.created_at.as_ref().and_then(timestamp::from_proto)?,
                start: booking.start.as_ref().and_then(timestamp::from_proto)?,
                end: booking.end.as_ref().and_then(timestamp::from_proto)?,
                name: (!booking.name.is_empty()).then_some(booking.name.as_str()),
            })
        })
        .collect();
    let title = match feed.counter_id.as_str() {
        "" => office.office.name.clone(),
        counter => format!("{} – {}", office.office.name, office.counter_name(counter)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        office.feed(&entries, &title),
    )
        .into_response())
}
