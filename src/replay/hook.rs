//! The response hook: where conversation-aware measures plug into the replay.
//!
//! A [`Measure`] is shared by the run; each worker thread asks it for its own
//! [`WorkerMeasure`] (not `Send`, no lock: it lives on that thread like the worker's
//! recorder). The virtual users of that worker call it at every session start, for every
//! live response beside its recorded twin ([`Live`]), and at every session end. When the
//! run is over, each worker's measure is turned into a `Part` and the run hands all parts
//! to [`Measure::finish`], which writes its figures into the [`Summary`] (typically its
//! `conversation` section).
//!
//! [`NoMeasure`] does nothing and is the default.
//!
//! # Invariants
//! - `response` is called exactly once per request that was sent, after its body was read
//!   to the end (or broke off), on the worker thread that sent it.
//! - `session_end` follows every `session_start`, also for sessions stopped by the end of
//!   the run.
//! - A request re-synchronised from the answer bank is shown with the recorded exchange it
//!   was taken from (another recorded session's): `step` is its index there.

use super::plan::{Route, Session, Twin, Var};
use crate::metrics::{Failure, Summary};
use http::HeaderMap;
use std::time::Duration;
use tokio::time::Instant;

/// A live response (or failure) beside the exchange it replays.
#[derive(Debug)]
pub struct Live<'a> {
    /// Virtual user (closed workload) or arrival (open workload) number.
    pub vu: u64,
    pub session: &'a Session,
    /// Index of the step in `session.steps` (its turn, counting every request); for an
    /// answer taken from the bank, in the steps of the session it was recorded in.
    pub step: usize,
    /// Endpoint name, `POST /session/continue`.
    pub endpoint: &'a str,
    pub route: u32,
    /// What the plan kept of the recorded exchange this request replays (its node name:
    /// `session.node(n)`, also for a bank step of another session: the list is the plan's).
    pub recorded: &'a Twin,
    pub sent: Instant,
    /// Send → response head.
    pub ttfb: Option<Duration>,
    /// Send → last byte (or failure).
    pub latency: Duration,
    /// Live status, when a response came.
    pub status: Option<u16>,
    pub headers: Option<&'a HeaderMap>,
    pub body: &'a [u8],
    /// Arrival of each body chunk from the send, with its size (SSE pacing).
    pub chunks: &'a [(Duration, usize)],
    pub failure: Option<&'a Failure>,
    /// This user's variables and their live values (e.g. the `thread_id` it owns).
    pub vars: &'a [Var],
    pub live: &'a [Option<String>],
}

/// A session as the hook sees it start or end.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo<'a> {
    pub vu: u64,
    pub session: &'a Session,
    pub started: Instant,
    /// The plan's endpoints, by [`RouteId`](super::RouteId) (a step's `route`).
    pub routes: &'a [Route],
}

/// How a session ended.
#[derive(Debug, Clone, Copy)]
pub struct SessionEnd<'a> {
    /// `None` when every step was sent (or a re-synchronised conversation reached a terminal
    /// node); else the reason (`correlation`, `connect`, `stopped`, `turn_cap`, `diverged`…).
    pub aborted: Option<&'a str>,
    pub duration: Duration,
    /// Set when the live agent left the recorded conversation and the run follows it
    /// (`--on-divergence resync|end`).
    pub follow: Option<Followed<'a>>,
}

/// What a session did after the live agent left its recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed<'a> {
    /// The live node where it left (`(unknown)` for a node the recording never named).
    pub at: &'a str,
    /// Answers taken from the bank.
    pub answers: u32,
    /// How it ended: `terminal`, `turn_cap`, `end`, `no_answer` or `stopped`.
    pub ended: &'a str,
}

/// Per-run measure: makes one [`WorkerMeasure`] per worker and merges their parts.
pub trait Measure: Send + Sync + 'static {
    type Worker: WorkerMeasure;
    /// Called on worker thread `index` before it starts.
    fn worker(&self, index: usize) -> Self::Worker;
    /// Called once at the end with every worker's part.
    fn finish(&self, parts: Vec<<Self::Worker as WorkerMeasure>::Part>, summary: &mut Summary);
}

/// Per-worker measure, called by the virtual users of one worker.
pub trait WorkerMeasure: 'static {
    type Part: Send + 'static;
    fn session_start(&mut self, _s: &SessionInfo<'_>) {}
    fn response(&mut self, _r: &Live<'_>) {}
    fn session_end(&mut self, _s: &SessionInfo<'_>, _end: &SessionEnd<'_>) {}
    /// The conversation measures so far, for a live view: called once a second on the
    /// worker's thread when the run is shown live ([`Config::live`](super::Config)), never
    /// on a response's path. `None` (the default): nothing to show.
    fn snapshot(&mut self) -> Option<std::sync::Arc<crate::metrics::conversation::Recorder>> {
        None
    }
    fn finish(self) -> Self::Part;
}

/// The measure that measures nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMeasure;

impl Measure for NoMeasure {
    type Worker = NoMeasure;
    fn worker(&self, _index: usize) -> NoMeasure {
        NoMeasure
    }
    fn finish(&self, _parts: Vec<()>, _summary: &mut Summary) {}
}

impl WorkerMeasure for NoMeasure {
    type Part = ();
    fn finish(self) {}
}
