//! The mail worker: sends what the outbox holds, with retries and backoff.
//! Every booking-service replica runs one; they never claim the same mail.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amtstermin_catalogue::{Appointment, Catalogues};
use chrono::{TimeDelta, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::error::Error;
use crate::notifications::{self, MailContext, MailKind, PendingMail};
use crate::store::BookingStore;

/// How long a claimed mail is reserved for one worker.
const LEASE: TimeDelta = TimeDelta::minutes(5);
/// How often the worker looks for due mails when nothing wakes it.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where mails go.
pub enum Transport {
    /// One `.eml` file per mail in a folder (the all-in-one default).
    Folder(PathBuf),
    /// Only a log line (without personal data) per mail.
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    /// `file:DIR`, `log`, or an SMTP URL: `smtp://[user:pass@]host[:port]`
    /// (`?tls=required` for STARTTLS) or `smtps://…` (implicit TLS).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        if spec == "log" {
            return Ok(Transport::Log);
        }
        if let Some(dir) = spec.strip_prefix("file:") {
            return Ok(Transport::Folder(PathBuf::from(dir)));
        }
        if spec.starts_with("smtp://") || spec.starts_with("smtps://") {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(spec)
                .map_err(|error| Error::Internal(format!("invalid SMTP URL: {error}")))?
                .timeout(Some(Duration::from_secs(20)))
                .build();
            return Ok(Transport::Smtp(transport));
        }
        Err(Error::Internal(format!(
            "unknown mail transport {:?}: use file:DIR, log, smtp://… or smtps://…",
            amtstermin_platform::database::redact(spec)
        )))
    }

    async fn send(&self, message: &Message, name: &str) -> Result<(), String> {
        match self {
            Transport::Folder(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
                tokio::fs::write(dir.join(format!("{name}.eml")), message.formatted())
                    .await
                    .map_err(|e| e.to_string())
            }
            Transport::Log => Ok(()),
            Transport::Smtp(smtp) => smtp.send(message.clone()).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

pub struct Mailer {
    pub store: Arc<dyn BookingStore>,
    /// Offices and concerns, for what the mail says about them.
    pub catalogues: Catalogues,
    pub transport: Transport,
    pub from: Mailbox,
    /// Base of the manage link, e.g. `https://termine.bergkamen.de`.
    pub public_url: String,
    /// Delay before the first retry of a failed mail.
    pub first_retry: TimeDelta,
    /// Wakes the worker when a change queued mails.
    pub wake: Arc<Notify>,
}

impl Mailer {
    /// Sends due mails for as long as the process runs.
    pub async fn run(self) {
        loop {
            match self.send_due().await {
                Ok(0) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %amtstermin_platform::telemetry::error_chain(&error), "mail outbox not readable");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    }

    /// Sends what is due now; returns how many mails it handled.
    pub async fn send_due(&self) -> Result<usize, Error> {
        let now = Utc::now();
        let due = self.store.claim_mails(now, now + LEASE, 10).await?;
        for mail in &due {
            let outcome = self.deliver(mail).await;
            let at = Utc::now();
            match outcome {
                Ok(()) => {
                    self.store.mail_sent(&mail.office_id, &mail.id, at).await?;
                    metrics::counter!("amtstermin_mails_total", "outcome" => "sent").increment(1);
                    tracing::info!(office = %mail.office_id, code = %mail.code, kind = mail.kind.as_str(), "mail sent");
                }
                Err(Failure::Final(reason)) => {
                    self.store
                        .mail_failed(&mail.office_id, &mail.id, &reason, None, at)
                        .await?;
                    metrics::counter!("amtstermin_mails_total", "outcome" => "dropped").increment(1);
                    tracing::warn!(office = %mail.office_id, code = %mail.code, kind = mail.kind.as_str(), reason, "mail dropped");
                }
                Err(Failure::Retry(reason)) if mail.attempts >= notifications::MAX_ATTEMPTS => {
                    self.store
                        .mail_failed(&mail.office_id, &mail.id, &reason, None, at)
                        .await?;
                    metrics::counter!("amtstermin_mails_total", "outcome" => "given_up").increment(1);
                    tracing::error!(office = %mail.office_id, code = %mail.code, kind = mail.kind.as_str(), reason, "mail given up");
                }
                Err(Failure::Retry(reason)) => {
                    let retry_at = at + notifications::retry_delay(self.first_retry, mail.attempts);
                    self.store
                        .mail_failed(&mail.office_id, &mail.id, &reason, Some(retry_at), at)
                        .await?;
                    metrics::counter!("amtstermin_mails_total", "outcome" => "retry").increment(1);
                    tracing::warn!(office = %mail.office_id, code = %mail.code, attempts = mail.attempts, reason, "mail failed, will retry");
                }
            }
        }
        Ok(due.len())
    }

    /// The office of a mail, in `language` where the configuration
    /// translates it.
    async fn office(
        &self,
        office_id: &str,
        language: &str,
    ) -> Result<std::sync::Arc<amtstermin_catalogue::OfficeCatalogue>, Failure> {
        let office =
            self.catalogues.office(office_id).await.map_err(|status| {
                match amtstermin_platform::ErrorCode::of(&status) {
                    amtstermin_platform::ErrorCode::OfficeNotFound => {
                        Failure::Final("the office is no longer configured".to_owned())
                    }
                    _ => Failure::Retry(format!("availability service: {}", status.message())),
                }
            })?;
        Ok(amtstermin_catalogue::OfficeCatalogue::in_language(office, language))
    }

    /// The links a mail's token ("manage:confirm", or just "manage") opens,
    /// under `path` (e.g. `/termin/K7MQ-4PXZ`): the page, and its
    /// confirmation page.
    fn links(&self, token: Option<&str>, path: &str) -> (Option<String>, Option<String>) {
        let base = self.public_url.trim_end_matches('/');
        let Some(token) = token else {
            return (None, None);
        };
        let (manage, confirm_secret) = match token.split_once(':') {
            Some((manage, secret)) => (manage, Some(secret)),
            None => (token, None),
        };
        (
            Some(format!("{base}{path}?token={manage}")),
            confirm_secret.map(|secret| format!("{base}{path}/bestaetigen?token={secret}")),
        )
    }

    /// Asks to confirm a waitlist entry's address.
    async fn deliver_waitlist_confirm(&self, mail: &PendingMail) -> Result<(), Failure> {
        let entry = self
            .store
            .find_waitlist_entry(&mail.office_id, &mail.code)
            .await
            .map_err(|error| Failure::Retry(error.to_string()))?
            .ok_or_else(|| Failure::Final("the waitlist entry no longer exists".to_owned()))?;
        let to = Mailbox::new(
            None,
            crate::bookings::mail_address(&entry.email)
                .map_err(|_| Failure::Final("no usable email address".to_owned()))?,
        );
        let office = self.office(&entry.office_id, &entry.language).await?;
        let (manage_link, confirm_link) = self.links(mail.token.as_deref(), &format!("/warteliste/{}", entry.id));
        let context = MailContext {
            office_name: &office.office.name,
            address: &office.office.address,
            timezone: office.timezone(),
            concerns: office
                .concern_names(&entry.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            documents: Vec::new(),
            fees: Vec::new(),
            manage_link,
            confirm_link,
            check_in_link: None,
        };
        let (subject, text) = notifications::render_waitlist_confirm(&entry, &context);
        let message = Message::builder()
            .message_id(Some(self.message_id(mail, &entry.office_id, &entry.id)))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(SinglePart::plain(text))
            .map_err(|error| Failure::Final(error.to_string()))?;
        let name = format!("{}-{}-{}-{}", entry.office_id, entry.id, mail.kind.as_str(), mail.id);
        self.transport.send(&message, &name).await.map_err(Failure::Retry)
    }

    /// Offers a waitlist entry the time held for it (the mail's code is
    /// the hold's, its token the offer's secret).
    async fn deliver_waitlist_offer(&self, mail: &PendingMail) -> Result<(), Failure> {
        let retry = |error: crate::error::Error| Failure::Retry(error.to_string());
        let offer = self
            .store
            .offer_of_hold(&mail.office_id, &mail.code)
            .await
            .map_err(retry)?
            .ok_or_else(|| Failure::Final("the offer no longer exists".to_owned()))?;
        if offer.status != crate::waitlist::OfferStatus::Offered {
            return Err(Failure::Final(format!(
                "the offer was {} before its mail went out",
                offer.status.as_str()
            )));
        }
        let hold = self
            .store
            .find(&mail.office_id, &mail.code)
            .await
            .map_err(retry)?
            .ok_or_else(|| Failure::Final("the hold no longer exists".to_owned()))?;
        let secret = mail
            .token
            .as_deref()
            .ok_or_else(|| Failure::Final("the offer's secret is gone".to_owned()))?;
        let to = Mailbox::new(
            None,
            crate::bookings::mail_address(&hold.email)
                .map_err(|_| Failure::Final("no usable email address".to_owned()))?,
        );
        let office = self.office(&hold.office_id, &hold.language).await?;
        let base = self.public_url.trim_end_matches('/');
        let page = format!("{base}/warteliste/{}/angebot/{}", offer.entry_id, offer.id);
        let accept = format!("{page}?token={secret}");
        let decline = format!("{page}/ablehnen?token={secret}");
        let context = MailContext {
            office_name: &office.office.name,
            address: &office.office.address,
            timezone: office.timezone(),
            concerns: office
                .concern_names(&hold.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            documents: office
                .documents(&hold.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            fees: Vec::new(),
            manage_link: None,
            confirm_link: None,
            check_in_link: None,
        };
        let (subject, text) =
            notifications::render_waitlist_offer(&hold, offer.expires_at, (&accept, &decline), &context);
        let message = Message::builder()
            .message_id(Some(self.message_id(mail, &hold.office_id, &hold.code)))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(SinglePart::plain(text))
            .map_err(|error| Failure::Final(error.to_string()))?;
        let name = format!("{}-{}-{}-{}", hold.office_id, hold.code, mail.kind.as_str(), mail.id);
        self.transport.send(&message, &name).await.map_err(Failure::Retry)
    }

    /// Stable per outbox entry: a retried mail keeps its id, so a mail
    /// program shows a duplicate once.
    fn message_id(&self, mail: &PendingMail, office_id: &str, code: &str) -> String {
        format!(
            "<{office_id}.{code}.{}.{}@{}>",
            mail.kind.as_str(),
            mail.id,
            self.from.email.domain()
        )
    }

    async fn deliver(&self, mail: &PendingMail) -> Result<(), Failure> {
        match mail.kind {
            MailKind::WaitlistConfirm => return self.deliver_waitlist_confirm(mail).await,
            MailKind::WaitlistOffer => return self.deliver_waitlist_offer(mail).await,
            _ => {}
        }
        let booking = self
            .store
            .find(&mail.office_id, &mail.code)
            .await
            .map_err(|error| Failure::Retry(error.to_string()))?
            .ok_or_else(|| Failure::Final("the booking no longer exists".to_owned()))?;
        let to = Mailbox::new(
            None,
            crate::bookings::mail_address(&booking.email)
                .map_err(|_| Failure::Final("no usable email address".to_owned()))?,
        );
        // Names, documents and fees in the citizen's language, where the
        // configuration translates them.
        let office = self.office(&booking.office_id, &booking.language).await?;
        // A pending booking's first mail carries "manage:confirm".
        let (manage_link, confirm_link) = self.links(mail.token.as_deref(), &format!("/termin/{}", booking.code));
        let context = MailContext {
            office_name: &office.office.name,
            address: &office.office.address,
            timezone: office.timezone(),
            concerns: office
                .concern_names(&booking.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            documents: office
                .documents(&booking.concern_ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            fees: office
                .fees(&booking.concern_ids)
                .map(|concern| (concern.name.clone(), concern.fee.clone()))
                .collect(),
            manage_link,
            confirm_link,
            check_in_link: MailContext::shows_check_in(mail.kind, &booking)
                .then(|| amtstermin_platform::qr::check_in_link(&self.public_url, &booking.office_id, &booking.code)),
        };
        let (subject, text) = notifications::render(mail.kind, &booking, &context);
        let ics = office.calendar_file(&Appointment {
            code: &booking.code,
            language: &booking.language,
            concern_ids: &booking.concern_ids,
            created: booking.created_at,
            start: booking.start,
            end: booking.end,
            cancelled: mail.kind == MailKind::Cancelled,
        });
        let calendar_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
            .map_err(|error| Failure::Final(error.to_string()))?;
        let message_id = self.message_id(mail, &booking.office_id, &booking.code);
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
        // The appointment is in the citizen's calendar already by the time
        // they are almost called.
        if mail.kind != MailKind::Soon {
            parts = parts.singlepart(Attachment::new(format!("termin-{}.ics", booking.code)).body(ics, calendar_type));
        }
        // The QR code for the kiosk, 6 pixels a module: scannable from a
        // phone's screen and from paper.
        if let Some(qr) = context
            .check_in_link
            .as_deref()
            .and_then(|link| amtstermin_platform::qr::png(link, 6))
        {
            let png = ContentType::parse("image/png").map_err(|error| Failure::Final(error.to_string()))?;
            parts = parts.singlepart(Attachment::new(format!("einchecken-{}.png", booking.code)).body(qr, png));
        }
        let message = Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(parts)
            .map_err(|error| Failure::Final(error.to_string()))?;
        let name = format!(
            "{}-{}-{}-{}",
            booking.office_id,
            booking.code,
            mail.kind.as_str(),
            mail.id
        );
        self.transport.send(&message, &name).await.map_err(Failure::Retry)
    }
}

/// Why a mail did not go out.
enum Failure {
    /// Worth another try later (mail server or service down).
    Retry(String),
    /// Will never work (booking gone, address unusable).
    Final(String),
}
