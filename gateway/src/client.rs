//! Who is calling. The client is the socket peer; when the peer is a trusted
//! proxy, it is the last address in `X-Forwarded-For` that is not itself a
//! trusted proxy (the entries before it are the client's own word and could
//! be made up). Rate limits and quotas count per client.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::Services;

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Loopback: a reverse proxy on the same host.
    pub const DEFAULT: &'static str = "127.0.0.0/8,::1/128";

    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            // An entry we cannot read ends the trust: the proxy that added
            // it is the last address we know.
            let Some(address) = parse_hop(hop) else {
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated networks (`10.0.0.0/8`) or addresses; empty or `none`
    /// for no proxy at all.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        if list.trim().is_empty() || list.trim() == "none" {
            return Ok(Self(Vec::new()));
        }
        list.split(',')
            .map(str::trim)
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is neither a network (10.0.0.0/8) nor an address"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// An address from `X-Forwarded-For`: `1.2.3.4`, `2001:db8::1`, or with a
/// port (`1.2.3.4:5678`, `[2001:db8::1]:5678`) as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(canonical)
}

/// IPv4 clients of a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

/// The calling client, as extracted from a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client(pub IpAddr);

impl Client {
    /// The key a client is counted under: its address, or for IPv6 its /64
    /// network, which one subscriber usually holds whole.
    pub fn key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(_) => self.0,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

impl FromRequestParts<Services> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, services: &Services) -> Result<Self, Self::Rejection> {
        // Without a socket (a request handed to the router in-process) the
        // caller is this host.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
        Ok(Client(services.protection.trusted_proxies.client(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn client(trusted: &str, peer: &str, forwarded: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).expect("header"));
        }
        let trusted: TrustedProxies = trusted.parse().expect("trusted proxies");
        trusted.client(peer.parse().expect("peer"), &headers).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client(TrustedProxies::DEFAULT, "203.0.113.9", &["198.51.100.1"]),
            "203.0.113.9"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() {
        let trusted = "127.0.0.0/8,10.0.0.0/8";
        assert_eq!(client(trusted, "127.0.0.1", &["198.51.100.1"]), "198.51.100.1");
        // A made-up first entry does not help: the proxy appended the real one.
        assert_eq!(
            client(trusted, "127.0.0.1", &["1.2.3.4, 198.51.100.1, 10.0.0.5"]),
            "198.51.100.1"
        );
        assert_eq!(
            client(trusted, "127.0.0.1", &["1.2.3.4", "198.51.100.1"]),
            "198.51.100.1"
        );
        assert_eq!(client(trusted, "127.0.0.1", &["[2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(
            client(trusted, "::ffff:127.0.0.1", &["198.51.100.1:5678"]),
            "198.51.100.1"
        );
    }

    #[test]
    fn without_or_with_unreadable_forwarding_the_proxy_is_the_client() {
        assert_eq!(client(TrustedProxies::DEFAULT, "127.0.0.1", &[]), "127.0.0.1");
        assert_eq!(client(TrustedProxies::DEFAULT, "127.0.0.1", &["unknown"]), "127.0.0.1");
        assert_eq!(client("none", "127.0.0.1", &["198.51.100.1"]), "127.0.0.1");
    }

    #[test]
    fn ipv6_clients_count_per_64_network() {
        let a = Client("2001:db8:1:2:aaaa::1".parse().expect("address"));
        let b = Client("2001:db8:1:2:bbbb::2".parse().expect("address"));
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key().to_string(), "2001:db8:1:2::");
    }

    #[test]
    fn bad_proxy_lists_are_refused_clearly() {
        let error = "10.0.0.0/33".parse::<TrustedProxies>().expect_err("invalid");
        assert!(error.contains("10.0.0.0/33"), "{error}");
    }
}
