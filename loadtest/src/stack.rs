//! The system under test: `amtstermin` all-in-one processes (gateway,
//! availability and booking service each), on SQLite or sharing one
//! PostgreSQL database as replicas, with the benchmark's own offices.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The offices of the benchmark. "vergleich" is the set-up of the comparison
/// with Easy!Appointments (4 counters, one 15-minute concern); "durchsatz"
/// has room for sustained booking; "ansturm" has 10 places a day for the
/// flash crowd; "rennen" has one counter for the race.
const OFFICES: &str = r#"
[[offices]]
id = "vergleich"
name = "Vergleich"
address = "Rathausplatz 1, 59192 Bergkamen"
state = "NW"
slot_minutes = 15
min_lead_minutes = 0
[offices.hours]
mon = ["08:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-18:00"]
[[offices.categories]]
id = "alles"
name = "Alles"
featured = true
[[offices.concerns]]
id = "beratung"
name = "Beratung"
category = "alles"
duration_minutes = 15
required_documents = ["Personalausweis"]
fee = "gebührenfrei"
[[offices.counters]]
id = "p1"
name = "Platz 1"
[[offices.counters]]
id = "p2"
name = "Platz 2"
[[offices.counters]]
id = "p3"
name = "Platz 3"
[[offices.counters]]
id = "p4"
name = "Platz 4"

[[offices]]
id = "durchsatz"
name = "Durchsatz"
address = "Rathausplatz 1, 59192 Bergkamen"
state = "NW"
slot_minutes = 5
min_lead_minutes = 0
open_on_sundays = true
[offices.hours]
mon = ["06:00-22:00"]
tue = ["06:00-22:00"]
wed = ["06:00-22:00"]
thu = ["06:00-22:00"]
fri = ["06:00-22:00"]
sat = ["06:00-22:00"]
sun = ["06:00-22:00"]
[[offices.categories]]
id = "alles"
name = "Alles"
featured = true
[[offices.concerns]]
id = "kurz"
name = "Kurzer Termin"
category = "alles"
duration_minutes = 5
required_documents = []
fee = "gebührenfrei"
COUNTERS

[[offices]]
id = "ansturm"
name = "Ansturm"
address = "Rathausplatz 1, 59192 Bergkamen"
state = "NW"
slot_minutes = 10
min_lead_minutes = 0
open_on_sundays = true
[offices.hours]
mon = ["08:00-09:40"]
tue = ["08:00-09:40"]
wed = ["08:00-09:40"]
thu = ["08:00-09:40"]
fri = ["08:00-09:40"]
sat = ["08:00-09:40"]
sun = ["08:00-09:40"]
[[offices.categories]]
id = "alles"
name = "Alles"
featured = true
[[offices.concerns]]
id = "termin"
name = "Termin"
category = "alles"
duration_minutes = 10
required_documents = []
fee = "gebührenfrei"
[[offices.counters]]
id = "p1"
name = "Platz 1"

[[offices]]
id = "rennen"
name = "Rennen"
address = "Rathausplatz 1, 59192 Bergkamen"
state = "NW"
slot_minutes = 10
min_lead_minutes = 0
open_on_sundays = true
[offices.hours]
mon = ["20:00-21:00"]
tue = ["20:00-21:00"]
wed = ["20:00-21:00"]
thu = ["20:00-21:00"]
fri = ["20:00-21:00"]
sat = ["20:00-21:00"]
sun = ["20:00-21:00"]
[[offices.categories]]
id = "alles"
name = "Alles"
featured = true
[[offices.concerns]]
id = "termin"
name = "Termin"
category = "alles"
duration_minutes = 10
required_documents = []
fee = "gebührenfrei"
[[offices.counters]]
id = "p1"
name = "Platz 1"
"#;

/// Counters of the "durchsatz" office.
const THROUGHPUT_COUNTERS: usize = 40;

pub struct Stack {
    pub replicas: Vec<Replica>,
    directory: PathBuf,
    keep: bool,
}

pub struct Replica {
    child: Child,
    /// The gateway, e.g. `http://127.0.0.1:41234`.
    pub base: String,
}

impl Stack {
    /// Starts `replicas` processes of `binary` in a scratch directory; with
    /// PostgreSQL `databases` (bookings, availability) they share them, else
    /// each has its SQLite files.
    pub async fn start(
        binary: &Path,
        databases: Option<(&str, &str)>,
        replicas: usize,
        keep: bool,
    ) -> anyhow::Result<Self> {
        let directory = std::env::temp_dir().join(format!("amtstermin-loadtest-{}", std::process::id()));
        std::fs::create_dir_all(&directory)?;
        let config = directory.join("offices.toml");
        let counters: String = (1..=THROUGHPUT_COUNTERS)
            .map(|n| format!("[[offices.counters]]\nid = \"p{n}\"\nname = \"Platz {n}\"\n"))
            .collect();
        std::fs::write(&config, OFFICES.replace("COUNTERS", &counters))?;
        let mut stack = Self {
            replicas: Vec::new(),
            directory,
            keep,
        };
        for index in 0..replicas {
            let home = stack.directory.join(format!("replica-{index}"));
            std::fs::create_dir_all(home.join("data"))?;
            let [http, availability, booking] = free_ports()?;
            let mut command = Command::new(binary);
            command
                .current_dir(&home)
                .args(["--http-listen", &format!("127.0.0.1:{http}")])
                .args(["--availability-listen", &format!("127.0.0.1:{availability}")])
                .args(["--booking-listen", &format!("127.0.0.1:{booking}")])
                .env("AMTSTERMIN_CONFIG", &config)
                .env("AMTSTERMIN_MAIL_TRANSPORT", "off")
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(home.join("log.txt"))?);
            if let Some((bookings, availability)) = databases {
                command
                    .env("AMTSTERMIN_DATABASE_URL", bookings)
                    .env("AMTSTERMIN_AVAILABILITY_DATABASE_URL", availability);
            }
            let child = command
                .spawn()
                .with_context(|| format!("cannot start {}", binary.display()))?;
            stack.replicas.push(Replica {
                child,
                base: format!("http://127.0.0.1:{http}"),
            });
        }
        for (index, replica) in stack.replicas.iter().enumerate() {
            if let Err(error) = replica.wait_ready().await {
                let log = std::fs::read_to_string(stack.directory.join(format!("replica-{index}/log.txt")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("{error}; its log ends:\n{}", tail.join("\n"));
            }
        }
        Ok(stack)
    }

    /// Resident memory of replica `index` in MiB (Linux).
    pub fn rss_mib(&self, index: usize) -> Option<f64> {
        let pid = self.replicas.get(index)?.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

impl Replica {
    /// Waits until the gateway answers slot queries (services ready and the
    /// projection caught up).
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/offices/vergleich/slots?concerns=beratung", self.base);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} did not become ready within two minutes", self.base)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
        if self.keep {
            eprintln!("kept {}", self.directory.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

fn free_ports() -> anyhow::Result<[u16; 3]> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    Ok([
        listeners[0].local_addr()?.port(),
        listeners[1].local_addr()?.port(),
        listeners[2].local_addr()?.port(),
    ])
}

/// The `amtstermin` binary: the one given, or the release build next to
/// this one (built first, so it is current).
pub fn binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        // The processes run in directories of their own.
        return path
            .canonicalize()
            .with_context(|| format!("no amtstermin binary at {}", path.display()));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "amtstermin"])
        .status()
        .context("cannot run cargo to build amtstermin")?;
    if !status.success() {
        bail!("building amtstermin failed");
    }
    let here = std::env::current_exe()?;
    let path = here.with_file_name("amtstermin");
    if !path.exists() {
        bail!("no amtstermin binary at {}; pass --binary", path.display());
    }
    Ok(path)
}
