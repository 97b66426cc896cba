//! The HTTP server as an attacker meets it: trickled headers are cut off, a
//! body that never comes times out, the number of connections has a cap, and
//! every refusal the application sees is JSON.

use std::time::{Duration, Instant};

use amtstermin_tests::{Backend, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return Some((started.elapsed(), String::from_utf8_lossy(&answer).into_owned())),
            Ok(Ok(read)) => answer.extend_from_slice(&buffer[..read]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_headers_and_missing_bodies_are_cut_off() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.gateway.http.header_timeout_seconds = 1;
        settings.gateway.http.request_timeout_seconds = 1;
    })
    .await
    else {
        return;
    };
    // Headers that never end.
    let mut slow = TcpStream::connect(address(&app)).await.expect("connect");
    slow.write_all(b"GET /api/v1/offices HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .expect("write");
    let (after, _) = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("closed by the server");
    assert!(after < Duration::from_secs(4), "{after:?}");

    // A body announced but never sent.
    let mut stalled = TcpStream::connect(address(&app)).await.expect("connect");
    stalled
        .write_all(b"POST /api/v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buffer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&buffer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.gateway.http.max_connections = 2;
    })
    .await
    else {
        return;
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(address(&app)).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buffer = [0u8; 1024];
        let read = stream.read(&mut buffer).await.expect("answer");
        assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut third = TcpStream::connect(address(&app)).await.expect("the kernel accepts");
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (_, answer) = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(answer.is_empty(), "{answer}");
    // Once one is given back, new connections are served again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn over_long_targets_and_headers_are_refused_in_json() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let long = app
        .http
        .get(app.url(&format!("/api/v1/offices?x={}", "a".repeat(10_000))))
        .send()
        .await
        .expect("request");
    assert_eq!(long.status().as_u16(), 414);
    let body: Value = long.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "uri_too_long");
    let mut request = app.http.get(app.url("/api/v1/offices"));
    for n in 0..20 {
        request = request.header(format!("x-filler-{n}"), "b".repeat(1_000));
    }
    let large = request.send().await.expect("request");
    assert_eq!(large.status().as_u16(), 431);
    let body: Value = large.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "headers_too_large");
}

#[tokio::test]
async fn a_malformed_header_line_is_dropped_and_the_answer_is_the_application_s() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let mut stream = TcpStream::connect(address(&app)).await.expect("connect");
    stream
        .write_all(b"GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\nthis is no header\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (_, answer) = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("answer");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("\"not_found\""), "{answer}");
}
