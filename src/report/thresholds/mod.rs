//! Threshold expressions: `METRIC OP VALUE`, parsed once, evaluated against a [`Summary`].
//!
//! The language is in the spirit of k6's thresholds and documented in the README
//! (`thresholds`). A few examples:
//!
//! ```text
//! p95 < 5s
//! error_rate < 0.1%
//! endpoint['POST /session/continue'].p99 < 10s
//! server_timing.checkpoint_save.p95 < 200ms
//! node['AR→TC'].avg < 3s          (`->` is accepted for `→`)
//! success_rate >= 95%
//! stage[2].p95 < 5s               (one stage of a load shape: by index or name)
//! scrape['db_pool_in_use / db_pool_max'].max < 0.8   (the target's metrics, see `scrape`)
//! ```
//!
//! # Invariants
//! - Parsing never panics; every error names the expression and the 1-based column (in
//!   characters, so `→` counts once) and carries a caret line under it.
//! - A parsed value is stored in the metric's own unit: milliseconds for durations, percent
//!   for rates, plain numbers for counts and per-second rates. Unit checks happen at parse
//!   time, so evaluation cannot meet a unit mismatch.
//! - Evaluation never fails: a metric absent from the summary yields a failed [`Verdict`]
//!   whose `observed` text says what was missing (see [`evaluate`]).

mod evaluate;
mod parse;
pub mod scrape;
#[cfg(test)]
mod tests;

pub use evaluate::measure;
pub(crate) use evaluate::stage_verdict;
pub use parse::did_you_mean;

use crate::metrics::summary::{Summary, Verdict};
use parse::Parser;
use std::fmt;

/// A threshold that does not parse: the expression, where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ParseError {
    pub expr: String,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    /// What is allowed there, printed after the column.
    pub help: Option<String>,
}

impl ParseError {
    fn new(expr: &str, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            expr: expr.to_string(),
            column,
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\": {} at column {}",
            self.expr, self.message, self.column
        )?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        let pad = " ".repeat(self.column.saturating_sub(1));
        write!(f, "\n    {}\n    {pad}^", self.expr)
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        let eq = (observed - limit).abs() <= 1e-9 * limit.abs().max(1.0);
        match self {
            Op::Lt => observed < limit && !eq,
            Op::Le => observed <= limit || eq,
            Op::Gt => observed > limit && !eq,
            Op::Ge => observed >= limit || eq,
            Op::Eq => eq,
            Op::Ne => !eq,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a metric measures, which decides the units its value may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Milliseconds; written with `ms`, `s`, `m` (a bare number is milliseconds).
    Duration,
    /// Percent; written with `%` (a bare number is a fraction: `0.01` is 1 %).
    Rate,
    /// A plain number (requests, failures, sessions, events).
    Count,
    /// Per second (`rps`); a plain number.
    PerSecond,
}

/// A statistic of a histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Avg,
    Min,
    Max,
    /// Number of samples.
    Count,
    /// A percentile, 0 < p <= 100 (`med` and `p50` are 50).
    Pct(f64),
}

/// Which histogram of the summary.
#[derive(Debug, Clone, PartialEq)]
pub enum HistRef {
    /// `totals.latency` (bare `p95`, `avg`, …).
    Latency,
    Ttfb,
    /// Coordinated-omission corrected latency.
    Corrected,
    Lag,
    SessionDuration,
    EndpointLatency(String),
    EndpointTtfb(String),
    ServerTiming(String),
    Node(String),
    RecordedNode(String),
    Turn(String),
    RecordedTurn(String),
    /// `streaming['EP'].ttft|gap|events|duration`.
    Streaming(String, StreamPart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPart {
    Ttft,
    Gap,
    Events,
    Duration,
}

/// Requests in all, or of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    Total,
    Endpoint(String),
}

/// A measurable figure of a [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    Hist(HistRef, Stat),
    ErrorRate(Scope),
    SuccessRate(Scope),
    Requests(Scope),
    Failures(Scope),
    Rps(Scope),
    DivergenceRate,
    /// `divergence['AR'].rate`.
    NodeDivergenceRate(String),
    CrossTalk,
    SessionsStarted,
    SessionsCompleted,
    SessionsAborted,
    /// A truthy-field counter, `fields['/simulation_triggered']`.
    Field(String),
    StreamingResponses(String),
    ServerTimingMalformed,
    /// A statistic of a series derived from the target's scraped metrics.
    Scrape(scrape::Expr, scrape::Stat),
}

impl Metric {
    pub fn kind(&self) -> Kind {
        match self {
            Metric::Hist(HistRef::Streaming(_, StreamPart::Events), _) => Kind::Count,
            Metric::Hist(_, Stat::Count) => Kind::Count,
            Metric::Hist(..) => Kind::Duration,
            Metric::ErrorRate(_)
            | Metric::SuccessRate(_)
            | Metric::DivergenceRate
            | Metric::NodeDivergenceRate(_) => Kind::Rate,
            Metric::Rps(_) => Kind::PerSecond,
            _ => Kind::Count,
        }
    }
}

/// Which stage of a load shape a threshold is scoped to (`stage[2]`, `stage['light']`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRef {
    /// 1-based.
    Index(usize),
    Name(String),
}

impl StageRef {
    /// True when it names stage `index` (1-based) called `name`.
    pub fn is(&self, index: usize, name: &str) -> bool {
        match self {
            StageRef::Index(i) => *i == index,
            StageRef::Name(n) => n == name,
        }
    }
}

impl fmt::Display for StageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageRef::Index(i) => write!(f, "stage {i}"),
            StageRef::Name(n) => write!(f, "stage '{n}'"),
        }
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written (trimmed).
    pub expr: String,
    /// Judged on this stage's figures only; `None`: on the whole run.
    pub stage: Option<StageRef>,
    pub metric: Metric,
    pub op: Op,
    /// In the metric's unit (ms, %, count, per second).
    pub limit: f64,
}

impl Threshold {
    pub fn parse(expr: &str) -> Result<Threshold, ParseError> {
        Parser::new(expr.trim()).threshold()
    }

    /// Evaluates against a summary; never fails (a missing metric is a failed verdict).
    pub fn evaluate(&self, summary: &Summary) -> Verdict {
        evaluate::verdict(self, summary)
    }

    /// True when a stage has the figure this threshold reads (latency, rates, counts,
    /// scraped series), so it can also be judged per stage.
    pub fn per_stage(&self) -> bool {
        evaluate::per_stage(&self.metric)
    }
}

/// A list of thresholds, e.g. from a profile plus `--threshold` flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds(pub Vec<Threshold>);

impl Thresholds {
    /// Parses every expression; the first bad one is the error.
    pub fn parse_all<S: AsRef<str>>(exprs: &[S]) -> Result<Thresholds, ParseError> {
        exprs
            .iter()
            .map(|e| Threshold::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Thresholds)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn evaluate(&self, summary: &Summary) -> Vec<Verdict> {
        self.0.iter().map(|t| t.evaluate(summary)).collect()
    }

    /// The first threshold naming a stage that is not among `stages` (1-based index,
    /// name), with the message to show; checked before a run starts.
    pub fn unknown_stage(&self, stages: &[(usize, String)]) -> Option<String> {
        for t in &self.0 {
            let Some(r) = &t.stage else { continue };
            if !stages.iter().any(|(i, n)| r.is(*i, n)) {
                let have = if stages.is_empty() {
                    "this run has no stages (give --stages or [[stages]])".to_string()
                } else {
                    let names: Vec<String> =
                        stages.iter().map(|(i, n)| format!("{i} '{n}'")).collect();
                    format!("stages: {}", names.join(", "))
                };
                return Some(format!("threshold \"{}\": no {r} ({have})", t.expr));
            }
        }
        None
    }
}
