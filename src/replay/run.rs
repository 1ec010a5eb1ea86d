//! The run: worker threads, the workload, and the aggregator on the calling thread.
//!
//! Channel: each worker sends [`Msg::Second`] when a second of the run ends (its figures
//! for that second, index counted from the run start) and, once all its users finished,
//! one last `Second` and [`Msg::Done`] with its whole recorder and hook part. The channel
//! closing before every worker said `Done` means a worker died; the run ends with what it
//! has. A second is complete once every worker sent it or is done; complete seconds become
//! series points and progress lines, in order.

use super::aggregate::Aggregator;
use super::client::{Client, ClientConfig};
use super::control::{Control, Local, Target};
use super::deadline::Anchored;
use super::hook::{Measure, WorkerMeasure};
use super::plan::Plan;
use super::vu::{run_session, Worker};
use super::walk::{Lineup, Walk};
use super::{Config, Error, Workload};
use crate::metrics::summary::{self, RunInfo, SeriesPoint, Summary};
use crate::metrics::{Recorder, Second};
use chrono::{SecondsFormat, Utc};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

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
    /// The whole second, as it goes into `summary.json`'s series (exact histograms).
    pub point: SeriesPoint,
    /// The second itself; with [`Config::live`] it has per-route figures and failures.
    pub second: Arc<Second>,
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
    /// The worker failed or panicked: its users are gone, its figures with them.
    Lost { worker: usize, reason: String },
}

/// Worker `index`'s second just ended; a live run adds the conversation measures so far.
fn second_of<W: WorkerMeasure>(w: &Worker<W>, index: usize, live: bool) -> Second {
    let mut second = w.rec.borrow_mut().take_second();
    if live {
        if let Some(c) = w.measure.borrow_mut().snapshot() {
            second.conversation.push((index, c));
        }
    }
    second
}

/// Which worker of this shard plays user or arrival `n` (`None`: another shard's).
#[derive(Debug, Clone, Copy)]
struct Assign {
    shard: Option<super::Shard>,
    workers: usize,
    worker: usize,
}

impl Assign {
    fn mine(&self, n: u64) -> bool {
        let local = match self.shard {
            Some(s) if n % s.count != s.index => return false,
            Some(s) => n / s.count,
            None => n,
        };
        local % self.workers as u64 == self.worker as u64
    }
}

/// Runs `plan` against `config.target` until done, `--duration` or `cancel`; calls
/// `progress` once per second. `info` gives the run's name and recordings; the rest of
/// `run` in the summary comes from `config`.
pub fn run<M: Measure>(
    plan: Arc<Plan>,
    config: &Config,
    measure: Arc<M>,
    cancel: CancellationToken,
    progress: impl FnMut(&Progress),
    info: RunInfo,
) -> Result<Summary, Error> {
    let control = Control::new(config.workload);
    run_with(plan, config, measure, cancel, progress, info, &control)
}

/// [`run`] steered by `control` (made with the same workload): its changes apply while the
/// run goes and are written to the summary's `run.events`.
pub fn run_with<M: Measure>(
    plan: Arc<Plan>,
    config: &Config,
    measure: Arc<M>,
    cancel: CancellationToken,
    mut progress: impl FnMut(&Progress),
    info: RunInfo,
    control: &Control,
) -> Result<Summary, Error> {
    if plan.sessions.is_empty() {
        return Err(Error::EmptyPlan);
    }
    // a bad --ca-cert is named before the target is even tried; the shared connector (TLS
    // roots) is built from it below, not in the first user's timed path
    let tls = crate::tls::client_config(config.ca_cert.as_deref())?;
    preflight(&config.target)?;
    if config.realtime {
        super::priority::check().map_err(Error::Realtime)?;
    }
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
    let order = Arc::new(Lineup::new(&plan, config.back_to_back, config.seed));
    let stop = cancel.child_token();
    let started_at = Utc::now();
    let start = std::time::Instant::now();
    control.started(start);
    if let Some(s) = &config.stream {
        s.start(start);
    }
    let (tx, rx) = mpsc::channel::<Msg<<M::Worker as WorkerMeasure>::Part>>();
    let spawn = Spawn {
        plan: plan.clone(),
        measure: measure.clone(),
        order,
        client: client_config,
        stop: stop.clone(),
        start,
        workers,
    };
    let mut handles = Vec::new();
    for index in 0..workers {
        handles.push(spawn_worker(&spawn, index, config, control, tx.clone())?);
    }
    drop(tx);
    drop(spawn);

    // aggregate
    let deadline = config.duration.map(|d| start + d);
    let mut total = Recorder::new(plan.routes.len());
    let mut parts = Vec::new();
    let mut lost: Vec<summary::WorkerLost> = Vec::new();
    let mut seconds = Aggregator::new(workers);
    let mut series: Vec<SeriesPoint> = Vec::new();
    let (mut requests, mut failures, mut peak) = (0u64, 0u64, 0u64);
    let t0 = started_at.timestamp();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Second {
                worker,
                index,
                second,
            }) => seconds.second(worker, index, *second),
            Ok(Msg::Done { worker, rec, part }) => {
                seconds.ended(worker);
                total.merge(&rec);
                parts.push(part);
            }
            Ok(Msg::Lost { worker, reason }) => {
                seconds.ended(worker);
                lost.push(summary::WorkerLost { worker, reason });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d)
            || control.stop_token().is_cancelled()
        {
            stop.cancel();
        }
        while let Some((k, s)) = seconds.next_complete() {
            requests += s.requests;
            failures += s.failures;
            peak = peak.max(s.users);
            let point = s.point(t0 + k as i64);
            progress(&Progress {
                elapsed_s: k + 1,
                users: s.users,
                rps: s.requests,
                p95_ms: s.latency.quantile_us(0.95) as f64 / 1000.0,
                lag_p99_ms: s.lag.quantile_us(0.99) as f64 / 1000.0,
                failures,
                requests,
                point: point.clone(),
                second: Arc::new(s),
            });
            series.push(point);
        }
        if seconds.all_ended() {
            break;
        }
    }
    for (worker, h) in handles.into_iter().enumerate() {
        // a thread that ended without a word (it cannot, but it must not go unseen)
        if h.join().is_err() && !lost.iter().any(|l| l.worker == worker) {
            lost.push(summary::WorkerLost {
                worker,
                reason: "its thread ended without its figures".to_string(),
            });
        }
    }
    lost.sort_by_key(|l| l.worker);
    let elapsed = start.elapsed();
    let ended = Ended {
        started_at,
        elapsed,
        peak,
        series,
        lost,
    };
    let mut summary = build_summary(config, &cancel, control, info, ended);
    let routes = match &config.stream {
        Some(s) => s.route_names(),
        None => plan.route_names(),
    };
    total.fill(&mut summary, &routes, elapsed);
    measure.finish(parts, &mut summary);
    Ok(summary)
}

/// What the run's end gives the summary.
struct Ended {
    started_at: chrono::DateTime<Utc>,
    elapsed: Duration,
    peak: u64,
    series: Vec<SeriesPoint>,
    lost: Vec<summary::WorkerLost>,
}

/// The summary's run section, series and peak users; the totals are filled by the caller
/// from the merged recorder. Lost workers mark the run aborted, with the reason.
fn build_summary(
    config: &Config,
    cancel: &CancellationToken,
    control: &Control,
    info: RunInfo,
    ended: Ended,
) -> Summary {
    let interrupted = cancel.is_cancelled() || config.abort.is_cancelled();
    let abort_reason = match ended.lost.first() {
        Some(l) => Some(format!(
            "replay worker {} lost ({}); its users' figures are missing",
            l.worker, l.reason
        )),
        None => interrupted.then(|| "interrupted".to_string()),
    };
    let mut summary = Summary {
        schema: summary::SCHEMA.to_string(),
        version: summary::SCHEMA_VERSION,
        run: RunInfo {
            tool: format!("reprise {}", env!("CARGO_PKG_VERSION")),
            target: config.target.clone(),
            started_at: ended
                .started_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            ended_at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            duration_s: ended.elapsed.as_secs_f64(),
            aborted: interrupted || !ended.lost.is_empty(),
            abort_reason,
            workers_lost: ended.lost,
            workload: match config.workload {
                Workload::Closed { users, spawn_rate } => summary::Workload::Closed {
                    users,
                    spawn_rate: spawn_rate.unwrap_or(0.0),
                },
                Workload::Open { multiply } => summary::Workload::Open { multiply },
                Workload::Rate { per_s } => summary::Workload::Rate { per_s },
            },
            speed: config.speed.get(),
            timing: config.timing.name().to_string(),
            timeout_s: config.timeout.as_secs_f64(),
            seed: config.seed,
            back_to_back: config.back_to_back && matches!(config.workload, Workload::Closed { .. }),
            shard: config.shard.map(|s| s.to_string()),
            events: control.events(),
            ..info
        },
        totals: Default::default(),
        endpoints: Vec::new(),
        failures: Vec::new(),
        sessions: Default::default(),
        series: ended.series,
        conversation: Default::default(),
        thresholds: Vec::new(),
        scrape: None,
        stages: Vec::new(),
    };
    summary.totals.peak_users = ended.peak;
    summary
}

/// What every worker thread shares.
struct Spawn<M> {
    plan: Arc<Plan>,
    measure: Arc<M>,
    order: Arc<Lineup>,
    client: Arc<ClientConfig>,
    stop: CancellationToken,
    start: std::time::Instant,
    workers: usize,
}

/// Starts worker `index`: a thread with its own current-thread runtime that plays its
/// share of the workload and sends its seconds, then [`Msg::Done`] — or [`Msg::Lost`] with
/// the reason when it failed or panicked, so no worker ends unseen.
fn spawn_worker<M: Measure>(
    spawn: &Spawn<M>,
    index: usize,
    config: &Config,
    control: &Control,
    tx: mpsc::Sender<Msg<<M::Worker as WorkerMeasure>::Part>>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let (plan, measure, order, cc, stop) = (
        spawn.plan.clone(),
        spawn.measure.clone(),
        spawn.order.clone(),
        spawn.client.clone(),
        spawn.stop.clone(),
    );
    let start = spawn.start;
    let (timing, speed, users) = (config.timing, config.speed, initial_users(config));
    let mut rx = control.subscribe();
    let assign = Assign {
        shard: config.shard,
        workers: spawn.workers,
        worker: index,
    };
    let (closed, bounded) = (control.is_closed(), config.duration.is_some());
    let rate = control.is_rate();
    let abort = config.abort.clone();
    let live = config.live;
    let realtime = config.realtime;
    let stream = config.stream.clone();
    std::thread::Builder::new()
        .name(format!("replay-{index}"))
        .spawn(move || {
            // checked before any load: a refusal here cannot happen but for a limit
            // changed since, and the worker then runs at ordinary priority
            if realtime {
                let _ = super::priority::raise();
            }
            let lost_tx = tx.clone();
            let body = move || -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start its runtime: {e}"))?;
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let start = Instant::from_std(start);
                    let w = Rc::new(Worker {
                        rec: RefCell::new(if live {
                            Recorder::new(plan.routes.len()).live()
                        } else {
                            Recorder::new(plan.routes.len())
                        }),
                        measure: RefCell::new(measure.worker(index)),
                        plan,
                        timing,
                        speed,
                        stop,
                        control: Local::new(&rx.borrow_and_update()),
                        timer: super::timer::Timer::new(),
                    });
                    let finished = CancellationToken::new();
                    // the control's changes, copied onto this thread
                    let watcher = {
                        let (w, finished) = (w.clone(), finished.clone());
                        tokio::task::spawn_local(async move {
                            loop {
                                tokio::select! {
                                    r = rx.changed() => match r {
                                        Ok(()) => w.control.update(&rx.borrow_and_update()),
                                        Err(_) => return,
                                    },
                                    _ = finished.cancelled() => return,
                                }
                            }
                        })
                    };
                    let ticker = {
                        let (w, tx, finished) = (w.clone(), tx.clone(), finished.clone());
                        tokio::task::spawn_local(async move {
                            let mut k = 0u64;
                            loop {
                                tokio::select! {
                                    _ = sleep_until(start + Duration::from_secs(k + 1)) => {
                                        let second = second_of(&w, index, live);
                                        let _ = tx.send(Msg::Second { worker: index, index: k, second: Box::new(second) });
                                        k += 1;
                                    }
                                    _ = finished.cancelled() => return k,
                                }
                            }
                        })
                    };
                    // an abort drops every user mid-request: what completed is kept
                    tokio::select! {
                        biased;
                        _ = abort.cancelled() => {}
                        _ = async {
                            if closed {
                                let sessions = (order.len() as u64, users);
                                closed_users(&w, assign, (!bounded).then_some(sessions), order, cc, start).await;
                            } else if rate {
                                super::rate::rate_arrivals(&w, |n| assign.mine(n), !bounded, cc, start).await;
                            } else {
                                open_arrivals(&w, assign, cc, start, stream).await;
                            }
                        } => {}
                    }
                    finished.cancel();
                    let _ = watcher.await;
                    let k = ticker.await.unwrap_or(0);
                    let second = second_of(&w, index, live);
                    let _ = tx.send(Msg::Second { worker: index, index: k, second: Box::new(second) });
                    let w = Rc::try_unwrap(w)
                        .map_err(|_| "its users outlived it".to_string())?;
                    let _ = tx.send(Msg::Done {
                        worker: index,
                        rec: Box::new(w.rec.into_inner()),
                        part: w.measure.into_inner().finish(),
                    });
                    Ok(())
                })
            };
            let reason = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(())) => return,
                Ok(Err(reason)) => reason,
                Err(panic) => format!("panicked: {}", panic_message(&*panic)),
            };
            let _ = lost_tx.send(Msg::Lost {
                worker: index,
                reason,
            });
        })
        .map_err(Error::Thread)
}

/// What ended an open arrival's wait ([`until_due`]).
pub(super) enum Wake {
    /// The arrival is due: send it.
    Due,
    /// The control changed after the generation the caller had seen.
    Changed,
    /// The run is stopping.
    Stopped,
}

/// Waits until arrival offset `at` (replay time since `start`, paused time added) is due,
/// holding it while the run is paused; returns early when the control changes after
/// generation `seen` or the run stops. Finished user tasks are reaped meanwhile, a
/// panicked one raised ([`surface_panic`]).
pub(super) async fn until_due<W: WorkerMeasure>(
    w: &Worker<W>,
    start: Instant,
    at: Duration,
    seen: u64,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Wake {
    loop {
        let due = start + at + w.control.paused_total();
        tokio::select! {
            _ = w.timer.sleep_until(due) => {
                if !w.control.is_paused() {
                    return Wake::Due;
                }
                tokio::select! {
                    _ = w.control.resumed() => {}
                    _ = w.stop.cancelled() => return Wake::Stopped,
                }
            }
            _ = w.control.changed(seen) => return Wake::Changed,
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => surface_panic(ended),
            _ = w.stop.cancelled() => return Wake::Stopped,
        }
    }
}

/// A user task that panicked takes its worker with it (seen as [`Msg::Lost`]), rather
/// than vanishing from the run unseen.
pub(super) fn surface_panic<T>(ended: Result<T, tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// The text a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

fn initial_users(config: &Config) -> u64 {
    match config.workload {
        Workload::Closed { users, .. } => users.max(1),
        Workload::Open { .. } | Workload::Rate { .. } => 1,
    }
}

/// When closed user `user` starts: on the ramp of the last change (`changed_at`, from
/// `previous_users` at `spawn_rate` per second).
fn user_start(user: u64, t: &Target) -> Duration {
    let ahead = user.saturating_sub(t.previous_users) as f64;
    let offset = ahead / t.spawn_rate;
    t.changed_at
        + if offset.is_finite() {
            Duration::from_secs_f64(offset)
        } else {
            Duration::ZERO
        }
}

/// Clients (or sessions, back to back) user `user` plays when the run has no duration: the
/// `users` share the recording's `sessions` once between them.
fn quota(user: u64, users: u64, sessions: u64) -> u64 {
    if user < sessions {
        (sessions - user).div_ceil(users.max(1))
    } else {
        1
    }
}

/// The closed users of one worker, started and stopped as the control's target moves:
/// users below the target are started on its ramp, those above it stop at their next
/// session boundary (or at once after an `at_once` lowering). Returns when every user has
/// ended and no more can start (stopped, or no `--duration` and every quota played).
/// `once` is `(sessions, initial users)` when the run has no duration.
async fn closed_users<W: WorkerMeasure>(
    w: &Rc<Worker<W>>,
    assign: Assign,
    once: Option<(u64, u64)>,
    order: Arc<Lineup>,
    cc: Arc<ClientConfig>,
    start: Instant,
) {
    let mut users: FxHashMap<u64, CancellationToken> = FxHashMap::default();
    let mut tasks = tokio::task::JoinSet::new();
    let (mut target, mut seen) = w.control.target();
    let mut cut = target.cut;
    let first = Target {
        previous_users: 0,
        changed_at: Duration::ZERO,
        ..target
    };
    let spawn = |tasks: &mut tokio::task::JoinSet<u64>,
                 users: &mut FxHashMap<u64, CancellationToken>,
                 user: u64,
                 at: Duration,
                 target_users: u64| {
        let stop = w.stop.child_token();
        users.insert(user, stop.clone());
        let quota = once.map(|(sessions, _)| quota(user, target_users, sessions));
        let (w, order, cc) = (w.clone(), order.clone(), cc.clone());
        let round = once.map_or(target_users, |(_, initial)| initial).max(1);
        tasks.spawn_local(async move {
            play_closed(&w, user, at, quota, &stop, &order, round, cc, start).await;
            user
        });
    };
    for user in (0..first.users).filter(|&u| assign.mine(u)) {
        spawn(
            &mut tasks,
            &mut users,
            user,
            user_start(user, &first),
            first.users,
        );
    }
    loop {
        if tasks.is_empty() && (once.is_some() || w.stop.is_cancelled()) {
            break;
        }
        tokio::select! {
            _ = w.control.changed(seen) => {
                (target, seen) = w.control.target();
                if target.cut != cut {
                    cut = target.cut;
                    for (_, stop) in users.iter().filter(|(u, _)| **u >= target.users) {
                        stop.cancel();
                    }
                }
                if !w.stop.is_cancelled() {
                    for user in (0..target.users).filter(|&u| assign.mine(u)) {
                        if users.contains_key(&user) {
                            continue;
                        }
                        spawn(&mut tasks, &mut users, user, user_start(user, &target), target.users);
                    }
                }
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                let user = match ended {
                    Ok(user) => user,
                    // a user that panicked takes its worker with it: seen, not dropped
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => continue,
                };
                let cut_short = users.remove(&user).is_some_and(|s| s.is_cancelled());
                // stopped at once, then wanted again before it ended: it starts again now
                if cut_short && user < w.control.users() && !w.stop.is_cancelled() {
                    let now = start.elapsed().saturating_sub(w.control.paused_total());
                    spawn(&mut tasks, &mut users, user, now, target.users);
                }
            }
            _ = w.stop.cancelled(), if tasks.is_empty() => {}
        }
    }
}

/// Sleeps until `start + at`, moved by the time paused meanwhile; false when `stop` came
/// first.
async fn wait_start<W>(
    w: &Worker<W>,
    stop: &CancellationToken,
    start: Instant,
    at: Duration,
) -> bool {
    loop {
        let due = start + at + w.control.paused_total();
        tokio::select! {
            _ = w.timer.sleep_until(due) => {}
            _ = stop.cancelled() => return false,
        }
        if w.control.is_paused() {
            tokio::select! {
                _ = w.control.resumed() => {}
                _ = stop.cancelled() => return false,
            }
        } else if start + at + w.control.paused_total() <= Instant::now() {
            return true;
        }
    }
}

/// Sleeps until `at` (moved by the time paused after its anchor); the instant it was
/// reached at, `None` when `stop` came first.
async fn wait_until<W>(w: &Worker<W>, stop: &CancellationToken, at: Anchored) -> Option<Instant> {
    loop {
        let due = at.shifted(w.control.paused_total());
        tokio::select! {
            _ = w.timer.sleep_until(due) => {}
            _ = stop.cancelled() => return None,
        }
        if w.control.is_paused() {
            tokio::select! {
                _ = w.control.resumed() => {}
                _ = stop.cancelled() => return None,
            }
        } else if at.shifted(w.control.paused_total()) <= Instant::now() {
            return Some(at.shifted(w.control.paused_total()));
        }
    }
}

/// One closed user: starts at `at`, then walks the lineup ([`Walk`]): whole recorded
/// clients, each session after its recorded pause / speed (or sessions back to back),
/// until stopped, numbered above the target, or `quota` clients (sessions) were played.
#[allow(clippy::too_many_arguments)]
async fn play_closed<W: WorkerMeasure>(
    w: &Worker<W>,
    user: u64,
    at: Duration,
    quota: Option<u64>,
    stop: &CancellationToken,
    order: &Lineup,
    round: u64,
    cc: Arc<ClientConfig>,
    start: Instant,
) {
    // the client is built before the start so its set-up never shows as lag
    let client = Client::new(cc);
    if !wait_start(w, stop, start, at).await || user >= w.control.users() {
        return;
    }
    w.rec.borrow_mut().user_started();
    let mut backoff = super::backoff::Backoff::default();
    let mut walk = Walk::new(&w.plan, order, user, round, quota);
    // the live end of the previous session, anchored for pauses
    let mut ended_at: Option<Anchored> = None;
    while !stop.is_cancelled() && user < w.control.users() {
        if w.control.is_paused() {
            tokio::select! {
                _ = w.control.resumed() => continue,
                _ = stop.cancelled() => break,
            }
        }
        let Some((idx, pause)) = walk.next() else {
            break;
        };
        let begin = match ended_at {
            Some(end) if !pause.duration().is_zero() => {
                let due = Anchored::new(end.at + w.speed.scale(pause.duration()), end.paused);
                match wait_until(w, stop, due).await {
                    Some(t) if user < w.control.users() => t,
                    _ => break,
                }
            }
            _ => Instant::now(),
        };
        let ended = run_session(w, &client, user, &w.plan.sessions[idx], begin, stop).await;
        ended_at = Some(Anchored::new(Instant::now(), w.control.paused_total()));
        if let Some(wait) = backoff.after(ended, rand::random()) {
            // a broken transport: pause instead of spinning (see `backoff`)
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => {}
            }
        }
    }
    w.rec.borrow_mut().user_ended();
}

/// This worker's open arrivals with `multiply` copies, from replay time `since` on, in
/// time order: (arrival number, session, start offset).
fn arrivals(
    plan: &Plan,
    speed: super::Speed,
    multiply: u64,
    since: Duration,
    assign: Assign,
) -> Vec<(u64, usize, Duration)> {
    let multiply = multiply.max(1);
    let first = plan.sessions.first().map(|s| s.start).unwrap_or_default();
    let span = plan.span.saturating_sub(first);
    let len = plan.sessions.len() as u64;
    let mut out = Vec::new();
    for c in 0..multiply {
        let shift = span.mul_f64(c as f64 / multiply as f64);
        for (i, s) in plan.sessions.iter().enumerate() {
            let n = c * len + i as u64;
            let at = speed.scale(s.start.saturating_sub(first) + shift);
            if at >= since && assign.mine(n) {
                out.push((n, i, at));
            }
        }
    }
    out.sort_by_key(|&(n, _, at)| (at, n));
    out
}

/// The open arrivals of one worker; a new multiplier applies to the arrivals still to
/// come. Returns when every arrival of the recording's span has been played (or stopped).
async fn open_arrivals<W: WorkerMeasure>(
    w: &Rc<Worker<W>>,
    assign: Assign,
    cc: Arc<ClientConfig>,
    start: Instant,
    stream: Option<Arc<super::stream::Stream>>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let (mut target, mut seen) = w.control.target();
    let mut list = arrivals(&w.plan, w.speed, target.multiply, Duration::ZERO, assign).into_iter();
    'arrivals: while let Some((n, session, at)) = list.next() {
        loop {
            match until_due(w, start, at, seen, &mut tasks).await {
                Wake::Due => break,
                Wake::Stopped => break 'arrivals,
                Wake::Changed => {
                    let multiply = target.multiply;
                    (target, seen) = w.control.target();
                    if target.multiply != multiply {
                        let now = target.changed_at.saturating_sub(target.paused_total);
                        list = arrivals(&w.plan, w.speed, target.multiply, now, assign).into_iter();
                        continue 'arrivals;
                    }
                }
            }
        }
        // the client is built before the send so its set-up never shows as lag
        let client = Client::new(cc.clone());
        let (w, stream) = (w.clone(), stream.clone());
        tasks.spawn_local(async move {
            // streamed: the session as built just ahead of its arrival, dropped after
            let streamed = match &stream {
                Some(s) => match s.take(session as u32).await {
                    Some(s) => Some(s),
                    None => return,
                },
                None => None,
            };
            let s = streamed.as_deref().unwrap_or(&w.plan.sessions[session]);
            w.rec.borrow_mut().user_started();
            let due = start + at + w.control.paused_total();
            run_session(&w, &client, n, s, due, &w.stop).await;
            w.rec.borrow_mut().user_ended();
        });
    }
    while let Some(ended) = tasks.join_next().await {
        surface_panic(ended);
    }
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

    fn all(workers: usize, worker: usize) -> Assign {
        Assign {
            shard: None,
            workers,
            worker,
        }
    }

    #[test]
    fn closed_users_share_the_recording_once_without_duration() {
        let c = Control::new(Workload::Closed {
            users: 2,
            spawn_rate: Some(2.0),
        });
        let t = c.target();
        let starts: Vec<_> = (0..2).map(|u| user_start(u, &t).as_millis()).collect();
        assert_eq!(starts, vec![0, 500]);
        assert_eq!((quota(0, 2, 5), quota(1, 2, 5), quota(7, 2, 5)), (3, 2, 1));
        assert!(all(2, 0).mine(0) && !all(2, 0).mine(1) && all(2, 1).mine(1));
        let p = plan(5);
        let Lineup::Sessions { order } = Lineup::new(&p, true, 1) else {
            panic!("back to back walks sessions")
        };
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            Lineup::new(&p, true, 1),
            Lineup::Sessions { order },
            "seeded"
        );
    }

    #[test]
    fn raised_users_start_on_the_new_ramp() {
        let c = Control::new(Workload::Closed {
            users: 20,
            spawn_rate: None,
        });
        assert_eq!(
            user_start(19, &c.target()),
            Duration::ZERO,
            "no rate: all at once"
        );
        let mut t = c.target();
        t.previous_users = 20;
        t.users = 50;
        t.spawn_rate = 10.0;
        t.changed_at = Duration::from_secs(3);
        assert_eq!(user_start(20, &t), Duration::from_secs(3));
        assert_eq!(user_start(30, &t), Duration::from_secs(4));
    }

    #[test]
    fn open_copies_are_shifted_across_the_span_and_sharded() {
        let p = plan(3); // starts 0, 1, 2 s: span 2 s
        let speed = Speed::new(2.0).unwrap();
        let at: Vec<_> = arrivals(&p, speed, 2, Duration::ZERO, all(1, 0))
            .iter()
            .map(|a| a.2.as_millis())
            .collect();
        // copy 1 shifted by span/2 = 1 s; everything / speed 2; in time order
        assert_eq!(at, vec![0, 500, 500, 1000, 1000, 1500]);
        let shard = Assign {
            shard: Some("1/2".parse().unwrap()),
            ..all(1, 0)
        };
        assert_eq!(arrivals(&p, speed, 2, Duration::ZERO, shard).len(), 3);
        // a new multiplier from 0.8 s on: only the arrivals still to come
        let later = arrivals(&p, speed, 2, Duration::from_millis(800), all(1, 0));
        assert_eq!(later.len(), 3);
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
