//! The page's load-stage table and the charts of the target's scraped metrics.
//!
//! Scraped series are charted on the run's time axis (the same x axis as the run's own
//! charts: seconds from the first series point); every chart marks the stage boundaries.
//! Counters are drawn as their per-second rate, gauges as they are.
//!
//! # Invariants
//! - At most [`MAX_CHARTS`] scrape charts (one per metric name, in the order first
//!   scraped) and [`MAX_LINES`] lines each (one per label set); the rest stays in
//!   `summary.json`.

use super::super::format::{count, ms, pct, rate};
use super::super::thresholds::scrape;
use super::{esc, table};
use crate::metrics::summary::Summary;
use std::fmt::Write as _;

pub const MAX_CHARTS: usize = 12;
pub const MAX_LINES: usize = 6;

/// The stage table (nothing without stages).
pub fn table_of(h: &mut String, s: &Summary) {
    if s.stages.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = s
        .stages
        .iter()
        .map(|st| {
            let failed = st.thresholds.iter().filter(|v| !v.ok).count();
            let verdict = match (st.thresholds.len(), failed) {
                (0, _) => "<span class=\"muted\">–</span>".to_string(),
                (n, 0) => format!("✅ {n} met"),
                (_, f) => {
                    let exprs: Vec<String> = st
                        .thresholds
                        .iter()
                        .filter(|v| !v.ok)
                        .map(|v| format!("{} ({})", esc(&v.expr), esc(&v.observed)))
                        .collect();
                    format!("<!--bad-->❌ {f} failed: {}", exprs.join("; "))
                }
            };
            let mut row = vec![
                esc(&super::super::stages::label(st)),
                esc(&super::super::stages::target_label(s, st)),
                if st.not_reached {
                    format!("not reached (planned from {:.0} s)", st.start_s)
                } else {
                    format!(
                        "{:.0}–{:.0} s (ramp {:.0} s)",
                        st.start_s, st.end_s, st.ramp_s
                    )
                },
                count(st.requests),
                pct(st.error_rate * 100.0),
                rate(st.rps),
            ];
            row.extend(
                [st.latency.p50_ms, st.latency.p95_ms, st.latency.p99_ms]
                    .iter()
                    .map(|v| esc(&ms(*v))),
            );
            row.push(count(st.peak_users));
            row.push(esc(&ms(st.lag_p99_ms)));
            row.push(verdict);
            row
        })
        .collect();
    table(
        h,
        "stages",
        "Load stages",
        "Each stage's figures come from the seconds of its window; stages add up to the run. \
         Verdicts: the thresholds scoped to the stage and the run's others judged on it alone.",
        &[
            "stage",
            "target",
            "window",
            "requests",
            "errors",
            "rps",
            "p50",
            "p95",
            "p99",
            "peak users",
            "lag p99",
            "verdicts",
        ],
        &rows,
    );
}

/// `stages 10 → 100 → 1,000 users` for a shaped run, else `flat` (the run's workload).
pub fn shape_or(s: &Summary, flat: String) -> String {
    if s.stages.is_empty() {
        return flat;
    }
    let targets: Vec<String> = s
        .stages
        .iter()
        .map(|st| super::super::format::num(st.target))
        .collect();
    let unit = match s.run.workload {
        crate::metrics::summary::Workload::Open { .. } => "× the recorded arrivals",
        crate::metrics::summary::Workload::Rate { .. } => "sessions/s",
        _ => "users",
    };
    format!("stages {} {unit}", targets.join(" → "))
}

/// One scrape chart: a title and lines on a shared time axis (seconds since the start).
#[derive(Debug, serde::Serialize)]
pub struct Chart {
    pub title: String,
    pub t: Vec<f64>,
    pub lines: Vec<Line>,
}

#[derive(Debug, serde::Serialize)]
pub struct Line {
    pub name: String,
    /// Aligned with the chart's `t`; null before the series' first sample.
    pub v: Vec<Option<f64>>,
}

/// The scrape charts' data.
pub fn charts(s: &Summary) -> Vec<Chart> {
    let Some(sc) = &s.scrape else {
        return Vec::new();
    };
    let mut order: Vec<(String, String)> = Vec::new();
    for t in &sc.targets {
        for series in &t.series {
            let key = (series.name.clone(), series.kind.clone());
            if !order.contains(&key) {
                order.push(key);
            }
        }
    }
    let mut out = Vec::new();
    for (name, kind) in order.into_iter().take(MAX_CHARTS) {
        let counter = kind == "counter";
        let parts: Vec<(String, Vec<[f64; 2]>)> = sc
            .targets
            .iter()
            .flat_map(|t| t.series.iter())
            .filter(|x| x.name == name)
            .take(MAX_LINES)
            .map(|x| {
                let labels: Vec<String> = x
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                let label = if labels.is_empty() {
                    name.clone()
                } else {
                    labels.join(",")
                };
                let points = if counter {
                    scrape::rate(&x.points)
                } else {
                    x.points.clone()
                };
                (label, points)
            })
            .collect();
        let mut t: Vec<f64> = parts
            .iter()
            .flat_map(|(_, p)| p.iter().map(|x| x[0]))
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        if t.is_empty() {
            continue;
        }
        let lines = parts
            .into_iter()
            .map(|(label, p)| {
                let mut k = 0;
                let v = t
                    .iter()
                    .map(|&at| {
                        while k < p.len() && p[k][0] <= at {
                            k += 1;
                        }
                        (k > 0).then(|| p[k - 1][1])
                    })
                    .collect();
                Line { name: label, v }
            })
            .collect();
        out.push(Chart {
            title: if counter {
                format!("rate({name}) /s")
            } else {
                name
            },
            t,
            lines,
        });
    }
    out
}

/// The chart cards of the scrape charts (drawn by the script from `charts`).
pub fn chart_cards(h: &mut String, charts: &[Chart], s: &Summary) {
    if charts.is_empty() {
        return;
    }
    let failed = s.scrape.as_ref().map_or(0, |x| x.failed());
    let _ = writeln!(
        h,
        "<section id=\"scrape-charts\"><h2>Target metrics</h2>\n<p class=\"note-line\">Scraped \
         during the run{}; counters as their rate per second.</p>\n<div class=\"grid2\">",
        if failed > 0 {
            format!(" ({failed} scrapes failed)")
        } else {
            String::new()
        }
    );
    for (i, c) in charts.iter().enumerate() {
        let _ = writeln!(
            h,
            "<div class=\"card chart\" data-chart=\"scrape-{i}\"><h3>{}</h3><div class=\"legend\"></div></div>",
            esc(&c.title)
        );
    }
    h.push_str("</div></section>\n");
}
