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
//! ```
//!
//! # Invariants
//! - Parsing never panics; every error names the expression and the 1-based column (in
//!   characters, so `→` counts once) and carries a caret line under it.
//! - A parsed value is stored in the metric's own unit: milliseconds for durations, percent
//!   for rates, plain numbers for counts and per-second rates. Unit checks happen at parse
//!   time, so evaluation cannot meet a unit mismatch.
//! - Evaluation never fails: a metric absent from the summary yields a failed [`Verdict`]
//!   whose `observed` text says what was missing (see [`super::evaluate`]).

use crate::metrics::summary::{Summary, Verdict};
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

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written (trimmed).
    pub expr: String,
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
        super::evaluate::verdict(self, summary)
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
}

// ------------------------------------------------------------------ parser

/// One path segment of a metric: `endpoint['POST /x']` or `p99` or `turn[3]`.
#[derive(Debug)]
struct Segment {
    name: String,
    key: Option<String>,
    /// Column of the segment's first character.
    col: usize,
    /// Column of the key (inside the brackets), when there is one.
    key_col: usize,
    /// Column just after the segment (after `]` when there is a key).
    end: usize,
}

struct Parser<'a> {
    expr: &'a str,
    chars: Vec<char>,
    pos: usize,
}

const STATS: &str = "avg, min, max, med, count, p50, p90, p95, p99, p99.9 (any pN)";

impl<'a> Parser<'a> {
    fn new(expr: &'a str) -> Self {
        Parser {
            expr,
            chars: expr.chars().collect(),
            pos: 0,
        }
    }

    fn err(&self, col: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.expr, col, msg)
    }

    fn col(&self) -> usize {
        self.pos + 1
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn threshold(mut self) -> Result<Threshold, ParseError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.err(1, "empty threshold; expected e.g. `p95 < 5s`"));
        }
        let segments = self.path()?;
        let metric = self.metric(&segments)?;
        self.skip_ws();
        let op = self.op()?;
        self.skip_ws();
        let limit = self.value(&metric)?;
        self.skip_ws();
        if let Some(c) = self.peek() {
            return Err(self.err(self.col(), format!("unexpected `{c}` after the value")));
        }
        Ok(Threshold {
            expr: self.expr.to_string(),
            metric,
            op,
            limit,
        })
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn path(&mut self) -> Result<Vec<Segment>, ParseError> {
        let mut out = Vec::new();
        loop {
            let col = self.col();
            if !self.peek().is_some_and(|c| c.is_alphabetic() || c == '_') {
                let what = match self.peek() {
                    Some(c) => format!("expected a metric name, found `{c}`"),
                    None => "expected a metric name".to_string(),
                };
                return Err(self.err(col, what));
            }
            let mut name = self.ident();
            // p99.9: a percentile with a fraction
            if is_percentile(&name)
                && self.peek() == Some('.')
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_some_and(char::is_ascii_digit)
            {
                self.pos += 1;
                name.push('.');
                name.push_str(&self.ident());
            }
            let (key, key_col) = if self.peek() == Some('[') {
                self.pos += 1;
                let key_col = self.col();
                (Some(self.key()?), key_col)
            } else {
                (None, 0)
            };
            out.push(Segment {
                name,
                key,
                col,
                key_col,
                end: self.col(),
            });
            if self.peek() == Some('.') {
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    /// After `[`: a quoted string or a bare number, then `]`.
    fn key(&mut self) -> Result<String, ParseError> {
        let open = self.col() - 1;
        let key = match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != q) {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err(self.err(open + 1, format!("unterminated string (missing {q})")));
                }
                let s: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                s
            }
            Some(c) if c.is_ascii_digit() => self.ident(),
            _ => {
                return Err(self.err(
                    self.col(),
                    "expected a quoted name or a number inside `[ ]`, e.g. ['POST /x']",
                ))
            }
        };
        if self.peek() != Some(']') {
            return Err(self.err(self.col(), "expected `]`"));
        }
        self.pos += 1;
        Ok(key)
    }

    fn op(&mut self) -> Result<Op, ParseError> {
        let col = self.col();
        let two: String = self.chars[self.pos..].iter().take(2).collect();
        let (op, len) = match two.as_str() {
            "<=" => (Op::Le, 2),
            ">=" => (Op::Ge, 2),
            "==" => (Op::Eq, 2),
            "!=" => (Op::Ne, 2),
            _ => match self.peek() {
                Some('<') => (Op::Lt, 1),
                Some('>') => (Op::Gt, 1),
                Some('=') => return Err(self.err(col, "use `==` to compare for equality")),
                Some(c) => {
                    return Err(self.err(
                        col,
                        format!("expected an operator (<, <=, >, >=, ==, !=), found `{c}`"),
                    ))
                }
                None => return Err(self.err(col, "expected an operator (<, <=, >, >=, ==, !=)")),
            },
        };
        self.pos += len;
        Ok(op)
    }

    fn value(&mut self, metric: &Metric) -> Result<f64, ParseError> {
        let col = self.col();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let number: f64 = match text.parse() {
            Ok(n) if text != "-" => n,
            _ => {
                return Err(match self.peek() {
                    None => self.err(col, "expected a number after the operator"),
                    Some(c) => self.err(col, format!("expected a number, found `{c}`")),
                })
            }
        };
        if number < 0.0 {
            return Err(self.err(col, "a threshold value cannot be negative"));
        }
        let unit_col = self.col();
        let unit_start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !c.is_ascii_digit())
        {
            self.pos += 1;
        }
        let unit: String = self.chars[unit_start..self.pos].iter().collect();
        let kind = metric.kind();
        let bad_unit = |p: &Self, why: &str| p.err(unit_col, why.to_string());
        match (kind, unit.as_str()) {
            (Kind::Duration, "" | "ms") => Ok(number),
            (Kind::Duration, "s") => Ok(number * 1_000.0),
            (Kind::Duration, "m") => Ok(number * 60_000.0),
            (Kind::Rate, "%") => Ok(number),
            (Kind::Rate, "") => Ok(number * 100.0),
            (Kind::Count | Kind::PerSecond, "") => Ok(number),
            (_, "ms" | "s" | "m" | "%") => Err(bad_unit(
                self,
                &match kind {
                    Kind::Duration => {
                        format!("unit `{unit}` does not fit a duration; use ms, s or m")
                    }
                    Kind::Rate => format!("unit `{unit}` does not fit a rate; use % (e.g. 1%)"),
                    _ => format!("unit `{unit}` does not fit a count; write a plain number"),
                },
            )),
            _ => Err(
                bad_unit(self, &format!("unknown unit `{unit}`")).help(match kind {
                    Kind::Duration => "use ms, s or m",
                    Kind::Rate => "use %",
                    _ => "write a plain number",
                }),
            ),
        }
    }

    fn metric(&self, segs: &[Segment]) -> Result<Metric, ParseError> {
        let first = &segs[0];
        let rest = &segs[1..];
        let no_key = |s: &Segment| -> Result<(), ParseError> {
            match s.key {
                Some(_) => Err(self.err(s.key_col - 1, format!("`{}` takes no `[ ]`", s.name))),
                None => Ok(()),
            }
        };
        let need_key = |s: &Segment, example: &str| -> Result<String, ParseError> {
            s.key.clone().ok_or_else(|| {
                self.err(
                    s.end,
                    format!("`{}` needs a name in brackets, e.g. {example}", s.name),
                )
            })
        };
        let end = |segs: &[Segment], n: usize| -> Result<(), ParseError> {
            match segs.get(n) {
                Some(s) => Err(self.err(s.col, format!("unexpected `.{}`", s.name))),
                None => Ok(()),
            }
        };
        // `X.stat` where `X` names a histogram; a missing stat is an error pointing after X.
        let hist_stat =
            |h: HistRef, after: &Segment, rest: &[Segment]| -> Result<Metric, ParseError> {
                let Some(s) = rest.first() else {
                    let shown = if after.key.is_some() {
                        format!("{}[…]", after.name)
                    } else {
                        after.name.clone()
                    };
                    return Err(self
                        .err(after.end, format!("expected a statistic after `{shown}`"))
                        .help(format!("e.g. `.p95`; statistics: {STATS}")));
                };
                no_key(s)?;
                let stat = self.stat(s)?;
                end(rest, 1)?;
                Ok(Metric::Hist(h, stat))
            };

        if let Some(stat) = stat_of(&first.name) {
            no_key(first)?;
            end(segs, 1)?;
            return Ok(Metric::Hist(HistRef::Latency, stat));
        }
        let scope_metric = |name: &str, scope: Scope| -> Option<Metric> {
            Some(match name {
                "error_rate" => Metric::ErrorRate(scope),
                "success_rate" => Metric::SuccessRate(scope),
                "requests" => Metric::Requests(scope),
                "failures" => Metric::Failures(scope),
                "rps" => Metric::Rps(scope),
                _ => return None,
            })
        };
        if let Some(m) = scope_metric(&first.name, Scope::Total) {
            no_key(first)?;
            end(segs, 1)?;
            return Ok(m);
        }
        match first.name.as_str() {
            "latency" => {
                no_key(first)?;
                hist_stat(HistRef::Latency, first, rest)
            }
            "ttfb" => {
                no_key(first)?;
                hist_stat(HistRef::Ttfb, first, rest)
            }
            "corrected" | "corrected_latency" => {
                no_key(first)?;
                hist_stat(HistRef::Corrected, first, rest)
            }
            "lag" => {
                no_key(first)?;
                hist_stat(HistRef::Lag, first, rest)
            }
            "endpoint" => {
                let name = need_key(first, "endpoint['POST /session/continue'].p95")?;
                let Some(s) = rest.first() else {
                    return hist_stat(HistRef::EndpointLatency(name), first, rest);
                };
                if s.name == "ttfb" {
                    no_key(s)?;
                    return hist_stat(HistRef::EndpointTtfb(name), s, &rest[1..]);
                }
                if let Some(m) = scope_metric(&s.name, Scope::Endpoint(name.clone())) {
                    no_key(s)?;
                    end(rest, 1)?;
                    return Ok(m);
                }
                hist_stat(HistRef::EndpointLatency(name), first, rest)
            }
            "server_timing" => {
                if first.key.is_some() {
                    let name = need_key(first, "")?;
                    return hist_stat(HistRef::ServerTiming(name), first, rest);
                }
                let Some(s) = rest.first() else {
                    return Err(self.err(
                        first.end,
                        "expected a Server-Timing metric name, e.g. server_timing.checkpoint_save.p95",
                    ));
                };
                if s.name == "malformed" {
                    end(rest, 1)?;
                    return Ok(Metric::ServerTimingMalformed);
                }
                no_key(s)?;
                hist_stat(HistRef::ServerTiming(s.name.clone()), s, &rest[1..])
            }
            "node" | "recorded_node" => {
                let name = need_key(first, "node['AR→TC'].p95")?.replace("->", "→");
                let h = if first.name == "node" {
                    HistRef::Node(name)
                } else {
                    HistRef::RecordedNode(name)
                };
                hist_stat(h, first, rest)
            }
            "turn" | "recorded_turn" => {
                let n = need_key(first, "turn[3].p95")?;
                if n.parse::<u32>().is_err() {
                    return Err(self.err(
                        first.key_col,
                        format!("turn `{n}` is not a number (turns count from 1)"),
                    ));
                }
                let h = if first.name == "turn" {
                    HistRef::Turn(n)
                } else {
                    HistRef::RecordedTurn(n)
                };
                hist_stat(h, first, rest)
            }
            "streaming" => {
                let name = need_key(first, "streaming['POST /session/continue/stream'].ttft.p95")?;
                let Some(s) = rest.first() else {
                    return Err(self.err(
                        first.end,
                        "expected `.ttft`, `.gap`, `.events`, `.duration` or `.responses`",
                    ));
                };
                no_key(s)?;
                let part = match s.name.as_str() {
                    "ttft" => StreamPart::Ttft,
                    "gap" => StreamPart::Gap,
                    "events" => StreamPart::Events,
                    "duration" => StreamPart::Duration,
                    "responses" => {
                        end(rest, 1)?;
                        return Ok(Metric::StreamingResponses(name));
                    }
                    other => {
                        return Err(self.err(
                            s.col,
                            format!("unknown streaming measure `{other}` (use ttft, gap, events, duration or responses)"),
                        ))
                    }
                };
                hist_stat(HistRef::Streaming(name, part), s, &rest[1..])
            }
            "sessions" => {
                no_key(first)?;
                let Some(s) = rest.first() else {
                    return Err(self.err(
                        first.end,
                        "expected `.started`, `.completed`, `.aborted` or `.duration.STAT`",
                    ));
                };
                no_key(s)?;
                let m = match s.name.as_str() {
                    "started" => Metric::SessionsStarted,
                    "completed" => Metric::SessionsCompleted,
                    "aborted" => Metric::SessionsAborted,
                    "duration" => return hist_stat(HistRef::SessionDuration, s, &rest[1..]),
                    other => {
                        return Err(self.err(
                            s.col,
                            format!("unknown session measure `{other}` (use started, completed, aborted or duration)"),
                        ))
                    }
                };
                end(rest, 1)?;
                Ok(m)
            }
            "divergence_rate" | "cross_talk" => {
                no_key(first)?;
                end(segs, 1)?;
                Ok(if first.name == "cross_talk" {
                    Metric::CrossTalk
                } else {
                    Metric::DivergenceRate
                })
            }
            "divergence" => {
                let node = need_key(first, "divergence['AR'].rate")?;
                match rest.first() {
                    Some(s) if s.name == "rate" && s.key.is_none() => {
                        end(rest, 1)?;
                        Ok(Metric::NodeDivergenceRate(node))
                    }
                    Some(s) => Err(self.err(s.col, "expected `.rate`")),
                    None => Err(self.err(first.end, "expected `.rate`")),
                }
            }
            "fields" | "field" => {
                let name = need_key(first, "fields['/simulation_triggered']")?;
                end(segs, 1)?;
                Ok(Metric::Field(name))
            }
            other => {
                let hint = did_you_mean(other, METRIC_NAMES)
                    .map(|m| format!(" (did you mean `{m}`?)"))
                    .unwrap_or_default();
                Err(self.err(first.col, format!("unknown metric `{other}`{hint}")))
            }
        }
    }

    fn stat(&self, s: &Segment) -> Result<Stat, ParseError> {
        stat_of(&s.name).ok_or_else(|| {
            let hint = did_you_mean(
                &s.name,
                &[
                    "avg", "min", "max", "med", "count", "p50", "p90", "p95", "p99",
                ],
            )
            .map(|m| format!("did you mean `{m}`? "))
            .unwrap_or_default();
            self.err(
                s.col,
                format!("unknown statistic `{}` ({hint}use {STATS})", s.name),
            )
        })
    }
}

const METRIC_NAMES: &[&str] = &[
    "avg",
    "min",
    "max",
    "med",
    "p50",
    "p90",
    "p95",
    "p99",
    "error_rate",
    "success_rate",
    "requests",
    "failures",
    "rps",
    "latency",
    "ttfb",
    "corrected",
    "lag",
    "endpoint",
    "server_timing",
    "node",
    "recorded_node",
    "turn",
    "recorded_turn",
    "streaming",
    "sessions",
    "divergence_rate",
    "divergence",
    "cross_talk",
    "fields",
];

fn is_percentile(name: &str) -> bool {
    name.len() > 1 && name.starts_with('p') && name[1..].chars().all(|c| c.is_ascii_digit())
}

fn stat_of(name: &str) -> Option<Stat> {
    Some(match name {
        "avg" | "mean" => Stat::Avg,
        "min" => Stat::Min,
        "max" => Stat::Max,
        "med" | "median" => Stat::Pct(50.0),
        "count" => Stat::Count,
        p if p.starts_with('p') && p.len() > 1 => {
            let v: f64 = p[1..].parse().ok()?;
            if !(v > 0.0 && v <= 100.0) || p[1..].starts_with('.') {
                return None;
            }
            Stat::Pct(v)
        }
        _ => return None,
    })
}

/// The closest name within edit distance 2, for "did you mean" hints.
pub fn did_you_mean<'n>(word: &str, names: &[&'n str]) -> Option<&'n str> {
    names
        .iter()
        .map(|n| (levenshtein(word, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4) && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(e: &str) -> Threshold {
        Threshold::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"))
    }

    fn err(e: &str) -> ParseError {
        match Threshold::parse(e) {
            Ok(t) => panic!("{e} parsed: {t:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn parses_the_seed_thresholds() {
        let t = ok("p95 < 5s");
        assert_eq!(t.metric, Metric::Hist(HistRef::Latency, Stat::Pct(95.0)));
        assert_eq!((t.op, t.limit), (Op::Lt, 5000.0));

        let t = ok("error_rate < 0.1%");
        assert_eq!(t.metric, Metric::ErrorRate(Scope::Total));
        assert_eq!(t.limit, 0.1);

        let t = ok("error_rate == 0%");
        assert_eq!((t.op, t.limit), (Op::Eq, 0.0));

        let t = ok("avg < 2s");
        assert_eq!(t.metric, Metric::Hist(HistRef::Latency, Stat::Avg));

        let t = ok("server_timing.checkpoint_save.p95 < 200ms");
        assert_eq!(
            t.metric,
            Metric::Hist(
                HistRef::ServerTiming("checkpoint_save".into()),
                Stat::Pct(95.0)
            )
        );
        assert_eq!(t.limit, 200.0);

        let t = ok("success_rate >= 95%");
        assert_eq!(
            (t.metric.clone(), t.op, t.limit),
            (Metric::SuccessRate(Scope::Total), Op::Ge, 95.0)
        );
    }

    #[test]
    fn parses_every_metric_family() {
        let cases: &[(&str, Metric)] = &[
            (
                "p99.9 < 1m",
                Metric::Hist(HistRef::Latency, Stat::Pct(99.9)),
            ),
            (
                "med <= 300",
                Metric::Hist(HistRef::Latency, Stat::Pct(50.0)),
            ),
            ("max != 0", Metric::Hist(HistRef::Latency, Stat::Max)),
            ("rps > 100", Metric::Rps(Scope::Total)),
            ("requests > 0", Metric::Requests(Scope::Total)),
            ("failures == 0", Metric::Failures(Scope::Total)),
            (
                "lag.p99 < 50ms",
                Metric::Hist(HistRef::Lag, Stat::Pct(99.0)),
            ),
            (
                "ttfb.p95 < 1s",
                Metric::Hist(HistRef::Ttfb, Stat::Pct(95.0)),
            ),
            (
                "endpoint['POST /session/continue'].p99 < 10s",
                Metric::Hist(
                    HistRef::EndpointLatency("POST /session/continue".into()),
                    Stat::Pct(99.0),
                ),
            ),
            (
                "endpoint[\"GET /session/status/{thread_id}\"].error_rate < 1%",
                Metric::ErrorRate(Scope::Endpoint("GET /session/status/{thread_id}".into())),
            ),
            (
                "endpoint['POST /session/start'].ttfb.p50 < 1s",
                Metric::Hist(
                    HistRef::EndpointTtfb("POST /session/start".into()),
                    Stat::Pct(50.0),
                ),
            ),
            (
                "node['AR→TC'].avg < 3s",
                Metric::Hist(HistRef::Node("AR→TC".into()), Stat::Avg),
            ),
            (
                "node['AR->TC'].avg < 3s",
                Metric::Hist(HistRef::Node("AR→TC".into()), Stat::Avg),
            ),
            (
                "turn[3].p95 < 4s",
                Metric::Hist(HistRef::Turn("3".into()), Stat::Pct(95.0)),
            ),
            (
                "streaming['POST /session/continue/stream'].ttft.p95 < 800ms",
                Metric::Hist(
                    HistRef::Streaming("POST /session/continue/stream".into(), StreamPart::Ttft),
                    Stat::Pct(95.0),
                ),
            ),
            (
                "streaming['POST /x'].events.avg > 3",
                Metric::Hist(
                    HistRef::Streaming("POST /x".into(), StreamPart::Events),
                    Stat::Avg,
                ),
            ),
            (
                "server_timing['db.query'].max < 1s",
                Metric::Hist(HistRef::ServerTiming("db.query".into()), Stat::Max),
            ),
            ("divergence_rate < 20%", Metric::DivergenceRate),
            (
                "divergence['AR'].rate < 0.5",
                Metric::NodeDivergenceRate("AR".into()),
            ),
            ("cross_talk == 0", Metric::CrossTalk),
            ("sessions.aborted == 0", Metric::SessionsAborted),
            (
                "sessions.duration.p90 < 2m",
                Metric::Hist(HistRef::SessionDuration, Stat::Pct(90.0)),
            ),
            (
                "fields['/simulation_triggered'] > 0",
                Metric::Field("/simulation_triggered".into()),
            ),
            (
                "corrected.p99 < 10s",
                Metric::Hist(HistRef::Corrected, Stat::Pct(99.0)),
            ),
        ];
        for (e, m) in cases {
            assert_eq!(&ok(e).metric, m, "{e}");
        }
        // bare numbers: ms for durations, fractions for rates
        assert_eq!(ok("p95 < 250").limit, 250.0);
        assert_eq!(ok("divergence['AR'].rate < 0.5").limit, 50.0);
        assert_eq!(ok("  p95<5s  ").expr, "p95<5s");
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = err("p95 < 5x");
        assert_eq!(e.column, 8);
        let text = e.to_string();
        assert!(
            text.starts_with("\"p95 < 5x\": unknown unit `x` at column 8 (use ms, s or m)"),
            "{text}"
        );
        assert!(text.ends_with("\n    p95 < 5x\n           ^"), "{text:?}");

        let cases: &[(&str, usize, &str)] = &[
            ("p96x < 5s", 1, "unknown metric `p96x`"),
            ("erorr_rate < 1%", 1, "did you mean `error_rate`?"),
            ("p95 5s", 5, "expected an operator"),
            ("p95 = 5s", 5, "use `==`"),
            ("p95 <", 6, "expected a number after the operator"),
            ("p95 < fast", 7, "expected a number, found `f`"),
            ("error_rate < 2s", 15, "does not fit a rate"),
            ("p95 < 5%", 8, "does not fit a duration"),
            ("requests > 10ms", 14, "does not fit a count"),
            ("p95 < 5s and more", 10, "unexpected `a`"),
            ("endpoint.p95 < 1s", 9, "needs a name in brackets"),
            ("endpoint['POST /x'.p95 < 1s", 19, "expected `]`"),
            ("endpoint['POST /x].p95 < 1s", 10, "unterminated string"),
            ("node['AR→TC'].p9x < 1s", 15, "unknown statistic `p9x`"),
            (
                "node['AR→TC'] < 1s",
                14,
                "expected a statistic after `node[…]`",
            ),
            ("lag < 1s", 4, "expected a statistic after `lag`"),
            ("turn[x].p95 < 1s", 6, "expected a quoted name or a number"),
            ("turn['two'].p95 < 1s", 6, "is not a number"),
            ("avg.p95 < 1s", 5, "unexpected `.p95`"),
            (
                "streaming['POST /s'].foo.p95 < 1s",
                22,
                "unknown streaming measure `foo`",
            ),
            ("sessions.lost == 0", 10, "unknown session measure `lost`"),
            ("p95[1] < 1s", 4, "takes no `[ ]`"),
            ("", 1, "empty threshold"),
            ("< 5s", 1, "expected a metric name, found `<`"),
            ("p95 < -1s", 7, "cannot be negative"),
        ];
        for (e, col, msg) in cases {
            let got = err(e);
            assert!(got.to_string().contains(msg), "{e}: {got}");
            assert_eq!(got.column, *col, "{e}: {got}");
        }
    }

    #[test]
    fn operators_compare_with_a_tolerance_for_equality() {
        assert!(Op::Lt.holds(4.99, 5.0));
        assert!(!Op::Lt.holds(5.0, 5.0));
        assert!(Op::Le.holds(5.0, 5.0));
        assert!(Op::Eq.holds(0.1 + 0.2, 0.3));
        assert!(Op::Ne.holds(1.0, 0.0));
        assert!(Op::Ge.holds(95.0, 95.0));
        assert!(!Op::Gt.holds(95.0, 95.0));
    }

    #[test]
    fn did_you_mean_picks_close_names_only() {
        assert_eq!(did_you_mean("usres", &["users", "seed"]), Some("users"));
        assert_eq!(did_you_mean("zzzzzz", &["users", "seed"]), None);
    }
}
