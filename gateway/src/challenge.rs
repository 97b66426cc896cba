//! Proof of work against booking scripts, ALTCHA-compatible (v1: find the
//! number whose SHA-256 with the salt is the challenge), self-hosted, no third
//! party, no tracking. An office asks for it "always", never ("off"), or
//! "adaptive": only from a client that has already tried to book more than a
//! couple of times lately, with more work the more it tries. A person booking
//! once is never asked, so the website works without JavaScript too.
//!
//! Challenges are signed (HMAC), expire after ten minutes, are bound to the
//! client address they were issued to and to the work they demand, and each
//! solution is taken once per gateway process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use altcha_lib_rs::{Challenge, ChallengeOptions, Payload};
use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_platform::ErrorCode;
use base64::Engine;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::error::ApiError;

/// The challenge as the API documents it: altcha's type, which has no schema
/// of its own, field by field.
#[derive(utoipa::ToSchema)]
#[schema(as = Challenge)]
#[expect(
    dead_code,
    reason = "only describes altcha_lib_rs::Challenge in the OpenAPI document"
)]
pub(crate) struct ChallengeDoc {
    /// The hash function: `SHA-256`.
    algorithm: String,
    /// The hash to find, in hex.
    challenge: String,
    /// The largest number to try.
    maxnumber: u64,
    /// Prefix of the hashed text (with the expiry and the client binding).
    salt: String,
    /// HMAC of the challenge, checked when the solution comes back.
    signature: String,
}

/// Settings of the proof of work (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Default, clap::Args)]
#[group(id = "challenge_settings")]
pub struct ChallengeSettings {
    /// Key that signs challenges (at least 32 characters), the same in every
    /// gateway replica; without it, a random key per process.
    #[arg(long = "challenge-secret", env = "AMTSTERMIN_CHALLENGE_SECRET", default_value = "")]
    pub secret: String,
    /// Booking attempts a client makes (within about half an hour) before an
    /// "adaptive" office asks it for a proof of work.
    #[arg(
        long = "challenge-free-attempts",
        env = "AMTSTERMIN_CHALLENGE_FREE_ATTEMPTS",
        default_value_t = 2
    )]
    pub free_attempts: u32,
}

impl std::fmt::Debug for ChallengeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeSettings")
            .field("secret", &"[redacted]")
            .field("free_attempts", &self.free_attempts)
            .finish()
    }
}

/// When an office asks for a proof of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    Adaptive,
    Always,
}

impl Mode {
    pub fn of(office: &OfficeCatalogue) -> Self {
        match office.office.challenge.as_str() {
            "off" => Mode::Off,
            "always" => Mode::Always,
            // The availability service validates; adaptive is the default.
            _ => Mode::Adaptive,
        }
    }
}

/// The half-life of a client's count of attempts.
const HALF_LIFE: Duration = Duration::from_secs(30 * 60);
/// The least and the most work asked (the expected hashes are half of it):
/// a few milliseconds in a browser, and some seconds. altcha-lib-rs verifies
/// numbers up to its default maximum (10⁶) only, which bounds the hardest.
pub const EASIEST: u64 = 5_000;
const HARDEST: u64 = altcha_lib_rs::DEFAULT_MAX_NUMBER;
/// How long a challenge may be solved and used.
const VALIDITY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Clients and used solutions remembered at most.
const MOST_ENTRIES: usize = 100_000;

/// A client's recent booking attempts, decaying.
#[derive(Clone, Copy)]
struct Meter {
    attempts: f64,
    at: Instant,
}

impl Meter {
    fn now(self, now: Instant) -> f64 {
        let halvings = now.duration_since(self.at).as_secs_f64() / HALF_LIFE.as_secs_f64();
        self.attempts * 0.5f64.powf(halvings)
    }
}

pub struct Challenges {
    secret: String,
    /// Booking attempts of a client that pass without a challenge (adaptive).
    free_attempts: f64,
    meters: Mutex<HashMap<IpAddr, Meter>>,
    /// Signatures of solutions taken, until their challenge expires.
    used: Mutex<HashMap<String, i64>>,
}

impl Challenges {
    pub fn new(settings: &ChallengeSettings) -> anyhow::Result<Self> {
        let secret = if settings.secret.len() >= 32 {
            settings.secret.clone()
        } else {
            anyhow::ensure!(
                settings.secret.is_empty(),
                "AMTSTERMIN_CHALLENGE_SECRET must have at least 32 characters"
            );
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
            bytes.iter().map(|byte| format!("{byte:02x}")).collect()
        };
        Ok(Self {
            secret,
            free_attempts: f64::from(settings.free_attempts),
            meters: Mutex::new(HashMap::new()),
            used: Mutex::new(HashMap::new()),
        })
    }

    fn attempts(&self, client: Client) -> f64 {
        let meters = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        meters.get(&client.key()).map_or(0.0, |meter| meter.now(Instant::now()))
    }

    /// Counts a booking attempt of `client`; returns its attempts now.
    pub fn attempted(&self, client: Client) -> f64 {
        let now = Instant::now();
        let mut meters = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        if meters.len() >= MOST_ENTRIES {
            meters.retain(|_, meter| meter.now(now) > 0.5);
        }
        let meter = meters.entry(client.key()).or_insert(Meter { attempts: 0.0, at: now });
        *meter = Meter {
            attempts: meter.now(now) + 1.0,
            at: now,
        };
        meter.attempts
    }

    /// The work `mode` asks of an attempt that is a client's `attempts`-th
    /// lately (the challenge's maximum number), or `None` for none.
    fn work(&self, mode: Mode, attempts: f64) -> Option<u64> {
        let work = |over: f64| {
            let doublings = over.clamp(0.0, 20.0);
            ((EASIEST as f64) * 2f64.powf(doublings)).min(HARDEST as f64) as u64
        };
        match mode {
            Mode::Off => None,
            // Counts decay continuously: "the third soon after two" is 2.99.
            Mode::Adaptive if attempts < self.free_attempts + 0.5 => None,
            Mode::Adaptive | Mode::Always => Some(work(attempts - self.free_attempts)),
        }
    }

    /// The work `mode` will ask of `client`'s next booking attempt, or
    /// `None` when it may book without.
    pub fn demanded(&self, mode: Mode, client: Client) -> Option<u64> {
        self.work(mode, self.attempts(client) + 1.0)
    }

    /// A new challenge for `client` asking `work`.
    pub fn issue(&self, client: Client, work: u64) -> Result<Challenge, ApiError> {
        let failed = |_| ApiError::new(ErrorCode::Internal, "cannot make a challenge");
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(failed)?;
        let random: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        // The binding travels in the signed salt itself; the library's salt
        // parameters come back in another order with more than one.
        altcha_lib_rs::create_challenge(ChallengeOptions {
            hmac_key: &self.secret,
            max_number: Some(work),
            salt: Some(format!("{random}.{}.{work}", bind(client))),
            expires: Some(Utc::now() + VALIDITY),
            ..ChallengeOptions::default()
        })
        .map_err(|_| ApiError::new(ErrorCode::Internal, "cannot make a challenge"))
    }

    /// Lets a booking of `client` pass under `mode`: without a solution
    /// where none is asked, else with a valid, unused solution (base64 JSON
    /// as the ALTCHA widget sends it) of at least the work asked now.
    pub fn admit(&self, mode: Mode, client: Client, solution: Option<&str>) -> Result<(), ApiError> {
        let attempts = self.attempted(client);
        let Some(work) = self.work(mode, attempts) else {
            return Ok(());
        };
        if let Some(solution) = solution.filter(|solution| !solution.trim().is_empty())
            && self.accept(solution, client, work)
        {
            return Ok(());
        }
        // Solved, it comes back as the next attempt: ask that one's work.
        let next = self.work(mode, attempts + 1.0).unwrap_or(work);
        let challenge = self.issue(client, next)?;
        Err(ApiError::new(
            ErrorCode::ChallengeRequired,
            "solve the challenge (ALTCHA) and send the solution in the field \"altcha\"",
        )
        .with_challenge(challenge))
    }

    fn accept(&self, solution: &str, client: Client, work: u64) -> bool {
        let Some(payload) = base64::engine::general_purpose::STANDARD
            .decode(solution.trim())
            .ok()
            .and_then(|json| serde_json::from_slice::<Payload>(&json).ok())
        else {
            return false;
        };
        if altcha_lib_rs::verify_solution(&payload, &self.secret, true).is_err() {
            return false;
        }
        let (salt, query) = payload.salt.split_once('?').unwrap_or((&payload.salt, ""));
        let mut parts = salt.split('.').skip(1);
        let bound = parts.next().is_some_and(|bound| bound == bind(client));
        let enough = parts
            .next()
            .and_then(|done| done.parse::<u64>().ok())
            .is_some_and(|done| done >= work);
        if !bound || !enough {
            return false;
        }
        let expires = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("expires="))
            .and_then(|expires| expires.parse::<i64>().ok())
            .unwrap_or(0);
        let now = Utc::now().timestamp();
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.len() >= MOST_ENTRIES {
            used.retain(|_, until| *until > now);
        }
        used.insert(payload.signature, expires).is_none()
    }
}

/// The client a challenge is bound to, as a short hash (the address itself
/// stays out of the challenge).
fn bind(client: Client) -> String {
    let hash = Sha256::digest(client.key().to_string().as_bytes());
    hash.iter().take(8).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(address: &str) -> Client {
        Client(address.parse().expect("address"))
    }

    fn challenges() -> Challenges {
        Challenges::new(&ChallengeSettings {
            free_attempts: 2,
            ..ChallengeSettings::default()
        })
        .expect("challenges")
    }

    /// What a browser does: find the number, send the payload in base64.
    fn solve(challenge: &Challenge) -> String {
        let number = altcha_lib_rs::solve_challenge(
            &challenge.challenge,
            &challenge.salt,
            Some(challenge.algorithm),
            Some(challenge.maxnumber),
            0,
        )
        .expect("solvable");
        let payload = serde_json::json!({
            "algorithm": "SHA-256",
            "challenge": challenge.challenge,
            "number": number,
            "salt": challenge.salt,
            "signature": challenge.signature,
        });
        base64::engine::general_purpose::STANDARD.encode(payload.to_string())
    }

    fn demanded_challenge(error: ApiError) -> Challenge {
        assert_eq!(error.code, ErrorCode::ChallengeRequired);
        *error.challenge.expect("a fresh challenge")
    }

    #[test]
    fn adaptive_asks_nothing_of_a_first_time_client_then_more_and_more() {
        let (challenges, bot) = (challenges(), client("198.51.100.1"));
        assert!(challenges.admit(Mode::Adaptive, bot, None).is_ok());
        assert!(challenges.admit(Mode::Adaptive, bot, None).is_ok());
        let first = demanded_challenge(challenges.admit(Mode::Adaptive, bot, None).expect_err("asked"));
        let second = demanded_challenge(challenges.admit(Mode::Adaptive, bot, None).expect_err("asked"));
        assert!(second.maxnumber > first.maxnumber, "harder as the rate grows");
        // Another citizen is not affected.
        assert!(challenges.admit(Mode::Adaptive, client("198.51.100.2"), None).is_ok());
        assert!(challenges.admit(Mode::Off, bot, None).is_ok());
    }

    #[test]
    fn a_solution_passes_once_for_its_client_only() {
        let (challenges, citizen) = (challenges(), client("198.51.100.3"));
        let challenge = demanded_challenge(challenges.admit(Mode::Always, citizen, None).expect_err("asked"));
        let solution = solve(&challenge);
        // Solved for this client, not for another.
        let other = client("198.51.100.4");
        assert!(challenges.admit(Mode::Always, other, Some(&solution)).is_err());
        assert!(challenges.admit(Mode::Always, citizen, Some(&solution)).is_ok());
        // Taken once.
        assert!(challenges.admit(Mode::Always, citizen, Some(&solution)).is_err());
        // Garbage is a missing solution.
        assert!(challenges.admit(Mode::Always, citizen, Some("bm9uc2Vuc2U=")).is_err());
    }

    #[test]
    fn a_solution_of_the_hardest_work_passes() {
        let (challenges, bot) = (challenges(), client("198.51.100.6"));
        for _ in 0..40 {
            challenges.attempted(bot);
        }
        let challenge = demanded_challenge(challenges.admit(Mode::Always, bot, None).expect_err("asked"));
        assert_eq!(challenge.maxnumber, HARDEST);
        let solution = solve(&challenge);
        let admitted = challenges.admit(Mode::Always, bot, Some(&solution));
        assert!(admitted.is_ok(), "{:?}", admitted.err().map(|error| error.message));
    }

    #[test]
    fn a_solution_of_too_little_work_is_not_enough_once_more_is_asked() {
        let (challenges, bot) = (challenges(), client("198.51.100.5"));
        let easy = challenges.issue(bot, EASIEST).expect("challenge");
        for _ in 0..6 {
            challenges.attempted(bot);
        }
        assert!(
            challenges
                .demanded(Mode::Always, bot)
                .is_some_and(|work| work > EASIEST)
        );
        assert!(challenges.admit(Mode::Always, bot, Some(&solve(&easy))).is_err());
    }
}
