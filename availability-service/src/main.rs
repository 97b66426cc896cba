use amtstermin_platform::auth::{Auth, AuthSettings};
use amtstermin_platform::telemetry::{self, LogSettings};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: amtstermin_platform::allocator::Jemalloc = amtstermin_platform::allocator::Jemalloc;

/// Computes the open appointment slots of the configured offices (gRPC).
#[derive(Parser)]
#[command(name = "availability-service", version)]
struct Cli {
    /// Address the gRPC server listens on.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_LISTEN", default_value = "127.0.0.1:50051")]
    listen: String,
    #[command(flatten)]
    log: LogSettings,
    #[command(flatten)]
    settings: availability_service::Settings,
    #[command(flatten)]
    peers: availability_service::Peers,
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
    availability_service::run(cli.settings, cli.peers, auth, listener, telemetry::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_is_declared_once() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
