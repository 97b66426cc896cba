//! Counter absences recorded by staff at runtime: persisted, applied to the
//! slots at once, reported with the bookings they affect, and lifted again.

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::availability::v1::schedule_admin_service_client::ScheduleAdminServiceClient;
use amtstermin_proto::availability::v1::{AddAbsenceRequest, ListAbsencesRequest, RemoveAbsenceRequest};
use amtstermin_tests::{Backend, TestApp, TestDatabase, backend_tests, booking_request, free_at};
use availability_service::absences::Absence;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use tonic::Code;

backend_tests!(
    the_absence_store_keeps_adds_and_removals,
    an_absence_hides_its_counter_reports_affected_bookings_and_survives_a_restart,
    bad_absences_are_refused
);

async fn the_absence_store_keeps_adds_and_removals(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let stores = availability_service::configuration::open(&database.url, 2).expect("store");
    stores.configuration.migrate().await.expect("migrate");
    stores
        .configuration
        .migrate()
        .await
        .expect("migrating twice is harmless");
    let store = stores.absences;
    let at = |day: u32, hour: u32| Utc.with_ymd_and_hms(2030, 3, day, hour, 0, 0).single().expect("valid");
    let absence = |id: &str, office: &str, day: u32| Absence {
        id: id.to_owned(),
        office_id: office.to_owned(),
        counter_id: "platz-1".to_owned(),
        start: at(day, 8),
        end: at(day, 16),
        reason: "Fortbildung".to_owned(),
        created_at: at(1, 0),
    };
    store.add(&absence("a", "amt", 4)).await.expect("add");
    store.add(&absence("b", "amt", 2)).await.expect("add");
    store
        .add(&absence("a", "other", 3))
        .await
        .expect("the same id in another office");
    assert!(
        store.add(&absence("a", "amt", 5)).await.is_err(),
        "ids are unique per office"
    );

    let listed: Vec<_> = store
        .list(at(1, 0))
        .await
        .expect("list")
        .into_iter()
        .map(|a| (a.office_id, a.id))
        .collect();
    let expected = [("amt", "b"), ("other", "a"), ("amt", "a")].map(|(o, i)| (o.to_owned(), i.to_owned()));
    assert_eq!(listed, expected, "by start");
    assert_eq!(
        store.list(at(3, 12)).await.expect("list").len(),
        2,
        "ended ones are left out"
    );

    let removed = store.remove("amt", "a").await.expect("remove").expect("found");
    assert_eq!(removed, absence("a", "amt", 4));
    assert!(store.remove("amt", "a").await.expect("remove").is_none());
    assert_eq!(store.list(at(1, 0)).await.expect("list").len(), 2);
}

fn admin(app: &TestApp) -> ScheduleAdminServiceClient<Channel> {
    ScheduleAdminServiceClient::new(app.channel(&app.availability_url))
}

async fn an_absence_hides_its_counter_reports_affected_bookings_and_survives_a_restart(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let slots = app.slots("bergkamen", "allgemeine-beratung").await;
    let day = &slots["days"][1];
    let booked_start = day["slots"][0]["start"].as_str().expect("start").to_owned();
    let later_start = day["slots"][3]["start"].as_str().expect("start").to_owned();
    let later_free = free_at(&slots, &later_start);

    let (status, booking) = app
        .book(&booking_request("bergkamen", &["allgemeine-beratung"], &booked_start))
        .await;
    assert_eq!(status, 201, "{booking}");
    let counter = booking["counter"].as_str().expect("counter").to_owned();

    let parse = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
    let start = parse(&booked_start) - TimeDelta::hours(1);
    let end = start + TimeDelta::hours(12);
    let added = admin(&app)
        .add_absence(AddAbsenceRequest {
            office_id: "bergkamen".to_owned(),
            counter_id: counter.clone(),
            start: Some(timestamp::to_proto(start)),
            end: Some(timestamp::to_proto(end)),
            reason: "Krankheit".to_owned(),
        })
        .await
        .expect("add absence")
        .into_inner();
    let affected: Vec<&str> = added.affected_bookings.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(
        affected,
        [booking["code"].as_str().expect("code")],
        "the booking is reported, not dropped"
    );
    let absence = added.absence.expect("absence");
    assert_eq!(
        free_at(&app.slots("bergkamen", "allgemeine-beratung").await, &later_start),
        later_free - 1
    );
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{}", booking["code"].as_str().expect("code"))))
        .bearer_auth(booking["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    let still: Value = response.json().await.expect("json");
    assert_eq!(still["status"], "booked");

    app.restart_availability_service().await;
    assert_eq!(
        free_at(&app.slots("bergkamen", "allgemeine-beratung").await, &later_start),
        later_free - 1,
        "the absence is persisted"
    );
    let listed = admin(&app)
        .list_absences(ListAbsencesRequest {
            office_id: "bergkamen".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .absences;
    assert_eq!(
        listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        [absence.id.as_str()]
    );
    assert_eq!(listed[0].reason, "Krankheit");

    admin(&app)
        .remove_absence(RemoveAbsenceRequest {
            office_id: "bergkamen".to_owned(),
            absence_id: absence.id.clone(),
        })
        .await
        .expect("remove");
    assert_eq!(
        free_at(&app.slots("bergkamen", "allgemeine-beratung").await, &later_start),
        later_free
    );
    let again = admin(&app)
        .remove_absence(RemoveAbsenceRequest {
            office_id: "bergkamen".to_owned(),
            absence_id: absence.id,
        })
        .await
        .expect_err("gone");
    assert_eq!(again.code(), Code::NotFound);
}

async fn bad_absences_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let now = Utc::now();
    let request = |office: &str, counter: &str, start: DateTime<Utc>, end: DateTime<Utc>| AddAbsenceRequest {
        office_id: office.to_owned(),
        counter_id: counter.to_owned(),
        start: Some(timestamp::to_proto(start)),
        end: Some(timestamp::to_proto(end)),
        reason: String::new(),
    };
    let cases = [
        (
            request("nowhere", "platz-1", now, now + TimeDelta::hours(1)),
            Code::NotFound,
        ),
        (
            request("bergkamen", "platz-9", now, now + TimeDelta::hours(1)),
            Code::NotFound,
        ),
        (
            request("bergkamen", "platz-1", now, now - TimeDelta::hours(1)),
            Code::InvalidArgument,
        ),
        (
            request("bergkamen", "platz-1", now, now + TimeDelta::days(400)),
            Code::InvalidArgument,
        ),
        (
            AddAbsenceRequest {
                office_id: "bergkamen".into(),
                counter_id: "platz-1".into(),
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
    ];
    for (request, code) in cases {
        let error = admin(&app).add_absence(request.clone()).await.expect_err("refused");
        assert_eq!(error.code(), code, "{request:?}: {}", error.message());
    }
}
