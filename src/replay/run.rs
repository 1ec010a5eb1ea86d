//! The run: worker threads, the workload, and the aggregator on the calling thread.
//!
//! Channel: each worker sends [`Msg::Second`] when a second of the run ends (its figures
//! for that second, index counted from the run start) and, once all its users finished,
//! one last `Second` and [`Msg::Done`] with its whole recorder and hook part. The channel
//! closing before every worker said `Done` means a worker died; the run ends with what it
//! has. A second is complete once every worker sent it or is done; complete seconds become
//! series points and progress lines, in order.

use super::client::{Client, ClientConfig};
use super::hook::{Measure, WorkerMeasure};
use super::plan::Plan;
use super::vu::{run_session, Worker};
use super::{Config, Error, Workload};
use crate::metrics::summary::{self, kind, RunInfo, SeriesPoint, Summary};
use crate::metrics::{Recorder, Second};
use chrono::{SecondsFormat, Utc};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// How long a closed user waits before its next session after one ended on a refused
/// connection, so a dead target is not hammered in a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// One line of live progress (one second of the run).
#[derive(Debug, Clone)]
pub struct Progress {
    /// Seconds since the start (the second this line covers ends here).
    pub elapsed_s: u64,
    pub users: u64,
    pub rps: u64,
    pub p95_ms: f64,
    pub lag_p99_ms: f64,
    /// Failures so far.
    pub failures: u64,
    /// Requests so far.
    pub requests: u64,
}

enum Msg<P> {
    Second {
        worker: usize,
        index: u64,
        second: Box<Second>,
    },
    Done {
        worker: usize,
        rec: Box<Recorder>,
        part: P,
    },
}

/// What one worker runs.
enum Job {
    /// Closed user `user`: starts at `at`, plays `order[(user + k·users) % len]` for
    /// k = 0.. until stopped or `quota` sessions were played.
    Closed {
        user: u64,
        at: Duration,
        quota: Option<u64>,
    },
    /// Open arrival `n` of session `session` at `at`.
    Open {
        n: u64,
        session: usize,
        at: Duration,
    },
}

/// Runs `plan` against `config.target` until done, `--duration` or `cancel`; calls
/// `progress` once per second. `info` gives the run's name and recordings; the rest of
/// `run` in the summary comes from `config`.
pub fn run<M: Measure>(
    plan: Arc<Plan>,
    config: &Config,
    measure: Arc<M>,
    cancel: CancellationToken,
    mut progress: impl FnMut(&Progress),
    info: RunInfo,
) -> Result<Summary, Error> {
    if plan.sessions.is_empty() {
        return Err(Error::EmptyPlan);
    }
    // a bad --ca-cert is named before the target is even tried; the shared connector (TLS
    // roots) is built from it below, not in the first user's timed path
    let tls = crate::tls::client_config(config.ca_cert.as_deref())?;
    preflight(&config.target)?;
    let client_config = Arc::new(
        ClientConfig::new(&config.target, config.timeout, &config.headers, tls).map_err(|e| {
            Error::BadTarget {
                target: config.target.clone(),
                reason: e.to_string(),
            }
        })?,
    );
    let workers = if config.workers > 0 {
        config.workers
    } else {
        default_workers(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            client_config.is_local(),
        )
    };
    let jobs = jobs(&plan, config, workers);
    let order = Arc::new(session_order(plan.sessions.len(), config.seed));
    let stop = cancel.child_token();
    let started_at = Utc::now();
    let start = std::time::Instant::now();
    let (tx, rx) = mpsc::channel::<Msg<<M::Worker as WorkerMeasure>::Part>>();
    let mut handles = Vec::new();
    for (index, jobs) in jobs.into_iter().enumerate() {
        let tx = tx.clone();
        let (plan, measure, order, cc, stop) = (
            plan.clone(),
            measure.clone(),
            order.clone(),
            client_config.clone(),
            stop.clone(),
        );
        let (timing, speed, users) = (config.timing, config.speed, closed_users(config));
        let h = std::thread::Builder::new()
            .name(format!("replay-{index}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(_) => return,
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let start = Instant::from_std(start);
                    let w = Rc::new(Worker {
                        rec: RefCell::new(Recorder::new(plan.routes.len())),
                        measure: RefCell::new(measure.worker(index)),
                        plan,
                        timing,
                        speed,
                        stop,
                        timer: super::timer::Timer::new(),
                    });
                    let finished = CancellationToken::new();
                    let ticker = {
                        let (w, tx, finished) = (w.clone(), tx.clone(), finished.clone());
                        tokio::task::spawn_local(async move {
                            let mut k = 0u64;
                            loop {
                                tokio::select! {
                                    _ = sleep_until(start + Duration::from_secs(k + 1)) => {
                                        let second = w.rec.borrow_mut().take_second();
                                        let _ = tx.send(Msg::Second { worker: index, index: k, second: Box::new(second) });
                                        k += 1;
                                    }
                                    _ = finished.cancelled() => return k,
                                }
                            }
                        })
                    };
                    let tasks: Vec<_> = jobs
                        .into_iter()
                        .map(|job| {
                            let (w, order, cc) = (w.clone(), order.clone(), cc.clone());
                            tokio::task::spawn_local(async move { play(&w, job, &order, users, cc, start).await })
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                    finished.cancel();
                    let k = ticker.await.unwrap_or(0);
                    let second = w.rec.borrow_mut().take_second();
                    let _ = tx.send(Msg::Second { worker: index, index: k, second: Box::new(second) });
                    if let Ok(w) = Rc::try_unwrap(w) {
                        let _ = tx.send(Msg::Done {
                            worker: index,
                            rec: Box::new(w.rec.into_inner()),
                            part: w.measure.into_inner().finish(),
                        });
                    }
                });
            })
            .map_err(Error::Thread)?;
        handles.push(h);
    }
    drop(tx);

    // aggregate
    let deadline = config.duration.map(|d| start + d);
    let mut total = Recorder::new(plan.routes.len());
    let mut parts = Vec::new();
    let mut sent_upto = vec![0u64; workers];
    let mut done = vec![false; workers];
    let mut pending: BTreeMap<u64, Second> = BTreeMap::new();
    let mut series: Vec<SeriesPoint> = Vec::new();
    let mut next = 0u64;
    let (mut requests, mut failures, mut peak) = (0u64, 0u64, 0u64);
    let t0 = started_at.timestamp();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Second {
                worker,
                index,
                second,
            }) => {
                sent_upto[worker] = sent_upto[worker].max(index + 1);
                pending.entry(index).or_default().add(&second);
            }
            Ok(Msg::Done { worker, rec, part }) => {
                done[worker] = true;
                total.merge(&rec);
                parts.push(part);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            stop.cancel();
        }
        let all_done = done.iter().all(|d| *d);
        while (0..workers).all(|w| done[w] || sent_upto[w] > next)
            && (pending.contains_key(&next) || !all_done)
        {
            let s = pending.remove(&next).unwrap_or_default();
            requests += s.requests;
            failures += s.failures;
            peak = peak.max(s.users);
            progress(&Progress {
                elapsed_s: next + 1,
                users: s.users,
                rps: s.requests,
                p95_ms: s.latency.quantile_us(0.95) as f64 / 1000.0,
                lag_p99_ms: s.lag.quantile_us(0.99) as f64 / 1000.0,
                failures,
                requests,
            });
            series.push(s.point(t0 + next as i64));
            next += 1;
        }
        if all_done {
            break;
        }
    }
    for h in handles {
        let _ = h.join();
    }
    let elapsed = start.elapsed();
    let ended_at = Utc::now();
    let mut summary = Summary {
        schema: summary::SCHEMA.to_string(),
        version: summary::SCHEMA_VERSION,
        run: RunInfo {
            tool: format!("reprise {}", env!("CARGO_PKG_VERSION")),
            target: config.target.clone(),
            started_at: started_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            ended_at: ended_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            duration_s: elapsed.as_secs_f64(),
            aborted: cancel.is_cancelled(),
            abort_reason: cancel.is_cancelled().then(|| "interrupted".to_string()),
            workload: match config.workload {
                Workload::Closed { users, spawn_rate } => summary::Workload::Closed {
                    users,
                    spawn_rate: spawn_rate.unwrap_or(0.0),
                },
                Workload::Open { multiply } => summary::Workload::Open { multiply },
            },
            speed: config.speed.get(),
            timing: config.timing.name().to_string(),
            timeout_s: config.timeout.as_secs_f64(),
            seed: config.seed,
            shard: config.shard.map(|s| s.to_string()),
            ..info
        },
        totals: Default::default(),
        endpoints: Vec::new(),
        failures: Vec::new(),
        sessions: Default::default(),
        series,
        conversation: Default::default(),
        thresholds: Vec::new(),
    };
    summary.totals.peak_users = peak;
    total.fill(&mut summary, &plan.route_names(), elapsed);
    measure.finish(parts, &mut summary);
    Ok(summary)
}

fn closed_users(config: &Config) -> u64 {
    match config.workload {
        Workload::Closed { users, .. } => users.max(1),
        Workload::Open { .. } => 1,
    }
}

/// The seeded shuffle of session indices that closed users walk round robin.
fn session_order(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    order
}

/// Splits the workload into per-worker jobs (this shard's share only).
fn jobs(plan: &Plan, config: &Config, workers: usize) -> Vec<Vec<Job>> {
    let mut out: Vec<Vec<Job>> = (0..workers).map(|_| Vec::new()).collect();
    let mine = |n: u64| config.shard.is_none_or(|s| n % s.count == s.index);
    let mut k = 0usize;
    match config.workload {
        Workload::Closed { users, spawn_rate } => {
            let sessions = plan.sessions.len() as u64;
            for user in (0..users.max(1)).filter(|&u| mine(u)) {
                let at = match spawn_rate {
                    Some(r) if r.is_finite() && r > 0.0 => Duration::from_secs_f64(user as f64 / r),
                    _ => Duration::ZERO,
                };
                // without a duration the users play the recording once between them
                let quota = config.duration.is_none().then(|| {
                    if user < sessions {
                        (sessions - user).div_ceil(users.max(1))
                    } else {
                        1
                    }
                });
                out[k % workers].push(Job::Closed { user, at, quota });
                k += 1;
            }
        }
        Workload::Open { multiply } => {
            let multiply = multiply.max(1);
            let first = plan.sessions.first().map(|s| s.start).unwrap_or_default();
            let span = plan.span.saturating_sub(first);
            let mut n = 0u64;
            for c in 0..multiply {
                let shift = span.mul_f64(c as f64 / multiply as f64);
                for (i, s) in plan.sessions.iter().enumerate() {
                    if mine(n) {
                        let at = config.speed.scale(s.start.saturating_sub(first) + shift);
                        out[k % workers].push(Job::Open { n, session: i, at });
                        k += 1;
                    }
                    n += 1;
                }
            }
        }
    }
    out
}

/// One closed user or open arrival, from its start to its end.
async fn play<W: WorkerMeasure>(
    w: &Worker<W>,
    job: Job,
    order: &[usize],
    users: u64,
    cc: Arc<ClientConfig>,
    start: Instant,
) {
    let (vu, at) = match job {
        Job::Closed { user, at, .. } => (user, at),
        Job::Open { n, at, .. } => (n, at),
    };
    // the client is built before the start so its set-up never shows as lag
    let client = Client::new(cc);
    tokio::select! {
        _ = w.timer.sleep_until(start + at) => {}
        _ = w.stop.cancelled() => return,
    }
    w.rec.borrow_mut().user_started();
    match job {
        Job::Open { session, .. } => {
            run_session(w, &client, vu, &w.plan.sessions[session], start + at).await;
        }
        Job::Closed { user, quota, .. } => {
            let mut k = 0u64;
            while !w.stop.is_cancelled() && quota.is_none_or(|q| k < q) {
                let idx = order[((user + k * users) % order.len() as u64) as usize];
                let ended =
                    run_session(w, &client, vu, &w.plan.sessions[idx], Instant::now()).await;
                k += 1;
                if ended == Some(kind::CONNECT) {
                    // the target refuses connections: pause instead of spinning
                    tokio::select! {
                        _ = tokio::time::sleep(CONNECT_BACKOFF) => {}
                        _ = w.stop.cancelled() => {}
                    }
                }
            }
        }
    }
    w.rec.borrow_mut().user_ended();
}

/// One worker per core; one core fewer when the target runs on this machine (a loopback
/// address), so the replay does not take the cores of the system it measures: on two cores
/// beside a local server, one worker spends 15–20 % less CPU per request than two
/// (`bench/efficiency.sh`), the three threads no longer taking turns on two cores.
fn default_workers(cores: usize, local_target: bool) -> usize {
    if local_target {
        cores.saturating_sub(1).max(1)
    } else {
        cores.max(1)
    }
}

/// Fails fast when the target refuses TCP connections before anything starts.
fn preflight(target: &str) -> Result<(), Error> {
    let bad = |reason: String| Error::BadTarget {
        target: target.to_string(),
        reason,
    };
    let url = reqwest::Url::parse(target).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    let host = url.host_str().ok_or_else(|| bad("no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let unreachable = |detail: String| Error::Unreachable {
        target: target.to_string(),
        detail,
    };
    let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("connecting to {a}: {e}"),
        }
    }
    Err(unreachable(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use crate::replay::Speed;
    use serde_json::json;

    fn plan(n: u64) -> Plan {
        Plan::from_exchanges((0..n).map(|i| {
            let mut e = ex(i, i * 1000, 10, "GET", "/x", json!(null), json!(null));
            e.session = Some(format!("s{i}"));
            e
        }))
    }

    #[test]
    fn closed_users_share_the_recording_once_without_duration() {
        let p = plan(5);
        let c = Config::new(
            "http://x",
            Workload::Closed {
                users: 2,
                spawn_rate: Some(2.0),
            },
        );
        let jobs = jobs(&p, &c, 2);
        let quotas: Vec<_> = jobs
            .iter()
            .flatten()
            .map(|j| match j {
                Job::Closed { user, at, quota } => (*user, at.as_millis(), *quota),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(quotas, vec![(0, 0, Some(3)), (1, 500, Some(2))]);
        let order = session_order(5, 1);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(order, session_order(5, 1), "seeded");
    }

    #[test]
    fn open_copies_are_shifted_across_the_span_and_sharded() {
        let p = plan(3); // starts 0, 1, 2 s: span 2 s
        let mut c = Config::new("http://x", Workload::Open { multiply: 2 });
        c.speed = Speed::new(2.0).unwrap();
        let at: Vec<_> = jobs(&p, &c, 1)[0]
            .iter()
            .map(|j| match j {
                Job::Open { at, .. } => at.as_millis(),
                _ => unreachable!(),
            })
            .collect();
        // copy 1 shifted by span/2 = 1 s; everything / speed 2
        assert_eq!(at, vec![0, 500, 1000, 500, 1000, 1500]);
        c.shard = Some("1/2".parse().unwrap());
        assert_eq!(jobs(&p, &c, 1)[0].len(), 3);
    }

    #[test]
    fn unreachable_target_fails_fast() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let t = std::time::Instant::now();
        let err = preflight(&format!("http://{addr}")).unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(preflight("ftp://x"), Err(Error::BadTarget { .. })));
    }

    #[test]
    fn a_local_target_leaves_a_core() {
        assert_eq!(default_workers(2, true), 1);
        assert_eq!(default_workers(1, true), 1);
        assert_eq!(default_workers(16, true), 15);
        assert_eq!(default_workers(2, false), 2);
        assert_eq!(default_workers(0, false), 1);
    }
}
