//! Webhooks: other systems follow an office's bookings. What an event is,
//! what its payload says (no personal data unless the subscription asks),
//! and how a delivery is signed: the Standard Webhooks convention
//! (<https://www.standardwebhooks.com>), so receivers verify it with any of
//! its libraries. No I/O here; the store keeps the outbox, `deliverer`
//! sends it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::bookings::Booking;
use crate::error::Error;
use amtstermin_platform::ErrorCode;

/// After this many attempts a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 12;

/// The longest URL a subscription may name.
const MAX_URL: usize = 2_000;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    BookingCreated,
    BookingMoved,
    BookingCancelled,
    /// Confirmed, arrived, called, completed, not come.
    BookingStatusChanged,
    /// A freed time is held for a waitlist entry.
    WaitlistOffered,
    /// An administrator saved the office's configuration.
    ConfigurationChanged,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::BookingCreated,
        Event::BookingMoved,
        Event::BookingCancelled,
        Event::BookingStatusChanged,
        Event::WaitlistOffered,
        Event::ConfigurationChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::BookingCreated => "booking.created",
            Event::BookingMoved => "booking.moved",
            Event::BookingCancelled => "booking.cancelled",
            Event::BookingStatusChanged => "booking.status_changed",
            Event::WaitlistOffered => "waitlist.offered",
            Event::ConfigurationChanged => "configuration.changed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }
}

/// Checks a subscription's URL and events; the events as stored (sorted,
/// once each; empty: all).
pub fn check(url: &str, events: &[String]) -> Result<Vec<Event>, Error> {
    let invalid = |message: String| Error::Invalid {
        code: ErrorCode::InvalidArgument,
        message,
    };
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|_| invalid("url must be an absolute http(s) URL".to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() || url.len() > MAX_URL {
        return Err(invalid(format!(
            "url must be an http(s) URL of at most {MAX_URL} characters"
        )));
    }
    let mut wanted = Vec::new();
    for text in events {
        let event = Event::parse(text.trim()).ok_or_else(|| {
            let known: Vec<&str> = Event::ALL.iter().map(|event| event.as_str()).collect();
            invalid(format!("unknown event {text:?}; known: {}", known.join(", ")))
        })?;
        if !wanted.contains(&event) {
            wanted.push(event);
        }
    }
    wanted.sort_by_key(|event| event.as_str());
    Ok(wanted)
}

/// A new signing secret: "whsec_" and 32 random bytes in base64.
pub fn new_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` of a delivery: "v1," and the HMAC-SHA256 of
/// "{id}.{timestamp}.{body}" keyed with the secret's bytes, in base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, Error> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| Error::Internal("a stored webhook secret is not base64".to_owned()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|error| Error::Internal(error.to_string()))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The body of an event about `booking`: its type, when, and the booking
/// without personal data unless `personal` (the subscription's scope).
pub fn booking_payload(event: Event, booking: &Booking, personal: bool, at: DateTime<Utc>) -> String {
    let mut data = serde_json::json!({
        "office": booking.office_id,
        "code": booking.code,
        "status": booking.status.as_str(),
        "start": booking.start.to_rfc3339(),
        "end": booking.end.to_rfc3339(),
        "counter": booking.counter_id,
        "concerns": booking.concern_ids,
        "channel": booking.channel.as_str(),
    });
    if personal {
        data["name"] = booking.name.clone().into();
        data["email"] = booking.email.clone().into();
        data["phone"] = booking.phone.clone().into();
    }
    envelope(event, data, at)
}

/// The body of a waitlist offer: the time held, for which entry (no
/// personal data: the entry's own data stays with the entry).
pub fn offer_payload(hold: &Booking, (entry_id, offer_id): (&str, &str), at: DateTime<Utc>) -> String {
    let data = serde_json::json!({
        "office": hold.office_id,
        "entry": entry_id,
        "offer": offer_id,
        "code": hold.code,
        "start": hold.start.to_rfc3339(),
        "end": hold.end.to_rfc3339(),
        "counter": hold.counter_id,
        "concerns": hold.concern_ids,
    });
    envelope(Event::WaitlistOffered, data, at)
}

/// The body of a configuration change: which office, which version (who
/// made it stays in the administration's history).
pub fn configuration_payload(office_id: &str, version: u64, at: DateTime<Utc>) -> String {
    let data = serde_json::json!({ "office": office_id, "version": version });
    envelope(Event::ConfigurationChanged, data, at)
}

/// The message id of a configuration change's delivery to one subscription:
/// the same however often the change is announced, so it is queued once.
pub fn configuration_message_id(webhook_id: &str, version: u64) -> String {
    let digest = Sha256::digest(format!("{webhook_id}/configuration/{version}").as_bytes());
    format!("msg_cfg{}", amtstermin_platform::hex(&digest[..12]))
}

fn envelope(event: Event, data: serde_json::Value, at: DateTime<Utc>) -> String {
    serde_json::json!({ "type": event.as_str(), "timestamp": at.to_rfc3339(), "data": data }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_signed_as_the_standard_webhooks_example_says() {
        // The example of the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.ok().as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn message_ids_sort_in_the_order_they_were_made() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).single().unwrap_or_default();
        let first = new_message_id(at).unwrap_or_default();
        let second = new_message_id(at + chrono::TimeDelta::microseconds(1)).unwrap_or_default();
        assert!(first.starts_with("msg_") && first.len() == 36, "{first}");
        assert!(first < second);
        assert_ne!(new_message_id(at).ok(), new_message_id(at).ok());
    }

    #[test]
    fn a_subscription_names_an_http_url_and_known_events() {
        let events = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>();
        let checked = check(
            "https://example.org/hook",
            &events(&["booking.moved", "booking.created", "booking.moved"]),
        );
        assert_eq!(checked.ok(), Some(vec![Event::BookingCreated, Event::BookingMoved]));
        assert_eq!(check("http://intern:8080/x", &[]).ok(), Some(Vec::new()));
        for url in ["ftp://example.org", "example.org/hook", "https://", ""] {
            assert!(check(url, &[]).is_err(), "{url}");
        }
        assert!(check("https://example.org", &events(&["booking.eaten"])).is_err());
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL));
        assert!(check(&long, &[]).is_err());
    }

    #[test]
    fn a_payload_carries_personal_data_only_when_asked() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).single().unwrap_or_default();
        let booking = Booking {
            office_id: "amt".into(),
            code: "K7MQ-4PXZ".into(),
            counter_id: "eins".into(),
            concern_ids: vec!["pass".into()],
            start: at,
            end: at + chrono::TimeDelta::minutes(20),
            status: crate::bookings::Status::Booked,
            name: "Erika Mustermann".into(),
            email: "erika@example.de".into(),
            phone: String::new(),
            channel: crate::bookings::Channel::Online,
            created_at: at,
            confirm_by: None,
            language: "de".into(),
            waiting_number: None,
            called_at: None,
        };
        let plain: serde_json::Value =
            serde_json::from_str(&booking_payload(Event::BookingCreated, &booking, false, at)).unwrap_or_default();
        assert_eq!(plain["type"], "booking.created");
        assert_eq!(plain["data"]["code"], "K7MQ-4PXZ");
        assert!(plain["data"].get("email").is_none() && plain["data"].get("name").is_none());
        let personal: serde_json::Value =
            serde_json::from_str(&booking_payload(Event::BookingCreated, &booking, true, at)).unwrap_or_default();
        assert_eq!(personal["data"]["email"], "erika@example.de");
    }
}

/// A subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub office_id: String,
    pub id: String,
    pub url: String,
    /// Empty: all.
    pub events: Vec<Event>,
    pub personal_data: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Webhook {
    pub fn wants(&self, event: Event) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

/// A delivery as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_status: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// A delivery claimed for sending.
#[derive(Clone, Debug)]
pub struct Due {
    pub office_id: String,
    pub id: String,
    pub webhook_id: String,
    pub payload: String,
    /// Counting this one.
    pub attempts: u32,
}

/// A new message id (`webhook-id`): "msg_", the time in nanoseconds and
/// 8 random bytes, in hex: ids sort in the order they were made (the list
/// shows the newest first even within a second), and none is guessed.
pub fn new_message_id(at: DateTime<Utc>) -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    let nanos = at.timestamp_nanos_opt().unwrap_or_default().to_be_bytes();
    bytes[..8].copy_from_slice(&nanos);
    getrandom::fill(&mut bytes[8..]).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
    Ok(format!("msg_{}", amtstermin_platform::hex(&bytes)))
}
