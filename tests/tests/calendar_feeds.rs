//! Calendar feeds: an admin makes a secret iCalendar address of an office's
//! or a counter's coming bookings; staff calendars read it (here: a real
//! iCalendar parser); names only where enabled; revoked, it is gone.

use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{CreateCalendarFeedRequest, ListCalendarFeedsRequest, RevokeCalendarFeedRequest};
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request, starts_of_a_day};
use serde_json::json;

backend_tests!(a_feed_shows_the_coming_bookings_to_staff_calendars_until_revoked);

fn admin(app: &TestApp) -> BookingServiceClient<amtstermin_platform::client::Channel> {
    BookingServiceClient::new(app.channel(&app.booking_url))
}

async fn feed(app: &TestApp, counter: &str, names: bool) -> (String, String) {
    let feed = admin(app)
        .create_calendar_feed(CreateCalendarFeedRequest {
            office_id: "bergkamen".to_owned(),
            counter_id: counter.to_owned(),
            names,
            actor: "admin:test".to_owned(),
        })
        .await
        .expect("created")
        .into_inner();
    assert_eq!(feed.token.len(), 64, "{feed:?}");
    (feed.id, feed.token)
}

/// The events of the feed at `token`, as (UID, SUMMARY, LOCATION), parsed
/// by a real iCalendar parser; `None` for a 404.
async fn events(app: &TestApp, token: &str) -> Option<Vec<(String, String, String)>> {
    let response = app
        .http
        .get(app.url(&format!("/kalender/bergkamen/{token}.ics")))
        .send()
        .await
        .expect("feed");
    if response.status().as_u16() == 404 {
        return None;
    }
    assert_eq!(response.status().as_u16(), 200);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    assert_eq!(kind.as_deref(), Some("text/calendar; charset=utf-8"));
    let text = response.text().await.expect("text");
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = parser.next().expect("a calendar").expect("well-formed");
    assert!(parser.next().is_none(), "one calendar");
    let property = |event: &ical::parser::ical::component::IcalEvent, name: &str| {
        event
            .properties
            .iter()
            .find(|property| property.name == name)
            .and_then(|property| property.value.clone())
            .unwrap_or_default()
    };
    Some(
        calendar
            .events
            .iter()
            .map(|event| {
                (
                    property(event, "UID"),
                    property(event, "SUMMARY"),
                    property(event, "LOCATION"),
                )
            })
            .collect(),
    )
}

async fn a_feed_shows_the_coming_bookings_to_staff_calendars_until_revoked(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Two people at one time: two counters.
    let starts = starts_of_a_day(&app.slots("bergkamen", "personalausweis").await, 3);
    let mut booked = Vec::new();
    for (index, start) in [&starts[0], &starts[0], &starts[2]].into_iter().enumerate() {
        let mut body = booking_request("bergkamen", &["personalausweis"], start);
        body["email"] = json!(format!("person{index}@example.de"));
        body["name"] = json!(format!("Person Nummer {index}"));
        let (status, made) = app.book(&body).await;
        assert_eq!(status, 201, "{made}");
        booked.push((
            made["code"].as_str().expect("code").to_owned(),
            made["token"].as_str().expect("token").to_owned(),
        ));
    }
    let (_, office_token) = feed(&app, "", false).await;
    let (_, named_token) = feed(&app, "platz-1", true).await;

    let office = events(&app, &office_token).await.expect("the office's feed");
    assert_eq!(office.len(), 3, "{office:?}");
    for (code, _) in &booked {
        assert!(
            office
                .iter()
                .any(|(uid, summary, _)| uid.starts_with(code.as_str()) && summary.contains(code.as_str()))
        );
    }
    assert!(
        office
            .iter()
            .all(|(_, summary, _)| summary.contains("Personalausweis") && !summary.contains("Person Nummer"))
    );
    assert!(
        office
            .iter()
            .all(|(_, _, location)| location.starts_with("Bürgerbüro Bergkamen"))
    );
    // The counter's feed: its own bookings only, with names.
    let counter = events(&app, &named_token).await.expect("the counter's feed");
    assert!(!counter.is_empty() && counter.len() < 3, "{counter:?}");
    assert!(
        counter
            .iter()
            .all(|(_, summary, location)| summary.contains("Person Nummer") && location.contains("Arbeitsplatz 1")),
        "{counter:?}"
    );

    // A cancelled booking leaves the feed.
    let (code, token) = &booked[2];
    let (status, _) = app
        .call(reqwest::Method::DELETE, &format!("/api/v1/bookings/{code}"), token)
        .await;
    assert_eq!(status, 204);
    assert_eq!(events(&app, &office_token).await.map(|events| events.len()), Some(2));

    // Wrong tokens and offices: nothing.
    assert!(events(&app, &"0".repeat(64)).await.is_none());
    let other = app
        .http
        .get(app.url(&format!("/kalender/standesamt/{office_token}.ics")))
        .send()
        .await
        .expect("feed");
    assert_eq!(other.status().as_u16(), 404, "a token opens its own office's feed only");

    // Revoked, the address is gone; the list no longer has it.
    let feeds = admin(&app)
        .list_calendar_feeds(ListCalendarFeedsRequest {
            office_id: "bergkamen".to_owned(),
        })
        .await
        .expect("list")
        .into_inner()
        .feeds;
    assert_eq!(feeds.len(), 2);
    assert!(
        feeds.iter().all(|feed| feed.token.is_empty()),
        "the token is answered once"
    );
    let office_feed = feeds
        .iter()
        .find(|feed| feed.counter_id.is_empty())
        .expect("the office's");
    admin(&app)
        .revoke_calendar_feed(RevokeCalendarFeedRequest {
            office_id: "bergkamen".to_owned(),
            id: office_feed.id.clone(),
            actor: "admin:test".to_owned(),
        })
        .await
        .expect("revoked");
    assert!(events(&app, &office_token).await.is_none());
    assert!(events(&app, &named_token).await.is_some());
    // Refusals.
    let unknown_counter = admin(&app)
        .create_calendar_feed(CreateCalendarFeedRequest {
            office_id: "bergkamen".to_owned(),
            counter_id: "platz-99".to_owned(),
            names: false,
            actor: String::new(),
        })
        .await
        .expect_err("no such counter");
    assert_eq!(unknown_counter.code(), tonic::Code::NotFound);
    let unknown_feed = admin(&app)
        .revoke_calendar_feed(RevokeCalendarFeedRequest {
            office_id: "bergkamen".to_owned(),
            id: "cal_none".to_owned(),
            actor: "admin:test".to_owned(),
        })
        .await
        .expect_err("no such feed");
    assert_eq!(unknown_feed.code(), tonic::Code::NotFound);
}
