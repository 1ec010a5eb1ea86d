//! Replay: recorded sessions as load — virtual users, ids rewritten, timing kept.
//!
//! The recording is turned once into a [`Plan`] ([`plan`]); [`run`] then drives it against
//! a target with `N` worker threads, each a current-thread tokio runtime that owns its
//! virtual users ([`vu`]), its HTTP clients ([`client`], one per user) and its own
//! [`metrics::Recorder`](crate::metrics::Recorder) — so nothing is locked per request. Each
//! second every worker sends its finished second to the calling thread, which merges the
//! seconds into the 1-second series, prints progress, and at the end merges the workers'
//! recorders into one [`Summary`].
//!
//! - Timing ([`Timing`]): `think` sends each request at live completion of its dependency
//!   + recorded gap / speed; `schedule` at live session start + recorded offset / speed.
//! - Workload ([`Workload`]): closed (N users, each replaying recorded clients whole — their
//!   sessions with the recorded pauses between them — over a seeded shuffled round robin,
//!   or sessions back to back: [`walk`]) or open (the recorded arrivals K times over, or
//!   the recorded sessions at a rate of sessions per second: [`rate`]).
//! - Rewriting ([`rewrite`]): correlated ids → this user's live ids; client-generated ids
//!   → fresh ones per user.
//! - Following the agent ([`follow`], [`bank`]): when a live turn names another node than
//!   the recording, users go on as recorded, re-synchronise from the answer bank for the
//!   live node, or end the session (`--on-divergence`).
//! - The [`hook`] lets conversation-aware measures see every live response beside its
//!   recorded twin ([`hook::NoMeasure`] by default).
//!
//! # Invariants
//! - The caller's `CancellationToken` stops the run: no new request is sent, in-flight ones
//!   complete (bounded by the timeout), the summary is written, marked aborted.
//! - `--duration` stops the run the same way, not marked aborted.
//! - [`Config::abort`] stops it at once: in-flight requests are dropped, the summary holds
//!   what completed before.
//! - A closed user whose session ended on a transport failure waits before its next one
//!   ([`backoff`]), so a broken target is not flooded.
//! - A target that refuses connections before the run starts is an [`Error::Unreachable`],
//!   reported within seconds; during the run, failures are data, never errors.

mod aggregate;
pub mod backoff;
pub mod bank;
pub mod client;
pub mod console;
pub mod control;
pub mod conversation;
pub mod deadline;
pub mod follow;
pub mod hook;
pub mod limits;
mod load;
pub mod plan;
pub mod priority;
pub mod rate;
pub mod rewrite;
mod run;
pub mod sample;
pub mod stage_timing;
pub mod stages;
pub mod stream;
pub mod timer;
mod vu;
pub mod walk;
pub mod workers;

pub use control::{Change, Control};
pub use follow::OnDivergence;
pub use hook::{Measure, NoMeasure, WorkerMeasure};
pub use plan::{Plan, RouteId};
pub use run::{run, run_with, Progress};

pub use crate::timing::Timing;
use http::{HeaderName, HeaderValue};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("target `{target}` is not a usable base URL ({reason}); expected e.g. http://127.0.0.1:8000")]
    BadTarget { target: String, reason: String },
    #[error("target {target} is unreachable: {detail}; is it running?")]
    Unreachable { target: String, detail: String },
    #[error("the recording has no exchanges to replay")]
    EmptyPlan,
    #[error("cannot start worker thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("--realtime: {0}")]
    Realtime(String),
    #[error("TLS setup for the target failed")]
    Tls(#[from] crate::tls::Error),
}

/// Time compression: recorded durations are divided by it. Always finite and > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(f64);

impl Speed {
    pub fn new(s: f64) -> Option<Speed> {
        (s.is_finite() && s > 0.0).then_some(Speed(s))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Speed {
    fn default() -> Self {
        Speed(1.0)
    }
}

/// How many sessions run at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// `users` virtual users, started at `spawn_rate` per second (all at once when `None`),
    /// each replaying recorded clients session after session ([`walk`]).
    Closed { users: u64, spawn_rate: Option<f64> },
    /// The recorded session arrivals, `multiply` times over, copy `c` shifted by
    /// `c · span / multiply`.
    Open { multiply: u64 },
    /// Open workload at `per_s` session arrivals per second (all shards together), evenly
    /// spaced: arrival `n` plays recorded session `n mod len` in recorded order, so the
    /// recording is cycled once used up ([`rate`]).
    Rate { per_s: f64 },
}

/// Shard `index` of `count` (0-based index): this process runs every user (closed) or
/// arrival (open) whose number is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `i/n` with `0 <= i < n`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard (expected i/n with 0 <= i < n, e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Everything a run needs besides the plan.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the target, `http://host:port` or `https://…`, without a trailing slash.
    pub target: String,
    pub workload: Workload,
    pub speed: Speed,
    pub timing: Timing,
    /// Stop after this long; `None`: closed users replay the recording once between them,
    /// open runs end when every arrival has finished.
    pub duration: Option<Duration>,
    pub timeout: Duration,
    /// Seeds the session order of closed users (and their drawn pauses).
    pub seed: u64,
    /// Closed users play sessions back to back (a round robin over the sessions) instead of
    /// whole recorded clients with their pauses between sessions (`--back-to-back`).
    pub back_to_back: bool,
    /// Added to every request, replacing recorded headers of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub shard: Option<Shard>,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// PEM file of CA certificates trusted for an `https://` target, besides the webpki
    /// roots (`--ca-cert`).
    pub ca_cert: Option<PathBuf>,
    /// Users (or arrivals) `0..keep_sample` whose live exchanges the command writes to
    /// `sample.trace.zst` ([`sample`]); 0 keeps none.
    pub keep_sample: u64,
    /// Cancelled: stop at once — no request is awaited any more (in-flight ones are
    /// dropped, not counted), the summary holds what was measured (a second Ctrl-C).
    pub abort: tokio_util::sync::CancellationToken,
    /// Per-route figures in every [`Progress::second`] (a live view such as `--web`); one
    /// more histogram record per request, so off unless asked for.
    pub live: bool,
    /// Worker threads under `SCHED_FIFO` ([`priority`], `--realtime`): think times hold on
    /// a busy machine.
    pub realtime: bool,
    /// An open workload's sessions, streamed from the recording ([`stream`]) instead of
    /// taken from the plan (which then holds only their keys and starts).
    pub stream: Option<Arc<stream::Stream>>,
}

impl Config {
    /// A config with the defaults of the command line (think timing, speed 1, 60 s timeout).
    pub fn new(target: impl Into<String>, workload: Workload) -> Config {
        Config {
            target: target.into().trim_end_matches('/').to_string(),
            workload,
            speed: Speed::default(),
            timing: Timing::Think,
            duration: None,
            timeout: Duration::from_secs(60),
            seed: 1,
            back_to_back: false,
            headers: Vec::new(),
            shard: None,
            workers: 0,
            ca_cert: None,
            keep_sample: 0,
            abort: Default::default(),
            live: false,
            realtime: false,
            stream: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_speeds_parse() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!(Speed::new(0.0).is_none());
        assert!(Speed::new(f64::NAN).is_none());
        assert_eq!(
            Speed::new(10.0).unwrap().scale(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
    }
}
