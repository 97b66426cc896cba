//! The services as gRPC peers: reflection for grpcurl and friends, health,
//! and how failures of one service reach the public API.

use amtstermin_platform::auth::{Access, Auth, Credentials, Scope, Token};
use amtstermin_proto::booking::v1::CreateBookingRequest;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_tests::{Backend, TestApp, booking_request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Service names listed by reflection, in one protocol version.
macro_rules! reflected_services {
    ($version:ident, $url:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let channel = amtstermin_platform::client::lazy_channel($url).expect("channel");
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::once(request))
            .await
            .expect("reflection call")
            .into_inner();
        match responses
            .message()
            .await
            .expect("response")
            .and_then(|r| r.message_response)
        {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|service| service.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }};
}

#[tokio::test]
async fn both_services_are_listed_by_reflection_v1_and_v1alpha() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for (url, service, elsewhere) in [
        (
            &app.availability_url,
            "amtstermin.availability.v1.AvailabilityService",
            "amtstermin.booking.v1.BookingService",
        ),
        (
            &app.booking_url,
            "amtstermin.booking.v1.BookingService",
            "amtstermin.availability.v1.AvailabilityService",
        ),
    ] {
        let v1 = reflected_services!(v1, url);
        let v1alpha = reflected_services!(v1alpha, url);
        for services in [&v1, &v1alpha] {
            assert!(
                services.iter().any(|s| s == service),
                "{service} missing in {services:?}"
            );
            assert!(services.iter().any(|s| s == "grpc.health.v1.Health"));
            // A port lists only what it serves.
            assert!(!services.iter().any(|s| s == elsewhere), "{elsewhere} in {services:?}");
        }
    }
}

#[tokio::test]
async fn health_reports_each_service_by_name() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for (url, service) in [
        (&app.availability_url, "amtstermin.availability.v1.AvailabilityService"),
        (&app.booking_url, "amtstermin.booking.v1.BookingService"),
    ] {
        let channel = amtstermin_platform::client::lazy_channel(url).expect("channel");
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
}

#[tokio::test]
async fn a_booking_service_without_its_database_is_not_serving_and_says_unavailable() {
    amtstermin_tests::init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let settings = booking_service::Settings {
        // Nothing listens on port 1.
        database_url: "postgres://nobody:secret@127.0.0.1:1/none".to_owned(),
        database_max_connections: 1,
        mail: booking_service::MailSettings {
            transport: "off".to_owned(),
            from: "termine@localhost".to_owned(),
            reminder_hours: 24,
            retry_seconds: 10,
        },
        retention_days: 30,
        waitlist_match_seconds: 0,
        webhook_retry_seconds: 1,
        metrics_listen: String::new(),
    };
    let peers = booking_service::Peers {
        availability_url: "http://127.0.0.1:1".to_owned(),
        public_url: "http://127.0.0.1:8080".to_owned(),
    };
    let token = Token::generate().expect("token");
    let mut access = Access::default();
    access.allow(&token, [Scope::Public]);
    let auth = Auth {
        access: std::sync::Arc::new(access),
        credentials: Credentials::new(&token),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(booking_service::run(settings, peers, auth, listener, async move {
        let _ = stopped.await;
    }));

    let channel = amtstermin_platform::client::channel(&url, &Credentials::new(&token)).expect("channel");
    let mut health = HealthClient::new(channel.clone());
    let mut status = Err(tonic::Status::unknown("not asked yet"));
    for _ in 0..100 {
        status = health
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(|r| r.into_inner().status());
        if status.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status.expect("the server answers"), ServingStatus::NotServing);

    let error = BookingServiceClient::new(channel)
        .create_booking(CreateBookingRequest {
            office_id: "bergkamen".to_owned(),
            concern_ids: vec!["personalausweis".to_owned()],
            start: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            name: "Erika".to_owned(),
            email: "erika@example.de".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("no database, no booking");
    assert_eq!(error.code(), tonic::Code::Unavailable);
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test]
async fn a_stopped_booking_service_turns_bookings_into_503_while_slots_stay_readable() {
    let Some(mut app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let slots = app.slots("bergkamen", "personalausweis").await;
    let start = slots["days"][0]["slots"][0]["start"]
        .as_str()
        .expect("start")
        .to_owned();
    app.stop_booking_service().await;

    let (status, error) = app
        .book(&booking_request("bergkamen", &["personalausweis"], &start))
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (503, &serde_json::json!("service_unavailable"))
    );
    // Slots come from the availability service's projection, which stays
    // readable for a while; the booking itself is what needs the database.
    let (status, _) = app
        .get_json("/api/v1/offices/bergkamen/slots?concerns=personalausweis")
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/api/v1/offices/bergkamen/concerns").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_heals() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let slots = app.slots("bergkamen", "meldebescheinigung").await;
    let starts = amtstermin_tests::starts_of_a_day(&slots, 3);
    let start = |n: usize| starts[n].clone();
    let book = |n: usize| {
        let mut body = booking_request("bergkamen", &["meldebescheinigung"], &start(n));
        body["email"] = format!("outage{n}@example.de").into();
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/bookings"))
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, retry_after, body)
        }
    };
    assert_eq!(book(0).await.0, 201);
    assert!(app.database.set_reachable(false).await);
    let (status, retry_after, body) = book(1).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &serde_json::json!("service_unavailable")),
        "{body}"
    );
    assert!(retry_after);
    assert!(app.database.set_reachable(true).await);
    let mut healed = 0;
    for _ in 0..50 {
        healed = book(2).await.0;
        if healed == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(healed, 201);
}
