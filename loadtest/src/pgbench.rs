//! The database's own ceilings, measured with pgbench in the same run: what
//! PostgreSQL does with (a) single-row inserts and (b) transactions making
//! the same writes as a booking, into the service's own tables (under an
//! office id of their own, so the benchmark's offices stay untouched).

use std::process::Command;

use anyhow::{Context, bail};

/// (a): one row, one statement, autocommit.
const SINGLE_INSERT: &str = "\\set n random(1, 1000000000000)
INSERT INTO revoked_sessions (session_id, expires_at) VALUES ('pgbench-' || :n || '-' || :client_id, now());
";

/// (b): the statements of `SqlStore::reserve` for a booking with an email
/// limit and a client quota: the citizen's locks, the checks, the booking
/// (under the exclusion constraint), its history, its mail and its change.
// Starts are random minutes in 190,000 years, on a counter per client:
// overlaps (which would abort a client) are too unlikely to happen.
const BOOKING: &str = "\\set n random(1, 100000000000)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('pgbench-ceiling' || chr(31) || 'email ' || :n, 0));
SELECT pg_advisory_xact_lock(hashtextextended('pgbench-ceiling' || chr(31) || 'client ' || :n, 0));
SELECT COUNT(*) FROM bookings WHERE office_id = 'pgbench-ceiling' AND email_normalized = 'c' || :n || '@example.org' AND status IN ('pending', 'booked') AND start_at > now();
SELECT COUNT(*), MIN(created_at) FROM bookings WHERE office_id = 'pgbench-ceiling' AND client_key = decode(md5(:n::text), 'hex') AND created_at > now() - interval '1 day';
SELECT 1 FROM bookings WHERE office_id = 'pgbench-ceiling' AND counter_id = 'p' || :client_id AND status <> 'cancelled' AND tstzrange(start_at, end_at, '[)') && tstzrange(timestamptz '2030-01-01' + :n * interval '1 minute', timestamptz '2030-01-01' + (:n + 5) * interval '1 minute', '[)') AND code <> 'C' || :client_id || '-' || :n LIMIT 1;
INSERT INTO bookings (office_id, code, counter_id, concern_ids, start_at, end_at, name, email, phone, token_hash, idempotency_key_hash, request_hash, token_sealed, channel, created_at, updated_at, email_normalized, client_key, status, confirm_by, confirm_hash) VALUES ('pgbench-ceiling', 'C' || :client_id || '-' || :n, 'p' || :client_id, 'termin', timestamptz '2030-01-01' + :n * interval '1 minute', timestamptz '2030-01-01' + (:n + 5) * interval '1 minute', 'Last Test', 'c' || :n || '@example.org', '', decode(md5(:n::text), 'hex'), NULL, NULL, NULL, 'online', now(), now(), 'c' || :n || '@example.org', decode(md5(:n::text), 'hex'), 'booked', NULL, NULL);
INSERT INTO booking_history (office_id, code, entry, at, actor, from_status, to_status, detail) SELECT 'pgbench-ceiling', 'C' || :client_id || '-' || :n, COALESCE(MAX(entry), 0) + 1, now(), 'citizen', NULL, 'booked', NULL FROM booking_history WHERE office_id = 'pgbench-ceiling' AND code = 'C' || :client_id || '-' || :n;
INSERT INTO mail_outbox (office_id, id, code, kind, token, due_at, next_attempt_at) VALUES ('pgbench-ceiling', 'M' || :client_id || '-' || :n, 'C' || :client_id || '-' || :n, 'confirmation', 'secret', now(), now());
INSERT INTO booking_events (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at, by_citizen) VALUES ('pgbench-ceiling', pg_current_xact_id()::text::bigint * 4, 'booked', 'C' || :client_id || '-' || :n, 'p' || :client_id, timestamptz '2030-01-01' + :n * interval '1 minute', timestamptz '2030-01-01' + (:n + 5) * interval '1 minute', now(), true);
COMMIT;
";

/// Which ceiling.
#[derive(Clone, Copy, Debug)]
pub enum Ceiling {
    SingleInsert,
    Booking,
}

/// Transactions per second pgbench reaches with `clients` for `seconds`.
pub fn tps(url: &str, ceiling: Ceiling, clients: u32, seconds: u64) -> anyhow::Result<f64> {
    let script = std::env::temp_dir().join(format!("amtstermin-pgbench-{}-{ceiling:?}.sql", std::process::id()));
    std::fs::write(
        &script,
        match ceiling {
            Ceiling::SingleInsert => SINGLE_INSERT,
            Ceiling::Booking => BOOKING,
        },
    )?;
    let output = Command::new("pgbench")
        .args(["--no-vacuum", "--client", &clients.to_string(), "--jobs", "2"])
        .args(["--time", &seconds.to_string(), "--file"])
        .arg(&script)
        .arg(url)
        .output()
        .context("cannot run pgbench (it comes with PostgreSQL's client tools)")?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    }
    parse_tps(&stdout).with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Removes what the ceiling runs wrote.
pub const CLEAN_UP: [&str; 5] = [
    "DELETE FROM revoked_sessions WHERE session_id LIKE 'pgbench-%'",
    "DELETE FROM booking_events WHERE office_id = 'pgbench-ceiling'",
    "DELETE FROM mail_outbox WHERE office_id = 'pgbench-ceiling'",
    "DELETE FROM booking_history WHERE office_id = 'pgbench-ceiling'",
    "DELETE FROM bookings WHERE office_id = 'pgbench-ceiling'",
];

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_rate_without_connection_time() {
        let output = "latency average = 0.741 ms\ninitial connection time = 4.2 ms\n\
                      tps = 5395.318071 (without initial connection time)\n";
        assert_eq!(super::parse_tps(output), Some(5395.318071));
    }
}
