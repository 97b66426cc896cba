//! Staff accounts and their sessions for the foyer desk and the staff API.
//!
//! Accounts come from a TOML file and/or an environment variable, with
//! passwords only as argon2 hashes. A session is a signed cookie (HMAC-SHA256
//! over login and expiry), so any number of gateway replicas accept it
//! without shared state; internal systems use a bearer token instead.

use std::path::Path;
use std::sync::Arc;

use amtstermin_platform::hex;
use argon2::password_hash::PasswordHash;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How long a desk session lasts: a working day.
const SESSION_SECONDS: i64 = 10 * 3600;
pub const SESSION_COOKIE: &str = "amtstermin_staff";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub login: String,
    /// Shown on the desk pages.
    #[serde(default)]
    pub name: String,
    /// PHC string of an argon2 hash (`gateway hash-password` makes one).
    pub password_hash: String,
    /// Offices the account may work for; empty for all.
    #[serde(default)]
    pub offices: Vec<String>,
    /// What the account may do there; `["desk"]` unless given.
    #[serde(default = "desk_only")]
    pub roles: Vec<Role>,
    /// Set for an account stored in the booking service (the
    /// administration's), to its password version; `None`: the file's.
    #[serde(skip)]
    pub password_version: Option<u64>,
}

/// What a member of staff may do (for the offices of the account).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The foyer desk: bookings, walk-ins, statuses, moves, absences.
    Desk,
    /// The administration (`/verwaltung`): the offices' configuration.
    Admin,
    /// Reads the history of changes and the statistics, changes nothing.
    Audit,
}

fn desk_only() -> Vec<Role> {
    vec![Role::Desk]
}

/// An account of AMTSTERMIN_STAFF_ACCOUNTS: `login:argon2-hash`, or
/// `login:argon2-hash:role+role` (a PHC hash has no colon); all offices.
fn account_entry(entry: &str) -> anyhow::Result<Account> {
    let mut parts = entry.splitn(3, ':');
    let (Some(login), Some(hash)) = (parts.next(), parts.next()) else {
        anyhow::bail!("AMTSTERMIN_STAFF_ACCOUNTS entries are login:argon2-hash[:role+role]");
    };
    let roles = match parts.next() {
        Some(roles) => roles
            .split('+')
            .map(|role| {
                Role::parse(role).ok_or_else(|| {
                    anyhow::anyhow!("staff account {login:?}: unknown role {role:?} (desk, admin or audit)")
                })
            })
            .collect::<anyhow::Result<Vec<Role>>>()?,
        None => desk_only(),
    };
    Ok(Account {
        login: login.to_owned(),
        name: String::new(),
        password_hash: hash.to_owned(),
        offices: Vec::new(),
        roles,
        password_version: None,
    })
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "desk" => Some(Role::Desk),
            "admin" => Some(Role::Admin),
            "audit" => Some(Role::Audit),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Admin => "admin",
            Role::Audit => "audit",
        }
    }
}

impl Account {
    /// An account stored in the booking service (with its hash, when it
    /// came from `GetStaffAccount`); `None` while it is disabled.
    pub fn stored(account: amtstermin_proto::booking::v1::StaffAccount) -> Option<Self> {
        if account.disabled {
            return None;
        }
        Some(Self {
            login: account.login,
            name: account.name,
            password_hash: account.password_hash,
            offices: account.offices,
            roles: account.roles.iter().filter_map(|role| Role::parse(role)).collect(),
            password_version: Some(account.password_version),
        })
    }
}

impl Account {
    pub fn may_work_for(&self, office_id: &str) -> bool {
        self.offices.is_empty() || self.offices.iter().any(|office| office == office_id)
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() { &self.login } else { &self.name }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffFile {
    #[serde(default)]
    staff: Vec<Account>,
}

/// Staff settings (flags and `AMTSTERMIN_STAFF_…` variables).
#[derive(Clone, Default, clap::Args)]
pub struct StaffSettings {
    /// TOML file with `[[staff]]` accounts (login, name, password_hash, offices).
    #[arg(long = "staff-file", env = "AMTSTERMIN_STAFF_FILE")]
    pub file: Option<std::path::PathBuf>,
    /// More accounts as `login:argon2-hash` or `login:argon2-hash:role+role`
    /// (desk, admin, audit; default desk) separated by spaces (all offices).
    #[arg(long = "staff-accounts", env = "AMTSTERMIN_STAFF_ACCOUNTS", default_value = "")]
    pub accounts: String,
    /// Key that signs desk sessions (at least 32 characters); shared by all
    /// gateway replicas. Without it, a random key per process is used and
    /// sessions end with a restart.
    #[arg(long = "session-secret", env = "AMTSTERMIN_SESSION_SECRET", default_value = "")]
    pub session_secret: String,
    /// Bearer token for internal systems calling the staff API; empty for none.
    #[arg(long = "staff-api-token", env = "AMTSTERMIN_STAFF_API_TOKEN", default_value = "")]
    pub api_token: String,
    /// Set by the all-in-one demo: the published demo accounts and secrets
    /// are accepted (with a warning) instead of refused.
    #[arg(skip)]
    pub demo: bool,
    /// Sign-in through the city's identity provider.
    #[command(flatten)]
    pub oidc: crate::oidc::OidcSettings,
}

/// Password hashes published with the demo (`config/staff.toml`).
const DEMO_PASSWORD_HASHES: &[&str] =
    &["$argon2id$v=19$m=19456,t=2,p=1$+FO1D4qcKSf5Npgpb9NzEw$Sg3Hafgo6+j9FSknyKzIFWrMxMPWczpjr/++3udCFFo"];

/// Session secrets that were ever published (in examples or compose files):
/// with one of them anyone can mint a desk session.
const PUBLISHED_SECRETS: &[&str] = &["change-me-to-a-long-random-secret-of-32-chars"];

/// Refuses what was published with the demo, unless this is the demo.
fn refuse_published(settings: &StaffSettings, accounts: &[Account]) -> anyhow::Result<()> {
    let demo_account = accounts
        .iter()
        .find(|account| DEMO_PASSWORD_HASHES.contains(&account.password_hash.as_str()));
    let published_secret = PUBLISHED_SECRETS.contains(&settings.session_secret.as_str());
    if settings.demo {
        if demo_account.is_some() || published_secret {
            tracing::warn!("demo desk accounts or secret in use: replace them before going live");
        }
        return Ok(());
    }
    if let Some(account) = demo_account {
        anyhow::bail!(
            "staff account {:?} has the published demo password: give it its own (gateway --hash-password)",
            account.login
        );
    }
    anyhow::ensure!(
        !published_secret,
        "AMTSTERMIN_SESSION_SECRET is a published example: anyone could sign desk sessions with it"
    );
    Ok(())
}

impl std::fmt::Debug for StaffSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSettings")
            .field("file", &self.file)
            .field("accounts", &"[redacted]")
            .field("session_secret", &"[redacted]")
            .field("api_token", &"[redacted]")
            .field("demo", &self.demo)
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// A signed-in member of staff.
pub struct Session {
    pub account: Account,
    /// The CSRF token the session was started with.
    pub csrf: String,
    /// The session's random id (what sign-out revokes).
    pub id: String,
    pub expires_at: chrono::DateTime<Utc>,
}

/// A desk session cookie's content, its signature and expiry checked.
pub struct Claims {
    pub login: String,
    /// The CSRF token the session was started with.
    pub csrf: String,
    /// The session's random id (what sign-out revokes).
    pub id: String,
    pub expires_at: chrono::DateTime<Utc>,
    fingerprint: String,
}

impl Claims {
    /// The session, if `account` is still the one it was made for (no new
    /// password since).
    pub fn of(self, account: Account) -> Option<Session> {
        (fingerprint(&account) == self.fingerprint).then_some(Session {
            account,
            csrf: self.csrf,
            id: self.id,
            expires_at: self.expires_at,
        })
    }
}

/// A short fingerprint of the account's password: of the file's hash, or
/// the stored account's password version.
fn fingerprint(account: &Account) -> String {
    match account.password_version {
        Some(version) => format!("v{version}"),
        None => hex(&Sha256::digest(account.password_hash.as_bytes())[..8]),
    }
}

/// Who may use the desk, and the key of their sessions.
#[derive(Clone)]
pub struct Staff {
    accounts: Arc<Vec<Account>>,
    secret: Arc<Vec<u8>>,
    api_token: Arc<String>,
}

impl Staff {
    pub fn load(settings: &StaffSettings) -> anyhow::Result<Self> {
        let mut accounts = match &settings.file {
            Some(path) => read_file(path)?,
            None => Vec::new(),
        };
        for entry in settings.accounts.split_whitespace() {
            accounts.push(account_entry(entry)?);
        }
        for account in &accounts {
            PasswordHash::new(&account.password_hash).map_err(|error| {
                anyhow::anyhow!("staff account {:?}: invalid password hash: {error}", account.login)
            })?;
        }
        refuse_published(settings, &accounts)?;
        let secret = if settings.session_secret.len() >= 32 {
            settings.session_secret.as_bytes().to_vec()
        } else {
            if !settings.session_secret.is_empty() {
                anyhow::bail!("AMTSTERMIN_SESSION_SECRET must have at least 32 characters");
            }
            if !accounts.is_empty() {
                tracing::warn!("no session secret configured: desk sessions end when this process restarts");
            }
            let mut secret = vec![0u8; 32];
            getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
            secret
        };
        Ok(Self {
            accounts: Arc::new(accounts),
            secret: Arc::new(secret),
            api_token: Arc::new(settings.api_token.clone()),
        })
    }

    /// The account of the staff file (or variable) with this login; those
    /// come before the stored ones.
    pub fn file_account(&self, login: &str) -> Option<&Account> {
        self.accounts.iter().find(|account| account.login == login)
    }

    /// The account, if `password` is its password (sign-in goes through
    /// `SignIn::verify`, with throttling).
    #[cfg(test)]
    fn authenticate(&self, login: &str, password: &str) -> Option<&Account> {
        use argon2::password_hash::PasswordVerifier;
        let account = self.accounts.iter().find(|account| account.login == login)?;
        let hash = PasswordHash::new(&account.password_hash).ok()?;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|()| account)
    }

    /// `payload` with its signature (for values a browser keeps a while,
    /// such as a pending sign-in); `unseal` checks it.
    pub fn seal(&self, payload: &str) -> Option<String> {
        Some(format!("{payload}.{}", hex(&self.signature(payload)?)))
    }

    /// The payload of a sealed value, if its signature holds.
    pub fn unseal(&self, sealed: &str) -> Option<String> {
        let (payload, signature) = sealed.rsplit_once('.')?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&unhex(signature)?).ok()?;
        Some(payload.to_owned())
    }

    fn signature(&self, payload: &str) -> Option<Vec<u8>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(payload.as_bytes());
        Some(mac.finalize().into_bytes().to_vec())
    }

    /// The value of a new session cookie for `account`, bound to the
    /// browser's CSRF token `csrf`: desk forms must repeat that token. The
    /// session has a random id (sign-out revokes it in every replica) and
    /// carries a fingerprint of the account's password hash (a new password
    /// ends every session).
    pub fn session(&self, account: &Account, csrf: &str) -> Option<String> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).ok()?;
        let payload = format!(
            "{}.{}.{csrf}.{}.{}",
            account.login,
            Utc::now().timestamp() + SESSION_SECONDS,
            hex(&id),
            fingerprint(account)
        );
        let signature = self.signature(&payload)?;
        Some(format!("{payload}.{}", hex(&signature)))
    }

    /// The session of a cookie, while it is valid (revocation aside: see
    /// `Services::staff_session`).
    pub fn from_session(&self, cookie: &str) -> Option<Claims> {
        let (payload, signature) = cookie.rsplit_once('.')?;
        let (rest, print) = payload.rsplit_once('.')?;
        let (rest, id) = rest.rsplit_once('.')?;
        let (rest, csrf) = rest.rsplit_once('.')?;
        let (login, expiry) = rest.rsplit_once('.')?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&unhex(signature)?).ok()?;
        let expires_at = chrono::DateTime::from_timestamp(expiry.parse::<i64>().ok()?, 0)?;
        if expires_at < Utc::now() {
            return None;
        }
        Some(Claims {
            login: login.to_owned(),
            csrf: csrf.to_owned(),
            id: id.to_owned(),
            expires_at,
            fingerprint: print.to_owned(),
        })
    }

    /// Whether `token` is the staff API token (compared in constant time).
    pub fn api_token_matches(&self, token: &str) -> bool {
        let expected = self.api_token.as_bytes();
        !expected.is_empty()
            && expected.len() == token.len()
            && expected
                .iter()
                .zip(token.as_bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

fn read_file(path: &Path) -> anyhow::Result<Vec<Account>> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("cannot read staff file {}: {error}", path.display()))?;
    let file: StaffFile =
        toml::from_str(&text).map_err(|error| anyhow::anyhow!("invalid staff file {}: {error}", path.display()))?;
    Ok(file.staff)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// An argon2id hash of `password` in PHC form, for the staff file.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|error| anyhow::anyhow!("cannot make a salt: {error}"))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("cannot hash: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff() -> Staff {
        let hash = hash_password("geheim").expect("hash");
        Staff::load(&StaffSettings {
            accounts: format!("eva:{hash}"),
            session_secret: "x".repeat(32),
            api_token: "internal-token".to_owned(),
            ..StaffSettings::default()
        })
        .expect("staff")
    }

    #[test]
    fn passwords_are_checked_against_their_hash() {
        let staff = staff();
        assert_eq!(
            staff.authenticate("eva", "geheim").map(|a| a.login.as_str()),
            Some("eva")
        );
        assert!(staff.authenticate("eva", "falsch").is_none());
        assert!(staff.authenticate("max", "geheim").is_none());
    }

    #[test]
    fn sessions_are_signed_and_cannot_be_forged() {
        let staff = staff();
        let account = staff.authenticate("eva", "geheim").expect("eva").clone();
        let cookie = staff.session(&account, "c5rf").expect("session");
        let session = staff.from_session(&cookie).expect("valid");
        assert_eq!((session.login.as_str(), session.csrf.as_str()), ("eva", "c5rf"));
        let forged = cookie.replacen("eva", "max", 1);
        assert!(staff.from_session(&forged).is_none());
        let rebound = cookie.replacen("c5rf", "evil", 1);
        assert!(staff.from_session(&rebound).is_none(), "the CSRF binding is signed");
        let (payload, _) = cookie.rsplit_once('.').expect("signature");
        assert!(staff.from_session(&format!("{payload}.{}", "0".repeat(64))).is_none());
        let print = fingerprint(&account);
        let expired = format!("eva.{}.c5rf.{}.{print}", Utc::now().timestamp() - 1, "0".repeat(32));
        let signed = format!("{expired}.{}", hex(&staff.signature(&expired).expect("mac")));
        assert!(staff.from_session(&signed).is_none(), "expired");
    }

    #[test]
    fn a_new_password_ends_every_session() {
        let before = staff();
        let account = before.authenticate("eva", "geheim").expect("eva").clone();
        let cookie = before.session(&account, "c5rf").expect("session");
        let after = Staff::load(&StaffSettings {
            accounts: format!("eva:{}", hash_password("neu und geheim").expect("hash")),
            session_secret: "x".repeat(32),
            ..StaffSettings::default()
        })
        .expect("staff");
        let session_of = |staff: &Staff| {
            let account = staff.file_account("eva").expect("eva").clone();
            staff.from_session(&cookie).and_then(|claims| claims.of(account))
        };
        assert!(session_of(&before).is_some());
        assert!(session_of(&after).is_none());

        // A stored account's sessions end with its next password version.
        let stored = Account {
            password_version: Some(1),
            ..account
        };
        let cookie = before.session(&stored, "c5rf").expect("session");
        let claims = |version| {
            before.from_session(&cookie).and_then(|claims| {
                claims.of(Account {
                    password_version: Some(version),
                    ..stored.clone()
                })
            })
        };
        assert!(claims(1).is_some());
        assert!(claims(2).is_none());
    }

    #[test]
    fn the_api_token_must_match_exactly() {
        let staff = staff();
        assert!(staff.api_token_matches("internal-token"));
        assert!(!staff.api_token_matches("internal-toke"));
        assert!(!staff.api_token_matches(""));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let bad = StaffSettings {
            accounts: "eva:not-a-hash".to_owned(),
            ..StaffSettings::default()
        };
        assert!(Staff::load(&bad).is_err());
        let short = StaffSettings {
            session_secret: "short".to_owned(),
            ..StaffSettings::default()
        };
        assert!(Staff::load(&short).is_err());
    }

    #[test]
    fn published_demo_credentials_are_refused_outside_the_demo() {
        let demo_file = StaffSettings {
            file: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/staff.toml")),
            ..StaffSettings::default()
        };
        let error = Staff::load(&demo_file).err().map(|error| error.to_string());
        assert!(error.is_some_and(|error| error.contains("demo password")));
        let published_secret = StaffSettings {
            session_secret: PUBLISHED_SECRETS[0].to_owned(),
            ..StaffSettings::default()
        };
        assert!(Staff::load(&published_secret).is_err());
        // The all-in-one demo takes them.
        for settings in [demo_file, published_secret] {
            let demo = StaffSettings { demo: true, ..settings };
            assert!(Staff::load(&demo).is_ok());
        }
    }
}
