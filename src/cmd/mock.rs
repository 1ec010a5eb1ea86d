//! `reprise mock` (the mock agent API) and `reprise mock students` (synthetic students).
//!
//! The server runs until Ctrl-C: the first drains in-flight requests and exits 0, a second
//! aborts at once (exit 3). With `--request-log FILE` every request is appended to FILE as
//! one JSON line (`seq`, `t_us` since the mock started, `endpoint`, `method`, `path`,
//! `thread_id` named, `issued` (the id a start created), `status`, `body_bytes`, `peer`),
//! flushed every second and at exit.

use super::Exit;
use crate::cli::{MockArgs, MockCommand, StudentsArgs};
use crate::mock::{self, students, Config, Latency, LogEntry, Misbehave, Share};
use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn run(args: MockArgs) -> anyhow::Result<Exit> {
    match args.command {
        Some(MockCommand::Students(s)) => run_students(s),
        None => run_server(args),
    }
}

/// The typed server config from the flags.
pub fn config(args: &MockArgs) -> Config {
    let latency = match (args.latency, args.latency_median) {
        (Some(d), _) => Latency::Fixed(d),
        (None, Some(median)) => Latency::LogNormal {
            median,
            spread: args.latency_spread,
        },
        (None, None) => Latency::None,
    };
    Config {
        latency,
        stream: mock::Stream {
            first: args.stream_first,
            gap: args.stream_gap,
            events: args.stream_events.max(1),
        },
        keep_alive_timeout: args.keep_alive_timeout,
        request_log: args.request_log.is_some(),
        seed: args.seed,
        misbehave: Misbehave {
            divergence: Share::new(args.divergence),
            divergence_node: args.divergence_node,
            cross_talk: Share::new(args.cross_talk),
            bad_server_timing: Share::new(args.bad_server_timing),
            error_rate: Share::new(args.error_rate),
            grading_noise: Share::new(args.grading_noise),
        },
        db: args.db_pool.map(|pool| mock::Db {
            pool,
            service: args.db_service,
        }),
        llm_limit: args.llm_limit,
    }
}

fn run_server(args: MockArgs) -> anyhow::Result<Exit> {
    let config = config(&args);
    let rt = super::runtime()?;
    rt.block_on(async move {
        let server = mock::Server::bind(args.listen, config.clone()).await?;
        let began = Instant::now();
        let mut log_file = match &args.request_log {
            Some(p) => Some(open_log(p)?),
            None => None,
        };
        println!("mock agent API listening on {}", server.url());
        println!("  {}", mock::banner::settings(&config));
        if let Some(m) = mock::banner::misbehaving(&config.misbehave, config.seed) {
            println!("  {m}");
        }
        if let Some(b) = mock::banner::bottlenecks(&config) {
            println!("  {b}");
        }
        println!("  metrics at {}/metrics", server.url());
        println!("Ctrl-C to stop (twice to abort).");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(f) = &mut log_file {
                        write_log(f, &server.log().drain(), began)?;
                    }
                }
                _ = &mut ctrl_c => break,
            }
        }
        eprintln!("draining in-flight requests (Ctrl-C again to abort)…");
        let aborted = tokio::select! {
            _ = server.shutdown() => false,
            _ = tokio::signal::ctrl_c() => { server.abort().await; true }
        };
        if let Some(f) = &mut log_file {
            write_log(f, &server.log().drain(), began)?;
        }
        let c = server.counters();
        println!(
            "served {} requests: {} sessions, {} continue, {} stream, {} status, {} health; \
             {} unknown thread_id, {} 4xx, {} 5xx",
            c.requests(),
            c.sessions_started,
            c.continue_,
            c.stream,
            c.status,
            c.health,
            c.unknown_thread_id,
            c.status_4xx,
            c.status_5xx
        );
        if config.misbehave != Misbehave::default() {
            println!(
                "injected: {} divergence, {} cross-talk, {} malformed Server-Timing, {} errors, \
                 {} grading flips",
                c.injected_divergence,
                c.injected_cross_talk,
                c.injected_bad_server_timing,
                c.injected_errors,
                c.injected_grading_flips
            );
        }
        if c.answers_marked > 0 {
            println!(
                "answers: {} marked with their node, {} arrived at another node",
                c.answers_marked, c.answers_mismatched
            );
        }
        Ok(if aborted { Exit::Aborted } else { Exit::Ok })
    })
}

fn open_log(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open the request log", path.display()))?;
    Ok(std::io::BufWriter::new(f))
}

fn write_log(out: &mut impl Write, entries: &[LogEntry], began: Instant) -> anyhow::Result<()> {
    for e in entries {
        let line = serde_json::json!({
            "seq": e.seq,
            "t_us": e.at.saturating_duration_since(began).as_micros() as u64,
            "endpoint": e.endpoint.template(),
            "method": e.method.as_str(),
            "path": e.path,
            "thread_id": e.thread_id,
            "issued": e.issued,
            "status": e.status,
            "body_bytes": e.body.len(),
            "peer": e.peer.to_string(),
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("writing the request log")?;
    Ok(())
}

/// The typed students config from the flags.
pub fn students_config(args: &StudentsArgs) -> students::Config {
    let mut c = students::Config::new(args.target.clone())
        .sessions(args.sessions)
        .seed(args.seed)
        .concurrency(args.concurrency as usize)
        .think(args.think_min, args.think_max)
        .stream_share(args.stream_share);
    c.token = (!args.token.is_empty()).then(|| args.token.clone());
    c.timeout = args.timeout;
    c
}

fn run_students(args: StudentsArgs) -> anyhow::Result<Exit> {
    let config = students_config(&args);
    let rt = super::runtime()?;
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c2.cancel();
            }
        });
        eprintln!(
            "{} synthetic students (seed {}, {} at once, think {:?}–{:?}) → {}",
            config.sessions,
            config.seed,
            config.concurrency,
            config.think_min,
            config.think_max,
            config.target
        );
        let report = students::run_until(&config, cancel.clone()).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "{} sessions ({} completed, {} failed), {} requests, {} turns in {:.1}s",
                report.sessions,
                report.completed,
                report.failed,
                report.requests,
                report.turns,
                report.elapsed.as_secs_f64()
            );
            println!("  endpoints: {:?}", report.endpoints);
            println!(
                "  statuses:  {:?}; transport errors: {}",
                report.statuses, report.transport_errors
            );
            for f in &report.failures {
                println!("  failure: {f}");
            }
        }
        Ok(if cancel.is_cancelled() {
            Exit::Aborted
        } else if report.failed > 0 {
            Exit::ThresholdFailed
        } else {
            Exit::Ok
        })
    })
}
