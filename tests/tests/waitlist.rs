//! The waitlist ("Terminwecker") through the public HTTP API: joining,
//! confirming with the mail's secret, reading, the limit per address,
//! withdrawing, and every refusal with its code.

use amtstermin_tests::smtp::SmtpServer;
use amtstermin_tests::{Backend, TestApp, backend_tests};
use chrono::{TimeDelta, Utc};
use mail_parser::MessageParser;
use serde_json::{Value, json};

backend_tests!(
    an_entry_takes_part_once_its_address_is_confirmed_by_mail,
    the_links_of_the_mail_lead_to_pages_that_confirm_and_withdraw,
    an_address_holds_at_most_two_entries_and_bad_wishes_are_refused,
    the_calendar_links_a_form_that_joins_without_javascript,
);

fn days_ahead(days: i64) -> String {
    (Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive() + TimeDelta::days(days)).to_string()
}

fn wish(email: &str) -> Value {
    json!({
        "concerns": ["personalausweis"],
        "from": days_ahead(7),
        "to": days_ahead(21),
        "time_of_day": "morning",
        "name": "Erika Mustermann",
        "email": email,
    })
}

async fn an_entry_takes_part_once_its_address_is_confirmed_by_mail(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let (status, entry) = app.join_waitlist("bergkamen", &wish("erika.wartet@example.de")).await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["status"], "unconfirmed");
    assert_eq!(
        (&entry["time_of_day"], &entry["offers_made"]),
        (&json!("morning"), &json!(0))
    );
    assert_eq!(entry["offers"], json!([]));
    assert_eq!(entry["confirmed_at"], Value::Null);
    let id = entry["id"].as_str().expect("id").to_owned();
    let token = entry["token"].as_str().expect("token").to_owned();

    // The mail asks to confirm, with a secret of its own.
    let received = smtp.wait_for(1).await;
    let message = MessageParser::default()
        .parse(received[0].data.as_bytes())
        .expect("a mail");
    let subject = message.subject().unwrap_or_default().to_owned();
    assert!(subject.starts_with("Bitte bestätigen: Terminwecker"), "{subject}");
    let text = message.body_text(0).map(|text| text.into_owned()).unwrap_or_default();
    assert!(text.contains("Anliegen: Personalausweis beantragen"), "{text}");
    assert!(text.contains("vormittags"), "{text}");
    let link = |marker: &str| {
        text.lines()
            .find(|line| line.contains(marker))
            .map(|line| line.trim().to_owned())
            .unwrap_or_else(|| panic!("no {marker} link in {text}"))
    };
    let confirm_link = link("/bestaetigen?token=");
    assert!(confirm_link.starts_with(&format!(
        "https://termine.bergkamen.example/warteliste/{id}/bestaetigen"
    )));
    let secret = confirm_link.rsplit_once("token=").expect("secret").1.to_owned();
    assert!(link(&format!("/warteliste/{id}?token=")).ends_with(&token));
    assert_ne!(secret, token);

    // The entry's own token does not confirm: only the mailbox does.
    let confirm = format!("/api/v1/waitlist/{id}/confirm");
    let (status, error) = app.call(reqwest::Method::POST, &confirm, &token).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("waitlist_entry_not_found"))
    );
    let (status, confirmed) = app.call(reqwest::Method::POST, &confirm, &secret).await;
    assert_eq!((status, &confirmed["status"]), (200, &json!("active")), "{confirmed}");
    let confirmed_at = confirmed["confirmed_at"].as_str().expect("confirmed_at").to_owned();
    assert!(confirmed.get("token").is_none(), "the token is answered once");
    // Again: harmless, and the place in the queue stays.
    let (status, again) = app.call(reqwest::Method::POST, &confirm, &secret).await;
    assert_eq!((status, &again["confirmed_at"]), (200, &json!(confirmed_at)));

    let entry_path = format!("/api/v1/waitlist/{id}");
    let (status, read) = app.call(reqwest::Method::GET, &entry_path, &token).await;
    assert_eq!((status, &read["status"]), (200, &json!("active")), "{read}");
    assert_eq!(read["email"], "erika.wartet@example.de");
    let (status, error) = app.call(reqwest::Method::GET, &entry_path, &secret).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("waitlist_entry_not_found"))
    );
    let anonymous = app.http.get(app.url(&entry_path)).send().await.expect("get");
    assert_eq!(anonymous.status().as_u16(), 404);

    // The desk sees one person waiting for a day in the range, none outside.
    let (session, _, _) = app.sign_in_at_desk().await;
    let desk = |day: String| {
        let request = app
            .http
            .get(app.url(&format!("/schalter/bergkamen?tag={day}")))
            .header("cookie", &session);
        async move { request.send().await.expect("desk").text().await.unwrap_or_default() }
    };
    let html = desk(days_ahead(10)).await;
    assert!(html.contains("Personalausweis beantragen: 1 Person wartet"), "{html}");
    let html = desk(days_ahead(30)).await;
    assert!(
        html.contains("Niemand wartet auf einen frei werdenden Termin"),
        "{html}"
    );

    // Withdrawn: the entry says so, withdrawing again changes nothing, and
    // it cannot be confirmed back.
    let response = app
        .http
        .delete(app.url(&entry_path))
        .bearer_auth(&token)
        .send()
        .await
        .expect("withdraw");
    assert_eq!(response.status().as_u16(), 204);
    let (_, read) = app.call(reqwest::Method::GET, &entry_path, &token).await;
    assert_eq!(read["status"], "withdrawn");
    let again = app
        .http
        .delete(app.url(&entry_path))
        .bearer_auth(&token)
        .send()
        .await
        .expect("withdraw again");
    assert_eq!(again.status().as_u16(), 204);
    let (status, error) = app.call(reqwest::Method::POST, &confirm, &secret).await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("invalid_transition")));
}

async fn an_address_holds_at_most_two_entries_and_bad_wishes_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (status, entry) = app.join_waitlist("bergkamen", &wish("Zwei.Mal+x@Example.de")).await;
        assert_eq!(status, 201, "{entry}");
        tokens.push((
            entry["id"].as_str().expect("id").to_owned(),
            entry["token"].as_str().expect("token").to_owned(),
        ));
    }
    // The same address, however written: the third waits for a place.
    let (status, error) = app.join_waitlist("bergkamen", &wish("zwei.mal@example.de")).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("limit_reached")),
        "{error}"
    );
    let (id, token) = &tokens[0];
    let withdrawn = app
        .http
        .delete(app.url(&format!("/api/v1/waitlist/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("withdraw");
    assert_eq!(withdrawn.status().as_u16(), 204);
    let (status, _) = app.join_waitlist("bergkamen", &wish("zwei.mal@example.de")).await;
    assert_eq!(status, 201, "a withdrawn entry frees its place");
    let (status, _) = app.join_waitlist("bergkamen", &wish("zwei.mal@example.de")).await;
    assert_eq!(status, 409, "two wait again");
    // An entry whose range is over has ended by itself, and frees its place.
    let (id, token) = &tokens[1];
    let yesterday = days_ahead(-1);
    app.sql(format!(
        "UPDATE waitlist_entries SET from_day = '{yesterday}', to_day = '{yesterday}' WHERE id = '{id}'"
    ))
    .await;
    let (status, ended) = app
        .call(reqwest::Method::GET, &format!("/api/v1/waitlist/{id}"), token)
        .await;
    assert_eq!((status, &ended["status"]), (200, &json!("ended")), "{ended}");
    let (status, _) = app.join_waitlist("bergkamen", &wish("zwei.mal@example.de")).await;
    assert_eq!(status, 201, "an ended entry frees its place");

    let refused = |change: fn(&mut Value), code: &'static str, status: u16| {
        let app = &app;
        async move {
            let mut body = wish("jemand@example.de");
            change(&mut body);
            let (answered, error) = app.join_waitlist("bergkamen", &body).await;
            assert_eq!(
                (answered, &error["error"]["code"]),
                (status, &json!(code)),
                "{body}: {error}"
            );
        }
    };
    refused(|body| body["from"] = json!(days_ahead(30)), "invalid_date", 400).await;
    refused(|body| body["to"] = json!(days_ahead(-3)), "invalid_date", 400).await;
    refused(|body| body["from"] = json!(days_ahead(200)), "invalid_date", 400).await;
    refused(|body| body["from"] = json!("morgen"), "invalid_date", 400).await;
    refused(|body| body["time_of_day"] = json!("nachts"), "invalid_argument", 400).await;
    refused(|body| body["email"] = json!("kein-at-zeichen"), "invalid_email", 400).await;
    refused(|body| body["name"] = json!(""), "invalid_name", 400).await;
    refused(
        |body| body["concerns"] = json!(["drachenzaehmung"]),
        "concern_not_found",
        404,
    )
    .await;
    refused(|body| body["concerns"] = json!([]), "concerns_required", 400).await;
    let (status, error) = {
        let response = app
            .http
            .post(app.url("/api/v1/offices/atlantis/waitlist"))
            .json(&wish("jemand@example.de"))
            .send()
            .await
            .expect("join");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!((status, &error["error"]["code"]), (404, &json!("office_not_found")));
}

async fn the_links_of_the_mail_lead_to_pages_that_confirm_and_withdraw(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = TestApp::spawn_with_mail(backend, &smtp.url).await else {
        return;
    };
    let (status, entry) = app.join_waitlist("bergkamen", &wish("seite@example.de")).await;
    assert_eq!(status, 201);
    let id = entry["id"].as_str().expect("id").to_owned();
    let token = entry["token"].as_str().expect("token").to_owned();
    let received = smtp.wait_for(1).await;
    let text = MessageParser::default()
        .parse(received[0].data.as_bytes())
        .and_then(|message| message.body_text(0).map(|text| text.into_owned()))
        .unwrap_or_default();
    let secret = text
        .lines()
        .find_map(|line| line.trim().split_once("/bestaetigen?token="))
        .map(|(_, secret)| secret.to_owned())
        .expect("the confirmation link");
    let page = |path: String| {
        let request = app.http.get(app.url(&path));
        async move {
            let response = request.send().await.expect("page");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    };
    // Following the link changes nothing: the page has a button.
    let (status, html) = page(format!("/warteliste/{id}/bestaetigen?token={secret}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("E-Mail-Adresse bestätigen"), "{html}");
    let (_, still) = app
        .call(reqwest::Method::GET, &format!("/api/v1/waitlist/{id}"), &token)
        .await;
    assert_eq!(still["status"], "unconfirmed");
    let (cookie, csrf) = app.csrf().await;
    let post = |path: String, secret: String| {
        let request = app
            .http
            .post(app.url(&path))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("token", secret.as_str())]);
        async move {
            let response = request.send().await.expect("post");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    };
    let (status, html) = post(format!("/warteliste/{id}/bestaetigen"), secret.clone()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Ihr Terminwecker ist aktiv"), "{html}");
    assert!(
        html.contains("Wer zuerst bestätigt hat") && !html.contains("mitbringen müssen"),
        "{html}"
    );
    assert!(
        html.contains("Personalausweis beantragen") && html.contains("vormittags"),
        "{html}"
    );
    // The entry's page, then withdrawn from it.
    let (status, html) = page(format!("/warteliste/{id}?token={token}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Terminwecker zurückziehen"), "{html}");
    let (status, html) = post(format!("/warteliste/{id}/zurueckziehen"), token.clone()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Ihr Terminwecker ist zurückgezogen"), "{html}");
    let (_, withdrawn) = app
        .call(reqwest::Method::GET, &format!("/api/v1/waitlist/{id}"), &token)
        .await;
    assert_eq!(withdrawn["status"], "withdrawn");
    // A wrong link: a page that says so.
    let (status, html) = page(format!("/warteliste/{id}?token={secret}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("keinen Terminwecker"), "{html}");
}

async fn the_calendar_links_a_form_that_joins_without_javascript(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let html = app
        .http
        .get(app.url("/amt/bergkamen/kalender?anliegen=personalausweis"))
        .send()
        .await
        .expect("calendar")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        html.contains(r#"href="/amt/bergkamen/terminwecker?anliegen=personalausweis""#),
        "{html}"
    );
    let form = app
        .http
        .get(app.url("/amt/bergkamen/terminwecker?anliegen=personalausweis"))
        .send()
        .await
        .expect("form");
    assert_eq!(form.status().as_u16(), 200);
    let html = form.text().await.unwrap_or_default();
    assert!(
        html.contains(&format!(r#"name="from" value="{}""#, days_ahead(0))),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"name="to" value="{}""#, days_ahead(60))),
        "{html}"
    );

    let (cookie, csrf) = app.csrf().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |fields: Vec<(&'static str, String)>| {
        let mut fields = fields;
        fields.extend([("csrf", csrf.clone()), ("anliegen", "personalausweis".to_owned())]);
        let request = no_redirects
            .post(app.url("/amt/bergkamen/terminwecker"))
            .header("cookie", &cookie)
            .form(&fields);
        async move {
            let response = request.send().await.expect("post");
            let location = response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            (
                response.status().as_u16(),
                location,
                response.text().await.unwrap_or_default(),
            )
        }
    };
    let filled = |from: String, to: String| {
        vec![
            ("from", from),
            ("to", to),
            ("time_of_day", "afternoon".to_owned()),
            ("name", "Wera Wecker".to_owned()),
            ("email", "wera@example.de".to_owned()),
            ("consent", "ja".to_owned()),
        ]
    };
    // Nothing filled in: every mistake at once, the form again.
    let (status, _, html) = post(Vec::new()).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("Vor- und Nachnamen an") && html.contains("Datenschutzhinweise gelesen haben"),
        "{html}"
    );
    // Days the window does not have: said next to the days.
    let (status, _, html) = post(filled(days_ahead(90), days_ahead(95))).await;
    assert_eq!(status, 400);
    assert!(html.contains("innerhalb der buchbaren Tage"), "{html}");
    // Joined: on to the entry's page, which asks to confirm by mail.
    let (status, location, _) = post(filled(days_ahead(3), days_ahead(9))).await;
    assert_eq!(status, 303);
    let location = location.expect("location");
    assert!(
        location.starts_with("/warteliste/") && location.ends_with("&neu=1"),
        "{location}"
    );
    let html = app
        .http
        .get(app.url(&location))
        .send()
        .await
        .expect("entry page")
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("Wir haben Ihnen eine E-Mail geschickt"), "{html}");
    assert!(html.contains("nachmittags"), "{html}");
}
