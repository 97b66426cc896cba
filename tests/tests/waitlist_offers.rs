//! Offers of the waitlist: a time that becomes free is held for the first
//! entry in line and offered by mail; accepted it is a booking, declined or
//! expired it passes on; three offers end an entry; no mail in the quiet
//! hours; two replicas expiring one offer do it once.

use amtstermin_tests::smtp::SmtpServer;
use amtstermin_tests::{Backend, ChangedConfig, TestApp, backend_tests, booking_request, free_at, starts_of_a_day};
use booking_service::bookings::Status;
use booking_service::store::{self, StatusChange, StatusRequest};
use booking_service::waitlist::Handover;
use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::MessageParser;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    a_freed_time_is_held_for_the_first_in_line_and_accepting_books_it,
    a_declined_or_expired_offer_passes_on_and_the_third_ends_the_entry,
    no_offer_mail_goes_out_in_the_quiet_hours,
    two_replicas_expiring_one_offer_pass_it_on_once,
    a_moved_booking_offers_its_old_time_and_a_withdrawal_lets_it_go,
    a_new_day_goes_first_to_a_lottery_of_those_waiting_for_it,
    time_that_opens_otherwise_is_offered_to_the_first_in_line,
);

/// The demo offices with Bergkamen's offers mailed at any hour, so the
/// tests do not depend on the time they run at.
fn config_without_quiet_hours() -> ChangedConfig {
    ChangedConfig::new(
        "kiosk_walk_ins = true\n",
        "kiosk_walk_ins = true\nwaitlist_quiet_hours = \"\"\n",
    )
}

async fn spawn(backend: Backend, smtp: &SmtpServer, config: &ChangedConfig) -> Option<TestApp> {
    TestApp::spawn_with(backend, |settings| {
        settings.availability.config_path = config.path.clone();
        smtp.url.clone_into(&mut settings.booking.mail.transport);
    })
    .await
}

/// The subject and text of the latest mail to `email` whose subject starts
/// with `subject`, waiting up to ten seconds for it.
async fn mail(smtp: &SmtpServer, email: &str, subject: &str) -> (String, String) {
    mail_with(smtp, email, subject, "").await
}

/// As `mail`, of those whose text holds `text`.
async fn mail_with(smtp: &SmtpServer, email: &str, subject: &str, text: &str) -> (String, String) {
    let wanted = text;
    for _ in 0..200 {
        let found = smtp.received().into_iter().rev().find_map(|received| {
            if !received.to.iter().any(|to| to.contains(email)) {
                return None;
            }
            let message = MessageParser::default().parse(received.data.as_bytes())?;
            let title = message.subject().unwrap_or_default().to_owned();
            let text = message.body_text(0)?.into_owned();
            (title.starts_with(subject) && text.contains(wanted)).then_some((title, text))
        });
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail {subject:?} to {email}");
}

fn mails_to(smtp: &SmtpServer, email: &str) -> usize {
    smtp.received()
        .iter()
        .filter(|received| received.to.iter().any(|to| to.contains(email)))
        .count()
}

fn link(text: &str, marker: &str) -> String {
    text.lines()
        .find(|line| line.contains(marker))
        .map(|line| line.trim().to_owned())
        .unwrap_or_else(|| panic!("no {marker} link in {text}"))
}

fn secret(link: &str) -> String {
    link.rsplit_once("token=").expect("a token").1.to_owned()
}

struct Waiting {
    id: String,
    token: String,
    email: String,
}

/// An entry for `day` (any time), confirmed through its mail.
async fn waiting(app: &TestApp, smtp: &SmtpServer, email: &str, day: NaiveDate) -> Waiting {
    let body = json!({
        "concerns": ["personalausweis"],
        "from": day.to_string(),
        "to": day.to_string(),
        "name": "Wartende Person",
        "email": email,
    });
    let (status, entry) = app.join_waitlist("bergkamen", &body).await;
    assert_eq!(status, 201, "{entry}");
    let id = entry["id"].as_str().expect("id").to_owned();
    let (_, text) = mail(smtp, email, "Bitte bestätigen: Terminwecker").await;
    let confirm = secret(&link(&text, "/bestaetigen?token="));
    let (status, confirmed) = app
        .call(Method::POST, &format!("/api/v1/waitlist/{id}/confirm"), &confirm)
        .await;
    assert_eq!((status, &confirmed["status"]), (200, &json!("active")));
    Waiting {
        id,
        token: entry["token"].as_str().expect("token").to_owned(),
        email: email.to_owned(),
    }
}

async fn entry(app: &TestApp, waiting: &Waiting) -> Value {
    let path = format!("/api/v1/waitlist/{}", waiting.id);
    let (status, entry) = app.call(Method::GET, &path, &waiting.token).await;
    assert_eq!(status, 200, "{entry}");
    entry
}

async fn cancel(app: &TestApp, (code, token): &(String, String)) {
    let (status, body) = app
        .call(Method::DELETE, &format!("/api/v1/bookings/{code}"), token)
        .await;
    assert_eq!(status, 204, "{body}");
}

/// Some free starts of one day (at least `count`) and that local day.
async fn a_day_with(app: &TestApp, count: usize) -> (Vec<String>, NaiveDate) {
    let starts = starts_of_a_day(&app.slots("bergkamen", "personalausweis").await, count);
    let day = DateTime::parse_from_rfc3339(&starts[0])
        .expect("a start")
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    (starts, day)
}

fn same_instant(left: &Value, right: &str) -> bool {
    let parse = |text: &str| DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc));
    matches!((left.as_str().map(parse), parse(right)), (Some(Ok(left)), Ok(right)) if left == right)
}

/// An instant as the backend's SQL writes it.
fn sql_instant(app: &TestApp, at: DateTime<Utc>) -> String {
    if app.database.url.starts_with("sqlite:") {
        at.timestamp().to_string()
    } else {
        format!("to_timestamp({})", at.timestamp())
    }
}

async fn a_freed_time_is_held_for_the_first_in_line_and_accepting_books_it(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let config = config_without_quiet_hours();
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let (starts, day) = a_day_with(&app, 8).await;
    let start = &starts[0];
    // Every counter that can serve it is booked at this start.
    let counters = free_at(&app.slots("bergkamen", "personalausweis").await, start);
    let mut taken = Vec::new();
    for counter in 0..counters {
        taken.push(app.book_passport(start, &format!("anna{counter}@example.de")).await);
    }
    let booked = taken.pop().expect("a booking");
    let first = waiting(&app, &smtp, "erste@example.de", day).await;
    let second = waiting(&app, &smtp, "zweite@example.de", day).await;

    let began = std::time::Instant::now();
    cancel(&app, &booked).await;
    let took = began.elapsed();
    // The offer is made in the cancellation's transaction: there when it returns.
    let offered = entry(&app, &first).await;
    println!("waitlist ({backend:?}): cancellation answered, offer made and its mail queued, in {took:?}");
    let offer = &offered["offers"][0];
    assert_eq!(offer["status"], "offered", "{offered}");
    assert!(same_instant(&offer["start"], start), "{offer} for {start}");
    assert_eq!(offered["offers_made"], 1);
    assert_eq!(entry(&app, &second).await["offers"], json!([]));

    // Nobody else sees or gets the time.
    assert_eq!(free_at(&app.slots("bergkamen", "personalausweis").await, start), 0);
    let mut racing = booking_request("bergkamen", &["personalausweis"], start);
    racing["email"] = json!("schnell@example.de");
    let (status, refused) = app.book(&racing).await;
    // Refused by the calendar, or (had it not seen the hold yet) by the database.
    assert_eq!(status, 409, "{refused}");
    let code = refused["error"]["code"].as_str().unwrap_or_default();
    assert!(["slot_unavailable", "slot_taken"].contains(&code), "{refused}");

    // The mail: the time, what to bring, a link to accept and one to decline.
    let (subject, text) = mail(&smtp, &first.email, "Ein Termin für Sie:").await;
    assert!(subject.contains("Bürgerbüro Bergkamen"), "{subject}");
    assert!(text.contains("Reserviert bis"), "{text}");
    assert!(text.contains("Bitte bringen Sie mit"), "{text}");
    let offer_id = offer["id"].as_str().expect("offer id");
    let accept_link = link(&text, &format!("/warteliste/{}/angebot/{offer_id}?token=", first.id));
    let decline_link = link(&text, "/ablehnen?token=");
    let mail_secret = secret(&accept_link);
    assert_eq!(secret(&decline_link), mail_secret);
    // The mail's secret opens the entry, not someone else's offer.
    let accept_path = format!("/api/v1/waitlist/{}/offers/{offer_id}/accept", first.id);
    let (status, error) = app.call(Method::POST, &accept_path, &second.token).await;
    assert_eq!((status, &error["error"]["code"]), (404, &json!("offer_not_found")));
    let other = format!("/api/v1/waitlist/{}/offers/{offer_id}/accept", second.id);
    let (status, _) = app.call(Method::POST, &other, &mail_secret).await;
    assert_eq!(status, 404);

    // The same limits as any booking: an address that holds two upcoming
    // appointments cannot accept a third.
    let mut held = Vec::new();
    for other in [&starts[5], &starts[7]] {
        held.push(app.book_passport(other, &first.email).await);
    }
    let (status, error) = app.call(Method::POST, &accept_path, &mail_secret).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("limit_reached")),
        "{error}"
    );
    cancel(&app, &held[0]).await;

    // Accepting books it: answered as a booking, with its own token.
    let response = app
        .http
        .post(app.url(&accept_path))
        .bearer_auth(&mail_secret)
        .send()
        .await
        .expect("accept");
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers().get("location").cloned();
    let booking: Value = response.json().await.expect("booking");
    assert_eq!(booking["status"], "booked", "{booking}");
    assert!(same_instant(&booking["start"], start));
    let code = booking["code"].as_str().expect("code");
    assert_eq!(
        location.and_then(|value| value.to_str().ok().map(str::to_owned)),
        Some(format!("/api/v1/bookings/{code}"))
    );
    let token = booking["token"].as_str().expect("token");
    let (status, read) = app.call(Method::GET, &format!("/api/v1/bookings/{code}"), token).await;
    assert_eq!((status, &read["status"]), (200, &json!("booked")), "{read}");
    // Its confirmation mail, as for any booking.
    mail_with(&smtp, &first.email, "Terminbestätigung", code).await;

    let fulfilled = entry(&app, &first).await;
    assert_eq!(fulfilled["status"], "fulfilled", "{fulfilled}");
    assert_eq!(fulfilled["offers"][0]["status"], "accepted");
    assert_eq!(fulfilled["offers"][0]["code"], code);
    // Answered: accepting or declining again is refused.
    let (status, error) = app.call(Method::POST, &accept_path, &first.token).await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("offer_expired")));
    let decline_path = format!("/api/v1/waitlist/{}/offers/{offer_id}/decline", first.id);
    let (status, _) = app.call(Method::POST, &decline_path, &first.token).await;
    assert_eq!(status, 409);
}

async fn a_declined_or_expired_offer_passes_on_and_the_third_ends_the_entry(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let config = config_without_quiet_hours();
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let (starts, day) = a_day_with(&app, 4).await;
    let mut bookings = Vec::new();
    for (index, start) in starts.iter().take(3).enumerate() {
        bookings.push(app.book_passport(start, &format!("bucher{index}@example.de")).await);
    }
    let first = waiting(&app, &smtp, "erste@example.de", day).await;
    let second = waiting(&app, &smtp, "zweite@example.de", day).await;

    // Declined, the time goes at once to the next in line.
    cancel(&app, &bookings[0]).await;
    let offer = entry(&app, &first).await["offers"][0].clone();
    let offer_id = offer["id"].as_str().expect("offer id").to_owned();
    let decline = |waiting: &Waiting, offer: &str| format!("/api/v1/waitlist/{}/offers/{offer}/decline", waiting.id);
    let (status, _) = app.call(Method::POST, &decline(&first, &offer_id), &first.token).await;
    assert_eq!(status, 204);
    let after = entry(&app, &first).await;
    assert_eq!(
        (&after["status"], &after["offers"][0]["status"], &after["offers_made"]),
        (&json!("active"), &json!("declined"), &json!(1))
    );
    let passed = entry(&app, &second).await["offers"][0].clone();
    assert_eq!(passed["status"], "offered", "{passed}");
    assert_eq!(passed["start"], offer["start"]);

    // Not accepted in time, it expires and passes on: not back to the
    // first, who declined this time, so to nobody, and the public gets it.
    let past = sql_instant(&app, Utc::now() - chrono::TimeDelta::seconds(1));
    let passed_id = passed["id"].as_str().expect("offer id");
    app.sql(format!(
        "UPDATE waitlist_offers SET expires_at = {past} WHERE id = '{passed_id}'"
    ))
    .await;
    app.sql(format!(
        "UPDATE bookings SET confirm_by = {past} WHERE status = 'pending' AND code = \
         (SELECT code FROM waitlist_offers WHERE id = '{passed_id}')"
    ))
    .await;
    let mut expired = Value::Null;
    for _ in 0..200 {
        expired = entry(&app, &second).await;
        if expired["offers"][0]["status"] == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(expired["offers"][0]["status"], "expired", "{expired}");
    assert_eq!(expired["status"], "active");
    assert_eq!(entry(&app, &first).await["offers"].as_array().map(Vec::len), Some(1));
    let start = offer["start"].as_str().expect("start");
    let slots = app.slots("bergkamen", "personalausweis").await;
    assert!(
        slots["days"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|day| day["slots"].as_array().into_iter().flatten())
            .any(|slot| same_instant(&slot["start"], start)),
        "the expired time is open to everyone again"
    );
    // The expired hold sent no cancellation mail.
    assert_eq!(mails_to(&smtp, &second.email), 2, "confirmation and offer only");

    // Three offers end an entry: the first declines two more.
    for booking in &bookings[1..] {
        cancel(&app, booking).await;
        let now = entry(&app, &first).await;
        let open = now["offers"]
            .as_array()
            .and_then(|offers| offers.iter().find(|offer| offer["status"] == "offered"))
            .unwrap_or_else(|| panic!("an open offer in {now}"))["id"]
            .as_str()
            .expect("offer id")
            .to_owned();
        let (status, _) = app.call(Method::POST, &decline(&first, &open), &first.token).await;
        assert_eq!(status, 204);
    }
    let ended = entry(&app, &first).await;
    assert_eq!(
        (&ended["status"], &ended["offers_made"]),
        (&json!("ended"), &json!(3)),
        "{ended}"
    );
}

async fn no_offer_mail_goes_out_in_the_quiet_hours(backend: Backend) {
    let smtp = SmtpServer::start().await;
    // Quiet from an hour ago to an hour from now, local time.
    let local = Utc::now().with_timezone(&chrono_tz::Europe::Berlin);
    let hour = chrono::TimeDelta::hours(1);
    let quiet = format!("{}-{}", (local - hour).format("%H:%M"), (local + hour).format("%H:%M"));
    let config = ChangedConfig::new(
        "kiosk_walk_ins = true\n",
        &format!("kiosk_walk_ins = true\nwaitlist_quiet_hours = \"{quiet}\"\n"),
    );
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let (starts, day) = a_day_with(&app, 2).await;
    let booked = app.book_passport(&starts[0], "anna@example.de").await;
    let first = waiting(&app, &smtp, "erste@example.de", day).await;
    cancel(&app, &booked).await;
    // The time is held, but the mail waits for the end of the quiet hours,
    // and the hold counts from then.
    let offer = entry(&app, &first).await["offers"][0].clone();
    assert_eq!(offer["status"], "offered", "{offer}");
    let expires = DateTime::parse_from_rfc3339(offer["expires_at"].as_str().expect("expires_at"))
        .expect("an instant")
        .with_timezone(&Utc);
    assert!(
        expires > Utc::now() + hour,
        "held from the end of the quiet hours: {offer}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(mails_to(&smtp, &first.email), 1, "only the confirmation request so far");
}

async fn two_replicas_expiring_one_offer_pass_it_on_once(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let config = config_without_quiet_hours();
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let (starts, day) = a_day_with(&app, 2).await;
    let booked = app.book_passport(&starts[0], "anna@example.de").await;
    let first = waiting(&app, &smtp, "erste@example.de", day).await;
    let second = waiting(&app, &smtp, "zweite@example.de", day).await;
    cancel(&app, &booked).await;

    // Two replicas, each with its own pool, release the hold at once.
    let replicas = [
        store::open(&app.database.url, 2).expect("replica one"),
        store::open(&app.database.url, 2).expect("replica two"),
    ];
    let token_hash = booking_service::bookings::token_hash(&first.token).expect("token");
    let (_, offers) = replicas[0]
        .waitlist_entry(&first.id, &token_hash)
        .await
        .expect("read")
        .expect("the entry");
    let code = offers[0].code.clone();
    let catalogues = amtstermin_catalogue::Catalogues::new(app.service_channel(&app.availability_url));
    let office = catalogues.office("bergkamen").await.expect("office");
    let handover = Handover::of(&office, Utc::now());
    let expire = |replica: usize| {
        let (store, handover, code) = (&replicas[replica], &handover, code.as_str());
        async move {
            store
                .change_status(StatusRequest {
                    office_id: "bergkamen",
                    code,
                    to: Status::Cancelled,
                    actor: "system",
                    detail: Some("waitlist offer not accepted in time"),
                    at: Utc::now(),
                    notifications: &[],
                    waiting: None,
                    handover: Some(handover),
                })
                .await
                .expect("expire")
        }
    };
    let (one, two) = tokio::join!(expire(0), expire(1));
    let changed = [&one, &two]
        .iter()
        .filter(|outcome| matches!(outcome, StatusChange::Changed { .. }))
        .count();
    assert_eq!(changed, 1, "{one:?} {two:?}");
    let released = app
        .sql(format!(
            "SELECT COUNT(*) FROM booking_events WHERE code = '{code}' AND kind = 'released'"
        ))
        .await;
    assert_eq!(released, 1);
    assert_eq!(entry(&app, &first).await["offers"][0]["status"], "expired");
    let passed = entry(&app, &second).await;
    assert_eq!(passed["offers"].as_array().map(Vec::len), Some(1), "{passed}");
    assert_eq!(passed["offers"][0]["status"], "offered");
}

async fn a_moved_booking_offers_its_old_time_and_a_withdrawal_lets_it_go(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let config = config_without_quiet_hours();
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let (starts, day) = a_day_with(&app, 3).await;
    let (code, token) = app.book_passport(&starts[0], "anna@example.de").await;
    let first = waiting(&app, &smtp, "erste@example.de", day).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/bookings/{code}/reschedule")))
        .bearer_auth(&token)
        .json(&json!({ "start": starts[2] }))
        .send()
        .await
        .expect("move");
    assert_eq!(response.status().as_u16(), 200);
    let offered = entry(&app, &first).await;
    assert!(same_instant(&offered["offers"][0]["start"], &starts[0]), "{offered}");
    // Withdrawn with an offer open, the held time is let go at once.
    let free = free_at(&app.slots("bergkamen", "personalausweis").await, &starts[0]);
    let path = format!("/api/v1/waitlist/{}", first.id);
    assert_eq!(app.call(Method::DELETE, &path, &first.token).await.0, 204);
    let withdrawn = entry(&app, &first).await;
    assert_eq!(
        (&withdrawn["status"], &withdrawn["offers"][0]["status"]),
        (&json!("withdrawn"), &json!("declined")),
        "{withdrawn}"
    );
    let slots = app.slots("bergkamen", "personalausweis").await;
    assert_eq!(free_at(&slots, &starts[0]), free + 1);
}

/// The times of `day` free for staff (who see a new day before citizens),
/// with how many counters are free at each.
async fn staff_starts(app: &TestApp, day: NaiveDate) -> Vec<(DateTime<Utc>, u32)> {
    use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
    use amtstermin_proto::availability::v1::{Channel, ListSlotsRequest};
    let slots = AvailabilityServiceClient::new(app.channel(&app.availability_url))
        .list_slots(ListSlotsRequest {
            office_id: "bergkamen".to_owned(),
            concern_ids: vec!["personalausweis".to_owned()],
            from_date: day.to_string(),
            to_date: day.to_string(),
            channel: Channel::Foyer.into(),
            explain_unavailable_days: false,
        })
        .await
        .expect("slots")
        .into_inner();
    slots
        .days
        .iter()
        .flat_map(|day| &day.slots)
        .filter_map(|slot| {
            let start = slot
                .start
                .as_ref()
                .and_then(amtstermin_platform::timestamp::from_proto)?;
            Some((start, slot.free))
        })
        .collect()
}

async fn a_new_day_goes_first_to_a_lottery_of_those_waiting_for_it(backend: Backend) {
    use availability_service::holidays::{State, public_holiday};
    use chrono::Datelike;
    let smtp = SmtpServer::start().await;
    // The last day of the window will open in five minutes, so its lottery
    // will be due: a window whose new day is a working day with afternoon
    // hours and no holiday or closure.
    let now = Utc::now().with_timezone(&chrono_tz::Europe::Berlin);
    let release = now + chrono::TimeDelta::minutes(5);
    // The test moves the release time within one local day; in the last
    // three quarters of an hour before midnight it would cross into the next.
    if (now + chrono::TimeDelta::minutes(45)).date_naive() != now.date_naive() {
        eprintln!("skipped: too close to local midnight to move today's release time");
        return;
    }
    let window = (55..70)
        .find(|days| {
            let day = release.date_naive() + chrono::TimeDelta::days(*days);
            matches!(
                day.weekday(),
                chrono::Weekday::Mon | chrono::Weekday::Tue | chrono::Weekday::Thu
            ) && public_holiday(State::NW, day).is_none()
                && !matches!((day.month(), day.day()), (12, 24) | (12, 31))
        })
        .expect("a working day");
    let day = release.date_naive() + chrono::TimeDelta::days(window);
    let demo = "booking_window_days = 60\nmin_lead_minutes = 60\nslot_minutes = 10\n\
                # The 60th day opens every morning at seven, not at midnight.\nrelease_time = \"07:00\"\n";
    let released_at = |at: DateTime<chrono_tz::Tz>| {
        format!(
            "booking_window_days = {window}\nmin_lead_minutes = 60\nslot_minutes = 10\nrelease_time = \"{}\"\n\
             waitlist_quiet_hours = \"\"\n",
            at.format("%H:%M")
        )
    };
    // First the release is far: people join and confirm before the lottery.
    let config = ChangedConfig::new(demo, &released_at(release + chrono::TimeDelta::minutes(30)));
    let Some(app) = spawn(backend, &smtp, &config).await else {
        return;
    };
    let mut entries = Vec::new();
    for index in 0..3 {
        entries.push(waiting(&app, &smtp, &format!("los{index}@example.de"), day).await);
    }
    // Unconfirmed: no part in the lottery.
    let body = json!({
        "concerns": ["personalausweis"], "from": day.to_string(), "to": day.to_string(),
        "name": "Ohne Bestätigung", "email": "ohne@example.de",
    });
    let (_, unconfirmed) = app.join_waitlist("bergkamen", &body).await;
    // A replica claimed this lottery ten minutes ago and died drawing: its
    // claim has lapsed, so another takes it over.
    let lapsed = sql_instant(&app, Utc::now() - chrono::TimeDelta::minutes(10));
    app.sql(format!(
        "INSERT INTO waitlist_lotteries (office_id, day, drawn_at) VALUES ('bergkamen', '{day}', {lapsed})"
    ))
    .await;
    // Now the release is five minutes ahead.
    config.change(demo, &released_at(release));
    app.import_config(&config).await;
    let free = |starts: Vec<(DateTime<Utc>, u32)>| starts.iter().map(|(_, free)| free).sum::<u32>();
    let before = staff_starts(&app, day).await;
    let free_before = free(before.clone());
    assert!(free_before >= 10, "{day} is a working day");
    let slots = app.slots("bergkamen", "personalausweis").await;
    assert!(
        !slots["days"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|listed| listed["date"] == day.to_string()),
        "{day} is not released to the public yet"
    );

    // The lottery (every replica looks every few seconds) offers each one time of the day.
    let mut starts = Vec::new();
    for waiting in &entries {
        let mut offers = Value::Null;
        for _ in 0..400 {
            offers = entry(&app, waiting).await["offers"].clone();
            if offers.as_array().is_some_and(|offers| !offers.is_empty()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let offer = &offers[0];
        assert_eq!(offer["status"], "offered", "{offers}");
        let start = DateTime::parse_from_rfc3339(offer["start"].as_str().expect("start")).expect("an instant");
        assert_eq!(start.date_naive(), day, "{offer}");
        starts.push(start);
    }
    // Each held time goes to one entry: a start offered k times has k
    // counters fewer free.
    let free_at = |listed: &[(DateTime<Utc>, u32)], start: &chrono::DateTime<chrono::FixedOffset>| {
        listed
            .iter()
            .find(|(at, _)| at == start)
            .map_or(0, |(_, free)| usize::try_from(*free).unwrap_or(0))
    };
    let held = |listed: &[(DateTime<Utc>, u32)]| {
        starts.iter().all(|start| {
            let offered = starts.iter().filter(|other| *other == start).count();
            free_at(listed, start) + offered == free_at(&before, start)
        })
    };
    // The availability service hears of the holds through the change feed:
    // a moment after they commit.
    let mut after = staff_starts(&app, day).await;
    for _ in 0..100 {
        if held(&after) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = staff_starts(&app, day).await;
    }
    for start in &starts {
        let offered = starts.iter().filter(|other| *other == start).count();
        assert_eq!(free_at(&after, start) + offered, free_at(&before, start), "at {start}");
    }
    // Drawn once: another round of the replicas' loop offers nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    for waiting in &entries {
        assert_eq!(entry(&app, waiting).await["offers"].as_array().map(Vec::len), Some(1));
    }
    // (Near local midnight the day released before is drawn too, empty:
    // only this day's lottery counts here.)
    let finished = format!("SELECT COUNT(*) FROM waitlist_lotteries WHERE finished_at IS NOT NULL AND day = '{day}'");
    assert_eq!(app.sql(finished).await, 1);
    // The claim as replicas meet it: one at a time, taken over only once
    // lapsed, never again once finished.
    let store = store::open(&app.database.url, 2).expect("store");
    let now = Utc::now();
    let minutes = |minutes: i64| now + chrono::TimeDelta::minutes(minutes);
    let claim = |at| store.claim_lottery("bergkamen", "2099-01-01", at);
    assert!(claim(now).await.expect("claim"), "new");
    assert!(!claim(minutes(1)).await.expect("claim"), "held by the first");
    assert!(claim(minutes(3)).await.expect("claim"), "lapsed: taken over");
    store
        .finish_lottery("bergkamen", "2099-01-01", minutes(4))
        .await
        .expect("finish");
    assert!(!claim(minutes(10)).await.expect("claim"), "drawn");
    assert!(
        !store
            .claim_lottery("bergkamen", &day.to_string(), minutes(10))
            .await
            .expect("claim")
    );
    let id = unconfirmed["id"].as_str().expect("id");
    let token = unconfirmed["token"].as_str().expect("token");
    let (_, unconfirmed) = app.call(Method::GET, &format!("/api/v1/waitlist/{id}"), token).await;
    assert_eq!(unconfirmed["offers"], json!([]));
    // The rest is left for the public at the release.
    let free_after = free(staff_starts(&app, day).await);
    assert!(
        0 < free_after && free_after < free_before,
        "{free_after} of {free_before}"
    );
}

async fn time_that_opens_otherwise_is_offered_to_the_first_in_line(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let config = config_without_quiet_hours();
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.availability.config_path = config.path.clone();
        smtp.url.clone_into(&mut settings.booking.mail.transport);
        settings.booking.waitlist_match_seconds = 1;
    })
    .await
    else {
        return;
    };
    // Free time in the range (as after an absence was removed): the
    // matcher offers the first time the entry wants, mornings only here.
    let (_, day) = a_day_with(&app, 3).await;
    let body = json!({
        "concerns": ["personalausweis"], "from": day.to_string(), "to": day.to_string(),
        "time_of_day": "morning", "name": "Frühaufsteherin", "email": "frueh@example.de",
    });
    let (_, joined) = app.join_waitlist("bergkamen", &body).await;
    let (id, token) = (
        joined["id"].as_str().expect("id").to_owned(),
        joined["token"].as_str().expect("token").to_owned(),
    );
    // Unconfirmed, it waits for nothing.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let waiting = Waiting {
        id,
        token,
        email: "frueh@example.de".to_owned(),
    };
    assert_eq!(entry(&app, &waiting).await["offers"], json!([]));
    let (_, text) = mail(&smtp, &waiting.email, "Bitte bestätigen: Terminwecker").await;
    let confirm = secret(&link(&text, "/bestaetigen?token="));
    let path = format!("/api/v1/waitlist/{}/confirm", waiting.id);
    assert_eq!(app.call(Method::POST, &path, &confirm).await.0, 200);
    let mut offers = Value::Null;
    for _ in 0..200 {
        offers = entry(&app, &waiting).await["offers"].clone();
        if offers.as_array().is_some_and(|offers| !offers.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let start = DateTime::parse_from_rfc3339(offers[0]["start"].as_str().expect("an offer")).expect("an instant");
    let local = start.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.date_naive(), day);
    assert!(chrono::Timelike::hour(&local) < 12, "a morning: {offers}");
    let (_, text) = mail(&smtp, &waiting.email, "Ein Termin für Sie:").await;
    assert!(text.contains(&local.format("%H:%M").to_string()), "{text}");
    // One offer at a time: the next rounds make none.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(entry(&app, &waiting).await["offers"].as_array().map(Vec::len), Some(1));
}
