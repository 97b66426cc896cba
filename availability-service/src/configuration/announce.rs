//! Tells the booking service of every saved change, so the office's
//! webhooks report it (`configuration.changed`) and its audit log has it. The change's row is the
//! outbox: it is announced until the booking service has taken it, at least
//! once (replicas may both announce one; the booking service queues it once
//! per subscription).

use std::sync::Arc;
use std::time::Duration;

use amtstermin_platform::client::Channel;
use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1::RecordConfigurationChangeRequest;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use chrono::Utc;

use super::ConfigurationStore;

/// How often a replica looks for changes to announce.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const BATCH: u32 = 50;

/// Announces, for as long as the process runs.
pub async fn run(store: Arc<dyn ConfigurationStore>, booking: Channel) {
    let mut client = BookingServiceClient::new(booking);
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let due = match store.unannounced(BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the configuration changes to announce");
                continue;
            }
        };
        for change in due {
            let request = RecordConfigurationChangeRequest {
                office_id: change.office_id.clone(),
                version: change.version,
                changed_at: Some(timestamp::to_proto(change.changed_at)),
                actor: change.actor.clone(),
            };
            if let Err(status) = client.record_configuration_change(request).await {
                tracing::debug!(code = ?status.code(), "booking service not reachable; announcing later");
                break;
            }
            if let Err(error) = store.announced(&change.office_id, change.version, Utc::now()).await {
                tracing::warn!(error = %error, "cannot mark a configuration change announced");
                break;
            }
        }
    }
}
