//! `reprise demo`: the whole loop in about a minute, with nothing running beforehand.
//!
//! 1. the mock agent API, in-process;
//! 2. synthetic students (think time scaled to 0.6–1.8 s, a quarter of their turns on the
//!    SSE stream endpoint) recorded through the recording proxy into
//!    `<report>/demo.trace.zst`;
//! 3. a replay of that recording against a *fresh* mock (one that never issued the recorded
//!    `thread_id`s), `--users` × `--speed` for `--duration`;
//! 4. the table and threshold verdicts on the console, and the report directory
//!    (`summary.json`, `report.html`, Locust-style CSVs).

use super::Exit;
use crate::cli::DemoArgs;
use crate::mock;
use crate::record;
use crate::replay::{Config, Speed, Workload};
use crate::report::Thresholds;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the demo checks at the end (the seed's expectations, scaled to the mock).
const DEMO_THRESHOLDS: [&str; 4] = [
    "error_rate < 1%",
    "p95 < 5s",
    "sessions.completed > 0",
    "lag.p99 < 500ms",
];

/// LLM latency of the demo's mock: log-normal around 20 ms; its stream variant sends the
/// first event 50 ms after that, then one every 20 ms (so the console shows TTFT and gaps).
fn mock_config() -> mock::Config {
    mock::Config::default()
        .latency(mock::Latency::LogNormal {
            median: Duration::from_millis(20),
            spread: 0.5,
        })
        .stream(Duration::from_millis(50), Duration::from_millis(20), 5)
}

/// Share of the students' turns sent to the streaming endpoint.
const STREAM_SHARE: f64 = 0.25;

pub fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let speed = Speed::new(args.speed).context("--speed must be a positive number")?;
    if args.users == 0 || args.sessions == 0 {
        anyhow::bail!("--users and --sessions must be at least 1");
    }
    std::fs::create_dir_all(&args.report)
        .with_context(|| format!("creating {}", args.report.display()))?;
    let trace = args.report.join("demo.trace.zst");
    if trace.exists() {
        std::fs::remove_file(&trace)
            .with_context(|| format!("removing the previous {}", trace.display()))?;
    }
    let rt = super::runtime()?;
    let cancel = CancellationToken::new();
    let abort = super::replay::on_ctrl_c(cancel.clone());

    // 1–2: record synthetic students through the proxy
    let recorded = rt.block_on(async {
        let upstream = mock::Server::start("127.0.0.1:0".parse()?, mock_config())
            .await
            .context("starting the mock")?;
        let mut rc = record::Config::new(&upstream.url(), trace.clone())?;
        rc.listen = "127.0.0.1:0".parse()?;
        let proxy = record::Proxy::start(rc, cancel.child_token())
            .await
            .context("starting the recording proxy")?;
        eprintln!(
            "demo: mock at {}, recording {} synthetic students through {} …",
            upstream.url(),
            args.sessions,
            proxy.url()
        );
        let students = mock::students::Config::new(proxy.url())
            .sessions(args.sessions)
            .concurrency(args.sessions as usize)
            .think(Duration::from_millis(600), Duration::from_millis(1800))
            .stream_share(STREAM_SHARE);
        let report = mock::students::run_until(&students, cancel.clone())
            .await
            .context("running the synthetic students")?;
        let summary = proxy.finish().await.context("closing the recording")?;
        upstream.shutdown().await;
        eprintln!(
            "demo: recorded {} sessions, {} exchanges ({} requests by the students) into {}",
            summary.sessions,
            summary.exchanges,
            report.requests,
            summary.path.display()
        );
        anyhow::Ok(summary)
    })?;
    if cancel.is_cancelled() {
        eprintln!("demo: interrupted while recording");
        return Ok(Exit::Aborted);
    }

    // 3–4: replay against a fresh mock
    let mut plan = super::replay::load_plan(std::slice::from_ref(&recorded.path), &[])?;
    super::replay::follow(&mut plan, None, &Default::default(), 1)?;
    let plan = Arc::new(plan);
    let target = rt.block_on(mock::Server::start("127.0.0.1:0".parse()?, mock_config()))?;
    let mut config = Config::new(
        target.url(),
        Workload::Closed {
            users: args.users,
            spawn_rate: Some(args.users as f64 / 5.0),
        },
    );
    config.speed = speed;
    config.duration = Some(args.duration);
    eprintln!(
        "demo: replaying {} sessions with {} users × speed {} for {:?} against a fresh mock at {}",
        plan.sessions.len(),
        args.users,
        args.speed,
        args.duration,
        target.url()
    );
    let output = super::replay::Output {
        dir: args.report.clone(),
        recordings: vec![recorded.path.display().to_string()],
        thresholds: Thresholds::parse_all(&DEMO_THRESHOLDS)?,
        profile: None,
        start: None,
        web: args.web.clone().map(|addr| {
            super::replay::Web::Serve(crate::web::Options {
                addr,
                linger: args.web_linger,
            })
        }),
        ..Default::default()
    };
    config.abort = abort;
    let exit = super::replay::execute(plan, &config, &output, cancel)?;
    let counts = target.counters();
    println!(
        "mock: {} sessions issued, {} requests, {} naming an unknown thread_id",
        counts.sessions_started,
        counts.requests(),
        counts.unknown_thread_id
    );
    rt.block_on(target.shutdown());
    Ok(exit)
}
