//! Protection against scripts: rate limits per client address and route
//! class (GCRA from `governor`), set globally by flags and per office in its
//! configuration. A person booking once, or a few citizens behind one shared
//! address, never meets them; a script from one address is stopped after a
//! handful of bookings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::ErrorCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::client::{Client, TrustedProxies};
use crate::error::ApiError;

/// Settings of the protection (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "protection_settings")]
pub struct ProtectionSettings {
    /// Networks or addresses of reverse proxies whose `X-Forwarded-For` is
    /// believed, comma-separated (`none`: no proxy).
    #[arg(long, env = "AMTSTERMIN_TRUSTED_PROXIES", default_value = TrustedProxies::DEFAULT)]
    pub trusted_proxies: TrustedProxies,
    /// Slot and calendar reads one client address may make per minute (0: no limit).
    #[arg(long, env = "AMTSTERMIN_SLOT_READS_PER_MINUTE", default_value_t = 120)]
    pub slot_reads_per_minute: u32,
    /// Online bookings, cancellations and moves one client address may make
    /// per hour (0: no limit).
    #[arg(long, env = "AMTSTERMIN_BOOKINGS_PER_HOUR", default_value_t = 6)]
    pub bookings_per_hour: u32,
    /// Look-ups of a booking by code and token one client address may make
    /// per minute (0: no limit).
    #[arg(long, env = "AMTSTERMIN_LOOKUPS_PER_MINUTE", default_value_t = 30)]
    pub lookups_per_minute: u32,
}

/// What a request does, as far as limits go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    SlotReads,
    Bookings,
    Lookups,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Class::SlotReads => "slot_reads",
            Class::Bookings => "bookings",
            Class::Lookups => "lookups",
        }
    }

    fn period(self) -> Duration {
        match self {
            Class::SlotReads | Class::Lookups => Duration::from_secs(60),
            Class::Bookings => Duration::from_secs(3600),
        }
    }
}

/// How often idle clients are forgotten.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

type Limiter = DefaultKeyedRateLimiter<IpAddr>;
/// Per class and office ("" for the global limits): the amount a limiter was
/// made for, and the limiter.
type Limiters = HashMap<(Class, String), (u32, Arc<Limiter>)>;

pub struct Protection {
    pub trusted_proxies: TrustedProxies,
    settings: ProtectionSettings,
    /// One limiter per class and office ("" for the global limits), with the
    /// amount it was made for: a changed configuration gets a new one.
    limiters: Mutex<Limiters>,
    last_sweep: Mutex<Instant>,
}

impl Protection {
    pub fn new(settings: ProtectionSettings) -> Self {
        Self {
            trusted_proxies: settings.trusted_proxies.clone(),
            settings,
            limiters: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    fn global(&self, class: Class) -> u32 {
        match class {
            Class::SlotReads => self.settings.slot_reads_per_minute,
            Class::Bookings => self.settings.bookings_per_hour,
            Class::Lookups => self.settings.lookups_per_minute,
        }
    }

    /// Counts a request of `client`; over the limit (the office's, where it
    /// sets one, else the global one) it is refused with `rate_limited` and
    /// the seconds until the next request would pass.
    pub fn check(&self, class: Class, office: Option<&OfficeCatalogue>, client: Client) -> Result<(), ApiError> {
        let own = office
            .and_then(|office| office.office.limits)
            .map(|limits| match class {
                Class::SlotReads => limits.slot_reads_per_minute,
                Class::Bookings => limits.bookings_per_hour,
                Class::Lookups => limits.lookups_per_minute,
            })
            .filter(|amount| *amount > 0);
        let (scope, amount) = match (own, office) {
            (Some(amount), Some(office)) => (office.id().to_owned(), amount),
            _ => (String::new(), self.global(class)),
        };
        let Some(amount) = NonZeroU32::new(amount) else {
            return Ok(());
        };
        let limiter = self.limiter(class, scope, amount);
        match limiter.check_key(&client.key()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                metrics::counter!("amtstermin_rate_limited_total", "class" => class.as_str()).increment(1);
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "too many requests from this address, try again later",
                )
                .retry_after(seconds.max(1)))
            }
        }
    }

    fn limiter(&self, class: Class, scope: String, amount: NonZeroU32) -> Arc<Limiter> {
        self.sweep();
        let mut limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = limiters
            .entry((class, scope))
            .or_insert_with(|| (0, Arc::new(limiter(class, amount))));
        if entry.0 != amount.get() {
            *entry = (amount.get(), Arc::new(limiter(class, amount)));
        }
        Arc::clone(&entry.1)
    }

    /// Forgets clients whose allowance is full again, so a flood of
    /// addresses does not keep memory.
    fn sweep(&self) {
        {
            let mut last = self
                .last_sweep
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() < SWEEP_INTERVAL {
                return;
            }
            *last = Instant::now();
        }
        let limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, limiter) in limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn limiter(class: Class, amount: NonZeroU32) -> Limiter {
    let quota = Quota::with_period(class.period() / amount.get())
        .map_or_else(|| Quota::per_second(amount), |quota| quota.allow_burst(amount));
    RateLimiter::keyed(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protection(bookings_per_hour: u32) -> Protection {
        Protection::new(ProtectionSettings {
            trusted_proxies: TrustedProxies::DEFAULT.parse().expect("default"),
            slot_reads_per_minute: 0,
            bookings_per_hour,
            lookups_per_minute: 0,
        })
    }

    fn client(address: &str) -> Client {
        Client(address.parse().expect("address"))
    }

    #[test]
    fn a_burst_of_the_whole_amount_passes_then_the_client_waits() {
        let protection = protection(3);
        for _ in 0..3 {
            protection
                .check(Class::Bookings, None, client("198.51.100.1"))
                .expect("within the limit");
        }
        let refused = protection
            .check(Class::Bookings, None, client("198.51.100.1"))
            .expect_err("over the limit");
        assert_eq!(refused.code, ErrorCode::RateLimited);
        // One more request every 20 minutes.
        let wait = refused.retry_after.expect("retry after");
        assert!((1_100..=1_200).contains(&wait), "{wait}");
        protection
            .check(Class::Bookings, None, client("198.51.100.2"))
            .expect("another client");
    }

    #[test]
    fn an_office_may_set_its_own_limits() {
        use amtstermin_proto::availability::v1 as pb;
        let office = |id: &str, bookings_per_hour| {
            let office = pb::Office {
                id: id.to_owned(),
                limits: Some(pb::RateLimits {
                    bookings_per_hour,
                    ..Default::default()
                }),
                ..Default::default()
            };
            OfficeCatalogue::new(office, Default::default())
        };
        let (strict, default) = (office("strict", 1), office("default", 0));
        let protection = protection(3);
        protection
            .check(Class::Bookings, Some(&strict), client("198.51.100.1"))
            .expect("first");
        let refused = protection.check(Class::Bookings, Some(&strict), client("198.51.100.1"));
        assert_eq!(refused.map_err(|error| error.code), Err(ErrorCode::RateLimited));
        // An office without its own limit shares the global one.
        for _ in 0..3 {
            protection
                .check(Class::Bookings, Some(&default), client("198.51.100.1"))
                .expect("global");
        }
        assert!(protection.check(Class::Bookings, None, client("198.51.100.1")).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let protection = protection(0);
        for _ in 0..1_000 {
            protection
                .check(Class::Bookings, None, client("198.51.100.1"))
                .expect("no limit");
        }
    }
}
