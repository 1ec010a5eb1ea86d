//! Looks a threshold's metric up in a [`Summary`] and judges it.
//!
//! # Invariants
//! - Never fails: a metric the run did not measure (no such endpoint, no Server-Timing
//!   metric of that name, an empty histogram) is a failed verdict with `value: None` and an
//!   `observed` text that says what was missing and what the run did have.
//! - `Verdict::value` is in the metric's unit: ms, percent, count or per second.

use super::super::format;
use super::{HistRef, Kind, Metric, Scope, Stat, StreamPart, Threshold};
use crate::metrics::summary::{Stage, Summary, Verdict};
use crate::metrics::HistSummary;
use std::collections::BTreeMap;

pub(crate) fn verdict(t: &Threshold, s: &Summary) -> Verdict {
    let value = match &t.stage {
        None => measure(&t.metric, s),
        Some(r) => match s.stages.iter().find(|st| r.is(st.index, &st.name)) {
            Some(st) => measure_stage(&t.metric, s, st),
            None => {
                let have: Vec<String> = s
                    .stages
                    .iter()
                    .map(|st| format!("{} '{}'", st.index, st.name))
                    .collect();
                Err(format!(
                    "no {r} in this run{}",
                    listing(&have.iter().map(String::as_str).collect::<Vec<_>>())
                ))
            }
        },
    };
    judged(t, value)
}

/// `t` judged on one stage alone, for that stage's own verdict list.
pub(crate) fn stage_verdict(t: &Threshold, s: &Summary, stage: &Stage) -> Verdict {
    judged(t, measure_stage(&t.metric, s, stage))
}

fn judged(t: &Threshold, value: Result<f64, String>) -> Verdict {
    match value {
        Ok(value) => Verdict {
            expr: t.expr.clone(),
            value: Some(value),
            ok: t.op.holds(value, t.limit),
            observed: show(t.metric.kind(), value),
        },
        Err(missing) => Verdict {
            expr: t.expr.clone(),
            value: None,
            ok: false,
            observed: format!("not measured: {missing}"),
        },
    }
}

/// The value in the metric's unit, or why there is none.
pub fn measure(m: &Metric, s: &Summary) -> Result<f64, String> {
    let pct = |num: u64, den: u64, what: &str| {
        if den == 0 {
            Err(format!("no {what} in this run"))
        } else {
            Ok(num as f64 * 100.0 / den as f64)
        }
    };
    let scoped = |scope: &Scope| -> Result<(u64, u64), String> {
        match scope {
            Scope::Total => Ok((s.totals.requests, s.totals.failures)),
            Scope::Endpoint(name) => endpoint(s, name).map(|e| (e.requests, e.failures)),
        }
    };
    match m {
        Metric::Hist(h, stat) => {
            let hist = hist(h, s)?;
            let scale = if matches!(h, HistRef::Streaming(_, StreamPart::Events)) {
                1000.0 // events are stored as plain numbers, the `_ms` figures divide by 1000
            } else {
                1.0
            };
            stat_of(hist, *stat, &describe(h)).map(|v| v * scale)
        }
        Metric::ErrorRate(scope) => {
            let (req, fail) = scoped(scope)?;
            pct(fail, req, "request")
        }
        Metric::SuccessRate(scope) => {
            let (req, fail) = scoped(scope)?;
            pct(req - fail.min(req), req, "request")
        }
        Metric::Requests(scope) => scoped(scope).map(|(r, _)| r as f64),
        Metric::Failures(scope) => scoped(scope).map(|(_, f)| f as f64),
        Metric::Rps(scope) => {
            let (req, _) = scoped(scope)?;
            if s.run.duration_s <= 0.0 {
                Err("the run has no duration".to_string())
            } else {
                Ok(req as f64 / s.run.duration_s)
            }
        }
        Metric::DivergenceRate => {
            let d = &s.conversation.divergence;
            pct(d.diverged, d.compared, "turn compared with its recording")
        }
        Metric::NodeDivergenceRate(node) => {
            let d = lookup(&s.conversation.divergence.by_node, node, "recorded node")?;
            pct(d.diverged, d.compared, "turn compared at this node")
        }
        Metric::CrossTalk => Ok(s.conversation.isolation.cross_talk as f64),
        Metric::SessionsStarted => Ok(s.sessions.started as f64),
        Metric::SessionsCompleted => Ok(s.sessions.completed as f64),
        Metric::SessionsAborted => Ok(s.sessions.aborted as f64),
        Metric::Field(name) => {
            lookup(&s.conversation.fields, name, "counted field").map(|v| *v as f64)
        }
        Metric::StreamingResponses(name) => {
            lookup(&s.conversation.streaming, name, "streaming endpoint")
                .map(|v| v.responses as f64)
        }
        Metric::ServerTimingMalformed => Ok(s.conversation.server_timing_malformed as f64),
        Metric::Scrape(e, stat) => scraped(e, *stat, s, 0.0, f64::INFINITY),
    }
}

/// True for the figures a [`Stage`] has.
pub(crate) fn per_stage(m: &Metric) -> bool {
    matches!(
        m,
        Metric::Hist(HistRef::Latency | HistRef::ServerTiming(_), _)
            | Metric::ErrorRate(Scope::Total)
            | Metric::SuccessRate(Scope::Total)
            | Metric::Requests(Scope::Total)
            | Metric::Failures(Scope::Total)
            | Metric::Rps(Scope::Total)
            | Metric::Scrape(..)
    )
}

/// The value of `m` over one stage's window (see [`per_stage`]).
fn measure_stage(m: &Metric, s: &Summary, st: &Stage) -> Result<f64, String> {
    if st.not_reached {
        return Err(format!(
            "stage {} was not reached (the run ended at {:.0} s, the stage starts at {:.0} s)",
            st.index, s.run.duration_s, st.start_s
        ));
    }
    let pct = |num: u64, den: u64| {
        if den == 0 {
            Err(format!("no request in stage {}", st.index))
        } else {
            Ok(num as f64 * 100.0 / den as f64)
        }
    };
    match m {
        Metric::Hist(HistRef::Latency, stat) => stat_of(
            &st.latency,
            *stat,
            &format!("request completed in stage {}", st.index),
        ),
        Metric::Hist(HistRef::ServerTiming(n), stat) => stat_of(
            lookup(&st.server_timing, n, "Server-Timing metric")?,
            *stat,
            &format!("`{n}` Server-Timing value in stage {}", st.index),
        ),
        Metric::ErrorRate(Scope::Total) => pct(st.failures, st.requests),
        Metric::SuccessRate(Scope::Total) => {
            pct(st.requests - st.failures.min(st.requests), st.requests)
        }
        Metric::Requests(Scope::Total) => Ok(st.requests as f64),
        Metric::Failures(Scope::Total) => Ok(st.failures as f64),
        Metric::Rps(Scope::Total) => Ok(st.rps),
        Metric::Scrape(e, stat) => {
            let last = s.stages.last().is_some_and(|l| l.index == st.index);
            let end = if last { f64::INFINITY } else { st.end_s };
            scraped(e, *stat, s, st.start_s, end)
        }
        _ => Err(format!("not measured per stage (stage {})", st.index)),
    }
}

fn scraped(
    e: &super::scrape::Expr,
    stat: super::scrape::Stat,
    s: &Summary,
    from: f64,
    to: f64,
) -> Result<f64, String> {
    let Some(sc) = &s.scrape else {
        return Err("nothing was scraped (give --scrape URL)".to_string());
    };
    let points = super::scrape::series(e, sc)?;
    super::scrape::stat(&points, stat, from, to).ok_or_else(|| {
        if from > 0.0 || to.is_finite() {
            format!(
                "no sample of `{}` in this window ({} scrapes failed)",
                e.text,
                sc.failed()
            )
        } else {
            format!("no sample of `{}` ({} scrapes failed)", e.text, sc.failed())
        }
    })
}

fn endpoint<'s>(
    s: &'s Summary,
    name: &str,
) -> Result<&'s crate::metrics::summary::EndpointStats, String> {
    s.endpoints.iter().find(|e| e.name == name).ok_or_else(|| {
        let have: Vec<&str> = s.endpoints.iter().map(|e| e.name.as_str()).collect();
        format!("no endpoint `{name}` in this run{}", listing(&have))
    })
}

fn lookup<'m, V>(map: &'m BTreeMap<String, V>, key: &str, what: &str) -> Result<&'m V, String> {
    map.get(key).ok_or_else(|| {
        let have: Vec<&str> = map.keys().map(String::as_str).collect();
        format!("no {what} `{key}` in this run{}", listing(&have))
    })
}

fn listing(have: &[&str]) -> String {
    match have.len() {
        0 => String::new(),
        n if n <= 6 => format!(" (have: {})", have.join(", ")),
        n => format!(" (have: {}, … {} more)", have[..6].join(", "), n - 6),
    }
}

fn hist<'s>(h: &HistRef, s: &'s Summary) -> Result<&'s HistSummary, String> {
    let c = &s.conversation;
    Ok(match h {
        HistRef::Latency => &s.totals.latency,
        HistRef::Ttfb => &s.totals.ttfb,
        HistRef::Corrected => &s.totals.corrected_latency,
        HistRef::Lag => &s.totals.lag,
        HistRef::SessionDuration => &s.sessions.duration,
        HistRef::EndpointLatency(n) => &endpoint(s, n)?.latency,
        HistRef::EndpointTtfb(n) => &endpoint(s, n)?.ttfb,
        HistRef::ServerTiming(n) => lookup(&c.server_timing, n, "Server-Timing metric")?,
        HistRef::Node(n) => lookup(&c.nodes, n, "node transition")?,
        HistRef::RecordedNode(n) => lookup(&c.recorded_nodes, n, "recorded node transition")?,
        HistRef::Turn(n) => lookup(&c.turns, n, "turn")?,
        HistRef::RecordedTurn(n) => lookup(&c.recorded_turns, n, "recorded turn")?,
        HistRef::Streaming(n, part) => {
            let st = lookup(&c.streaming, n, "streaming endpoint")?;
            match part {
                StreamPart::Ttft => &st.ttft,
                StreamPart::Gap => &st.gap,
                StreamPart::Events => &st.events,
                StreamPart::Duration => &st.duration,
            }
        }
    })
}

fn describe(h: &HistRef) -> String {
    match h {
        HistRef::Latency => "request completed".into(),
        HistRef::Ttfb => "response head received".into(),
        HistRef::Corrected => "request completed".into(),
        HistRef::Lag => "request sent".into(),
        HistRef::SessionDuration => "session finished".into(),
        HistRef::EndpointLatency(n) | HistRef::EndpointTtfb(n) => {
            format!("`{n}` request completed")
        }
        HistRef::ServerTiming(n) => format!("`{n}` Server-Timing value"),
        HistRef::Node(n) | HistRef::RecordedNode(n) => format!("`{n}` transition"),
        HistRef::Turn(n) | HistRef::RecordedTurn(n) => format!("turn {n}"),
        HistRef::Streaming(n, _) => format!("`{n}` stream"),
    }
}

fn stat_of(h: &HistSummary, stat: Stat, what: &str) -> Result<f64, String> {
    if h.count == 0 && stat != Stat::Count {
        return Err(format!("no {what} was measured"));
    }
    Ok(match stat {
        Stat::Avg => h.mean_ms,
        Stat::Min => h.min_ms,
        Stat::Max => h.max_ms,
        Stat::Count => h.count as f64,
        Stat::Pct(50.0) => h.p50_ms,
        Stat::Pct(90.0) => h.p90_ms,
        Stat::Pct(95.0) => h.p95_ms,
        Stat::Pct(99.0) => h.p99_ms,
        Stat::Pct(99.9) => h.p999_ms,
        Stat::Pct(p) => {
            let full = h
                .decode()
                .map_err(|e| format!("histogram unreadable: {e}"))?;
            full.quantile_us(p / 100.0) as f64 / 1000.0
        }
    })
}

/// A value in a metric's unit, for people.
pub fn show(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Duration => format::ms(v),
        Kind::Rate => format::pct(v),
        Kind::Count => format::num(v),
        Kind::PerSecond => format::rate(v),
    }
}
