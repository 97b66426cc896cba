//! The offices' configuration at runtime: saved through the admin gRPC
//! service, versioned with its history, reverted, followed by a second
//! replica without a restart, and checked against the bookings it affects.

use std::time::{Duration, Instant};

use amtstermin_platform::client::Channel;
use amtstermin_proto::availability::v1 as pb;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::configuration_admin_service_client::ConfigurationAdminServiceClient;
use amtstermin_tests::{Backend, TestApp, backend_tests, booking_request, starts_of_a_day};
use tonic::Code;

backend_tests!(
    a_change_is_kept_with_its_history_and_can_be_reverted,
    a_new_concern_is_bookable_within_a_second_on_a_second_replica,
    a_change_that_takes_time_away_lists_the_bookings_it_affects,
    only_admins_change_the_configuration
);

/// A concern the demo does not have, served by the counters that serve all.
const NEW_CONCERN: &str = r#"
[[offices.concerns]]
id = "sperrmuell"
name = "Sperrmüll anmelden"
category = "buergerservice"
duration_minutes = 10
required_documents = ["Personalausweis"]
"#;

fn admin(app: &TestApp) -> ConfigurationAdminServiceClient<Channel> {
    ConfigurationAdminServiceClient::new(app.channel(&app.availability_url))
}

async fn office(app: &TestApp, id: &str) -> pb::OfficeConfiguration {
    let configuration = admin(app)
        .get_configuration(pb::GetConfigurationRequest {})
        .await
        .expect("configuration")
        .into_inner();
    configuration
        .offices
        .into_iter()
        .find(|office| office.office_id == id)
        .expect("office stored")
}

/// The document with `addition` inserted before its first counter.
fn with(document: &str, addition: &str) -> String {
    let at = document.find("[[offices.counters]]").expect("the office has counters");
    format!("{}{addition}\n{}", &document[..at], &document[at..])
}

fn save(office_id: &str, document: &str, expected_version: u64, dry_run: bool) -> pb::SaveOfficeConfigurationRequest {
    pb::SaveOfficeConfigurationRequest {
        office_id: office_id.to_owned(),
        document: document.to_owned(),
        expected_version,
        actor: "verwaltung-test".to_owned(),
        dry_run,
    }
}

fn error_code(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get(amtstermin_platform::error_code::ERROR_CODE_METADATA)
        .and_then(|value| value.to_str().ok())
}

async fn a_change_is_kept_with_its_history_and_can_be_reverted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let seeded = office(&app, "bergkamen").await;
    assert_eq!(seeded.version, 1, "the file seeded the database");
    let changes = admin(&app)
        .list_configuration_changes(pb::ListConfigurationChangesRequest {
            office_id: "bergkamen".to_owned(),
            limit: 0,
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].before.as_str(), changes[0].actor.as_str()),
        ("", "Konfigurationsdatei")
    );

    let changed = with(&seeded.document, NEW_CONCERN);
    let preview = admin(&app)
        .save_office_configuration(save("bergkamen", &changed, 1, true))
        .await
        .expect("dry run")
        .into_inner();
    assert!(!preview.saved);
    assert_eq!(office(&app, "bergkamen").await.version, 1, "a dry run saves nothing");

    let saved = admin(&app)
        .save_office_configuration(save("bergkamen", &changed, 1, false))
        .await
        .expect("save")
        .into_inner();
    assert!(saved.saved);
    assert_eq!(saved.office.as_ref().map(|office| office.version), Some(2));

    // Made on version 1 while 2 is stored: refused, nothing lost.
    let stale = admin(&app)
        .save_office_configuration(save("bergkamen", &seeded.document, 1, false))
        .await
        .expect_err("stale");
    assert_eq!(
        (stale.code(), error_code(&stale)),
        (Code::Aborted, Some("configuration_conflict"))
    );

    // The file's validation, with its message.
    let broken = changed.replace(
        "duration_minutes = 10\nrequired_documents = [\"Personalausweis\"]",
        "duration_minutes = 0",
    );
    let refused = admin(&app)
        .save_office_configuration(save("bergkamen", &broken, 2, false))
        .await
        .expect_err("invalid");
    assert_eq!(
        (refused.code(), error_code(&refused)),
        (Code::InvalidArgument, Some("invalid_configuration"))
    );
    assert!(refused.message().contains("sperrmuell"), "{}", refused.message());

    let history = admin(&app)
        .list_configuration_changes(pb::ListConfigurationChangesRequest {
            office_id: "bergkamen".to_owned(),
            limit: 10,
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history.iter().map(|change| change.version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(history[0].actor, "verwaltung-test");
    assert_eq!(
        (history[0].before.as_str(), history[0].after.as_str()),
        (seeded.document.as_str(), changed.as_str())
    );

    let reverted = admin(&app)
        .revert_configuration_change(pb::RevertConfigurationChangeRequest {
            office_id: "bergkamen".to_owned(),
            version: 2,
            expected_version: 2,
            actor: "verwaltung-test".to_owned(),
            dry_run: false,
        })
        .await
        .expect("revert")
        .into_inner();
    assert_eq!(reverted.office.as_ref().map(|office| office.version), Some(3));
    let now = office(&app, "bergkamen").await;
    assert_eq!((now.version, now.document), (3, seeded.document));
    let history = admin(&app)
        .list_configuration_changes(pb::ListConfigurationChangesRequest {
            office_id: "bergkamen".to_owned(),
            limit: 1,
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!((history.len(), history[0].reverts), (1, 2));
    let missing = admin(&app)
        .revert_configuration_change(pb::RevertConfigurationChangeRequest {
            office_id: "bergkamen".to_owned(),
            version: 99,
            expected_version: 3,
            actor: "verwaltung-test".to_owned(),
            dry_run: false,
        })
        .await
        .expect_err("no such change");
    assert_eq!(error_code(&missing), Some("configuration_change_not_found"));
}

async fn a_new_concern_is_bookable_within_a_second_on_a_second_replica(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let replica = app.spawn_availability_replica().await;
    let mut second = AvailabilityServiceClient::new(app.channel(&replica.url));
    let slots = |client: &mut AvailabilityServiceClient<Channel>| {
        let mut client = client.clone();
        async move {
            client
                .list_slots(pb::ListSlotsRequest {
                    office_id: "bergkamen".to_owned(),
                    concern_ids: vec!["sperrmuell".to_owned()],
                    ..Default::default()
                })
                .await
        }
    };
    assert_eq!(
        slots(&mut second).await.map(|_| ()).expect_err("unknown yet").code(),
        Code::NotFound
    );

    let seeded = office(&app, "bergkamen").await;
    admin(&app)
        .save_office_configuration(save("bergkamen", &with(&seeded.document, NEW_CONCERN), 1, false))
        .await
        .expect("save on the first replica");
    let saved = Instant::now();
    let listed = loop {
        match slots(&mut second).await {
            Ok(listed) => break listed.into_inner(),
            Err(status) if status.code() == Code::NotFound && saved.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(status) => panic!("the second replica did not take up the change: {status}"),
        }
    };
    let followed = saved.elapsed();
    eprintln!("the second replica offered the new concern after {followed:?}");
    assert!(followed < Duration::from_secs(1), "took {followed:?}");
    assert!(listed.days.iter().any(|day| !day.slots.is_empty()), "with open slots");

    // The website follows as well: the gateway's cache looks every second.
    tokio::time::sleep(amtstermin_catalogue::CHECK_AFTER).await;
    let open = app.slots("bergkamen", "sperrmuell").await;
    let start = starts_of_a_day(&open, 1).pop().expect("an open start");
    let (status, body) = app.book(&booking_request("bergkamen", &["sperrmuell"], &start)).await;
    assert_eq!(status, 201, "{body}");
    let (status, documents) = app.get_json("/api/v1/offices/bergkamen/concerns").await;
    assert_eq!(status, 200);
    assert!(documents.to_string().contains("Sperrmüll anmelden"), "{documents}");
}

async fn a_change_that_takes_time_away_lists_the_bookings_it_affects(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let open = app.slots("bergkamen", "personalausweis").await;
    let start = starts_of_a_day(&open, 1).pop().expect("an open start");
    let (code, _) = app.book_passport(&start, "erika@example.de").await;
    let day = &start[..10];

    let seeded = office(&app, "bergkamen").await;
    let closed = amtstermin_tests::closed_on(&seeded.document, day);
    let preview = admin(&app)
        .save_office_configuration(save("bergkamen", &closed, 1, true))
        .await
        .expect("dry run")
        .into_inner();
    let listed: Vec<&str> = preview
        .affected_bookings
        .iter()
        .map(|booking| booking.code.as_str())
        .collect();
    assert!(listed.contains(&code.as_str()), "{listed:?}");
    assert!(!preview.saved);

    let saved = admin(&app)
        .save_office_configuration(save("bergkamen", &closed, 1, false))
        .await
        .expect("save")
        .into_inner();
    assert!(saved.saved);
    assert!(saved.affected_bookings.iter().any(|booking| booking.code == code));
    // Kept for staff to move or cancel, never dropped.
    let kept = app
        .sql(format!(
            "SELECT COUNT(*) FROM bookings WHERE code = '{code}' AND status = 'booked'"
        ))
        .await;
    assert_eq!(kept, 1);
}

async fn only_admins_change_the_configuration(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut services = ConfigurationAdminServiceClient::new(app.service_channel(&app.availability_url));
    let refused = services
        .get_configuration(pb::GetConfigurationRequest {})
        .await
        .expect_err("the services' token has no admin scope");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let seeded = office(&app, "bergkamen").await;
    let nobody = admin(&app)
        .save_office_configuration(pb::SaveOfficeConfigurationRequest {
            actor: " ".to_owned(),
            ..save("bergkamen", &seeded.document, 1, false)
        })
        .await
        .expect_err("no actor");
    assert_eq!(nobody.code(), Code::InvalidArgument);
}
