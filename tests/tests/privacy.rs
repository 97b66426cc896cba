//! Logs never contain names, email addresses, phone numbers or tokens. This
//! test binary captures every log line of a whole booking life cycle (with
//! mails) and searches it for the personal data it used.

use std::io::Write;
use std::sync::{Arc, Mutex};

use amtstermin_tests::smtp::SmtpServer;
use amtstermin_tests::{Backend, TestApp, booking_request};
use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_or_token_reaches_the_logs() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        // Everything of ours at the most verbose level, the libraries at debug.
        .with_env_filter(EnvFilter::new(
            "debug,availability_service=trace,booking_service=trace,gateway=trace,amtstermin_proto=trace",
        ))
        .with_writer(captured.clone())
        .with_ansi(false)
        .init();

    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(Backend::Sqlite, &smtp.url).await else {
        return;
    };
    let slots = app.slots("bergkamen", "personalausweis").await;
    let starts: Vec<String> = slots["days"][2]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .take(2)
        .map(|slot| slot["start"].as_str().expect("start").to_owned())
        .collect();
    let mut request = booking_request("bergkamen", &["personalausweis"], &starts[0]);
    request["name"] = json!("Zacharias Privatmann");
    request["email"] = json!("zacharias.privat@example.de");
    request["phone"] = json!("+49 170 9876543");
    let (status, booking) = app.book(&request).await;
    assert_eq!(status, 201, "{booking}");
    let code = booking["code"].as_str().expect("code");
    let token = booking["token"].as_str().expect("token");

    let authorised =
        |method: reqwest::Method, path: String| app.http.request(method, app.url(&path)).bearer_auth(token);
    authorised(reqwest::Method::GET, format!("/api/v1/bookings/{code}"))
        .send()
        .await
        .expect("get");
    // The manage page carries the token in its address.
    app.http
        .get(app.url(&format!("/termin/{code}?token={token}")))
        .send()
        .await
        .expect("manage page");
    app.http
        .get(app.url(&format!("/api/v1/bookings/{code}/calendar.ics?token={token}")))
        .send()
        .await
        .expect("calendar");
    authorised(reqwest::Method::POST, format!("/api/v1/bookings/{code}/reschedule"))
        .json(&json!({ "start": starts[1] }))
        .send()
        .await
        .expect("reschedule");
    // Failing requests carry personal data too.
    let mut invalid = request.clone();
    invalid["email"] = json!("zacharias.privat@@example.de");
    app.book(&invalid).await;
    app.http
        .post(app.url("/api/v1/bookings"))
        .body(format!("{{\"name\": \"Zacharias Privatmann\", \"token\": \"{token}\""))
        .send()
        .await
        .expect("malformed");
    authorised(reqwest::Method::DELETE, format!("/api/v1/bookings/{code}"))
        .send()
        .await
        .expect("cancel");
    smtp.wait_for(3).await;
    drop(app);

    let logs = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf-8 logs");
    assert!(
        logs.contains("booked") && logs.contains("mail sent"),
        "the flow was logged:\n{logs}"
    );
    for secret in [
        "Zacharias",
        "Privatmann",
        "zacharias.privat",
        "example.de",
        "9876543",
        "+49 170",
        token,
    ] {
        assert!(!logs.contains(secret), "{secret:?} found in the logs");
    }
}
