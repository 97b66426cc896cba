//! Staff (foyer desk, phone) give out capacity the public website cannot:
//! staff-only counters and short-notice times, through the same atomic path.

use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::{Channel, ListSlotsRequest};
use amtstermin_proto::booking::v1::CreateBookingRequest;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request};
use serde_json::{Value, json};

backend_tests!(
    staff_only_capacity_is_bookable_by_the_foyer_but_not_online,
    a_concern_caps_the_persons_per_appointment
);

async fn slot_starts(app: &TestApp, channel: Channel) -> Vec<(prost_types::Timestamp, u32)> {
    let channel_to_service = app.channel(&app.availability_url);
    let response = AvailabilityServiceClient::new(channel_to_service)
        .list_slots(ListSlotsRequest {
            office_id: "bergkamen".to_owned(),
            concern_ids: vec!["allgemeine-beratung".to_owned()],
            channel: channel.into(),
            ..Default::default()
        })
        .await
        .expect("slots")
        .into_inner();
    response
        .days
        .into_iter()
        .flat_map(|day| day.slots)
        .filter_map(|slot| Some((slot.start?, slot.free)))
        .collect()
}

async fn staff_only_capacity_is_bookable_by_the_foyer_but_not_online(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let online = slot_starts(&app, Channel::Online).await;
    let foyer = slot_starts(&app, Channel::Foyer).await;
    assert!(
        foyer.len() > online.len(),
        "the foyer sees more: {} vs {}",
        foyer.len(),
        online.len()
    );
    // On Saturday mornings only the quick counter opens, and it is staff-only
    // (the first days of the window are staff-only on every counter).
    let saturday = |start: &prost_types::Timestamp| {
        use chrono::Datelike;
        chrono::DateTime::from_timestamp(start.seconds, 0)
            .is_some_and(|t| t.with_timezone(&chrono_tz::Europe::Berlin).weekday() == chrono::Weekday::Sat)
    };
    let (start, _) = *foyer
        .iter()
        .filter(|(start, _)| saturday(start))
        .find(|(start, _)| !online.iter().any(|(other, _)| other == start))
        .expect("a staff-only slot");
    let start_text = chrono::DateTime::from_timestamp(start.seconds, 0)
        .expect("valid")
        .to_rfc3339();

    let (status, error) = app
        .book(&booking_request("bergkamen", &["allgemeine-beratung"], &start_text))
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("slot_unavailable")),
        "{error}"
    );

    let channel = app.channel(&app.booking_url);
    let created = BookingServiceClient::new(channel)
        .create_booking(CreateBookingRequest {
            office_id: "bergkamen".to_owned(),
            concern_ids: vec!["allgemeine-beratung".to_owned()],
            start: Some(start),
            name: "Walk-in".to_owned(),
            email: "walk-in@example.de".to_owned(),
            channel: Channel::Foyer.into(),
            ..Default::default()
        })
        .await
        .expect("the foyer may book it")
        .into_inner();
    let booking = created.booking.expect("booking");
    assert_eq!(booking.counter_id, "platz-4");
    assert_eq!(booking.channel(), Channel::Foyer);

    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{}", booking.code)))
        .bearer_auth(&created.token)
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["channel"], "foyer");
}

async fn a_concern_caps_the_persons_per_appointment(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (status, _) = app
        .get_json(
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis,personalausweis,personalausweis,personalausweis",
        )
        .await;
    assert_eq!(status, 200, "four persons are fine");
    let (status, error) = app
        .get_json("/api/v1/offices/bergkamen/slots?concerns=personalausweis,personalausweis,personalausweis,personalausweis,personalausweis")
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("too_many_persons")),
        "{error}"
    );
    let (_, catalogue) = app.get_json("/api/v1/offices/bergkamen/concerns").await;
    let concern = catalogue["concerns"]
        .as_array()
        .expect("concerns")
        .iter()
        .find(|c| c["id"] == "personalausweis")
        .cloned();
    assert_eq!(concern.map(|c| c["max_persons"].clone()), Some(json!(4)));
}

#[tokio::test]
async fn a_slot_a_citizen_cancels_returns_online_only_after_the_office_s_delay() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    // The Standesamt holds cancelled slots back for ten minutes.
    let slots = app.slots("standesamt-bergkamen", "geburtsurkunde").await;
    let start = slots["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("start")
        .to_owned();
    let free_before = amtstermin_tests::free_at(&slots, &start);
    let (status, booking) = app
        .book(&amtstermin_tests::booking_request(
            "standesamt-bergkamen",
            &["geburtsurkunde"],
            &start,
        ))
        .await;
    assert_eq!(status, 201, "{booking}");
    let cancelled = app
        .http
        .delete(app.url(&format!("/api/v1/bookings/{}", booking["code"].as_str().expect("code"))))
        .bearer_auth(booking["token"].as_str().expect("token"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status().as_u16(), 204);
    let online = app.slots("standesamt-bergkamen", "geburtsurkunde").await;
    assert_eq!(
        amtstermin_tests::free_at(&online, &start),
        free_before - 1,
        "still held online"
    );
    // The desk sees it free at once.
    let staff = AvailabilityServiceClient::new(app.channel(&app.availability_url))
        .list_slots(ListSlotsRequest {
            office_id: "standesamt-bergkamen".to_owned(),
            concern_ids: vec!["geburtsurkunde".to_owned()],
            channel: Channel::Phone.into(),
            ..Default::default()
        })
        .await
        .expect("staff slots")
        .into_inner();
    let wanted = chrono::DateTime::parse_from_rfc3339(&start).expect("start").timestamp();
    let free_for_staff = staff
        .days
        .iter()
        .flat_map(|day| &day.slots)
        .find(|slot| slot.start.as_ref().is_some_and(|at| at.seconds == wanted))
        .map_or(0, |slot| slot.free);
    assert_eq!(u64::from(free_for_staff), free_before);
}
