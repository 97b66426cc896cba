//! The markdown table the benchmark writes.

use std::fmt::Write;

use crate::load::Stats;

pub struct Report {
    backend: &'static str,
    replicas: usize,
    rows: Vec<Row>,
    ceilings: Vec<(String, f64)>,
    memory: Vec<(String, Option<f64>)>,
    /// Bookings per second at 4 and 16 connections.
    bookings: Vec<(usize, f64)>,
}

struct Row {
    what: String,
    requests: u64,
    p50: f64,
    p99: f64,
    max: f64,
    rate: Option<f64>,
    outcome: String,
    target: String,
}

impl Report {
    pub fn new(backend: &'static str, replicas: usize) -> Self {
        Self {
            backend,
            replicas,
            rows: Vec::new(),
            ceilings: Vec::new(),
            memory: Vec::new(),
            bookings: Vec::new(),
        }
    }

    pub fn postgres(&self) -> bool {
        self.backend == "PostgreSQL"
    }

    fn row(&mut self, what: &str, stats: &Stats, rate: Option<f64>, outcome: String, target: &str) {
        self.rows.push(Row {
            what: what.to_owned(),
            requests: stats.requests(),
            p50: stats.ms(0.5),
            p99: stats.ms(0.99),
            max: stats.ms(1.0),
            rate,
            outcome,
            target: target.to_owned(),
        });
    }

    /// A sequential measurement: latencies matter, the rate follows from them.
    pub fn latency(&mut self, what: &str, stats: &Stats, target: &str) {
        self.row(what, stats, None, statuses(stats), target);
    }

    pub fn throughput(&mut self, what: &str, stats: &Stats, target: &str) {
        self.row(what, stats, Some(successes_per_second(stats)), statuses(stats), target);
    }

    /// Sustained bookings at `connections`, also compared with the ceiling.
    pub fn bookings(&mut self, connections: usize, stats: &Stats, target: &str) {
        self.bookings.push((connections, successes_per_second(stats)));
        self.throughput(&format!("bookings at {connections} connections"), stats, target);
    }

    pub fn crowd(&mut self, stats: &Stats) {
        let outcome = format!(
            "{} won, {} × 409, {} × 5xx, {} other, {} without answer",
            stats.with_status(201..=201),
            stats.with_status(409..=409),
            stats.with_status(500..=599),
            stats.requests()
                - stats.with_status(201..=201)
                - stats.with_status(409..=409)
                - stats.with_status(500..=599)
                - stats.failures,
            stats.failures
        );
        self.row("flash crowd on 10 places", stats, None, outcome, "10 won, 0 × 5xx");
    }

    pub fn race(&mut self, stats: &Stats, cancel_failures: u64, (now, in_log, logged): (i64, usize, usize)) {
        let outcome = format!(
            "{} booked (and cancelled again), {} × 409, {} × 5xx, {} failed cancels; \
             overlaps: {now} now, {in_log} in the log's {logged} changes",
            stats.with_status(201..=201),
            stats.with_status(409..=409),
            stats.with_status(500..=599),
            cancel_failures
        );
        let rate = stats.per_second();
        self.row(
            &format!("race across {} replicas", self.replicas),
            stats,
            Some(rate),
            outcome,
            "≥ 100,000 attempts, 0 overlaps",
        );
    }

    pub fn ceiling(&mut self, what: &str, tps: f64) {
        self.ceilings.push((what.to_owned(), tps));
    }

    pub fn memory(&mut self, when: &str, mib: Option<f64>) {
        self.memory.push((when.to_owned(), mib));
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# amtstermin load benchmark\n");
        let _ = writeln!(
            out,
            "{} · {} · {} all-in-one process{} · {} CPU cores · commit {}\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            self.backend,
            self.replicas,
            if self.replicas == 1 { "" } else { "es" },
            std::thread::available_parallelism().map_or(0, usize::from),
            commit(),
        );
        let _ = writeln!(
            out,
            "Through the gateway's HTTP API (gateway → gRPC → database), load generator on the same \
             machine. Latencies in ms. Regenerate: `cargo run --release -p loadtest -- {}`.\n",
            if self.postgres() {
                "--postgres postgres://postgres@127.0.0.1:5432/test"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "| measurement | requests | p50 | p99 | max | per second | outcome | target |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|---|");
        for row in &self.rows {
            let rate = row.rate.map_or_else(|| "–".to_owned(), |rate| format!("{rate:.0}"));
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                row.what, row.requests, row.p50, row.p99, row.max, rate, row.outcome, row.target
            );
        }
        if !self.ceilings.is_empty() {
            let _ = writeln!(out, "\n| PostgreSQL ceiling | transactions per second |\n|---|---:|");
            for (what, tps) in &self.ceilings {
                let _ = writeln!(out, "| {what} | {tps:.0} |");
            }
            let ceiling = self
                .ceilings
                .iter()
                .find(|(what, _)| what.contains("(b)"))
                .map(|(_, tps)| *tps);
            if let Some(ceiling) = ceiling.filter(|tps| *tps > 0.0) {
                for (connections, rate) in &self.bookings {
                    let _ = writeln!(
                        out,
                        "\nBookings at {connections} connections: {:.0}% of ceiling (b) at 4 clients.",
                        100.0 * rate / ceiling
                    );
                }
            }
        }
        let _ = writeln!(out, "\n| memory of replica 0 (RSS) | MiB |\n|---|---:|");
        for (when, mib) in &self.memory {
            let mib = mib.map_or_else(|| "?".to_owned(), |mib| format!("{mib:.1}"));
            let _ = writeln!(out, "| {when} | {mib} |");
        }
        out
    }
}

fn successes_per_second(stats: &Stats) -> f64 {
    stats.with_status(200..=299) as f64 / stats.elapsed.as_secs_f64().max(1e-9)
}

fn statuses(stats: &Stats) -> String {
    let mut parts: Vec<String> = stats
        .statuses
        .iter()
        .map(|(status, count)| format!("{count} × {status}"))
        .collect();
    if stats.failures > 0 {
        parts.push(format!("{} without answer", stats.failures));
    }
    parts.join(", ")
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
