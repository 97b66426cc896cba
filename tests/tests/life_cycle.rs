//! The life cycle of a booking through the public API and the staff gRPC:
//! moving it, the per-address limit, statuses and their history.

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{
    BookingStatus, ChangeBookingStatusRequest, GetBookingHistoryRequest, ListBookingsRequest, MoveBookingRequest,
};
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request, free_at};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tonic::Code;

backend_tests!(
    a_booking_moves_to_another_free_time_keeping_code_and_token,
    an_email_address_gets_at_most_two_upcoming_bookings,
    staff_record_arrival_completion_and_no_shows_with_history
);

fn bookings(app: &TestApp) -> BookingServiceClient<Channel> {
    BookingServiceClient::new(app.channel(&app.booking_url))
}

/// The first `n` slot starts of the first day with at least `n` slots.
async fn starts(app: &TestApp, concerns: &str, n: usize) -> Vec<String> {
    let slots = app.slots("bergkamen", concerns).await;
    let day = slots["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|day| day["slots"].as_array().is_some_and(|s| s.len() >= n))
        .expect("a day with enough slots");
    day["slots"].as_array().expect("slots")[..n]
        .iter()
        .map(|slot| slot["start"].as_str().expect("start").to_owned())
        .collect()
}

async fn reschedule(app: &TestApp, code: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/bookings/{code}/reschedule")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_booking_moves_to_another_free_time_keeping_code_and_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let times = starts(&app, "personalausweis", 5).await;
    let (status, booking) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &times[0]))
        .await;
    assert_eq!(status, 201, "{booking}");
    let code = booking["code"].as_str().expect("code").to_owned();
    let token = booking["token"].as_str().expect("token").to_owned();
    let before = app.slots("bergkamen", "personalausweis").await;
    let (free_old, free_new) = (free_at(&before, &times[0]), free_at(&before, &times[2]));

    let (status, moved) = reschedule(&app, &code, &token, json!({ "start": times[2] })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["code"], code.as_str());
    assert_eq!(moved["start"], times[2].as_str());
    assert_eq!(moved["status"], "booked");
    let after = app.slots("bergkamen", "personalausweis").await;
    assert_eq!(
        free_at(&after, &times[0]),
        free_old + 1,
        "the old time is offered again"
    );
    assert_eq!(free_at(&after, &times[2]), free_new - 1);
    let (status, read) = app
        .get_json_with_token(&format!("/api/v1/bookings/{code}"), &token)
        .await;
    assert_eq!(
        (status, &read["start"]),
        (200, &json!(times[2])),
        "the token still works"
    );

    // Not free: off the grid, or a time taken on every counter (one that
    // does not overlap the booking's own time, which it may reuse).
    let start = DateTime::parse_from_rfc3339(&times[1]).expect("time");
    let (status, error) = reschedule(
        &app,
        &code,
        &token,
        json!({ "start": (start + TimeDelta::minutes(3)).to_rfc3339() }),
    )
    .await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("slot_unavailable")));
    for person in 0..free_at(&after, &times[4]) {
        let mut request = booking_request("bergkamen", &["personalausweis"], &times[4]);
        request["email"] = json!(format!("other{person}@example.de"));
        assert_eq!(app.book(&request).await.0, 201);
    }
    let (status, error) = reschedule(&app, &code, &token, json!({ "start": times[4] })).await;
    assert_eq!(status, 409, "{error}");
    let (_, unchanged) = app
        .get_json_with_token(&format!("/api/v1/bookings/{code}"), &token)
        .await;
    assert_eq!(unchanged["start"], times[2].as_str(), "a failed move changes nothing");

    let (status, _) = reschedule(&app, &code, &"0".repeat(64), json!({ "start": times[0] })).await;
    assert_eq!(status, 404);
    let (status, error) = reschedule(&app, &code, &token, json!({ "begin": times[0] })).await;
    assert_eq!((status, &error["error"]["code"]), (400, &json!("invalid_request")));

    // Staff move bookings on a citizen's behalf too.
    let moved = bookings(&app)
        .move_booking(MoveBookingRequest {
            office_id: "bergkamen".into(),
            code: code.clone(),
            start: Some(timestamp::to_proto(
                DateTime::parse_from_rfc3339(&times[0])
                    .expect("time")
                    .with_timezone(&Utc),
            )),
            actor: "eva".into(),
        })
        .await
        .expect("staff move")
        .into_inner();
    assert_eq!(
        moved.start.map(|t| t.seconds),
        Some(DateTime::parse_from_rfc3339(&times[0]).expect("t").timestamp())
    );
}

async fn an_email_address_gets_at_most_two_upcoming_bookings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let times = starts(&app, "meldebescheinigung", 3).await;
    let mut made = Vec::new();
    for (time, email) in times
        .iter()
        .zip(["erika@example.de", "Erika+zwei@EXAMPLE.de", "erika@example.de"])
    {
        let mut request = booking_request("bergkamen", &["meldebescheinigung"], time);
        request["email"] = json!(email);
        made.push(app.book(&request).await);
    }
    assert_eq!((made[0].0, made[1].0), (201, 201));
    assert_eq!(made[2].0, 409, "{}", made[2].1);
    assert_eq!(made[2].1["error"]["code"], "limit_reached");

    let first = &made[0].1;
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/bookings/{}", first["code"].as_str().expect("code"))))
        .bearer_auth(first["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 204);
    let mut request = booking_request("bergkamen", &["meldebescheinigung"], &times[2]);
    request["email"] = json!("erika@example.de");
    assert_eq!(app.book(&request).await.0, 201, "a cancelled booking no longer counts");
}

async fn staff_record_arrival_completion_and_no_shows_with_history(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let times = starts(&app, "personalausweis", 2).await;
    let (_, arriving) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &times[0]))
        .await;
    let mut request = booking_request("bergkamen", &["personalausweis"], &times[1]);
    request["email"] = json!("max@example.de");
    let (_, absent) = app.book(&request).await;
    let code = |booking: &Value| booking["code"].as_str().expect("code").to_owned();

    let change = |code: String, status: BookingStatus| {
        let mut client = bookings(&app);
        async move {
            client
                .change_booking_status(ChangeBookingStatusRequest {
                    office_id: "bergkamen".into(),
                    code,
                    status: status.into(),
                    actor: "eva".into(),
                    note: "Ausweis geprüft".into(),
                })
                .await
        }
    };
    let checked_in = change(code(&arriving), BookingStatus::CheckedIn)
        .await
        .expect("check in")
        .into_inner();
    assert_eq!(checked_in.status(), BookingStatus::CheckedIn);
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/bookings/{}", code(&arriving))))
        .bearer_auth(arriving["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 409, "no cancelling after arrival");
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "invalid_transition");
    change(code(&arriving), BookingStatus::Completed)
        .await
        .expect("complete");
    let refused = change(code(&arriving), BookingStatus::NoShow)
        .await
        .expect_err("completed is final");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    change(code(&absent), BookingStatus::NoShow).await.expect("no show");
    let missing = change("ZZZZ-ZZZZ".into(), BookingStatus::NoShow)
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);

    let (_, read) = app
        .get_json_with_token(
            &format!("/api/v1/bookings/{}", code(&arriving)),
            arriving["token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(read["status"], "completed");

    let history = bookings(&app)
        .get_booking_history(GetBookingHistoryRequest {
            office_id: "bergkamen".into(),
            code: code(&arriving),
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    let summary: Vec<_> = history
        .iter()
        .map(|e| (e.actor.as_str(), e.from_status(), e.to_status()))
        .collect();
    assert_eq!(
        summary,
        [
            ("citizen", BookingStatus::Unspecified, BookingStatus::Booked),
            ("staff:eva", BookingStatus::Booked, BookingStatus::CheckedIn),
            ("staff:eva", BookingStatus::CheckedIn, BookingStatus::Completed),
        ]
    );
    assert_eq!(history[1].note, "Ausweis geprüft");

    let now = Utc::now();
    let listed = bookings(&app)
        .list_bookings(ListBookingsRequest {
            office_id: "bergkamen".into(),
            from: Some(timestamp::to_proto(now)),
            to: Some(timestamp::to_proto(now + TimeDelta::days(61))),
        })
        .await
        .expect("list")
        .into_inner()
        .bookings;
    let statuses: Vec<_> = listed.iter().map(|b| (b.code.clone(), b.status())).collect();
    assert_eq!(
        statuses,
        [
            (code(&arriving), BookingStatus::Completed),
            (code(&absent), BookingStatus::NoShow)
        ]
    );
}
