//! The threshold parser: a hand-written recursive descent over characters, so every error
//! knows its column. Grammar: `PATH OP NUMBER[UNIT]`, where `PATH` is dot-separated
//! segments, each a name with an optional `['quoted key']` or `[number]`.

use super::{
    scrape, HistRef, Kind, Metric, Op, ParseError, Scope, StageRef, Stat, StreamPart, Threshold,
};

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

pub(super) struct Parser<'a> {
    expr: &'a str,
    chars: Vec<char>,
    pos: usize,
}

const STATS: &str = "avg, min, max, med, count, p50, p90, p95, p99, p99.9 (any pN)";

impl<'a> Parser<'a> {
    pub(super) fn new(expr: &'a str) -> Self {
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

    pub(super) fn threshold(mut self) -> Result<Threshold, ParseError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.err(1, "empty threshold; expected e.g. `p95 < 5s`"));
        }
        let stage = self.stage()?;
        let metric_col = self.col();
        let metric = if self.at_word("scrape") {
            self.scrape()?
        } else {
            let segments = self.path()?;
            self.metric(&segments)?
        };
        if stage.is_some() && !super::evaluate::per_stage(&metric) {
            return Err(self
                .err(metric_col, "this figure is not measured per stage")
                .help(PER_STAGE));
        }
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
            stage,
            metric,
            op,
            limit,
        })
    }

    /// True when the text at the cursor is `word` followed by `.` or `[`.
    fn at_word(&self, word: &str) -> bool {
        let n = word.chars().count();
        self.chars[self.pos..]
            .iter()
            .take(n)
            .copied()
            .eq(word.chars())
            && matches!(self.chars.get(self.pos + n), Some('.' | '['))
    }

    /// An optional `stage[N].` or `stage['name'].` prefix.
    fn stage(&mut self) -> Result<Option<StageRef>, ParseError> {
        if !(self.at_word("stage") && self.chars.get(self.pos + 5) == Some(&'[')) {
            return Ok(None);
        }
        self.pos += 6;
        let key_col = self.col();
        let quoted = matches!(self.peek(), Some('\'' | '"'));
        let key = self.key()?;
        let r = if quoted {
            StageRef::Name(key)
        } else {
            match key.parse::<usize>() {
                Ok(n) if n >= 1 => StageRef::Index(n),
                _ => {
                    return Err(self.err(
                        key_col,
                        format!("stage `{key}` is not a stage number (stages count from 1) or a quoted name"),
                    ))
                }
            }
        };
        if self.peek() != Some('.') {
            return Err(self
                .err(self.col(), "expected `.` and a figure after the stage")
                .help("e.g. stage[2].p95 < 5s"));
        }
        self.pos += 1;
        Ok(Some(r))
    }

    /// `scrape.EXPR.STAT` or `scrape['EXPR'].STAT` (see [`scrape`]).
    fn scrape(&mut self) -> Result<Metric, ParseError> {
        self.pos += "scrape".len();
        let map = |p: &Self, (at, msg): (usize, String)| p.err(at + 1, msg);
        let expr = if self.peek() == Some('[') {
            self.pos += 1;
            let open = self.col();
            let q = match self.peek() {
                Some(q @ ('\'' | '"')) => q,
                _ => {
                    return Err(self.err(
                        open,
                        "expected a quoted expression inside `[ ]`, e.g. scrape['db_pool_in_use / db_pool_max']",
                    ))
                }
            };
            let start = self.pos + 1;
            // the closing quote is the last `q` before `]`, so label values may hold the
            // other quote
            let Some(close) = (start..self.chars.len())
                .find(|&i| self.chars[i] == q && self.chars.get(i + 1) == Some(&']'))
            else {
                return Err(self.err(open, format!("unterminated expression (missing {q}])")));
            };
            let (e, _) =
                scrape::parse(&self.chars, start, close, false).map_err(|e| map(self, e))?;
            self.pos = close + 2;
            e
        } else {
            self.pos += 1;
            let (e, end) = scrape::parse(&self.chars, self.pos, self.chars.len(), true)
                .map_err(|e| map(self, e))?;
            self.pos = end;
            e
        };
        let stat_help = || format!("statistics of a scraped series: {}", scrape::STATS);
        if self.peek() != Some('.') {
            return Err(self
                .err(
                    self.col(),
                    format!("expected a statistic after `{}`", expr.text),
                )
                .help(stat_help()));
        }
        self.pos += 1;
        let col = self.col();
        let mut name = self.ident();
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
        let stat = scrape::stat_of(&name).ok_or_else(|| {
            self.err(col, format!("unknown statistic `{name}`"))
                .help(stat_help())
        })?;
        Ok(Metric::Scrape(expr, stat))
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
        let rate = |pct: f64| {
            if pct > 100.0 {
                Err(self.err(
                    col,
                    format!("a rate is at most 100% (this is {pct}%), so the threshold could never fail or never pass"),
                ))
            } else {
                Ok(pct)
            }
        };
        match (kind, unit.as_str()) {
            (Kind::Rate, "%") => rate(number),
            (Kind::Rate, "") => rate(number * 100.0),
            (Kind::Duration, "" | "ms") => Ok(number),
            (Kind::Duration, "s") => Ok(number * 1_000.0),
            (Kind::Duration, "m") => Ok(number * 60_000.0),
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

const PER_STAGE: &str = "per stage: latency statistics (p95, avg, latency.max, …), server_timing.NAME.STAT, error_rate, success_rate, requests, failures, rps and scrape[…]";

const METRIC_NAMES: &[&str] = &[
    "stage",
    "scrape",
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
