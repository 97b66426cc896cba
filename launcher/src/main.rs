//! The whole stack in one process, with the embedded SQLite database and the
//! demo offices: `cargo run --release --bin amtstermin`; with a command, the
//! operators' command line (`amtstermin webhook list --office bergkamen`).

use amtstermin_platform::telemetry::{self, LogSettings};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: amtstermin_platform::allocator::Jemalloc = amtstermin_platform::allocator::Jemalloc;

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
    /// Without a command: run the stack.
    #[command(subcommand)]
    command: Option<launcher::admin::Command>,
    #[command(flatten)]
    connection: launcher::admin::Connection,
}

/// The demo's desk accounts (login `demo`, password `demo`).
const DEMO_STAFF_FILE: &str = "config/staff.toml";

/// Where the all-in-one leaves the token it made for local tools (grpcurl).
const GENERATED_TOKEN_FILE: &str = "data/grpc-token";

/// Writes the token readable by this user only.
fn write_token_file(token: &amtstermin_platform::auth::Token) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let path = std::path::Path::new(GENERATED_TOKEN_FILE);
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{}", token.as_str())?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command {
        let connection = cli.connection;
        // An operator reads the reason, not a backtrace.
        match launcher::admin::run(command, || connection.clients()).await {
            Ok(text) => print!("{text}"),
            Err(error) => {
                eprintln!("error: {error:#}");
                std::process::exit(1);
            }
        }
        return Ok(());
    }
    telemetry::init(cli.log);
    amtstermin_platform::allocator::purge_in_background();
    let staff = &mut cli.settings.gateway.staff;
    // The all-in-one is the demo: its published accounts and secrets are
    // taken with a warning; the gateway on its own refuses them.
    staff.demo = true;
    let demo_staff = std::path::Path::new(DEMO_STAFF_FILE);
    if staff.file.is_none() && staff.accounts.is_empty() && demo_staff.exists() {
        tracing::warn!("desk accounts from the demo file {DEMO_STAFF_FILE}: replace them before going live");
        staff.file = Some(demo_staff.to_path_buf());
    }
    let generated = cli.settings.auth.grpc_tokens.is_empty() && cli.settings.auth.grpc_token.is_none();
    let listeners = launcher::Listeners::bind(&cli.http_listen, &cli.availability_listen, &cli.booking_listen).await?;
    let stack = launcher::Stack::new(cli.settings, listeners.addresses()?)?;
    if generated && let Some(token) = stack.gateway_token() {
        write_token_file(token)?;
        tracing::info!("gRPC token of this run (public, staff, admin) written to {GENERATED_TOKEN_FILE}");
    }
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
    fn commands_parse_and_leave_the_stack_alone() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "amtstermin",
            "--admin-token",
            "t",
            "webhook",
            "add",
            "--office",
            "bergkamen",
            "--url",
            "https://example.org/hook",
            "--event",
            "booking.created",
        ])
        .expect("a command");
        assert!(matches!(
            cli.command,
            Some(launcher::admin::Command::Webhook(
                launcher::admin::WebhookCommand::Add { .. }
            ))
        ));
        let cli = super::Cli::try_parse_from(["amtstermin", "config", "validate"]).expect("a command");
        assert!(cli.command.is_some());
        assert!(
            super::Cli::try_parse_from(["amtstermin"])
                .expect("the stack")
                .command
                .is_none()
        );
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
