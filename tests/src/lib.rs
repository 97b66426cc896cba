//! Test harness for amtstermin: fresh databases per test (a temporary SQLite
//! file, or a new PostgreSQL database when `AMTSTERMIN_TEST_POSTGRES_URL` is
//! set) and the three services started in-process on random ports.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod smtp;

pub const POSTGRES_URL_VAR: &str = "AMTSTERMIN_TEST_POSTGRES_URL";

/// The desk account every test stack has.
pub const STAFF_LOGIN: &str = "eva";
pub const STAFF_PASSWORD: &str = "schalter-test";
/// An account of the administration only, and one of the internal audit
/// (same password).
pub const ADMIN_LOGIN: &str = "ada";
pub const AUDIT_LOGIN: &str = "rita";
/// The bearer token of the staff API in tests.
pub const STAFF_API_TOKEN: &str = "test-staff-api-token";

/// Path of the shipped demo configuration.
pub fn demo_config() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/offices.toml"))
}

/// The demo configuration with the first `find` replaced by `replace`, in
/// a temporary folder removed when this is dropped.
pub struct ChangedConfig {
    folder: PathBuf,
    pub path: PathBuf,
}

impl ChangedConfig {
    pub fn new(find: &str, replace: &str) -> Self {
        let folder = std::env::temp_dir()
            .join(format!("amtstermin-config-{}", std::process::id()))
            .join(format!("{:?}", std::time::SystemTime::now()).replace([' ', ':', '{', '}', ','], ""));
        std::fs::create_dir_all(&folder).expect("temporary folder");
        let config = Self {
            path: folder.join("offices.toml"),
            folder,
        };
        config.change(find, replace);
        config
    }

    /// Writes the demo configuration changed otherwise (a service reads it
    /// when it starts).
    pub fn change(&self, find: &str, replace: &str) {
        let demo = std::fs::read_to_string(demo_config()).expect("demo config");
        let changed = demo.replacen(find, replace, 1);
        assert_ne!(demo, changed, "the demo configuration holds {find:?}");
        std::fs::write(&self.path, changed).expect("write config");
    }
}

impl Drop for ChangedConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body once per backend: `backend_tests!(name, ...)`
/// expands to `mod sqlite { fn name }` and `mod postgres { fn name }`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// Logs go to the test output only when `TEST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_test_writer()
            .try_init();
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("randomness");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// A database of its own for one test, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// `None` (with a note on stderr) for PostgreSQL when no server is
    /// configured; set `AMTSTERMIN_TEST_POSTGRES_URL` to run those tests.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let directory = std::env::temp_dir().join(format!("amtstermin-test-{}", random_hex(8)));
                std::fs::create_dir_all(&directory).expect("temporary directory");
                Some(Self {
                    url: format!("sqlite:{}", directory.join("bookings.db").display()),
                    cleanup: Cleanup::Directory(directory),
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
                    // Written past the test harness's capture, so the skip shows.
                    let thread = std::thread::current();
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipped: {} (set {POSTGRES_URL_VAR} to run it on PostgreSQL)",
                        thread.name().unwrap_or("a PostgreSQL test")
                    );
                    return None;
                };
                let name = format!("amtstermin_test_{}", random_hex(8));
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|error| panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {error}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                Some(Self {
                    url: database_url(&admin_url, &name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                })
            }
        }
    }
}

impl TestDatabase {
    /// PostgreSQL only: takes the database away (no new connections, open
    /// ones terminated), or gives it back. `false` for SQLite.
    pub async fn set_reachable(&self, reachable: bool) -> bool {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return false;
        };
        let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {reachable}"
        )))
        .execute(&mut admin)
        .await
        .expect("allow connections");
        if !reachable {
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .execute(&mut admin)
                .await
                .expect("terminate");
        }
        let _ = admin.close().await;
        true
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (scheme, rest) = admin_url.split_once("://").unwrap_or(("postgres", admin_url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(directory) => {
                let _ = std::fs::remove_dir_all(directory);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a thread with its own
                // runtime can still wait for the database to go.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await
                        .ok()
                    })
                })
                .join();
            }
        }
    }
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Runs a service of the stack; a failure is printed, and shows in the
    /// test as a service that never reports SERVING.
    fn spawn<F>(name: &'static str, service: impl FnOnce(StopSignal) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let service = service(Box::pin(async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            if let Err(error) = service.await {
                eprintln!("{name} failed: {error:#}");
            }
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Settings as the flags' defaults give them.
pub fn defaults<T: clap::Args>() -> T {
    #[derive(clap::Parser)]
    struct Flags<T: clap::Args> {
        #[command(flatten)]
        settings: T,
    }
    <Flags<T> as clap::Parser>::parse_from(["amtstermin"]).settings
}

/// The gateway's protection settings as shipped.
pub fn default_protection() -> gateway::protection::ProtectionSettings {
    defaults()
}

type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind a random port")
}

/// The launcher's stack on random ports against fresh databases.
pub struct TestApp {
    pub base_url: String,
    pub availability_url: String,
    pub booking_url: String,
    pub http: reqwest::Client,
    /// The booking service's database.
    pub database: TestDatabase,
    /// The availability service's database.
    pub availability_database: TestDatabase,
    stack: launcher::Stack,
    availability: Running,
    booking: Running,
    gateway: Running,
}

impl TestApp {
    /// `None` when the backend is not available here (see `TestDatabase`).
    /// Mails are off.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As `spawn`, with mails sent through `mail_transport` (e.g. an SMTP URL).
    pub async fn spawn_with_mail(backend: Backend, mail_transport: &str) -> Option<Self> {
        Self::spawn_with(backend, |settings| {
            mail_transport.clone_into(&mut settings.booking.mail.transport)
        })
        .await
    }

    /// As `spawn`, with the gateway's protection as shipped (rate limits and
    /// proofs of work on).
    pub async fn spawn_protected(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |settings| {
            settings.gateway.protection = default_protection();
            settings.gateway.challenge = defaults();
        })
        .await
    }

    /// The stack with the test settings changed by `adjust`. The tests act
    /// as many citizens from one address, so rate limits are off unless a
    /// test sets them.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut launcher::Settings)) -> Option<Self> {
        init_tracing();
        let database = TestDatabase::create(backend).await?;
        let availability_database = TestDatabase::create(backend).await?;
        let listeners = launcher::Listeners {
            http: listener().await,
            availability: listener().await,
            booking: listener().await,
        };
        let mut settings = launcher::Settings {
            availability: availability_service::Settings {
                config_path: demo_config(),
                database_url: availability_database.url.clone(),
                database_max_connections: 2,
                metrics_listen: String::new(),
            },
            booking: booking_service::Settings {
                database_url: database.url.clone(),
                // Small pools: many tests share one PostgreSQL server.
                database_max_connections: 4,
                mail: booking_service::MailSettings {
                    transport: "off".to_owned(),
                    from: "Bürgerbüro Bergkamen <termine@bergkamen.example>".to_owned(),
                    reminder_hours: 24,
                    retry_seconds: 1,
                },
                retention_days: 30,
                waitlist_match_seconds: 0,
                webhook_retry_seconds: 1,
                metrics_listen: String::new(),
            },
            gateway: gateway::Settings {
                public_url: Some("https://termine.bergkamen.example".to_owned()),
                staff: gateway::staff::StaffSettings {
                    file: None,
                    accounts: {
                        let hash = gateway::staff::hash_password(STAFF_PASSWORD).expect("hash");
                        format!("{STAFF_LOGIN}:{hash} {ADMIN_LOGIN}:{hash}:admin {AUDIT_LOGIN}:{hash}:audit")
                    },
                    session_secret: "a test secret of at least thirty-two characters".to_owned(),
                    api_token: STAFF_API_TOKEN.to_owned(),
                    demo: false,
                    oidc: gateway::oidc::OidcSettings::default(),
                },
                protection: gateway::protection::ProtectionSettings {
                    slot_reads_per_minute: 0,
                    bookings_per_hour: 0,
                    lookups_per_minute: 0,
                    ..default_protection()
                },
                http: defaults(),
                // As with the rate limits: proofs of work only where a test asks.
                challenge: gateway::challenge::ChallengeSettings {
                    free_attempts: 1_000,
                    ..defaults()
                },
            },
            // None configured: the stack makes its own, as the demo does.
            auth: amtstermin_platform::auth::AuthSettings {
                grpc_tokens: Default::default(),
                grpc_token: None,
            },
        };
        adjust(&mut settings);
        let addresses = listeners.addresses().expect("addresses");
        let stack = launcher::Stack::new(settings, addresses).expect("stack");
        let availability = Running::spawn("availability service", |stop| {
            stack.availability(listeners.availability, stop)
        });
        let booking = Running::spawn("booking service", |stop| stack.booking(listeners.booking, stop));
        let gateway = Running::spawn("gateway", |stop| stack.gateway(listeners.http, stop));
        let app = Self {
            base_url: format!("http://{}", addresses.http),
            availability_url: format!("http://{}", addresses.availability),
            booking_url: format!("http://{}", addresses.booking),
            http: reqwest::Client::new(),
            database,
            availability_database,
            stack,
            availability,
            booking,
            gateway,
        };
        app.wait_until_serving(&app.booking_url).await;
        app.wait_until_serving(&app.availability_url).await;
        Some(app)
    }

    /// Starts the availability service again on its old address and database.
    pub async fn restart_availability_service(&mut self) {
        self.availability.stop().await;
        let listener = TcpListener::bind(self.stack.addresses().availability)
            .await
            .expect("bind the old address again");
        let stack = &self.stack;
        self.availability = Running::spawn("availability service", |stop| stack.availability(listener, stop));
        self.wait_until_serving(&self.availability_url).await;
    }

    /// Another availability service on a random port with the same
    /// settings and database: a second replica.
    pub async fn spawn_availability_replica(&self) -> Replica {
        let listener = listener().await;
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let stack = &self.stack;
        let running = Running::spawn("availability replica", |stop| stack.availability(listener, stop));
        self.wait_until_serving(&url).await;
        Replica { url, running }
    }

    /// Imports `config` as the office configuration (through the admin
    /// gRPC service, as `amtstermin config import` does) and waits until
    /// the gateway and booking service have seen it: their caches look at
    /// the catalogue version every second.
    pub async fn import_config(&self, config: &ChangedConfig) {
        use amtstermin_proto::availability::v1 as pb;
        let file = std::fs::read_to_string(&config.path).expect("read the changed config");
        let channel = self.channel(&self.availability_url);
        let imported = pb::configuration_admin_service_client::ConfigurationAdminServiceClient::new(channel.clone())
            .import_configuration(pb::ImportConfigurationRequest {
                file,
                actor: "test".to_owned(),
                dry_run: false,
            })
            .await
            .expect("import")
            .into_inner();
        let mut availability = pb::availability_service_client::AvailabilityServiceClient::new(channel);
        for _ in 0..100 {
            let offices = availability
                .list_offices(pb::ListOfficesRequest {})
                .await
                .expect("offices")
                .into_inner();
            if offices.catalogue_version == imported.catalogue_version {
                tokio::time::sleep(amtstermin_catalogue::CHECK_AFTER + Duration::from_millis(100)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the availability service did not take up the imported configuration within 2 s");
    }

    /// Polls the standard gRPC health service until it reports SERVING.
    pub async fn wait_until_serving(&self, url: &str) {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let channel = amtstermin_platform::client::lazy_channel(url).expect("channel");
        let mut client = HealthClient::new(channel);
        for _ in 0..200 {
            let status = client
                .check(HealthCheckRequest { service: String::new() })
                .await
                .map(|response| response.into_inner().status());
            if matches!(status, Ok(ServingStatus::Serving)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{url} did not report SERVING within 10 s");
    }

    /// Stops the booking service (to test how the rest copes).
    pub async fn stop_booking_service(&mut self) {
        self.booking.stop().await;
    }

    /// Starts the booking service again on its old address and database.
    pub async fn restart_booking_service(&mut self) {
        self.booking.stop().await;
        let listener = TcpListener::bind(self.stack.addresses().booking)
            .await
            .expect("bind the old address again");
        let stack = &self.stack;
        self.booking = Running::spawn("booking service", |stop| stack.booking(listener, stop));
        self.wait_until_serving(&self.booking_url).await;
    }

    /// The standard health status of the service at `url`.
    pub async fn health(&self, url: &str) -> Option<tonic_health::pb::health_check_response::ServingStatus> {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let channel = amtstermin_platform::client::lazy_channel(url).ok()?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .ok()?;
        Some(response.into_inner().status())
    }

    /// The gateway's token (public, staff and admin scopes).
    pub fn grpc_token(&self) -> amtstermin_platform::auth::Token {
        self.stack.gateway_token().expect("the stack's gateway token").clone()
    }

    /// A channel to the service at `url` that calls with the gateway's token.
    pub fn channel(&self, url: &str) -> amtstermin_platform::client::Channel {
        let credentials = amtstermin_platform::auth::Credentials::new(&self.grpc_token());
        amtstermin_platform::client::channel(url, &credentials).expect("channel")
    }

    /// A channel to the service at `url` with the services' own token
    /// (public and service scopes, e.g. for the change feed).
    pub fn service_channel(&self, url: &str) -> amtstermin_platform::client::Channel {
        let token = self.stack.service_token().expect("the stack's service token");
        let credentials = amtstermin_platform::auth::Credentials::new(token);
        amtstermin_platform::client::channel(url, &credentials).expect("channel")
    }

    /// A browser's CSRF cookie (as `name=value`) and its token, from the
    /// desk's sign-in form.
    pub async fn csrf(&self) -> (String, String) {
        let form = self
            .http
            .get(self.url("/schalter/anmelden"))
            .send()
            .await
            .expect("form");
        let cookie = form
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("csrf cookie")
            .to_owned();
        let token = cookie.split_once('=').expect("value").1.to_owned();
        (cookie, token)
    }

    /// Signs in at the desk like a browser; returns the session cookie and
    /// the CSRF cookie (both as `name=value`) and the CSRF token.
    pub async fn sign_in_at_desk(&self) -> (String, String, String) {
        self.sign_in_as(STAFF_LOGIN).await
    }

    /// As `sign_in_at_desk`, with the account `login`.
    pub async fn sign_in_as(&self, login: &str) -> (String, String, String) {
        self.try_sign_in(login, STAFF_PASSWORD).await.expect("signed in")
    }

    /// Signs in with `login` and `password`; `None` when refused.
    pub async fn try_sign_in(&self, login: &str, password: &str) -> Option<(String, String, String)> {
        let (csrf_cookie, csrf) = self.csrf().await;
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let signed_in = no_redirects
            .post(self.url("/schalter/anmelden"))
            .header("cookie", &csrf_cookie)
            .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password)])
            .send()
            .await
            .expect("sign in");
        if signed_in.status().as_u16() != 303 {
            return None;
        }
        let session = signed_in
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("session cookie")
            .to_owned();
        Some((session, csrf_cookie, csrf))
    }

    /// Runs a statement on the booking service's database, returning its
    /// first column (for counts) or 0 when it returns nothing.
    pub async fn sql(&self, statement: String) -> i64 {
        use sqlx::Connection as _;
        let statement = sqlx::AssertSqlSafe(statement);
        let value: Option<i64> = if self.database.url.starts_with("sqlite:") {
            let mut connection = sqlx::SqliteConnection::connect(&self.database.url)
                .await
                .expect("sqlite");
            sqlx::query_scalar(statement)
                .fetch_optional(&mut connection)
                .await
                .expect("sql")
        } else {
            let mut connection = sqlx::PgConnection::connect(&self.database.url).await.expect("postgres");
            sqlx::query_scalar(statement)
                .fetch_optional(&mut connection)
                .await
                .expect("sql")
        };
        value.unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GETs `path` as a page; status and text.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.http.get(self.url(path)).send().await.expect("request");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A GET with `Authorization: Bearer <token>`.
    pub async fn get_json_with_token(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Slots of `concerns` (comma-separated) over the whole window.
    pub async fn slots(&self, office: &str, concerns: &str) -> Value {
        let (status, body) = self
            .get_json(&format!("/api/v1/offices/{office}/slots?concerns={concerns}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends `method path` with `Authorization: Bearer <token>`; returns
    /// status and body (`Null` when it has none).
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Joins the waitlist of `office` with `body`; returns status and body.
    pub async fn join_waitlist(&self, office: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(&format!("/api/v1/offices/{office}/waitlist")))
            .json(body)
            .send()
            .await
            .expect("join");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Books a passport appointment at Bergkamen at `start` for `email`
    /// (asserting it is booked); returns its code and token.
    pub async fn book_passport(&self, start: &str, email: &str) -> (String, String) {
        let mut body = booking_request("bergkamen", &["personalausweis"], start);
        body["email"] = Value::from(email);
        let (status, booked) = self.book(&body).await;
        assert_eq!(status, 201, "{booked}");
        (
            booked["code"].as_str().expect("code").to_owned(),
            booked["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Posts a booking request; returns status and body.
    pub async fn book(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/bookings"))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The demo Bürgerbüro's configuration document closed on `day` (YYYY-MM-DD)
/// for a "Betriebsausflug".
pub fn closed_on(document: &str, day: &str) -> String {
    let closed = document.replacen(
        "closures = [",
        &format!("closures = [\n  {{ date = {day}, reason = \"Betriebsausflug\" }},"),
        1,
    );
    assert_ne!(closed, document, "the document has closures");
    closed
}

/// How many counters a slot listing offers at `start` (0 if it is not listed).
pub fn free_at(slots: &Value, start: &str) -> u64 {
    slots["days"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|day| day["slots"].as_array().into_iter().flatten())
        .find(|slot| slot["start"] == start)
        .map_or(0, |slot| slot["free"].as_u64().unwrap_or(0))
}

/// The start times of the first listed day with at least `count` of them:
/// late in the day the first day may have only one or two left.
pub fn starts_of_a_day(slots: &Value, count: usize) -> Vec<String> {
    slots["days"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|day| -> Vec<String> {
            day["slots"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|slot| slot["start"].as_str().map(str::to_owned))
                .collect()
        })
        .find(|starts| starts.len() >= count)
        .unwrap_or_else(|| panic!("no day with {count} free times in {slots}"))
}

/// A booking request body for `start`.
/// Reads the Server-Sent Events of `response` (with what was read before
/// in `buffer`) until an event of `kind` whose data `wanted` accepts: its
/// data and how long that took; `None` after five seconds without one.
pub async fn wait_for_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    kind: &str,
    wanted: impl Fn(&str) -> bool,
) -> Option<(String, std::time::Duration)> {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = buffer.find("\n\n") {
            let event: String = buffer.drain(..found + 2).collect();
            let of_kind = event.lines().any(|line| line == format!("event: {kind}"));
            let data: String = event
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n");
            if of_kind && wanted(&data) {
                return Some((data, started.elapsed()));
            }
            continue;
        }
        let left = std::time::Duration::from_secs(5).checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

pub fn booking_request(office: &str, concerns: &[&str], start: &str) -> Value {
    serde_json::json!({
        "office": office,
        "concerns": concerns,
        "start": start,
        "name": "Erika Mustermann",
        "email": "erika.mustermann@example.de",
        "phone": "+49 2307 965-0",
    })
}

/// A service started besides the stack; stopped when dropped.
pub struct Replica {
    pub url: String,
    running: Running,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.running.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = &self.running.task {
            task.abort();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for running in [&mut self.gateway, &mut self.booking, &mut self.availability] {
            if let Some(stop) = running.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = &running.task {
                task.abort();
            }
        }
    }
}
