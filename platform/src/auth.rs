//! Who may call which gRPC method. Every call except health and reflection
//! carries `authorization: Bearer <token>`; a server knows its tokens only as
//! SHA-256 hashes, each with scopes, and one layer in the shared server set-up
//! checks the method's scope: no token or an unknown one is UNAUTHENTICATED,
//! a token without the scope PERMISSION_DENIED. The scopes reach the handlers
//! (`Scopes` in the request's extensions) for checks that depend on the
//! request, e.g. a staff channel on `CreateBooking`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use crate::{ErrorCode, hex};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Offices, catalogues, online slots, online bookings (each guarded by
    /// its own token): what the public website needs.
    Public,
    /// Bookings with personal data, the life cycle, absences, staff channels.
    Staff,
    /// Administration of offices (reserved for the self-administration).
    Admin,
    /// The services among themselves: start checks and the change feed.
    Service,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Public, Scope::Staff, Scope::Admin, Scope::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Staff => "staff",
            Scope::Admin => "admin",
            Scope::Service => "service",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| format!("unknown scope {name:?} (public, staff, admin or service)"))
    }
}

/// The scopes of the caller, as the server layer found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes of a request that passed the server layer (none otherwise).
    pub fn of_request<T>(request: &tonic::Request<T>) -> Self {
        request.extensions().get::<Scopes>().cloned().unwrap_or_default()
    }

    /// Refuses a request whose caller lacks `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Status> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ErrorCode::Forbidden.status(format!("this call needs the {} scope", scope.as_str())))
        }
    }
}

/// The scope a method needs; `None` for the methods open to anyone.
pub fn required_scope(path: &str) -> Option<Scope> {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    match (service, method) {
        ("grpc.health.v1.Health", _) => None,
        (service, _) if service.starts_with("grpc.reflection.") => None,
        (
            "amtstermin.availability.v1.AvailabilityService",
            "ListOffices" | "GetCatalogue" | "ListSlots" | "WatchSlots" | "AwaitBookingSequence",
        ) => Some(Scope::Public),
        (
            "amtstermin.booking.v1.BookingService",
            "CreateBooking"
            | "GetBooking"
            | "RescheduleBooking"
            | "CancelBooking"
            | "GetDataPolicy"
            | "WatchBoard"
            | "CreateWaitlistEntry"
            | "ConfirmWaitlistEntry"
            | "GetWaitlistEntry"
            | "WithdrawWaitlistEntry"
            | "AcceptWaitlistOffer"
            | "DeclineWaitlistOffer",
        ) => Some(Scope::Public),
        ("amtstermin.availability.v1.AvailabilityService", "CheckStart" | "GetOfferedTime")
        | (
            "amtstermin.booking.v1.BookingService",
            "WatchBookings" | "ListBookedIntervals" | "RecordConfigurationChange",
        ) => Some(Scope::Service),
        ("amtstermin.availability.v1.ScheduleAdminService", _)
        | (
            "amtstermin.booking.v1.BookingService",
            "ListBookings"
            | "ChangeBookingStatus"
            | "MoveBooking"
            | "GetBookingHistory"
            | "BookNextFree"
            | "GetBookingByIdempotencyKey"
            | "CallNext"
            | "RecallBooking"
            | "GetStatistics"
            | "ListWaitlist"
            | "ReadCalendarFeed"
            | "RevokeStaffSession"
            | "CheckStaffSession",
        ) => Some(Scope::Staff),
        // A method this table does not know (a newer contract): only admins.
        _ => Some(Scope::Admin),
    }
}

/// A bearer token: long, random, shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new random token (256 bits, hex).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(hex(&bytes)))
    }

    /// The hex SHA-256 of the token, as servers keep it.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let token = token.trim();
        if token.len() < 32 || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("a token has at least 32 printable ASCII characters".to_owned());
        }
        Ok(Self(token.to_owned()))
    }
}

/// The tokens a server accepts: their hashes, each with its scopes. Written
/// `scope+scope:sha256hex`, several separated by spaces or commas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access(HashMap<String, Scopes>);

impl Access {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Accepts `token` with `scopes` too.
    pub fn allow(&mut self, token: &Token, scopes: impl IntoIterator<Item = Scope>) {
        self.0.insert(token.hash(), Scopes::of(scopes));
    }

    /// The scopes of the caller whose `authorization` header is `header`.
    fn scopes(&self, header: Option<&str>) -> Result<&Scopes, Status> {
        let token = header
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .ok_or_else(|| ErrorCode::Unauthorized.status("this call needs `authorization: Bearer <token>`"))?;
        self.0
            .get(&hex(&Sha256::digest(token.trim().as_bytes())))
            .ok_or_else(|| ErrorCode::Unauthorized.status("unknown token"))
    }

    /// Whether a call of `path` with `header` may pass, and with which scopes.
    pub fn check(&self, path: &str, header: Option<&str>) -> Result<Option<Scopes>, Status> {
        let Some(needed) = required_scope(path) else {
            return Ok(None);
        };
        let scopes = self.scopes(header)?;
        scopes.require(needed)?;
        Ok(Some(scopes.clone()))
    }
}

impl FromStr for Access {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut access = Access::default();
        for entry in list
            .split([' ', ',', '\n'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (scopes, hash) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?} is not `scope+scope:sha256hex`"))?;
            if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(format!(
                    "the hash of {scopes:?} is not 64 hex digits (sha256sum of the token)"
                ));
            }
            let scopes = scopes.split('+').map(str::parse).collect::<Result<Vec<Scope>, _>>()?;
            access.0.insert(hash.to_ascii_lowercase(), Scopes::of(scopes));
        }
        Ok(access)
    }
}

/// How a process authenticates (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "auth_settings")]
pub struct AuthSettings {
    /// Tokens this process's gRPC servers accept, as `scope+scope:sha256hex`
    /// separated by spaces (scopes: public, staff, admin, service).
    #[arg(long, env = "AMTSTERMIN_GRPC_TOKENS", default_value = "")]
    pub grpc_tokens: Access,
    /// The token this process presents when it calls the other services.
    #[arg(long, env = "AMTSTERMIN_GRPC_TOKEN", hide_env_values = true)]
    pub grpc_token: Option<Token>,
}

/// What a service needs to be called and to call: the tokens it accepts and
/// the one it presents.
#[derive(Clone)]
pub struct Auth {
    pub access: Arc<Access>,
    pub credentials: Credentials,
}

impl Auth {
    /// The auth of a service running on its own: it must accept some token
    /// (or every call would be refused) and have one for its peers.
    pub fn of_service(settings: &AuthSettings) -> Result<Self, String> {
        if settings.grpc_tokens.is_empty() {
            return Err("no --grpc-tokens (AMTSTERMIN_GRPC_TOKENS): every call would be refused".to_owned());
        }
        Ok(Self {
            access: Arc::new(settings.grpc_tokens.clone()),
            credentials: Credentials::of_settings(settings)?,
        })
    }
}

/// The server layer that checks every call against an `Access`.
#[derive(Clone)]
pub struct AccessLayer(pub Arc<Access>);

impl<S> tower_layer::Layer<S> for AccessLayer {
    type Service = Authorized<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorized {
            inner,
            access: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub struct Authorized<S> {
    inner: S,
    access: Arc<Access>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for Authorized<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        match self.access.check(request.uri().path(), header) {
            Ok(scopes) => {
                if let Some(scopes) = scopes {
                    request.extensions_mut().insert(scopes);
                }
                Box::pin(self.inner.call(request))
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

/// Adds the process's token to every outgoing call.
#[derive(Clone)]
pub struct Credentials(Option<MetadataValue<Ascii>>);

impl Credentials {
    pub fn new(token: &Token) -> Self {
        Self(format!("Bearer {}", token.as_str()).parse().ok())
    }

    /// No token: calls go out without one (and are refused where one is needed).
    pub fn none() -> Self {
        Self(None)
    }

    /// The configured token of a process that calls the services.
    pub fn of_settings(settings: &AuthSettings) -> Result<Self, String> {
        settings
            .grpc_token
            .as_ref()
            .map(Self::new)
            .ok_or_else(|| "no --grpc-token (AMTSTERMIN_GRPC_TOKEN) to call the services with".to_owned())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Credentials(***)"
        } else {
            "Credentials(none)"
        })
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: &str = "/amtstermin.availability.v1.AvailabilityService/ListSlots";
    const LIST: &str = "/amtstermin.booking.v1.BookingService/ListBookings";

    fn token(n: u8) -> Token {
        Token(format!("{n:0>40}"))
    }

    #[test]
    fn health_and_reflection_are_open_everything_else_needs_a_token() {
        let access = Access::default();
        assert_eq!(access.check("/grpc.health.v1.Health/Check", None).ok(), Some(None));
        let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        assert_eq!(access.check(reflection, None).ok(), Some(None));
        let refused = access.check(SLOTS, None).expect_err("no token");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn a_token_opens_only_the_methods_of_its_scopes() {
        let mut access = Access::default();
        access.allow(&token(1), [Scope::Public]);
        let bearer = format!("Bearer {}", token(1).as_str());
        let scopes = access.check(SLOTS, Some(&bearer)).ok();
        assert_eq!(scopes, Some(Some(Scopes::of([Scope::Public]))));
        let refused = access.check(LIST, Some(&bearer)).expect_err("staff only");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        let wrong = access.check(SLOTS, Some(&format!("Bearer {}", token(2).as_str())));
        assert_eq!(wrong.map_err(|status| status.code()), Err(tonic::Code::Unauthenticated));
        let unknown = access.check("/amtstermin.booking.v1.BookingService/DropEverything", Some(&bearer));
        assert_eq!(
            unknown.map_err(|status| status.code()),
            Err(tonic::Code::PermissionDenied)
        );
        // Webhooks are an admin's: they send data elsewhere.
        for method in [
            "CreateWebhook",
            "ListWebhooks",
            "DeleteWebhook",
            "ListWebhookDeliveries",
        ] {
            let path = format!("/amtstermin.booking.v1.BookingService/{method}");
            assert_eq!(required_scope(&path), Some(Scope::Admin), "{method}");
        }
    }

    #[test]
    fn tokens_are_configured_as_hashes_with_scopes() {
        let list = format!(
            "public+staff:{} service:{}",
            token(1).hash(),
            token(2).hash().to_uppercase()
        );
        let access: Access = list.parse().expect("valid");
        let staff = format!("Bearer {}", token(1).as_str());
        assert!(access.check(LIST, Some(&staff)).is_ok());
        let service = format!("Bearer {}", token(2).as_str());
        assert!(
            access
                .check("/amtstermin.booking.v1.BookingService/WatchBookings", Some(&service))
                .is_ok()
        );
        assert!("root:abc".parse::<Access>().is_err());
        assert!(format!("superuser:{}", token(1).hash()).parse::<Access>().is_err());
        assert!("short".parse::<Token>().is_err());
        assert_eq!(format!("{:?}", token(1)), "Token(***)");
    }
}
