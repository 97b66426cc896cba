//! Sign-in at the desk without giving attackers a lever: password hashing
//! runs on the blocking pool, at most a few at a time, so a flood of sign-ins
//! cannot stall the public website; an unknown login costs the same hash as
//! a known one, so timing does not tell which logins exist; and failures lock
//! the login and the address out for growing times.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::staff::Account;

/// Failures allowed before the first lockout.
const FREE_FAILURES: u32 = 5;
/// The first lockout; each further failure doubles it.
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const LONGEST_LOCKOUT: Duration = Duration::from_secs(3600);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(3600);
/// Entries kept at most; beyond, the oldest are forgotten first.
const MOST_ENTRIES: usize = 100_000;
/// How long a sign-in waits for a free hashing slot before it is turned away.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// A login longer than this is no login.
const LONGEST_LOGIN: usize = 200;

/// Why a sign-in did not go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong login or password.
    Wrong,
    /// Locked out; try again after this long.
    Locked(Duration),
    /// Every hashing slot is busy.
    Busy,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    Address(IpAddr),
}

struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The desk's sign-in: verification and throttling (per gateway process).
pub struct SignIn {
    hashing: Semaphore,
    /// A hash of the same cost as the accounts', verified for unknown logins.
    decoy: String,
    failures: Mutex<HashMap<Key, Failures>>,
    /// Passwords verified so far.
    verified: std::sync::atomic::AtomicU64,
}

impl SignIn {
    pub fn new() -> anyhow::Result<Self> {
        let parallel = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            // Half the cores at most: the other half keeps serving the public.
            hashing: Semaphore::new((parallel / 2).clamp(1, 4)),
            decoy: crate::staff::hash_password("no account has this password")?,
            failures: Mutex::new(HashMap::new()),
            verified: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The account of `login` if `password` is its password, as seen from
    /// the client at `address`; `lookup` finds the account (the staff
    /// file's or a stored one).
    pub async fn verify<F>(
        &self,
        lookup: impl FnOnce(String) -> F,
        login: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Account, Refusal>
    where
        F: std::future::Future<Output = Result<Option<Account>, crate::error::ApiError>>,
    {
        let keys = [Key::Login(login.to_owned()), Key::Address(address)];
        if let Some(wait) = self.locked(&keys) {
            return Err(Refusal::Locked(wait));
        }
        if login.is_empty() || login.len() > LONGEST_LOGIN || password.len() > 1_000 {
            self.failed(&keys);
            return Err(Refusal::Wrong);
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_WAIT, self.hashing.acquire()).await else {
            return Err(Refusal::Busy);
        };
        let account = lookup(login.to_owned()).await.map_err(|_| Refusal::Busy)?;
        let hash = account
            .as_ref()
            .map_or_else(|| self.decoy.clone(), |account| account.password_hash.clone());
        let password = password.to_owned();
        self.verified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|hash| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        match account.filter(|_| matches) {
            Some(account) => {
                self.succeeded(&keys);
                Ok(account)
            }
            None => {
                self.failed(&keys);
                Err(Refusal::Wrong)
            }
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long the longest lockout of `keys` still lasts.
    fn locked(&self, keys: &[Key]) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries();
        keys.iter()
            .filter_map(|key| entries.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    fn failed(&self, keys: &[Key]) {
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() >= MOST_ENTRIES {
            entries.retain(|_, failures| now.duration_since(failures.last) < MEMORY);
            if entries.len() >= MOST_ENTRIES {
                entries.clear();
            }
        }
        for key in keys {
            let failures = entries.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(failures.last) >= MEMORY {
                failures.count = 0;
            }
            failures.count += 1;
            failures.last = now;
            if failures.count >= FREE_FAILURES {
                let doublings = (failures.count - FREE_FAILURES).min(16);
                let lockout = FIRST_LOCKOUT.saturating_mul(1 << doublings).min(LONGEST_LOCKOUT);
                failures.locked_until = Some(now + lockout);
            }
        }
    }

    fn succeeded(&self, keys: &[Key]) {
        let mut entries = self.entries();
        for key in keys {
            entries.remove(key);
        }
    }
}

/// Shared by the handlers.
pub type SharedSignIn = Arc<SignIn>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff::{Staff, StaffSettings};

    /// Finds accounts in the staff file only.
    fn file(
        staff: &Staff,
    ) -> impl FnOnce(String) -> std::future::Ready<Result<Option<Account>, crate::error::ApiError>> + '_ {
        move |login| std::future::ready(Ok(staff.file_account(&login).cloned()))
    }

    fn staff() -> Staff {
        Staff::load(&StaffSettings {
            accounts: format!("eva:{}", crate::staff::hash_password("richtig").expect("hash")),
            ..StaffSettings::default()
        })
        .expect("staff")
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));

    #[tokio::test]
    async fn the_right_password_signs_in_and_wrong_ones_lock_out_growing() {
        let (staff, sign_in) = (staff(), SignIn::new().expect("sign-in"));
        assert_eq!(
            sign_in
                .verify(file(&staff), "eva", "richtig", HOME)
                .await
                .map(|a| a.login),
            Ok("eva".to_owned())
        );
        for _ in 0..FREE_FAILURES - 1 {
            assert_eq!(
                sign_in.verify(file(&staff), "eva", "falsch", HOME).await.err(),
                Some(Refusal::Wrong)
            );
        }
        assert_eq!(
            sign_in.verify(file(&staff), "eva", "falsch", HOME).await.err(),
            Some(Refusal::Wrong)
        );
        // Locked now, even with the right password and from another address.
        let Err(Refusal::Locked(first)) = sign_in.verify(file(&staff), "eva", "richtig", ELSEWHERE).await else {
            panic!("locked out");
        };
        assert!(first <= FIRST_LOCKOUT && first > FIRST_LOCKOUT - Duration::from_secs(5));
        // The address is locked out for other logins too.
        assert!(matches!(
            sign_in.verify(file(&staff), "otto", "x", HOME).await,
            Err(Refusal::Locked(_))
        ));
        // Each further failure doubles the lockout.
        sign_in.failed(&[Key::Login("eva".to_owned())]);
        let longer = sign_in.locked(&[Key::Login("eva".to_owned())]).expect("locked");
        assert!(longer > first + Duration::from_secs(20), "{longer:?}");
    }

    #[tokio::test]
    async fn unknown_logins_cost_a_hash_too() {
        let (staff, sign_in) = (staff(), SignIn::new().expect("sign-in"));
        let verified = || sign_in.verified.load(std::sync::atomic::Ordering::Relaxed);
        let _ = sign_in.verify(file(&staff), "niemand", "falsch", HOME).await;
        assert_eq!(verified(), 1, "the decoy hash was verified");
        let _ = sign_in.verify(file(&staff), "eva", "falsch", ELSEWHERE).await;
        assert_eq!(verified(), 2);
        // Both hashes have the same parameters, so both cost the same.
        let decoy = PasswordHash::new(&sign_in.decoy).expect("decoy").params.to_string();
        let real = staff.file_account("eva").expect("eva").password_hash.clone();
        assert_eq!(PasswordHash::new(&real).expect("hash").params.to_string(), decoy);
    }
}
