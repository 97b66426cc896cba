//! Live free times: while a citizen's calendar is open, it learns of every
//! change of the slots it shows (taken by someone else, given back) by
//! Server-Sent Events, relayed from the availability service's WatchSlots
//! stream. An event carries only a fingerprint of the free times; the page
//! compares it with the one it was rendered with and, when they differ,
//! fetches itself again and swaps the calendar. Without JavaScript nothing
//! changes: the page stays as rendered.

use std::convert::Infallible;
use std::time::Duration;

use amtstermin_proto::availability::v1 as availability;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use sha2::{Digest, Sha256};
use tokio_stream::Stream;

use super::citizen::{CalendarQuery, parse_ids};
use super::{WebError, encode};
use crate::Services;
use crate::client::Client;
use crate::protection::Class;

/// How long one event stream stays open: the browser then connects again,
/// through the rate limits, so an abandoned tab does not hold a watch for
/// ever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The fingerprint of the free times a calendar shows: each day and the
/// starts on it (not how many counters are free at a start, which the page
/// does not show).
pub fn version(slots: &availability::ListSlotsResponse) -> String {
    let mut hash = Sha256::new();
    for day in &slots.days {
        hash.update(day.date.as_bytes());
        for slot in &day.slots {
            let start = slot.start.as_ref().map_or(0, |start| start.seconds);
            hash.update(start.to_be_bytes());
        }
        hash.update(b";");
    }
    amtstermin_platform::hex(&hash.finalize()[..8])
}

/// Where the calendar of `office_id` for `ids` hears of its changes.
pub fn events_url(office_id: &str, ids: &[String]) -> String {
    format!(
        "/amt/{}/kalender/ereignisse?anliegen={}",
        encode(office_id),
        encode(&ids.join(","))
    )
}

/// The calendar's changes: `event: slots` with the fingerprint, first the
/// current one, then one per change.
pub async fn calendar_events(
    State(services): State<Services>,
    client: Client,
    Path(office_id): Path<String>,
    Query(query): Query<CalendarQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    services.limit(Class::SlotReads, Some(&office_id), client).await?;
    let ids = parse_ids(&query.anliegen);
    let mut slots = services
        .availability
        .clone()
        .watch_slots(availability::ListSlotsRequest {
            office_id,
            concern_ids: ids,
            channel: availability::Channel::Online.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let lifetime = tokio::time::sleep(MAX_LIFETIME);
        tokio::pin!(lifetime);
        loop {
            let next = tokio::select! {
                () = &mut lifetime => return,
                () = sender.closed() => return,
                next = slots.message() => next,
            };
            // The service stopped or failed: the browser reconnects.
            let Ok(Some(next)) = next else { return };
            let event = Event::default().event("slots").data(version(&next));
            if sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
    });
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(receiver)).keep_alive(KeepAlive::default()))
}
