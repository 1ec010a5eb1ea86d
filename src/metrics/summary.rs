//! `summary.json`: every figure of a run, versioned, mergeable.
//!
//! Written by `replay` at the end of a run and read by `report`. Every histogram is carried
//! as a [`HistSummary`] (figures plus the lossless encoding), so shard summaries merge
//! exactly: counts add, histograms merge, series align on wall-clock seconds.
//!
//! Schema changes that break readers bump [`SCHEMA_VERSION`]; adding optional fields does not.

use super::HistSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "reprise.summary";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub version: u32,
    pub run: RunInfo,
    pub totals: Totals,
    /// Per endpoint template (`POST /session/continue`), sorted by name.
    pub endpoints: Vec<EndpointStats>,
    /// Failures grouped by endpoint, kind and detail.
    pub failures: Vec<FailureRow>,
    pub sessions: Sessions,
    /// One entry per wall-clock second of the run, in order.
    pub series: Vec<SeriesPoint>,
    /// Conversation-aware measures (nodes, turns, streaming, Server-Timing, divergence,
    /// isolation). Empty when nothing was measured.
    #[serde(default)]
    pub conversation: Conversation,
    /// Threshold verdicts, when thresholds were given.
    #[serde(default)]
    pub thresholds: Vec<Verdict>,
    /// The target's own metrics (`replay --scrape`); absent when nothing was scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape: Option<super::scraped::Scraped>,
    /// The run's load stages (`[[stages]]`, `--stages`), each with its own figures; absent
    /// when the run had one level throughout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunInfo {
    /// Run name (the report directory's name).
    pub name: String,
    /// `reprise x.y.z`.
    pub tool: String,
    /// Recording files replayed.
    pub recordings: Vec<String>,
    pub target: String,
    /// Profile file, when one was used.
    #[serde(default)]
    pub profile: Option<String>,
    /// RFC 3339 (µs) wall-clock start and end.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// True when the run was stopped early (Ctrl-C, or the target was unreachable).
    pub aborted: bool,
    #[serde(default)]
    pub abort_reason: Option<String>,
    /// Replay workers that failed or panicked mid-run, with the reason: the run is then
    /// aborted and its figures miss those workers' users. Absent when none was lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers_lost: Vec<WorkerLost>,
    pub workload: Workload,
    pub speed: f64,
    /// `think` or `schedule`.
    pub timing: String,
    pub timeout_s: f64,
    pub seed: u64,
    /// Closed users played sessions back to back (`--back-to-back`) rather than whole
    /// recorded clients with their pauses; absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub back_to_back: bool,
    /// Shard `i/n` of a split run, or null.
    #[serde(default)]
    pub shard: Option<String>,
    /// Names of the summaries merged into this one (empty for a single run).
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// The common start asked for with `--start-at` (RFC 3339, µs); absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// Measured start skew, `started_at` − `start_at` in ms (positive: late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew_ms: Option<f64>,
    /// A merge of shards: which were expected, merged, missing or failed, and the spread
    /// of their start skews. Absent for a single run and for a merge of unsharded runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Shards>,
    /// `--on-divergence`: `continue`, `resync` or `end` (absent in older summaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_divergence: Option<String>,
    /// Changes made while the run went (users, multiplier, pause, resume, stop), in order;
    /// absent when the run was never steered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ControlEvent>,
}

/// A replay worker lost mid-run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerLost {
    /// Index of the worker thread.
    pub worker: usize,
    /// Why: `panicked: …` or the error it stopped on.
    pub reason: String,
}

/// The shards of a split run, as the merge found them (from each summary's `shard` `i/n`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Shards {
    /// `n`: how many shards the run was split into.
    pub count: u64,
    /// Indices of the shards whose summaries were merged, ascending.
    pub merged: Vec<u64>,
    /// Indices with no summary (the shard crashed, was refused, or never ran), ascending.
    pub missing: Vec<u64>,
    /// Shards whose summary says the run was aborted.
    pub failed: Vec<FailedShard>,
    /// Spread of the merged shards' measured start skews; absent without `--start-at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew: Option<SkewSpread>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FailedShard {
    pub index: u64,
    pub reason: String,
}

/// Start skews (actual − intended start, ms) over the shards that measured one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SkewSpread {
    /// Shards that measured a skew.
    pub shards: u64,
    pub min_ms: f64,
    pub p50_ms: f64,
    /// The largest skew (the latest shard).
    pub p100_ms: f64,
    /// `p100_ms − min_ms`: how far apart the shards started.
    pub spread_ms: f64,
}

/// One change to a running replay (`replay::control`), drawn as a marker on the charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ControlEvent {
    /// Seconds since the run's start.
    pub t_s: f64,
    /// RFC 3339 (µs) wall-clock time.
    pub at: String,
    /// `users`, `multiply`, `pause`, `resume` or `stop`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<f64>,
    /// Lowered users stopped at once rather than at their next session boundary.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub at_once: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiply: Option<u64>,
    /// A rate workload's new session arrivals per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Workload {
    Closed {
        users: u64,
        spawn_rate: f64,
    },
    Open {
        multiply: u64,
    },
    /// Open workload at a rate: `per_s` session arrivals per second, evenly spaced.
    Rate {
        per_s: f64,
    },
}

impl Default for Workload {
    fn default() -> Self {
        Workload::Closed {
            users: 0,
            spawn_rate: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Totals {
    pub requests: u64,
    pub failures: u64,
    /// failures / requests (0 when no request).
    pub error_rate: f64,
    /// 1 − error_rate.
    pub success_rate: f64,
    /// requests / duration.
    pub rps: f64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Send → last byte.
    pub latency: HistSummary,
    /// Send → response head.
    pub ttfb: HistSummary,
    /// Planned send → last byte (coordinated-omission corrected): `latency` + `lag` +
    /// `dependency_wait`.
    pub corrected_latency: HistSummary,
    /// Actual − intended send time, intended = max(planned, dependency ready): the
    /// replayer's own health, blind to a slow target.
    pub lag: HistSummary,
    /// Intended − planned send time: waits for responses a request needed (an id from a
    /// slow response), beyond its plan. Empty in summaries older than this field.
    #[serde(default)]
    pub dependency_wait: HistSummary,
    /// Peak concurrent virtual users.
    pub peak_users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EndpointStats {
    /// `METHOD /path/{template}`.
    pub name: String,
    pub method: String,
    pub path: String,
    pub requests: u64,
    pub failures: u64,
    pub bytes_received: u64,
    pub latency: HistSummary,
    pub ttfb: HistSummary,
}

/// Failure kinds, as they appear in `failures[].kind`.
pub mod kind {
    pub const CONNECT: &str = "connect";
    pub const TIMEOUT: &str = "timeout";
    /// The connection broke mid-exchange (reset, closed early).
    pub const IO: &str = "io";
    /// The response was not valid HTTP/1.1 (a malformed head, content-length or chunk, a
    /// line past its size bound).
    pub const PROTOCOL: &str = "protocol";
    /// A 4xx/5xx status; the detail is the code.
    pub const STATUS: &str = "status";
    /// A request needed a value its virtual user never received.
    pub const CORRELATION: &str = "correlation";
    /// A response named another virtual user's session.
    pub const CROSS_TALK: &str = "cross_talk";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FailureRow {
    /// Endpoint name, as in `endpoints[].name`.
    pub endpoint: String,
    /// One of [`kind`].
    pub kind: String,
    /// Status code, error message or missing value: what a user needs to find the cause.
    pub detail: String,
    pub count: u64,
    /// RFC 3339 wall-clock time of the first and last occurrence (Locust's `First Seen` /
    /// `Last Seen`); null when not tracked (the report then uses the run's start and end).
    #[serde(default)]
    pub first_seen: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Sessions {
    pub started: u64,
    pub completed: u64,
    pub aborted: u64,
    /// Aborted sessions by reason (`correlation`, `connect`, `stopped`, …).
    #[serde(default)]
    pub aborted_by_reason: BTreeMap<String, u64>,
    /// Session duration, first send → last response.
    #[serde(default)]
    pub duration: HistSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SeriesPoint {
    /// Unix time, whole seconds (wall clock), the second this point covers.
    pub t: i64,
    pub requests: u64,
    pub failures: u64,
    /// Active virtual users at the end of the second.
    pub users: u64,
    /// Latency of requests completed in this second.
    pub latency: HistSummary,
    /// Lag p99 in this second, ms.
    pub lag_p99_ms: f64,
    /// Response bytes received in this second (Locust's content size in `stats_history.csv`).
    #[serde(default)]
    pub bytes_received: u64,
}

/// Conversation-aware measures. Keys of the maps are names users write in thresholds
/// (`node['AR→TC']`, `server_timing.checkpoint_save`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Conversation {
    /// Latency per node transition `FROM→TO` (`→START` for the first response).
    #[serde(default)]
    pub nodes: BTreeMap<String, HistSummary>,
    /// The same, as the recording measured it.
    #[serde(default)]
    pub recorded_nodes: BTreeMap<String, HistSummary>,
    /// Latency per turn index of the conversation endpoint (`1`, `2`, …).
    #[serde(default)]
    pub turns: BTreeMap<String, HistSummary>,
    #[serde(default)]
    pub recorded_turns: BTreeMap<String, HistSummary>,
    /// Per endpoint name.
    #[serde(default)]
    pub streaming: BTreeMap<String, Streaming>,
    /// Per Server-Timing metric name; durations as reported by the server.
    #[serde(default)]
    pub server_timing: BTreeMap<String, HistSummary>,
    #[serde(default)]
    pub server_timing_malformed: u64,
    /// Configured JSON pointers counted when truthy, e.g. `/simulation_triggered`.
    #[serde(default)]
    pub fields: BTreeMap<String, u64>,
    #[serde(default)]
    pub divergence: Divergence,
    #[serde(default)]
    pub isolation: Isolation,
    /// Node paths of the live conversations beside the recorded ones they replayed.
    #[serde(default, skip_serializing_if = "Paths::is_empty")]
    pub paths: Paths,
    /// What users did when the live agent left the recording (`--on-divergence`).
    #[serde(default, skip_serializing_if = "Follow::is_empty")]
    pub follow: Follow,
}

/// Node paths per session (`APK→CI→GE→AR→TC→RLC→complete`): the node of the session's first
/// response naming one, then of each turn response. Optional in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Paths {
    #[serde(default)]
    pub live: PathCounts,
    /// The recorded sessions that were replayed, as recorded (once per replay).
    #[serde(default)]
    pub recorded: PathCounts,
    /// Total variation distance (0–1) between the live and recorded path-length
    /// distributions: half the sum of the absolute differences of their shares.
    #[serde(default)]
    pub length_distance: f64,
    /// The same over whole paths.
    #[serde(default)]
    pub path_distance: f64,
}

impl Paths {
    pub fn is_empty(&self) -> bool {
        self.live.sessions == 0 && self.recorded.sessions == 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PathCounts {
    /// Sessions with a path.
    pub sessions: u64,
    /// Sessions per path (`(other)` past the cap of distinct paths).
    #[serde(default)]
    pub paths: BTreeMap<String, u64>,
    /// Sessions per path length (nodes in the path), keys `"7"`.
    #[serde(default)]
    pub lengths: BTreeMap<String, u64>,
}

/// What users did after the live agent left the recorded conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Follow {
    /// Sessions that left their recording (re-synchronised or ended there).
    pub sessions: u64,
    /// Those sessions by the live node where they left it.
    #[serde(default)]
    pub by_node: BTreeMap<String, u64>,
    /// Answers taken from the bank.
    #[serde(default)]
    pub answers: u64,
    /// How they ended: `terminal`, `turn_cap`, `end`, `no_answer`, `stopped`.
    #[serde(default)]
    pub ended: BTreeMap<String, u64>,
}

impl Follow {
    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Streaming {
    pub responses: u64,
    /// Send → first complete event.
    pub ttft: HistSummary,
    /// Between consecutive events.
    pub gap: HistSummary,
    /// Events per response (a count, stored in the histogram as plain numbers, not µs).
    pub events: HistSummary,
    /// Send → end of stream.
    pub duration: HistSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Divergence {
    /// Turns compared (live node vs recorded node of the same exchange).
    pub compared: u64,
    pub diverged: u64,
    /// Per recorded node: `[compared, diverged]`.
    #[serde(default)]
    pub by_node: BTreeMap<String, NodeDivergence>,
    /// Sessions by the first turn at which they diverged (`"3"` → 12 sessions).
    #[serde(default)]
    pub first_turn: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeDivergence {
    pub compared: u64,
    pub diverged: u64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Isolation {
    pub cross_talk: u64,
    /// A few examples, for the report.
    #[serde(default)]
    pub examples: Vec<CrossTalkExample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CrossTalkExample {
    pub endpoint: String,
    /// The session this virtual user owns.
    pub expected: String,
    /// The other user's session the response named.
    pub found: String,
}

/// One stage of a load shape and its own figures, computed from the series seconds of its
/// window (a second belongs to the stage its middle falls in, so stages add up to the run's
/// totals exactly: counts add, histograms merge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stage {
    /// 1-based, in run order.
    pub index: usize,
    /// As given in the profile, else the index.
    pub name: String,
    /// Users for a closed workload, the multiplier for an open one, sessions per second for
    /// a rate one.
    pub target: f64,
    pub ramp_s: f64,
    pub hold_s: f64,
    /// The window, seconds since the run's start; the last stage's ends with the run.
    pub start_s: f64,
    pub end_s: f64,
    /// True when the run ended (`--duration`, Ctrl-C, `--abort-on`) before this stage
    /// began: its window is the planned one and it has no figures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_reached: bool,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    pub success_rate: f64,
    /// requests / seconds of the window.
    pub rps: f64,
    pub bytes_received: u64,
    /// Latency of the requests completed in the window (merged from its seconds).
    pub latency: HistSummary,
    /// Most active users at the end of one of its seconds.
    pub peak_users: u64,
    /// The worst second's lag p99, ms: whether the generator kept up in this stage.
    pub lag_p99_ms: f64,
    /// Every `Server-Timing` metric of the responses completed in the window (queueing
    /// included where the target reports it), as in `conversation.server_timing`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_timing: BTreeMap<String, HistSummary>,
    /// Scraped series over the window (`--scrape`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape: Vec<StageSeries>,
    /// Thresholds scoped to this stage (`stage[2].p95 < 5s`), and the run's other thresholds
    /// that a stage can measure, judged on this stage alone (informative: only scoped ones
    /// decide the exit code, through the run's `thresholds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Verdict>,
}

/// One scraped series over one stage's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StageSeries {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub kind: String,
    /// Samples in the window.
    pub points: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    /// Counters: the increase per second over the window (from the last sample before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// One threshold and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The expression as written, e.g. `p95 < 5s`.
    pub expr: String,
    /// The measured value in the expression's unit (ms for durations, % for rates), or null
    /// when the metric was not measured.
    pub value: Option<f64>,
    pub ok: bool,
    /// Human-readable measured value, e.g. `4.21s`.
    pub observed: String,
}
