//! Command-line types (clap) only. Each command's module turns its `Args` into a typed config.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "reprise",
    version,
    about = "Record real user sessions against an HTTP API and replay them as load"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mock API + synthetic students recorded through the proxy + a 1,000-user replay.
    Demo(DemoArgs),
    /// Record traffic through a reverse proxy into a .trace.zst file.
    Record(RecordArgs),
    /// Describe a recording: sessions, endpoints, think times, node paths, integrity.
    Inspect(InspectArgs),
    /// Replay recorded sessions as load against a target.
    Replay(ReplayArgs),
    /// Re-render or merge summary.json files into HTML and CSV reports.
    Report(ReportArgs),
    /// Run the mock Educational Agent API, or drive synthetic students against a target.
    Mock(MockArgs),
}

/// Parses `250ms`, `1.5s`, `2m`, `1h 30m` (humantime), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!(
            "`{s}` is not a duration (expected e.g. 250ms, 1.5s, 2m)"
        ));
    }
    if let Some(num) = t.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()) {
        if num.is_finite() && num >= 0.0 {
            return Ok(Duration::from_secs_f64(num));
        }
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{s}` is not a duration ({e}; expected e.g. 250ms, 1.5s, 2m)"))
}

// ---------------------------------------------------------------- demo

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Virtual users in the replay.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    /// Time compression of the replay.
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// How long the replay runs.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Synthetic student sessions recorded before the replay.
    #[arg(long, default_value_t = 50)]
    pub sessions: u64,
    /// Where the report goes.
    #[arg(long, default_value = "reports/demo")]
    pub report: PathBuf,
}

// ---------------------------------------------------------------- record

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The API to forward to, e.g. http://127.0.0.1:8000 or https://api.example.com.
    #[arg(long)]
    pub upstream: String,
    /// Address the proxy listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Output file (default recordings/<UTC timestamp>.trace.zst).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// ---------------------------------------------------------------- inspect

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The recording to describe.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

// ---------------------------------------------------------------- replay

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recordings to replay (.trace.zst); sessions of all files are replayed together.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Base URL of the system under test, e.g. http://127.0.0.1:8000 or https://api.example.com.
    #[arg(long)]
    pub target: String,
    /// Closed workload: this many virtual users, each replaying sessions back to back.
    #[arg(long, conflicts_with = "multiply")]
    pub users: Option<u64>,
    /// Closed workload: users started per second (default: all within one second).
    #[arg(long, requires = "users")]
    pub spawn_rate: Option<f64>,
    /// Open workload: the recorded session arrivals K times over (default when --users is
    /// not given: 1, the recording as it happened).
    #[arg(long)]
    pub multiply: Option<u64>,
    /// Time compression: think times (and open-workload arrivals) are divided by it.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// think: send at live completion of the dependency + gap/speed; schedule: at session
    /// start + recorded offset/speed (latency also from the intended send).
    #[arg(long, value_enum, default_value_t = TimingArg::Think)]
    pub timing: TimingArg,
    /// Stop the run after this long (e.g. 30s, 5m). Without it, closed users replay the
    /// recording once between them and open runs end when every arrival finished.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Per-request timeout (connect + response to its last byte).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Seed of the session order of closed users.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Header added to every request, replacing a recorded one of the same name ('K: V');
    /// repeatable. Use it for credentials, which recordings hold redacted.
    #[arg(long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// Report directory (default reports/<UTC timestamp>).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Run only shard i of n (0-based): users (or arrivals) whose number is i modulo n.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimingArg {
    Think,
    Schedule,
}

// ---------------------------------------------------------------- report

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// summary.json files; several are merged.
    #[arg(required = true)]
    pub summaries: Vec<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// ---------------------------------------------------------------- mock

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MockArgs {
    #[command(subcommand)]
    pub command: Option<MockCommand>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
}

#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Drive synthetic students (the seed's behaviour) against a target.
    Students(StudentsArgs),
}

#[derive(Debug, Args)]
pub struct StudentsArgs {
    /// Base URL of the API (or of a recording proxy in front of it).
    #[arg(long)]
    pub target: String,
    /// Sessions to run in all.
    #[arg(long, default_value_t = 20)]
    pub sessions: u64,
    /// Seed: the same seed gives the same students.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
