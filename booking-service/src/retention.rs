//! Data protection: personal data does not outlive its purpose. A job in
//! every replica removes name, email, phone, history notes and unsent mails
//! of bookings a configured number of days after the appointment; it also
//! trims the change log behind `WatchBookings` to its last week.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use crate::error::Error;
use crate::store::BookingStore;

/// How often the job runs.
const INTERVAL: Duration = Duration::from_secs(3600);

/// How long the change log keeps its entries: a projection away for longer
/// resumes with a snapshot.
const CHANGE_LOG_DAYS: i64 = 7;

/// Anonymises the bookings that ended more than `days` days ago, and trims
/// the change log.
pub async fn run_once(store: &dyn BookingStore, days: u32) -> Result<u64, Error> {
    let now = Utc::now();
    let anonymised = store.anonymise(now - TimeDelta::days(i64::from(days)), now).await?;
    if anonymised > 0 {
        tracing::info!(bookings = anonymised, days, "personal data removed");
    }
    store.prune_sessions(now).await?;
    let pruned = store.prune_changes(now - TimeDelta::days(CHANGE_LOG_DAYS)).await?;
    if pruned > 0 {
        tracing::info!(changes = pruned, "change log trimmed");
    }
    Ok(anonymised)
}

/// Runs the job now and then every hour, for as long as the process runs.
pub async fn run(store: Arc<dyn BookingStore>, days: u32) {
    loop {
        if let Err(error) = run_once(store.as_ref(), days).await {
            tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "retention job failed");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
