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

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// Find the largest load that meets every SLO, and what breaks first.
    Capacity(CapacityArgs),
    /// Re-render or merge summary.json files into HTML and CSV reports.
    Report(ReportArgs),
    /// Serve a start page (recordings, target, profile, load) that starts a run and shows
    /// it live.
    Ui(UiArgs),
    /// Run the mock Educational Agent API, or drive synthetic students against a target.
    Mock(MockArgs),
    /// Turn a HAR file (DevTools, mitmproxy, Playwright, Charles…) into a .trace.zst recording.
    ImportHar(ImportHarArgs),
    /// Write a recording as a HAR 1.2 file for DevTools and other HAR viewers.
    ExportHar(ExportHarArgs),
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
    /// Show the replay on the live page (as `replay --web`) [default address:
    /// 127.0.0.1:8089].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::web::DEFAULT_ADDR)]
    pub web: Option<String>,
    /// With --web: keep the final page up this long after the replay (e.g. 5m).
    #[arg(long, value_parser = parse_duration, default_value = "0s", requires = "web")]
    pub web_linger: Duration,
}

// ---------------------------------------------------------------- ui

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Address of the start page and the live page (a non-loopback address prints a
    /// control link and a read-only link, each with its own token).
    #[arg(default_value = crate::web::DEFAULT_ADDR)]
    pub addr: String,
    /// Directory of the recordings offered (*.trace.zst).
    #[arg(long, default_value = "recordings")]
    pub recordings: PathBuf,
    /// Directory of the profiles offered (*.toml).
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    /// Where each run's report directory goes (reports/<UTC timestamp>).
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
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
    /// Bytes of each request/response body kept in the recording (e.g. 1MiB, 64KiB, 4096);
    /// the body still passes through whole.
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    pub body_cap: usize,
    /// Also redact this header (repeatable). Authorization, Cookie, Set-Cookie,
    /// Proxy-Authorization, X-Api-Key and names with auth, token, secret, passw, api-key,
    /// credential or signature are redacted by default.
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,
    /// Redact the value at this JSON pointer in request and response bodies (repeatable),
    /// e.g. /password.
    #[arg(long = "redact-json", value_name = "POINTER")]
    pub redact_json: Vec<String>,
    /// Redact this JSON or form key at any depth (repeatable), e.g. student_pin.
    #[arg(long = "redact-key", value_name = "KEY")]
    pub redact_keys: Vec<String>,
    /// Redact this query parameter (repeatable), e.g. ticket.
    #[arg(long = "redact-query", value_name = "KEY")]
    pub redact_query: Vec<String>,
    /// Turn the default redaction patterns off (explicit --redact-* flags still apply).
    #[arg(long)]
    pub no_redact: bool,
    /// How long in-flight exchanges may take to finish after Ctrl-C / SIGTERM.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Longest wait for the upstream's response head before answering 504.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,
    /// PEM file of CA certificates to trust for an https:// upstream, besides the usual
    /// public roots (e.g. a staging API behind a private CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// JSON pointer in a response body that issues a session id (repeatable; default
    /// /thread_id).
    #[arg(long = "session-response", value_name = "POINTER")]
    pub session_response: Vec<String>,
    /// JSON pointer in a request body that carries a session id (repeatable; default
    /// /thread_id).
    #[arg(long = "session-request", value_name = "POINTER")]
    pub session_request: Vec<String>,
    /// Path pattern whose `{name}` segment carries a session id (repeatable; default
    /// /session/status/{thread_id}).
    #[arg(long = "session-path", value_name = "PATTERN")]
    pub session_path: Vec<String>,
    /// Seconds between live status lines on stderr (0 turns them off).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub status_every: Duration,
}

/// Parses a byte count: `4096`, `64KiB`, `64k`, `1MiB`, `1m`, `1GiB`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count (expected e.g. 4096, 64KiB, 1MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit (expected B, KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

// ---------------------------------------------------------------- inspect

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The recording to describe.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only scan for values that look like credentials left in the trace (exit 1 if any).
    #[arg(long)]
    pub secrets: bool,
    /// JSON pointer to the conversation node in response bodies (for node paths).
    #[arg(long, default_value = "/current_node", value_name = "POINTER")]
    pub node_pointer: String,
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
    #[arg(long, conflicts_with_all = ["multiply", "rate"])]
    pub users: Option<u64>,
    /// Closed workload: users started per second (default: all within one second).
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Open workload: the recorded session arrivals K times over (default when --users is
    /// not given: 1, the recording as it happened).
    #[arg(long, conflicts_with = "rate")]
    pub multiply: Option<u64>,
    /// Open workload at a rate: session arrivals per second, evenly spaced ('5/s', '0.5/s'
    /// or '5'), the recorded sessions in recorded order, cycled when used up. Without
    /// --duration every recorded session arrives once.
    #[arg(long, value_name = "R/s", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Time compression: think times (and open-workload arrivals) are divided by it
    /// [default: 1].
    #[arg(long)]
    pub speed: Option<f64>,
    /// think: send at live completion of the dependency + gap/speed; schedule: at session
    /// start + recorded offset/speed (latency also from the intended send) [default: think].
    #[arg(long, value_enum)]
    pub timing: Option<crate::timing::Timing>,
    /// Load stages, TARGET:[RAMP+]HOLD joined by commas: '10:1m,100:30s+2m' holds 10 users
    /// 1 min, then ramps to 100 over 30 s and holds 2 min; `xK` targets are multipliers of
    /// an open workload, `R/s` targets its session arrivals per second ('2/s:10s,5/s:5s+20s').
    /// Replaces --users / --multiply / --rate and the profile's [[stages]].
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["users", "multiply", "rate"])]
    pub stages: Option<String>,
    /// Stop the run after this long (e.g. 30s, 5m). Without it, closed users replay the
    /// recording once between them and open runs end when every arrival finished.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Per-request timeout (connect + response to its last byte) [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// PEM file of CA certificates to trust for an https:// target, besides the usual
    /// public roots (e.g. a staging API behind a private CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Seed of the session order of closed users [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Closed users play sessions back to back (a seeded round robin over all sessions)
    /// instead of replaying recorded clients whole, with the recorded pause between a
    /// client's sessions.
    #[arg(long)]
    pub back_to_back: bool,
    /// Run the worker threads at real-time priority (SCHED_FIFO 10), so think times hold
    /// on a busy machine; needs root, CAP_SYS_NICE or an rtprio limit (exit 2 if refused).
    #[arg(long)]
    pub realtime: bool,
    /// An open replay holds the whole plan instead of streaming its sessions from the
    /// recording just ahead of their arrival.
    #[arg(long)]
    pub whole_plan: bool,
    /// Header added to every request, replacing a recorded one of the same name ('K: V');
    /// repeatable. Use it for credentials, which recordings hold redacted.
    #[arg(long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// Report directory (default reports/<UTC timestamp>).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Profile (profiles/*.toml): workload, pacing, timeout, headers, correlations and
    /// thresholds; flags given here override it.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Threshold checked at the end, e.g. 'p95 < 5s', 'error_rate < 1%', 'stage[2].p95 < 5s'
    /// or "scrape['db_pool_in_use / db_pool_max'].max < 0.8" (repeatable; added to the
    /// profile's). A failed one makes the exit code 1.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Read the target's Prometheus metrics during the run, e.g.
    /// http://127.0.0.1:8000/metrics@1s (repeatable; default interval 1s; http/https only).
    #[arg(long = "scrape", value_name = "URL[@INTERVAL]")]
    pub scrape: Vec<String>,
    /// Run only shard i of n (0-based): users (or arrivals) whose number is i modulo n.
    /// `auto/N` (or `auto`) takes i from the engine: JOB_COMPLETION_INDEX (Kubernetes
    /// Indexed Job) or SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN (Slurm array job).
    #[arg(long, value_name = "i/n|auto[/N]")]
    pub shard: Option<String>,
    /// Wait until this instant (RFC 3339, e.g. 2026-12-01T22:00:00Z, or +DURATION from
    /// now) before starting, with a countdown on stderr; the measured start skew goes into
    /// summary.json. Give every shard of a run the same instant.
    #[arg(long, value_name = "RFC3339|+DURATION")]
    pub start_at: Option<String>,
    /// How long past --start-at a run may still start (late); past that it is refused
    /// (exit 2).
    #[arg(long, default_value = "5s", value_parser = parse_duration, requires = "start_at")]
    pub start_tolerance: Duration,
    /// Worker threads (default: one per core, one fewer when the target is on this machine;
    /// at most 4 per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Keep the live exchanges of the first N users in REPORT/sample.trace.zst (for
    /// `export-har`, `inspect`); at most 20,000 exchanges per worker.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_sample: u64,
    /// When a live turn names another node than the recording: continue (send the
    /// recorded requests on), resync (take the next answers from the recording's answer
    /// bank for the live node) or end (end the session) [default: resync when the
    /// recording names nodes, else continue].
    #[arg(long, value_parser = ["continue", "resync", "end"])]
    pub on_divergence: Option<String>,
    /// Stop the run early when this holds over a window, e.g. 'error_rate > 50% for 30s'
    /// (exit 1; error_rate, success_rate, failures, requests or rps).
    #[arg(long, value_name = "EXPR")]
    pub abort_on: Option<String>,
    /// Serve the live page (charts, endpoint table, controls, downloads, /metrics) while
    /// the run goes [default address: 127.0.0.1:8089]. A non-loopback address prints a
    /// control link and a read-only link, each with its own token.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::web::DEFAULT_ADDR)]
    pub web: Option<String>,
    /// With --web: keep the final page up this long after the run ended (e.g. 5m).
    #[arg(long, value_parser = parse_duration, default_value = "0s", requires = "web")]
    pub web_linger: Duration,
}

// ---------------------------------------------------------------- capacity

/// Parses a share: `10%` or `0.1`, strictly between 0 and 1 (exclusive of 0).
/// Session arrivals per second: `5/s`, `0.5/s` or a bare number, finite and > 0.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    crate::profile::stages::rate(s).ok_or_else(|| {
        format!("`{s}` is not a rate (expected sessions per second > 0, e.g. 5/s or 0.5/s)")
    })
}

pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a share (expected e.g. 10% or 0.1, more than 0 and at most 100%)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Recordings to replay (.trace.zst).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Base URL of the system under test, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    pub target: String,
    /// A service-level objective every level must meet, in the threshold language, e.g.
    /// 'p95 < 5s' or 'error_rate < 1%' (repeatable; at least one).
    #[arg(long = "slo", value_name = "EXPR", required = true)]
    pub slos: Vec<String>,
    /// Open workload: levels are multipliers of the recorded session arrivals (sessions/s
    /// shown beside them) instead of closed users.
    #[arg(long)]
    pub open: bool,
    /// Open workload at a rate: levels are session arrivals per second (whole numbers,
    /// evenly spaced; the recorded sessions cycled) instead of closed users.
    #[arg(long, conflicts_with = "open")]
    pub rate: bool,
    /// The first (lightest) level [default: 10 users, ×1 with --open, 1/s with --rate].
    #[arg(long)]
    pub start: Option<u64>,
    /// Each level is this many times the last until one breaks.
    #[arg(long, default_value_t = 2.0)]
    pub growth: f64,
    /// Bisect until the breaking level is within this share of the capacity (e.g. 10%).
    #[arg(long, default_value = "10%", value_parser = parse_percent)]
    pub precision: f64,
    /// Warm-up of each level, not measured (rounded up to whole seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured hold of each level.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Longer hold that confirms the winning level.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub confirm: Duration,
    /// Highest level of a closed search (users).
    #[arg(long, default_value_t = 10_000)]
    pub max_users: u64,
    /// Highest level of an open search (multiplier).
    #[arg(long, default_value_t = 1_000)]
    pub max_multiply: u64,
    /// Highest level of a rate search (sessions per second).
    #[arg(long, default_value_t = 1_000)]
    pub max_rate: u64,
    /// The whole search stops before a level that would end later than this.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub max_duration: Duration,
    /// A level whose replayer lag p99 (median second of the hold) exceeds this is
    /// generator-bound.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub lag_bound: Duration,
    /// A level whose process CPU reaches this share of the workers' cores is
    /// generator-bound.
    #[arg(long, default_value = "90%", value_parser = parse_percent)]
    pub cpu_bound: f64,
    /// Closed levels: users started per second (default: a level's users within a second).
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Time compression of think times (and open arrivals).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// think or schedule, as for replay.
    #[arg(long, value_enum, default_value = "think")]
    pub timing: crate::timing::Timing,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Seed of the session order of closed users.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Header added to every request ('K: V'; repeatable).
    #[arg(long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// PEM file of CA certificates to trust for an https:// target.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Worker threads (default: one per core, one fewer when the target is on this machine).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Read the target's Prometheus metrics during each level (URL[@INTERVAL], repeatable;
    /// http/https only); gauges with a limit and queues go into the attribution.
    #[arg(long = "scrape", value_name = "URL[@INTERVAL]")]
    pub scrape: Vec<String>,
    /// Output directory for capacity.json and capacity.html (default
    /// reports/capacity-<UTC timestamp>).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

// ---------------------------------------------------------------- report

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// summary.json files, or report directories holding one; several are merged exactly.
    #[arg(required = true)]
    pub summaries: Vec<PathBuf>,
    /// Output directory (default: the summary's own directory; `reports/merged` for several).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A threshold to evaluate, e.g. "p95 < 5s" (repeatable). Without --threshold and
    /// --profile, the thresholds already in the summaries are re-evaluated.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// A profile whose thresholds are evaluated (with any --threshold).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Judge a merge with missing shards on the shards present (by default it is
    /// incomplete: exit 3, never "passed").
    #[arg(long)]
    pub allow_missing: bool,
}

// ---------------------------------------------------------------- mock

/// Parses a share (probability) in `[0, 1]`, e.g. `0.1`.
pub fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{s}` is not a share (expected a number from 0 to 1, e.g. 0.1)"
        )),
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MockArgs {
    #[command(subcommand)]
    pub command: Option<MockCommand>,
    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Fixed LLM latency per agent turn (e.g. 200ms). Default: none.
    #[arg(long, value_parser = parse_duration, conflicts_with = "latency_median")]
    pub latency: Option<Duration>,
    /// Median of a log-normal LLM latency per agent turn (e.g. 800ms).
    #[arg(long, value_parser = parse_duration)]
    pub latency_median: Option<Duration>,
    /// Spread (sigma of the underlying normal) of the log-normal latency.
    #[arg(long, default_value_t = 0.5, requires = "latency_median")]
    pub latency_spread: f64,
    /// Stream variant: delay before the first event (added to the LLM latency).
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub stream_first: Duration,
    /// Stream variant: gap between events.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub stream_gap: Duration,
    /// Stream variant: token events before `event: done`.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub stream_events: u32,
    /// Close keep-alive connections idle this long (uvicorn: 5s). Default: never.
    #[arg(long, value_parser = parse_duration)]
    pub keep_alive_timeout: Option<Duration>,
    /// Seed of the latency draws and misbehaviour decisions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of agent turns answering with a node off the usual path.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub divergence: f64,
    /// Diverge only on turns whose usual node is this one (APK, CI, GE, AR, TC, RLC, complete).
    #[arg(long)]
    pub divergence_node: Option<crate::mock::Node>,
    /// Share of continue/stream/status responses naming another session's thread_id.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub cross_talk: f64,
    /// Share of responses with a malformed Server-Timing header.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub bad_server_timing: f64,
    /// Share of session requests answered 500 (state untouched).
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub error_rate: f64,
    /// Share of AR answers graded the other way (AR loops appear or vanish: the session's
    /// state really changes).
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub grading_noise: f64,
    /// Append every request as a JSON line to this file (flushed every second).
    #[arg(long)]
    pub request_log: Option<PathBuf>,
    /// Simulated database: a pool of N connections (checkpoints queue for one). Default: none.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool: Option<u32>,
    /// Time each checkpoint (load or save) holds a pool connection.
    #[arg(long, default_value = "5ms", value_parser = parse_duration, requires = "db_pool")]
    pub db_service: Duration,
    /// At most N LLM calls at once (the rest queue). Default: unlimited.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub llm_limit: Option<u32>,
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
    /// Sessions running at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Shortest think time before a request.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub think_min: Duration,
    /// Longest think time before a request.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub think_max: Duration,
    /// Share of turns sent to /session/continue/stream instead of /session/continue.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub stream_share: f64,
    /// Bearer token sent in `Authorization` (a recorder must redact it).
    #[arg(long, default_value = "synthetic-student-token")]
    pub token: String,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

// ---------------------------------------------------------------- import-har / export-har

#[derive(Debug, Args)]
pub struct ImportHarArgs {
    /// The HAR file (.har, or gzip / zstd compressed: .har.gz, .zhar).
    pub file: PathBuf,
    /// The recording to create (refused if it exists), e.g. recordings/x.trace.zst.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also import browser noise: static assets, CONNECT, WebSocket upgrades, status 0.
    #[arg(long)]
    pub keep_all: bool,
    /// JSON pointer in a response body that issues a session id (repeatable; default
    /// /thread_id).
    #[arg(long = "session-response", value_name = "POINTER")]
    pub session_response: Vec<String>,
    /// JSON pointer in a request body that carries a session id (repeatable; default
    /// /thread_id).
    #[arg(long = "session-request", value_name = "POINTER")]
    pub session_request: Vec<String>,
    /// Path pattern whose `{name}` segment carries a session id (repeatable; default
    /// /session/status/{thread_id}).
    #[arg(long = "session-path", value_name = "PATTERN")]
    pub session_path: Vec<String>,
    /// Also redact this header (repeatable), as `record` does.
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,
    /// Redact the value at this JSON pointer in request and response bodies (repeatable).
    #[arg(long = "redact-json", value_name = "POINTER")]
    pub redact_json: Vec<String>,
    /// Turn the default header redaction off (explicit --redact-* flags still apply).
    #[arg(long)]
    pub no_redact: bool,
}

#[derive(Debug, Args)]
pub struct ExportHarArgs {
    /// The recording (.trace.zst).
    pub trace: PathBuf,
    /// The HAR file to write (refused if it exists).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Origin of the exported URLs (default: the recording's upstream, else http://localhost).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}
