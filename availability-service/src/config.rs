//! The office configuration file (TOML): parsing and validation.
//!
//! The same checks guard the file that seeds the database and every document
//! saved at runtime; every mistake is reported with the office and item it
//! concerns, and nothing invalid is used: no wrong slots are offered.
//! `config/offices.toml` documents every key.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use chrono::NaiveDate;

use crate::catalogue::{
    Catalogue, Category, Concern, Counter, CounterSet, MAX_CONCERNS_PER_APPOINTMENT, MAX_COUNTERS, Office,
};
use crate::error::Error;
use crate::holidays::State;
use crate::schedule::{self, Closure, Closures, DAY_MINUTES, Period, Schedule, Season, WeeklyHours};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    offices: Vec<OfficeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficeEntry {
    id: String,
    name: String,
    address: String,
    #[serde(default = "default_timezone")]
    timezone: String,
    state: String,
    #[serde(default = "default_booking_window_days")]
    booking_window_days: u32,
    #[serde(default = "default_min_lead_minutes")]
    min_lead_minutes: u32,
    #[serde(default = "default_slot_minutes")]
    slot_minutes: u32,
    /// "HH:MM" at which the last day of the window becomes bookable.
    #[serde(default)]
    release_time: Option<String>,
    #[serde(default)]
    open_on_sundays: bool,
    #[serde(default)]
    staff_only_counters: Vec<String>,
    #[serde(default)]
    staff_only_days: u32,
    #[serde(default = "default_max_active_bookings_per_email")]
    max_active_bookings_per_email: u32,
    #[serde(default = "default_max_online_bookings_per_address_per_day")]
    max_online_bookings_per_address_per_day: u32,
    /// Minutes a slot a citizen gave back stays off the online channel.
    #[serde(default)]
    release_delay_minutes: u32,
    /// Minutes an online booking waits for its confirmation by email (0: none).
    #[serde(default)]
    confirm_by_email_minutes: u32,
    /// "off", "adaptive" or "always": when online bookings need a proof of work.
    #[serde(default = "default_challenge")]
    challenge: String,
    /// Per client address rate limits overriding the gateway's.
    #[serde(default)]
    limits: LimitsEntry,
    /// How citizens reach the office.
    #[serde(default)]
    contact: ContactEntry,
    /// Who runs the office, for the imprint, privacy and accessibility pages.
    #[serde(default)]
    legal: LegalEntry,
    /// Prefixes of the waiting numbers: booked appointments and walk-ins.
    #[serde(default = "default_waiting_prefix_booked")]
    waiting_prefix_booked: String,
    #[serde(default = "default_waiting_prefix_walk_in")]
    waiting_prefix_walk_in: String,
    /// Whether walk-ins may draw a number at the self check-in kiosk.
    #[serde(default)]
    kiosk_walk_ins: bool,
    /// Whether an arrived citizen is mailed when two numbers remain ahead.
    #[serde(default)]
    mail_when_two_ahead: bool,
    /// Whether citizens may join the waitlist.
    #[serde(default = "default_true")]
    waitlist: bool,
    /// Waitlist entries one email address may hold at once; 0 for no limit.
    #[serde(default = "default_max_waitlist_entries")]
    max_waitlist_entries_per_email: u32,
    /// How long an offered time is held for the entry at most.
    #[serde(default = "default_waitlist_hold_minutes")]
    waitlist_hold_minutes: u32,
    /// Local hours without offer mails, "HH:MM-HH:MM" (may wrap midnight); "" for none.
    #[serde(default = "default_waitlist_quiet_hours")]
    waitlist_quiet_hours: String,
    /// Default weekly hours of the office's counters.
    #[serde(default)]
    hours: HoursEntry,
    /// Hours that replace the default ones for a time (e.g. summer hours).
    #[serde(default)]
    seasons: Vec<SeasonEntry>,
    #[serde(default)]
    closures: Vec<ClosureEntry>,
    #[serde(default)]
    categories: Vec<CategoryEntry>,
    #[serde(default)]
    concerns: Vec<ConcernEntry>,
    #[serde(default)]
    counters: Vec<CounterEntry>,
}

fn default_timezone() -> String {
    "Europe/Berlin".to_owned()
}
fn default_booking_window_days() -> u32 {
    60
}
fn default_min_lead_minutes() -> u32 {
    60
}
fn default_slot_minutes() -> u32 {
    10
}
fn default_max_active_bookings_per_email() -> u32 {
    2
}
fn default_max_online_bookings_per_address_per_day() -> u32 {
    10
}
fn default_challenge() -> String {
    "adaptive".to_owned()
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsEntry {
    #[serde(default)]
    pub slot_reads_per_minute: u32,
    #[serde(default)]
    pub bookings_per_hour: u32,
    #[serde(default)]
    pub lookups_per_minute: u32,
}

/// `[offices.contact]`: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactEntry {
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub opening_hours: Vec<String>,
}

/// `[offices.legal]`: every field optional; the pages say what is missing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalEntry {
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub representative: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub data_protection_officer: String,
    #[serde(default)]
    pub supervisory_authority: String,
    #[serde(default)]
    pub accessibility_arbitration: String,
    /// A TOML date, e.g. `2026-11-01`.
    #[serde(default)]
    pub accessibility_reviewed: Option<toml::value::Datetime>,
    #[serde(default)]
    pub accessibility_contact: String,
    #[serde(default)]
    pub website: String,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursEntry {
    #[serde(default)]
    mon: Vec<String>,
    #[serde(default)]
    tue: Vec<String>,
    #[serde(default)]
    wed: Vec<String>,
    #[serde(default)]
    thu: Vec<String>,
    #[serde(default)]
    fri: Vec<String>,
    #[serde(default)]
    sat: Vec<String>,
    #[serde(default)]
    sun: Vec<String>,
}

/// A date written as TOML date (`2026-12-24`) or as string (`"2026-12-24"`).
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum DateEntry {
    Toml(toml::value::Datetime),
    Text(String),
}

impl DateEntry {
    fn parse(&self, what: &str) -> Result<NaiveDate, Error> {
        let text = match self {
            DateEntry::Toml(datetime) => datetime.to_string(),
            DateEntry::Text(text) => text.clone(),
        };
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            Error::InvalidConfig(format!(
                "{what}: ungültiges Datum {text:?}, bitte als JJJJ-MM-TT schreiben"
            ))
        })
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeasonEntry {
    from: DateEntry,
    until: Option<DateEntry>,
    hours: HoursEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureEntry {
    date: DateEntry,
    /// Last day of a closure over several days (inclusive).
    until_date: Option<DateEntry>,
    /// "HH:MM": closed from this time on (default: the whole day).
    from: Option<String>,
    /// "HH:MM": closed until this time (default: the end of the day).
    until: Option<String>,
    /// For the people reading the file.
    #[serde(default)]
    #[expect(dead_code, reason = "documentation in the configuration file")]
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryEntry {
    id: String,
    name: String,
    #[serde(default)]
    featured: bool,
    /// The name in other languages: `translations = { en = "…" }`.
    #[serde(default)]
    translations: std::collections::BTreeMap<String, String>,
}

/// A concern's texts in another language; empty fields keep the office's own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcernText {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub required_documents: Vec<String>,
    #[serde(default)]
    pub fee: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConcernEntry {
    id: String,
    name: String,
    category: String,
    duration_minutes: u32,
    #[serde(default)]
    required_documents: Vec<String>,
    #[serde(default)]
    fee: String,
    #[serde(default)]
    leika_key: String,
    /// How many persons may come for this concern in one appointment.
    #[serde(default = "default_max_persons")]
    max_persons: u32,
    #[serde(default)]
    featured: bool,
    /// Name, documents and fee in other languages: `translations = { en = { … } }`.
    #[serde(default)]
    translations: std::collections::BTreeMap<String, ConcernText>,
}

fn default_waiting_prefix_booked() -> String {
    "T".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_max_waitlist_entries() -> u32 {
    2
}

fn default_waitlist_hold_minutes() -> u32 {
    60
}

fn default_waitlist_quiet_hours() -> String {
    "22:00-07:00".to_owned()
}

fn default_waiting_prefix_walk_in() -> String {
    "W".to_owned()
}

fn default_max_persons() -> u32 {
    MAX_CONCERNS_PER_APPOINTMENT as u32
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterEntry {
    id: String,
    name: String,
    /// Concerns handled here; with `categories` absent too, all of them.
    concerns: Option<Vec<String>>,
    /// Whole categories handled here, added to `concerns`.
    categories: Option<Vec<String>>,
    /// Hours of this counter, replacing the office's default hours.
    hours: Option<HoursEntry>,
    /// Seasons of this counter, replacing the office's seasons.
    seasons: Option<Vec<SeasonEntry>>,
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Catalogue, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|error| match error {
        Error::InvalidConfig(message) => Error::InvalidConfig(format!("{}: {message}", path.display())),
        other => other,
    })
}

/// Parses and validates a configuration document.
pub fn parse(text: &str) -> Result<Catalogue, Error> {
    let file: File = toml::from_str(text).map_err(|error| Error::InvalidConfig(format!("nicht lesbar: {error}")))?;
    if file.offices.is_empty() {
        return invalid("die Datei beschreibt kein Amt");
    }
    let mut ids = HashSet::new();
    let mut offices = Vec::with_capacity(file.offices.len());
    for entry in file.offices {
        if !ids.insert(entry.id.clone()) {
            return invalid(format!("Amt {:?} ist doppelt beschrieben", entry.id));
        }
        let id = entry.id.clone();
        offices.push(office(entry).map_err(|error| match error {
            Error::InvalidConfig(message) => Error::InvalidConfig(format!("Amt {id:?}: {message}")),
            other => other,
        })?);
    }
    Ok(Catalogue::new(offices, version(text)))
}

/// One office's part of a configuration file: the text from its
/// `[[offices]]` line to the next one, as stored and edited at runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub office_id: String,
    pub text: String,
}

/// Splits a valid configuration file into one document per office, in order,
/// keeping every comment (what precedes the first office goes with it), so
/// joining them gives the file again.
pub fn split(text: &str) -> Result<Vec<Document>, Error> {
    let catalogue = parse(text)?;
    let mut pieces: Vec<String> = Vec::new();
    let mut preamble = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim() == "[[offices]]" {
            pieces.push(std::mem::take(&mut preamble));
        }
        match pieces.last_mut() {
            Some(piece) => piece.push_str(line),
            None => preamble.push_str(line),
        }
    }
    if let Some(first) = pieces.first_mut() {
        first.insert_str(0, &preamble);
    }
    if pieces.len() != catalogue.offices().len() {
        return invalid("bitte jedes Amt als Tabelle [[offices]] schreiben (je eine Zeile `[[offices]]`)");
    }
    pieces
        .into_iter()
        .zip(catalogue.offices())
        .map(|(text, office)| {
            let alone = parse(&text)?;
            match alone.offices() {
                [one] if one.id == office.id => Ok(Document {
                    office_id: office.id.clone(),
                    text,
                }),
                _ => invalid(format!("Amt {:?} lässt sich nicht für sich allein lesen", office.id)),
            }
        })
        .collect()
}

/// The catalogue of the documents taken together, in order.
pub fn join(documents: &[Document]) -> String {
    let mut file = String::new();
    for document in documents {
        if !file.is_empty() && !file.ends_with('\n') {
            file.push('\n');
        }
        file.push_str(&document.text);
    }
    file
}

/// The catalogue's version: the first 64 bits of the configuration's SHA-256,
/// the same in every replica that reads the same file.
pub fn version(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn invalid<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error::InvalidConfig(message.into()))
}

fn office(entry: OfficeEntry) -> Result<Office, Error> {
    check_id("Amt", &entry.id)?;
    let timezone = entry
        .timezone
        .parse()
        .map_err(|_| Error::InvalidConfig(format!("unbekannte Zeitzone {:?}", entry.timezone)))?;
    let state: State = entry
        .state
        .parse()
        .map_err(|error: crate::holidays::UnknownState| Error::InvalidConfig(error.to_string()))?;
    if !(1..=366).contains(&entry.booking_window_days) {
        return invalid("booking_window_days muss zwischen 1 und 366 liegen");
    }
    if entry.slot_minutes == 0 || 1440 % entry.slot_minutes != 0 {
        return invalid("slot_minutes muss einen Tag ohne Rest teilen (z. B. 5, 10, 15, 30)");
    }
    if entry.min_lead_minutes > 60 * 24 * 30 {
        return invalid("min_lead_minutes darf höchstens 30 Tage betragen");
    }

    let release_minute = match &entry.release_time {
        Some(time) => {
            schedule::parse_minutes(time).map_err(|error| Error::InvalidConfig(format!("release_time: {error}")))?
        }
        None => 0,
    };
    if release_minute >= DAY_MINUTES {
        return invalid("release_time muss vor 24:00 liegen");
    }
    let categories = categories(&entry.categories, &entry.concerns)?;
    let concerns = concerns(entry.concerns, &categories)?;
    let default_hours = hours(&entry.hours)?;
    let default_seasons = seasons(&entry.seasons)?;
    let closures = closures(&entry.closures)?;
    if entry.counters.is_empty() {
        return invalid("ein Amt braucht mindestens einen Arbeitsplatz (counters)");
    }
    if entry.counters.len() > MAX_COUNTERS {
        return invalid(format!("höchstens {MAX_COUNTERS} Arbeitsplätze je Amt"));
    }
    let mut counter_ids = HashSet::new();
    let counters = entry
        .counters
        .into_iter()
        .map(|counter| {
            check_id("Arbeitsplatz", &counter.id)?;
            if !counter_ids.insert(counter.id.clone()) {
                return invalid(format!("Arbeitsplatz {:?} ist doppelt beschrieben", counter.id));
            }
            let context = |error: Error| match error {
                Error::InvalidConfig(message) => {
                    Error::InvalidConfig(format!("Arbeitsplatz {:?}: {message}", counter.id))
                }
                other => other,
            };
            let concern_ids = served_concerns(&counter, &concerns, &categories).map_err(context)?;
            let regular = match &counter.hours {
                Some(own) => hours(own).map_err(context)?,
                None => default_hours.clone(),
            };
            let seasons = match &counter.seasons {
                Some(own) => seasons(own).map_err(context)?,
                None => default_seasons.clone(),
            };
            Ok(Counter {
                id: counter.id,
                name: counter.name,
                concern_ids,
                schedule: Schedule { regular, seasons },
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(orphan) = concerns
        .iter()
        .find(|concern| !counters.iter().any(|c| c.concern_ids.contains(&concern.id)))
    {
        return invalid(format!("kein Arbeitsplatz bearbeitet das Anliegen {:?}", orphan.id));
    }

    let mut staff_only_counters: CounterSet = 0;
    for id in &entry.staff_only_counters {
        let index = counters.iter().position(|counter| &counter.id == id).ok_or_else(|| {
            Error::InvalidConfig(format!("staff_only_counters nennt den unbekannten Arbeitsplatz {id:?}"))
        })?;
        staff_only_counters |= 1 << index;
    }
    if entry.confirm_by_email_minutes > 24 * 60 {
        return invalid("confirm_by_email_minutes darf höchstens einen Tag (1440) betragen");
    }
    if !(5..=24 * 60).contains(&entry.waitlist_hold_minutes) {
        return invalid("waitlist_hold_minutes muss zwischen 5 und 1440 liegen");
    }
    if !entry.waitlist_quiet_hours.is_empty() {
        let valid = entry.waitlist_quiet_hours.split_once('-').is_some_and(|(start, end)| {
            crate::schedule::parse_minutes(start).is_ok_and(|start| start < 24 * 60)
                && crate::schedule::parse_minutes(end).is_ok_and(|end| end < 24 * 60)
                && start != end
        });
        if !valid {
            return invalid("waitlist_quiet_hours muss \"HH:MM-HH:MM\" (auch über Mitternacht) oder \"\" sein");
        }
    }
    if entry.release_delay_minutes > 24 * 60 {
        return invalid("release_delay_minutes darf höchstens einen Tag (1440) betragen");
    }
    if !matches!(entry.challenge.as_str(), "off" | "adaptive" | "always") {
        return invalid("challenge muss \"off\", \"adaptive\" oder \"always\" sein");
    }
    if entry.staff_only_days > entry.booking_window_days {
        return invalid("staff_only_days darf nicht größer als booking_window_days sein");
    }
    let waiting_prefixes =
        check_waiting_prefixes(&entry.id, entry.waiting_prefix_booked, entry.waiting_prefix_walk_in)?;

    Ok(Office {
        id: entry.id,
        name: entry.name,
        address: entry.address,
        timezone,
        state,
        booking_window_days: entry.booking_window_days,
        min_lead_minutes: entry.min_lead_minutes,
        slot_minutes: entry.slot_minutes,
        release_minute,
        open_on_sundays: entry.open_on_sundays,
        closures,
        staff_only_counters,
        staff_only_days: entry.staff_only_days,
        max_active_bookings_per_email: entry.max_active_bookings_per_email,
        max_online_bookings_per_address_per_day: entry.max_online_bookings_per_address_per_day,
        challenge: entry.challenge,
        release_delay_minutes: entry.release_delay_minutes,
        confirm_by_email_minutes: entry.confirm_by_email_minutes,
        limits: entry.limits,
        contact: entry.contact,
        legal: entry.legal,
        waiting_prefixes,
        kiosk_walk_ins: entry.kiosk_walk_ins,
        mail_when_two_ahead: entry.mail_when_two_ahead,
        waitlist: entry.waitlist,
        max_waitlist_entries_per_email: entry.max_waitlist_entries_per_email,
        waitlist_hold_minutes: entry.waitlist_hold_minutes,
        waitlist_quiet_hours: entry.waitlist_quiet_hours.clone(),
        categories,
        concerns,
        counters,
    })
}

/// Ids appear in URLs and database keys, so they are kept plain.
fn check_id(kind: &str, id: &str) -> Result<(), Error> {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if id.is_empty() || id.len() > 64 || !id.chars().all(plain) {
        return invalid(format!(
            "die Id {id:?} ({kind}) muss aus 1 bis 64 Zeichen a-z, 0-9, '-' und '_' bestehen"
        ));
    }
    Ok(())
}

fn categories(entries: &[CategoryEntry], concerns: &[ConcernEntry]) -> Result<Vec<Category>, Error> {
    let mut ids = HashSet::new();
    entries
        .iter()
        .map(|entry| {
            check_id("Kategorie", &entry.id)?;
            if !ids.insert(&entry.id) {
                return invalid(format!("Kategorie {:?} ist doppelt beschrieben", entry.id));
            }
            Ok(Category {
                id: entry.id.clone(),
                name: entry.name.clone(),
                featured: entry.featured,
                translated_names: entry.translations.clone(),
                concern_ids: concerns
                    .iter()
                    .filter(|concern| concern.category == entry.id)
                    .map(|concern| concern.id.clone())
                    .collect(),
            })
        })
        .collect()
}

fn concerns(entries: Vec<ConcernEntry>, categories: &[Category]) -> Result<Vec<Concern>, Error> {
    if entries.is_empty() {
        return invalid("ein Amt braucht mindestens ein Anliegen (concerns)");
    }
    let mut ids = HashSet::new();
    entries
        .into_iter()
        .map(|entry| {
            check_id("Anliegen", &entry.id)?;
            if !ids.insert(entry.id.clone()) {
                return invalid(format!("Anliegen {:?} ist doppelt beschrieben", entry.id));
            }
            if !categories.iter().any(|category| category.id == entry.category) {
                return invalid(format!(
                    "Anliegen {:?} nennt die unbekannte Kategorie {:?}",
                    entry.id, entry.category
                ));
            }
            if !(1..=480).contains(&entry.duration_minutes) {
                return invalid(format!(
                    "Anliegen {:?}: duration_minutes muss zwischen 1 und 480 liegen",
                    entry.id
                ));
            }
            if !(1..=MAX_CONCERNS_PER_APPOINTMENT as u32).contains(&entry.max_persons) {
                return invalid(format!(
                    "Anliegen {:?}: max_persons muss zwischen 1 und {MAX_CONCERNS_PER_APPOINTMENT} liegen",
                    entry.id
                ));
            }
            if !entry.leika_key.is_empty()
                && (entry.leika_key.len() != 14 || !entry.leika_key.bytes().all(|b| b.is_ascii_digit()))
            {
                return invalid(format!("Anliegen {:?}: leika_key muss 14 Ziffern haben", entry.id));
            }
            Ok(Concern {
                id: entry.id,
                name: entry.name,
                category_id: entry.category,
                duration_minutes: entry.duration_minutes,
                required_documents: entry.required_documents,
                fee: entry.fee,
                leika_key: entry.leika_key,
                max_persons: entry.max_persons,
                featured: entry.featured,
                translations: entry.translations,
            })
        })
        .collect()
}

fn served_concerns(
    counter: &CounterEntry,
    concerns: &[Concern],
    categories: &[Category],
) -> Result<Vec<String>, Error> {
    if counter.concerns.is_none() && counter.categories.is_none() {
        return Ok(concerns.iter().map(|concern| concern.id.clone()).collect());
    }
    let mut served: Vec<String> = Vec::new();
    for id in counter.concerns.iter().flatten() {
        if !concerns.iter().any(|concern| &concern.id == id) {
            return invalid(format!("unbekanntes Anliegen {id:?}"));
        }
        served.push(id.clone());
    }
    for id in counter.categories.iter().flatten() {
        let category = categories
            .iter()
            .find(|category| &category.id == id)
            .ok_or_else(|| Error::InvalidConfig(format!("unbekannte Kategorie {id:?}")))?;
        served.extend(category.concern_ids.iter().cloned());
    }
    served.sort();
    served.dedup();
    Ok(served)
}

fn seasons(entries: &[SeasonEntry]) -> Result<Vec<Season>, Error> {
    entries
        .iter()
        .map(|entry| {
            let from = entry.from.parse("Saison")?;
            let until = entry.until.as_ref().map(|until| until.parse("Saison")).transpose()?;
            if until.is_some_and(|until| until < from) {
                return invalid(format!("die Saison ab {from} endet vor ihrem Beginn"));
            }
            let hours = hours(&entry.hours).map_err(|error| match error {
                Error::InvalidConfig(message) => Error::InvalidConfig(format!("Saison ab {from}: {message}")),
                other => other,
            })?;
            Ok(Season { from, until, hours })
        })
        .collect()
}

fn closures(entries: &[ClosureEntry]) -> Result<Closures, Error> {
    let closures = entries
        .iter()
        .map(|entry| {
            let from = entry.date.parse("Schließung")?;
            let until = entry
                .until_date
                .as_ref()
                .map_or(Ok(from), |until| until.parse("Schließung"))?;
            let time = |text: &Option<String>, default: u32| match text {
                Some(text) => schedule::parse_minutes(text)
                    .map_err(|error| Error::InvalidConfig(format!("Schließung am {from}: {error}"))),
                None => Ok(default),
            };
            let closed = Period {
                start: time(&entry.from, 0)?,
                end: time(&entry.until, DAY_MINUTES)?,
            };
            if until < from || closed.start >= closed.end {
                return invalid(format!("die Schließung am {from} endet vor ihrem Beginn"));
            }
            Ok(Closure { from, until, closed })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Closures(closures))
}

fn hours(entry: &HoursEntry) -> Result<WeeklyHours, Error> {
    let day = |periods: &[String]| {
        periods
            .iter()
            .map(|period| period.parse::<Period>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Error::InvalidConfig(error.to_string()))
    };
    WeeklyHours::new([
        day(&entry.mon)?,
        day(&entry.tue)?,
        day(&entry.wed)?,
        day(&entry.thu)?,
        day(&entry.fri)?,
        day(&entry.sat)?,
        day(&entry.sun)?,
    ])
    .map_err(|error| Error::InvalidConfig(error.to_string()))
}

/// Waiting-number prefixes: 1 to 3 capital letters, the two different.
fn check_waiting_prefixes(office: &str, booked: String, walk_in: String) -> Result<(String, String), Error> {
    let valid = |prefix: &str| (1..=3).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_uppercase());
    if !valid(&booked) || !valid(&walk_in) || booked == walk_in {
        return Err(Error::InvalidConfig(format!(
            "Amt {office:?}: waiting_prefix_booked und waiting_prefix_walk_in müssen 1 bis 3 Großbuchstaben sein, \
             voneinander verschieden"
        )));
    }
    Ok((booked, walk_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        match parse(text) {
            Err(Error::InvalidConfig(message)) => message,
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("configuration should be refused"),
        }
    }

    const MINIMAL: &str = r#"
        [[offices]]
        id = "amt"
        name = "Amt"
        address = "Weg 1"
        state = "NW"
        hours = { mon = ["08:00-12:00"] }
        categories = [{ id = "k", name = "K", featured = true }]
        concerns = [{ id = "c", name = "C", category = "k", duration_minutes = 15 }]
        counters = [{ id = "p1", name = "Platz 1" }]
    "#;

    #[test]
    fn a_minimal_office_gets_sensible_defaults() {
        let catalogue = parse(MINIMAL).expect("valid");
        let office = catalogue.office("amt").expect("office");
        assert_eq!(office.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(
            (office.booking_window_days, office.min_lead_minutes, office.slot_minutes),
            (60, 60, 10)
        );
        assert_eq!(office.categories[0].concern_ids, ["c"]);
        assert_eq!(
            office.counters[0].concern_ids,
            ["c"],
            "a counter without a list serves all"
        );
    }

    #[test]
    fn the_demo_configuration_is_valid_and_has_two_offices() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/offices.toml");
        let catalogue = load(&path).expect("the shipped demo configuration loads");
        let bergkamen = catalogue.office("bergkamen").expect("Bürgerbüro");
        assert_eq!(bergkamen.categories.iter().filter(|c| c.featured).count(), 7);
        assert!(bergkamen.concerns.len() >= 20);
        assert!(bergkamen.counters.len() >= 4);
        assert!(
            catalogue.offices().len() >= 2,
            "a second department is configuration only"
        );
    }

    #[test]
    fn seasons_closures_and_staff_capacity_are_read() {
        let text = MINIMAL.replace(
            "state =",
            r#"release_time = "07:00"
            staff_only_counters = ["p1"]
            staff_only_days = 1
            seasons = [{ from = 2027-06-01, until = "2027-08-31", hours = { mon = ["07:00-13:00"] } }]
            closures = [
              { date = 2026-12-24, from = "12:00", reason = "Heiligabend" },
              { date = "2026-12-28", until_date = "2026-12-30" },
            ]
            state ="#,
        );
        let catalogue = parse(&text).expect("valid");
        let office = catalogue.office("amt").expect("office");
        assert_eq!(
            (
                office.release_minute,
                office.staff_only_counters,
                office.staff_only_days
            ),
            (420, 1, 1)
        );
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid");
        assert_eq!(
            office.counters[0].schedule.on(date(2027, 6, 7))[0].to_string(),
            "07:00-13:00"
        );
        assert_eq!(
            office.counters[0].schedule.on(date(2027, 9, 6))[0].to_string(),
            "08:00-12:00"
        );
        assert!(office.closed_all_day(date(2026, 12, 29)));
        assert!(!office.closed_all_day(date(2026, 12, 24)));
        assert_eq!(office.concerns[0].max_persons, 10);
    }

    #[test]
    fn mistakes_are_reported_with_their_place() {
        let cases = [
            (MINIMAL.replace("\"NW\"", "\"XX\""), "unbekanntes Bundesland"),
            (
                MINIMAL
                    .replace("Europe/Berlin", "x")
                    .replace("state =", "timezone = \"Mars/Base\"\nstate ="),
                "unbekannte Zeitzone",
            ),
            (
                MINIMAL.replace("category = \"k\"", "category = \"nope\""),
                "unbekannte Kategorie",
            ),
            (MINIMAL.replace("08:00-12:00", "12:00-08:00"), "ungültige Öffnungszeit"),
            (
                MINIMAL.replace("duration_minutes = 15", "duration_minutes = 0"),
                "duration_minutes",
            ),
            (MINIMAL.replace("id = \"amt\"", "id = \"Amt Eins\""), "(Amt) muss aus"),
            (
                MINIMAL.replace("name = \"Platz 1\"", "name = \"Platz 1\", concerns = [\"zzz\"]"),
                "Arbeitsplatz \"p1\": unbekanntes Anliegen",
            ),
            (format!("{MINIMAL}\nunknown_key = 1"), "unknown field"),
            (format!("{MINIMAL}{MINIMAL}"), "doppelt beschrieben"),
            ("offices = []".to_owned(), "kein Amt"),
            (
                MINIMAL.replace("state =", "release_time = \"7 Uhr\"\nstate ="),
                "release_time",
            ),
            (
                MINIMAL.replace("state =", "staff_only_counters = [\"p9\"]\nstate ="),
                "unbekannten Arbeitsplatz \"p9\"",
            ),
            (
                MINIMAL.replace(
                    "state =",
                    "closures = [{ date = \"2026-12-24\", from = \"14:00\", until = \"12:00\" }]\nstate =",
                ),
                "endet vor ihrem Beginn",
            ),
            (
                MINIMAL.replace("state =", "closures = [{ date = \"24.12.2026\" }]\nstate ="),
                "ungültiges Datum",
            ),
            (
                MINIMAL.replace(
                    "state =",
                    "seasons = [{ from = 2027-06-01, until = 2027-05-01, hours = {} }]\nstate =",
                ),
                "endet vor ihrem Beginn",
            ),
            (
                MINIMAL.replace("duration_minutes = 15", "duration_minutes = 15, max_persons = 0"),
                "max_persons",
            ),
        ];
        for (text, expected) in cases {
            let message = error_of(&text);
            assert!(message.contains(expected), "{message:?} should mention {expected:?}");
        }
    }
}
