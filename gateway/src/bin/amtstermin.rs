//! The whole stack in one process, with the embedded SQLite database and the
//! demo offices: `cargo run --bin amtstermin`.

use std::path::PathBuf;

use amtstermin_proto::telemetry::{self, LogFormat};
use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

/// amtstermin all-in-one: gateway, availability and booking service.
#[derive(Parser)]
#[command(name = "amtstermin", version)]
struct Cli {
    /// HTTP address of the gateway.
    #[arg(long, env = "AMTSTERMIN_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    http_listen: String,
    /// gRPC address of the availability service.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_LISTEN", default_value = "127.0.0.1:50051")]
    availability_listen: String,
    /// gRPC address of the booking service.
    #[arg(long, env = "AMTSTERMIN_BOOKING_LISTEN", default_value = "127.0.0.1:50052")]
    booking_listen: String,
    /// The office configuration file (TOML).
    #[arg(long = "config", env = "AMTSTERMIN_CONFIG", default_value = "config/offices.toml")]
    config_path: PathBuf,
    /// `sqlite:PATH` (created on first start) or `postgres://…`.
    #[arg(long, env = "AMTSTERMIN_DATABASE_URL", default_value = "sqlite:data/bookings.db")]
    database_url: String,
    /// Size of the database connection pool.
    #[arg(long, env = "AMTSTERMIN_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    database_max_connections: u32,
    /// The availability service's own database (counter absences).
    #[arg(
        long,
        env = "AMTSTERMIN_AVAILABILITY_DATABASE_URL",
        default_value = "sqlite:data/availability.db"
    )]
    availability_database_url: String,
    #[command(flatten)]
    mail: booking_service::MailSettings,
    #[command(flatten)]
    staff: gateway::staff::StaffSettings,
    /// Days after an appointment when its personal data is removed.
    #[arg(long, env = "AMTSTERMIN_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    #[arg(long, env = "AMTSTERMIN_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
}

async fn bind(address: &str, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the {what}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    telemetry::init(cli.log_format);
    // The demo desk account of config/staff.toml, unless staff are configured.
    let demo_staff = std::path::Path::new("config/staff.toml");
    if cli.staff.file.is_none() && cli.staff.accounts.is_empty() && demo_staff.exists() {
        tracing::warn!("desk accounts from the demo file config/staff.toml: replace them before going live");
        cli.staff.file = Some(demo_staff.to_path_buf());
    }
    let stack = gateway::stack::Stack {
        http: bind(&cli.http_listen, "gateway").await?,
        availability: bind(&cli.availability_listen, "availability service").await?,
        booking: bind(&cli.booking_listen, "booking service").await?,
        config_path: cli.config_path,
        database_url: cli.database_url,
        database_max_connections: cli.database_max_connections,
        availability_database_url: cli.availability_database_url,
        mail: cli.mail,
        retention_days: cli.retention_days,
        staff: cli.staff,
    };
    tracing::info!(url = %format!("http://{}", cli.http_listen), "amtstermin starting");
    stack.run(telemetry::shutdown_signal()).await
}
