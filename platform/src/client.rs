//! Channels between the services. They connect lazily and reconnect on their
//! own, so the services can start in any order and survive each other's
//! restarts; a peer that is down shows up as UNAVAILABLE on the call.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A lazily connecting channel to `url` (e.g. `http://127.0.0.1:50052`).
pub fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_lazy())
}
