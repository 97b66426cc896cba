//! The operators' command line: the offices' configuration (`amtstermin
//! config validate|export|import`, the last two through the availability
//! service's gRPC), and the webhooks and calendar feeds of an office
//! (`amtstermin webhook …`, `amtstermin feed …`, through the booking
//! service's), with an admin token. Each command answers a few lines of text.

use std::fmt::Write as _;
use std::path::PathBuf;

use amtstermin_platform::client::Channel;
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::availability::v1::configuration_admin_service_client::ConfigurationAdminServiceClient;
use amtstermin_proto::booking::v1 as pb;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// The offices' configuration: a file, or the one in force (admin token).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Staff accounts stored in the booking service (admin token).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// An office's webhooks (admin token).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// An office's calendar feeds for staff calendars (admin token).
    #[command(subcommand)]
    Feed(FeedCommand),
}

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Checks a configuration file as the availability service does when it starts.
    Validate {
        #[arg(default_value = "config/offices.toml")]
        path: PathBuf,
    },
    /// Prints the configuration in force as a configuration file.
    Export,
    /// Makes a file the configuration in force: its offices are added or
    /// changed, offices not in it removed (not while they have bookings).
    Import {
        path: PathBuf,
        /// Only show what would change, and the bookings it affects.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum StaffCommand {
    /// Creates an account; its first password is read from standard input.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long, default_value = "")]
        name: String,
        /// desk, admin or audit (repeat for more).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// An office it works for (repeat for more); none: all.
        #[arg(long = "office")]
        offices: Vec<String>,
    },
    List,
    /// Disables an account: it signs in no more, its sessions end.
    Disable {
        #[arg(long)]
        login: String,
    },
}

#[derive(clap::Subcommand)]
pub enum WebhookCommand {
    /// Subscribes a URL; prints its id and signing secret (shown once).
    Add {
        #[arg(long)]
        office: String,
        #[arg(long)]
        url: String,
        /// An event to deliver (repeat for more); none: all.
        #[arg(long = "event")]
        events: Vec<String>,
        /// Payloads carry the citizen's name, email and phone.
        #[arg(long)]
        personal_data: bool,
    },
    List {
        #[arg(long)]
        office: String,
    },
    Delete {
        #[arg(long)]
        office: String,
        #[arg(long)]
        id: String,
    },
    /// A subscription's latest deliveries and their answers.
    Deliveries {
        #[arg(long)]
        office: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(clap::Subcommand)]
pub enum FeedCommand {
    /// Makes a feed; prints its address's path with the token (shown once).
    Add {
        #[arg(long)]
        office: String,
        /// One counter only; none: the whole office.
        #[arg(long)]
        counter: Option<String>,
        /// Show the citizens' names.
        #[arg(long)]
        names: bool,
    },
    List {
        #[arg(long)]
        office: String,
    },
    Revoke {
        #[arg(long)]
        office: String,
        #[arg(long)]
        id: String,
    },
}

/// Where the commands reach the services.
#[derive(clap::Args)]
pub struct Connection {
    /// gRPC address of the booking service.
    #[arg(
        long = "booking-service",
        env = "AMTSTERMIN_ADMIN_BOOKING_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub url: String,
    /// gRPC address of the availability service.
    #[arg(
        long = "availability-service",
        env = "AMTSTERMIN_ADMIN_AVAILABILITY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub availability_url: String,
    /// A token with the admin scope; default: the all-in-one's `data/grpc-token`.
    #[arg(long = "admin-token", env = "AMTSTERMIN_ADMIN_TOKEN")]
    pub token: Option<String>,
}

/// The services the commands talk to.
pub struct Clients {
    pub booking: BookingServiceClient<Channel>,
    pub configuration: ConfigurationAdminServiceClient<Channel>,
}

impl Connection {
    pub fn clients(&self) -> anyhow::Result<Clients> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => std::fs::read_to_string("data/grpc-token")
                .context("no --admin-token, and no data/grpc-token of a running all-in-one")?,
        };
        let token: amtstermin_platform::auth::Token = token
            .trim()
            .parse()
            .map_err(|error: String| anyhow::anyhow!("the admin token is malformed: {error}"))?;
        let credentials = amtstermin_platform::auth::Credentials::new(&token);
        let channel = |url: &str| {
            amtstermin_platform::client::channel(url, &credentials).with_context(|| format!("cannot reach {url}"))
        };
        Ok(Clients {
            booking: BookingServiceClient::new(channel(&self.url)?),
            configuration: ConfigurationAdminServiceClient::new(channel(&self.availability_url)?),
        })
    }
}

/// Who the history names for a change made here.
fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME"));
    format!("cli:{}", user.as_deref().unwrap_or("unbekannt"))
}

/// Runs `command` (`connect` makes the clients where they are needed); the
/// text to print.
pub async fn run(command: Command, connect: impl FnOnce() -> anyhow::Result<Clients>) -> anyhow::Result<String> {
    match command {
        Command::Config(ConfigCommand::Validate { path }) => {
            let catalogue = availability_service::config::load(&path)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
            Ok(format!(
                "{}: {} offices, valid\n",
                path.display(),
                catalogue.offices().len()
            ))
        }
        Command::Config(ConfigCommand::Export) => {
            let request = availability::GetConfigurationRequest {};
            Ok(connect()?
                .configuration
                .get_configuration(request)
                .await?
                .into_inner()
                .file)
        }
        Command::Config(ConfigCommand::Import { path, dry_run }) => {
            let file = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let request = availability::ImportConfigurationRequest {
                file,
                actor: actor(),
                dry_run,
            };
            let imported = connect()?
                .configuration
                .import_configuration(request)
                .await?
                .into_inner();
            imported_text(&imported, dry_run)
        }
        Command::Staff(command) => staff(command, connect()?.booking, std::io::stdin().lock()).await,
        Command::Webhook(command) => webhook(command, connect()?.booking).await,
        Command::Feed(command) => feed(command, connect()?.booking).await,
    }
}

fn imported_text(imported: &availability::ImportConfigurationResponse, dry_run: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    let list = |ids: &[String]| if ids.is_empty() { "-".to_owned() } else { ids.join(", ") };
    writeln!(out, "added: {}", list(&imported.added))?;
    writeln!(out, "changed: {}", list(&imported.changed))?;
    writeln!(out, "removed: {}", list(&imported.removed))?;
    if !imported.affected_bookings.is_empty() {
        writeln!(
            out,
            "bookings without room now (kept; move or cancel them at the desk):"
        )?;
        for booking in &imported.affected_bookings {
            let start = booking
                .start
                .as_ref()
                .and_then(amtstermin_platform::timestamp::from_proto)
                .map(|start| start.to_rfc3339())
                .unwrap_or_default();
            writeln!(out, "  {}	{start}	{}", booking.code, booking.counter_id)?;
        }
    }
    if dry_run {
        writeln!(out, "dry run: nothing saved")?;
    } else {
        writeln!(out, "catalogue version {}", imported.catalogue_version)?;
    }
    Ok(out)
}

/// The staff commands; `input` gives a new account's password (one line).
pub async fn staff(
    command: StaffCommand,
    mut client: BookingServiceClient<Channel>,
    mut input: impl std::io::BufRead,
) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        StaffCommand::Add {
            login,
            name,
            roles,
            offices,
        } => {
            let mut password = String::new();
            input.read_line(&mut password).context("cannot read the password")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.chars().count() >= 10,
                "give the first password (at least 10 characters) on standard input"
            );
            let request = pb::CreateStaffAccountRequest {
                login,
                name,
                offices,
                roles,
                password_hash: gateway::staff::hash_password(password)?,
                actor: actor(),
            };
            let account = client.create_staff_account(request).await?.into_inner();
            writeln!(out, "{} created", account.login)?;
        }
        StaffCommand::List => {
            let accounts = client
                .list_staff_accounts(pb::ListStaffAccountsRequest {})
                .await?
                .into_inner()
                .accounts;
            for account in accounts {
                let offices = if account.offices.is_empty() {
                    "all offices".to_owned()
                } else {
                    account.offices.join(",")
                };
                let state = if account.disabled { "disabled" } else { "active" };
                writeln!(
                    out,
                    "{}\t{}\t{offices}\t{state}",
                    account.login,
                    account.roles.join(",")
                )?;
            }
        }
        StaffCommand::Disable { login } => {
            let current = client
                .list_staff_accounts(pb::ListStaffAccountsRequest {})
                .await?
                .into_inner()
                .accounts
                .into_iter()
                .find(|account| account.login == login)
                .ok_or_else(|| anyhow::anyhow!("no stored staff account {login:?}"))?;
            let request = pb::UpdateStaffAccountRequest {
                login: current.login,
                name: current.name,
                offices: current.offices,
                roles: current.roles,
                disabled: true,
                actor: actor(),
            };
            let account = client.update_staff_account(request).await?.into_inner();
            writeln!(out, "{} disabled", account.login)?;
        }
    }
    Ok(out)
}

async fn webhook(command: WebhookCommand, mut client: BookingServiceClient<Channel>) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        WebhookCommand::Add {
            office,
            url,
            events,
            personal_data,
        } => {
            let request = pb::CreateWebhookRequest {
                office_id: office,
                url,
                events,
                personal_data,
                actor: actor(),
            };
            let webhook = client.create_webhook(request).await?.into_inner();
            writeln!(
                out,
                "{}\t{}\nsecret (shown once): {}",
                webhook.id, webhook.url, webhook.secret
            )?;
        }
        WebhookCommand::List { office } => {
            let request = pb::ListWebhooksRequest { office_id: office };
            for webhook in client.list_webhooks(request).await?.into_inner().webhooks {
                let events = if webhook.events.is_empty() {
                    "all events".to_owned()
                } else {
                    webhook.events.join(",")
                };
                writeln!(out, "{}\t{}\t{events}", webhook.id, webhook.url)?;
            }
        }
        WebhookCommand::Delete { office, id } => {
            let request = pb::DeleteWebhookRequest {
                office_id: office,
                id,
                actor: actor(),
            };
            let webhook = client.delete_webhook(request).await?.into_inner();
            writeln!(out, "{} deleted", webhook.id)?;
        }
        WebhookCommand::Deliveries { office, id } => {
            let request = pb::ListWebhookDeliveriesRequest {
                office_id: office,
                webhook_id: id,
                limit: 20,
            };
            for delivery in client.list_webhook_deliveries(request).await?.into_inner().deliveries {
                let state = if delivery.delivered_at.is_some() {
                    "delivered"
                } else if delivery.failed_at.is_some() {
                    "given up"
                } else {
                    "pending"
                };
                writeln!(
                    out,
                    "{}\t{}\t{state}\t{} attempts\tlast answer {}",
                    delivery.id, delivery.event, delivery.attempts, delivery.last_status
                )?;
            }
        }
    }
    Ok(out)
}

async fn feed(command: FeedCommand, mut client: BookingServiceClient<Channel>) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        FeedCommand::Add { office, counter, names } => {
            let request = pb::CreateCalendarFeedRequest {
                office_id: office,
                counter_id: counter.unwrap_or_default(),
                names,
                actor: actor(),
            };
            let feed = client.create_calendar_feed(request).await?.into_inner();
            writeln!(
                out,
                "{}\naddress (shown once): /kalender/{}/{}.ics",
                feed.id, feed.office_id, feed.token
            )?;
        }
        FeedCommand::List { office } => {
            let request = pb::ListCalendarFeedsRequest { office_id: office };
            for feed in client.list_calendar_feeds(request).await?.into_inner().feeds {
                let scope = if feed.counter_id.is_empty() {
                    "whole office".to_owned()
                } else {
                    format!("counter {}", feed.counter_id)
                };
                let names = if feed.names { "with names" } else { "without names" };
                writeln!(out, "{}\t{scope}\t{names}", feed.id)?;
            }
        }
        FeedCommand::Revoke { office, id } => {
            let request = pb::RevokeCalendarFeedRequest {
                office_id: office,
                id,
                actor: actor(),
            };
            let feed = client.revoke_calendar_feed(request).await?.into_inner();
            writeln!(out, "{} revoked", feed.id)?;
        }
    }
    Ok(out)
}
