//! The foyer beyond the desk: recalling a called number, calendars that
//! follow the free times live, and the office's statistics against figures
//! computed by hand on fixed data (placed directly in the booking
//! service's database, with fixed times).

use std::sync::Arc;

use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_tests::{Backend, STAFF_API_TOKEN, TestApp, backend_tests, booking_request, wait_for_event};
use booking_service::bookings::{Channel, NewBooking, Status};
use booking_service::store::{self, BookingStore, Reservation, StatusChange, StatusRequest};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};

backend_tests!(
    the_statistics_match_hand_computed_figures_and_survive_retention,
    a_called_number_is_recalled_and_shows_as_the_latest_call,
    an_open_calendar_hears_of_a_time_taken_and_given_back,
    those_with_two_ahead_are_mailed_once_where_the_office_wants_it,
);

fn berlin(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .expect("unambiguous")
        .with_timezone(&Utc)
}

/// The demo offices with Bergkamen mailing those almost called.
fn config_with_mails_when_two_ahead() -> amtstermin_tests::ChangedConfig {
    amtstermin_tests::ChangedConfig::new(
        "kiosk_walk_ins = true\n",
        "kiosk_walk_ins = true\nmail_when_two_ahead = true\n",
    )
}

/// An appointment of `minutes` placed straight in the store, then taken
/// through `steps` (status, when).
struct Placed<'a> {
    code: &'a str,
    counter: &'a str,
    concerns: &'a [&'a str],
    channel: Channel,
    start: DateTime<Utc>,
    minutes: i64,
    created_at: DateTime<Utc>,
    /// Waits for its confirmation by mail (until an hour after creation).
    pending: bool,
    steps: &'a [(Status, DateTime<Utc>)],
}

async fn place(store: &Arc<dyn BookingStore>, placed: Placed<'_>) {
    let new = NewBooking {
        office_id: "bergkamen".to_owned(),
        code: placed.code.to_owned(),
        concern_ids: placed.concerns.iter().map(|id| (*id).to_owned()).collect(),
        start: placed.start,
        end: placed.start + TimeDelta::minutes(placed.minutes),
        name: "Erika Mustermann".to_owned(),
        email: "erika@example.de".to_owned(),
        phone: String::new(),
        token_hash: format!("hash-of-{}", placed.code).into_bytes(),
        idempotency: None,
        channel: placed.channel,
        actor: "citizen".to_owned(),
        notifications: Vec::new(),
        created_at: placed.created_at,
        quota: None,
        language: "de".to_owned(),
        confirm_by: placed
            .pending
            .then(|| (placed.created_at + TimeDelta::hours(1), b"confirm".to_vec())),
    };
    let reserved = store
        .reserve(&new, &[placed.counter.to_owned()], None)
        .await
        .expect("reserve");
    assert!(matches!(reserved, Reservation::Created { .. }), "{}", placed.code);
    for (to, at) in placed.steps {
        let changed = store
            .change_status(StatusRequest {
                handover: None,
                office_id: "bergkamen",
                code: placed.code,
                to: *to,
                actor: "staff:test",
                detail: None,
                at: *at,
                notifications: &[],
                waiting: None,
            })
            .await
            .expect("change status");
        assert!(
            matches!(changed, StatusChange::Changed { .. }),
            "{} to {to:?}",
            placed.code
        );
    }
}

/// The week of Monday 2 November 2026 at Bergkamen, as in the unit tests
/// of the statistics: four appointments, one cancelled, one missed.
async fn place_a_week(store: &Arc<dyn BookingStore>) {
    let ahead = TimeDelta::hours(48);
    place(
        store,
        Placed {
            code: "STAT-2001",
            counter: "platz-1",
            concerns: &["personalausweis"],
            channel: Channel::Online,
            start: berlin(2, 9, 0),
            minutes: 20,
            created_at: berlin(2, 9, 0) - ahead,
            pending: false,
            // Waited 10 minutes, served for 15.
            steps: &[(Status::CheckedIn, berlin(2, 8, 55)), (Status::Called, berlin(2, 9, 5))],
        },
    )
    .await;
    // Never confirmed by mail and released: it does not count.
    place(
        store,
        Placed {
            code: "STAT-2005",
            counter: "platz-3",
            concerns: &["personalausweis"],
            channel: Channel::Online,
            start: berlin(2, 9, 0),
            minutes: 20,
            created_at: berlin(1, 9, 0),
            pending: true,
            steps: &[(Status::Cancelled, berlin(1, 10, 0))],
        },
    )
    .await;
    // Called again (a recall leaves the first call), then served.
    let recalled = store
        .recall("bergkamen", "STAT-2001", "staff:test", berlin(2, 9, 12))
        .await
        .expect("recall");
    assert!(matches!(recalled, StatusChange::Changed { .. }));
    let completed = store
        .change_status(StatusRequest {
            handover: None,
            office_id: "bergkamen",
            code: "STAT-2001",
            to: Status::Completed,
            actor: "staff:test",
            detail: None,
            at: berlin(2, 9, 20),
            notifications: &[],
            waiting: None,
        })
        .await
        .expect("complete");
    assert!(matches!(completed, StatusChange::Changed { .. }));
    place(
        store,
        Placed {
            code: "STAT-2002",
            counter: "platz-2",
            concerns: &["personalausweis", "reisepass"],
            channel: Channel::Phone,
            start: berlin(2, 10, 0),
            minutes: 20,
            created_at: berlin(2, 10, 0) - ahead,
            pending: false,
            steps: &[(Status::NoShow, berlin(2, 10, 30))],
        },
    )
    .await;
    place(
        store,
        Placed {
            code: "STAT-2003",
            counter: "platz-1",
            concerns: &["reisepass"],
            channel: Channel::Online,
            start: berlin(2, 11, 0),
            minutes: 20,
            created_at: berlin(2, 11, 0) - ahead,
            pending: false,
            steps: &[(Status::Cancelled, berlin(1, 12, 0))],
        },
    )
    .await;
    place(
        store,
        Placed {
            code: "STAT-2004",
            counter: "platz-4",
            concerns: &["meldebescheinigung"],
            channel: Channel::Foyer,
            start: berlin(4, 9, 0),
            minutes: 20,
            created_at: berlin(4, 8, 55),
            pending: false,
            // Waited 20 minutes, served for 5.
            steps: &[
                (Status::CheckedIn, berlin(4, 9, 0)),
                (Status::Called, berlin(4, 9, 20)),
                (Status::Completed, berlin(4, 9, 25)),
            ],
        },
    )
    .await;
}

fn row<'a>(statistics: &'a Value, period_start: &str, scope: &str, key: Option<&str>) -> &'a Value {
    statistics["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["period_start"] == period_start && row["scope"] == scope && row["key"].as_str() == key)
        .unwrap_or_else(|| panic!("no row {period_start} {scope} {key:?} in {statistics}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|value| (value - expected).abs() < 1e-9)
}

async fn the_statistics_match_hand_computed_figures_and_survive_retention(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let store = store::open(&app.database.url, 2).expect("open store");
    place_a_week(&store).await;
    let path = "/api/v1/staff/offices/bergkamen/statistics?from=2026-11-02&to=2026-11-08&period=week";
    let (status, weekly) = app.get_json_with_token(path, STAFF_API_TOKEN).await;
    assert_eq!(status, 200, "{weekly}");
    let office = row(&weekly, "2026-11-02", "office", None);
    assert_eq!(office["name"], "Bürgerbüro Bergkamen");
    let counts = [
        "bookings",
        "online",
        "phone",
        "walk_ins",
        "cancelled",
        "no_shows",
        "completed",
    ]
    .map(|field| office[field].as_u64());
    assert_eq!(counts, [4, 2, 1, 1, 1, 1, 2].map(Some), "{office}");
    assert!(close(&office["no_show_rate"], 1.0 / 3.0), "{office}");
    assert!(close(&office["average_lead_time_hours"], 48.0), "{office}");
    assert!(close(&office["average_wait_minutes"], 15.0), "{office}");
    assert!(close(&office["average_service_minutes"], 10.0), "{office}");
    assert_eq!(office["booked_minutes"], 60);
    // Opening hours of the week: counters 1 to 3 from Monday to Friday
    // (390, 390, 270, 510, 270 minutes each), the quick counter 270 on
    // weekdays, 510 on Thursday and 180 on Saturday.
    assert_eq!(
        office["offered_minutes"],
        3 * (390 + 390 + 270 + 510 + 270) + 4 * 270 + 510 + 180
    );
    assert!(close(&office["utilisation"], 60.0 / 7260.0), "{office}");
    let passport = row(&weekly, "2026-11-02", "concern", Some("reisepass"));
    assert_eq!(
        (
            &passport["bookings"],
            &passport["cancelled"],
            &passport["no_shows"],
            &passport["name"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!("Reisepass beantragen"))
    );
    assert_eq!(passport["offered_minutes"], 0);
    assert_eq!(passport["utilisation"], Value::Null);
    let quick = row(&weekly, "2026-11-02", "counter", Some("platz-4"));
    assert_eq!((&quick["walk_ins"], &quick["booked_minutes"]), (&json!(1), &json!(20)));
    assert_eq!(quick["offered_minutes"], 4 * 270 + 510 + 180);
    assert!(close(&quick["average_wait_minutes"], 20.0), "{quick}");

    // Per day: Monday has three, Wednesday one, Tuesday none.
    let (_, daily) = app
        .get_json_with_token(
            "/api/v1/staff/offices/bergkamen/statistics?from=2026-11-02&to=2026-11-08",
            STAFF_API_TOKEN,
        )
        .await;
    assert_eq!(daily["period"], "day");
    assert_eq!(row(&daily, "2026-11-02", "office", None)["bookings"], 3);
    assert_eq!(row(&daily, "2026-11-03", "office", None)["bookings"], 0);
    assert_eq!(row(&daily, "2026-11-04", "office", None)["bookings"], 1);

    // The CSV has the same figures.
    let csv = app
        .http
        .get(app.url(&path.replace("statistics?", "statistics.csv?")))
        .bearer_auth(STAFF_API_TOKEN)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status().as_u16(), 200);
    assert!(
        csv.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|value| value.starts_with("text/csv"))
    );
    let text = csv.text().await.expect("csv text");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|header| header.starts_with("period_start,scope,key,name,bookings,"))
    );
    assert!(
        text.contains("2026-11-02,office,\"\",\"Bürgerbüro Bergkamen\",4,2,1,1,1,1,2,0.3333,48.0000,15.0000,10.0000,60,7260,0.0083\r\n"),
        "{text}"
    );

    // Retention erases the personal data, not the figures.
    let erased = store.anonymise(Utc::now(), Utc::now()).await.expect("anonymise");
    assert_eq!(erased, 5, "four appointments and the unconfirmed one");
    let (_, after) = app.get_json_with_token(path, STAFF_API_TOKEN).await;
    assert_eq!(after, weekly);

    // Bad ranges and periods are refused with their code; strangers too.
    for (query, code) in [
        ("from=2026-11-08&to=2026-11-02", "invalid_date"),
        ("from=2025-01-01&to=2026-11-02", "invalid_date"),
        ("from=2.11.2026", "invalid_date"),
        ("period=year", "invalid_query"),
    ] {
        let (status, error) = app
            .get_json_with_token(
                &format!("/api/v1/staff/offices/bergkamen/statistics?{query}"),
                STAFF_API_TOKEN,
            )
            .await;
        assert_eq!((status, &error["error"]["code"]), (400, &json!(code)), "{query}");
    }
    let (status, _) = app.get_json("/api/v1/staff/offices/bergkamen/statistics").await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get_json_with_token("/api/v1/staff/offices/nirgendwo/statistics", STAFF_API_TOKEN)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statistics_page_draws_charts_with_their_numbers_beside_them() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let store = store::open(&app.database.url, 2).expect("open store");
    place_a_week(&store).await;
    let page_path = "/schalter/bergkamen/statistik?from=2026-11-02&to=2026-11-08&period=day";
    // Staff only: without a session the desk asks to sign in.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let refused = anonymous.get(app.url(page_path)).send().await.expect("page");
    assert_eq!(refused.status().as_u16(), 303);
    let (session, _, _) = app.sign_in_at_desk().await;
    let get = |path: &str| app.http.get(app.url(path)).header("cookie", &session).send();
    let page = get(page_path).await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    // Three charts, each an image with a title and a summary in words.
    assert_eq!(html.matches("<svg viewBox").count(), 3, "{html}");
    assert_eq!(html.matches(r#"role="img""#).count(), 3);
    assert!(html.contains("<title id=\"termine-svg-titel\">Termine je Tag nach Weg</title>"));
    assert!(
        html.contains("4 Termine in 6 Zeiträumen; die meisten (3) am 02.11."),
        "{html}"
    );
    // The totals and the tables beside them, in German notation.
    assert!(
        html.contains("<dd>4 (online 2, Telefon 1, Laufkundschaft 1)</dd>"),
        "{html}"
    );
    assert!(html.contains("<dd>1 (33,3 % der nicht abgesagten)</dd>"));
    assert!(html.contains("<dd>15,0 min</dd>"));
    assert!(html.contains("<th scope=\"row\">02.11.</th><td>3</td><td>2</td><td>1</td><td>0</td>"));
    assert!(html.contains("<th scope=\"row\">Reisepass beantragen</th><td>2</td>"));
    assert!(html.contains("<th scope=\"row\">Schnellschalter</th><td>1</td>"));
    assert!(
        html.contains("/schalter/bergkamen/statistik.csv?from=2026-11-02&#38;to=2026-11-08&#38;period=day"),
        "{html}"
    );
    // The CSV behind the link.
    let csv = get("/schalter/bergkamen/statistik.csv?from=2026-11-02&to=2026-11-08&period=week")
        .await
        .expect("csv");
    assert_eq!(csv.status().as_u16(), 200);
    assert!(
        csv.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .is_ok_and(|value| value.contains("statistik-bergkamen-2026-11-02-2026-11-08.csv"))
    );
    assert!(
        csv.text()
            .await
            .expect("text")
            .contains(",office,\"\",\"Bürgerbüro Bergkamen\",4,2,1,1,")
    );
    // A range the page cannot show: it says why, with the default range.
    let bad = get("/schalter/bergkamen/statistik?from=2026-11-08&to=2026-11-02")
        .await
        .expect("page");
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await.expect("html").contains("höchstens 366 Tage"));
}

async fn a_called_number_is_recalled_and_shows_as_the_latest_call(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let store = store::open(&app.database.url, 2).expect("open store");
    // Today, whatever the hour: placed in the store, not through the
    // opening hours. Two citizens, at two counters.
    let now = Utc::now();
    for (code, counter, start) in [
        ("RKAB-2345", "platz-1", now + TimeDelta::minutes(1)),
        ("RKAB-2346", "platz-2", now + TimeDelta::minutes(2)),
    ] {
        place(
            &store,
            Placed {
                code,
                counter,
                concerns: &["personalausweis"],
                channel: Channel::Online,
                start,
                minutes: 1,
                created_at: now - TimeDelta::days(1),
                pending: false,
                steps: &[],
            },
        )
        .await;
    }
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let same_day = |at: DateTime<Utc>| at.with_timezone(&chrono_tz::Europe::Berlin).date_naive() == today;
    if !same_day(now + TimeDelta::minutes(3)) {
        // Midnight in Berlin between now and the appointments: not today.
        return;
    }
    let post = |path: String, body: Value| {
        let request = app.http.post(app.url(&path)).bearer_auth(STAFF_API_TOKEN).json(&body);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let recall = |code: &str| format!("/api/v1/staff/offices/bergkamen/bookings/{code}/recall");
    // Not called yet: nothing to recall.
    let (status, error) = post(recall("RKAB-2345"), json!({})).await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("invalid_transition")));
    let (status, _) = post(recall("NQQQ-2222"), json!({})).await;
    assert_eq!(status, 404);
    let mut called_at = Vec::new();
    for (code, counter) in [("RKAB-2345", "platz-1"), ("RKAB-2346", "platz-2")] {
        let (status, arrived) = post(
            format!("/api/v1/staff/offices/bergkamen/bookings/{code}/status"),
            json!({ "status": "checked_in" }),
        )
        .await;
        assert_eq!(status, 200, "{arrived}");
        let (status, called) = post(
            format!("/api/v1/staff/offices/bergkamen/counters/{counter}/call-next"),
            json!({}),
        )
        .await;
        assert_eq!((status, &called["code"]), (200, &json!(code)), "{called}");
        called_at.push(called["called_at"].as_str().expect("called_at").to_owned());
    }
    let mut board = BookingServiceClient::new(app.channel(&app.booking_url))
        .watch_board(amtstermin_proto::booking::v1::WatchBoardRequest {
            office_id: "bergkamen".to_owned(),
        })
        .await
        .expect("watch board")
        .into_inner();
    let first = board.message().await.expect("board").expect("a board");
    let numbers = |board: &amtstermin_proto::booking::v1::Board| -> Vec<String> {
        board.called.iter().map(|called| called.counter_id.clone()).collect()
    };
    assert_eq!(numbers(&first), ["platz-2", "platz-1"], "the latest call first");
    // Whole seconds tell calls apart on the display: wait for the next.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, recalled) = post(recall("RKAB-2345"), json!({})).await;
    assert_eq!((status, &recalled["status"]), (200, &json!("called")), "{recalled}");
    assert!(
        recalled["called_at"]
            .as_str()
            .is_some_and(|at| at > called_at[0].as_str())
    );
    let next = tokio::time::timeout(std::time::Duration::from_secs(3), board.message())
        .await
        .expect("the board changes within a second or so")
        .expect("board")
        .expect("a board");
    assert_eq!(
        numbers(&next),
        ["platz-1", "platz-2"],
        "the recalled number is the latest"
    );
    let history = store.history("bergkamen", "RKAB-2345").await.expect("history");
    let recalls = history
        .iter()
        .filter(|entry| entry.from == Some(Status::Called) && entry.to == Status::Called)
        .count();
    assert_eq!(recalls, 1);
    // A recall leaves the statistics' first call where it was.
    let (status, done) = post(
        "/api/v1/staff/offices/bergkamen/bookings/RKAB-2345/status".to_owned(),
        json!({ "status": "completed" }),
    )
    .await;
    assert_eq!((status, &done["status"]), (200, &json!("completed")));
    let (status, error) = post(recall("RKAB-2345"), json!({})).await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("invalid_transition")));
}

/// The value of `attribute` on the first element that has it.
fn attribute<'a>(html: &'a str, attribute: &str) -> &'a str {
    let marker = format!("{attribute}=\"");
    let start = html.find(&marker).map(|at| at + marker.len()).expect(attribute);
    let end = html[start..].find('"').expect("closing quote");
    &html[start..start + end]
}

async fn an_open_calendar_hears_of_a_time_taken_and_given_back(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let page = app
        .http
        .get(app.url("/amt/bergkamen/kalender?anliegen=personalausweis"))
        .send()
        .await
        .expect("calendar");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    let shown = attribute(&html, "data-version").to_owned();
    let events_url = attribute(&html, "data-live-slots").replace("&#38;", "&");
    assert_eq!(
        events_url,
        "/amt/bergkamen/kalender/ereignisse?anliegen=personalausweis"
    );
    let mut events = app.http.get(app.url(&events_url)).send().await.expect("events");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let (first, _) = wait_for_event(&mut events, &mut buffer, "slots", |_| true)
        .await
        .expect("the free times as they are, at once");
    assert_eq!(first, shown, "the page and its events agree on what is free");

    let start = app.slots("bergkamen", "personalausweis").await["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("a free time")
        .to_owned();
    // Someone else takes a time: the calendar hears of it.
    let mut taken = Vec::new();
    for citizen in 0..4 {
        // Every counter that serves it, so the start itself is gone.
        let mut request = booking_request("bergkamen", &["personalausweis"], &start);
        request["email"] = json!(format!("live.{citizen}@example.de"));
        let (status, booked) = app.book(&request).await;
        if status != 201 {
            assert_eq!(status, 409, "{booked}");
            break;
        }
        taken.push(booked["code"].as_str().expect("code").to_owned());
    }
    assert!(!taken.is_empty());
    let (after_booking, took) = wait_for_event(&mut events, &mut buffer, "slots", |data| data != shown)
        .await
        .expect("the booking reaches the open calendar");
    println!("live slots: a booking reached the calendar after {took:?}");
    // Staff give the times back: they are free at once, and the calendar
    // is as it was.
    for code in &taken {
        let response = app
            .http
            .post(app.url(&format!("/api/v1/staff/offices/bergkamen/bookings/{code}/status")))
            .bearer_auth(STAFF_API_TOKEN)
            .json(&json!({ "status": "cancelled" }))
            .send()
            .await
            .expect("cancel");
        assert_eq!(response.status().as_u16(), 200);
    }
    let (given_back, took) = wait_for_event(&mut events, &mut buffer, "slots", |data| data == shown)
        .await
        .unwrap_or_else(|| panic!("the calendar is as before ({shown}), last heard {after_booking}"));
    assert_eq!(given_back, shown);
    println!("live slots: the cancellation reached the calendar after {took:?}");
    // Unknown concerns get no stream.
    let refused = app
        .http
        .get(app.url("/amt/bergkamen/kalender/ereignisse?anliegen=drachenzaehmung"))
        .send()
        .await
        .expect("events");
    assert_eq!(refused.status().as_u16(), 404);
}

async fn those_with_two_ahead_are_mailed_once_where_the_office_wants_it(backend: Backend) {
    let smtp = amtstermin_tests::smtp::SmtpServer::start().await;
    let config = config_with_mails_when_two_ahead();
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.availability.config_path = config.path.clone();
        smtp.url.clone_into(&mut settings.booking.mail.transport);
    })
    .await
    else {
        return;
    };
    let store = store::open(&app.database.url, 2).expect("open store");
    let now = Utc::now();
    let codes = ["NEXT-2222", "NEXT-2223", "NEXT-2224", "NEXT-2225", "NEXT-2226"];
    for (minutes, code) in (1..).zip(codes) {
        let start = now + TimeDelta::minutes(minutes);
        let new = NewBooking {
            office_id: "bergkamen".to_owned(),
            code: code.to_owned(),
            concern_ids: vec!["personalausweis".to_owned()],
            start,
            end: start + TimeDelta::minutes(1),
            name: format!("Person {code}"),
            email: format!("{}@example.de", code.to_lowercase()),
            phone: String::new(),
            token_hash: code.as_bytes().to_vec(),
            idempotency: None,
            channel: Channel::Online,
            actor: "citizen".to_owned(),
            notifications: Vec::new(),
            created_at: now - TimeDelta::days(1),
            quota: None,
            language: "de".to_owned(),
            confirm_by: None,
        };
        let reserved = store
            .reserve(&new, &["platz-1".to_owned()], None)
            .await
            .expect("reserve");
        assert!(matches!(reserved, Reservation::Created { .. }));
    }
    let berlin = |at: DateTime<Utc>| at.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    if berlin(now) != berlin(now + TimeDelta::minutes(6)) {
        // Midnight in Berlin before the appointments: not today's.
        return;
    }
    let post = |path: String, body: Value| {
        let request = app.http.post(app.url(&path)).bearer_auth(STAFF_API_TOKEN).json(&body);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut numbers = Vec::new();
    for code in codes {
        let (status, arrived) = post(
            format!("/api/v1/staff/offices/bergkamen/bookings/{code}/status"),
            json!({ "status": "checked_in" }),
        )
        .await;
        assert_eq!(status, 200, "{arrived}");
        numbers.push(arrived["waiting_number"].as_str().expect("number").to_owned());
    }
    let call = "/api/v1/staff/offices/bergkamen/counters/platz-1/call-next".to_owned();
    let subjects = |count: usize| {
        let smtp = &smtp;
        async move {
            let mut subjects: Vec<(String, String)> = smtp
                .wait_for(count)
                .await
                .iter()
                .map(|mail| {
                    let subject = mail
                        .data
                        .lines()
                        .find_map(|line| line.strip_prefix("Subject: "))
                        .unwrap_or_default()
                        .to_owned();
                    (mail.to.join(",").replace(['<', '>'], ""), subject)
                })
                .collect();
            subjects.sort();
            subjects
        }
    };
    // The first is called: the next three have at most two ahead.
    let (status, called) = post(call.clone(), json!({})).await;
    assert_eq!((status, &called["code"]), (200, &json!(codes[0])));
    let mailed = subjects(3).await;
    let to: Vec<&str> = mailed.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(
        to,
        ["next-2223@example.de", "next-2224@example.de", "next-2225@example.de"],
        "{mailed:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 3, "the fifth has three ahead: no mail yet");
    // The next call: now the fifth has two ahead; nobody is mailed twice.
    let (status, _) = post(call.clone(), json!({})).await;
    assert_eq!(status, 200);
    let mailed = subjects(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 4, "one mail each");
    assert!(mailed.iter().any(|(to, _)| to == "next-2226@example.de"), "{mailed:?}");
    let mail = smtp
        .received()
        .into_iter()
        .find(|mail| mail.to.iter().any(|to| to.contains("next-2226@example.de")))
        .expect("the fifth's mail");
    assert!(mail.data.contains(&numbers[4]), "the mail names the waiting number");
}
