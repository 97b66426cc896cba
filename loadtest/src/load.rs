//! Drives requests, one after another or from many connections at once, and
//! keeps what came back: statuses and a latency histogram.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// This many requests in all.
    Requests(u64),
    /// Requests started within this time.
    Elapsed(Duration),
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Microseconds per request.
    pub latency: Histogram<u64>,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection refused, reset, timed out).
    pub failures: u64,
    pub elapsed: Duration,
}

impl Stats {
    pub fn empty() -> Self {
        Self {
            // Up to a minute, three significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            failures: 0,
            elapsed: Duration::ZERO,
        }
    }

    pub fn record(&mut self, took: Duration, outcome: anyhow::Result<u16>) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        match outcome {
            Ok(status) => *self.statuses.entry(status).or_default() += 1,
            Err(_) => self.failures += 1,
        }
    }

    fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        self.failures += other.failures;
    }

    pub fn requests(&self) -> u64 {
        self.latency.len()
    }

    /// Responses with a status in `range`.
    pub fn with_status(&self, range: std::ops::RangeInclusive<u16>) -> u64 {
        self.statuses.range(range).map(|(_, count)| count).sum()
    }

    /// The latency at quantile `q` in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `request(i)` for i = 0, 1, … from `connections` tasks until `until`;
/// each answers with the HTTP status it got.
pub async fn drive<F, Fut>(connections: usize, until: Until, request: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u16>> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (request, next) = (request.clone(), next.clone());
        tasks.spawn(async move {
            let mut stats = Stats::empty();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let more = match until {
                    Until::Requests(total) => index < total,
                    Until::Elapsed(limit) => started.elapsed() < limit,
                };
                if !more {
                    return stats;
                }
                let sent = Instant::now();
                let outcome = request(index).await;
                stats.record(sent.elapsed(), outcome);
            }
        });
    }
    let mut all = Stats::empty();
    while let Some(done) = tasks.join_next().await {
        if let Ok(stats) = done {
            all.merge(&stats);
        }
    }
    all.elapsed = started.elapsed();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_request_is_counted_once_by_its_status() {
        let stats = drive(4, Until::Requests(100), |index| async move {
            match index % 10 {
                0 => Ok(409),
                1 => Err(anyhow::anyhow!("reset")),
                _ => Ok(201),
            }
        })
        .await;
        assert_eq!(stats.requests(), 100);
        assert_eq!(stats.with_status(200..=299), 80);
        assert_eq!(stats.with_status(409..=409), 10);
        assert_eq!(stats.failures, 10);
    }
}
