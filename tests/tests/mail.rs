//! Notification mails end to end: a real SMTP listener receives what the
//! booking service's outbox worker sends.

use amtstermin_tests::smtp::{Received, SmtpServer};
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request};
use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use sqlx::Connection;

backend_tests!(
    confirmation_move_and_cancellation_mails_say_everything_in_german,
    a_mail_server_that_is_down_delays_mails_but_never_fails_a_booking,
    the_reminder_goes_out_when_it_is_due,
    a_pending_booking_is_binding_only_with_the_link_from_its_mail,
    a_booking_in_english_gets_its_mails_in_english
);

/// A mail as read by a mail program.
struct Mail {
    to: String,
    subject: String,
    message_id: String,
    text: String,
    attachment: Option<(String, String)>,
    /// Names and contents of the images attached.
    images: Vec<(String, Vec<u8>)>,
}

fn read(received: &Received) -> Mail {
    let message = MessageParser::default()
        .parse(received.data.as_bytes())
        .expect("a parsable mail");
    let attachment = message.attachments().next().map(|part| {
        (
            part.attachment_name().unwrap_or_default().to_owned(),
            String::from_utf8_lossy(part.contents()).into_owned(),
        )
    });
    let images = message
        .attachments()
        .filter(|part| part.content_type().is_some_and(|kind| kind.ctype() == "image"))
        .map(|part| {
            (
                part.attachment_name().unwrap_or_default().to_owned(),
                part.contents().to_vec(),
            )
        })
        .collect();
    Mail {
        images,
        to: message
            .to()
            .and_then(|to| to.first())
            .and_then(|address| address.address())
            .unwrap_or_default()
            .to_owned(),
        subject: message.subject().unwrap_or_default().to_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        text: message.body_text(0).map(|text| text.into_owned()).unwrap_or_default(),
        attachment,
    }
}

/// Slots two or more days ahead, so a 24-hour reminder is still to come.
async fn later_starts(app: &TestApp, n: usize) -> Vec<String> {
    let slots = app.slots("bergkamen", "personalausweis").await;
    let today = Utc::now().date_naive();
    slots["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter(|day| {
            NaiveDate::parse_from_str(day["date"].as_str().unwrap_or(""), "%Y-%m-%d")
                .is_ok_and(|date| (date - today).num_days() >= 2)
        })
        .flat_map(|day| day["slots"].as_array().into_iter().flatten())
        .take(n)
        .map(|slot| slot["start"].as_str().expect("start").to_owned())
        .collect()
}

/// Runs a statement on the booking database (see `TestApp::sql`).
async fn sql(app: &TestApp, statement: String) -> i64 {
    app.sql(statement).await
}

/// Pending reminder mails of a booking, read straight from the outbox.
async fn pending_reminders(app: &TestApp, code: &str) -> i64 {
    sql(
        app,
        format!(
            "SELECT COUNT(*) FROM mail_outbox WHERE code = '{code}' AND kind = 'reminder' \
             AND sent_at IS NULL AND failed_at IS NULL"
        ),
    )
    .await
}

async fn confirmation_move_and_cancellation_mails_say_everything_in_german(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let starts = later_starts(&app, 3).await;
    let (status, booking) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &starts[0]))
        .await;
    assert_eq!(status, 201, "{booking}");
    let code = booking["code"].as_str().expect("code").to_owned();
    let token = booking["token"].as_str().expect("token").to_owned();

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["<erika.mustermann@example.de>"]);
    let mail = read(&mails[0]);
    assert_eq!(mail.to, "erika.mustermann@example.de");
    assert!(
        mail.message_id.starts_with(&format!("bergkamen.{code}.confirmation.")) && mail.message_id.contains('@'),
        "a stable Message-ID: {:?}",
        mail.message_id
    );
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(&starts[0])
        .expect("start")
        .with_timezone(&Utc);
    let local = start.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        mail.subject,
        format!(
            "Terminbestätigung Bürgerbüro Bergkamen – {}",
            local.format("%d.%m.%Y, %H:%M Uhr")
        )
    );
    for expected in [
        "Guten Tag Erika Mustermann,".to_owned(),
        "Ihr Termin ist verbindlich gebucht.".to_owned(),
        format!("Buchungscode: {code}"),
        format!("Uhrzeit: {} –", local.format("%H:%M")),
        "Ort: Bürgerbüro Bergkamen, Rathausplatz 1, 59192 Bergkamen".to_owned(),
        "Anliegen: Personalausweis beantragen".to_owned(),
        "Bitte bringen Sie mit:".to_owned(),
        "- Aktuelles biometrisches Passfoto".to_owned(),
        "- Personalausweis beantragen: 37,00 €".to_owned(),
        format!("https://termine.bergkamen.example/termin/{code}?token={token}"),
        "Zeigen Sie den QR-Code".to_owned(),
    ] {
        assert!(mail.text.contains(&expected), "{expected:?} missing in:\n{}", mail.text);
    }
    // The QR code for the kiosk, as a PNG image.
    let [(name, png)] = mail.images.as_slice() else {
        panic!(
            "one image attached: {:?}",
            mail.images.iter().map(|(name, _)| name).collect::<Vec<_>>()
        );
    };
    assert_eq!(name, &format!("einchecken-{code}.png"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (name, ics) = mail.attachment.expect("a calendar attachment");
    assert_eq!(name, format!("termin-{code}.ics"));
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(ics.contains(&format!("DTSTART:{}\r\n", start.format("%Y%m%dT%H%M%SZ"))));
    assert!(ics.contains("STATUS:CONFIRMED"));
    assert_eq!(pending_reminders(&app, &code).await, 1, "a reminder is queued");

    let response = app
        .http
        .post(app.url(&format!("/api/v1/bookings/{code}/reschedule")))
        .bearer_auth(&token)
        .json(&json!({ "start": starts[2] }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let mails = smtp.wait_for(2).await;
    let moved = read(&mails[1]);
    assert!(
        moved.subject.starts_with("Termin verschoben: Bürgerbüro Bergkamen"),
        "{}",
        moved.subject
    );
    assert!(moved.text.contains("Es gilt die neue Zeit"));
    assert!(
        moved.text.contains(&token),
        "the citizen's own move carries the manage link"
    );
    assert_eq!(
        pending_reminders(&app, &code).await,
        1,
        "one reminder, for the new time"
    );

    let response = app
        .http
        .delete(app.url(&format!("/api/v1/bookings/{code}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 204);
    let mails = smtp.wait_for(3).await;
    let cancelled = read(&mails[2]);
    assert!(
        cancelled.images.is_empty(),
        "no check-in code for a cancelled appointment"
    );
    assert!(
        cancelled.subject.starts_with("Termin abgesagt"),
        "{}",
        cancelled.subject
    );
    assert!(
        cancelled
            .attachment
            .is_some_and(|(_, ics)| ics.contains("STATUS:CANCELLED"))
    );
    assert_eq!(
        pending_reminders(&app, &code).await,
        0,
        "no reminder for a cancelled appointment"
    );
}

async fn a_mail_server_that_is_down_delays_mails_but_never_fails_a_booking(backend: Backend) {
    let smtp = SmtpServer::start().await;
    smtp.set_accepting(false);
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let starts = later_starts(&app, 1).await;
    let (status, booking) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &starts[0]))
        .await;
    assert_eq!(status, 201, "the booking does not wait for mail: {booking}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(smtp.received().is_empty());
    smtp.set_accepting(true);
    let mails = smtp.wait_for(1).await;
    assert!(read(&mails[0]).text.contains(booking["code"].as_str().expect("code")));
}

async fn the_reminder_goes_out_when_it_is_due(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let starts = later_starts(&app, 1).await;
    let (_, booking) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &starts[0]))
        .await;
    let code = booking["code"].as_str().expect("code").to_owned();
    smtp.wait_for(1).await;
    // Bring the reminder's time forward, as if the day before had come.
    let epoch = if app.database.url.starts_with("sqlite:") {
        "0"
    } else {
        "'epoch'"
    };
    sql(
        &app,
        format!("UPDATE mail_outbox SET next_attempt_at = {epoch} WHERE code = '{code}' AND kind = 'reminder'"),
    )
    .await;
    let mails = smtp.wait_for(2).await;
    let reminder = read(&mails[1]);
    assert!(
        reminder.subject.starts_with("Erinnerung an Ihren Termin"),
        "{}",
        reminder.subject
    );
    assert!(reminder.text.contains(&format!("Buchungscode: {code}")));
    let token = booking["token"].as_str().expect("token");
    assert!(
        !reminder.text.contains(token),
        "only the confirmation carries the token"
    );
    // The worker marks the mail sent right after the server took it.
    let mut pending = pending_reminders(&app, &code).await;
    for _ in 0..50 {
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pending = pending_reminders(&app, &code).await;
    }
    assert_eq!(pending, 0);
}

/// The Standesamt (demo) wants online bookings confirmed by email within 30
/// minutes: the booking holds its time as `pending`; only the secret in the
/// mail confirms it (not the token the booking answer gave), and an
/// unconfirmed one is released.
async fn a_pending_booking_is_binding_only_with_the_link_from_its_mail(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let slots = app.slots("standesamt-bergkamen", "geburtsurkunde").await;
    let starts = amtstermin_tests::starts_of_a_day(&slots, 2);
    let start = |n: usize| starts[n].clone();
    let free_before = amtstermin_tests::free_at(&slots, &start(0));
    let (status, booking) = app
        .book(&booking_request("standesamt-bergkamen", &["geburtsurkunde"], &start(0)))
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["status"], "pending");
    assert!(booking["confirm_by"].as_str().is_some(), "{booking}");
    let code = booking["code"].as_str().expect("code").to_owned();
    let token = booking["token"].as_str().expect("token").to_owned();
    // The time is held.
    let held = app.slots("standesamt-bergkamen", "geburtsurkunde").await;
    assert_eq!(amtstermin_tests::free_at(&held, &start(0)), free_before - 1);

    let mail = read(&smtp.wait_for(1).await[0]);
    assert!(mail.subject.starts_with("Bitte bestätigen"), "{}", mail.subject);
    let link = mail
        .text
        .lines()
        .find(|line| line.contains("/bestaetigen?token="))
        .expect("a confirmation link")
        .trim()
        .to_owned();
    let secret = link.rsplit_once("token=").expect("secret").1.to_owned();
    assert_ne!(secret, token);
    let confirm = |with: String| {
        let (app, code) = (&app, &code);
        async move {
            let response = app
                .http
                .post(app.url(&format!("/api/v1/bookings/{code}/confirm")))
                .bearer_auth(with)
                .send()
                .await
                .expect("confirm");
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // The booking's own token (which a script has from the answer) does not confirm.
    assert_eq!(confirm(token.clone()).await.0, 404);
    let (status, confirmed) = confirm(secret.clone()).await;
    assert_eq!((status, &confirmed["status"]), (200, &json!("booked")), "{confirmed}");
    assert!(confirmed["confirm_by"].is_null());
    assert_eq!(confirm(secret).await.0, 200, "confirming twice changes nothing");
    let mails = smtp.wait_for(2).await;
    assert!(read(&mails[1]).subject.starts_with("Terminbestätigung"));

    // An unconfirmed booking is released once its time is up.
    let (status, second) = app
        .book(&booking_request("standesamt-bergkamen", &["geburtsurkunde"], &start(1)))
        .await;
    assert_eq!((status, &second["status"]), (201, &json!("pending")));
    let second_code = second["code"].as_str().expect("code").to_owned();
    expire(&app, &second_code).await;
    let mut released = false;
    for _ in 0..60 {
        let (_, now) = app
            .get_json_with_token(
                &format!("/api/v1/bookings/{second_code}"),
                second["token"].as_str().expect("token"),
            )
            .await;
        if now["status"] == "cancelled" {
            released = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(released, "the unconfirmed booking is released");
}

/// Moves a pending booking's deadline into the past, as if time had passed.
async fn expire(app: &TestApp, code: &str) {
    let past = Utc::now() - chrono::TimeDelta::minutes(1);
    if app.database.url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&app.database.url)
            .await
            .expect("database");
        sqlx::query("UPDATE bookings SET confirm_by = $1 WHERE code = $2")
            .bind(past.timestamp())
            .bind(code)
            .execute(&mut db)
            .await
            .expect("expire");
    } else {
        let mut db = sqlx::PgConnection::connect(&app.database.url).await.expect("database");
        sqlx::query("UPDATE bookings SET confirm_by = $1 WHERE code = $2")
            .bind(past)
            .bind(code)
            .execute(&mut db)
            .await
            .expect("expire");
    }
}

async fn a_booking_in_english_gets_its_mails_in_english(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let starts = later_starts(&app, 1).await;
    let mut request = booking_request("bergkamen", &["personalausweis"], &starts[0]);
    request["language"] = json!("en");
    let (status, booking) = app.book(&request).await;
    assert_eq!(status, 201, "{booking}");
    let mails = smtp.wait_for(1).await;
    let mail = read(&mails[0]);
    assert!(
        mail.subject
            .starts_with("Appointment confirmation Bürgerbüro Bergkamen – "),
        "{}",
        mail.subject
    );
    for expected in [
        "Hello Erika Mustermann,",
        "Your appointment is booked.",
        "Concerns: Apply for an identity card",
        "Please bring:",
        "- Current identity card or passport",
        "- Apply for an identity card: €37.00 (under 24: €22.80)",
        "View, move or cancel the appointment:",
        "Kind regards",
    ] {
        assert!(mail.text.contains(expected), "{expected:?} in\n{}", mail.text);
    }
    assert!(!mail.text.contains("Guten Tag"), "nothing German but names");
    let (_, calendar) = mail.attachment.expect("the calendar file");
    let calendar = calendar.replace("\r\n ", "");
    assert!(
        calendar.contains("Booking code:") && calendar.contains("Please bring:"),
        "the calendar entry in English too: {calendar}"
    );
}
