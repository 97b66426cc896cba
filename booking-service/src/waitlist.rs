//! The waitlist ("Terminwecker"): citizens who found no suitable time ask to
//! be offered one. A time that becomes free is held for one waiting entry
//! (a hold on the counter, like an unconfirmed booking, that nobody else
//! sees) and offered by mail; accepted, it becomes an ordinary booking; not
//! accepted in time or declined, it passes on. Who is served depends on the
//! order of confirmation, never on how fast anyone clicks.
//!
//! This module holds the rules, without I/O: what an entry wants, whom a
//! freed time goes to, how long an offer holds, and when none is made.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use crate::error::Error;
use amtstermin_platform::ErrorCode;

/// Offers one entry gets at most.
pub const MAX_OFFERS: u32 = 3;

/// How close to its start a time is still offered: the citizen must be able
/// to read the mail and come.
pub const LEAST_NOTICE: TimeDelta = TimeDelta::minutes(45);

/// The part of the day an entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeOfDay {
    Any,
    /// Starts before noon.
    Morning,
    /// Starts at noon or later.
    Afternoon,
}

impl TimeOfDay {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeOfDay::Any => "any",
            TimeOfDay::Morning => "morning",
            TimeOfDay::Afternoon => "afternoon",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [TimeOfDay::Any, TimeOfDay::Morning, TimeOfDay::Afternoon]
            .into_iter()
            .find(|part| part.as_str() == text)
    }

    fn admits(self, local: NaiveTime) -> bool {
        match self {
            TimeOfDay::Any => true,
            TimeOfDay::Morning => local.hour() < 12,
            TimeOfDay::Afternoon => local.hour() >= 12,
        }
    }
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Waits for the confirmation of its email address.
    Unconfirmed,
    /// Takes part: freed times may be offered to it.
    Active,
    /// An offer was accepted.
    Fulfilled,
    /// Withdrawn by the citizen.
    Withdrawn,
    /// Its range is over, or its offers are used up.
    Ended,
}

impl EntryStatus {
    const ALL: [EntryStatus; 5] = [
        EntryStatus::Unconfirmed,
        EntryStatus::Active,
        EntryStatus::Fulfilled,
        EntryStatus::Withdrawn,
        EntryStatus::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Unconfirmed => "unconfirmed",
            EntryStatus::Active => "active",
            EntryStatus::Fulfilled => "fulfilled",
            EntryStatus::Withdrawn => "withdrawn",
            EntryStatus::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// Where an offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferStatus {
    Offered,
    Accepted,
    Declined,
    Expired,
}

impl OfferStatus {
    const ALL: [OfferStatus; 4] = [
        OfferStatus::Offered,
        OfferStatus::Accepted,
        OfferStatus::Declined,
        OfferStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Offered => "offered",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// A waiting citizen's wish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub office_id: String,
    pub id: String,
    /// One per concern and person, as for a booking.
    pub concern_ids: Vec<String>,
    /// Local days, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_of_day: TimeOfDay,
    pub name: String,
    pub email: String,
    pub language: String,
    pub status: EntryStatus,
    pub created_at: DateTime<Utc>,
    /// Its place in the queue: entries are served in confirmation order.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The order of confirmation in its office, where instants tie (0
    /// before confirmation).
    pub place: u64,
    pub offers_made: u32,
    /// The offer waiting for an answer, if any.
    pub open_offer: Option<String>,
}

impl Entry {
    /// Whether the entry wants a time starting at `start` (in the office's
    /// time zone `tz`): on a day of its range, at its time of day.
    pub fn wants(&self, tz: Tz, start: DateTime<Utc>) -> bool {
        let local = start.with_timezone(&tz);
        let day = local.date_naive();
        self.from <= day && day <= self.to && self.time_of_day.admits(local.time())
    }

    /// The entry as it stands on the office's local `today`: one still
    /// waiting whose range is over has ended by itself.
    pub fn as_of(mut self, today: NaiveDate) -> Self {
        if matches!(self.status, EntryStatus::Unconfirmed | EntryStatus::Active) && self.to < today {
            self.status = EntryStatus::Ended;
        }
        self
    }

    /// Whether a freed time may be offered to it now: active, no offer
    /// open, offers left.
    pub fn may_get_an_offer(&self) -> bool {
        self.status == EntryStatus::Active && self.open_offer.is_none() && self.offers_made < MAX_OFFERS
    }
}

/// A new entry as the store takes it, with its confirmation mail.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub entry: Entry,
    pub token_hash: Vec<u8>,
    pub confirm_hash: Vec<u8>,
    pub email_normalized: String,
    pub mail: crate::notifications::Notification,
    /// The office's local day: entries of the address whose range ended
    /// before it no longer count against the limit.
    pub today: NaiveDate,
}

/// What became of adding an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    Added,
    /// The address holds as many waiting entries as allowed.
    LimitReached,
    /// The id exists already in this office; draw another.
    IdTaken,
}

/// An offered time and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub office_id: String,
    pub id: String,
    pub entry_id: String,
    /// The hold: a pending booking with this code.
    pub code: String,
    pub counter_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: OfferStatus,
    pub created_at: DateTime<Utc>,
    /// When the mail goes out (after the quiet hours, if made in them).
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An office's waitlist settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long an offer holds its time at most.
    pub hold: TimeDelta,
    /// Local hours in which no offer mail goes out (start, end; may wrap
    /// midnight); `None` for none.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    /// Entries one email address may hold at once (unconfirmed or active).
    pub max_entries_per_email: u32,
}

impl Policy {
    /// An office's rules, from its configuration (validated by the
    /// availability service; quiet hours it let through unreadable mean
    /// none).
    pub fn of(office: &amtstermin_proto::availability::v1::Office) -> Self {
        let time = |text: &str| NaiveTime::parse_from_str(text.trim(), "%H:%M").ok();
        let quiet = office
            .waitlist_quiet_hours
            .split_once('-')
            .and_then(|(start, end)| Some((time(start)?, time(end)?)));
        Self {
            hold: TimeDelta::minutes(i64::from(office.waitlist_hold_minutes.max(1))),
            quiet,
            max_entries_per_email: office.max_waitlist_entries_per_email,
        }
    }

    /// Whether `now` lies in the quiet hours.
    pub fn is_quiet(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        let Some((start, end)) = self.quiet else {
            return false;
        };
        let local = now.with_timezone(&tz).time();
        if start <= end {
            start <= local && local < end
        } else {
            local >= start || local < end
        }
    }

    /// When an offer made at `now` is sent: now, or when the quiet hours end.
    pub fn send_at(&self, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some((_, end)) = self.quiet.filter(|_| self.is_quiet(tz, now)) else {
            return now;
        };
        let local = now.with_timezone(&tz);
        let mut day = local.date_naive();
        if local.time() >= end {
            day = day.succ_opt().unwrap_or(day);
        }
        day.and_time(end)
            .and_local_timezone(tz)
            .earliest()
            .map_or(now, |at| at.with_timezone(&Utc))
    }

    /// Sending at `sent`, for a time starting at `start`: until when the
    /// offer holds, or `None` when the citizen could not make it. The hold
    /// is the office's, but at most half the time left before the start.
    pub fn holds_until(&self, sent: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let left = start - sent;
        if left < LEAST_NOTICE {
            return None;
        }
        Some(sent + self.hold.min(left / 2))
    }
}

/// The entries a time starting at `start` may go to, first in line first:
/// of those that may get an offer and want it (and `fits`: the concerns fit
/// the time and counter), in the order they were confirmed.
pub fn in_line(entries: &[Entry], tz: Tz, start: DateTime<Utc>, fits: impl Fn(&Entry) -> bool) -> Vec<&Entry> {
    let mut line: Vec<&Entry> = entries
        .iter()
        .filter(|entry| entry.may_get_an_offer() && entry.wants(tz, start) && fits(entry))
        .collect();
    line.sort_by_key(|entry| (entry.confirmed_at, entry.place, entry.id.clone()));
    line
}

/// What the store needs to offer a time that became free, taken from the
/// office's configuration at the moment of the change.
#[derive(Clone, Debug)]
pub struct Handover {
    pub tz: Tz,
    pub policy: Policy,
    pub now: DateTime<Utc>,
    /// Minutes per concern: an appointment lasts the sum over its concerns.
    pub durations: HashMap<String, u32>,
    /// The concerns each counter serves.
    pub counters: HashMap<String, Vec<String>>,
}

impl Handover {
    /// The office's part at `now`: its rules, its concerns' durations, and
    /// the counters citizens may be offered (staff give out the time of
    /// their own counters).
    pub fn of(office: &amtstermin_catalogue::OfficeCatalogue, now: DateTime<Utc>) -> Self {
        Self {
            tz: office.timezone(),
            policy: Policy::of(&office.office),
            now,
            durations: office
                .catalogue
                .concerns
                .iter()
                .map(|concern| (concern.id.clone(), concern.duration_minutes))
                .collect(),
            counters: office
                .catalogue
                .counters
                .iter()
                .filter(|counter| !office.office.staff_only_counters.contains(&counter.id))
                .map(|counter| (counter.id.clone(), counter.concern_ids.clone()))
                .collect(),
        }
    }

    /// How long an appointment for `concerns` lasts; `None` when one of them
    /// is unknown (the catalogue changed since the entry was made).
    pub fn duration(&self, concerns: &[String]) -> Option<TimeDelta> {
        concerns.iter().try_fold(TimeDelta::zero(), |sum, id| {
            Some(sum + TimeDelta::minutes(i64::from(*self.durations.get(id)?)))
        })
    }

    /// Whether `entry`'s appointment fits the freed `span` on `counter_id`:
    /// the counter serves all its concerns and it ends within the span.
    pub fn fits(&self, entry: &Entry, counter_id: &str, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> bool {
        let Some(served) = self.counters.get(counter_id) else {
            return false;
        };
        let serves_all = entry.concern_ids.iter().all(|concern| served.contains(concern));
        match self.duration(&entry.concern_ids) {
            Some(duration) => serves_all && duration > TimeDelta::zero() && start + duration <= end,
            None => false,
        }
    }

    /// When the offer of a time starting at `start` is mailed and until when
    /// it holds; `None` when nobody could make it in time.
    pub fn timing(&self, start: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let sent = self.policy.send_at(self.tz, self.now);
        Some((sent, self.policy.holds_until(sent, start)?))
    }

    /// The entries the freed `span` on `counter_id` may go to, in line.
    pub fn candidates<'e>(
        &self,
        entries: &'e [Entry],
        (counter_id, span): (&str, (DateTime<Utc>, DateTime<Utc>)),
    ) -> Vec<&'e Entry> {
        in_line(entries, self.tz, span.0, |entry| self.fits(entry, counter_id, span))
    }
}

/// How long before a day's release its lottery draws: staff (and so the
/// lottery) see the day this much earlier than citizens (the availability
/// service's `STAFF_RELEASE_LEAD`).
pub const LOTTERY_LEAD: TimeDelta = TimeDelta::minutes(10);

/// How long a replica's claim of a lottery holds before another may take
/// it over (the first died drawing): well within `LOTTERY_LEAD`.
pub const LOTTERY_LEASE: TimeDelta = TimeDelta::minutes(2);

/// The day whose lottery is due at `now`: the last day of the booking
/// window (`window_days` after today) that opens at the office's local
/// `release` time, when `now` lies in the minutes before it.
pub fn lottery_day(tz: Tz, release: NaiveTime, window_days: u32, now: DateTime<Utc>) -> Option<NaiveDate> {
    let today = now.with_timezone(&tz).date_naive();
    // The release ahead may be tomorrow's (shortly before a midnight one).
    [Some(today), today.succ_opt()].into_iter().flatten().find_map(|day| {
        let at = day
            .and_time(release)
            .and_local_timezone(tz)
            .earliest()?
            .with_timezone(&Utc);
        (at - LOTTERY_LEAD <= now && now < at).then(|| day + TimeDelta::days(i64::from(window_days)))
    })
}

/// The order in which a lottery serves `entries`: a uniform random
/// permutation (Fisher–Yates), `random(n)` drawing from `0..n`.
pub fn draw<T>(mut entries: Vec<T>, mut random: impl FnMut(usize) -> usize) -> Vec<T> {
    for last in (1..entries.len()).rev() {
        let other = random(last + 1).min(last);
        entries.swap(last, other);
    }
    entries
}

/// Checks an entry's range against the booking window (`first..=last`).
pub fn check_range(from: NaiveDate, to: NaiveDate, (first, last): (NaiveDate, NaiveDate)) -> Result<(), Error> {
    if from > to {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidDate,
            message: "from must not be after to".to_owned(),
        });
    }
    if to < first || from > last {
        return Err(Error::Invalid {
            code: ErrorCode::InvalidDate,
            message: format!("the range must lie in the booking window, {first} to {last}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        BERLIN
            .with_ymd_and_hms(2026, 12, day, hour, minute, 0)
            .single()
            .map(|local| local.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap_or_default()
    }

    fn entry(id: &str, confirmed: Option<DateTime<Utc>>, time_of_day: TimeOfDay) -> Entry {
        Entry {
            office_id: "amt".to_owned(),
            id: id.to_owned(),
            concern_ids: vec!["pass".to_owned()],
            from: date(7),
            to: date(11),
            time_of_day,
            name: "N".to_owned(),
            email: "n@example.de".to_owned(),
            language: "de".to_owned(),
            status: if confirmed.is_some() {
                EntryStatus::Active
            } else {
                EntryStatus::Unconfirmed
            },
            created_at: at(1, 8, 0),
            confirmed_at: confirmed,
            place: 0,
            offers_made: 0,
            open_offer: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            hold: TimeDelta::minutes(60),
            quiet: Some((
                NaiveTime::from_hms_opt(22, 0, 0).unwrap_or_default(),
                NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default(),
            )),
            max_entries_per_email: 2,
        }
    }

    #[test]
    fn a_freed_time_goes_to_the_first_confirmed_who_wants_it() {
        let entries = [
            entry("later", Some(at(2, 9, 0)), TimeOfDay::Any),
            entry("mornings", Some(at(1, 9, 0)), TimeOfDay::Morning),
            entry("unconfirmed", None, TimeOfDay::Any),
            entry("first", Some(at(1, 8, 0)), TimeOfDay::Afternoon),
        ];
        let next = |start| {
            in_line(&entries, BERLIN, start, |_| true)
                .first()
                .map(|entry| entry.id.as_str())
        };
        // 14:00: "first" asked for afternoons and was confirmed first.
        assert_eq!(next(at(8, 14, 0)), Some("first"));
        // 09:00: "first" wants no mornings; "mornings" was confirmed before "later".
        assert_eq!(next(at(8, 9, 0)), Some("mornings"));
        // Outside every range: nobody.
        assert_eq!(next(at(12, 9, 0)), None);
        // Those whose concerns do not fit are passed over.
        // Confirmed within the same instant (SQLite keeps seconds): the
        // office's order of confirmation decides, not the id.
        let (mut a, mut b) = (
            entry("a", Some(at(1, 8, 0)), TimeOfDay::Any),
            entry("b", Some(at(1, 8, 0)), TimeOfDay::Any),
        );
        (a.place, b.place) = (2, 1);
        let tied = [a, b];
        let order: Vec<&str> = in_line(&tied, BERLIN, at(8, 9, 0), |_| true)
            .iter()
            .map(|entry| entry.id.as_str())
            .collect();
        assert_eq!(order, ["b", "a"]);
        let picky = in_line(&entries, BERLIN, at(8, 9, 0), |entry| entry.id != "mornings");
        let picky: Vec<&str> = picky.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(picky, ["later"]);
    }

    #[test]
    fn an_entry_ends_by_itself_after_its_range() {
        let waiting = entry("a", Some(at(1, 8, 0)), TimeOfDay::Any);
        assert_eq!(waiting.clone().as_of(date(11)).status, EntryStatus::Active);
        assert_eq!(waiting.clone().as_of(date(12)).status, EntryStatus::Ended);
        let mut withdrawn = waiting;
        withdrawn.status = EntryStatus::Withdrawn;
        assert_eq!(withdrawn.as_of(date(12)).status, EntryStatus::Withdrawn);
    }

    #[test]
    fn an_open_offer_or_three_made_keep_an_entry_out_of_line() {
        let mut waiting = entry("a", Some(at(1, 8, 0)), TimeOfDay::Any);
        assert!(waiting.may_get_an_offer());
        waiting.open_offer = Some("o".to_owned());
        assert!(!waiting.may_get_an_offer());
        waiting.open_offer = None;
        waiting.offers_made = MAX_OFFERS;
        assert!(!waiting.may_get_an_offer());
    }

    #[test]
    fn offers_wait_for_the_morning_and_hold_less_when_the_time_is_near() {
        let policy = policy();
        assert!(policy.is_quiet(BERLIN, at(7, 23, 30)));
        assert!(policy.is_quiet(BERLIN, at(8, 6, 59)));
        assert!(!policy.is_quiet(BERLIN, at(8, 7, 0)));
        // Freed at 23:30: the mail goes out at 07:00 the next morning.
        assert_eq!(policy.send_at(BERLIN, at(7, 23, 30)), at(8, 7, 0));
        assert_eq!(policy.send_at(BERLIN, at(8, 3, 0)), at(8, 7, 0));
        assert_eq!(policy.send_at(BERLIN, at(8, 12, 0)), at(8, 12, 0));
        // A day ahead: the full hour.
        assert_eq!(policy.holds_until(at(8, 9, 0), at(9, 9, 0)), Some(at(8, 10, 0)));
        // 90 minutes ahead: half of them.
        assert_eq!(policy.holds_until(at(8, 9, 0), at(8, 10, 30)), Some(at(8, 9, 45)));
        // 30 minutes ahead: nobody can make it.
        assert_eq!(policy.holds_until(at(8, 9, 0), at(8, 9, 30)), None);
    }

    fn handover() -> Handover {
        Handover {
            tz: BERLIN,
            policy: policy(),
            now: at(7, 12, 0),
            durations: HashMap::from([("pass".to_owned(), 20), ("ausweis".to_owned(), 15)]),
            counters: HashMap::from([
                ("eins".to_owned(), vec!["pass".to_owned(), "ausweis".to_owned()]),
                ("zwei".to_owned(), vec!["ausweis".to_owned()]),
            ]),
        }
    }

    #[test]
    fn a_freed_time_fits_an_entry_whose_appointment_it_holds_at_a_counter_serving_it() {
        let handover = handover();
        let mut two = entry("two", Some(at(1, 8, 0)), TimeOfDay::Any);
        two.concern_ids = vec!["pass".to_owned(), "pass".to_owned()];
        let one = entry("one", Some(at(1, 9, 0)), TimeOfDay::Any);
        let thirty = (at(8, 9, 0), at(8, 9, 30));
        // Two passports take 40 minutes: only the single one fits 30.
        assert!(!handover.fits(&two, "eins", thirty));
        assert!(handover.fits(&one, "eins", thirty));
        // A counter that serves no passports fits nobody.
        assert!(!handover.fits(&one, "zwei", thirty));
        assert!(!handover.fits(&one, "drei", thirty));
        let entries = [two, one];
        let forty = ("eins", (at(8, 9, 0), at(8, 9, 40)));
        let line = handover.candidates(&entries, forty);
        let line: Vec<&str> = line.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(line, ["two", "one"]);
        // An unknown concern fits nothing.
        let mut unknown = entry("x", Some(at(1, 8, 0)), TimeOfDay::Any);
        unknown.concern_ids = vec!["weg".to_owned()];
        assert!(!handover.fits(&unknown, "eins", thirty));
        // Freed at noon for 09:00 the next day: mailed now, held an hour.
        assert_eq!(handover.timing(at(8, 9, 0)), Some((at(7, 12, 0), at(7, 13, 0))));
    }

    #[test]
    fn the_lottery_draws_in_the_minutes_before_a_release_for_the_day_it_opens() {
        let seven = NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default();
        let day = |now| lottery_day(BERLIN, seven, 60, now);
        assert_eq!(day(at(8, 6, 49)), None);
        assert_eq!(day(at(8, 6, 50)), Some(date(8) + TimeDelta::days(60)));
        assert_eq!(day(at(8, 6, 59)), Some(date(8) + TimeDelta::days(60)));
        assert_eq!(day(at(8, 7, 0)), None, "released: the public's now");
        // A release at midnight: drawn late the evening before.
        let midnight = lottery_day(BERLIN, NaiveTime::MIN, 60, at(7, 23, 55));
        assert_eq!(midnight, Some(date(8) + TimeDelta::days(60)));
    }

    #[test]
    fn a_draw_is_a_permutation_the_random_numbers_decide() {
        // Always the first of the rest: the order turns around ...
        assert_eq!(draw(vec![1, 2, 3, 4], |_| 0), [2, 3, 4, 1]);
        // ... always the last: it stays.
        assert_eq!(draw(vec![1, 2, 3, 4], |n| n - 1), [1, 2, 3, 4]);
        let mut drawn = draw((0..50).collect::<Vec<_>>(), |n| (n * 7 + 3) % n);
        drawn.sort_unstable();
        assert_eq!(drawn, (0..50).collect::<Vec<_>>(), "each entry once");
    }

    #[test]
    fn a_range_must_touch_the_booking_window() {
        let window = (date(1), date(30));
        assert!(check_range(date(7), date(11), window).is_ok());
        assert!(check_range(date(11), date(7), window).is_err());
        let outside = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default();
        assert!(check_range(outside, outside, window).is_err());
    }
}
