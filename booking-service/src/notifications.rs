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
    /// "Sie sind gleich dran": at most two numbers remain ahead.
    Soon,
    /// Confirming a waitlist entry's email address (`code` is the entry's id).
    WaitlistConfirm,
    /// A time offered to a waitlist entry (`code` is the hold's).
    WaitlistOffer,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Confirmation => "confirmation",
            MailKind::Rescheduled => "rescheduled",
            MailKind::Cancelled => "cancelled",
            MailKind::Reminder => "reminder",
            MailKind::Soon => "soon",
            MailKind::WaitlistConfirm => "waitlist_confirm",
            MailKind::WaitlistOffer => "waitlist_offer",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [
            MailKind::Confirmation,
            MailKind::Rescheduled,
            MailKind::Cancelled,
            MailKind::Reminder,
            MailKind::Soon,
            MailKind::WaitlistConfirm,
            MailKind::WaitlistOffer,
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
    /// The office's self check-in with the code filled in (the QR code
    /// attached carries it); `None` where a mail shows none.
    pub check_in_link: Option<String>,
}

impl MailContext<'_> {
    /// Whether a mail of `kind` about `booking` carries the check-in QR
    /// code: those of a standing appointment.
    pub fn shows_check_in(kind: MailKind, booking: &Booking) -> bool {
        matches!(
            kind,
            MailKind::Confirmation | MailKind::Rescheduled | MailKind::Reminder
        ) && booking.status == crate::bookings::Status::Booked
    }
}

/// The words of the mails in one language: one table per language, so a
/// mail says the same in each.
struct Words {
    hello: &'static str,
    confirm_subject: &'static str,
    confirm_lead: &'static str,
    confirm_link: &'static str,
    do_not_share: &'static str,
    not_you: &'static str,
    booked_subject: &'static str,
    booked_lead: &'static str,
    moved_subject: &'static str,
    moved_lead: &'static str,
    cancelled_subject: &'static str,
    cancelled_lead: &'static str,
    reminder_subject: &'static str,
    reminder_lead: &'static str,
    waitlist_subject: &'static str,
    waitlist_lead: &'static str,
    waitlist_range: &'static str,
    waitlist_times: [&'static str; 3],
    waitlist_confirm: &'static str,
    waitlist_manage: &'static str,
    offer_subject: &'static str,
    offer_lead: &'static str,
    offer_until: &'static str,
    offer_accept: &'static str,
    offer_decline: &'static str,
    soon_subject: &'static str,
    soon_lead: &'static str,
    waiting_number: &'static str,
    code: &'static str,
    date: &'static str,
    time: &'static str,
    place: &'static str,
    concerns: &'static str,
    bring: &'static str,
    fees: &'static str,
    manage: &'static str,
    manage_elsewhere: &'static str,
    attachment: &'static str,
    check_in: &'static str,
    regards: &'static str,
    /// chrono formats of a short date with time and of a time span's end.
    short: &'static str,
    clock: &'static str,
    long_date: fn(chrono::NaiveDate) -> String,
}

const GERMAN: Words = Words {
    hello: "Guten Tag",
    confirm_subject: "Bitte bestätigen: Termin",
    confirm_lead: "bitte bestätigen Sie Ihren Termin bis {deadline}. Erst mit Ihrer Bestätigung ist er \
                   verbindlich gebucht; ohne sie geben wir die Zeit wieder frei.",
    confirm_link: "Termin bestätigen:",
    do_not_share: "Bitte geben Sie diesen Link nicht weiter.",
    not_you: "Sie haben diesen Termin nicht gebucht? Dann müssen Sie nichts tun.",
    booked_subject: "Terminbestätigung",
    booked_lead: "Ihr Termin ist verbindlich gebucht.",
    moved_subject: "Termin verschoben:",
    moved_lead: "Ihr Termin wurde verschoben. Es gilt die neue Zeit:",
    cancelled_subject: "Termin abgesagt:",
    cancelled_lead: "Ihr Termin wurde abgesagt. Sie müssen nichts weiter tun.",
    reminder_subject: "Erinnerung an Ihren Termin:",
    reminder_lead: "wir erinnern Sie an Ihren Termin:",
    waitlist_subject: "Bitte bestätigen: Terminwecker",
    waitlist_lead: "Sie möchten einen Termin angeboten bekommen, sobald einer frei wird. Bitte bestätigen Sie \
                    dazu Ihre E-Mail-Adresse; erst dann nimmt Ihr Terminwecker teil. Wer zuerst bestätigt, \
                    kommt zuerst an die Reihe.",
    waitlist_range: "Zeitraum",
    waitlist_times: ["ganztags", "vormittags", "nachmittags"],
    waitlist_confirm: "E-Mail-Adresse bestätigen:",
    waitlist_manage: "Terminwecker ansehen oder zurückziehen:",
    offer_subject: "Ein Termin für Sie:",
    offer_lead: "für Ihren Terminwecker ist ein Termin frei geworden. Wir halten ihn für Sie bereit:",
    offer_until: "Reserviert bis {deadline}. Danach bieten wir ihn der nächsten Person auf der Warteliste an.",
    offer_accept: "Termin ansehen und annehmen:",
    offer_decline: "Kein Bedarf mehr? Dann lehnen Sie ihn bitte ab, damit ihn jemand anderes bekommt:",
    soon_subject: "Sie sind gleich dran:",
    soon_lead: "Sie sind gleich dran: Vor Ihnen warten nur noch höchstens zwei Personen. Bitte kommen Sie \
                jetzt in den Wartebereich und achten Sie auf die Aufrufanzeige.",
    waiting_number: "Ihre Wartenummer",
    code: "Buchungscode",
    date: "Datum",
    time: "Uhrzeit",
    place: "Ort",
    concerns: "Anliegen",
    bring: "Bitte bringen Sie mit:",
    fees: "Gebühren:",
    manage: "Termin ansehen, verschieben oder absagen:",
    manage_elsewhere: "Verschieben oder absagen können Sie den Termin über den Link in Ihrer Terminbestätigung.",
    attachment: "Den Termin als Kalendereintrag finden Sie im Anhang.",
    check_in: "Im Foyer melden Sie sich ab einer Stunde vor dem Termin selbst an: Zeigen Sie den QR-Code \
               aus dem Anhang am Check-in-Terminal vor oder geben Sie dort Ihren Buchungscode ein. Sie \
               erhalten dann Ihre Wartenummer.",
    regards: "Mit freundlichen Grüßen\nIhr ",
    short: "%d.%m.%Y, %H:%M Uhr",
    clock: "%H:%M Uhr",
    long_date: amtstermin_catalogue::german::long_date,
};

const ENGLISH: Words = Words {
    hello: "Hello",
    confirm_subject: "Please confirm: appointment",
    confirm_lead: "please confirm your appointment by {deadline}. Only with your confirmation is it \
                   booked; without it we release the time.",
    confirm_link: "Confirm the appointment:",
    do_not_share: "Please do not share this link.",
    not_you: "You did not book this appointment? Then you need not do anything.",
    booked_subject: "Appointment confirmation",
    booked_lead: "Your appointment is booked.",
    moved_subject: "Appointment moved:",
    moved_lead: "Your appointment has been moved. The new time is:",
    cancelled_subject: "Appointment cancelled:",
    cancelled_lead: "Your appointment has been cancelled. You need not do anything else.",
    reminder_subject: "Reminder of your appointment:",
    reminder_lead: "this is a reminder of your appointment:",
    waitlist_subject: "Please confirm: appointment alert",
    waitlist_lead: "You would like to be offered an appointment as soon as one becomes free. Please confirm \
                    your email address; only then does your alert take part. Whoever confirms first is \
                    served first.",
    waitlist_range: "Days",
    waitlist_times: ["all day", "mornings", "afternoons"],
    waitlist_confirm: "Confirm your email address:",
    waitlist_manage: "View or withdraw the alert:",
    offer_subject: "An appointment for you:",
    offer_lead: "an appointment has become free for your alert. We are holding it for you:",
    offer_until: "Held until {deadline}. After that we offer it to the next person on the waitlist.",
    offer_accept: "View and accept the appointment:",
    offer_decline: "No longer needed? Please decline it so that someone else gets it:",
    soon_subject: "It is almost your turn:",
    soon_lead: "It is almost your turn: at most two people are waiting ahead of you. Please come to the \
                waiting area now and watch the call display.",
    waiting_number: "Your waiting number",
    code: "Booking code",
    date: "Date",
    time: "Time",
    place: "Place",
    concerns: "Concerns",
    bring: "Please bring:",
    fees: "Fees:",
    manage: "View, move or cancel the appointment:",
    manage_elsewhere: "You can move or cancel the appointment with the link in your confirmation.",
    attachment: "The appointment is attached as a calendar entry.",
    check_in: "In the foyer you check in yourself from one hour before the appointment: show the attached \
               QR code at the check-in terminal or type your booking code there. You then get your waiting \
               number.",
    regards: "Kind regards\n",
    short: "%d/%m/%Y, %H:%M",
    clock: "%H:%M",
    long_date: amtstermin_catalogue::english::long_date,
};

fn words(language: &str) -> &'static Words {
    match language {
        "en" => &ENGLISH,
        _ => &GERMAN,
    }
}

/// The mail of a pending booking: follow the link, or the time is released.
fn render_confirm_request(booking: &Booking, context: &MailContext<'_>) -> (String, String) {
    let words = words(&booking.language);
    let start = booking.start.with_timezone(&context.timezone);
    let date = (words.long_date)(start.date_naive());
    let deadline = booking
        .confirm_by
        .map(|by| by.with_timezone(&context.timezone).format(words.short).to_string())
        .unwrap_or_default();
    let subject = format!(
        "{} {} – {}",
        words.confirm_subject,
        context.office_name,
        start.format(words.short)
    );
    let mut text = format!(
        "{} {},\n\n{}\n\n",
        words.hello,
        booking.name,
        words.confirm_lead.replace("{deadline}", &deadline)
    );
    text.push_str(&format!("{}: {}\n", words.code, booking.code));
    text.push_str(&format!("{}: {date}, {}\n", words.date, start.format(words.clock)));
    text.push_str(&format!(
        "{}: {}, {}\n",
        words.place, context.office_name, context.address
    ));
    text.push_str(&format!("{}: {}\n", words.concerns, context.concerns.join(", ")));
    if let Some(confirm) = &context.confirm_link {
        text.push_str(&format!(
            "\n{}\n{confirm}\n{}\n",
            words.confirm_link, words.do_not_share
        ));
    }
    if let Some(link) = &context.manage_link {
        text.push_str(&format!("\n{}\n{link}\n", words.manage));
    }
    text.push_str(&format!("\n{}\n", words.not_you));
    (subject, text)
}

/// Subject and plain text of a mail, in the language the citizen booked in.
pub fn render(kind: MailKind, booking: &Booking, context: &MailContext<'_>) -> (String, String) {
    if kind == MailKind::Confirmation && booking.status == crate::bookings::Status::Pending {
        return render_confirm_request(booking, context);
    }
    let words = words(&booking.language);
    let start = booking.start.with_timezone(&context.timezone);
    let end = booking.end.with_timezone(&context.timezone);
    let short_date = start.format(words.short);
    let (subject, lead) = match kind {
        MailKind::Confirmation => (
            format!("{} {} – {short_date}", words.booked_subject, context.office_name),
            words.booked_lead,
        ),
        MailKind::Rescheduled => (
            format!("{} {} – {short_date}", words.moved_subject, context.office_name),
            words.moved_lead,
        ),
        MailKind::Cancelled => (
            format!("{} {} – {short_date}", words.cancelled_subject, context.office_name),
            words.cancelled_lead,
        ),
        MailKind::Reminder => (
            format!("{} {} – {short_date}", words.reminder_subject, context.office_name),
            words.reminder_lead,
        ),
        // A confirmation request has no booking (see `render_waitlist_confirm`).
        MailKind::WaitlistOffer | MailKind::WaitlistConfirm => (
            format!("{} {} – {short_date}", words.offer_subject, context.office_name),
            words.offer_lead,
        ),
        MailKind::Soon => (
            format!(
                "{} {} – {}",
                words.soon_subject,
                booking.waiting_number.as_deref().unwrap_or_default(),
                context.office_name
            ),
            words.soon_lead,
        ),
    };
    let mut text = format!("{} {},\n\n{lead}\n\n", words.hello, booking.name);
    if let Some(number) = &booking.waiting_number {
        text.push_str(&format!("{}: {number}\n", words.waiting_number));
    }
    text.push_str(&format!("{}: {}\n", words.code, booking.code));
    push_appointment(&mut text, words, (start, end), context);
    if !matches!(kind, MailKind::Cancelled | MailKind::Soon) {
        push_documents(&mut text, words, context);
        if !context.fees.is_empty() {
            text.push_str(&format!("\n{}\n", words.fees));
            for (concern, fee) in &context.fees {
                text.push_str(&format!("- {concern}: {fee}\n"));
            }
        }
        match &context.manage_link {
            Some(link) => text.push_str(&format!("\n{}\n{link}\n{}\n", words.manage, words.do_not_share)),
            None => text.push_str(&format!("\n{}\n", words.manage_elsewhere)),
        }
        if context.check_in_link.is_some() {
            text.push_str(&format!("\n{}\n", words.check_in));
        }
        text.push_str(&format!("\n{}\n", words.attachment));
    }
    text.push_str(&format!("\n{}{}\n", words.regards, context.office_name));
    (subject, text)
}

/// The lines of a mail that say when, where and what: date, time, place,
/// concerns.
fn push_appointment(
    text: &mut String,
    words: &Words,
    (start, end): (chrono::DateTime<Tz>, chrono::DateTime<Tz>),
    context: &MailContext<'_>,
) {
    text.push_str(&format!("{}: {}\n", words.date, (words.long_date)(start.date_naive())));
    text.push_str(&format!(
        "{}: {} – {}\n",
        words.time,
        start.format("%H:%M"),
        end.format(words.clock)
    ));
    text.push_str(&format!(
        "{}: {}, {}\n",
        words.place, context.office_name, context.address
    ));
    text.push_str(&format!("{}: {}\n", words.concerns, context.concerns.join(", ")));
}

/// What to bring, as a list, where there is anything.
fn push_documents(text: &mut String, words: &Words, context: &MailContext<'_>) {
    if !context.documents.is_empty() {
        text.push_str(&format!("\n{}\n", words.bring));
        for document in &context.documents {
            text.push_str(&format!("- {document}\n"));
        }
    }
}

/// The mail that offers a waitlist entry the time `hold` keeps for it
/// until `expires`: what, when, what to bring, and the links to accept
/// (a page that asks once more) and to decline.
pub fn render_waitlist_offer(
    hold: &Booking,
    expires: DateTime<Utc>,
    (accept, decline): (&str, &str),
    context: &MailContext<'_>,
) -> (String, String) {
    let words = words(&hold.language);
    let start = hold.start.with_timezone(&context.timezone);
    let end = hold.end.with_timezone(&context.timezone);
    let deadline = expires.with_timezone(&context.timezone).format(words.short).to_string();
    let subject = format!(
        "{} {} – {}",
        words.offer_subject,
        context.office_name,
        start.format(words.short)
    );
    let mut text = format!("{} {},\n\n{}\n\n", words.hello, hold.name, words.offer_lead);
    push_appointment(&mut text, words, (start, end), context);
    text.push_str(&format!("\n{}\n", words.offer_until.replace("{deadline}", &deadline)));
    push_documents(&mut text, words, context);
    text.push_str(&format!("\n{}\n{accept}\n", words.offer_accept));
    text.push_str(&format!(
        "\n{}\n{decline}\n{}\n",
        words.offer_decline, words.do_not_share
    ));
    text.push_str(&format!("\n{}{}\n", words.regards, context.office_name));
    (subject, text)
}

/// The mail that asks to confirm a waitlist entry's address: what it waits
/// for, the confirmation link and the link to the entry.
pub fn render_waitlist_confirm(entry: &crate::waitlist::Entry, context: &MailContext<'_>) -> (String, String) {
    let words = words(&entry.language);
    let subject = format!("{} {}", words.waitlist_subject, context.office_name);
    let mut text = format!("{} {},\n\n{}\n\n", words.hello, entry.name, words.waitlist_lead);
    text.push_str(&format!("{}: {}\n", words.concerns, context.concerns.join(", ")));
    let times = match entry.time_of_day {
        crate::waitlist::TimeOfDay::Any => words.waitlist_times[0],
        crate::waitlist::TimeOfDay::Morning => words.waitlist_times[1],
        crate::waitlist::TimeOfDay::Afternoon => words.waitlist_times[2],
    };
    text.push_str(&format!(
        "{}: {} – {}, {times}\n",
        words.waitlist_range,
        (words.long_date)(entry.from),
        (words.long_date)(entry.to)
    ));
    text.push_str(&format!(
        "{}: {}, {}\n",
        words.place, context.office_name, context.address
    ));
    if let Some(confirm) = &context.confirm_link {
        text.push_str(&format!("\n{}\n{confirm}\n", words.waitlist_confirm));
    }
    if let Some(link) = &context.manage_link {
        text.push_str(&format!(
            "\n{}\n{link}\n{}\n",
            words.waitlist_manage, words.do_not_share
        ));
    }
    text.push_str(&format!("\n{}\n", words.not_you));
    text.push_str(&format!("\n{}{}\n", words.regards, context.office_name));
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
            language: "de".to_owned(),
            waiting_number: None,
            called_at: None,
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
            check_in_link: Some("https://x/einchecken/bergkamen?code=K7MQ-4PXZ".into()),
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
            "Check-in-Terminal",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
        let (_, reminder) = render(MailKind::Reminder, &booking(), &context(None));
        assert!(!reminder.contains("token"));
        let (subject, cancelled) = render(MailKind::Cancelled, &booking(), &context(None));
        assert!(subject.starts_with("Termin abgesagt"));
        assert!(!cancelled.contains("Bitte bringen Sie mit"));
        assert!(!cancelled.contains("Check-in"));
        let mut booked = booking();
        assert!(MailContext::shows_check_in(MailKind::Reminder, &booked));
        assert!(!MailContext::shows_check_in(MailKind::Cancelled, &booked));
        booked.status = crate::bookings::Status::Pending;
        assert!(!MailContext::shows_check_in(MailKind::Confirmation, &booked));
    }

    #[test]
    fn almost_your_turn_names_the_waiting_number() {
        let mut arrived = booking();
        arrived.status = crate::bookings::Status::CheckedIn;
        arrived.waiting_number = Some("T-007".to_owned());
        let (subject, text) = render(MailKind::Soon, &arrived, &context(None));
        assert_eq!(subject, "Sie sind gleich dran: T-007 – Bürgerbüro Bergkamen");
        assert!(text.contains("Ihre Wartenummer: T-007"), "{text}");
        assert!(text.contains("höchstens zwei Personen"));
        assert!(!text.contains("Bitte bringen Sie mit"));
        assert!(!MailContext::shows_check_in(MailKind::Soon, &arrived));
        assert_eq!(MailKind::parse("soon"), Some(MailKind::Soon));
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
