//! Prometheus metrics: the gateway's `/metrics` shows what the whole stack
//! did (one registry per process), and a service's own metrics listener
//! serves the same text.

use amtstermin_tests::{Backend, TestApp, booking_request};

/// The lines of metric `name` in a scrape that carry every label of `labels`.
fn lines<'a>(scrape: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    scrape
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect()
}

/// The value at the end of a sample line.
fn value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_counts_requests_bookings_and_grpc_calls() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let slots = app.slots("bergkamen", "allgemeine-beratung").await;
    let start = slots["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("a free time")
        .to_owned();
    let request = booking_request("bergkamen", &["allgemeine-beratung"], &start);
    assert_eq!(app.book(&request).await.0, 201);
    let mut again = request.clone();
    again["email"] = serde_json::json!("someone.else@example.de");
    // The same start again, until every counter is taken.
    let mut refused = false;
    for _ in 0..8 {
        if app.book(&again).await.0 == 409 {
            refused = true;
            break;
        }
    }
    assert!(refused, "a start has finitely many counters");

    let response = app.http.get(app.url("/metrics")).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("type").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let scrape = response.text().await.expect("text");

    let created = lines(
        &scrape,
        "amtstermin_http_requests_total",
        &[r#"route="/api/v1/bookings""#, r#"method="POST""#, r#"status="201""#],
    );
    assert_eq!(created.len(), 1, "{scrape}");
    assert!(value(created[0]) >= 1.0);
    assert!(!lines(&scrape, "amtstermin_http_requests_total", &[r#"status="409""#]).is_empty());
    assert!(
        !lines(
            &scrape,
            "amtstermin_http_request_duration_seconds_bucket",
            &[r#"route="/api/v1/offices/{office}/slots""#]
        )
        .is_empty(),
        "latency histograms by route template, never by concrete path"
    );
    let booked = lines(
        &scrape,
        "amtstermin_bookings_total",
        &[r#"office="bergkamen""#, r#"channel="online""#, r#"outcome="booked""#],
    );
    assert!(!booked.is_empty() && value(booked[0]) >= 1.0, "{scrape}");
    let refused = lines(&scrape, "amtstermin_bookings_total", &[r#"outcome="slot_unavailable""#]);
    assert!(!refused.is_empty(), "refusals count by their error code: {scrape}");
    let calls = lines(
        &scrape,
        "amtstermin_grpc_server_handled_total",
        &[r#"grpc_method="CreateBooking""#, r#"grpc_code="Ok""#],
    );
    assert!(!calls.is_empty(), "{scrape}");
    assert!(
        !lines(
            &scrape,
            "amtstermin_grpc_server_handling_seconds_bucket",
            &[r#"grpc_method="ListSlots""#]
        )
        .is_empty()
    );
    assert!(
        !lines(
            &scrape,
            "amtstermin_projection_delay_seconds_count",
            &[r#"office="bergkamen""#]
        )
        .is_empty()
    );
    assert!(
        !lines(
            &scrape,
            "amtstermin_projection_updated_timestamp_seconds",
            &[r#"office="bergkamen""#]
        )
        .is_empty()
    );
    assert!(!scrape.contains("erika"), "no personal data in metrics");

    // A service's own listener serves the same registry.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(amtstermin_platform::metrics::serve(listener, std::future::pending()));
    let own = app
        .http
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("scrape the listener");
    assert_eq!(own.status(), 200);
    let own = own.text().await.expect("text");
    assert!(
        !lines(
            &own,
            "amtstermin_grpc_server_handled_total",
            &[r#"grpc_method="CreateBooking""#]
        )
        .is_empty()
    );
    server.abort();
}
