//! Protection against scripts, end to end: rate limits per client address
//! (as the trusted proxy forwards it), as JSON for the API and as a German
//! page for the website.

use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request};
use serde_json::Value;

backend_tests!(
    a_script_on_one_address_is_stopped_after_a_handful_while_others_book,
    an_address_makes_at_most_the_office_s_daily_quota_of_online_bookings,
);

/// Starts of the window's first slots for a 10-minute concern.
async fn starts(app: &TestApp, count: usize) -> Vec<String> {
    let slots = app.slots("bergkamen", "meldebescheinigung").await;
    slots["days"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|day| day["slots"].as_array().into_iter().flatten())
        .filter_map(|slot| slot["start"].as_str().map(str::to_owned))
        .take(count)
        .collect()
}

/// What a script that solves the proof of work sends back: the ALTCHA
/// payload of `challenge`, in base64.
fn solve(challenge: &Value) -> String {
    use base64::Engine;
    let parsed: altcha_lib_rs::Challenge = serde_json::from_value(challenge.clone()).expect("a challenge");
    let number = altcha_lib_rs::solve_challenge(
        &parsed.challenge,
        &parsed.salt,
        Some(parsed.algorithm),
        Some(parsed.maxnumber),
        0,
    )
    .expect("solvable");
    let payload = serde_json::json!({
        "algorithm": "SHA-256",
        "challenge": parsed.challenge,
        "number": number,
        "salt": parsed.salt,
        "signature": parsed.signature,
    });
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

/// Books `start` as the client at `address` with its own email address.
async fn book_as(app: &TestApp, address: &str, start: &str, n: usize) -> (u16, Option<String>, Value) {
    book_solving(app, address, start, n, None).await
}

async fn book_solving(
    app: &TestApp,
    address: &str,
    start: &str,
    n: usize,
    altcha: Option<String>,
) -> (u16, Option<String>, Value) {
    let mut body = booking_request("bergkamen", &["meldebescheinigung"], start);
    body["email"] = format!("person{n}@catch-all.example").into();
    if let Some(altcha) = altcha {
        body["altcha"] = altcha.into();
    }
    let response = app
        .http
        .post(app.url("/api/v1/bookings"))
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

async fn a_script_on_one_address_is_stopped_after_a_handful_while_others_book(backend: Backend) {
    let Some(app) = TestApp::spawn_protected(backend).await else {
        return;
    };
    let allowed = amtstermin_tests::default_protection().bookings_per_hour as usize;
    let starts = starts(&app, allowed + 8).await;
    let (mut booked, mut challenged, mut limited) = (0, 0, 0);
    for (n, start) in starts.iter().take(allowed + 4).enumerate() {
        let (mut status, mut retry_after, mut body) = book_as(&app, "198.51.100.7", start, n).await;
        if status == 428 {
            // A script may do the work: it is asked for more each time.
            challenged += 1;
            assert_eq!(body["error"]["code"], "challenge_required", "{body}");
            let solution = solve(&body["error"]["challenge"]);
            (status, retry_after, body) = book_solving(&app, "198.51.100.7", start, n, Some(solution)).await;
        }
        match status {
            201 => booked += 1,
            429 => {
                limited += 1;
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                let seconds: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
                assert!(seconds > 0 && seconds <= 3_600, "{seconds}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((booked, limited), (allowed, 4));
    // The first two went through without a challenge (adaptive), the rest
    // were asked before they could even meet the rate limit.
    assert!(challenged >= allowed - 2, "{challenged}");
    // Citizens on other addresses are not affected.
    for (n, start) in starts.iter().skip(allowed + 4).enumerate() {
        let (status, _, body) = book_as(&app, &format!("203.0.113.{}", n + 1), start, 100 + n).await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn an_address_makes_at_most_the_office_s_daily_quota_of_online_bookings(backend: Backend) {
    // Rate limits off: the quota alone, as a patient script meets it.
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let quota = 10; // config/offices.toml: max_online_bookings_per_address_per_day
    let starts = starts(&app, quota + 2).await;
    for (n, start) in starts.iter().take(quota).enumerate() {
        let (status, _, body) = book_as(&app, "198.51.100.30", start, n).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, retry_after, body) = book_as(&app, "198.51.100.30", &starts[quota], quota).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &serde_json::json!("quota_reached")),
        "{body}"
    );
    let seconds: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(seconds > 23 * 3600 && seconds <= 24 * 3600, "{seconds}");
    let (status, _, body) = book_as(&app, "198.51.100.31", &starts[quota], quota + 1).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn slot_reads_are_limited_per_address_and_the_website_says_when_to_return() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.gateway.protection.slot_reads_per_minute = 3;
    })
    .await
    else {
        return;
    };
    let read = |address: &'static str, path: &'static str| {
        let app = &app;
        async move {
            app.http
                .get(app.url(path))
                .header("x-forwarded-for", address)
                .send()
                .await
                .expect("request")
        }
    };
    let api = "/api/v1/offices/bergkamen/slots?concerns=meldebescheinigung";
    for _ in 0..3 {
        assert_eq!(read("198.51.100.8", api).await.status().as_u16(), 200);
    }
    let refused = read("198.51.100.8", api).await;
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "rate_limited");

    // The same address on the website: a German page, not JSON.
    let page = read("198.51.100.8", "/amt/bergkamen/kalender?anliegen=meldebescheinigung").await;
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.expect("page");
    assert!(html.contains("Zu viele Anfragen"), "{html}");
    assert!(html.contains("Minute"), "{html}");

    // Another citizen reads on.
    assert_eq!(read("198.51.100.9", api).await.status().as_u16(), 200);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.gateway.protection.slot_reads_per_minute = 2;
        settings.gateway.protection.trusted_proxies = "none".parse().expect("no proxy");
    })
    .await
    else {
        return;
    };
    let api = app.url("/api/v1/offices/bergkamen/slots?concerns=meldebescheinigung");
    let mut statuses = Vec::new();
    for n in 0..3 {
        // Made-up addresses do not make a script many citizens.
        let response = app
            .http
            .get(&api)
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .send()
            .await
            .expect("request");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn a_session_signed_with_the_published_example_secret_is_refused() {
    use amtstermin_tests::{STAFF_LOGIN, STAFF_PASSWORD};
    use gateway::staff::{SESSION_COOKIE, Staff, StaffSettings};
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    // What anyone could mint from the old docker-compose.yml.
    let forger = Staff::load(&StaffSettings {
        accounts: format!(
            "{STAFF_LOGIN}:{}",
            gateway::staff::hash_password(STAFF_PASSWORD).expect("hash")
        ),
        session_secret: "change-me-to-a-long-random-secret-of-32-chars".to_owned(),
        demo: true,
        ..StaffSettings::default()
    })
    .expect("forger");
    let account = forger.file_account(STAFF_LOGIN).expect("account");
    let cookie = forger.session(account, &"0".repeat(32)).expect("cookie");
    let response = app
        .http
        .get(app.url("/api/v1/staff/offices/bergkamen/bookings"))
        .header("cookie", format!("{SESSION_COOKIE}={cookie}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn wrong_passwords_lock_the_login_and_the_address_out_for_a_while() {
    use amtstermin_tests::{STAFF_LOGIN, STAFF_PASSWORD};
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (csrf_cookie, csrf) = app.csrf().await;
    let sign_in = |address: &'static str, login: &'static str, password: &'static str| {
        let (app, csrf_cookie, csrf) = (&app, &csrf_cookie, &csrf);
        async move {
            let response = app
                .http
                .post(app.url("/schalter/anmelden"))
                .header("cookie", csrf_cookie)
                .header("x-forwarded-for", address)
                .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password)])
                .send()
                .await
                .expect("sign-in");
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            (status, retry_after, response.text().await.unwrap_or_default())
        }
    };
    for _ in 0..5 {
        assert_eq!(sign_in("198.51.100.20", STAFF_LOGIN, "falsch").await.0, 401);
    }
    // Now even the right password waits, and the page says for how long.
    let (status, retry_after, page) = sign_in("198.51.100.20", STAFF_LOGIN, STAFF_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    assert!(page.contains("Zu viele Fehlversuche"), "{page}");
    // The login is locked from everywhere; the address for every login.
    assert_eq!(sign_in("203.0.113.20", STAFF_LOGIN, STAFF_PASSWORD).await.0, 429);
    assert_eq!(sign_in("198.51.100.20", "otto", "egal").await.0, 429);
    // Someone else signing in elsewhere is not affected.
    assert_eq!(sign_in("203.0.113.21", "otto", "egal").await.0, 401);
}

#[tokio::test]
async fn answers_with_personal_data_are_not_stored_and_https_is_pinned() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let slots = app.slots("bergkamen", "meldebescheinigung").await;
    let start = slots["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("start")
        .to_owned();
    let (status, booking) = app
        .book(&booking_request("bergkamen", &["meldebescheinigung"], &start))
        .await;
    assert_eq!(status, 201);
    let code = booking["code"].as_str().expect("code");
    let token = booking["token"].as_str().expect("token");
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{code}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("booking");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    // The test stack's public address is https://…
    assert!(header("strict-transport-security").is_some_and(|value| value.starts_with("max-age=")));
    let page = app
        .http
        .get(app.url(&format!("/termin/{code}?token={token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(
        page.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let style = app.http.get(app.url("/static/style.css")).send().await.expect("style");
    assert_ne!(
        style.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

#[tokio::test]
async fn the_desk_over_plain_http_says_it_needs_https() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.gateway.public_url = Some("http://termine.bergkamen.example".to_owned());
    })
    .await
    else {
        return;
    };
    let get = |host: &'static str, proto: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = app.http.get(app.url("/schalter/anmelden")).header("host", host);
            if let Some(proto) = proto {
                request = request.header("x-forwarded-proto", proto);
            }
            let response = request.send().await.expect("page");
            let hsts = response.headers().contains_key("strict-transport-security");
            (
                response.status().as_u16(),
                hsts,
                response.text().await.unwrap_or_default(),
            )
        }
    };
    let (status, hsts, page) = get("termine.bergkamen.example", None).await;
    assert_eq!(status, 403);
    assert!(!hsts);
    assert!(page.contains("HTTPS"), "{page}");
    // Behind the TLS proxy (trusted: loopback) and on this machine it works.
    let (status, hsts, _) = get("termine.bergkamen.example", Some("https")).await;
    assert_eq!((status, hsts), (200, true));
    assert_eq!(get("localhost:8080", None).await.0, 200);
}
