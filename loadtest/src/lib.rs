//! The load benchmark: starts the stack (SQLite, or replicas sharing a
//! PostgreSQL database) and measures it as citizens meet it, through the
//! gateway, gRPC and the database: sequential latencies, slot reads and
//! bookings under load, a flash crowd, a race across replicas checked in
//! the database, cross-replica staleness, memory, and pgbench's ceilings.
//! It writes a markdown table; nothing here asserts a timing.
//!
//! `cargo run --release -p loadtest -- --help`

pub mod check;
mod citizen;
mod load;
mod pgbench;
mod report;
mod stack;
mod statistics;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::citizen::{Booked, Citizens, date_of, free_at, free_starts};
use crate::load::{Stats, Until, drive};
use crate::report::Report;
use crate::stack::Stack;

#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "loadtest",
    about = "Measures amtstermin end to end and writes a markdown table"
)]
pub struct Options {
    /// A PostgreSQL server to run on (a scratch database is made there and
    /// dropped afterwards), e.g. postgres://postgres@127.0.0.1:5432/test.
    /// Without it: SQLite, one process.
    #[arg(long, env = "AMTSTERMIN_BENCH_POSTGRES_URL")]
    pub postgres: Option<String>,
    /// All-in-one processes sharing the database (default: 4 on PostgreSQL, 1 on SQLite).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Seconds each throughput phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Bookings made before measuring (the office's load).
    #[arg(long, default_value_t = 6000)]
    pub preload: usize,
    /// Requests per sequential measurement.
    #[arg(long, default_value_t = 500)]
    pub sequential: u64,
    /// Clients of the flash crowd (on 10 places).
    #[arg(long, default_value_t = 1000)]
    pub crowd: usize,
    /// Booking attempts of the race across replicas.
    #[arg(long, default_value_t = 100_000)]
    pub race_attempts: u64,
    /// Bookings whose cross-replica staleness is measured.
    #[arg(long, default_value_t = 200)]
    pub staleness_samples: usize,
    /// How long memory is watched after the flash crowd, in seconds.
    #[arg(long, default_value_t = 60)]
    pub settle_seconds: u64,
    /// Where the markdown table goes (besides standard output); default
    /// docs/benchmark-sqlite.md or docs/benchmark-postgres.md.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The amtstermin binary; by default the release build, built first.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Keep the processes' directories (logs, SQLite files) and say where.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the benchmark and returns the markdown report (also written to `out`).
pub async fn run(options: &Options) -> anyhow::Result<String> {
    let binary = stack::binary(options.binary.as_deref())?;
    let database = match &options.postgres {
        Some(admin) => Some(ScratchDatabase::create(admin).await?),
        None => None,
    };
    let measured = measure(options, &binary, database.as_ref()).await;
    if let Some(database) = database {
        database.drop_database().await;
    }
    let report = measured?.to_markdown();
    let out = options.out.clone().unwrap_or_else(|| {
        let backend = if options.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        PathBuf::from(format!("docs/benchmark-{backend}.md"))
    });
    if let Some(folder) = out.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(&out, &report).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(report)
}

/// The phases, in order.
async fn measure(
    options: &Options,
    binary: &std::path::Path,
    database: Option<&ScratchDatabase>,
) -> anyhow::Result<Report> {
    let replicas = options.replicas.unwrap_or(if database.is_some() { 4 } else { 1 });
    if database.is_none() && replicas > 1 {
        bail!("replicas share one database: give --postgres");
    }
    let backend = if database.is_some() { "PostgreSQL" } else { "SQLite" };
    eprintln!("starting {replicas} × amtstermin on {backend}");
    let urls = database.map(|d| (d.url.as_str(), d.availability_url.as_str()));
    let stack = Stack::start(binary, urls, replicas, options.keep).await?;
    let mut bench = Bench {
        stack,
        citizens: Citizens::new()?,
        next_citizen: Arc::new(AtomicU64::new(1)),
        report: Report::new(backend, replicas),
        options: options.clone(),
    };
    bench.report.memory("empty", bench.stack.rss_mib(0));

    bench.preload().await?;
    let loaded = bench.stack.rss_mib(0);
    bench
        .report
        .memory(&format!("with {} bookings", options.preload), loaded);
    bench.sequential().await?;
    bench.slot_reads().await?;
    let pool = bench.throughput_pool().await?;
    bench.sustained_bookings(&pool).await;
    if let Some(database) = database {
        bench.ceilings(database).await?;
    }
    if replicas > 1 {
        bench.staleness(&pool).await?;
    }
    bench.flash_crowd(loaded).await?;
    if let Some(database) = database
        && replicas > 1
    {
        bench.race(database).await?;
    }
    bench.statistics(database).await?;
    Ok(bench.report)
}

struct Bench {
    stack: Stack,
    citizens: Citizens,
    /// Every request comes from a citizen of its own unless said otherwise.
    next_citizen: Arc<AtomicU64>,
    report: Report,
    options: Options,
}

impl Bench {
    /// A year of an office's appointments, then its statistics through the
    /// gateway.
    async fn statistics(&mut self, database: Option<&ScratchDatabase>) -> anyhow::Result<()> {
        let target = match database {
            Some(database) => statistics::Target::Postgres(sqlx::PgPool::connect(&database.url).await?),
            None => statistics::Target::Sqlite(
                sqlx::SqlitePool::connect(&format!("sqlite:{}", self.stack.sqlite_bookings().display())).await?,
            ),
        };
        let started = Instant::now();
        let (appointments, entries) = statistics::write_year(&target).await?;
        eprintln!(
            "wrote a year: {appointments} appointments, {entries} history entries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let client = reqwest::Client::new();
        for (what, path) in statistics::queries() {
            let (client, url) = (client.clone(), format!("{}{path}", self.base(0)));
            let stats = drive(1, Until::Requests(20), move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let response = client.get(&url).bearer_auth(stack::STAFF_TOKEN).send().await?;
                    let status = response.status().as_u16();
                    response.bytes().await?;
                    Ok(status)
                }
            })
            .await;
            self.report.latency(
                &format!("{what} ({appointments} appointments)"),
                &stats,
                "well under 1 s",
            );
        }
        Ok(())
    }

    fn base(&self, replica: usize) -> String {
        self.stack.replicas[replica % self.stack.replicas.len()].base.clone()
    }

    /// Takes the numbers of `count` new citizens; returns the first.
    fn new_citizens(&self, count: u64) -> u64 {
        self.next_citizen.fetch_add(count, Ordering::Relaxed)
    }

    /// The office's free times over its whole window.
    async fn window(&self, replica: usize, office: &str, concern: &str) -> anyhow::Result<Value> {
        let who = self.new_citizens(1);
        let (status, body) = self
            .citizens
            .slots(&self.base(replica), office, concern, ("", ""), who)
            .await?;
        if status != 200 {
            bail!("slots of {office} answered {status}");
        }
        Ok(body)
    }

    /// Books `vergleich` up like a busy office: `preload` bookings spread
    /// over its window, as in the comparison with Easy!Appointments.
    async fn preload(&mut self) -> anyhow::Result<()> {
        let window = self.window(0, "vergleich", "beratung").await?;
        let mut places = Vec::new();
        for day in window["days"].as_array().into_iter().flatten() {
            for slot in day["slots"].as_array().into_iter().flatten() {
                let free = slot["free"].as_u64().unwrap_or(0);
                let start = slot["start"].as_str().unwrap_or_default().to_owned();
                places.extend(std::iter::repeat_n(start, usize::try_from(free).unwrap_or(0)));
            }
        }
        let wanted = self.options.preload.min(places.len().saturating_sub(200));
        // A fixed scattering over the window, the same in every run.
        let places: Arc<Vec<String>> = Arc::new(
            (0..wanted)
                .map(|index| places[(index * 7919) % places.len()].clone())
                .collect(),
        );
        eprintln!("preloading {wanted} bookings");
        let (citizens, base, first) = (self.citizens.clone(), self.base(0), self.new_citizens(wanted as u64));
        let stats = drive(8, Until::Requests(wanted as u64), move |index| {
            let (citizens, base, places) = (citizens.clone(), base.clone(), places.clone());
            async move {
                let start = &places[usize::try_from(index)?];
                Ok(citizens
                    .book(&base, "vergleich", "beratung", start, first + index)
                    .await?
                    .0)
            }
        })
        .await;
        self.report.throughput("preload: bookings at 8 connections", &stats, "");
        Ok(())
    }

    /// Books every place at `start` in `vergleich`.
    async fn fill(&self, start: &str) -> anyhow::Result<()> {
        for _ in 0..10 {
            let (status, _) = self
                .citizens
                .book(&self.base(0), "vergleich", "beratung", start, self.new_citizens(1))
                .await?;
            if status == 409 {
                return Ok(());
            }
        }
        bail!("{start} does not fill up")
    }

    async fn sequential(&mut self) -> anyhow::Result<()> {
        let window = self.window(0, "vergleich", "beratung").await?;
        let days = free_starts(&window);
        let day = days
            .get(days.len() / 3)
            .and_then(|starts| starts.first())
            .context("no free day in vergleich")?;
        let day = date_of(day)?.to_owned();
        let taken = days
            .last()
            .and_then(|starts| starts.last())
            .context("no free time")?
            .clone();
        self.fill(&taken).await?;
        let n = self.options.sequential;
        let (citizens, base) = (self.citizens.clone(), self.base(0));

        let first = self.new_citizens(n);
        let (c, b, d) = (citizens.clone(), base.clone(), day.clone());
        let stats = drive(1, Until::Requests(n), move |index| {
            let (c, b, d) = (c.clone(), b.clone(), d.clone());
            async move {
                c.slots_status(&b, "vergleich", "beratung", (&d, &d), first + index)
                    .await
            }
        })
        .await;
        self.report.latency(
            "one day's free times",
            &stats,
            "≤ 0.5 ms p50 (Easy!Appointments 6.2 ms)",
        );

        let first = self.new_citizens(n);
        let (c, b) = (citizens.clone(), base.clone());
        let stats = drive(1, Until::Requests(n), move |index| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                c.slots_status(&b, "vergleich", "beratung", ("", ""), first + index)
                    .await
            }
        })
        .await;
        self.report.latency("the 60-day window", &stats, "");

        let pool = free_starts(&self.window(0, "durchsatz", "kurz").await?)
            .into_iter()
            .rev()
            .flatten()
            .take(usize::try_from(n)?)
            .collect::<Vec<_>>();
        let pool = Arc::new(pool);
        let first = self.new_citizens(n);
        let (c, b) = (citizens.clone(), base.clone());
        let stats = drive(1, Until::Requests(n), move |index| {
            let (c, b, pool) = (c.clone(), b.clone(), pool.clone());
            async move {
                let start = pool.get(usize::try_from(index)?).context("pool exhausted")?;
                Ok(c.book(&b, "durchsatz", "kurz", start, first + index).await?.0)
            }
        })
        .await;
        self.report
            .latency("a booking", &stats, "≤ 1 ms p50 (Easy!Appointments 11.8 ms)");

        let first = self.new_citizens(n);
        let (c, b) = (citizens, base);
        let stats = drive(1, Until::Requests(n), move |index| {
            let (c, b, taken) = (c.clone(), b.clone(), taken.clone());
            async move { Ok(c.book(&b, "vergleich", "beratung", &taken, first + index).await?.0) }
        })
        .await;
        self.report.latency("refusing a taken time (409)", &stats, "");
        Ok(())
    }

    async fn slot_reads(&mut self) -> anyhow::Result<()> {
        let window = self.window(0, "vergleich", "beratung").await?;
        let day = free_starts(&window)
            .first()
            .and_then(|starts| starts.first().cloned())
            .context("no free day")?;
        let day = date_of(&day)?.to_owned();
        let (citizens, base, next) = (self.citizens.clone(), self.base(0), self.next_citizen.clone());
        let seconds = Duration::from_secs(self.options.seconds);
        let stats = drive(32, Until::Elapsed(seconds), move |_| {
            let (c, b, d) = (citizens.clone(), base.clone(), day.clone());
            let who = next.fetch_add(1, Ordering::Relaxed);
            async move { c.slots_status(&b, "vergleich", "beratung", (&d, &d), who).await }
        })
        .await;
        self.report.throughput(
            "slot reads (one day) at 32 connections",
            &stats,
            "≥ 20,000/s, p99 ≤ 5 ms",
        );
        Ok(())
    }

    /// Every free place of `durchsatz`, each start once before any twice,
    /// so concurrent clients rarely want the same place.
    async fn throughput_pool(&self) -> anyhow::Result<Arc<Vec<String>>> {
        let window = self.window(0, "durchsatz", "kurz").await?;
        let starts: Vec<String> = free_starts(&window).into_iter().flatten().collect();
        let rounds = 40;
        Ok(Arc::new((0..rounds).flat_map(|_| starts.iter().cloned()).collect()))
    }

    async fn sustained_bookings(&mut self, pool: &Arc<Vec<String>>) {
        let taken = Arc::new(AtomicU64::new(0));
        for connections in [4, 16] {
            let (citizens, base, next) = (self.citizens.clone(), self.base(0), self.next_citizen.clone());
            let (pool, taken) = (pool.clone(), taken.clone());
            let stats = drive(
                connections,
                Until::Elapsed(Duration::from_secs(self.options.seconds)),
                move |_| {
                    let (c, b, pool) = (citizens.clone(), base.clone(), pool.clone());
                    let index = taken.fetch_add(1, Ordering::Relaxed);
                    let who = next.fetch_add(1, Ordering::Relaxed);
                    async move {
                        let start = pool.get(usize::try_from(index)?).context("no free place left")?;
                        Ok(c.book(&b, "durchsatz", "kurz", start, who).await?.0)
                    }
                },
            )
            .await;
            let target = if self.report.postgres() {
                "≥ 50% of ceiling (b), not lower at 16"
            } else {
                "p99 ≤ 20 ms at 4"
            };
            self.report.bookings(connections, &stats, target);
        }
    }

    async fn ceilings(&mut self, database: &ScratchDatabase) -> anyhow::Result<()> {
        let seconds = self.options.seconds.min(10);
        let url = database.url.clone();
        let (single, booking4, booking16) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            Ok((
                pgbench::tps(&url, pgbench::Ceiling::SingleInsert, 4, seconds)?,
                pgbench::tps(&url, pgbench::Ceiling::Booking, 4, seconds)?,
                pgbench::tps(&url, pgbench::Ceiling::Booking, 16, seconds)?,
            ))
        })
        .await??;
        self.report.ceiling("pgbench (a): single-row insert, 4 clients", single);
        self.report
            .ceiling("pgbench (b): a booking's writes, 4 clients", booking4);
        self.report
            .ceiling("pgbench (b): a booking's writes, 16 clients", booking16);
        let pool = database.pool().await?;
        for statement in pgbench::CLEAN_UP {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(())
    }

    /// A booking through replica 1, watched for in the slots replica 0
    /// serves (its projection is fed by its own booking service).
    async fn staleness(&mut self, pool: &Arc<Vec<String>>) -> anyhow::Result<()> {
        let mut latency = Stats::empty();
        let started = Instant::now();
        let (reader, writer) = (self.base(0), self.base(1));
        let mut taken = 0;
        for start in pool.iter().rev().take(self.options.staleness_samples) {
            let day = date_of(start)?;
            let who = self.new_citizens(1);
            let (_, before) = self
                .citizens
                .slots(&reader, "durchsatz", "kurz", (day, day), who)
                .await?;
            let Some(free) = free_at(&before, start).filter(|free| *free > 0) else {
                continue;
            };
            let (status, _) = self
                .citizens
                .book(&writer, "durchsatz", "kurz", start, self.new_citizens(1))
                .await?;
            if status != 201 {
                continue;
            }
            let booked = Instant::now();
            let outcome = loop {
                let who = self.new_citizens(1);
                let (_, now) = self
                    .citizens
                    .slots(&reader, "durchsatz", "kurz", (day, day), who)
                    .await?;
                if free_at(&now, start).is_some_and(|left| left < free) {
                    break Ok(200);
                }
                if booked.elapsed() > Duration::from_secs(5) {
                    break Err(anyhow::anyhow!("not seen within 5 s"));
                }
            };
            latency.record(booked.elapsed(), outcome);
            taken += 1;
        }
        latency.elapsed = started.elapsed();
        eprintln!("staleness: {taken} samples");
        self.report.latency(
            "cross-replica staleness (booked on B, seen on A)",
            &latency,
            "p99 ≤ 50 ms",
        );
        Ok(())
    }

    /// `crowd` clients at once on the 10 places of a day of `ansturm`.
    async fn flash_crowd(&mut self, loaded: Option<f64>) -> anyhow::Result<()> {
        let window = self.window(0, "ansturm", "termin").await?;
        let places: Vec<String> = free_starts(&window)
            .into_iter()
            .find(|starts| starts.len() >= 10)
            .context("no day with 10 free places in ansturm")?
            .into_iter()
            .take(10)
            .collect();
        let places = Arc::new(places);
        let crowd = self.options.crowd;
        let gate = Arc::new(tokio::sync::Barrier::new(crowd));
        let fresh = Citizens::new()?;
        let first = self.new_citizens(crowd as u64);
        let base = self.base(0);
        let stats = drive(crowd, Until::Requests(crowd as u64), move |index| {
            let (c, b, places, gate) = (fresh.clone(), base.clone(), places.clone(), gate.clone());
            async move {
                gate.wait().await;
                let start = &places[usize::try_from(index % 10)?];
                Ok(c.book(&b, "ansturm", "termin", start, first + index).await?.0)
            }
        })
        .await;
        self.report.crowd(&stats);
        let peak = self.stack.rss_mib(0);
        self.report.memory("right after the flash crowd", peak);
        let limit = loaded.map(|mib| 2.0 * mib);
        let watched = Instant::now();
        let mut rss = peak;
        while watched.elapsed() < Duration::from_secs(self.options.settle_seconds) {
            if let (Some(now), Some(limit)) = (rss, limit)
                && now < limit
            {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss = self.stack.rss_mib(0);
        }
        self.report.memory(
            &format!(
                "{} s later (target: < 2 × loaded within 60 s)",
                watched.elapsed().as_secs()
            ),
            rss,
        );
        Ok(())
    }

    /// Many clients on the few places of `rennen`, through every replica;
    /// each winner cancels at once, so the places are fought over again.
    async fn race(&mut self, database: &ScratchDatabase) -> anyhow::Result<()> {
        let window = self.window(0, "rennen", "termin").await?;
        let places = Arc::new(
            free_starts(&window)
                .into_iter()
                .next()
                .context("no free place in rennen")?,
        );
        let bases: Arc<Vec<String>> = Arc::new((0..self.stack.replicas.len()).map(|r| self.base(r)).collect());
        let attempts = self.options.race_attempts;
        let first = self.new_citizens(attempts);
        let citizens = self.citizens.clone();
        let cancel_failures = Arc::new(AtomicU64::new(0));
        let failures = cancel_failures.clone();
        let stats = drive(8 * bases.len(), Until::Requests(attempts), move |index| {
            let (c, bases, places, failures) = (citizens.clone(), bases.clone(), places.clone(), failures.clone());
            async move {
                let base = &bases[usize::try_from(index)? % bases.len()];
                let start = &places[usize::try_from(index / 7)? % places.len()];
                let who = first + index;
                let (status, booked) = c.book(base, "rennen", "termin", start, who).await?;
                if let Some(booked) = booked {
                    cancel(&c, base, &booked, who, &failures).await;
                }
                Ok(status)
            }
        })
        .await;
        let pool = database.pool().await?;
        let final_overlaps: i64 = sqlx::query_scalar(check::FINAL_OVERLAPS).fetch_one(&pool).await?;
        let log: Vec<check::Logged> = sqlx::query_as::<_, (bool, String, String, i64, i64)>(check::LOG)
            .bind("rennen")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .map(|(booked, code, counter, start, end)| check::Logged {
                booked,
                code,
                counter,
                start,
                end,
            })
            .collect();
        let overlaps = check::overlaps_in_log(&log);
        self.report.race(
            &stats,
            cancel_failures.load(Ordering::Relaxed),
            (final_overlaps, overlaps, log.len()),
        );
        Ok(())
    }
}

async fn cancel(citizens: &Citizens, base: &str, booked: &Booked, who: u64, failures: &AtomicU64) {
    if !matches!(citizens.cancel(base, booked, who).await, Ok(200..=299)) {
        failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// A database of its own on the PostgreSQL server, dropped afterwards.
struct ScratchDatabase {
    admin: String,
    name: String,
    /// The booking service's.
    url: String,
    availability_url: String,
}

impl ScratchDatabase {
    async fn create(admin: &str) -> anyhow::Result<Self> {
        use sqlx::Connection;
        let name = format!("amtstermin_bench_{}", std::process::id());
        let mut connection = sqlx::PgConnection::connect(admin)
            .await
            .with_context(|| format!("cannot reach PostgreSQL at {admin}"))?;
        // Each service owns its tables and migrations: one database each.
        for database in [name.clone(), format!("{name}_availability")] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
            )))
            .execute(&mut connection)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
                .execute(&mut connection)
                .await?;
        }
        let mut url = reqwest::Url::parse(admin).context("invalid PostgreSQL URL")?;
        url.set_path(&format!("/{name}"));
        let mut availability = url.clone();
        availability.set_path(&format!("/{name}_availability"));
        Ok(Self {
            admin: admin.to_owned(),
            name,
            url: url.to_string(),
            availability_url: availability.to_string(),
        })
    }

    async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await?)
    }

    async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut connection) = sqlx::PgConnection::connect(&self.admin).await {
            for database in [self.name.clone(), format!("{}_availability", self.name)] {
                let statement = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut connection)
                    .await
                {
                    eprintln!("could not drop {database}: {error}");
                }
            }
        }
    }
}
