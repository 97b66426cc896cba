use amtstermin_proto::telemetry::{self, LogFormat};
use clap::Parser;

/// The public HTTP API of amtstermin, calling the services over gRPC.
#[derive(Parser)]
#[command(name = "gateway", version)]
struct Cli {
    /// Address the HTTP server listens on.
    #[arg(long, env = "AMTSTERMIN_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[arg(long, env = "AMTSTERMIN_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(flatten)]
    settings: gateway::Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    gateway::run(cli.settings, listener, telemetry::shutdown_signal()).await
}
