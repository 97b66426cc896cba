//! No double booking, ever: many citizens racing for one start time.

use std::collections::HashMap;

use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{BookingStatus, ListBookingsRequest};
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request};
use chrono::{Duration, Utc};
use serde_json::Value;

backend_tests!(fifty_concurrent_bookings_of_one_start_get_exactly_the_free_counters);

const RACERS: usize = 50;

async fn fifty_concurrent_bookings_of_one_start_get_exactly_the_free_counters(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // The slot with the most free counters makes the race the hardest.
    let slots = app.slots("bergkamen", "allgemeine-beratung").await;
    let slot = slots["days"]
        .as_array()
        .expect("days")
        .iter()
        .flat_map(|day| day["slots"].as_array().expect("slots").iter())
        .max_by_key(|slot| slot["free"].as_u64())
        .expect("a slot")
        .clone();
    let free = slot["free"].as_u64().expect("free") as usize;
    assert!(free >= 2, "the race needs a slot with several counters, got {free}");
    let start = slot["start"].as_str().expect("start").to_owned();

    let mut racers = tokio::task::JoinSet::new();
    for racer in 0..RACERS {
        let (http, url) = (app.http.clone(), app.url("/api/v1/bookings"));
        let mut body = booking_request("bergkamen", &["allgemeine-beratung"], &start);
        body["email"] = Value::String(format!("racer{racer}@example.de"));
        racers.spawn(async move {
            let response = http.post(url).json(&body).send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut created = Vec::new();
    let mut conflicts = 0;
    while let Some(result) = racers.join_next().await {
        match result.expect("racer") {
            (201, booking) => created.push(booking),
            (409, _) => conflicts += 1,
            (status, body) => panic!("unexpected {status}: {body}"),
        }
    }
    assert_eq!(created.len(), free, "exactly the free counters are booked");
    assert_eq!(conflicts, RACERS - free, "everyone else gets 409");

    // Ask the booking service itself: no counter holds two overlapping bookings.
    let channel = app.channel(&app.booking_url);
    let intervals: Vec<_> = BookingServiceClient::new(channel)
        .list_bookings(ListBookingsRequest {
            office_id: "bergkamen".to_owned(),
            from: Some(timestamp::to_proto(Utc::now() - Duration::days(1))),
            to: Some(timestamp::to_proto(Utc::now() + Duration::days(70))),
        })
        .await
        .expect("bookings")
        .into_inner()
        .bookings
        .into_iter()
        .filter(|booking| booking.status() != BookingStatus::Cancelled)
        .collect();
    assert_eq!(intervals.len(), free);
    let mut by_counter: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for interval in &intervals {
        let seconds = |t: &Option<prost_types::Timestamp>| t.as_ref().map_or(0, |t| t.seconds);
        by_counter
            .entry(interval.counter_id.clone())
            .or_default()
            .push((seconds(&interval.start), seconds(&interval.end)));
    }
    for (counter, mut spans) in by_counter {
        spans.sort_unstable();
        assert!(
            spans.windows(2).all(|pair| pair[0].1 <= pair[1].0),
            "counter {counter} holds overlapping bookings: {spans:?}"
        );
    }
}
