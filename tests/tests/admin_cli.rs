//! The operators' command line (`amtstermin config|webhook|feed …`) against
//! a running stack: what it prints, and that it acts.

use amtstermin_proto::availability::v1::configuration_admin_service_client::ConfigurationAdminServiceClient;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_tests::{Backend, TestApp, backend_tests};
use launcher::admin::{Clients, Command, ConfigCommand, FeedCommand, StaffCommand, WebhookCommand, run, staff};

backend_tests!(the_command_line_manages_webhooks_and_feeds);

async fn the_command_line_manages_webhooks_and_feeds(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cli = |command: Command| {
        let clients = Clients {
            booking: BookingServiceClient::new(app.channel(&app.booking_url)),
            configuration: ConfigurationAdminServiceClient::new(app.channel(&app.availability_url)),
        };
        run(command, move || Ok(clients))
    };
    let added = cli(Command::Webhook(WebhookCommand::Add {
        office: "bergkamen".to_owned(),
        url: "https://example.org/hook".to_owned(),
        events: vec!["booking.created".to_owned()],
        personal_data: false,
    }))
    .await
    .expect("added");
    assert!(added.contains("secret (shown once): whsec_"), "{added}");
    let id = added.split('\t').next().expect("an id").to_owned();
    let listed = cli(Command::Webhook(WebhookCommand::List {
        office: "bergkamen".to_owned(),
    }))
    .await
    .expect("listed");
    assert_eq!(listed, format!("{id}\thttps://example.org/hook\tbooking.created\n"));
    let deleted = cli(Command::Webhook(WebhookCommand::Delete {
        office: "bergkamen".to_owned(),
        id: id.clone(),
    }))
    .await
    .expect("deleted");
    assert_eq!(deleted, format!("{id} deleted\n"));
    let refused = cli(Command::Webhook(WebhookCommand::Add {
        office: "bergkamen".to_owned(),
        url: "ftp://example.org".to_owned(),
        events: Vec::new(),
        personal_data: false,
    }))
    .await;
    assert!(refused.is_err());

    let feed = cli(Command::Feed(FeedCommand::Add {
        office: "bergkamen".to_owned(),
        counter: Some("platz-1".to_owned()),
        names: false,
    }))
    .await
    .expect("feed");
    let path = feed
        .lines()
        .find_map(|line| line.strip_prefix("address (shown once): "))
        .expect("the address")
        .to_owned();
    let calendar = app.http.get(app.url(&path)).send().await.expect("calendar");
    assert_eq!(calendar.status().as_u16(), 200, "{path}");
    let listed = cli(Command::Feed(FeedCommand::List {
        office: "bergkamen".to_owned(),
    }))
    .await
    .expect("listed");
    assert!(listed.contains("counter platz-1\twithout names"), "{listed}");

    // The configuration check needs no stack: the shipped file is valid, a
    // broken one is refused with the reason.
    let valid = cli(Command::Config(ConfigCommand::Validate {
        path: amtstermin_tests::demo_config(),
    }))
    .await
    .expect("valid");
    assert!(valid.ends_with("offices, valid\n"), "{valid}");
    let broken = amtstermin_tests::ChangedConfig::new("slot_minutes = 10\n", "slot_minutes = 7\n");
    let refused = cli(Command::Config(ConfigCommand::Validate {
        path: broken.path.clone(),
    }))
    .await
    .expect_err("invalid");
    assert!(refused.to_string().contains("slot_minutes"), "{refused}");

    // Configuration as code: what is exported is the file, imported back
    // nothing changes; a changed file changes what is in force.
    let exported = cli(Command::Config(ConfigCommand::Export)).await.expect("export");
    let demo = std::fs::read_to_string(amtstermin_tests::demo_config()).expect("demo");
    assert_eq!(exported, demo, "the seed is exported as it was");
    let unchanged = cli(Command::Config(ConfigCommand::Import {
        path: amtstermin_tests::demo_config(),
        dry_run: false,
    }))
    .await
    .expect("import");
    assert!(
        unchanged.starts_with("added: -\nchanged: -\nremoved: -\n"),
        "{unchanged}"
    );
    let changed = amtstermin_tests::ChangedConfig::new("min_lead_minutes = 60", "min_lead_minutes = 90");
    let preview = cli(Command::Config(ConfigCommand::Import {
        path: changed.path.clone(),
        dry_run: true,
    }))
    .await
    .expect("dry run");
    assert!(
        preview.contains("changed: bergkamen\n") && preview.ends_with("dry run: nothing saved\n"),
        "{preview}"
    );
    assert_eq!(cli(Command::Config(ConfigCommand::Export)).await.expect("export"), demo);
    cli(Command::Config(ConfigCommand::Import {
        path: changed.path.clone(),
        dry_run: false,
    }))
    .await
    .expect("import");
    let now = cli(Command::Config(ConfigCommand::Export)).await.expect("export");
    assert_eq!(now, std::fs::read_to_string(&changed.path).expect("changed file"));
    let broken = cli(Command::Config(ConfigCommand::Import {
        path: broken.path.clone(),
        dry_run: false,
    }))
    .await
    .expect_err("refused");
    assert!(broken.to_string().contains("slot_minutes"), "{broken}");

    // Staff accounts: the first password comes from standard input.
    let add = |input: &'static str| {
        staff(
            StaffCommand::Add {
                login: "otto".to_owned(),
                name: "Otto Verwaltung".to_owned(),
                roles: vec!["admin".to_owned()],
                offices: vec!["bergkamen".to_owned()],
            },
            BookingServiceClient::new(app.channel(&app.booking_url)),
            std::io::Cursor::new(input),
        )
    };
    let short = add("kurz\n").await.expect_err("too short");
    assert!(short.to_string().contains("at least 10"), "{short}");
    assert_eq!(add("ein langes passwort\n").await.expect("added"), "otto created\n");
    assert!(add("ein langes passwort\n").await.is_err(), "the login is taken");
    let list = || {
        staff(
            StaffCommand::List,
            BookingServiceClient::new(app.channel(&app.booking_url)),
            std::io::Cursor::new(""),
        )
    };
    assert_eq!(list().await.expect("list"), "otto\tadmin\tbergkamen\tactive\n");
    let disabled = staff(
        StaffCommand::Disable {
            login: "otto".to_owned(),
        },
        BookingServiceClient::new(app.channel(&app.booking_url)),
        std::io::Cursor::new(""),
    )
    .await
    .expect("disabled");
    assert_eq!(disabled, "otto disabled\n");
    assert!(list().await.expect("list").ends_with("\tdisabled\n"));
}
