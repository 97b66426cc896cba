//! What a booking is, and the rules for the data a citizen hands in: codes,
//! secret tokens, idempotency keys and the validation of personal data.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use amtstermin_platform::{ErrorCode, contact};

use crate::error::Error;

/// Where a booking stands in its life cycle:
/// booked → checked_in → completed, booked → no_show, booked → cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Holds its counter until confirmed by the link in the mail (offices
    /// that ask for it); released when not confirmed in time.
    Pending,
    Booked,
    CheckedIn,
    /// Called to the counter, after arriving.
    Called,
    Completed,
    NoShow,
    Cancelled,
}

impl Status {
    const ALL: [Status; 7] = [
        Status::Pending,
        Status::Booked,
        Status::CheckedIn,
        Status::Called,
        Status::Completed,
        Status::NoShow,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Booked => "booked",
            Status::CheckedIn => "checked_in",
            Status::Called => "called",
            Status::Completed => "completed",
            Status::NoShow => "no_show",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == stored)
    }

    /// The transitions the life cycle allows.
    pub fn can_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Pending, Status::Booked | Status::Cancelled)
                | (Status::Booked, Status::CheckedIn | Status::NoShow | Status::Cancelled)
                | (Status::CheckedIn, Status::Called | Status::Completed)
                | (Status::Called, Status::Completed | Status::NoShow)
        )
    }
}

/// One recorded change of a booking: who, when, from, to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// "citizen", "system", "staff" or "staff:<id>".
    pub actor: String,
    /// `None` for the creation.
    pub from: Option<Status>,
    pub to: Status,
    /// A note; personal data, removed by the retention job.
    pub detail: Option<String>,
}

/// An email address as counted for the per-address limit: lower case and
/// without a "+tag", so `Erika+1@Example.de` and `erika@example.de` are one.
pub fn normalise_email(email: &str) -> String {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _tag)| base);
            format!("{local}@{domain}")
        }
        None => email,
    }
}

/// How a booking was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    #[default]
    Online,
    Foyer,
    Phone,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Foyer => "foyer",
            Channel::Phone => "phone",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Channel::Online, Channel::Foyer, Channel::Phone]
            .into_iter()
            .find(|channel| channel.as_str() == stored)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub office_id: String,
    pub code: String,
    pub counter_id: String,
    pub concern_ids: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: Status,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
    /// A pending booking is released unless confirmed by then.
    pub confirm_by: Option<DateTime<Utc>>,
    /// The language the citizen booked in ("de", "en"): their mails use it.
    pub language: String,
    /// Drawn on arrival, e.g. "T-017"; none before.
    pub waiting_number: Option<String>,
    /// When last called to the counter (a recall calls again).
    pub called_at: Option<DateTime<Utc>>,
}

/// A booking's interval on its counter, without personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    pub code: String,
    pub counter_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Booking {
    /// The booking's interval on its counter.
    pub fn interval(&self) -> Interval {
        Interval {
            code: self.code.clone(),
            counter_id: self.counter_id.clone(),
            start: self.start,
            end: self.end,
        }
    }
}

/// Idempotency data kept with a booking made under an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key_hash: Vec<u8>,
    pub request_hash: Vec<u8>,
    pub token_sealed: Vec<u8>,
}

/// A booking about to be inserted: everything but the counter.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub office_id: String,
    pub code: String,
    pub concern_ids: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub token_hash: Vec<u8>,
    pub idempotency: Option<Idempotency>,
    pub channel: Channel,
    /// Who books, for the history: "citizen" or "staff[:<id>]".
    pub actor: String,
    /// Mails to queue with the booking.
    pub notifications: Vec<crate::notifications::Notification>,
    pub created_at: DateTime<Utc>,
    /// The office's quota for the client address, where one applies.
    pub quota: Option<ClientQuota>,
    /// The language the citizen books in, for the mails.
    pub language: String,
    /// Set where the office wants bookings confirmed by email: the booking
    /// starts `pending` and is released unless confirmed by then, with the
    /// secret (its hash) that only the mail carries.
    pub confirm_by: Option<(DateTime<Utc>, Vec<u8>)>,
}

/// How many bookings one client address may make in a rolling day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientQuota {
    /// The salted hash the address is counted under.
    pub key: Vec<u8>,
    pub per_day: u32,
}

impl ClientQuota {
    /// The quota of `address` in `office_id`; the hash is salted with the
    /// office so keys cannot be compared across offices.
    pub fn new(office_id: &str, address: &str, per_day: u32) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"amtstermin client quota\0");
        hash.update(office_id.as_bytes());
        hash.update(b"\0");
        hash.update(address.trim().as_bytes());
        Self {
            key: hash.finalize().to_vec(),
            per_day,
        }
    }
}

/// Personal data of a booking request, validated and trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citizen {
    pub name: String,
    pub email: String,
    pub phone: String,
}

impl Citizen {
    pub fn parse(name: &str, email: &str, phone: &str) -> Result<Self, Error> {
        Ok(Self {
            name: parse_name(name)?,
            email: parse_email(email)?,
            phone: parse_phone(phone)?,
        })
    }

    /// As `parse`, for walk-ins staff book at the desk: the email address
    /// may be left out (no mails are sent then).
    pub fn parse_walk_in(name: &str, email: &str, phone: &str) -> Result<Self, Error> {
        if email.trim().is_empty() {
            Ok(Self {
                name: parse_name(name)?,
                email: String::new(),
                phone: parse_phone(phone)?,
            })
        } else {
            Self::parse(name, email, phone)
        }
    }
}

fn invalid(code: ErrorCode, message: &str) -> Error {
    Error::Invalid {
        code,
        message: message.to_owned(),
    }
}

fn parse_name(name: &str) -> Result<String, Error> {
    contact::name(name).map_err(|code| {
        invalid(
            code,
            "name must be 1 to 200 characters with letters, without control or direction characters",
        )
    })
}

/// A note of staff on a status change: text of at most 500 characters, lines
/// and tabs allowed, no other control characters (PostgreSQL refuses a NUL
/// in text; the rest would garble the history on the desk's screen).
pub fn parse_note(note: &str) -> Result<Option<String>, Error> {
    let note = note.trim();
    if note.chars().count() > 500
        || note
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || contact::is_bidi_control(c))
    {
        return Err(invalid(
            ErrorCode::InvalidArgument,
            "note must be at most 500 characters of text, without control or direction characters",
        ));
    }
    Ok(Some(note.to_owned()).filter(|note| !note.is_empty()))
}

/// The address mails are sent to: what `parse_email` accepted, as the mailer
/// needs it. The one check both sides share: what is accepted can be mailed.
pub fn mail_address(email: &str) -> Result<lettre::Address, Error> {
    let email = parse_email(email)?;
    email
        .parse()
        .map_err(|_| invalid(ErrorCode::InvalidEmail, "email must be an address like name@example.de"))
}

/// The plain check every form shares (`contact::email`), and an address
/// the mailer can send to.
fn parse_email(email: &str) -> Result<String, Error> {
    let error = |code| invalid(code, "email must be an address like name@example.de");
    let email = contact::email(email).map_err(error)?;
    // What lettre (the mailer) cannot address is refused here, not found out
    // when the confirmation mail fails.
    email
        .parse::<lettre::Address>()
        .map_err(|_| error(ErrorCode::InvalidEmail))?;
    Ok(email)
}

fn parse_phone(phone: &str) -> Result<String, Error> {
    contact::phone(phone).map_err(|code| {
        invalid(
            code,
            "phone may hold digits, spaces and + - / ( ), at most 30 characters",
        )
    })
}

/// Letters and digits that cannot be mistaken for each other (no 0/O, 1/I).
const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A short code to read out at the counter, e.g. "K7MQ-4PXZ" (40 bits).
pub fn new_code() -> Result<String, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    let mut code = String::with_capacity(9);
    for (index, byte) in bytes.iter().enumerate() {
        if index == 4 {
            code.push('-');
        }
        code.push(char::from(CODE_ALPHABET[usize::from(byte % 32)]));
    }
    Ok(code)
}

/// Codes as the public types them: case and surrounding space do not matter.
pub fn normalise_code(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    let well_formed = code.len() == 9
        && code.bytes().enumerate().all(|(index, byte)| {
            if index == 4 {
                byte == b'-'
            } else {
                CODE_ALPHABET.contains(&byte)
            }
        });
    well_formed.then_some(code)
}

/// A secret token of 256 random bits, as 64 hex digits.
pub fn new_token() -> Result<[u8; 32], Error> {
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    Ok(token)
}

pub fn token_to_string(token: &[u8; 32]) -> String {
    token.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What is stored of a token presented as text; `None` if it cannot be one of ours.
pub fn token_hash(token: &str) -> Option<Vec<u8>> {
    let token = token.trim();
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| Sha256::digest(token.to_ascii_lowercase().as_bytes()).to_vec())
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Client-chosen idempotency key, validated.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: &str) -> Result<Option<Self>, Error> {
        if key.is_empty() {
            return Ok(None);
        }
        if key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1 to 200 printable ASCII characters",
            ));
        }
        Ok(Some(Self(key.to_owned())))
    }

    /// The lookup hash, scoped to the office so keys of two offices never meet.
    pub fn hash(&self, office_id: &str) -> Vec<u8> {
        digest(&[b"amtstermin idempotency key", office_id.as_bytes(), self.0.as_bytes()]).to_vec()
    }

    /// Seals (and unseals: XOR is its own inverse) the token with a pad only
    /// the holder of the key can derive, so a retry gets the token back while
    /// the database alone never reveals it.
    pub fn seal(&self, office_id: &str, token: &[u8; 32]) -> [u8; 32] {
        let pad = digest(&[b"amtstermin idempotency seal", office_id.as_bytes(), self.0.as_bytes()]);
        std::array::from_fn(|i| token[i] ^ pad[i])
    }

    pub fn unseal(&self, office_id: &str, sealed: &[u8]) -> Option<[u8; 32]> {
        let sealed: [u8; 32] = sealed.try_into().ok()?;
        Some(self.seal(office_id, &sealed))
    }
}

/// Fingerprint of a booking request, to tell a retry from a different
/// request that reuses a key.
pub fn request_hash(office_id: &str, concern_ids: &[String], start: DateTime<Utc>, citizen: &Citizen) -> Vec<u8> {
    digest(&[
        office_id.as_bytes(),
        concern_ids.join(",").as_bytes(),
        &start.timestamp().to_be_bytes(),
        citizen.name.as_bytes(),
        citizen.email.as_bytes(),
        citizen.phone.as_bytes(),
    ])
    .to_vec()
}

/// The language a booking's mails are written in: a known code, else German.
pub fn parse_language(language: &str) -> String {
    match language.trim() {
        "en" => "en".to_owned(),
        _ => "de".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_life_cycle_transitions_are_allowed() {
        use Status::*;
        let allowed: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|from| Status::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Pending, Booked),
                (Pending, Cancelled),
                (Booked, CheckedIn),
                (Booked, NoShow),
                (Booked, Cancelled),
                (CheckedIn, Called),
                (CheckedIn, Completed),
                (Called, Completed),
                (Called, NoShow)
            ]
        );
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn emails_count_without_case_and_tags() {
        assert_eq!(normalise_email(" Erika+Termin@Example.DE "), "erika@example.de");
        assert_eq!(normalise_email("erika@example.de"), "erika@example.de");
        assert_eq!(normalise_email("a+b+c@x.de"), "a@x.de");
    }

    #[test]
    fn codes_are_readable_and_normalised() {
        for _ in 0..100 {
            let code = new_code().expect("code");
            assert_eq!(normalise_code(&code.to_lowercase()), Some(code.clone()));
            assert!(!code.contains(['0', 'O', '1', 'I']));
        }
        assert_eq!(normalise_code(" abcd-efgh "), Some("ABCD-EFGH".to_owned()));
        for bad in ["ABCD-EFG", "ABCDEFGHJ", "AB0D-EFGH", "../etc/pass", ""] {
            assert_eq!(normalise_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_256_bit_and_only_their_hash_matches() {
        let token = new_token().expect("token");
        let text = token_to_string(&token);
        assert_eq!(text.len(), 64);
        assert_eq!(token_hash(&text), token_hash(&text.to_uppercase()));
        assert_ne!(
            token_hash(&text),
            token_hash(&token_to_string(&new_token().expect("token")))
        );
        assert_eq!(token_hash("short"), None);
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_office() {
        let token = new_token().expect("token");
        let key = IdempotencyKey::parse("3f1c-retry").expect("valid").expect("some");
        let other = IdempotencyKey::parse("another").expect("valid").expect("some");
        let sealed = key.seal("bergkamen", &token);
        assert_ne!(sealed, token);
        assert_eq!(key.unseal("bergkamen", &sealed), Some(token));
        assert_ne!(other.unseal("bergkamen", &sealed), Some(token));
        assert_ne!(key.unseal("standesamt", &sealed), Some(token));
        assert_ne!(key.hash("bergkamen"), key.hash("standesamt"));
        assert!(IdempotencyKey::parse("").expect("empty is none").is_none());
        assert!(IdempotencyKey::parse("with space").is_err());
    }

    #[test]
    fn personal_data_is_checked_and_trimmed() {
        let citizen = Citizen::parse(" Erika Mustermann ", " erika@example.de ", "").expect("valid");
        assert_eq!(citizen.name, "Erika Mustermann");
        assert_eq!(citizen.email, "erika@example.de");
        assert!(Citizen::parse("Erika", "erika@bürger.example.de", "+49 2307 965-0").is_ok());
        assert!(
            Citizen::parse("Erika", "", "").is_err(),
            "online bookings need an address"
        );
        assert_eq!(Citizen::parse_walk_in("Erika", " ", "").expect("walk-in").email, "");
        assert!(Citizen::parse_walk_in("Erika", "nonsense", "").is_err());
        let long_name = "x".repeat(201);
        let invalid = [
            ("", "a@b.de", ""),
            ("\u{200B}\u{200B}", "a@b.de", ""),
            ("...", "a@b.de", ""),
            ("Erika \u{202E}nnamretsuM", "a@b.de", ""),
            ("Erika", "a\"@b.de", ""),
            ("Erika", "a b@c.de", ""),
            (long_name.as_str(), "a@b.de", ""),
            ("Erika\u{0}", "a@b.de", ""),
            ("Erika", "no-at-sign", ""),
            ("Erika", "a@localhost", ""),
            ("Erika", "a b@c.de", ""),
            ("Erika", "@c.de", ""),
            ("Erika", "a@-c.de", ""),
            ("Erika", "a@b.de", "call me"),
            ("Erika", "a@b.de", "12"),
        ];
        for (name, email, phone) in invalid {
            assert!(
                Citizen::parse(name, email, phone).is_err(),
                "{name:?} {email:?} {phone:?}"
            );
        }
    }
}
