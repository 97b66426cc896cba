//! One office with its catalogue, and what clients derive from it.

use amtstermin_proto::availability::v1 as pb;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::calendar;

/// An office and its catalogue as the availability service serves them.
#[derive(Clone, Debug)]
pub struct OfficeCatalogue {
    pub office: pb::Office,
    pub catalogue: pb::GetCatalogueResponse,
    timezone: Tz,
}

impl OfficeCatalogue {
    pub fn new(office: pb::Office, catalogue: pb::GetCatalogueResponse) -> Self {
        // The availability service refuses a configuration with an unknown
        // zone, so the fallback only guards against a peer of another make.
        let timezone = office.timezone.parse().unwrap_or(chrono_tz::Europe::Berlin);
        Self {
            office,
            catalogue,
            timezone,
        }
    }

    pub fn id(&self) -> &str {
        &self.office.id
    }

    /// The zone the office's hours are written in; render every time in it.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn concern(&self, id: &str) -> Option<&pb::Concern> {
        self.catalogue.concerns.iter().find(|concern| concern.id == id)
    }

    /// The concerns of an appointment, one per entry (a concern for two
    /// persons appears twice); unknown ids are skipped.
    pub fn concerns<'s, 'i>(&'s self, ids: &'i [String]) -> impl Iterator<Item = &'s pb::Concern> + use<'s, 'i> {
        ids.iter().filter_map(|id| self.concern(id))
    }

    /// Names of the appointment's concerns, one per entry.
    pub fn concern_names(&self, ids: &[String]) -> Vec<&str> {
        self.concerns(ids).map(|concern| concern.name.as_str()).collect()
    }

    /// The catalogue in another language (by code, e.g. "en"): names,
    /// documents and fees where the configuration translates them, the
    /// office's own where it does not.
    pub fn translated(&self, language: &str) -> Self {
        let mut translated = self.clone();
        for category in &mut translated.catalogue.categories {
            if let Some(name) = category.translated_names.get(language).filter(|name| !name.is_empty()) {
                category.name = name.clone();
            }
        }
        for concern in &mut translated.catalogue.concerns {
            let Some(text) = concern.translations.get(language) else {
                continue;
            };
            if !text.name.is_empty() {
                concern.name = text.name.clone();
            }
            if !text.required_documents.is_empty() {
                concern.required_documents = text.required_documents.clone();
            }
            if !text.fee.is_empty() {
                concern.fee = text.fee.clone();
            }
        }
        translated
    }

    /// `office` as read in `language`: the configuration's own (German)
    /// as it is, any other a translated copy.
    pub fn in_language(office: Arc<Self>, language: &str) -> Arc<Self> {
        match language {
            "" | "de" => office,
            language => Arc::new(office.translated(language)),
        }
    }

    /// Documents to bring for the appointment, each once, in order.
    pub fn documents(&self, ids: &[String]) -> Vec<&str> {
        let mut documents: Vec<&str> = Vec::new();
        for document in self.concerns(ids).flat_map(|concern| &concern.required_documents) {
            if !documents.contains(&document.as_str()) {
                documents.push(document);
            }
        }
        documents
    }

    /// The concerns of the appointment that cost a fee, one per entry.
    pub fn fees<'s, 'i>(&'s self, ids: &'i [String]) -> impl Iterator<Item = &'s pb::Concern> + use<'s, 'i> {
        self.concerns(ids).filter(|concern| !concern.fee.is_empty())
    }

    /// The counter's display name (its id if the configuration lost it).
    pub fn counter_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.catalogue
            .counters
            .iter()
            .find(|counter| counter.id == id)
            .map_or(id, |counter| counter.name.as_str())
    }

    /// The appointment's calendar file (download and mail attachment alike).
    pub fn calendar_file(&self, appointment: &Appointment<'_>) -> String {
        let names = self.concern_names(appointment.concern_ids);
        let documents = self.documents(appointment.concern_ids);
        let fees: Vec<(&str, &str)> = self
            .fees(appointment.concern_ids)
            .map(|concern| (concern.name.as_str(), concern.fee.as_str()))
            .collect();
        calendar::appointment(&calendar::Appointment {
            code: appointment.code,
            language: appointment.language,
            office_id: &self.office.id,
            office_name: &self.office.name,
            address: &self.office.address,
            concern_names: &names,
            documents: &documents,
            fees: &fees,
            created: appointment.created,
            start: appointment.start,
            end: appointment.end,
            cancelled: appointment.cancelled,
        })
    }
}

/// A booking as a staff calendar feed shows it.
pub struct FeedEntry<'a> {
    pub code: &'a str,
    pub counter_id: &'a str,
    pub concern_ids: &'a [String],
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The citizen's name, where the feed shows names.
    pub name: Option<&'a str>,
}

impl OfficeCatalogue {
    /// A staff calendar of `entries` named `title`: each the concerns, the
    /// code (and the name, where given) at its counter.
    pub fn feed(&self, entries: &[FeedEntry<'_>], title: &str) -> String {
        let texts: Vec<(String, String, String)> = entries
            .iter()
            .map(|entry| {
                let concerns = self.concern_names(entry.concern_ids).join(", ");
                let summary = match entry.name {
                    Some(name) => format!("{concerns} – {name} ({})", entry.code),
                    None => format!("{concerns} ({})", entry.code),
                };
                let location = format!("{}, {}", self.office.name, self.counter_name(entry.counter_id));
                let description = format!("Buchungscode: {}", entry.code);
                (summary, location, description)
            })
            .collect();
        let events: Vec<calendar::Event<'_>> = entries
            .iter()
            .zip(&texts)
            .map(|(entry, (summary, location, description))| calendar::Event {
                uid: format!("{}@{}.amtstermin", entry.code, self.office.id),
                created: entry.created,
                start: entry.start,
                end: entry.end,
                summary,
                location,
                description,
                cancelled: false,
            })
            .collect();
        calendar::feed(&events, Some(title))
    }
}

/// What a calendar file needs to know of a booking.
pub struct Appointment<'a> {
    pub code: &'a str,
    /// The language the citizen booked in ("de", "en").
    pub language: &'a str,
    pub concern_ids: &'a [String],
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concern(id: &str, documents: &[&str], fee: &str) -> pb::Concern {
        pb::Concern {
            id: id.to_owned(),
            name: format!("Name {id}"),
            required_documents: documents.iter().map(|d| (*d).to_owned()).collect(),
            fee: fee.to_owned(),
            ..pb::Concern::default()
        }
    }

    fn office() -> OfficeCatalogue {
        OfficeCatalogue::new(
            pb::Office {
                id: "amt".to_owned(),
                timezone: "Europe/Berlin".to_owned(),
                ..pb::Office::default()
            },
            pb::GetCatalogueResponse {
                concerns: vec![
                    concern("pass", &["Foto", "Ausweis"], "37,00 €"),
                    concern("melde", &["Ausweis", "Wohnungsgeberbestätigung"], ""),
                ],
                counters: vec![pb::Counter {
                    id: "platz-1".to_owned(),
                    name: "Arbeitsplatz 1".to_owned(),
                    concern_ids: Vec::new(),
                }],
                ..pb::GetCatalogueResponse::default()
            },
        )
    }

    #[test]
    fn documents_appear_once_in_order_and_fees_per_person() {
        let office = office();
        let ids: Vec<String> = ["pass", "pass", "melde", "unknown"].map(str::to_owned).into();
        assert_eq!(office.documents(&ids), ["Foto", "Ausweis", "Wohnungsgeberbestätigung"]);
        assert_eq!(office.concern_names(&ids), ["Name pass", "Name pass", "Name melde"]);
        assert_eq!(office.fees(&ids).count(), 2);
        assert_eq!(office.counter_name("platz-1"), "Arbeitsplatz 1");
        assert_eq!(office.counter_name("platz-9"), "platz-9");
        assert_eq!(office.timezone(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn a_translation_replaces_what_it_names_and_keeps_the_rest() {
        let mut office = office();
        office.catalogue.concerns[0].translations.insert(
            "en".to_owned(),
            pb::ConcernText {
                name: "Passport".to_owned(),
                required_documents: vec!["Photo".to_owned()],
                fee: String::new(),
            },
        );
        let english = office.translated("en");
        let pass = english.concern("pass").expect("pass");
        assert_eq!((pass.name.as_str(), pass.fee.as_str()), ("Passport", "37,00 €"));
        assert_eq!(pass.required_documents, ["Photo"]);
        assert_eq!(english.concern("melde").map(|c| c.name.as_str()), Some("Name melde"));
        assert_eq!(
            office.translated("fr").concern("pass").map(|c| c.name.as_str()),
            Some("Name pass")
        );
    }

    #[test]
    fn the_calendar_file_says_what_to_bring_and_what_it_costs() {
        let office = office();
        let ids: Vec<String> = ["pass", "melde"].map(str::to_owned).into();
        let at = |seconds| chrono::DateTime::from_timestamp(seconds, 0).expect("valid");
        let ics = office.calendar_file(&Appointment {
            code: "K7MQ-4PXZ",
            language: "de",
            concern_ids: &ids,
            created: at(1_795_000_000),
            start: at(1_795_100_000),
            end: at(1_795_101_200),
            cancelled: false,
        });
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains("Bitte mitbringen:\\n- Foto\\n- Ausweis\\n- Wohnungsgeberbestätigung"),
            "{unfolded}"
        );
        assert!(unfolded.contains("Gebühren:\\n- Name pass: 37\\,00 €"), "{unfolded}");
    }
}
