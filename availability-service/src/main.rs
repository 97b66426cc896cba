use amtstermin_proto::telemetry::{self, LogFormat};
use clap::Parser;

/// Computes the open appointment slots of the configured offices (gRPC).
#[derive(Parser)]
#[command(name = "availability-service", version)]
struct Cli {
    /// Address the gRPC server listens on.
    #[arg(long, env = "AMTSTERMIN_AVAILABILITY_LISTEN", default_value = "127.0.0.1:50051")]
    listen: String,
    #[arg(long, env = "AMTSTERMIN_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(flatten)]
    settings: availability_service::Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    availability_service::run(cli.settings, listener, telemetry::shutdown_signal()).await
}
