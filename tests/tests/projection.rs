//! The availability service answers from a projection of the bookings fed
//! by the booking service's change stream: it must follow every change,
//! survive restarts of the booking service and say when it is behind.

use std::time::Duration;

use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request, free_at};
use booking_service::bookings::{Channel, NewBooking};
use booking_service::store::{self, Reservation};
use chrono::{DateTime, Utc};
use tonic_health::pb::health_check_response::ServingStatus;

backend_tests!(
    the_projection_resumes_after_a_booking_service_restart,
    a_client_behind_the_trimmed_change_log_gets_a_snapshot
);

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 5 s: {what}");
}

async fn the_projection_resumes_after_a_booking_service_restart(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let slots = app.slots("bergkamen", "personalausweis").await;
    let slot = slots["days"][0]["slots"][0].clone();
    let start = slot["start"].as_str().expect("start").to_owned();
    let free = slot["free"].as_u64().expect("free");

    // A booking through the API shows at once (the gateway waits for it).
    let (status, _) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &start))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        free_at(&app.slots("bergkamen", "personalausweis").await, &start),
        free - 1
    );

    app.stop_booking_service().await;
    let availability = app.availability_url.clone();
    eventually("the availability service reports NOT_SERVING", || async {
        app.health(&availability).await == Some(ServingStatus::NotServing)
    })
    .await;

    // Meanwhile another booking-service replica books (here: straight into the database).
    let store = store::open(&app.database.url, 1).expect("store");
    let start_instant: DateTime<Utc> = DateTime::parse_from_rfc3339(&start).expect("start").with_timezone(&Utc);
    let booking = NewBooking {
        office_id: "bergkamen".to_owned(),
        code: "ZZZZ-2222".to_owned(),
        concern_ids: vec!["personalausweis".to_owned()],
        start: start_instant,
        end: start_instant + chrono::TimeDelta::minutes(20),
        name: "Replica".to_owned(),
        email: "replica@example.de".to_owned(),
        phone: String::new(),
        token_hash: vec![1; 32],
        idempotency: None,
        channel: Channel::Online,
        actor: "citizen".to_owned(),
        notifications: Vec::new(),
        created_at: Utc::now(),
        quota: None,
        language: "de".to_owned(),
        confirm_by: None,
    };
    let counters: Vec<String> = (1..=4).map(|n| format!("platz-{n}")).collect();
    let reserved = store.reserve(&booking, &counters, None).await.expect("reserve");
    assert!(matches!(reserved, Reservation::Created { .. }), "{reserved:?}");

    app.restart_booking_service().await;
    eventually("the availability service is SERVING again", || async {
        app.health(&availability).await == Some(ServingStatus::Serving)
    })
    .await;
    eventually("the booking made while it was away is in the slots", || async {
        free_at(&app.slots("bergkamen", "personalausweis").await, &start) == free - 2
    })
    .await;
}

async fn a_client_behind_the_trimmed_change_log_gets_a_snapshot(backend: Backend) {
    use amtstermin_proto::booking::v1::booking_change::Change;
    use amtstermin_proto::booking::v1::{WatchBookingsRequest, booking_service_client::BookingServiceClient};
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slots = app.slots("bergkamen", "allgemeine-beratung").await;
    for (index, slot) in slots["days"][1]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .take(3)
        .enumerate()
    {
        let mut request = booking_request(
            "bergkamen",
            &["allgemeine-beratung"],
            slot["start"].as_str().expect("start"),
        );
        request["email"] = serde_json::json!(format!("person{index}@example.de"));
        assert_eq!(app.book(&request).await.0, 201);
    }
    let store = store::open(&app.database.url, 1).expect("store");
    store
        .prune_changes(Utc::now() + chrono::TimeDelta::days(1))
        .await
        .expect("prune");
    // The latest change stays, and on PostgreSQL becomes readable once the
    // older transactions (of the tests alongside) have ended.
    let pruned = store.pruned_through("bergkamen").await.expect("horizon");
    let mut latest = None;
    for _ in 0..2000 {
        latest = store.changes("bergkamen", pruned, 10).await.expect("changes").pop();
        if latest.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let latest = latest.expect("the latest change stays").sequence;

    let first_message = |after: u64| {
        let channel = app.service_channel(&app.booking_url);
        async move {
            let mut stream = BookingServiceClient::new(channel)
                .watch_bookings(WatchBookingsRequest {
                    office_id: "bergkamen".to_owned(),
                    after_sequence: after,
                })
                .await
                .expect("watch")
                .into_inner();
            stream
                .message()
                .await
                .expect("message")
                .and_then(|change| change.change)
        }
    };
    match first_message(pruned - 1).await {
        Some(Change::Snapshot(snapshot)) => assert_eq!(snapshot.intervals.len(), 3, "all three bookings"),
        other => panic!("a client behind the log needs a snapshot, got {other:?}"),
    }
    assert!(
        matches!(first_message(latest).await, Some(Change::CaughtUp(_))),
        "a current client just goes on"
    );
}
