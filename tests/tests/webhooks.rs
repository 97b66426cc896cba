//! Webhooks: an admin subscribes a receiver to an office's events; each
//! change reaches it signed (verified here on its own, as the Standard
//! Webhooks convention says), without personal data unless asked, again
//! after an outage, once; two replicas never claim one delivery twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_proto::booking::v1::{
    CreateWebhookRequest, DeleteWebhookRequest, ListWebhookDeliveriesRequest, ListWebhooksRequest,
};
use amtstermin_tests::{Backend, TestApp, backend_tests, starts_of_a_day};
use base64::Engine as _;
use booking_service::store;
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    a_subscriber_gets_each_change_signed_and_without_personal_data,
    a_receiver_that_was_down_gets_the_delivery_later_once,
    two_replicas_never_claim_one_delivery_twice,
    a_configuration_change_is_reported_once_though_two_replicas_announce_it,
);

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A webhook receiver on a random port: records what it gets and answers
/// 503 to the first `failing` requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(failing: usize) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let handler = move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut seen = seen.lock().expect("lock");
                seen.push(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body,
                });
                if seen.len() <= failing {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, received, task }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().map(|seen| seen.clone()).unwrap_or_default()
    }

    /// Waits up to ten seconds for `count` requests.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} webhook requests, got {:?}", self.received());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Verifies a request as a receiver would, with nothing of amtstermin's.
fn verified(secret: &str, request: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("a base64 secret");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("a key");
    mac.update(format!("{}.{}.{}", request.id, request.timestamp, request.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    request.signature == format!("v1,{expected}")
}

fn admin(app: &TestApp) -> BookingServiceClient<amtstermin_platform::client::Channel> {
    BookingServiceClient::new(app.channel(&app.booking_url))
}

async fn subscribe(app: &TestApp, url: &str, events: &[&str], personal_data: bool) -> (String, String) {
    let webhook = admin(app)
        .create_webhook(CreateWebhookRequest {
            office_id: "bergkamen".to_owned(),
            url: url.to_owned(),
            events: events.iter().map(|event| (*event).to_owned()).collect(),
            personal_data,
            actor: "admin:test".to_owned(),
        })
        .await
        .expect("subscribed")
        .into_inner();
    assert!(webhook.secret.starts_with("whsec_"), "{webhook:?}");
    (webhook.id, webhook.secret)
}

fn body(request: &Received) -> Value {
    serde_json::from_str(&request.body).expect("a JSON body")
}

async fn a_subscriber_gets_each_change_signed_and_without_personal_data(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let all = Receiver::start(0).await;
    let cancellations = Receiver::start(0).await;
    let (all_id, all_secret) = subscribe(&app, &all.url, &[], false).await;
    let (_, cancellation_secret) = subscribe(&app, &cancellations.url, &["booking.cancelled"], true).await;

    let starts = starts_of_a_day(&app.slots("bergkamen", "personalausweis").await, 2);
    let began = std::time::Instant::now();
    let (code, token) = app.book_passport(&starts[0], "erika@example.de").await;
    let created = all.wait_for(1).await;
    println!(
        "webhooks ({backend:?}): a booking reached its subscriber after {:?}",
        began.elapsed()
    );
    assert!(verified(&all_secret, &created[0]), "{created:?}");
    let event = body(&created[0]);
    assert_eq!(
        (&event["type"], &event["data"]["code"]),
        (&json!("booking.created"), &json!(code))
    );
    assert_eq!(event["data"]["status"], "booked");
    assert!(event["data"].get("email").is_none(), "no personal data: {event}");
    assert!(!created[0].body.contains("erika@example.de"));

    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/bookings/{code}"), &token)
        .await;
    assert_eq!(status, 204);
    let received = all.wait_for(2).await;
    assert_eq!(body(&received[1])["type"], "booking.cancelled");
    assert!(verified(&all_secret, &received[1]));
    assert_ne!(received[0].id, received[1].id, "each message its own id");
    // The other subscription wants cancellations only, with personal data.
    let cancelled = cancellations.wait_for(1).await;
    assert_eq!(cancelled.len(), 1, "the booking itself was not its event");
    assert!(verified(&cancellation_secret, &cancelled[0]));
    assert_eq!(body(&cancelled[0])["data"]["email"], "erika@example.de");
    assert!(
        !verified(&all_secret, &cancelled[0]),
        "each subscription its own secret"
    );

    // What was delivered, with the answers.
    let deliveries = admin(&app)
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            office_id: "bergkamen".to_owned(),
            webhook_id: all_id.clone(),
            limit: 0,
        })
        .await
        .expect("deliveries")
        .into_inner()
        .deliveries;
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0].event, "booking.cancelled", "newest first");
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery.attempts == 1 && delivery.last_status == 204 && delivery.delivered_at.is_some())
    );

    // Deleted, it gets nothing more.
    admin(&app)
        .delete_webhook(DeleteWebhookRequest {
            office_id: "bergkamen".to_owned(),
            id: all_id.clone(),
            actor: "admin:test".to_owned(),
        })
        .await
        .expect("deleted");
    let listed = admin(&app)
        .list_webhooks(ListWebhooksRequest {
            office_id: "bergkamen".to_owned(),
        })
        .await
        .expect("list")
        .into_inner()
        .webhooks;
    assert_eq!(listed.len(), 1);
    assert!(
        listed.iter().all(|webhook| webhook.secret.is_empty()),
        "the secret is answered once"
    );
    app.book_passport(&starts[1], "zweite@example.de").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(all.received().len(), 2);

    // Refusals.
    let refused = |url: &str, events: Vec<String>, office: &str| {
        let request = CreateWebhookRequest {
            office_id: office.to_owned(),
            url: url.to_owned(),
            events,
            personal_data: false,
            actor: String::new(),
        };
        let mut client = admin(&app);
        async move { client.create_webhook(request).await.expect_err("refused").code() }
    };
    assert_eq!(
        refused("ftp://example.org", Vec::new(), "bergkamen").await,
        tonic::Code::InvalidArgument
    );
    let unknown = vec!["booking.eaten".to_owned()];
    assert_eq!(
        refused("https://example.org", unknown, "bergkamen").await,
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        refused("https://example.org", Vec::new(), "atlantis").await,
        tonic::Code::NotFound
    );
    let missing = admin(&app)
        .delete_webhook(DeleteWebhookRequest {
            office_id: "bergkamen".to_owned(),
            id: "wh_none".to_owned(),
            actor: "admin:test".to_owned(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

async fn a_receiver_that_was_down_gets_the_delivery_later_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Down for the first two attempts (503), then up.
    let receiver = Receiver::start(2).await;
    let (id, secret) = subscribe(&app, &receiver.url, &["booking.created"], false).await;
    let starts = starts_of_a_day(&app.slots("bergkamen", "personalausweis").await, 1);
    let (code, _) = app.book_passport(&starts[0], "erika@example.de").await;
    // Retried after one second, then two: delivered at the third attempt.
    let received = receiver.wait_for(3).await;
    assert!(
        received.iter().all(|request| request.id == received[0].id),
        "one message, tried again"
    );
    assert!(received.iter().all(|request| verified(&secret, request)));
    assert_eq!(body(&received[2])["data"]["code"], code);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 3, "delivered once, then left alone");
    let deliveries = admin(&app)
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            office_id: "bergkamen".to_owned(),
            webhook_id: id,
            limit: 10,
        })
        .await
        .expect("deliveries")
        .into_inner()
        .deliveries;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!((delivery.attempts, delivery.last_status), (3, 204), "{delivery:?}");
    assert!(delivery.delivered_at.is_some() && delivery.failed_at.is_none());
}

async fn two_replicas_never_claim_one_delivery_twice(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    // Nobody listens there: the deliveries wait in the outbox.
    let (_, _) = subscribe(&app, "http://127.0.0.1:9/hook", &[], false).await;
    let starts = starts_of_a_day(&app.slots("bergkamen", "personalausweis").await, 6);
    for (index, start) in starts.iter().take(6).enumerate() {
        app.book_passport(start, &format!("person{index}@example.de")).await;
    }
    // The service's own sender stops; two replicas take over the outbox.
    app.stop_booking_service().await;
    app.sql("UPDATE webhook_deliveries SET next_attempt_at = created_at".to_owned())
        .await;
    let replicas = [
        store::open(&app.database.url, 2).expect("replica one"),
        store::open(&app.database.url, 2).expect("replica two"),
    ];
    let now = Utc::now();
    let claim = |replica: usize| replicas[replica].claim_deliveries(now, now + chrono::TimeDelta::seconds(60), 4);
    let (one, two) = tokio::join!(claim(0), claim(1));
    let (one, two) = (one.expect("claim"), two.expect("claim"));
    let mut ids: Vec<&str> = one.iter().chain(&two).map(|(due, _, _)| due.id.as_str()).collect();
    let claimed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "no delivery claimed twice");
    assert_eq!(claimed, 6, "between them, every delivery due");
    // Under their leases, nobody claims them again.
    let again = replicas[0]
        .claim_deliveries(now, now + chrono::TimeDelta::seconds(60), 10)
        .await
        .expect("claim");
    assert!(again.is_empty());
}

async fn a_configuration_change_is_reported_once_though_two_replicas_announce_it(backend: Backend) {
    use amtstermin_proto::availability::v1 as availability;
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let _second = app.spawn_availability_replica().await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = subscribe(&app, &receiver.url, &["configuration.changed"], false).await;
    let mut configuration = availability::configuration_admin_service_client::ConfigurationAdminServiceClient::new(
        app.channel(&app.availability_url),
    );
    let stored = configuration
        .get_configuration(availability::GetConfigurationRequest {})
        .await
        .expect("configuration")
        .into_inner()
        .offices
        .into_iter()
        .find(|office| office.office_id == "bergkamen")
        .expect("bergkamen");
    configuration
        .save_office_configuration(availability::SaveOfficeConfigurationRequest {
            office_id: "bergkamen".to_owned(),
            document: stored
                .document
                .replacen("min_lead_minutes = 60", "min_lead_minutes = 90", 1),
            expected_version: stored.version,
            actor: "verwaltung-test".to_owned(),
            dry_run: false,
        })
        .await
        .expect("saved");
    let received = receiver.wait_for(1).await;
    assert!(verified(&secret, &received[0]));
    let event = body(&received[0]);
    assert_eq!(event["type"], "configuration.changed");
    assert_eq!(
        (&event["data"]["office"], &event["data"]["version"]),
        (&json!("bergkamen"), &json!(stored.version + 1))
    );
    assert!(!received[0].body.contains("verwaltung-test"), "no staff login: {event}");
    // Announced again (as a replica may, after a restart): queued no more.
    let again = BookingServiceClient::new(app.service_channel(&app.booking_url))
        .record_configuration_change(amtstermin_proto::booking::v1::RecordConfigurationChangeRequest {
            office_id: "bergkamen".to_owned(),
            version: stored.version + 1,
            changed_at: Some(amtstermin_platform::timestamp::to_proto(Utc::now())),
            actor: "verwaltung-test".to_owned(),
        })
        .await
        .expect("announced")
        .into_inner();
    assert_eq!(again.queued, 0);
    // Both replicas have looked for changes to announce several times since.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.received().len(), 1, "delivered once");
}
