use amtstermin_proto::telemetry::{self, LogFormat};
use clap::Parser;

/// Keeps the bookings and reserves counters atomically (gRPC).
#[derive(Parser)]
#[command(name = "booking-service", version)]
struct Cli {
    /// Address the gRPC server listens on.
    #[arg(long, env = "AMTSTERMIN_BOOKING_LISTEN", default_value = "127.0.0.1:50052")]
    listen: String,
    #[arg(long, env = "AMTSTERMIN_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(flatten)]
    settings: booking_service::Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    booking_service::run(cli.settings, listener, telemetry::shutdown_signal()).await
}
