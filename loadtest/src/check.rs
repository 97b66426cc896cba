//! Double bookings, looked for after the race in the database itself: in
//! the bookings as they stand, and at every moment of the change log.

use std::collections::HashMap;

/// One entry of an office's change log, in position order.
#[derive(Clone, Debug)]
pub struct Logged {
    pub booked: bool,
    pub code: String,
    pub counter: String,
    /// Seconds since the epoch.
    pub start: i64,
    pub end: i64,
}

/// How many times the log books an interval onto a counter that another
/// booking still holds: replays the log, so it sees overlaps that later
/// cancellations would hide from a look at the final state.
pub fn overlaps_in_log(log: &[Logged]) -> usize {
    let mut active: HashMap<&str, (&str, i64, i64)> = HashMap::new();
    let mut overlaps = 0;
    for entry in log {
        if entry.booked {
            overlaps += active
                .iter()
                .filter(|(code, (counter, start, end))| {
                    **code != entry.code && *counter == entry.counter && *start < entry.end && entry.start < *end
                })
                .count();
            active.insert(&entry.code, (&entry.counter, entry.start, entry.end));
        } else {
            active.remove(entry.code.as_str());
        }
    }
    overlaps
}

/// Pairs of active bookings on one counter that overlap now.
pub const FINAL_OVERLAPS: &str = "SELECT COUNT(*) FROM bookings a JOIN bookings b \
     ON a.office_id = b.office_id AND a.counter_id = b.counter_id AND a.code < b.code \
     WHERE a.status <> 'cancelled' AND b.status <> 'cancelled' \
     AND a.start_at < b.end_at AND b.start_at < a.end_at";

/// The office's change log in position order.
pub const LOG: &str = "SELECT kind = 'booked' AS booked, code, counter_id, \
     EXTRACT(EPOCH FROM start_at)::bigint AS start_at, EXTRACT(EPOCH FROM end_at)::bigint AS end_at \
     FROM booking_events WHERE office_id = $1 ORDER BY sequence";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(booked: bool, code: &str, counter: &str, start: i64) -> Logged {
        Logged {
            booked,
            code: code.to_owned(),
            counter: counter.to_owned(),
            start,
            end: start + 10,
        }
    }

    #[test]
    fn a_booking_onto_a_held_interval_counts_even_if_cancelled_later() {
        let log = [
            entry(true, "A", "p1", 0),
            entry(true, "B", "p1", 5),
            entry(false, "B", "p1", 5),
            entry(false, "A", "p1", 0),
        ];
        assert_eq!(overlaps_in_log(&log), 1);
    }

    #[test]
    fn released_touching_and_other_counters_do_not_count() {
        let log = [
            entry(true, "A", "p1", 0),
            entry(false, "A", "p1", 0),
            entry(true, "B", "p1", 0),
            entry(true, "C", "p1", 10),
            entry(true, "D", "p2", 0),
            // A move: released and booked again under the same code.
            entry(false, "C", "p1", 10),
            entry(true, "C", "p1", 20),
        ];
        assert_eq!(overlaps_in_log(&log), 0);
    }
}
