//! The administration pages (`/verwaltung`): who may use them, changing an
//! office's configuration with the affected bookings shown first, the
//! history with what changed, and reverting.

use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::configuration_admin_service_client::ConfigurationAdminServiceClient;
use amtstermin_tests::{ADMIN_LOGIN, AUDIT_LOGIN, Backend, STAFF_LOGIN, TestApp, backend_tests, starts_of_a_day};

backend_tests!(
    an_admin_changes_an_office_sees_the_affected_bookings_and_reverts,
    the_audit_log_tells_who_did_what_and_when
);

/// A signed-in browser: GETs and form POSTs with its cookies.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn sign_in(app: &'a TestApp, login: &str) -> Self {
        let (session, csrf_cookie, csrf) = app.sign_in_as(login).await;
        Self::of(app, session, csrf_cookie, csrf)
    }

    fn of(app: &'a TestApp, session: String, csrf_cookie: String, csrf: String) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: format!("{session}; {csrf_cookie}"),
            csrf,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.app.url(path))
            .header("cookie", &self.cookies)
            .send()
            .await
            .expect("get");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &self.csrf));
        let response = self
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookies)
            .form(&fields)
            .send()
            .await
            .expect("post");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }
}

async fn stored(app: &TestApp) -> (String, u64) {
    let configuration = ConfigurationAdminServiceClient::new(app.channel(&app.availability_url))
        .get_configuration(pb::GetConfigurationRequest {})
        .await
        .expect("configuration")
        .into_inner();
    let office = configuration
        .offices
        .into_iter()
        .find(|office| office.office_id == "bergkamen")
        .expect("bergkamen");
    (office.document, office.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_only_its_pages() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let desk = Browser::sign_in(&app, STAFF_LOGIN).await;
    assert_eq!(desk.get("/verwaltung").await.0, 403, "the desk does not administer");
    assert_eq!(desk.get("/verwaltung/bergkamen").await.0, 403);

    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (status, overview) = admin.get("/verwaltung").await;
    assert_eq!(status, 200);
    assert!(overview.contains("href=\"/verwaltung/bergkamen\""), "{overview}");
    assert_eq!(
        admin.get("/schalter/bergkamen").await.0,
        403,
        "an admin account is no desk"
    );
    let (status, _) = admin.get("/schalter").await;
    assert_eq!(status, 303, "its start is the administration");

    let audit = Browser::sign_in(&app, AUDIT_LOGIN).await;
    let (status, overview) = audit.get("/verwaltung").await;
    assert_eq!(status, 200);
    assert!(
        !overview.contains("href=\"/verwaltung/bergkamen\""),
        "no editing for the audit"
    );
    let (status, history) = audit.get("/verwaltung/bergkamen/aenderungen").await;
    assert_eq!(status, 200);
    assert!(history.contains("Fassung 1: angelegt") && !history.contains("Zurücknehmen"));
    assert_eq!(audit.get("/verwaltung/bergkamen").await.0, 403);
    let (document, version) = stored(&app).await;
    let version = version.to_string();
    let (status, _) = audit
        .post(
            "/verwaltung/bergkamen",
            &[("dokument", &document), ("version", &version), ("aktion", "speichern")],
        )
        .await;
    assert_eq!(status, 403, "the audit changes nothing");
    let (status, _) = audit
        .post("/verwaltung/bergkamen/aenderungen/1/zuruecknehmen", &[("aktuell", "1")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        audit.get("/schalter/bergkamen/statistik").await.0,
        200,
        "but reads the statistics"
    );
    assert_eq!(audit.get("/schalter/bergkamen").await.0, 403);
}

async fn an_admin_changes_an_office_sees_the_affected_bookings_and_reverts(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let open = app.slots("bergkamen", "personalausweis").await;
    let start = starts_of_a_day(&open, 1).pop().expect("an open start");
    let (code, _) = app.book_passport(&start, "erika@example.de").await;
    let day = &start[..10];

    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (status, editor) = admin.get("/verwaltung/bergkamen").await;
    assert_eq!(status, 200);
    assert!(editor.contains("<textarea id=\"dokument\""), "{editor}");
    let (document, _) = stored(&app).await;
    // As a browser sends a text area: CRLF line ends.
    let closed = amtstermin_tests::closed_on(&document, day).replace('\n', "\r\n");
    let (status, checked) = admin
        .post(
            "/verwaltung/bergkamen",
            &[("dokument", &closed), ("version", "1"), ("aktion", "pruefen")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(checked.contains("Die Konfiguration ist gültig."), "{checked}");
    assert!(
        checked.contains(&format!("/schalter/bergkamen/termine/{code}/verschieben")),
        "{checked}"
    );

    // Saving asks first, as bookings lose their room.
    let (status, asked) = admin
        .post(
            "/verwaltung/bergkamen",
            &[("dokument", &closed), ("version", "1"), ("aktion", "speichern")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        asked.contains("Trotzdem speichern") && asked.contains("name=\"bestaetigt\""),
        "{asked}"
    );
    assert_eq!(stored(&app).await.1, 1, "nothing saved yet");
    let (status, saved) = admin
        .post(
            "/verwaltung/bergkamen",
            &[
                ("dokument", &closed),
                ("version", "1"),
                ("aktion", "speichern"),
                ("bestaetigt", "ja"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        saved.contains("Konfiguration gespeichert") && saved.contains(&code),
        "{saved}"
    );
    let (now, version) = stored(&app).await;
    assert_eq!(version, 2);
    assert!(
        now.contains("Betriebsausflug") && !now.contains('\r'),
        "stored with LF line ends"
    );

    // A stale form and a broken document are refused with the reason.
    let (status, stale) = admin
        .post(
            "/verwaltung/bergkamen",
            &[("dokument", &document), ("version", "1"), ("aktion", "speichern")],
        )
        .await;
    assert_eq!(status, 409);
    assert!(stale.contains("neuere Fassung"), "{stale}");
    let broken = now.replacen("slot_minutes = 10", "slot_minutes = 7", 1);
    let (status, refused) = admin
        .post(
            "/verwaltung/bergkamen",
            &[("dokument", &broken), ("version", "2"), ("aktion", "speichern")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        refused.contains("slot_minutes") && refused.contains("aria-invalid"),
        "{refused}"
    );

    let (status, history) = admin.get("/verwaltung/bergkamen/aenderungen").await;
    assert_eq!(status, 200);
    assert!(
        history.contains("Fassung 2: geändert") && history.contains(ADMIN_LOGIN),
        "{history}"
    );
    assert!(history.contains("Betriebsausflug"), "the diff shows the new closure");

    let (status, reverted) = admin
        .post("/verwaltung/bergkamen/aenderungen/2/zuruecknehmen", &[("aktuell", "2")])
        .await;
    assert_eq!(status, 200, "{reverted}");
    assert!(reverted.contains("Änderung 2 zurückgenommen"), "{reverted}");
    assert_eq!(stored(&app).await, (document.clone(), 3));
    let (status, _) = admin
        .post("/verwaltung/bergkamen/aenderungen/2/zuruecknehmen", &[("aktuell", "2")])
        .await;
    assert_eq!(status, 409, "chosen on an older version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_webhooks_and_calendar_feeds_in_the_pages() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let desk = Browser::sign_in(&app, STAFF_LOGIN).await;
    assert_eq!(desk.get("/verwaltung/bergkamen/webhooks").await.0, 403);
    assert_eq!(desk.get("/verwaltung/bergkamen/kalender").await.0, 403);

    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (status, empty) = admin.get("/verwaltung/bergkamen/webhooks").await;
    assert_eq!(status, 200);
    assert!(empty.contains("Noch keine."), "{empty}");
    let (status, refused) = admin
        .post("/verwaltung/bergkamen/webhooks", &[("url", "kein-link")])
        .await;
    assert_eq!(status, 422);
    assert!(
        refused.contains("Nicht angelegt") && refused.contains("value=\"kein-link\""),
        "{refused}"
    );
    let (status, made) = admin
        .post(
            "/verwaltung/bergkamen/webhooks",
            &[
                ("url", "https://fachverfahren.example/hook"),
                ("ereignis:booking.created", "ja"),
                ("ereignis:configuration.changed", "ja"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(made.contains("nur jetzt") && made.contains("whsec_"), "{made}");
    assert!(
        made.contains("Termin gebucht; Konfiguration des Amtes geändert"),
        "{made}"
    );
    let id = made
        .split("/verwaltung/bergkamen/webhooks/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the deliveries")
        .to_owned();
    let (status, deliveries) = admin.get(&format!("/verwaltung/bergkamen/webhooks/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        deliveries.contains("https://fachverfahren.example/hook"),
        "{deliveries}"
    );
    let (status, listed) = admin.get("/verwaltung/bergkamen/webhooks").await;
    assert_eq!(status, 200);
    assert!(!listed.contains("whsec_"), "the secret is shown once only");
    let (status, deleted) = admin
        .post(&format!("/verwaltung/bergkamen/webhooks/{id}/loeschen"), &[])
        .await;
    assert_eq!(status, 200);
    assert!(
        deleted.contains("gelöscht") && !deleted.contains("fachverfahren.example/hook"),
        "{deleted}"
    );

    let (status, made) = admin
        .post(
            "/verwaltung/bergkamen/kalender",
            &[("platz", "platz-1"), ("namen", "ja")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(made.contains("Arbeitsplatz 1") && made.contains("mit Namen"), "{made}");
    let address = made
        .split("https://termine.bergkamen.example")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the feed's address")
        .to_owned();
    assert!(
        address.starts_with("/kalender/bergkamen/") && address.ends_with(".ics"),
        "{address}"
    );
    let calendar = app.http.get(app.url(&address)).send().await.expect("feed");
    assert_eq!(calendar.status().as_u16(), 200);
    let feed_id = made
        .split("/verwaltung/bergkamen/kalender/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a revoke form")
        .to_owned();
    let (status, revoked) = admin
        .post(&format!("/verwaltung/bergkamen/kalender/{feed_id}/widerrufen"), &[])
        .await;
    assert_eq!(status, 200);
    assert!(revoked.contains("widerrufen"), "{revoked}");
    let calendar = app.http.get(app.url(&address)).send().await.expect("feed");
    assert_eq!(calendar.status().as_u16(), 404, "a revoked address delivers nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_keep_staff_accounts_and_staff_change_their_password() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let desk = Browser::sign_in(&app, STAFF_LOGIN).await;
    assert_eq!(
        desk.get("/verwaltung/konten").await.0,
        403,
        "the desk keeps no accounts"
    );

    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (status, refused) = admin
        .post(
            "/verwaltung/konten",
            &[
                ("login", "lena"),
                ("rolle:desk", "ja"),
                ("amt:bergkamen", "ja"),
                ("passwort", "kurz"),
                ("wiederholung", "kurz"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("mindestens 10 Zeichen"), "{refused}");
    let (status, taken) = admin
        .post(
            "/verwaltung/konten",
            &[
                ("login", STAFF_LOGIN),
                ("rolle:desk", "ja"),
                ("passwort", "ein langes passwort"),
                ("wiederholung", "ein langes passwort"),
            ],
        )
        .await;
    assert_eq!(status, 422, "a login of the staff file is taken");
    assert!(taken.contains("gibt es schon"), "{taken}");
    let (status, made) = admin
        .post(
            "/verwaltung/konten",
            &[
                ("login", "lena"),
                ("name", "Lena Schalter"),
                ("rolle:desk", "ja"),
                ("amt:bergkamen", "ja"),
                ("passwort", "erstes passwort"),
                ("wiederholung", "erstes passwort"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{made}");
    assert!(
        made.contains("Das Konto lena ist angelegt") && made.contains("Bürgerbüro Bergkamen"),
        "{made}"
    );

    // The new account works the desk of its office, and no other.
    let lena = sign_in(&app, "lena", "erstes passwort").await.expect("signed in");
    assert_eq!(lena.get("/schalter/bergkamen").await.0, 200);
    assert_eq!(lena.get("/schalter/standesamt-bergkamen").await.0, 404);
    assert_eq!(lena.get("/verwaltung").await.0, 403);

    // Its user changes the password: every session of it ends.
    let (status, wrong) = lena
        .post(
            "/schalter/passwort",
            &[
                ("bisher", "falsch"),
                ("passwort", "zweites passwort"),
                ("wiederholung", "zweites passwort"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(wrong.contains("stimmt nicht"), "{wrong}");
    let (status, changed) = lena
        .post(
            "/schalter/passwort",
            &[
                ("bisher", "erstes passwort"),
                ("passwort", "zweites passwort"),
                ("wiederholung", "zweites passwort"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(changed.contains("Ihr neues Passwort gilt"), "{changed}");
    assert_eq!(lena.get("/schalter/bergkamen").await.0, 303, "the old session ended");
    assert!(sign_in(&app, "lena", "erstes passwort").await.is_none());
    let lena = sign_in(&app, "lena", "zweites passwort")
        .await
        .expect("the new password");

    // An admin disables it: it signs in no more, its session ends.
    let (status, disabled) = admin
        .post(
            "/verwaltung/konten/lena",
            &[
                ("name", "Lena Schalter"),
                ("rolle:desk", "ja"),
                ("amt:bergkamen", "ja"),
                ("gesperrt", "ja"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(disabled.contains("Das Konto ist gesperrt"), "{disabled}");
    assert_eq!(lena.get("/schalter/bergkamen").await.0, 303);
    assert!(sign_in(&app, "lena", "zweites passwort").await.is_none());
    let (_, listed) = admin.get("/verwaltung/konten").await;
    assert!(listed.contains("lena (Lena Schalter) – gesperrt"), "{listed}");

    // A file account's password is the IT's.
    let (status, file) = desk.get("/schalter/passwort").await;
    assert_eq!(status, 200);
    assert!(file.contains("Konfigurationsdatei"), "{file}");
}

/// Signs in with a password; `None` when refused.
async fn sign_in<'a>(app: &'a TestApp, login: &str, password: &str) -> Option<Browser<'a>> {
    let (session, csrf_cookie, csrf) = app.try_sign_in(login, password).await?;
    Some(Browser::of(app, session, csrf_cookie, csrf))
}

async fn the_audit_log_tells_who_did_what_and_when(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let desk = Browser::sign_in(&app, STAFF_LOGIN).await;
    assert_eq!(desk.get("/verwaltung/bergkamen/protokoll").await.0, 403);
    // At the desk: a booking cancelled, an absence recorded.
    let open = app.slots("bergkamen", "personalausweis").await;
    let start = starts_of_a_day(&open, 1).pop().expect("an open start");
    let (code, _) = app.book_passport(&start, "erika@example.de").await;
    let (status, _) = desk
        .post(
            &format!("/schalter/bergkamen/termine/{code}/status"),
            &[("status", "cancelled"), ("bestaetigt", "ja")],
        )
        .await;
    assert!(status < 400, "cancelled at the desk: {status}");
    let (status, absent) = desk
        .post(
            "/schalter/bergkamen/abwesenheit",
            &[
                ("platz", "platz-2"),
                ("tag", &start[..10]),
                ("von", "08:00"),
                ("bis", "09:00"),
                ("grund", "krank"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{absent}");
    // The desk lists the day's absence and lifts it again.
    let (status, day) = desk.get(&format!("/schalter/bergkamen?tag={}", &start[..10])).await;
    assert_eq!(status, 200);
    assert!(day.contains("Arbeitsplatz 2: ") && day.contains("(krank)"), "{day}");
    let lift = day
        .split("/schalter/bergkamen/abwesenheit/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a lift form")
        .to_owned();
    let (status, _) = desk
        .post(
            &format!("/schalter/bergkamen/abwesenheit/{lift}"),
            &[("tag", &start[..10])],
        )
        .await;
    assert_eq!(status, 303, "back to the desk");
    let (_, day) = desk.get(&format!("/schalter/bergkamen?tag={}", &start[..10])).await;
    assert!(!day.contains("(krank)"), "lifted");
    // In the administration: a configuration change and a webhook.
    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (document, _) = stored(&app).await;
    let (status, _) = admin
        .post(
            "/verwaltung/bergkamen",
            &[
                (
                    "dokument",
                    &document.replacen("min_lead_minutes = 60", "min_lead_minutes = 90", 1),
                ),
                ("version", "1"),
                ("aktion", "speichern"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = admin
        .post(
            "/verwaltung/bergkamen/webhooks",
            &[("url", "https://fachverfahren.example/hook")],
        )
        .await;
    assert_eq!(status, 200);

    let audit = Browser::sign_in(&app, AUDIT_LOGIN).await;
    // The configuration change arrives when the availability service has
    // announced it (within about a second).
    let mut log = String::new();
    for _ in 0..50 {
        let (status, page) = audit.get("/verwaltung/bergkamen/protokoll").await;
        assert_eq!(status, 200);
        log = page;
        if log.contains("Konfiguration geändert") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for expected in [
        "Angemeldet",
        "Termin abgesagt",
        "Abwesenheit eingetragen",
        "Abwesenheit aufgehoben",
        "Konfiguration geändert",
        "Webhook angelegt",
    ] {
        assert!(log.contains(expected), "{expected} missing: {log}");
    }
    assert!(log.contains(&code), "the booking's code");
    assert!(!log.contains("krank"), "no reason of an absence");
    assert!(!log.contains("erika@example.de"), "no citizen data");

    let (status, only_admin) = audit
        .get(&format!("/verwaltung/bergkamen/protokoll?person={ADMIN_LOGIN}"))
        .await;
    assert_eq!(status, 200);
    assert!(only_admin.contains("Webhook angelegt") && !only_admin.contains("Termin abgesagt"));
    let (status, sign_ins) = audit.get("/verwaltung/bergkamen/protokoll?art=anmeldungen").await;
    assert_eq!(status, 200);
    assert!(sign_ins.contains("Angemeldet") && !sign_ins.contains("Webhook angelegt"));

    let csv = audit
        .client
        .get(app.url("/verwaltung/bergkamen/protokoll.csv"))
        .header("cookie", &audit.cookies)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status().as_u16(), 200);
    assert!(
        csv.headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/csv"))
    );
    let csv = csv.text().await.expect("body");
    assert!(csv.starts_with("Zeit,Person,Aktion,Betreff,Einzelheiten\r\n"), "{csv}");
    assert!(
        csv.contains(&format!("\"{STAFF_LOGIN}\",\"Termin abgesagt\",\"{code}\"")),
        "{csv}"
    );
    assert_eq!(
        audit.get("/verwaltung/bergkamen/protokoll?von=morgen").await.0,
        400,
        "a bad day is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_all_offices_adds_another_department_without_a_restart() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let desk = Browser::sign_in(&app, STAFF_LOGIN).await;
    assert_eq!(desk.get("/verwaltung/neues-amt").await.0, 403);
    let admin = Browser::sign_in(&app, ADMIN_LOGIN).await;
    let (status, form) = admin.get("/verwaltung/neues-amt").await;
    assert_eq!(status, 200);
    let template = form
        .split("<textarea id=\"dokument\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split("</textarea>").next())
        .expect("the template")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert!(template.contains("id = \"bauamt\""), "{template}");
    let (status, reserved) = admin
        .post(
            "/verwaltung/neues-amt",
            &[("amt", "konten"), ("dokument", &template.replace("bauamt", "konten"))],
        )
        .await;
    assert_eq!(status, 422, "{reserved}");
    let (status, made) = admin
        .post("/verwaltung/neues-amt", &[("amt", "bauamt"), ("dokument", &template)])
        .await;
    assert_eq!(status, 200, "{made}");
    assert!(made.contains("Amt angelegt"), "{made}");
    let (status, again) = admin
        .post("/verwaltung/neues-amt", &[("amt", "bauamt"), ("dokument", &template)])
        .await;
    assert_eq!(status, 422);
    assert!(again.contains("gibt es schon"), "{again}");
    // The website offers it within moments, and its slots.
    let mut listed = false;
    for _ in 0..40 {
        let (_, offices) = app.get_json("/api/v1/offices").await;
        if offices.to_string().contains("\"bauamt\"") {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "the new office is listed");
    let slots = app.slots("bauamt", "beratung").await;
    assert!(!starts_of_a_day(&slots, 1).is_empty(), "{slots}");
}
