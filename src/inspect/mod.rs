//! `reprise inspect`: what a recording holds, read in one streaming pass.
//!
//! [`inspect`] reads a trace with [`trace::Reader`] and gathers a [`Report`]: sessions,
//! exchanges, time span, endpoints as templates, exchanges per session, think times, node
//! paths, status codes, errors by kind and the file's integrity. [`render`] prints it as a
//! table; the `Report` itself serialises to the `--json` output.
//!
//! # Definitions
//! - **Think time** of an exchange: the gap from the latest completion of an earlier
//!   exchange of the same session that had completed when it was sent, to its send. An
//!   exchange sent while nothing of its session had completed yet has none.
//! - **Node path** of a session: the node (JSON pointer, default `/current_node`) of each
//!   2xx response to a non-`GET` request, in send order — the turns that move the
//!   conversation; status polls (`GET`) observe it and are left out.
//!
//! # Invariants
//! - Memory grows with sessions and their exchanges' small timing records, never with
//!   bodies: each exchange is dropped once counted.
//! - A damaged tail is reported, not an error; only an unreadable or non-trace file is.

mod render;
pub mod secrets;

pub use render::render;

use crate::correlate::template;
use crate::metrics::{sse, Hist};
use crate::trace::{self, Exchange, Footer, Reader};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a readable trace (its message names the file).
    #[error(transparent)]
    Trace(#[from] trace::Error),
}

/// What to read from the exchanges.
#[derive(Debug, Clone)]
pub struct Config {
    /// The placeholder name for a session key in endpoint templates (`thread_id`).
    pub session_name: String,
    /// JSON pointer to the conversation node in response bodies (`/current_node`).
    pub node_pointer: String,
    /// How many node paths to list.
    pub top_paths: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_name: "thread_id".to_string(),
            node_pointer: "/current_node".to_string(),
            top_paths: 10,
        }
    }
}

/// Everything `inspect` prints; the `--json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub created_at: DateTime<Utc>,
    pub tool: String,
    pub source: serde_json::Map<String, serde_json::Value>,
    pub sessions: u64,
    pub exchanges: u64,
    /// Exchanges that belong to no session (`GET /health`, …).
    pub without_session: u64,
    pub span: Option<Span>,
    /// Most frequent first.
    pub endpoints: Vec<Endpoint>,
    pub exchanges_per_session: Option<MinMedMax>,
    pub think_time: Option<ThinkTime>,
    /// Most frequent first, at most `Config::top_paths`.
    pub node_paths: Vec<NodePath>,
    /// Distinct node paths seen in all.
    pub distinct_node_paths: u64,
    /// Status code → responses.
    pub statuses: BTreeMap<u16, u64>,
    /// Error kind → exchanges that failed (`error.kind`; `no_response` when a record has
    /// neither `res` nor `error`). A response broken mid-body counts here and in `statuses`.
    pub errors: BTreeMap<String, u64>,
    pub integrity: Integrity,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Earliest send.
    pub start: DateTime<Utc>,
    /// Latest completion.
    pub end: DateTime<Utc>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// `METHOD /path/{template}`.
    pub name: String,
    pub count: u64,
    /// Exchanges with an error, no response, or a 5xx.
    pub failures: u64,
    /// Send to last byte, milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MinMedMax {
    pub min: u64,
    pub p50: u64,
    pub max: u64,
}

/// Think-time distribution, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThinkTime {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePath {
    /// `APK→CI→GE→AR→TC`.
    pub path: String,
    pub sessions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// The footer, when the recording was closed cleanly.
    pub footer: Option<Footer>,
    /// Where a damaged or cut file stops, when it does.
    pub torn: Option<TornTail>,
    /// Exchanges the recorder could not write (from the footer).
    pub dropped: Option<u64>,
    /// Lines of a record kind this version does not know, skipped.
    pub skipped_lines: u64,
    /// The footer's exchange count equals what was read.
    pub footer_matches: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TornTail {
    pub offset: u64,
    pub recovered: u64,
    /// The decompressed line that is not a valid record, when a line broke.
    pub line: Option<u64>,
    /// What is wrong, in words.
    pub why: &'static str,
}

/// What is kept of one session while reading.
#[derive(Debug, Default)]
struct Session {
    exchanges: u64,
    /// Completion offsets (µs from recording start), sorted.
    completions: Vec<u64>,
    /// Sends (µs); their think times are resolved at the end, since a file is in
    /// completion order and a response that completes later can precede a send.
    sends: Vec<u64>,
    /// `(send µs, node)` of the turns that move the conversation.
    nodes: Vec<(u64, String)>,
}

#[derive(Default)]
struct EndpointAcc {
    hist: Hist,
    failures: u64,
}

/// Reads `path` to the end and describes it.
pub fn inspect(path: &Path, config: &Config) -> Result<Report, Error> {
    let mut reader = Reader::open(path)?;
    let header = reader.header().clone();
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let mut endpoints: HashMap<String, EndpointAcc> = HashMap::new();
    let mut statuses = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut exchanges = 0u64;
    let mut without_session = 0u64;
    let mut span: Option<(u64, DateTime<Utc>, u64)> = None; // (min t_us, its sent_at, max end µs)

    for exchange in reader.by_ref() {
        let x = exchange?;
        exchanges += 1;
        let end_us = x.t_us.saturating_add(x.done_us);
        span = Some(match span {
            None => (x.t_us, x.sent_at, end_us),
            Some((t, _, end)) if x.t_us < t => (x.t_us, x.sent_at, end.max(end_us)),
            Some((t, at, end)) => (t, at, end.max(end_us)),
        });
        let name = endpoint_name(&x, config);
        let acc = endpoints.entry(name).or_default();
        acc.hist.record_us(x.done_us);
        if x.error.is_some() || x.res.as_ref().is_none_or(|r| r.status >= 500) {
            acc.failures += 1;
        }
        if let Some(res) = &x.res {
            *statuses.entry(res.status).or_insert(0) += 1;
        }
        match (&x.res, &x.error) {
            (_, Some(err)) => *errors.entry(err.kind.clone()).or_insert(0) += 1,
            (None, None) => *errors.entry("no_response".to_string()).or_insert(0) += 1,
            (Some(_), None) => {}
        }
        match &x.session {
            None => without_session += 1,
            Some(key) => {
                let s = sessions.entry(key.clone()).or_default();
                s.exchanges += 1;
                let at = s.completions.partition_point(|&c| c <= end_us);
                s.completions.insert(at, end_us);
                s.sends.push(x.t_us);
                if let Some(node) = node_of(&x, &config.node_pointer) {
                    s.nodes.push((x.t_us, node));
                }
            }
        }
    }

    let mut think = Hist::new();
    let mut think_max_us = 0u64;
    let mut per_session = Vec::with_capacity(sessions.len());
    let mut paths: HashMap<String, u64> = HashMap::new();
    for s in sessions.values_mut() {
        per_session.push(s.exchanges);
        for &send in &s.sends {
            // The latest completion before this send (strictly: never its own).
            let before = s.completions.partition_point(|&c| c < send);
            if before > 0 {
                let gap = send - s.completions[before - 1];
                think.record_us(gap);
                think_max_us = think_max_us.max(gap);
            }
        }
        if !s.nodes.is_empty() {
            s.nodes.sort_by_key(|(t, _)| *t);
            let path = s
                .nodes
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join("→");
            *paths.entry(path).or_insert(0) += 1;
        }
    }

    let integrity = reader.integrity();
    Ok(Report {
        file: path.to_path_buf(),
        created_at: header.created_at,
        tool: header.tool,
        source: header.source,
        sessions: sessions.len() as u64,
        exchanges,
        without_session,
        span: span.map(|(start_us, start, end_us)| {
            let seconds = end_us.saturating_sub(start_us) as f64 / 1e6;
            Span {
                start,
                end: start
                    + ChronoDuration::microseconds(
                        i64::try_from(end_us - start_us).unwrap_or(i64::MAX / 2),
                    ),
                seconds,
            }
        }),
        endpoints: endpoint_rows(endpoints),
        exchanges_per_session: min_med_max(per_session),
        think_time: (!think.is_empty()).then(|| ThinkTime {
            samples: think.count(),
            p50_ms: think.quantile_us(0.5) as f64 / 1e3,
            p90_ms: think.quantile_us(0.9) as f64 / 1e3,
            max_ms: think_max_us as f64 / 1e3,
        }),
        distinct_node_paths: paths.len() as u64,
        node_paths: top(paths, config.top_paths),
        statuses,
        errors,
        integrity: Integrity {
            footer: integrity.footer,
            torn: integrity.torn.map(|t| TornTail {
                offset: t.offset,
                recovered: t.recovered,
                line: t.line,
                why: t.why,
            }),
            dropped: integrity.footer.map(|f| f.dropped),
            skipped_lines: integrity.skipped,
            footer_matches: integrity.footer.map(|f| f.exchanges == exchanges),
        },
    })
}

/// `METHOD /template`, the session key shown as `{session_name}`.
fn endpoint_name(x: &Exchange, config: &Config) -> String {
    let ids: &[(&str, &str)] = match &x.session {
        Some(key) => &[(key.as_str(), config.session_name.as_str())],
        None => &[],
    };
    template::endpoint(&x.req.method, &x.req.path, ids)
}

/// The node of a 2xx response to a non-GET request, when its body names one: a JSON body,
/// or the last event of a server-sent event stream whose data is JSON naming it (the
/// streaming turn's final `done` state).
fn node_of(x: &Exchange, pointer: &str) -> Option<String> {
    if x.req.method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let res = x.res.as_ref().filter(|r| (200..300).contains(&r.status))?;
    if let Some(json) = res.body.json() {
        return node_in(json, pointer);
    }
    let trace::BodyData::Text(text) = &res.body.data else {
        return None;
    };
    sse::parse_all(text.as_bytes()).iter().rev().find_map(|e| {
        let json = serde_json::from_str::<serde_json::Value>(&e.data).ok()?;
        node_in(&json, pointer)
    })
}

fn node_in(json: &serde_json::Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn endpoint_rows(endpoints: HashMap<String, EndpointAcc>) -> Vec<Endpoint> {
    let mut rows: Vec<Endpoint> = endpoints
        .into_iter()
        .map(|(name, acc)| Endpoint {
            name,
            count: acc.hist.count(),
            failures: acc.failures,
            p50_ms: acc.hist.quantile_us(0.5) as f64 / 1e3,
            p95_ms: acc.hist.quantile_us(0.95) as f64 / 1e3,
            max_ms: acc.hist.max_us() as f64 / 1e3,
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    rows
}

fn top(counts: HashMap<String, u64>, n: usize) -> Vec<NodePath> {
    let mut rows: Vec<NodePath> = counts
        .into_iter()
        .map(|(path, sessions)| NodePath { path, sessions })
        .collect();
    rows.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.path.cmp(&b.path))
    });
    rows.truncate(n);
    rows
}

/// Nearest-rank median of exact values.
fn min_med_max(mut values: Vec<u64>) -> Option<MinMedMax> {
    values.sort_unstable();
    Some(MinMedMax {
        min: *values.first()?,
        p50: values[(values.len() - 1) / 2],
        max: *values.last()?,
    })
}
