//! `reprise replay`: recordings → plan → run against the target → summary.json + table.

use super::Exit;
use crate::cli::{ReplayArgs, TimingArg};
use crate::metrics::summary::RunInfo;
use crate::metrics::Summary;
use crate::replay::{self, console, limits, Config, NoMeasure, Plan, Speed, Timing, Workload};
use crate::trace;
use anyhow::{bail, Context};
use http::{HeaderName, HeaderValue};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub fn run(args: ReplayArgs) -> anyhow::Result<Exit> {
    let config = config(&args)?;
    let plan = Arc::new(load_plan(&args.files)?);
    eprintln!(
        "replaying {} sessions ({} exchanges, {} endpoints) against {}",
        plan.sessions.len(),
        plan.exchanges,
        plan.routes.len(),
        config.target
    );
    let report = args.report.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    let cancel = CancellationToken::new();
    on_ctrl_c(cancel.clone());
    let recordings = args.files.iter().map(|f| f.display().to_string()).collect();
    execute(plan, &config, &report, recordings, cancel)
}

/// Runs a plan, prints progress and the table, writes `<report>/summary.json`.
pub fn execute(
    plan: Arc<Plan>,
    config: &Config,
    report: &Path,
    recordings: Vec<String>,
    cancel: CancellationToken,
) -> anyhow::Result<Exit> {
    let info = RunInfo {
        name: report
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        recordings,
        ..Default::default()
    };
    check_open_files(config)?;
    let summary = match replay::run(
        plan,
        config,
        Arc::new(NoMeasure),
        cancel,
        |p| eprintln!("{}", console::live_line(p)),
        info,
    ) {
        Ok(s) => s,
        Err(e @ replay::Error::Unreachable { .. }) => {
            eprintln!("error: {e}");
            return Ok(Exit::Aborted);
        }
        Err(e) => return Err(e.into()),
    };
    let path = write_summary(&summary, report)?;
    println!("\n{}", console::table(&summary));
    println!("summary: {}", path.display());
    Ok(if summary.run.aborted {
        Exit::Aborted
    } else {
        Exit::Ok
    })
}

/// Raises the open-files limit to the hard limit and, for closed users, refuses to start a
/// run whose connections cannot all be open at once (the error names the number needed and
/// how to raise the limit) instead of failing connects mid-run.
fn check_open_files(config: &Config) -> anyhow::Result<()> {
    let limit = limits::raise_open_files()?;
    if let Workload::Closed { users, .. } = config.workload {
        let here = match config.shard {
            Some(s) => users.div_ceil(s.count.max(1)),
            None => users,
        };
        limits::check_open_files(here, limit)?;
    }
    Ok(())
}

/// Writes `dir/summary.json` (creating `dir`) and returns its path.
pub fn write_summary(summary: &Summary, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("summary.json");
    let json = serde_json::to_vec_pretty(summary)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads every recording into one plan, streaming exchange by exchange.
pub fn load_plan(files: &[PathBuf]) -> anyhow::Result<Plan> {
    let mut builder = replay::plan::Builder::new();
    for (i, f) in files.iter().enumerate() {
        let mut reader = trace::Reader::open(f)?;
        for ex in reader.by_ref() {
            builder.add(i as u32, ex?);
        }
        let integrity = reader.integrity();
        if let Some(t) = integrity.torn {
            eprintln!(
                "warning: {}: damaged after byte {}; replaying the {} exchanges before it",
                f.display(),
                t.offset,
                t.recovered
            );
        }
    }
    let plan = builder.finish();
    if plan.sessions.is_empty() {
        bail!(
            "{}: no exchanges to replay",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(plan)
}

fn config(args: &ReplayArgs) -> anyhow::Result<Config> {
    let workload = match (args.users, args.multiply) {
        (Some(0), _) => bail!("--users must be at least 1"),
        (Some(users), _) => Workload::Closed {
            users,
            spawn_rate: Some(args.spawn_rate.unwrap_or(users as f64)),
        },
        (None, Some(0)) => bail!("--multiply must be at least 1"),
        (None, m) => Workload::Open {
            multiply: m.unwrap_or(1),
        },
    };
    if args.spawn_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--spawn-rate must be a positive number of users per second");
    }
    let mut c = Config::new(&args.target, workload);
    c.speed = Speed::new(args.speed).context("--speed must be a positive number")?;
    c.timing = match args.timing {
        TimingArg::Think => Timing::Think,
        TimingArg::Schedule => Timing::Schedule,
    };
    c.duration = args.duration;
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    c.timeout = args.timeout;
    c.seed = args.seed;
    c.headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<_>>()?;
    c.shard = match &args.shard {
        Some(s) => Some(s.parse().map_err(anyhow::Error::msg)?),
        None => None,
    };
    c.workers = args.workers;
    Ok(c)
}

fn parse_header(h: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (k, v) = h
        .split_once(':')
        .with_context(|| format!("--header `{h}`: expected 'Name: value'"))?;
    Ok((
        HeaderName::from_bytes(k.trim().as_bytes())
            .with_context(|| format!("--header `{h}`: bad name"))?,
        HeaderValue::from_str(v.trim()).with_context(|| format!("--header `{h}`: bad value"))?,
    ))
}

/// First Ctrl-C cancels `cancel` (the run drains and reports); a second exits at once.
pub fn on_ctrl_c(cancel: CancellationToken) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("\nstopping: draining in-flight requests (Ctrl-C again to quit now)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("aborted");
                std::process::exit(Exit::Aborted as i32);
            }
        });
    });
}
