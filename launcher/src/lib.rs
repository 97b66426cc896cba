//! The composition root: the gateway, the availability service and the
//! booking service in one process, talking gRPC over loopback exactly as
//! when they run apart. The `amtstermin` binary runs it on the configured
//! addresses; the end-to-end tests run the same [`Stack`] on port-0
//! listeners, and may stop and restart one service of it.
//!
//! Each service's settings are its own; where its peers are follows from the
//! listeners, so no address is configured twice.

pub mod admin;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use amtstermin_platform::auth::{Access, Auth, AuthSettings, Credentials, Scope, Token};

use tokio::net::TcpListener;
use tokio::sync::watch;

/// The settings of all three services (flags and `AMTSTERMIN_…` variables),
/// each declared once, by its service.
#[derive(Clone, Debug, clap::Args)]
#[group(id = "stack_settings")]
pub struct Settings {
    #[command(flatten)]
    pub availability: availability_service::Settings,
    #[command(flatten)]
    pub booking: booking_service::Settings,
    #[command(flatten)]
    pub gateway: gateway::Settings,
    #[command(flatten)]
    pub auth: AuthSettings,
}

/// The bound listeners of the stack.
pub struct Listeners {
    pub http: TcpListener,
    pub availability: TcpListener,
    pub booking: TcpListener,
}

impl Listeners {
    /// Binds the three addresses, naming the one that fails.
    pub async fn bind(http: &str, availability: &str, booking: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: bind(http, "gateway").await?,
            availability: bind(availability, "availability service").await?,
            booking: bind(booking, "booking service").await?,
        })
    }

    pub fn addresses(&self) -> std::io::Result<Addresses> {
        Ok(Addresses {
            http: self.http.local_addr()?,
            availability: self.availability.local_addr()?,
            booking: self.booking.local_addr()?,
        })
    }
}

async fn bind(address: &str, what: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the {what}"))
}

/// Where the services of the stack listen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub http: SocketAddr,
    pub availability: SocketAddr,
    pub booking: SocketAddr,
}

/// The stack: its settings and where each service listens, from which every
/// service's peers follow.
#[derive(Clone, Debug)]
pub struct Stack {
    settings: Settings,
    addresses: Addresses,
    auth: StackAuth,
}

/// The tokens of the stack: what the two services accept, and what the
/// services and the gateway present.
#[derive(Clone, Debug)]
struct StackAuth {
    access: Arc<Access>,
    services: Credentials,
    gateway: Credentials,
    /// The gateway's token (all scopes but `service`), for tools and tests.
    gateway_token: Option<Token>,
    /// The services' token.
    service_token: Option<Token>,
}

impl StackAuth {
    /// Configured tokens serve everyone; without any, the stack makes its
    /// own at start: one for the gateway (public, staff, admin) and one the
    /// services share (public, service). They live as long as the process.
    fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        if !settings.grpc_tokens.is_empty() || settings.grpc_token.is_some() {
            let credentials = Credentials::of_settings(settings).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                !settings.grpc_tokens.is_empty(),
                "--grpc-token is set but --grpc-tokens is not: the services would refuse every call"
            );
            return Ok(Self {
                access: Arc::new(settings.grpc_tokens.clone()),
                services: credentials.clone(),
                gateway: credentials,
                gateway_token: settings.grpc_token.clone(),
                service_token: settings.grpc_token.clone(),
            });
        }
        let random = || Token::generate().map_err(|error| anyhow::anyhow!("no randomness: {error}"));
        let (gateway, services) = (random()?, random()?);
        let mut access = Access::default();
        access.allow(&gateway, [Scope::Public, Scope::Staff, Scope::Admin]);
        access.allow(&services, [Scope::Public, Scope::Service]);
        Ok(Self {
            access: Arc::new(access),
            services: Credentials::new(&services),
            gateway: Credentials::new(&gateway),
            gateway_token: Some(gateway),
            service_token: Some(services),
        })
    }

    fn service(&self) -> Auth {
        Auth {
            access: Arc::clone(&self.access),
            credentials: self.services.clone(),
        }
    }
}

impl Stack {
    pub fn new(settings: Settings, addresses: Addresses) -> anyhow::Result<Self> {
        let auth = StackAuth::new(&settings.auth)?;
        Ok(Self {
            settings,
            addresses,
            auth,
        })
    }

    /// The token the gateway calls the services with (public, staff and
    /// admin scopes): the configured one, or the one made at start.
    pub fn gateway_token(&self) -> Option<&Token> {
        self.auth.gateway_token.as_ref()
    }

    /// The token the services call each other with (public and service).
    pub fn service_token(&self) -> Option<&Token> {
        self.auth.service_token.as_ref()
    }

    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// The base of the manage links in mails: the configured public URL,
    /// else the gateway's own address (a wildcard one as `localhost`). The
    /// pages need none: without a public URL they use the request's host.
    fn mail_base_url(&self) -> String {
        if let Some(url) = &self.settings.gateway.public_url {
            return url.clone();
        }
        let http = self.addresses.http;
        if http.ip().is_unspecified() {
            format!("http://localhost:{}", http.port())
        } else {
            format!("http://{http}")
        }
    }

    fn availability_url(&self) -> String {
        format!("http://{}", self.addresses.availability)
    }

    fn booking_url(&self) -> String {
        format!("http://{}", self.addresses.booking)
    }

    /// The availability service, serving `listener` until `shutdown`.
    pub fn availability(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let peers = availability_service::Peers {
            booking_url: self.booking_url(),
        };
        availability_service::run(
            self.settings.availability.clone(),
            peers,
            self.auth.service(),
            listener,
            shutdown,
        )
    }

    /// The booking service, serving `listener` until `shutdown`.
    pub fn booking(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let peers = booking_service::Peers {
            availability_url: self.availability_url(),
            public_url: self.mail_base_url(),
        };
        booking_service::run(
            self.settings.booking.clone(),
            peers,
            self.auth.service(),
            listener,
            shutdown,
        )
    }

    /// The gateway, serving `listener` until `shutdown`.
    pub fn gateway(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let peers = gateway::Peers {
            availability_url: self.availability_url(),
            booking_url: self.booking_url(),
        };
        gateway::run(
            self.settings.gateway.clone(),
            peers,
            self.auth.gateway.clone(),
            listener,
            shutdown,
        )
    }

    /// Runs all three until `shutdown` resolves or one of them fails.
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let signal = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        tokio::try_join!(
            self.availability(listeners.availability, signal()),
            self.booking(listeners.booking, signal()),
            self.gateway(listeners.http, signal()),
        )?;
        Ok(())
    }
}
