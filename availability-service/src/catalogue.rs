//! The offices and what they offer: topic tiles, concerns, counters.
//!
//! Everything here comes from configuration (see `config`), so another
//! department reuses the system by adding an office, not code.

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;

use crate::error::Error;
use crate::holidays::{self, State};
use crate::schedule::{Closures, Schedule};

/// Counters of an office as a bit set: slot computation combines them with
/// plain integer operations. Hence an office has at most 64 counters.
pub type CounterSet = u64;
pub const MAX_COUNTERS: usize = 64;

/// How many concern entries (counting each person) one appointment may have.
pub const MAX_CONCERNS_PER_APPOINTMENT: usize = 10;

#[derive(Clone, Debug)]
pub struct Catalogue {
    offices: Vec<Office>,
    version: String,
}

impl Catalogue {
    pub(crate) fn new(offices: Vec<Office>, version: String) -> Self {
        Self { offices, version }
    }

    /// Changes whenever the configuration does (a digest of it), so clients
    /// can keep the catalogue cached and notice a change.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn offices(&self) -> &[Office] {
        &self.offices
    }

    pub fn office(&self, id: &str) -> Result<&Office, Error> {
        self.offices
            .iter()
            .find(|office| office.id == id)
            .ok_or_else(|| Error::UnknownOffice(id.to_owned()))
    }
}

#[derive(Clone, Debug)]
pub struct Office {
    pub id: String,
    pub name: String,
    pub address: String,
    pub timezone: Tz,
    pub state: State,
    pub booking_window_days: u32,
    pub min_lead_minutes: u32,
    pub slot_minutes: u32,
    /// Minutes after local midnight at which the last day of the window opens.
    pub release_minute: u32,
    pub open_on_sundays: bool,
    pub closures: Closures,
    /// Counters whose time is given out by staff only (foyer, phone).
    pub staff_only_counters: CounterSet,
    /// Today and the next days up to this many are given out by staff only.
    pub staff_only_days: u32,
    /// Booked appointments still to come one email address may hold online;
    /// 0 for no limit.
    pub max_active_bookings_per_email: u32,
    /// Online bookings one client address may make per local day; 0 for no limit.
    pub max_online_bookings_per_address_per_day: u32,
    /// When online bookings need a proof of work: "off", "adaptive", "always".
    pub challenge: String,
    /// Minutes a slot a citizen gave back stays off the online channel.
    pub release_delay_minutes: u32,
    /// Minutes an online booking waits for its confirmation by email (0: none).
    pub confirm_by_email_minutes: u32,
    /// Rate limits for the gateway; 0 fields take its global settings.
    pub limits: crate::config::LimitsEntry,
    pub contact: crate::config::ContactEntry,
    pub legal: crate::config::LegalEntry,
    /// Prefixes of the waiting numbers: (booked, walk-in).
    pub waiting_prefixes: (String, String),
    /// Whether walk-ins may draw a number at the self check-in kiosk.
    pub kiosk_walk_ins: bool,
    /// Whether an arrived citizen is mailed when two numbers remain ahead.
    pub mail_when_two_ahead: bool,
    /// The waitlist: whether it is open, entries per email address (0: no
    /// limit), the longest hold of an offer, the quiet hours ("" for none).
    pub waitlist: bool,
    pub max_waitlist_entries_per_email: u32,
    pub waitlist_hold_minutes: u32,
    pub waitlist_quiet_hours: String,
    pub categories: Vec<Category>,
    pub concerns: Vec<Concern>,
    pub counters: Vec<Counter>,
}

#[derive(Clone, Debug)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub featured: bool,
    pub concern_ids: Vec<String>,
    /// The name in other languages, by language code.
    pub translated_names: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Concern {
    pub id: String,
    pub name: String,
    pub category_id: String,
    pub duration_minutes: u32,
    pub required_documents: Vec<String>,
    pub fee: String,
    pub leika_key: String,
    /// How many persons one appointment may bring for this concern.
    pub max_persons: u32,
    /// Among the most asked for, listed first.
    pub featured: bool,
    /// Name, documents and fee in other languages, by language code.
    pub translations: std::collections::BTreeMap<String, crate::config::ConcernText>,
}

#[derive(Clone, Debug)]
pub struct Counter {
    pub id: String,
    pub name: String,
    /// Ids of the concerns this counter handles.
    pub concern_ids: Vec<String>,
    pub schedule: Schedule,
}

/// What one request for several concerns (or persons) amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appointment {
    pub duration_minutes: u32,
    /// The counters that handle every requested concern.
    pub counters: CounterSet,
}

impl Office {
    pub fn concern(&self, id: &str) -> Option<&Concern> {
        self.concerns.iter().find(|concern| concern.id == id)
    }

    /// Sundays (unless the office opens on them), public holidays of the
    /// office's state and whole-day closures.
    pub fn closed_all_day(&self, date: NaiveDate) -> bool {
        (date.weekday() == Weekday::Sun && !self.open_on_sundays)
            || holidays::public_holiday(self.state, date).is_some()
            || self.closures.closes_all_day(date)
    }

    pub fn counter_index(&self, id: &str) -> Option<usize> {
        self.counters.iter().position(|counter| counter.id == id)
    }

    /// Resolves concern ids (repeated once per person) into the length of the
    /// appointment and the counters that can serve all of it.
    pub fn appointment(&self, concern_ids: &[String]) -> Result<Appointment, Error> {
        if concern_ids.is_empty() {
            return Err(Error::ConcernsRequired);
        }
        if concern_ids.len() > MAX_CONCERNS_PER_APPOINTMENT {
            return Err(Error::TooManyConcerns {
                max: MAX_CONCERNS_PER_APPOINTMENT,
            });
        }
        let mut duration_minutes = 0;
        let mut counters: CounterSet = self.all_counters();
        for id in concern_ids {
            let concern = self.concern(id).ok_or_else(|| Error::UnknownConcern(id.clone()))?;
            let persons = concern_ids.iter().filter(|other| *other == id).count();
            if persons > concern.max_persons as usize {
                return Err(Error::TooManyPersons {
                    concern: concern.name.clone(),
                    max: concern.max_persons,
                });
            }
            duration_minutes += concern.duration_minutes;
            counters &= self.counters_serving(id);
        }
        if counters == 0 {
            return Err(Error::NotCombinable);
        }
        Ok(Appointment {
            duration_minutes,
            counters,
        })
    }

    fn all_counters(&self) -> CounterSet {
        match self.counters.len() {
            MAX_COUNTERS => CounterSet::MAX,
            n => (1 << n) - 1,
        }
    }

    fn counters_serving(&self, concern_id: &str) -> CounterSet {
        self.counters
            .iter()
            .enumerate()
            .filter(|(_, counter)| counter.concern_ids.iter().any(|id| id == concern_id))
            .fold(0, |set, (index, _)| set | (1 << index))
    }
}

#[cfg(test)]
mod tests {
    use crate::config;

    const TWO_COUNTERS: &str = r#"
        [[offices]]
        id = "test"
        name = "Test"
        address = "Teststraße 1"
        state = "NW"
        hours = { mon = ["08:00-12:00"] }
        categories = [{ id = "cat", name = "Kategorie" }]
        concerns = [
          { id = "a", name = "A", category = "cat", duration_minutes = 10, max_persons = 2 },
          { id = "b", name = "B", category = "cat", duration_minutes = 20 },
          { id = "c", name = "C", category = "cat", duration_minutes = 30 },
        ]
        counters = [
          { id = "one", name = "1", concerns = ["a", "b"] },
          { id = "two", name = "2", concerns = ["a", "c"] },
        ]
    "#;

    #[test]
    fn an_appointment_sums_durations_and_keeps_counters_serving_everything() {
        let catalogue = config::parse(TWO_COUNTERS).expect("valid");
        let office = catalogue.office("test").expect("office");
        let ids = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let one = office.appointment(&ids(&["a"])).expect("a");
        assert_eq!((one.duration_minutes, one.counters), (10, 0b11));
        let two_persons = office.appointment(&ids(&["a", "a", "b"])).expect("a a b");
        assert_eq!((two_persons.duration_minutes, two_persons.counters), (40, 0b01));
        assert!(matches!(
            office.appointment(&ids(&["b", "c"])),
            Err(crate::Error::NotCombinable)
        ));
        assert!(matches!(
            office.appointment(&ids(&["x"])),
            Err(crate::Error::UnknownConcern(_))
        ));
        assert!(matches!(office.appointment(&[]), Err(crate::Error::ConcernsRequired)));
        assert!(matches!(
            office.appointment(&ids(&["a"; 11])),
            Err(crate::Error::TooManyConcerns { .. })
        ));
    }
}
