//! Sends the webhooks' outbox: claims the deliveries due (each replica its
//! own, under a lease), posts each signed, and records the answer: a 2xx
//! delivers it, anything else tries again later with a growing pause, until
//! it is given up. A slow or failing receiver never touches a booking: the
//! booking's transaction only wrote a row.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use crate::error::Error;
use crate::notifications::retry_delay;
use crate::store::{BookingStore, DeliveryOutcome};
use crate::webhooks::{self, Due, MAX_ATTEMPTS};

/// How long a claimed delivery is this replica's before another may try.
const LEASE: TimeDelta = TimeDelta::seconds(60);

/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How often the outbox is looked at without a change ringing (retries,
/// other replicas' changes).
const POLL: Duration = Duration::from_millis(500);

/// Deliveries claimed at once.
const BATCH: u32 = 20;

pub struct Deliverer {
    store: Arc<dyn BookingStore>,
    client: reqwest::Client,
    /// The pause before the second attempt; it doubles, up to an hour.
    retry_first: TimeDelta,
    /// Rung after a change wrote to the outbox.
    wake: Arc<tokio::sync::Notify>,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn BookingStore>,
        retry_seconds: u32,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A receiver answers itself; a redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("amtstermin-webhooks")
            .build()
            .map_err(|error| Error::Internal(format!("no HTTP client: {error}")))?;
        Ok(Self {
            store,
            client,
            retry_first: TimeDelta::seconds(i64::from(retry_seconds.max(1))),
            wake,
        })
    }

    pub async fn run(self) {
        loop {
            match self.send_due().await {
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "cannot send webhooks")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Sends what is due now; how many were tried.
    pub async fn send_due(&self) -> Result<usize, Error> {
        let now = Utc::now();
        let claimed = self.store.claim_deliveries(now, now + LEASE, BATCH).await?;
        for (due, url, secret) in &claimed {
            let (status, error) = self.send(due, url, secret).await;
            let at = Utc::now();
            let outcome = if (200..300).contains(&status) {
                DeliveryOutcome::Delivered
            } else if due.attempts >= MAX_ATTEMPTS {
                DeliveryOutcome::GivenUp
            } else {
                DeliveryOutcome::RetryAt(at + retry_delay(self.retry_first, due.attempts))
            };
            match outcome {
                DeliveryOutcome::Delivered => {}
                DeliveryOutcome::GivenUp => {
                    tracing::warn!(office = %due.office_id, webhook = %due.webhook_id, delivery = %due.id, status, "webhook given up")
                }
                DeliveryOutcome::RetryAt(_) => {
                    tracing::info!(office = %due.office_id, webhook = %due.webhook_id, delivery = %due.id, status, attempts = due.attempts, "webhook not taken; tried again later")
                }
            }
            self.store
                .delivery_answered(due, (at, u32::from(status), error.as_deref()), outcome)
                .await?;
        }
        Ok(claimed.len())
    }

    /// Posts one delivery: the receiver's status (0 when there was none) and
    /// what went wrong, if anything.
    async fn send(&self, due: &Due, url: &str, secret: &str) -> (u16, Option<String>) {
        let timestamp = Utc::now().timestamp();
        let signature = match webhooks::sign(secret, &due.id, timestamp, &due.payload) {
            Ok(signature) => signature,
            Err(error) => return (0, Some(error.to_string())),
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", due.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(due.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => (response.status().as_u16(), None),
            Ok(response) => (
                response.status().as_u16(),
                Some(format!("answered {}", response.status())),
            ),
            // Without the URL: it may carry a token of the receiver.
            Err(error) => (
                0,
                Some(amtstermin_platform::telemetry::error_chain(&error.without_url())),
            ),
        }
    }
}
