use amtstermin_platform::auth::{Auth, AuthSettings};
use amtstermin_platform::telemetry::{self, LogSettings};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: amtstermin_platform::allocator::Jemalloc = amtstermin_platform::allocator::Jemalloc;

/// Keeps the bookings and reserves counters atomically (gRPC).
#[derive(Parser)]
#[command(name = "booking-service", version)]
struct Cli {
    /// Address the gRPC server listens on.
    #[arg(long, env = "AMTSTERMIN_BOOKING_LISTEN", default_value = "127.0.0.1:50052")]
    listen: String,
    #[command(flatten)]
    log: LogSettings,
    #[command(flatten)]
    settings: booking_service::Settings,
    #[command(flatten)]
    peers: booking_service::Peers,
    #[command(flatten)]
    auth: AuthSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log);
    amtstermin_platform::allocator::purge_in_background();
    let auth = Auth::of_service(&cli.auth).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    booking_service::run(cli.settings, cli.peers, auth, listener, telemetry::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_is_declared_once() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
