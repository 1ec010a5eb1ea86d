//! One virtual user replaying one recorded session.
//!
//! Steps are taken in recorded send order. For each step the user first waits for the live
//! completion of every step it depends on (its timing dependency in `think` mode, and the
//! producers of the ids it sends back in both modes), then sleeps until its deadline, then
//! sends it *without* waiting for the response — so requests that overlapped in the
//! recording overlap again. Responses are collected as they complete while later steps wait.
//!
//! Deadlines are absolute instants, never "now + delta":
//! - `think`: live completion of the dependency + recorded gap / speed, or, for a step
//!   with no dependency, session start + recorded offset / speed;
//! - `schedule`: session start + recorded offset / speed.
//!
//! A step that must wait for responses is sent no earlier than they came; that wait is
//! measured apart from the lag ([`super::deadline`]).
//!
//! # Invariants
//! - Each send records its lag (actual − max(planned, ready)) and its dependency wait
//!   (max(planned, ready) − planned), is recorded exactly once in the worker's recorder,
//!   and shown to the hook exactly once.
//! - A step needing an id the user never received is not sent: one `correlation` failure,
//!   and the session ends (reason `correlation`) after its in-flight requests complete.
//! - A transport failure (connect, timeout, io) ends the session with that reason.
//! - On stop (Ctrl-C, end of `--duration`) no new request is sent; in-flight ones are
//!   awaited (bounded by the client timeout) and the session ends with reason `stopped`.
//! - While the run is paused (`replay::control`) nothing is sent; on resume every deadline
//!   has moved by the paused time after its anchor, so lag does not count the pause.
//! - With a [`Follow`] in the plan (`--on-divergence resync|end`), a turn response naming
//!   another node than its recorded twin ends the recorded script: nothing more of it is
//!   sent; in-flight requests are awaited, then the session ends (`end`) or goes on with
//!   answers from the bank, one request at a time ([`super::follow`]). Without one, no
//!   response is looked at.

use super::bank::LiveNode;
use super::client::{Client, Exchanged, Response};
use super::deadline::{Anchored, Deadline, Due};
use super::follow::{Ending, Follow, Next, OnDivergence};
use super::hook::{Followed, Live, SessionEnd, SessionInfo, WorkerMeasure};
use super::plan::{Plan, Session, Step, VarSource};
use super::timer::Timer;
use super::{rewrite, Speed, Timing};
use crate::metrics::conversation::{Picked, StreamScan};
use crate::metrics::summary::kind;
use crate::metrics::{Failure, Recorder, Sample};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::cell::RefCell;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What every user of a worker shares (all on the worker's thread).
pub(crate) struct Worker<W> {
    pub plan: std::sync::Arc<Plan>,
    pub timing: Timing,
    pub speed: Speed,
    pub stop: CancellationToken,
    /// The run control's figures on this thread (pause, paused time, target users).
    pub control: super::control::Local,
    pub rec: RefCell<Recorder>,
    pub measure: RefCell<W>,
    /// Deadlines to the microsecond (tokio's timer has millisecond ticks).
    pub timer: Timer,
}

struct Run<'a, W> {
    w: &'a Worker<W>,
    session: &'a Session,
    vu: u64,
    done: Vec<Option<Instant>>,
    /// Paused time so far when each step completed (a think deadline moves by later pauses).
    paused_at: Vec<Duration>,
    /// Ends this session early: the run's stop, or this user's.
    stop: &'a CancellationToken,
    live: Vec<Option<String>>,
    aborted: Option<&'static str>,
    /// The run's bank and policy, when it follows the live agent.
    follow: Option<&'a Follow>,
    /// Set when a turn's live node left the recording (only with `follow`).
    diverged: bool,
    /// The node the latest live turn response named (only with `follow`).
    live_node: LiveNode,
    /// Turn responses seen (only with `follow`).
    turns: u32,
    /// The latest live completion.
    last_done: Option<Instant>,
}

/// Which recorded step a live request replays: one of the session's own, or a step of
/// another recorded session taken from the bank.
#[derive(Debug, Clone, Copy)]
enum Src {
    Own(usize),
    Bank { session: u32, step: u32 },
}

/// Replays `session` once; `start` is the intended start (its first deadline's anchor).
/// `stop` ends it early (the run's stop, or this user's). Deadlines move by the time the
/// run is paused after their anchor, and nothing is sent while paused.
/// Returns why the session was cut short, `None` when every step was sent.
pub(crate) async fn run_session<W: WorkerMeasure>(
    w: &Worker<W>,
    client: &Client,
    vu: u64,
    session: &Session,
    start: Instant,
    stop: &CancellationToken,
) -> Option<&'static str> {
    let paused0 = w.control.paused_total();
    let live = session
        .vars
        .iter()
        .map(|v| match v.source {
            VarSource::Fresh => Some(rewrite::fresh(&v.recorded, &mut rand::thread_rng())),
            _ => None,
        })
        .collect();
    let mut run = Run {
        w,
        session,
        vu,
        done: vec![None; session.steps.len()],
        paused_at: vec![Duration::ZERO; session.steps.len()],
        stop,
        live,
        aborted: None,
        follow: w.plan.follow.as_deref(),
        diverged: false,
        live_node: LiveNode::Missing,
        turns: 0,
        last_done: None,
    };
    let info = SessionInfo {
        vu,
        session,
        started: start,
        routes: session.routes.as_deref().unwrap_or(&w.plan.routes),
    };
    w.rec.borrow_mut().session_started();
    w.measure.borrow_mut().session_start(&info);
    let mut inflight = FuturesUnordered::new();

    'steps: for (i, step) in session.steps.iter().enumerate() {
        // wait for what this step depends on
        let mut waits: Vec<usize> = step
            .uses
            .iter()
            .filter_map(|&v| match session.vars[v].source {
                VarSource::Json { step, .. } | VarSource::Header { step, .. } => Some(step),
                VarSource::Fresh => None,
            })
            .collect();
        if w.timing == Timing::Think {
            waits.extend(step.dep);
        }
        for &d in &waits {
            while run.done[d].is_none() {
                match inflight.next().await {
                    Some(r) => run.complete(r),
                    None => break,
                }
            }
        }
        if run.aborted.is_some() || run.diverged {
            break;
        }
        let done_at = |d: usize| run.done[d].map(|t| Anchored::new(t, run.paused_at[d]));
        let planned = Deadline::plan(
            w.timing,
            w.speed,
            step.offset,
            step.gap,
            Anchored::new(start, paused0),
            step.dep.and_then(done_at),
        );
        let paused_now = w.control.paused_total();
        let deadline = Deadline {
            planned,
            ready: waits
                .iter()
                .filter_map(|&d| done_at(d))
                .max_by_key(|a| a.shifted(paused_now)),
        };
        let due = loop {
            let due = deadline.due(w.control.paused_total());
            // a deadline already passed: sent at once, without a timer entry or a select
            // (zero-think replay), after collecting the responses that are already in
            if due.intended <= Instant::now() {
                if stop.is_cancelled() {
                    run.aborted = Some("stopped");
                    break 'steps;
                }
                while let Some(r) = inflight.next().now_or_never().flatten() {
                    run.complete(r);
                }
                if run.aborted.is_some() || run.diverged {
                    break 'steps;
                }
            } else {
                let sleep = w.timer.sleep_until(due.intended);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => {
                            run.aborted = Some("stopped");
                            break 'steps;
                        }
                        Some(r) = inflight.next(), if !inflight.is_empty() => run.complete(r),
                        _ = &mut sleep => break,
                    }
                    if run.aborted.is_some() || run.diverged {
                        break 'steps;
                    }
                }
            }
            if !w.control.is_paused() {
                break due;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    run.aborted = Some("stopped");
                    break 'steps;
                }
                _ = w.control.resumed() => {}
            }
        };
        match rewrite::request(step, &session.vars, &run.live) {
            // boxed: a `FuturesUnordered` allocates a stub task the size of its future
            // type up front, so an unboxed send future (~3 KB) cost every user that
            // much while idle; boxed, only in-flight sends pay for their state
            Ok(p) => inflight.push(Box::pin(send(
                client,
                Src::Own(i),
                due,
                step.method.clone(),
                p,
            ))),
            Err(missing) => {
                w.rec.borrow_mut().record_unsent(
                    step.route,
                    Failure {
                        kind: kind::CORRELATION,
                        detail: format!("no live value for `{}`", missing.name),
                    },
                );
                run.aborted = Some(kind::CORRELATION);
                break;
            }
        }
    }
    while let Some(r) = inflight.next().await {
        run.complete(r);
    }
    let followed = match run.follow {
        // boxed: inline, its send future (~3 KB) would sit in every user's idle state;
        // boxed, only a user that left its recording pays for it
        Some(f) if run.diverged && run.aborted.is_none() => {
            Some(Box::pin(run.left(f, client)).await)
        }
        _ => None,
    };
    let end = SessionEnd {
        aborted: run.aborted,
        duration: start.elapsed(),
        follow: followed,
    };
    w.rec.borrow_mut().session_ended(end.aborted, end.duration);
    w.measure.borrow_mut().session_end(&info, &end);
    run.aborted
}

async fn send(
    client: &Client,
    step: Src,
    due: Due,
    method: http::Method,
    p: rewrite::Prepared<'_>,
) -> (Src, Due, Exchanged) {
    let ex = client
        .send(method, &p.path_and_query, p.headers, p.body)
        .await;
    (step, due, ex)
}

impl<'a, W: WorkerMeasure> Run<'a, W> {
    /// After the live agent left the recording: ends the session (`end`) or replays answers
    /// from the bank for the live node until the conversation is over (`resync`).
    async fn left(&mut self, f: &'a Follow, client: &Client) -> Followed<'a> {
        let at = match self.live_node {
            LiveNode::Known(n) => f.bank.name(n),
            _ => "(unknown)",
        };
        let mut followed = Followed {
            at,
            answers: 0,
            ended: Ending::End.name(),
        };
        let ending = match f.policy {
            OnDivergence::End | OnDivergence::Continue => Ending::End,
            OnDivergence::Resync => loop {
                let answer = match f.next(self.live_node, self.turns, self.session.index, self.vu) {
                    Next::Send(a) => a,
                    Next::Over(e) => break e,
                };
                followed.answers += 1;
                let source = &self.w.plan.sessions[answer.session as usize];
                for k in answer.from..=answer.to {
                    let step = &source.steps[k as usize];
                    if !self.send_from_bank(client, answer.session, k, step).await {
                        break;
                    }
                }
                if self.aborted.is_some() {
                    followed.ended = "stopped";
                    return followed;
                }
            },
        };
        followed.ended = ending.name();
        self.aborted = self.aborted.or(ending.aborted());
        followed
    }

    /// Sends one bank step at the latest live completion + its think gap / speed and
    /// accounts for it; false when the session must stop.
    async fn send_from_bank(&mut self, client: &Client, src: u32, k: u32, step: &'a Step) -> bool {
        let w = self.w;
        let due = self.last_done.unwrap_or_else(Instant::now) + w.speed.scale(step.gap);
        if due > Instant::now() {
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => {}
                _ = w.timer.sleep_until(due) => {}
            }
        }
        if self.stop.is_cancelled() {
            self.aborted = Some("stopped");
            return false;
        }
        let vars = &w.plan.sessions[src as usize].vars;
        // the answer's ids are its own session's: map them to this user's, by name
        let live: Vec<Option<String>> = vars
            .iter()
            .map(
                |v| match self.session.vars.iter().position(|o| o.name == v.name) {
                    Some(o) => self.live[o].clone(),
                    None if v.source == VarSource::Fresh => {
                        Some(rewrite::fresh(&v.recorded, &mut rand::thread_rng()))
                    }
                    None => None,
                },
            )
            .collect();
        match rewrite::request(step, vars, &live) {
            Ok(p) => {
                let r = send(
                    client,
                    Src::Bank {
                        session: src,
                        step: k,
                    },
                    Due::at(due),
                    step.method.clone(),
                    p,
                )
                .await;
                self.complete(r);
                self.aborted.is_none()
            }
            Err(missing) => {
                w.rec.borrow_mut().record_unsent(
                    step.route,
                    Failure {
                        kind: kind::CORRELATION,
                        detail: format!("no live value for `{}`", missing.name),
                    },
                );
                self.aborted = Some(kind::CORRELATION);
                false
            }
        }
    }

    /// Accounts for one finished request: metrics, live ids, the live node, hook.
    fn complete(&mut self, (from, due, ex): (Src, Due, Exchanged)) {
        let w: &'a Worker<W> = self.w;
        let (source, i) = match from {
            Src::Own(i) => {
                self.done[i] = Some(ex.done);
                self.paused_at[i] = w.control.paused_total();
                (self.session, i)
            }
            Src::Bank { session, step } => (&w.plan.sessions[session as usize], step as usize),
        };
        let step = &source.steps[i];
        self.last_done = Some(self.last_done.map_or(ex.done, |d| d.max(ex.done)));
        let status = ex.response.as_ref().map(|r| r.status);
        let failure = ex.failure.clone().or_else(|| match status {
            Some(s) if s >= 400 => Some(Failure {
                kind: kind::STATUS,
                detail: s.to_string(),
            }),
            _ => None,
        });
        if let Some(f) = &ex.failure {
            // a broken transport ends the session; a bad status does not by itself
            self.aborted.get_or_insert(f.kind);
        }
        let sample = Sample {
            route: step.route,
            latency: ex.done.saturating_duration_since(ex.sent),
            ttfb: ex.ttfb,
            lag: due.lag(ex.sent),
            wait: due.wait(),
            bytes_sent: step.body.len() as u64,
            bytes_received: ex.response.as_ref().map_or(0, |r| r.body.len() as u64),
        };
        w.rec.borrow_mut().record(&sample, failure.clone());
        if let Some(r) = &ex.response {
            // only the values at the variables' pointers, never the whole document
            let mut picked = Picked::default();
            if let Some(reads) = &step.json_reads {
                reads.pick_slice(&r.body, &mut picked);
            }
            for (slot, &v) in step.produces.iter().enumerate() {
                let value = match &source.vars[v].source {
                    VarSource::Json { .. } => match picked.take(slot) {
                        Some(serde_json::Value::String(s)) => Some(s),
                        _ => None,
                    },
                    VarSource::Header { name, .. } => r
                        .headers
                        .get(name)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_string),
                    VarSource::Fresh => None,
                };
                let mine = match from {
                    Src::Own(_) => Some(v),
                    Src::Bank { .. } => {
                        let name = &source.vars[v].name;
                        self.session.vars.iter().position(|o| o.name == *name)
                    }
                };
                if let (Some(value), Some(mine)) = (value, mine) {
                    self.live[mine] = Some(value);
                }
            }
            if let Some(f) = self.follow {
                self.track(f, from, source.index, i, r);
            }
        }
        let routes = self.session.routes.as_deref().unwrap_or(&w.plan.routes);
        let live = Live {
            vu: self.vu,
            session: self.session,
            step: i,
            endpoint: routes
                .get(step.route as usize)
                .map_or("", |r| r.name.as_str()),
            route: step.route,
            recorded: &step.recorded,
            sent: ex.sent,
            ttfb: ex.ttfb,
            latency: sample.latency,
            status,
            headers: ex.response.as_ref().map(|r| &r.headers),
            body: ex.response.as_ref().map_or(&[][..], |r| &r.body[..]),
            chunks: ex.response.as_ref().map_or(&[][..], |r| &r.chunks[..]),
            failure: failure.as_ref(),
            vars: &self.session.vars,
            live: &self.live,
        };
        w.measure.borrow_mut().response(&live);
    }

    /// Reads the live node of a turn response and notices when it left the recording.
    fn track(&mut self, f: &Follow, from: Src, session: u32, i: usize, r: &Response) {
        let info = f.bank.step(session, i);
        if !info.turn {
            return;
        }
        self.turns += 1;
        if r.status >= 400 {
            return;
        }
        let sse = r
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| StreamScan::is_sse_content_type(ct.as_bytes()));
        let node = f.bank.live_node(&r.body, sse);
        if node == LiveNode::Missing {
            return;
        }
        self.live_node = node;
        if matches!(from, Src::Own(_)) && !self.diverged && Follow::diverged(info, node) {
            self.diverged = true;
        }
    }
}

impl Speed {
    /// A recorded duration compressed by this speed.
    pub fn scale(self, d: Duration) -> Duration {
        d.div_f64(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::client::ClientConfig;
    use std::sync::Arc;

    /// Every user holds its session's future through every think time: at 10,000 users a
    /// kilobyte there is 10 MB. A send future inlined into it (~3 KB) would show here.
    #[tokio::test]
    async fn a_waiting_users_state_stays_small() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let w = Worker {
                    plan: Arc::new(Plan::default()),
                    timing: Timing::Think,
                    speed: Speed::default(),
                    stop: CancellationToken::new(),
                    control: crate::replay::control::Local::new(
                        &crate::replay::Control::new(crate::replay::Workload::Open { multiply: 1 })
                            .target(),
                    ),
                    rec: RefCell::new(Recorder::new(0)),
                    measure: RefCell::new(crate::replay::NoMeasure),
                    timer: Timer::new(),
                };
                let tls = crate::tls::client_config(None).unwrap();
                let cc = ClientConfig::new("http://127.0.0.1:1", Duration::from_secs(1), &[], tls);
                let client = Client::new(Arc::new(cc.unwrap()));
                let s = Session::default();
                let f = run_session(&w, &client, 0, &s, Instant::now(), &w.stop);
                let size = std::mem::size_of_val(&f);
                assert!(size <= 1024, "a session's future is {size} bytes");
            })
            .await;
    }
}
