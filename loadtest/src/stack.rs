//! The system under test: `amtstermin` all-in-one processes (gateway,
//! availability and booking service each), on SQLite or sharing one
//! PostgreSQL database as replicas, with the benchmark's own offices.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One office of the benchmark: the same hours every day of `days`, one
/// concern of `minutes` on a grid of as many, and `counters` counters.
struct Office {
    id: &'static str,
    days: &'static [&'static str],
    hours: &'static str,
    minutes: u32,
    counters: usize,
}

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// "vergleich" is the set-up of the comparison with Easy!Appointments (4
/// counters, one 15-minute concern); "durchsatz" has room for sustained
/// booking; "ansturm" has 10 places a day for the flash crowd; "rennen" has
/// one counter for the race.
const OFFICES: [Office; 4] = [
    Office {
        id: "vergleich",
        days: WEEKDAYS,
        hours: "08:00-18:00",
        minutes: 15,
        counters: 4,
    },
    Office {
        id: "durchsatz",
        days: EVERY_DAY,
        hours: "06:00-22:00",
        minutes: 5,
        counters: 40,
    },
    Office {
        id: "ansturm",
        days: EVERY_DAY,
        hours: "08:00-09:40",
        minutes: 10,
        counters: 1,
    },
    Office {
        id: "rennen",
        days: EVERY_DAY,
        hours: "20:00-21:00",
        minutes: 10,
        counters: 1,
    },
];

/// The concern every benchmark office offers, by office.
fn concern(office: &str) -> &'static str {
    match office {
        "vergleich" => "beratung",
        "durchsatz" => "kurz",
        _ => "termin",
    }
}

impl Office {
    fn toml(&self) -> String {
        let mut toml = format!(
            "[[offices]]\nid = \"{id}\"\nname = \"{id}\"\naddress = \"Rathausplatz 1, 59192 Bergkamen\"\n\
             state = \"NW\"\nslot_minutes = {minutes}\nmin_lead_minutes = 0\nopen_on_sundays = true\n\
             [offices.hours]\n",
            id = self.id,
            minutes = self.minutes
        );
        for day in self.days {
            toml.push_str(&format!("{day} = [\"{}\"]\n", self.hours));
        }
        toml.push_str(&format!(
            "[[offices.categories]]\nid = \"alles\"\nname = \"Alles\"\nfeatured = true\n\
             [[offices.concerns]]\nid = \"{concern}\"\nname = \"{concern}\"\ncategory = \"alles\"\n\
             duration_minutes = {minutes}\nrequired_documents = [\"Personalausweis\"]\nfee = \"gebührenfrei\"\n",
            concern = concern(self.id),
            minutes = self.minutes
        ));
        for n in 1..=self.counters {
            toml.push_str(&format!("[[offices.counters]]\nid = \"p{n}\"\nname = \"Platz {n}\"\n"));
        }
        toml
    }
}

/// The staff API token of the processes (the statistics are read with it).
pub const STAFF_TOKEN: &str = "loadtest-staff-token";

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
        let offices: Vec<String> = OFFICES.iter().map(Office::toml).collect();
        std::fs::write(&config, offices.join("\n"))?;
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
                .env("AMTSTERMIN_STAFF_API_TOKEN", STAFF_TOKEN)
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

    /// The SQLite file of the first replica's booking service.
    pub fn sqlite_bookings(&self) -> PathBuf {
        self.directory.join("replica-0/data/bookings.db")
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
