//! The public website's server side: pages, protection of its forms, errors
//! for people. (The full path runs in a real browser: tests/browser.)

use amtstermin_tests::{Backend, TestApp};

async fn page(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    fetch(app, reqwest::Method::GET, path, None).await
}

/// A page fetched as a browser asks for it.
async fn browser_page(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    fetch(app, method, path, Some("text/html,application/xhtml+xml")).await
}

async fn fetch(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap_or_default(), headers)
}

#[tokio::test]
async fn pages_are_german_html_with_security_headers() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, headers) = page(&app, "/amt/bergkamen").await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html"))
    );
    let policy = headers["content-security-policy"].to_str().expect("csp");
    assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(body.contains("<html lang=\"de\">"));
    assert!(body.contains("Zum Inhalt springen"));
    assert!(body.contains("Pass- und Ausweisangelegenheiten"));
    // Links out (the city's website) are fine; nothing is loaded from elsewhere.
    assert!(
        !body.contains("src=\"http") && !body.contains("<link rel=\"stylesheet\" href=\"http"),
        "no external resources"
    );
    let (status, css, headers) = page(&app, "/static/style.css").await;
    assert_eq!(
        (status, headers["content-type"].to_str().ok()),
        (200, Some("text/css; charset=utf-8"))
    );
    assert!(css.contains("--focus"));
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let response = app
        .http
        .post(app.url("/amt/bergkamen/buchen"))
        .form(&[
            ("name", "Erika"),
            ("email", "e@example.de"),
            ("consent", "ja"),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("Formular ist abgelaufen")
    );
    let response = app
        .http
        .post(app.url("/termin/ABCD-EFGH/absagen"))
        .header("cookie", "amtstermin_csrf=0123456789abcdef0123456789abcdef")
        .form(&[("csrf", "fedcba9876543210fedcba9876543210"), ("token", "x")])
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status().as_u16(),
        400,
        "a token from another browser does not count"
    );
}

#[tokio::test]
async fn people_get_pages_not_codes_when_something_is_wrong() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, _) = page(&app, "/termin/ABCD-EFGH?token=falsch").await;
    assert_eq!(status, 404);
    assert!(body.contains("Zu diesem Link gibt es keinen Termin"));
    let (status, _, _) = page(&app, "/amt/nirgendwo").await;
    assert_eq!(status, 404);
    let (status, body, _) = page(&app, "/amt/bergkamen/auswahl?anzahl_personalausweis=0").await;
    assert_eq!(status, 400);
    assert!(body.contains("mindestens ein Anliegen"));
    let (status, body, _) = page(&app, "/amt/bergkamen/auswahl?anzahl_personalausweis=5").await;
    assert_eq!(status, 400);
    assert!(body.contains("mehr Personen"), "max_persons is 4");
    let response = app
        .http
        .get(app.url("/amt/bergkamen/auswahl?anzahl_personalausweis=2"))
        .send()
        .await
        .expect("request");
    assert!(
        response.url().path().ends_with("/kalender"),
        "redirected to the calendar"
    );
    let body = response.text().await.unwrap_or_default();
    assert!(body.contains("Personalausweis beantragen (2 Personen)"));
    assert!(body.contains("40 Minuten"));
}

#[tokio::test]
async fn the_concern_step_is_ticks_then_persons_only_where_asked() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, _) = page(&app, "/amt/bergkamen").await;
    assert_eq!(status, 200);
    assert!(body.contains("Häufig gewählt"), "the most asked for first");
    assert!(
        body.contains(r#"name="anliegen" value="personalausweis""#),
        "concerns are ticked, not counted"
    );
    assert!(!body.contains(r#"type="number""#), "no number fields on the first step");
    assert!(body.contains("<details"), "categories open on demand");
    assert!(!body.contains("Kinderreisepass"), "abolished on 1 January 2024");

    // A concern for one person only goes straight to the calendar.
    let response = app
        .http
        .get(app.url("/amt/bergkamen/auswahl?anliegen=allgemeine-beratung"))
        .send()
        .await
        .expect("request");
    assert!(response.url().path().ends_with("/kalender"), "{}", response.url());

    // One that may bring more asks how many, once even if ticked twice.
    let (status, body, _) = page(
        &app,
        "/amt/bergkamen/auswahl?anliegen=personalausweis&anliegen=personalausweis&anliegen=allgemeine-beratung",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Für wie viele Personen?"));
    assert_eq!(body.matches(r#"name="personen_personalausweis""#).count(), 1);
    assert!(
        !body.contains("personen_allgemeine-beratung"),
        "asked only where it matters"
    );
    assert_eq!(body.matches(r#"<option value="#).count(), 4, "max_persons is 4");

    let response = app
        .http
        .get(app.url(
            "/amt/bergkamen/auswahl?anliegen=personalausweis&anliegen=allgemeine-beratung&personen_personalausweis=2",
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.url().query(),
        Some("anliegen=personalausweis%2Cpersonalausweis%2Callgemeine-beratung")
    );
    let calendar = response.text().await.unwrap_or_default();
    assert!(calendar.contains("Personalausweis beantragen (2 Personen)"));
    // Back from the calendar keeps the answer.
    assert!(
        calendar.contains(
            "/amt/bergkamen/auswahl?fragen=1&#38;anliegen=personalausweis%2Callgemeine-beratung&#38;personen_personalausweis=2"
        ),
        "the back link returns to the persons question"
    );
    let (status, body, _) = page(
        &app,
        "/amt/bergkamen/auswahl?fragen=1&anliegen=personalausweis&personen_personalausweis=2",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"<option value="2" selected>"#));

    let (status, body, _) = page(
        &app,
        "/amt/bergkamen/auswahl?anliegen=personalausweis&personen_personalausweis=9",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("mehr Personen"));
}

#[tokio::test]
async fn the_calendar_offers_the_next_free_time_and_says_what_to_bring() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, _) = page(&app, "/amt/bergkamen/kalender?anliegen=anmeldung-wohnsitz").await;
    assert_eq!(status, 200);
    assert!(body.contains("Nächster freier Termin"));
    assert!(body.contains("/amt/bergkamen/buchen?anliegen=anmeldung-wohnsitz&#38;start="));
    assert!(
        body.contains("Wohnungsgeberbestätigung"),
        "documents before booking: {body}"
    );
    // The form, the step before the binding booking, says it too.
    let start = first_free(&app, "anmeldung-wohnsitz").await;
    let (status, body, _) = page(
        &app,
        &format!(
            "/amt/bergkamen/buchen?anliegen=anmeldung-wohnsitz&start={}",
            start.replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Bitte bringen Sie mit") && body.contains("Wohnungsgeberbestätigung"));
}

#[tokio::test]
async fn browsers_get_german_error_pages_and_api_clients_json() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, headers) = browser_page(&app, reqwest::Method::GET, "/impressum-gibt-es-nicht").await;
    assert_eq!(status, 404);
    assert!(
        headers["content-type"]
            .to_str()
            .is_ok_and(|kind| kind.starts_with("text/html"))
    );
    assert!(body.contains("Seite nicht gefunden") && body.contains("<html lang=\"de\">"));
    let (status, body, _) = page(&app, "/impressum-gibt-es-nicht").await;
    assert_eq!(status, 404);
    assert!(body.contains(r#""code":"not_found""#), "no Accept: text/html, JSON");
    let (status, body, _) = browser_page(&app, reqwest::Method::GET, "/api/v1/gibt-es-nicht").await;
    assert_eq!(status, 404);
    assert!(
        body.contains(r#""code":"not_found""#),
        "the API answers JSON to browsers too"
    );
    let (status, body, _) = browser_page(&app, reqwest::Method::DELETE, "/amt/bergkamen").await;
    assert_eq!(status, 405);
    assert!(body.contains("Das geht hier nicht"));

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, location) in [
        ("/amt/bergkamen/", "/amt/bergkamen"),
        ("/amt/bergkamen/?suche=pass", "/amt/bergkamen?suche=pass"),
        ("/favicon.ico", "/static/favicon.svg"),
    ] {
        let response = no_redirects.get(app.url(path)).send().await.expect("request");
        assert!(response.status().is_redirection(), "{path}: {}", response.status());
        assert_eq!(response.headers()["location"], location, "{path}");
    }
    let response = no_redirects
        .get(app.url("//evil.example/"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404, "no redirect off the site");
    let (status, _, headers) = page(&app, "/static/favicon.svg").await;
    assert_eq!(
        (status, headers["content-type"].to_str().ok()),
        (200, Some("image/svg+xml"))
    );
}

const CSRF: &str = "0123456789abcdef0123456789abcdef";

/// The first free start for one person with `concern` at the demo office.
async fn first_free(app: &TestApp, concern: &str) -> String {
    let slots = app.slots("bergkamen", concern).await;
    slots["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("a free time")
        .to_owned()
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("cookie", format!("amtstermin_csrf={CSRF}"))
        .form(form)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_booking_form_names_every_mistake_at_once() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let start = first_free(&app, "meldebescheinigung").await;
    let response = post_form(
        &app,
        "/amt/bergkamen/buchen",
        &[
            ("csrf", CSRF),
            ("anliegen", "meldebescheinigung"),
            ("start", &start),
            ("name", "Erika Mustermann"),
            ("email", "erika@mustermann"),
            ("phone", "ruf mich an"),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    let body = response.text().await.unwrap_or_default();
    for expected in [
        "E-Mail-Adresse wie name@beispiel.de",
        "Telefonnummer darf nur",
        "Datenschutzhinweise",
    ] {
        assert!(body.contains(expected), "{expected} in the first round: {body}");
    }
}

#[tokio::test]
async fn the_confirmation_reads_calmly_and_a_cancelled_booking_leads_to_a_new_one() {
    // No public URL: the manage link uses the address the citizen came to.
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| settings.gateway.public_url = None).await else {
        return;
    };
    let start = first_free(&app, "meldebescheinigung").await;
    let (status, booking) = app
        .book(&amtstermin_tests::booking_request(
            "bergkamen",
            &["meldebescheinigung"],
            &start,
        ))
        .await;
    assert_eq!(status, 201, "{booking}");
    let code = booking["code"].as_str().expect("code");
    let token = booking["token"].as_str().expect("token");
    let path = format!("/termin/{code}?token={token}&neu=1");
    let response = app
        .http
        .get(app.url(&path))
        .header("host", "termine.example:8443")
        .send()
        .await
        .expect("request");
    let body = response.text().await.unwrap_or_default();
    assert!(
        body.contains(&format!(
            "value=\"http://termine.example:8443/termin/{code}?token={token}\""
        )),
        "the manage link on the request's host: {body}"
    );
    let main = body.split("<main").nth(1).unwrap_or_default();
    assert_eq!(
        main.matches(&format!(">{code}<")).count(),
        1,
        "the code shown once: {main}"
    );
    assert!(!main.contains("<dt>Buchungscode"));
    assert!(!main.contains("Status"), "no status line after booking");
    assert!(
        main.contains("erika.mustermann@example.de"),
        "where the confirmation went"
    );
    let documents = main.find("Bitte bringen Sie mit").expect("documents");
    let moving = main.find("Termin verschieben").expect("move");
    let cancelling = main.find("Termin absagen").expect("cancel");
    assert!(
        documents < moving && moving < cancelling,
        "documents first, cancelling last"
    );

    // Moving starts in the calendar, whose way back leads to the booking.
    let (_, calendar, _) = page(
        &app,
        &format!("/amt/bergkamen/kalender?anliegen=meldebescheinigung&termin={code}&token={token}"),
    )
    .await;
    assert!(
        calendar.contains(&format!(
            r#"<a href="/termin/{code}?token={token}">← Zurück zum Termin</a>"#
        )),
        "the back link says where it leads"
    );
    let response = post_form(
        &app,
        &format!("/termin/{code}/absagen"),
        &[("csrf", CSRF), ("token", token)],
    )
    .await;
    let body = response.text().await.unwrap_or_default();
    assert!(body.contains("Ihr Termin wurde abgesagt"));
    assert!(body.contains(r#"href="/amt/bergkamen">Neuen Termin buchen"#), "{body}");
}

#[tokio::test]
async fn the_legal_pages_come_from_the_configuration() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |settings| settings.booking.retention_days = 14).await else {
        return;
    };
    let (status, body, _) = page(&app, "/impressum").await;
    assert_eq!(status, 200);
    for expected in [
        "Digitale-Dienste-Gesetz",
        "Stadt Bergkamen, Rathausplatz 1, 59192 Bergkamen",
        "Der Bürgermeister",
        "Bürgerbüro Bergkamen, Standesamt Bergkamen",
    ] {
        assert!(body.contains(expected), "imprint: {expected}");
    }
    let (status, body, _) = page(&app, "/datenschutz").await;
    assert_eq!(status, 200);
    for expected in [
        "Art. 6 Abs. 1 Buchst. e",
        "14 Tage nach dem Termin",
        "Datenschutzbeauftragte der Stadt Bergkamen",
        "Landesbeauftragte für Datenschutz und Informationsfreiheit Nordrhein-Westfalen",
        "Art. 15",
        "Art. 77",
    ] {
        assert!(body.contains(expected), "privacy: {expected}");
    }
    assert!(
        !body.contains("30 Tage"),
        "the retention as configured, not a fixed text"
    );
    let (status, body, _) = page(&app, "/barrierefreiheit").await;
    assert_eq!(status, 200);
    for expected in [
        "am Dienstag, 24. November 2026 erstellt",
        "mailto:buergerbuero@bergkamen.example",
        "Ombudsstelle für barrierefreie Informationstechnik des Landes Nordrhein-Westfalen",
    ] {
        assert!(body.contains(expected), "accessibility: {expected}");
    }
    // Every page names the operator and links back to its website; an
    // office's pages say how to reach it.
    let (_, body, _) = page(&app, "/amt/bergkamen").await;
    assert!(body.contains(r#"<a class="operator" href="https://www.bergkamen.example">Stadt Bergkamen</a>"#));
    assert!(
        body.contains(r#"<a href="tel:023079650">02307 965-0</a>"#),
        "the phone number, dialable"
    );
    assert!(body.contains("Öffnungszeiten") && body.contains("Donnerstag 8:00 bis 12:30 und 14:00 bis 18:00 Uhr"));
    assert!(body.contains(r#"href="/impressum""#));
}

#[tokio::test]
async fn a_form_sent_again_with_another_address_shows_the_booking_it_made() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let start = first_free(&app, "meldebescheinigung").await;
    let send = |email: &'static str| {
        let start = start.clone();
        let app = &app;
        async move {
            post_form(
                app,
                "/amt/bergkamen/buchen",
                &[
                    ("csrf", CSRF),
                    ("anliegen", "meldebescheinigung"),
                    ("start", &start),
                    ("name", "Erika Mustermann"),
                    ("email", email),
                    ("consent", "ja"),
                ],
            )
            .await
        }
    };
    let first = send("erika@tippfehler.example").await;
    assert!(first.url().path().starts_with("/termin/"), "booked: {}", first.url());
    let code = first.url().path().trim_start_matches("/termin/").to_owned();
    // Back, the address corrected, sent again: the same form.
    let again = send("erika@mustermann.example").await;
    assert_eq!(again.status().as_u16(), 409);
    let body = again.text().await.unwrap_or_default();
    assert!(body.contains("Mit diesem Formular haben Sie schon gebucht"), "{body}");
    assert!(body.contains(&code), "which booking");
    assert!(body.contains("erika@tippfehler.example"), "where its confirmation went");
    assert!(
        body.contains(&format!("/termin/{code}?token=")),
        "a way to it, to cancel"
    );
    assert!(!body.contains("Diese Anfrage ist ungültig"));
}

#[tokio::test]
async fn the_calendar_starts_today_and_explains_every_day() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (status, body, _) = page(&app, "/amt/bergkamen/kalender?anliegen=meldebescheinigung").await;
    assert_eq!(status, 200);
    assert!(body.contains("So lesen Sie den Kalender"), "a legend in words");
    assert!(body.contains(", heute"), "today is marked");
    assert!(body.contains(": geschlossen</span>"), "Sundays say they are closed");
    assert!(!body.contains("line-through"), "no crossed-out past");
    // The month of today comes first, even late in the month.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let first_month = body.find("<h2 id=\"monat-").expect("a month");
    assert!(body[first_month..].starts_with(&format!("<h2 id=\"monat-{}\"", today.format("%Y-%m"))));
    // A chosen day's times come in the morning and the afternoon.
    let slots = app.slots("bergkamen", "meldebescheinigung").await;
    let day = slots["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|day| day["slots"].as_array().is_some_and(|slots| slots.len() > 20))
        .expect("a day with many times");
    let date = day["date"].as_str().expect("date");
    let (_, body, _) = page(
        &app,
        &format!("/amt/bergkamen/kalender?anliegen=meldebescheinigung&tag={date}"),
    )
    .await;
    assert!(body.contains("<h3>Vormittag</h3>"), "times grouped");
}

#[tokio::test]
async fn english_is_a_choice_the_browser_remembers() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let (_, german, _) = page(&app, "/amt/bergkamen").await;
    assert!(german.contains("<html lang=\"de\">"));
    assert!(german.contains(r#"href="/amt/bergkamen?lang=en" hreflang="en" lang="en">English</a>"#));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let chosen = no_redirects
        .get(app.url("/amt/bergkamen?suche=pass&lang=en"))
        .send()
        .await
        .expect("request");
    assert_eq!(chosen.status().as_u16(), 303);
    assert_eq!(
        chosen.headers()["location"],
        "/amt/bergkamen?suche=pass",
        "the same page, without the choice"
    );
    let cookie = chosen.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    let elsewhere = no_redirects
        .get(app.url("//evil.example/?lang=en"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        elsewhere.headers()["location"],
        "/",
        "the choice never leads off the site"
    );
    let api = no_redirects
        .get(app.url("/api/v1/offices?lang=en"))
        .send()
        .await
        .expect("request");
    assert_eq!(api.status().as_u16(), 200, "the API ignores a lang parameter");
    assert!(cookie.starts_with("amtstermin_sprache=en;") && cookie.contains("Max-Age=31536000"));
    let english = |path: &str| {
        app.http
            .get(app.url(path))
            .header("cookie", "amtstermin_sprache=en")
            .header("accept", "text/html")
            .send()
    };
    let body = english("/amt/bergkamen")
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(body.contains("<html lang=\"en\">"));
    for expected in [
        "Most requested",
        "Apply for an identity card",
        "about 20 minutes",
        "Certifications",
        "Deutsch",
    ] {
        assert!(body.contains(expected), "start page in English: {expected}");
    }
    assert!(!body.contains("Häufig gewählt"));
    let body = english("/amt/bergkamen/kalender?anliegen=anmeldung-wohnsitz")
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    for expected in [
        "Next free appointment",
        "How to read the calendar",
        "Landlord's confirmation",
        "title=\"Monday\">Mo</abbr>",
    ] {
        assert!(
            body.contains(expected) || body.contains(&expected.replace('\'', "&#39;")),
            "calendar in English: {expected}"
        );
    }
    let response = english("/gibt-es-nicht").await.expect("page");
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.text().await.unwrap_or_default().contains("Page not found"));
}

#[tokio::test]
async fn the_kiosk_checks_in_by_code_or_says_why_not() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let kiosk = |code: String| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/einchecken/bergkamen"))
                .header("cookie", format!("amtstermin_csrf={CSRF}"))
                .form(&[("csrf", CSRF), ("code", code.as_str())])
                .send()
                .await
                .expect("request");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    };
    let (status, body, _) = page(&app, "/einchecken/bergkamen").await;
    assert_eq!(status, 200);
    assert!(body.contains("Buchungscode"));
    assert!(body.contains("Ohne Termin?"), "walk-ins allowed here");
    let (_, registry_kiosk, _) = page(&app, "/einchecken/standesamt-bergkamen").await;
    assert!(
        !registry_kiosk.contains("Ohne Termin?"),
        "but not at the registry office"
    );
    let walk_in = |office: &'static str, concern: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url(&format!("/einchecken/{office}/ohne-termin")))
                .header("cookie", format!("amtstermin_csrf={CSRF}"))
                .form(&[("csrf", CSRF), ("anliegen", concern)])
                .send()
                .await
                .expect("request");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    };
    let (status, body) = walk_in("bergkamen", "allgemeine-beratung").await;
    match status {
        200 => assert!(body.contains(r#"<p class="waiting-number">W-"#), "{body}"),
        // Late in the day nothing is free any more.
        409 => assert!(
            body.contains("Heute ist für dieses Anliegen keine Zeit mehr frei"),
            "{body}"
        ),
        other => panic!("{other}: {body}"),
    }
    assert_eq!(walk_in("bergkamen", "drachenzaehmung").await.0, 404);
    assert_eq!(walk_in("standesamt-bergkamen", "geburtsurkunde").await.0, 404);

    let (status, body) = kiosk("ABCD-EFGH".to_owned()).await;
    assert_eq!(status, 409);
    assert!(body.contains("Zu diesem Code gibt es keinen Termin"), "{body}");

    // A booking of the other office, and one days ahead.
    let registry = app.slots("standesamt-bergkamen", "geburtsurkunde").await;
    let start = registry["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("free")
        .to_owned();
    let (_, other) = app
        .book(&amtstermin_tests::booking_request(
            "standesamt-bergkamen",
            &["geburtsurkunde"],
            &start,
        ))
        .await;
    let (status, body) = kiosk(other["code"].as_str().expect("code").to_owned()).await;
    assert_eq!(status, 409);
    assert!(body.contains("Ihr Termin ist bei: Standesamt Bergkamen"), "{body}");

    let slots = app.slots("bergkamen", "meldebescheinigung").await;
    let later = slots["days"]
        .as_array()
        .expect("days")
        .iter()
        // A later day of the office's calendar (its local date, not UTC's).
        .find(|day| {
            let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Berlin);
            day["date"].as_str() > Some(&*today.format("%Y-%m-%d").to_string())
        })
        .and_then(|day| day["slots"][0]["start"].as_str())
        .expect("a free time on a later day")
        .to_owned();
    let (_, ahead) = app
        .book(&amtstermin_tests::booking_request(
            "bergkamen",
            &["meldebescheinigung"],
            &later,
        ))
        .await;
    let code = ahead["code"].as_str().expect("code").to_owned();
    let (status, body) = kiosk(code.to_lowercase()).await;
    assert_eq!(status, 409);
    assert!(body.contains("nicht heute, sondern am"), "{body}");

    // Checked in at the desk already: the kiosk shows the number drawn.
    let checked_in = app
        .http
        .post(app.url(&format!("/api/v1/staff/offices/bergkamen/bookings/{code}/status")))
        .bearer_auth(amtstermin_tests::STAFF_API_TOKEN)
        .json(&serde_json::json!({ "status": "checked_in" }))
        .send()
        .await
        .expect("request")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    let number = checked_in["waiting_number"].as_str().expect("number").to_owned();
    assert!(number.starts_with("T-"), "{number}");
    let (status, body) = kiosk(code).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(r#"<p class="waiting-number">{number}</p>"#)),
        "{body}"
    );
}
