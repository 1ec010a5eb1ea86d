//! `reprise capacity`: the largest load that meets every SLO, level by level, and what
//! broke first.
//!
//! Everything the user typed is checked before the first request (SLOs, scrape URLs, the
//! bounds, the report directory, the recording): bad input is exit 2 and the target sees
//! nothing. Then the search runs ([`capacity::drive`]): progress on stderr each second, a
//! line per level, `capacity.json` rewritten after every level (a stopped search leaves its
//! partial result), and at the end the headline, the table of levels and `capacity.html`
//! on stdout. Exit 0 a capacity (or a lower bound) was found, 1 no level met the SLOs,
//! 3 aborted (Ctrl-C / SIGTERM, or a target unreachable at the start).

use super::{out, signals, Exit};
use crate::capacity::drive::{self, Budget};
use crate::capacity::level::Runner;
use crate::capacity::{self, search, Level, Report};
use crate::cli::CapacityArgs;
use crate::metrics::conversation;
use crate::replay::{self, console, Config, Speed, Workload};
use crate::report::{self, format, Thresholds};
use anyhow::{bail, Context};
use http::{HeaderName, HeaderValue};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn run(args: CapacityArgs) -> anyhow::Result<Exit> {
    // every check before any load
    let thresholds = Thresholds::parse_all(&args.slos).map_err(|e| anyhow::anyhow!("--slo {e}"))?;
    let scrape = args
        .scrape
        .iter()
        .map(|a| crate::scrape::Target::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let closed = !args.open && !args.rate;
    let start = args.start.unwrap_or(if closed { 10 } else { 1 });
    let (max, max_flag) = if closed {
        (args.max_users, "--max-users")
    } else if args.rate {
        (args.max_rate, "--max-rate")
    } else {
        (args.max_multiply, "--max-multiply")
    };
    if start == 0 {
        bail!("--start must be at least 1");
    }
    if max < start {
        bail!("{max_flag} {max} is below the first level (--start {start}): nothing to search");
    }
    if !(args.growth.is_finite() && args.growth > 1.0) {
        bail!(
            "--growth {}: must be a number above 1 (e.g. 2)",
            args.growth
        );
    }
    if args.hold.is_zero() || args.confirm.is_zero() {
        bail!("--hold and --confirm must be more than 0");
    }
    if args.spawn_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--spawn-rate must be a positive number of users per second");
    }
    let config = config(&args)?;
    let dir = args.report.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "capacity-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    report::check_writable(&dir)?;
    let mut plan = super::replay::load_plan(&args.files, &[])?;
    super::replay::follow(
        &mut plan,
        None,
        &conversation::Config::default(),
        config.seed,
    )?;
    let plan = Arc::new(plan);
    let warmup_secs = args.warmup.as_secs_f64().ceil();
    let longest = warmup_secs + args.hold.max(args.confirm).as_secs_f64();
    if args.open {
        let first = plan.sessions.first().map(|s| s.start).unwrap_or_default();
        let span = config
            .speed
            .scale(plan.span.saturating_sub(first))
            .as_secs_f64();
        if span < longest {
            bail!(
                "{}: the recorded arrivals span {:.1} s at --speed {}, shorter than a level \
                 (--warmup + --confirm = {longest:.0} s): an open level would run out of \
                 arrivals; lower --speed, shorten the holds, or use the closed workload",
                names(&args.files),
                span,
                args.speed
            );
        }
    }
    if let Workload::Closed { .. } = config.workload {
        let limit = replay::limits::raise_open_files()?;
        replay::limits::check_open_files(max, limit)?;
    }
    let workers = match args.workers {
        0 => default_workers(&config.target),
        n => n,
    };

    let stop = signals::Stop::default();
    signals::watch(stop.clone());
    let mut config = config;
    config.abort = stop.abort.clone();
    let runner = Runner {
        plan: plan.clone(),
        base: config,
        closed,
        rate: args.rate,
        spawn_rate: args.spawn_rate,
        warmup: args.warmup,
        thresholds,
        scrape,
        lag_bound_ms: args.lag_bound.as_secs_f64() * 1000.0,
        cpu_bound: args.cpu_bound,
        workers,
    };
    let settings = capacity::Settings {
        start,
        growth: args.growth,
        precision: args.precision,
        max,
        warmup_s: warmup_secs,
        hold_s: args.hold.as_secs_f64(),
        confirm_s: args.confirm.as_secs_f64(),
        lag_bound_ms: runner.lag_bound_ms,
        cpu_bound: args.cpu_bound,
        workers,
        speed: args.speed,
        max_duration_s: args.max_duration.as_secs_f64(),
    };
    eprintln!(
        "capacity search: {} sessions ({} exchanges) against {}; {} from {} (×{} growth, ±{:.0} %), \
         warm-up {} + hold {} per level, confirm {}",
        plan.sessions.len(),
        plan.exchanges,
        runner.base.target,
        if closed {
            "users"
        } else if args.rate {
            "sessions/s"
        } else {
            "multiplier"
        },
        runner.label(start),
        args.growth,
        args.precision * 100.0,
        humantime::format_duration(std::time::Duration::from_secs(warmup_secs as u64)),
        humantime::format_duration(args.hold),
        humantime::format_duration(args.confirm),
    );
    let started_at = chrono::Utc::now();
    let mut report = Report {
        schema: capacity::SCHEMA.into(),
        version: capacity::SCHEMA_VERSION,
        tool: format!("reprise {}", env!("CARGO_PKG_VERSION")),
        target: runner.base.target.clone(),
        recordings: args.files.iter().map(|f| f.display().to_string()).collect(),
        workload: if closed {
            "closed"
        } else if args.rate {
            "rate"
        } else {
            "open"
        }
        .into(),
        slos: args.slos.clone(),
        settings,
        started_at: rfc3339(started_at),
        ended_at: String::new(),
        duration_s: 0.0,
        levels: Vec::new(),
        result: capacity::Outcome::default(),
        headline: None,
        attribution: None,
    };
    let t0 = std::time::Instant::now();
    let mut partial: Vec<Level> = Vec::new();
    let found = drive::run(
        &runner,
        search::Settings {
            start,
            growth: args.growth,
            precision: args.precision,
            max,
        },
        Budget {
            hold: args.hold,
            confirm: args.confirm,
            max_duration: args.max_duration,
        },
        stop.drain.clone(),
        |level, p, holding| {
            out::stderr_line(&format!(
                "level {} {}{} {}: {}",
                level.index,
                level.label,
                if level.confirm { " (confirm)" } else { "" },
                if holding { "hold  " } else { "warmup" },
                console::live_line(p)
            ));
        },
        |level| {
            out::stderr_line(&format!("level {}: {}", level.index, row_text(level)));
            partial.push(level.clone());
            report.levels = partial.clone();
            report.duration_s = t0.elapsed().as_secs_f64();
            // a search stopped by force still leaves what it measured
            let _ = write_json(&report, &dir);
        },
    );
    let found = match found {
        Ok(f) => f,
        Err(e @ replay::Error::Unreachable { .. }) => {
            eprintln!("error: {e}");
            report.result = capacity::Outcome {
                kind: "aborted".into(),
                text: e.to_string(),
                ..Default::default()
            };
            write_json(&report, &dir)?;
            return Ok(Exit::Aborted);
        }
        Err(e) => return Err(e.into()),
    };
    report.levels = found.levels;
    report.result = found.outcome;
    report.headline = found.headline;
    report.attribution = found.attribution;
    report.ended_at = rfc3339(chrono::Utc::now());
    report.duration_s = t0.elapsed().as_secs_f64();
    let mut text = String::from("\n");
    if let Some(h) = &report.headline {
        let _ = writeln!(text, "{h}\n");
    }
    text.push_str(&table(&report.levels));
    let _ = writeln!(text, "\n{}", report.result.text);
    let written = write_json(&report, &dir).and_then(|json| {
        let html = dir.join("capacity.html");
        std::fs::write(&html, capacity::html::render(&report))
            .with_context(|| format!("{}: cannot write", html.display()))?;
        Ok((json, html))
    });
    if let Ok((json, html)) = &written {
        let _ = writeln!(text, "report: {} · {}", json.display(), html.display());
    }
    out::stdout(&text);
    written?;
    Ok(match report.result.exit_code() {
        0 => Exit::Ok,
        3 => Exit::Aborted,
        _ => Exit::ThresholdFailed,
    })
}

/// The level's figures in one line (stderr, as each level ends).
fn row_text(l: &Level) -> String {
    let mut s = format!(
        "{}{} — {} | {} req/s | p50 {} p95 {} p99 {} | errors {} | lag p99 {} | cpu {:.2}",
        l.label,
        if l.confirm { " (confirm)" } else { "" },
        l.verdict.replace('_', "-"),
        capacity::rps(l.rps),
        format::ms(l.latency.p50_ms),
        format::ms(l.latency.p95_ms),
        format::ms(l.latency.p99_ms),
        format::pct(l.error_rate),
        format::ms(l.lag_p99_ms),
        l.cpu_cores
    );
    if let Some(g) = &l.generator {
        let _ = write!(s, " ({g})");
    } else if let Some(b) = l.broke() {
        let _ = write!(s, " ({b})");
    }
    s
}

/// The table of levels, in the order run.
pub fn table(levels: &[Level]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:>3}  {:<28} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>5}  verdict",
        "#", "load", "hold", "req/s", "p50", "p95", "p99", "errors", "lag p99", "cpu"
    );
    for l in levels {
        let why = match (&l.generator, l.broke()) {
            (Some(g), _) => format!(" ({g})"),
            (None, Some(b)) if l.verdict == "fail" => format!(" ({b})"),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "{:>3}  {:<28} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>5.2}  {}{}",
            l.index,
            format!("{}{}", l.label, if l.confirm { " (confirm)" } else { "" }),
            format::ms(l.hold_s * 1000.0),
            capacity::rps(l.rps),
            format::ms(l.latency.p50_ms),
            format::ms(l.latency.p95_ms),
            format::ms(l.latency.p99_ms),
            format::pct(l.error_rate),
            format::ms(l.lag_p99_ms),
            l.cpu_cores,
            l.verdict.replace('_', "-"),
            why
        );
    }
    t
}

fn write_json(r: &Report, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let path = dir.join("capacity.json");
    let tmp = dir.join(".capacity.json.tmp");
    let mut json = serde_json::to_vec_pretty(r)?;
    json.push(b'\n');
    std::fs::write(&tmp, json).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(path)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn names(files: &[PathBuf]) -> String {
    let n: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    n.join(", ")
}

/// The replay's default: one worker per core, one fewer when the target is on this machine
/// (as `replay::run` decides it; the CPU bound is a share of these workers' cores).
fn default_workers(target: &str) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let local = reqwest::Url::parse(target)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.trim_matches(['[', ']']).to_string();
            let port = u.port_or_known_default()?;
            let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .ok()?
                .collect();
            Some(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
        })
        .unwrap_or(false);
    if local {
        cores.saturating_sub(1).max(1)
    } else {
        cores.max(1)
    }
}

/// The typed config every level starts from (its workload and duration are set per level).
fn config(args: &CapacityArgs) -> anyhow::Result<Config> {
    let mut c = Config::new(
        &args.target,
        Workload::Closed {
            users: 1,
            spawn_rate: None,
        },
    );
    if args.open {
        c.workload = Workload::Open { multiply: 1 };
    }
    if args.rate {
        c.workload = Workload::Rate { per_s: 1.0 };
    }
    c.speed = Speed::new(args.speed).context("--speed must be a positive number")?;
    c.timing = args.timing;
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    c.timeout = args.timeout;
    c.seed = args.seed;
    c.headers = args
        .headers
        .iter()
        .map(|h| {
            let (k, v) = h
                .split_once(':')
                .with_context(|| format!("--header `{h}`: expected 'Name: value'"))?;
            Ok((
                HeaderName::from_bytes(k.trim().as_bytes())
                    .with_context(|| format!("--header `{h}`: bad name"))?,
                HeaderValue::from_str(v.trim())
                    .with_context(|| format!("--header `{h}`: bad value"))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let max = replay::workers::max();
    if args.workers > max {
        bail!(
            "--workers {}: at most {max} here (4 per core)",
            args.workers
        );
    }
    c.workers = args.workers;
    c.ca_cert = args.ca_cert.clone();
    Ok(c)
}
