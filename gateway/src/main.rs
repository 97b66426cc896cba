use amtstermin_platform::auth::{AuthSettings, Credentials};
use amtstermin_platform::telemetry::{self, LogSettings};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: amtstermin_platform::allocator::Jemalloc = amtstermin_platform::allocator::Jemalloc;

/// The public HTTP API and website of amtstermin, calling the services over gRPC.
#[derive(Parser)]
#[command(name = "gateway", version)]
struct Cli {
    /// Address the HTTP server listens on.
    #[arg(long, env = "AMTSTERMIN_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    log: LogSettings,
    /// Reads a password from standard input, prints its argon2 hash for the
    /// staff file, and exits.
    #[arg(long)]
    hash_password: bool,
    /// Prints the HTTP API's OpenAPI document (served at
    /// /api/v1/openapi.json) and exits.
    #[arg(long)]
    print_openapi: bool,
    #[command(flatten)]
    settings: gateway::Settings,
    #[command(flatten)]
    peers: gateway::Peers,
    #[command(flatten)]
    auth: AuthSettings,
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
    if cli.print_openapi {
        println!("{}", gateway::openapi::document().to_pretty_json()?);
        return Ok(());
    }
    telemetry::init(cli.log);
    amtstermin_platform::allocator::purge_in_background();
    let credentials = Credentials::of_settings(&cli.auth).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    gateway::run(
        cli.settings,
        cli.peers,
        credentials,
        listener,
        telemetry::shutdown_signal(),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_is_declared_once() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
