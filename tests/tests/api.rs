//! The public HTTP API v1, end to end: gateway → gRPC → services → database,
//! on SQLite always and on PostgreSQL when `AMTSTERMIN_TEST_POSTGRES_URL` is set.

use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request, free_at};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{Value, json};

backend_tests!(
    offices_and_catalogue_come_from_configuration,
    slots_cover_the_window_in_local_time_and_durations_add_up,
    slots_reject_bad_queries_with_clear_errors,
    a_booking_can_be_read_exported_and_cancelled,
    a_cancelled_slot_is_offered_again_at_once,
    starts_that_are_not_open_slots_are_refused_with_409,
    a_full_slot_cannot_be_booked_again,
    retries_with_an_idempotency_key_return_the_same_booking,
    malformed_and_invalid_requests_get_clear_4xx_errors,
);

fn start_of(slot: &Value) -> String {
    slot["start"].as_str().expect("start").to_owned()
}

fn parse(time: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(time.as_str().expect("time string")).expect("RFC 3339")
}

/// The first slot of the window.
async fn first_slot(app: &TestApp, office: &str, concerns: &str) -> Value {
    let slots = app.slots(office, concerns).await;
    slots["days"][0]["slots"][0].clone()
}

async fn offices_and_catalogue_come_from_configuration(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (status, offices) = app.get_json("/api/v1/offices").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = offices
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids, ["bergkamen", "standesamt-bergkamen"]);
    let bergkamen = &offices[0];
    assert_eq!(bergkamen["name"], "Bürgerbüro Bergkamen");
    assert_eq!(bergkamen["timezone"], "Europe/Berlin");
    assert_eq!(bergkamen["booking_window_days"], 60);
    assert!(bergkamen["address"].as_str().is_some_and(|a| a.contains("Bergkamen")));

    let (status, catalogue) = app.get_json("/api/v1/offices/bergkamen/concerns").await;
    assert_eq!(status, 200);
    let featured: Vec<&str> = catalogue["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter(|c| c["featured"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(featured.len(), 7);
    for tile in [
        "Bürgerservice",
        "Meldeangelegenheiten",
        "Pass- und Ausweisangelegenheiten",
    ] {
        assert!(featured.contains(&tile), "{tile} is a topic tile");
    }
    let concerns = catalogue["concerns"].as_array().expect("concerns");
    assert!(concerns.len() >= 20);
    let passport = concerns
        .iter()
        .find(|c| c["id"] == "personalausweis")
        .expect("Personalausweis");
    assert_eq!(passport["category"], "pass-ausweis");
    assert_eq!(passport["duration_minutes"], 20);
    assert!(passport["required_documents"].as_array().is_some_and(|d| !d.is_empty()));
    assert!(passport["fee"].as_str().is_some_and(|fee| fee.contains('€')));
    let category = catalogue["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["id"] == "pass-ausweis")
        .expect("category");
    assert!(
        category["concerns"]
            .as_array()
            .expect("ids")
            .contains(&json!("personalausweis"))
    );

    let (status, standesamt) = app.get_json("/api/v1/offices/standesamt-bergkamen/concerns").await;
    assert_eq!(status, 200, "a second department works from configuration alone");
    assert!(
        standesamt["concerns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == "geburtsurkunde"))
    );

    let (status, error) = app.get_json("/api/v1/offices/nowhere/concerns").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "office_not_found");
}

async fn slots_cover_the_window_in_local_time_and_durations_add_up(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slots = app.slots("bergkamen", "personalausweis").await;
    assert_eq!(slots["office"], "bergkamen");
    assert_eq!(slots["timezone"], "Europe/Berlin");
    assert_eq!(slots["duration_minutes"], 20);
    let days = slots["days"].as_array().expect("days");
    assert!(
        days.len() >= 30,
        "about 60 days minus Sundays and holidays, got {}",
        days.len()
    );

    let berlin = chrono_tz::Europe::Berlin;
    let today = Utc::now().with_timezone(&berlin).date_naive();
    let earliest = Utc::now() + Duration::minutes(60);
    for day in days {
        let date = NaiveDate::parse_from_str(day["date"].as_str().expect("date"), "%Y-%m-%d").expect("date");
        assert!(
            date >= today && date <= today + Duration::days(60),
            "{date} outside the window"
        );
        assert_ne!(chrono::Datelike::weekday(&date), chrono::Weekday::Sun);
        for slot in day["slots"].as_array().expect("slots") {
            let (start, end) = (parse(&slot["start"]), parse(&slot["end"]));
            assert_eq!(end - start, Duration::minutes(20));
            assert_eq!(start.date_naive(), date, "slot on its local day");
            let offset = start.offset().local_minus_utc();
            assert!(offset == 3600 || offset == 7200, "local offset of Berlin, got {offset}");
            assert!(
                start.with_timezone(&Utc) >= earliest - Duration::seconds(5),
                "lead time respected"
            );
            assert!(slot["free"].as_u64().is_some_and(|free| free >= 1));
        }
    }

    // Closed from noon on Christmas Eve and New Year's Eve (demo closures).
    for day in days {
        let date = day["date"].as_str().expect("date");
        if date.ends_with("-12-24") || date.ends_with("-12-31") {
            for slot in day["slots"].as_array().expect("slots") {
                let end = parse(&slot["end"]);
                assert!(
                    end.format("%H:%M").to_string().as_str() <= "12:00",
                    "{date}: slot until {end}"
                );
            }
        }
    }

    // The same concern for two persons and two concerns add up.
    let two = app.slots("bergkamen", "personalausweis,personalausweis").await;
    assert_eq!(two["duration_minutes"], 40);
    let mixed = app.slots("bergkamen", "personalausweis,meldebescheinigung").await;
    assert_eq!(mixed["duration_minutes"], 30);
    let slot = &two["days"][0]["slots"][0];
    assert_eq!(parse(&slot["end"]) - parse(&slot["start"]), Duration::minutes(40));

    // from/to select days and are clipped to the window.
    let from = today + Duration::days(7);
    let to = today + Duration::days(13);
    let (status, week) = app
        .get_json(&format!(
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis&from={from}&to={to}"
        ))
        .await;
    assert_eq!(status, 200);
    for day in week["days"].as_array().expect("days") {
        let date = NaiveDate::parse_from_str(day["date"].as_str().expect("date"), "%Y-%m-%d").expect("date");
        assert!(date >= from && date <= to);
    }
    assert!(!week["days"].as_array().expect("days").is_empty());
    let (status, clipped) = app
        .get_json("/api/v1/offices/bergkamen/slots?concerns=personalausweis&from=2000-01-01&to=2999-12-31")
        .await;
    assert_eq!(status, 200);
    assert_eq!(clipped["days"].as_array().map(Vec::len), days.len().into());
    let (status, beyond) = app
        .get_json("/api/v1/offices/bergkamen/slots?concerns=personalausweis&from=2999-01-01")
        .await;
    assert_eq!(status, 200);
    assert_eq!(beyond["days"], json!([]));
}

async fn slots_reject_bad_queries_with_clear_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cases = [
        ("/api/v1/offices/bergkamen/slots", 400, "concerns_required"),
        ("/api/v1/offices/bergkamen/slots?concerns=", 400, "concerns_required"),
        (
            "/api/v1/offices/bergkamen/slots?concerns=nope",
            404,
            "concern_not_found",
        ),
        (
            "/api/v1/offices/nowhere/slots?concerns=personalausweis",
            404,
            "office_not_found",
        ),
        (
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis&from=tomorrow",
            400,
            "invalid_argument",
        ),
        (
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis&to=2026-02-30",
            400,
            "invalid_argument",
        ),
        (
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis&from=2026-12-10&to=2026-12-01",
            400,
            "invalid_argument",
        ),
        (
            "/api/v1/offices/bergkamen/slots?concerns=a,a,a,a,a,a,a,a,a,a,a",
            400,
            "too_many_concerns",
        ),
        // Several concerns of the second office are one appointment at the counter handling both.
        (
            "/api/v1/offices/standesamt-bergkamen/slots?concerns=geburtsurkunde,eheschliessung-anmelden",
            200,
            "",
        ),
    ];
    for (path, expected_status, expected_code) in cases {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, expected_status, "{path}: {body}");
        if expected_status != 200 {
            assert_eq!(body["error"]["code"], expected_code, "{path}: {body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

async fn a_booking_can_be_read_exported_and_cancelled(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "personalausweis,meldebescheinigung").await;
    let (status, booking) = app
        .book(&booking_request(
            "bergkamen",
            &["personalausweis", "meldebescheinigung"],
            &start_of(&slot),
        ))
        .await;
    assert_eq!(status, 201, "{booking}");
    let code = booking["code"].as_str().expect("code").to_owned();
    let token = booking["token"].as_str().expect("token").to_owned();
    assert!(token.len() >= 32, "at least 128 bits");
    assert_eq!(booking["office"], "bergkamen");
    assert_eq!(booking["concerns"], json!(["personalausweis", "meldebescheinigung"]));
    assert_eq!(parse(&booking["start"]), parse(&slot["start"]));
    assert_eq!(parse(&booking["end"]) - parse(&booking["start"]), Duration::minutes(30));
    assert_eq!(booking["status"], "booked");
    let documents = booking["required_documents"].as_array().expect("documents");
    assert!(
        documents
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.contains("Passfoto")))
    );
    let unique: std::collections::HashSet<_> = documents.iter().collect();
    assert_eq!(unique.len(), documents.len(), "documents listed once each");

    let read = |token: String| {
        let app = &app;
        let code = code.clone();
        async move {
            let response = app
                .http
                .get(app.url(&format!("/api/v1/bookings/{code}")))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, again) = read(token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(again["code"], code.as_str());
    assert_eq!(again["start"], booking["start"]);
    assert_eq!(again["required_documents"], booking["required_documents"]);
    assert!(again.get("token").is_none(), "the token is only handed out once");

    let wrong = "0".repeat(64);
    let (status, error) = read(wrong.clone()).await;
    assert_eq!((status, &error["error"]["code"]), (404, &json!("booking_not_found")));
    let (status, _) = read("garbage".to_owned()).await;
    assert_eq!(status, 404);
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{code}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404, "no token, no booking");
    let response = app
        .http
        .get(app.url("/api/v1/bookings/ZZZZ-ZZZZ"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);

    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{code}/calendar.ics?token={token}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/calendar"))
    );
    let ics = response.text().await.expect("body");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
    assert!(ics.contains("BEGIN:VEVENT\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    let start_utc = parse(&booking["start"])
        .with_timezone(&Utc)
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    assert!(ics.contains(&format!("DTSTART:{start_utc}\r\n")), "{ics}");
    assert!(ics.contains(&format!("UID:{code}@bergkamen")));
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{code}/calendar.ics?token={wrong}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);

    let cancel = |token: String| {
        let app = &app;
        let code = code.clone();
        async move {
            app.http
                .delete(app.url(&format!("/api/v1/bookings/{code}")))
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(cancel(wrong).await, 404, "a wrong token cancels nothing");
    assert_eq!(cancel(token.clone()).await, 204);
    assert_eq!(cancel(token.clone()).await, 204, "cancelling twice changes nothing");
    let (status, cancelled) = read(token).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")));
}

async fn a_cancelled_slot_is_offered_again_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "fahrzeug-abmelden").await;
    let free = slot["free"].as_u64().expect("free");
    let (status, booking) = app
        .book(&booking_request("bergkamen", &["fahrzeug-abmelden"], &start_of(&slot)))
        .await;
    assert_eq!(status, 201);
    let start = start_of(&slot);
    assert_eq!(
        free_at(&app.slots("bergkamen", "fahrzeug-abmelden").await, &start),
        free - 1
    );
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/bookings/{}", booking["code"].as_str().expect("code"))))
        .bearer_auth(booking["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        free_at(&app.slots("bergkamen", "fahrzeug-abmelden").await, &start),
        free
    );
}

async fn starts_that_are_not_open_slots_are_refused_with_409(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "personalausweis").await;
    let start = parse(&slot["start"]);
    let berlin = chrono_tz::Europe::Berlin;
    let today = Utc::now().with_timezone(&berlin).date_naive();
    let next_sunday = (1..=7)
        .map(|d| today + Duration::days(d))
        .find(|d| chrono::Datelike::weekday(d) == chrono::Weekday::Sun)
        .expect("a Sunday within a week");
    let at_local = |date: NaiveDate, time: &str| format!("{date}T{time}:00+01:00");
    let cases = [
        ("off the grid", (start + Duration::minutes(3)).to_rfc3339()),
        ("in the past", (Utc::now() - Duration::days(1)).to_rfc3339()),
        ("beyond the window", at_local(today + Duration::days(75), "09:00")),
        ("outside opening hours", at_local(today + Duration::days(2), "03:00")),
        ("on a Sunday", at_local(next_sunday, "09:00")),
    ];
    for (why, start) in cases {
        let (status, body) = app
            .book(&booking_request("bergkamen", &["personalausweis"], &start))
            .await;
        assert_eq!(status, 409, "{why}: {body}");
        assert_eq!(body["error"]["code"], "slot_unavailable", "{why}");
    }
}

async fn a_full_slot_cannot_be_booked_again(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "personalausweis").await;
    let free = slot["free"].as_u64().expect("free");
    let mut counters = std::collections::HashSet::new();
    for person in 0..free {
        let mut request = booking_request("bergkamen", &["personalausweis"], &start_of(&slot));
        request["email"] = json!(format!("person{person}@example.de"));
        let (status, booking) = app.book(&request).await;
        assert_eq!(status, 201, "{booking}");
        counters.insert(booking["counter"].as_str().expect("counter").to_owned());
    }
    assert_eq!(counters.len() as u64, free, "each booking took another counter");
    let (status, body) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &start_of(&slot)))
        .await;
    assert_eq!(status, 409);
    assert!(["slot_unavailable", "slot_taken"].contains(&body["error"]["code"].as_str().unwrap_or("")));
    let slots = app.slots("bergkamen", "personalausweis").await;
    let offered = slots["days"].as_array().expect("days").iter().any(|day| {
        day["slots"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["start"] == slot["start"]))
    });
    assert!(!offered, "a full slot is no longer offered");
}

async fn retries_with_an_idempotency_key_return_the_same_booking(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "meldebescheinigung").await;
    let request = booking_request("bergkamen", &["meldebescheinigung"], &start_of(&slot));
    let post = |body: Value, key: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/bookings"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("request");
            let replayed = response.headers().contains_key("idempotent-replayed");
            (
                response.status().as_u16(),
                replayed,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, replayed, first) = post(request.clone(), "key-0001").await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, replayed, second) = post(request.clone(), "key-0001").await;
    assert_eq!((status, replayed), (201, true), "{second}");
    assert_eq!(second["code"], first["code"]);
    assert_eq!(second["token"], first["token"], "the retry gets a working token");
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{}", first["code"].as_str().expect("code"))))
        .bearer_auth(second["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);

    let mut different = request.clone();
    different["name"] = json!("Max Mustermann");
    let (status, _, error) = post(different, "key-0001").await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "idempotency_key_reused");

    let (status, _, other) = post(request, "key-0002").await;
    assert!(status == 201 || status == 409, "a new key is a new booking: {other}");
    if status == 201 {
        assert_ne!(other["code"], first["code"]);
    }
}

async fn malformed_and_invalid_requests_get_clear_4xx_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slot = first_slot(&app, "bergkamen", "personalausweis").await;
    let valid = booking_request("bergkamen", &["personalausweis"], &start_of(&slot));
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("missing name", without("name"), 400, "invalid_request"),
        ("missing start", without("start"), 400, "invalid_request"),
        (
            "concerns not a list",
            with("concerns", json!("personalausweis")),
            400,
            "invalid_request",
        ),
        ("empty concerns", with("concerns", json!([])), 400, "concerns_required"),
        (
            "unknown concern",
            with("concerns", json!(["nope"])),
            404,
            "concern_not_found",
        ),
        (
            "unknown office",
            with("office", json!("nowhere")),
            404,
            "office_not_found",
        ),
        (
            "bad date",
            with("start", json!("2026-13-45T25:00:00+01:00")),
            400,
            "invalid_start",
        ),
        (
            "date without offset",
            with("start", json!("2026-12-01T09:00:00")),
            400,
            "invalid_start",
        ),
        ("empty name", with("name", json!("   ")), 400, "invalid_name"),
        ("bad email", with("email", json!("not-an-email")), 400, "invalid_email"),
        ("bad phone", with("phone", json!("call me maybe")), 400, "invalid_phone"),
    ];
    for (why, body, expected_status, expected_code) in cases {
        let (status, error) = app.book(&body).await;
        assert_eq!(status, expected_status, "{why}: {error}");
        assert_eq!(error["error"]["code"], expected_code, "{why}: {error}");
    }

    let raw = |body: String| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/bookings"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("request");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, error) = raw("{\"office\": ".to_owned()).await;
    assert_eq!((status, &error["error"]["code"]), (400, &json!("malformed_json")));
    let (status, error) = raw(String::new()).await;
    assert_eq!((status, &error["error"]["code"]), (400, &json!("malformed_json")));
    let (status, error) = raw(format!("{{\"name\": \"{}\"}}", "x".repeat(100_000))).await;
    assert_eq!((status, &error["error"]["code"]), (413, &json!("payload_too_large")));
    // The unread rest of the body ends the connection; the answer says so, so
    // a client does not send its next request on it.
    let response = app
        .http
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body("x".repeat(100_000))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(
        response.headers().get("connection").and_then(|v| v.to_str().ok()),
        Some("close")
    );

    // Over-long ids are refused, and never echoed whole.
    let long = "x".repeat(20_000);
    let (status, error) = app.get_json(&format!("/api/v1/offices/{}/slots", &long[..1_000])).await;
    assert_eq!((status, &error["error"]["code"]), (400, &json!("invalid_path")));
    let (status, error) = app.get_json(&format!("/api/v1/offices/{long}/slots")).await;
    assert_eq!((status, &error["error"]["code"]), (414, &json!("uri_too_long")));
    let mut request = booking_request(&long, &["personalausweis"], "2030-01-07T09:00:00+01:00");
    request["concerns"] = json!([long]);
    let (status, error) = app.book(&request).await;
    assert_eq!(status / 100, 4, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|message| message.len() < 600),
        "{error}"
    );
    let page = app
        .http
        .get(app.url(&format!("/amt/{long}")))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16() / 100, 4);

    let (status, error) = app.get_json("/api/v1/nothing-here").await;
    assert_eq!((status, &error["error"]["code"]), (404, &json!("not_found")));
    let response = app.http.put(app.url("/api/v1/offices")).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 405);
    let error: Value = response.json().await.expect("json error");
    assert_eq!(error["error"]["code"], "method_not_allowed");
}
