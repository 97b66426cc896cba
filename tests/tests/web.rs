//! The public website's server side: pages, protection of its forms, errors
//! for people. (The full path runs in a real browser: tests/browser.)

use amtstermin_tests::{Backend, TestApp};

async fn page(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = app.http.get(app.url(path)).send().await.expect("request");
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
    assert!(!body.contains("https://"), "no external resources");
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
