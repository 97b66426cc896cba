//! The whole stack in one process, with the embedded SQLite database and the
//! demo offices: `cargo run --release --bin amtstermin`.

use amtstermin_platform::telemetry::{self, LogSettings};
use clap::Parser;

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
    #[command(flatten)]
    log: LogSettings,
    #[command(flatten)]
    settings: launcher::Settings,
}

/// The demo's desk accounts (login `demo`, password `demo`).
const DEMO_STAFF_FILE: &str = "config/staff.toml";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    telemetry::init(cli.log);
    let staff = &mut cli.settings.gateway.staff;
    let demo_staff = std::path::Path::new(DEMO_STAFF_FILE);
    if staff.file.is_none() && staff.accounts.is_empty() && demo_staff.exists() {
        tracing::warn!("desk accounts from the demo file {DEMO_STAFF_FILE}: replace them before going live");
        staff.file = Some(demo_staff.to_path_buf());
    }
    let listeners = launcher::Listeners::bind(&cli.http_listen, &cli.availability_listen, &cli.booking_listen).await?;
    let stack = launcher::Stack::new(cli.settings, listeners.addresses()?);
    tracing::info!(url = %format!("http://{}", stack.addresses().http), "amtstermin starting");
    stack.run(listeners, telemetry::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_flag_is_declared_once() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn the_defaults_start_the_demo() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["amtstermin"]).expect("defaults");
        assert_eq!(cli.settings.booking.database_url, "sqlite:data/bookings.db");
        assert_eq!(cli.settings.availability.database_url, "sqlite:data/availability.db");
        assert_eq!(cli.settings.availability.database_max_connections, 4);
        assert_eq!(cli.settings.gateway.public_url, None);
    }
}
