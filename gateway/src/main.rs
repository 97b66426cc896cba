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
    /// Reads a password from standard input, prints its argon2 hash for the
    /// staff file, and exits.
    #[arg(long)]
    hash_password: bool,
    #[command(flatten)]
    settings: gateway::Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.hash_password {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        println!(
            "{}",
            gateway::staff::hash_password(password.trim_end_matches(['\r', '\n']))?
        );
        return Ok(());
    }
    telemetry::init(cli.log_format);
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    gateway::run(cli.settings, listener, telemetry::shutdown_signal()).await
}
