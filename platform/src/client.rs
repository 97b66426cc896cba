//! Channels between the services. They connect lazily and reconnect on their
//! own, so the services can start in any order and survive each other's
//! restarts; a peer that is down shows up as UNAVAILABLE on the call.

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use crate::auth::Credentials;

/// A channel that presents this process's token on every call.
pub type Channel = InterceptedService<tonic::transport::Channel, Credentials>;

/// A lazily connecting channel to `url` that authenticates with `credentials`.
pub fn channel(url: &str, credentials: &Credentials) -> Result<Channel, tonic::transport::Error> {
    Ok(InterceptedService::new(lazy_channel(url)?, credentials.clone()))
}

/// A lazily connecting channel to `url` (e.g. `http://127.0.0.1:50052`).
pub fn lazy_channel(url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_lazy())
}
