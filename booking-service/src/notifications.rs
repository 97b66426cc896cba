//! The mails a booking change announces, queued in the transactional outbox
//! (`mail_outbox`) together with the change itself, and their German text.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::bookings::Booking;
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    Confirmation,
    Rescheduled,
    Cancelled,
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Confirmation => "confirmation",
            MailKind::Rescheduled => "rescheduled",
            MailKind::Cancelled => "cancelled",
            MailKind::Reminder => "reminder",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [
            MailKind::Confirmation,
            MailKind::Rescheduled,
            MailKind::Cancelled,
            MailKind::Reminder,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == stored)
    }
}

/// A mail to queue with a booking change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub kind: MailKind,
    pub due_at: DateTime<Utc>,
    /// For the manage link; erased from the outbox once sent.
    pub token: Option<String>,
}

impl Notification {
    pub fn new(kind: MailKind, due_at: DateTime<Utc>, token: Option<String>) -> Result<Self, Error> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("no randomness: {error}")))?;
        Ok(Self {
            id: bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
            kind,
            due_at,
            token,
        })
    }
}

/// What mails to send, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailPolicy {
    /// Whether mails are sent at all.
    pub enabled: bool,
    /// How long before the appointment the reminder goes out; `None` for none.
    pub reminder_before: Option<TimeDelta>,
}

impl MailPolicy {
    /// The mails announcing `kind` for a booking starting at `start`: the
    /// announcement now and, while the appointment stands, a new reminder.
    pub fn plan(
        &self,
        kind: MailKind,
        start: DateTime<Utc>,
        token: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>, Error> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        let mut mails = vec![Notification::new(kind, now, token)?];
        if kind != MailKind::Cancelled
            && let Some(before) = self.reminder_before
            && start - before > now
        {
            mails.push(Notification::new(MailKind::Reminder, start - before, None)?);
        }
        Ok(mails)
    }
}

/// A queued mail the worker claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMail {
    pub office_id: String,
    pub id: String,
    pub code: String,
    pub kind: MailKind,
    pub token: Option<String>,
    /// Including the current one.
    pub attempts: u32,
}

/// What a mail says about the office and the concerns, from the catalogue.
pub struct MailContext<'a> {
    pub office_name: &'a str,
    pub address: &'a str,
    pub timezone: Tz,
    /// Names of the booked concerns, in order.
    pub concerns: Vec<String>,
    pub documents: Vec<String>,
    /// (concern name, fee text).
    pub fees: Vec<(String, String)>,
    /// The manage link, when the mail may carry the token.
    pub manage_link: Option<String>,
    /// The link that confirms a pending booking.
    pub confirm_link: Option<String>,
}

/// The mail of a pending booking: follow the link, or the time is released.
fn render_confirm_request(booking: &Booking, context: &MailContext<'_>) -> (String, String) {
    let start = booking.start.with_timezone(&context.timezone);
    let date = amtstermin_catalogue::german::long_date(start.date_naive());
    let deadline = booking
        .confirm_by
        .map(|by| {
            by.with_timezone(&context.timezone)
                .format("%d.%m.%Y, %H:%M Uhr")
                .to_string()
        })
        .unwrap_or_default();
    let subject = format!(
        "Bitte bestätigen: Termin {} – {}",
        context.office_name,
        start.format("%d.%m.%Y, %H:%M Uhr")
    );
    let mut text = format!(
        "Guten Tag {},\n\nbitte bestätigen Sie Ihren Termin bis {deadline}. Erst mit Ihrer Bestätigung ist er \
         verbindlich gebucht; ohne sie geben wir die Zeit wieder frei.\n\n",
        booking.name
    );
    text.push_str(&format!("Buchungscode: {}\n", booking.code));
    text.push_str(&format!("Datum: {date}, {} Uhr\n", start.format("%H:%M")));
    text.push_str(&format!("Ort: {}, {}\n", context.office_name, context.address));
    text.push_str(&format!("Anliegen: {}\n", context.concerns.join(", ")));
    if let Some(confirm) = &context.confirm_link {
        text.push_str(&format!(
            "\nTermin bestätigen:\n{confirm}\nBitte geben Sie diesen Link nicht weiter.\n"
        ));
    }
    if let Some(link) = &context.manage_link {
        text.push_str(&format!("\nTermin ansehen, verschieben oder absagen:\n{link}\n"));
    }
    text.push_str("\nSie haben diesen Termin nicht gebucht? Dann müssen Sie nichts tun.\n");
    (subject, text)
}

/// Subject and German plain text of a mail.
pub fn render(kind: MailKind, booking: &Booking, context: &MailContext<'_>) -> (String, String) {
    let start = booking.start.with_timezone(&context.timezone);
    let end = booking.end.with_timezone(&context.timezone);
    let date = amtstermin_catalogue::german::long_date(start.date_naive());
    let short_date = start.format("%d.%m.%Y, %H:%M Uhr");
    if kind == MailKind::Confirmation && booking.status == crate::bookings::Status::Pending {
        return render_confirm_request(booking, context);
    }
    let (subject, lead) = match kind {
        MailKind::Confirmation => (
            format!("Terminbestätigung {} – {short_date}", context.office_name),
            "Ihr Termin ist verbindlich gebucht.",
        ),
        MailKind::Rescheduled => (
            format!("Termin verschoben: {} – {short_date}", context.office_name),
            "Ihr Termin wurde verschoben. Es gilt die neue Zeit:",
        ),
        MailKind::Cancelled => (
            format!("Termin abgesagt: {} – {short_date}", context.office_name),
            "Ihr Termin wurde abgesagt. Sie müssen nichts weiter tun.",
        ),
        MailKind::Reminder => (
            format!("Erinnerung an Ihren Termin: {} – {short_date}", context.office_name),
            "wir erinnern Sie an Ihren Termin:",
        ),
    };
    let mut text = format!("Guten Tag {},\n\n{lead}\n\n", booking.name);
    text.push_str(&format!("Buchungscode: {}\n", booking.code));
    text.push_str(&format!("Datum: {date}\n"));
    text.push_str(&format!(
        "Uhrzeit: {} – {} Uhr\n",
        start.format("%H:%M"),
        end.format("%H:%M")
    ));
    text.push_str(&format!("Ort: {}, {}\n", context.office_name, context.address));
    text.push_str(&format!("Anliegen: {}\n", context.concerns.join(", ")));
    if kind != MailKind::Cancelled {
        if !context.documents.is_empty() {
            text.push_str("\nBitte bringen Sie mit:\n");
            for document in &context.documents {
                text.push_str(&format!("- {document}\n"));
            }
        }
        if !context.fees.is_empty() {
            text.push_str("\nGebühren:\n");
            for (concern, fee) in &context.fees {
                text.push_str(&format!("- {concern}: {fee}\n"));
            }
        }
        match &context.manage_link {
            Some(link) => text.push_str(&format!(
                "\nTermin ansehen, verschieben oder absagen:\n{link}\n\
                 Bitte geben Sie diesen Link nicht weiter.\n"
            )),
            None => text.push_str(
                "\nVerschieben oder absagen können Sie den Termin über den Link in Ihrer Terminbestätigung.\n",
            ),
        }
        text.push_str("\nDen Termin als Kalendereintrag finden Sie im Anhang.\n");
    }
    text.push_str(&format!("\nMit freundlichen Grüßen\nIhr {}\n", context.office_name));
    (subject, text)
}

/// When to try a failed mail again after `attempts` attempts: `first`,
/// then twice as long each time, at most an hour.
pub fn retry_delay(first: TimeDelta, attempts: u32) -> TimeDelta {
    let factor = 1_i32 << attempts.saturating_sub(1).min(20);
    (first * factor).min(TimeDelta::hours(1))
}

/// After this many attempts a mail is given up (and logged).
pub const MAX_ATTEMPTS: u32 = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bookings::{Channel, Status};
    use chrono::TimeZone;

    fn booking() -> Booking {
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).single().expect("valid");
        Booking {
            office_id: "bergkamen".into(),
            code: "K7MQ-4PXZ".into(),
            counter_id: "platz-1".into(),
            concern_ids: vec!["personalausweis".into()],
            start: at(7),
            end: at(7) + TimeDelta::minutes(20),
            status: Status::Booked,
            name: "Erika Mustermann".into(),
            email: "erika@example.de".into(),
            phone: String::new(),
            channel: Channel::Online,
            created_at: at(6),
            confirm_by: None,
        }
    }

    fn context(link: Option<&str>) -> MailContext<'static> {
        MailContext {
            office_name: "Bürgerbüro Bergkamen",
            address: "Rathausplatz 1, 59192 Bergkamen",
            timezone: chrono_tz::Europe::Berlin,
            concerns: vec!["Personalausweis beantragen".into()],
            documents: vec!["Biometrisches Passfoto".into()],
            fees: vec![("Personalausweis beantragen".into(), "37,00 €".into())],
            manage_link: link.map(str::to_owned),
            confirm_link: None,
        }
    }

    #[test]
    fn a_confirmation_says_everything_in_german() {
        let (subject, text) = render(
            MailKind::Confirmation,
            &booking(),
            &context(Some("https://x/termin?token=t")),
        );
        assert_eq!(
            subject,
            "Terminbestätigung Bürgerbüro Bergkamen – 26.11.2026, 08:00 Uhr"
        );
        for expected in [
            "Guten Tag Erika Mustermann,",
            "verbindlich gebucht",
            "Buchungscode: K7MQ-4PXZ",
            "Datum: Donnerstag, 26. November 2026",
            "Uhrzeit: 08:00 – 08:20 Uhr",
            "Ort: Bürgerbüro Bergkamen, Rathausplatz 1, 59192 Bergkamen",
            "- Biometrisches Passfoto",
            "- Personalausweis beantragen: 37,00 €",
            "https://x/termin?token=t",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
        let (_, reminder) = render(MailKind::Reminder, &booking(), &context(None));
        assert!(!reminder.contains("token"));
        let (subject, cancelled) = render(MailKind::Cancelled, &booking(), &context(None));
        assert!(subject.starts_with("Termin abgesagt"));
        assert!(!cancelled.contains("Bitte bringen Sie mit"));
    }

    #[test]
    fn the_plan_adds_a_reminder_only_while_it_is_ahead() {
        let policy = MailPolicy {
            enabled: true,
            reminder_before: Some(TimeDelta::hours(24)),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("valid");
        let kinds = |start, kind| -> Vec<(MailKind, DateTime<Utc>)> {
            policy
                .plan(kind, start, None, now)
                .expect("plan")
                .into_iter()
                .map(|n| (n.kind, n.due_at))
                .collect()
        };
        let in_three_days = now + TimeDelta::days(3);
        assert_eq!(
            kinds(in_three_days, MailKind::Confirmation),
            [
                (MailKind::Confirmation, now),
                (MailKind::Reminder, in_three_days - TimeDelta::hours(24))
            ]
        );
        assert_eq!(
            kinds(now + TimeDelta::hours(5), MailKind::Confirmation).len(),
            1,
            "too late to remind"
        );
        assert_eq!(kinds(in_three_days, MailKind::Cancelled).len(), 1);
        let off = MailPolicy {
            enabled: false,
            reminder_before: None,
        };
        assert!(
            off.plan(MailKind::Confirmation, in_three_days, None, now)
                .expect("plan")
                .is_empty()
        );
    }

    #[test]
    fn retries_back_off_up_to_an_hour() {
        let first = TimeDelta::seconds(10);
        assert_eq!(retry_delay(first, 1), TimeDelta::seconds(10));
        assert_eq!(retry_delay(first, 2), TimeDelta::seconds(20));
        assert_eq!(retry_delay(first, 5), TimeDelta::seconds(160));
        assert_eq!(retry_delay(first, 30), TimeDelta::hours(1));
    }
}
