//! booking-service: keeps the bookings and reserves counters atomically.

pub mod audit;
pub mod bookings;
pub mod changes;
pub mod deliverer;
pub mod error;
pub mod feeds;
pub mod mailer;
pub mod notifications;
pub mod retention;
pub mod service;
pub mod staff;
pub mod statistics;
pub mod store;
pub mod waitlist;
pub mod webhooks;

use amtstermin_platform::auth::Auth;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use amtstermin_platform::server::Health;
use amtstermin_platform::telemetry::error_chain;
use amtstermin_proto::booking::v1::booking_service_server::BookingServiceServer;
use anyhow::Context;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;

pub use error::Error;
use store::BookingStore;

/// Settings of the booking service itself (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, clap::Args)]
#[group(id = "booking_settings")]
pub struct Settings {
    /// Where bookings are stored: `sqlite:PATH` (created on first start) or
    /// `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(long, env = "AMTSTERMIN_DATABASE_URL", default_value = "sqlite:data/bookings.db")]
    pub database_url: String,
    /// Size of the database connection pool.
    #[arg(long, env = "AMTSTERMIN_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    #[command(flatten)]
    pub mail: MailSettings,
    /// Days after an appointment when its personal data is removed.
    #[arg(long, env = "AMTSTERMIN_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// How often (seconds) free time that opened without a booking changing
    /// (an absence removed, a counter added) is looked for and offered to
    /// the waitlist, in confirmation order; 0: never.
    #[arg(long, env = "AMTSTERMIN_WAITLIST_MATCH_SECONDS", default_value_t = 60)]
    pub waitlist_match_seconds: u64,
    /// Seconds before a webhook delivery the receiver did not take is tried
    /// again; the pause doubles each time, up to an hour, 12 attempts in all.
    #[arg(long, env = "AMTSTERMIN_WEBHOOK_RETRY_SECONDS", default_value_t = 10)]
    pub webhook_retry_seconds: u32,
    /// Address of a Prometheus metrics listener (e.g. 0.0.0.0:9102); none
    /// when empty. The all-in-one's gateway serves them at /metrics anyway.
    #[arg(
        id = "booking_metrics_listen",
        long = "booking-metrics-listen",
        env = "AMTSTERMIN_BOOKING_METRICS_LISTEN",
        default_value = ""
    )]
    pub metrics_listen: String,
}

/// Notification mails (flags and `AMTSTERMIN_MAIL_…` variables).
#[derive(Clone, clap::Args)]
pub struct MailSettings {
    /// Where mails go: `file:DIR` (one .eml per mail), `log` (a log line
    /// without personal data), `smtp://[user:pass@]host[:port][?tls=required]`,
    /// `smtps://…`, or `off`.
    #[arg(
        long = "mail-transport",
        env = "AMTSTERMIN_MAIL_TRANSPORT",
        default_value = "file:data/mails"
    )]
    pub transport: String,
    /// Sender of the mails.
    #[arg(
        long = "mail-from",
        env = "AMTSTERMIN_MAIL_FROM",
        default_value = "Online-Terminvergabe <termine@localhost>"
    )]
    pub from: String,
    /// Hours before an appointment when the reminder goes out; 0 for none.
    #[arg(long = "reminder-hours", env = "AMTSTERMIN_REMINDER_HOURS", default_value_t = 24)]
    pub reminder_hours: u32,
    /// Seconds before the first retry of a failed mail; each further retry
    /// waits twice as long, at most an hour.
    #[arg(
        long = "mail-retry-seconds",
        env = "AMTSTERMIN_MAIL_RETRY_SECONDS",
        default_value_t = 10
    )]
    pub retry_seconds: u32,
}

/// Where the booking service finds its peers.
#[derive(Clone, Debug, clap::Args)]
pub struct Peers {
    /// gRPC address of the availability service, asked before each reservation.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_URL", default_value = "http://127.0.0.1:50051")]
    pub availability_url: String,
    /// Public address of the website (the gateway as citizens reach it), for
    /// the manage link in mails.
    #[arg(
        long = "public-url",
        env = "AMTSTERMIN_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field(
                "database_url",
                &amtstermin_platform::database::redact(&self.database_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "mail_transport",
                &amtstermin_platform::database::redact(&self.mail.transport),
            )
            .field("mail_from", &self.mail.from)
            .field("reminder_hours", &self.mail.reminder_hours)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// How often the database is checked once it is ready.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Serves the booking gRPC API on `listener` until `shutdown` resolves.
/// Health reports NOT_SERVING until the database is reachable and migrated.
pub async fn run(
    settings: Settings,
    peers: Peers,
    auth: Auth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let store = store::open(&settings.database_url, settings.database_max_connections)?;
    amtstermin_platform::metrics::install();
    let channel = amtstermin_platform::client::channel(&peers.availability_url, &auth.credentials)
        .with_context(|| format!("invalid availability service URL {:?}", peers.availability_url))?;
    let ready = Arc::new(AtomicBool::new(false));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let feed = changes::ChangeFeed::new(store.clone(), stopping);
    let mail_enabled = settings.mail.transport != "off";
    let policy = notifications::MailPolicy {
        enabled: mail_enabled,
        reminder_before: (settings.mail.reminder_hours > 0)
            .then(|| chrono::TimeDelta::hours(i64::from(settings.mail.reminder_hours))),
    };
    let outboxes = service::Outboxes::default();
    let mut background = Vec::new();
    if !settings.metrics_listen.is_empty() {
        let metrics = TcpListener::bind(&settings.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {} for metrics", settings.metrics_listen))?;
        background.push(tokio::spawn(amtstermin_platform::metrics::serve(
            metrics,
            std::future::pending(),
        )));
    }
    background.push(tokio::spawn(when_ready(
        ready.clone(),
        feed.clone().exchange_announcements(),
    )));
    if mail_enabled {
        let mailer = mailer::Mailer {
            store: store.clone(),
            catalogues: amtstermin_catalogue::Catalogues::new(channel.clone()),
            transport: mailer::Transport::parse(&settings.mail.transport)?,
            from: settings
                .mail
                .from
                .parse()
                .with_context(|| format!("invalid sender address {:?}", settings.mail.from))?,
            public_url: peers.public_url.clone(),
            first_retry: chrono::TimeDelta::seconds(i64::from(settings.mail.retry_seconds.max(1))),
            wake: outboxes.mail.clone(),
        };
        background.push(tokio::spawn(when_ready(ready.clone(), mailer.run())));
    }
    background.push(tokio::spawn(when_ready(
        ready.clone(),
        retention::run(store.clone(), settings.retention_days),
    )));
    let deliverer = deliverer::Deliverer::new(store.clone(), settings.webhook_retry_seconds, outboxes.hooks.clone())?;
    background.push(tokio::spawn(when_ready(ready.clone(), deliverer.run())));
    let bookings = service::Bookings::new(
        store.clone(),
        feed,
        channel,
        ready.clone(),
        policy,
        outboxes,
        settings.retention_days,
    );
    background.push(tokio::spawn(when_ready(
        ready.clone(),
        bookings.clone().release_unconfirmed(),
    )));
    if settings.waitlist_match_seconds > 0 {
        let every = std::time::Duration::from_secs(settings.waitlist_match_seconds);
        background.push(tokio::spawn(when_ready(
            ready.clone(),
            bookings.clone().match_free_time(every),
        )));
    }
    let service = BookingServiceServer::new(bookings);

    let mut routes = RoutesBuilder::default();
    let health = amtstermin_platform::server::standard_services(
        &mut routes,
        &[amtstermin_proto::booking::v1::booking_service_server::SERVICE_NAME],
    )
    .await?;
    routes.add_service(service);
    let watcher = tokio::spawn(watch_database(
        store,
        health,
        ready,
        amtstermin_platform::database::redact(&settings.database_url),
    ));

    tracing::info!(address = %listener.local_addr()?, "booking service listening");
    let served = amtstermin_platform::server::serve(routes.routes(), listener, auth.access, async move {
        shutdown.await;
        // Change feeds never end by themselves; the server waits for them.
        let _ = stop.send(true);
    })
    .await;
    watcher.abort();
    for task in background {
        task.abort();
    }
    served.context("booking gRPC server failed")
}

/// Runs `job` once the database is migrated.
async fn when_ready(ready: Arc<AtomicBool>, job: impl Future<Output = ()>) {
    while !ready.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    job.await;
}

/// Migrates once the database answers, then keeps health in step with it.
async fn watch_database(store: Arc<dyn BookingStore>, health: Health, ready: Arc<AtomicBool>, url: String) {
    let mut delay = Duration::from_millis(200);
    while let Err(error) = store.migrate().await {
        tracing::warn!(database = %url, error = %error_chain(&error), "database not ready, retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(HEALTH_INTERVAL);
    }
    tracing::info!(database = %url, "database migrated");
    ready.store(true, Ordering::Release);
    let mut serving = None;
    loop {
        let status = match store.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "database unreachable");
                ServingStatus::NotServing
            }
        };
        if serving != Some(status) {
            health.set(status).await;
            serving = Some(status);
        }
        for (pool, connections) in store.pool_use() {
            amtstermin_platform::metrics::pool_connections("booking", pool, connections);
        }
        if let Ok(backlog) = store.mail_backlog().await {
            metrics::gauge!("amtstermin_mail_outbox_backlog").set(backlog as f64);
        }
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}
