//! Typed configuration of the mock server: latency, streaming pace, keep-alive, request log
//! and misbehaviour knobs.
//!
//! `Config::default()` is the benchmark configuration: no latency, no stream pacing, no
//! idle timeout, no log, no misbehaviour. Every share is a probability in `[0, 1]`; values
//! outside are clamped by [`Share::new`].

use super::node::Node;
use std::time::Duration;

/// A probability in `[0, 1]` (a share of eligible events).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Share(f64);

impl Share {
    /// Never.
    pub const NONE: Share = Share(0.0);

    /// Clamps `p` to `[0, 1]`; NaN becomes 0.
    pub fn new(p: f64) -> Share {
        if p.is_nan() {
            Share(0.0)
        } else {
            Share(p.clamp(0.0, 1.0))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 <= 0.0
    }
}

/// Simulated LLM latency of one agent turn (`/session/continue` and its stream variant).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Latency {
    /// No delay at all (benchmarks).
    #[default]
    None,
    /// The same delay every turn.
    Fixed(Duration),
    /// Log-normal: `median · exp(spread · z)` with `z` standard normal, capped at
    /// `20 · median`. `spread` is σ of the underlying normal (0.5 ≈ p90/p50 of 1.9).
    LogNormal { median: Duration, spread: f64 },
}

/// Pacing of `POST /session/continue/stream`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stream {
    /// Delay before the first event, added to the turn's LLM latency.
    pub first: Duration,
    /// Gap between consecutive events (token events and the final `done` event).
    pub gap: Duration,
    /// Number of `data: {"token": …}` events before `event: done` (at least 1).
    pub events: u32,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            first: Duration::ZERO,
            gap: Duration::ZERO,
            events: 5,
        }
    }
}

/// Deliberate misbehaviour, for tests of the measures that must notice it. Every decision
/// is a seeded hash of (seed, knob, session start order, request index within the session),
/// so a session's injections do not depend on other sessions' timing, and every
/// injection is counted in [`super::Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Misbehave {
    /// Share of agent turns whose response names a node off the usual path (the next node
    /// after the usual one; `RLC` instead of `complete`). Only the response lies: the
    /// session's state follows the usual path.
    pub divergence: Share,
    /// Only diverge on turns whose usual node is this one (e.g. `GE`); `None` = any node.
    pub divergence_node: Option<Node>,
    /// Share of continue / stream / status responses whose `thread_id` names another live
    /// session (one last seen on a different client connection). Skipped, and not counted,
    /// when no such session exists.
    pub cross_talk: Share,
    /// Share of responses of the session endpoints with a malformed `Server-Timing` header
    /// (exactly [`super::MALFORMED_SERVER_TIMING`]).
    pub bad_server_timing: Share,
    /// Share of session-endpoint requests (not `/health`) answered `500` without touching
    /// any state.
    pub error_rate: Share,
    /// Share of AR answers graded the other way (a correct one kept in AR, an incorrect one
    /// passed on to TC): a real change of the session's state, so AR loops appear or
    /// vanish and sessions get longer or shorter — the non-determinism of an LLM tutor.
    pub grading_noise: Share,
}

/// A simulated database: a pool of `pool` connections, each checkpoint (load or save)
/// holding one for `service`. Requests queue for a free connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Db {
    pub pool: u32,
    pub service: Duration,
}

/// Everything the mock server can be told. `Default` = latency 0, nothing injected.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// LLM latency per agent turn.
    pub latency: Latency,
    /// Pacing of the SSE stream variant.
    pub stream: Stream,
    /// Close a keep-alive connection idle (no request head arriving) this long; `None`
    /// keeps idle connections open forever. uvicorn's default is 5 s.
    pub keep_alive_timeout: Option<Duration>,
    /// Keep a log of every request (see [`super::LogEntry`]); off on the hot path.
    pub request_log: bool,
    /// Seed for thread ids, latency draws and misbehaviour decisions.
    pub seed: u64,
    /// Misbehaviour knobs.
    pub misbehave: Misbehave,
    /// A database bottleneck; `None` (default) = checkpoints cost nothing and never queue.
    pub db: Option<Db>,
    /// At most this many LLM calls at once (the rest queue); `None` (default) = unlimited.
    pub llm_limit: Option<u32>,
}

impl Config {
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    pub fn stream(mut self, first: Duration, gap: Duration, events: u32) -> Self {
        self.stream = Stream {
            first,
            gap,
            events: events.max(1),
        };
        self
    }

    pub fn keep_alive_timeout(mut self, idle: Duration) -> Self {
        self.keep_alive_timeout = Some(idle);
        self
    }

    pub fn request_log(mut self, on: bool) -> Self {
        self.request_log = on;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn db(mut self, pool: u32, service: Duration) -> Self {
        self.db = Some(Db {
            pool: pool.max(1),
            service,
        });
        self
    }

    pub fn llm_limit(mut self, limit: u32) -> Self {
        self.llm_limit = Some(limit.max(1));
        self
    }

    pub fn misbehave(mut self, misbehave: Misbehave) -> Self {
        self.misbehave = misbehave;
        self
    }
}
