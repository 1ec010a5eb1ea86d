//! Per-stage figures: each stage's share of the run, computed from the summary's own series.
//!
//! A stage's window is given (`summary.stages[i].start_s`, `end_s`); its figures are built
//! from the 1-second series points of that window — each point holds an exact histogram, so
//! a stage's latency histogram is the merge of its seconds' — and from the scraped series'
//! samples in it.
//!
//! # Invariants
//! - Second `k` of the run (covering `[k, k+1)` s) belongs to the last stage starting at or
//!   before `k + 0.5` that the run reached (started before its end): stages tile the run, so their requests, failures, bytes and
//!   histogram counts add up to the series' totals exactly.
//! - [`fill`] depends only on the summary, so a merged summary's stages are recomputed from
//!   the merged series the same way.

use crate::metrics::scraped::Scraped;
use crate::metrics::summary::{Stage, StageSeries, Summary};
use crate::metrics::Hist;

/// Computes every stage's figures from `s.series` and `s.scrape`; the windows are kept.
pub fn fill(s: &mut Summary) {
    if s.stages.is_empty() {
        return;
    }
    let origin = chrono::DateTime::parse_from_rfc3339(&s.run.started_at)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| s.series.first().map(|p| p.t))
        .unwrap_or(0);
    let n = s.stages.len();
    let duration = s.run.duration_s;
    for (i, st) in s.stages.iter_mut().enumerate() {
        st.not_reached = i > 0 && st.start_s >= duration;
    }
    let mut hists: Vec<Hist> = vec![Hist::new(); n];
    let mut figures = vec![(0u64, 0u64, 0u64, 0u64, 0f64); n];
    for p in &s.series {
        let mid = (p.t - origin) as f64 + 0.5;
        let i = stage_at(&s.stages, mid);
        if let Ok(h) = p.latency.decode() {
            hists[i].add(&h);
        }
        let f = &mut figures[i];
        f.0 += p.requests;
        f.1 += p.failures;
        f.2 += p.bytes_received;
        f.3 = f.3.max(p.users);
        f.4 = f.4.max(p.lag_p99_ms);
    }
    for (i, st) in s.stages.iter_mut().enumerate() {
        if st.not_reached {
            if !st.end_s.is_finite() {
                st.end_s = st.start_s + st.ramp_s + st.hold_s;
            }
        } else if i + 1 == n {
            st.end_s = duration.max(st.start_s);
        } else {
            st.end_s = st.end_s.min(duration);
        }
        let (requests, failures, bytes, peak, lag) = figures[i];
        st.requests = requests;
        st.failures = failures;
        st.bytes_received = bytes;
        st.peak_users = peak;
        st.lag_p99_ms = lag;
        st.error_rate = if requests == 0 {
            0.0
        } else {
            failures as f64 / requests as f64
        };
        st.success_rate = if requests == 0 {
            0.0
        } else {
            1.0 - st.error_rate
        };
        let secs = st.end_s - st.start_s;
        st.rps = if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        };
        st.latency = hists[i].summary();
        let to = if i + 1 == n { f64::INFINITY } else { st.end_s };
        st.scrape = s
            .scrape
            .as_ref()
            .map(|sc| scraped(sc, st.start_s, to))
            .unwrap_or_default();
    }
}

/// Each stage's verdicts: the thresholds scoped to it, and the run's others that a stage
/// can measure, judged on its figures alone.
pub fn judge(summary: &mut Summary, thresholds: &super::Thresholds) {
    // each stage: its own scoped thresholds, and the run's others it can measure
    let per_stage: Vec<Vec<crate::metrics::summary::Verdict>> = summary
        .stages
        .iter()
        .map(|st| {
            thresholds
                .0
                .iter()
                .filter(|t| match &t.stage {
                    Some(r) => r.is(st.index, &st.name),
                    None => t.per_stage(),
                })
                .map(|t| super::thresholds::stage_verdict(t, summary, st))
                .collect()
        })
        .collect();
    for (st, v) in summary.stages.iter_mut().zip(per_stage) {
        st.thresholds = v;
    }
}

/// Lag p99 above which a stage is blamed on the generator (as `reprise capacity`'s default
/// `--lag-bound`).
pub const LAG_BOUND_MS: f64 = 100.0;

/// The attribution headline of a staged run, for the top of its report: at the first stage
/// after the first that failed a threshold (its own or the run's, judged on it), else at the
/// heaviest stage reached, what grew against the first stage — Server-Timing components'
/// p95 and share of latency, scraped gauges against their limits, the replayer's lag —
/// ranked by [`attribution::rank`] and said by [`attribution::headline`]: `at stage 3 (100
/// users) p95 crossed 5s (6.2s); checkpoint_save p95 ×38 (62 % of latency) … → the
/// database side`. `None` with fewer than two reached stages that measured anything.
pub fn headline(s: &Summary) -> Option<String> {
    use super::attribution;
    let reached: Vec<&Stage> = s
        .stages
        .iter()
        .filter(|st| !st.not_reached && st.latency.count > 0)
        .collect();
    if reached.len() < 2 {
        return None;
    }
    let window = |st: &Stage| attribution::Window {
        label: format!("stage {} ({})", label(st), target_label(s, st)),
        latency: st.latency.clone(),
        server_timing: st.server_timing.clone(),
        gauges: s
            .scrape
            .as_ref()
            .map(|sc| attribution::gauges(sc, st.start_s, st.end_s))
            .unwrap_or_default(),
        lag_p99_ms: st.lag_p99_ms,
    };
    let broke = reached[1..].iter().find_map(|st| {
        let v = st.thresholds.iter().find(|v| !v.ok)?;
        Some((*st, crate::capacity::crossed(v)))
    });
    let (at, broke) = match broke {
        Some((st, text)) => (st, Some(text)),
        None => (reached[reached.len() - 1], None),
    };
    let a = attribution::rank(&window(reached[0]), &window(at), LAG_BOUND_MS);
    Some(attribution::headline(&a, broke.as_deref()))
}

/// A stage's target in its workload's unit: `100 users`, `×3`, `2.5/s`.
pub fn target_label(s: &Summary, st: &crate::metrics::summary::Stage) -> String {
    use crate::metrics::summary::Workload;
    match s.run.workload {
        Workload::Open { .. } => format!("×{}", st.target.round() as u64),
        Workload::Rate { .. } => format!("{}/s", super::format::num(st.target)),
        Workload::Closed { .. } => {
            format!("{} users", super::format::count(st.target.round() as u64))
        }
    }
}

/// The console table: one line per stage, then its failed scoped thresholds.
pub fn render(s: &Summary) -> String {
    use super::format::{count, ms, pct, rate};
    use std::fmt::Write as _;
    if s.stages.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:<16} {:>12} {:>15} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}\n",
        "stage",
        "target",
        "window",
        "requests",
        "errors",
        "rps",
        "p50",
        "p95",
        "p99",
        "peak",
        "lag p99"
    );
    for st in &s.stages {
        let name: String = label(st).chars().take(16).collect();
        let _ = writeln!(
            out,
            "{name:<16} {:>12} {:>15} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
            target_label(s, st),
            if st.not_reached {
                "not reached".to_string()
            } else {
                format!("{:.0}–{:.0}s", st.start_s, st.end_s)
            },
            count(st.requests),
            pct(st.error_rate * 100.0),
            rate(st.rps),
            ms(st.latency.p50_ms),
            ms(st.latency.p95_ms),
            ms(st.latency.p99_ms),
            count(st.peak_users),
            ms(st.lag_p99_ms),
        );
        for v in st.thresholds.iter().filter(|v| !v.ok) {
            let _ = writeln!(out, "  ❌ {} (observed {})", v.expr, v.observed);
        }
    }
    out
}

/// `2 light`, or `2` for a stage without a name of its own.
pub fn label(st: &Stage) -> String {
    if st.name.is_empty() || st.name == st.index.to_string() {
        st.index.to_string()
    } else {
        format!("{} {}", st.index, st.name)
    }
}

/// Index of the stage whose window holds run time `t` (the first one before any start).
/// Stages the run did not reach take no second.
fn stage_at(stages: &[Stage], t: f64) -> usize {
    stages
        .iter()
        .rposition(|st| st.start_s <= t && !st.not_reached)
        .unwrap_or(0)
}

/// Every scraped series' figures over `[from, to)`.
fn scraped(sc: &Scraped, from: f64, to: f64) -> Vec<StageSeries> {
    let mut out = Vec::new();
    for t in &sc.targets {
        for series in &t.series {
            let inside: Vec<[f64; 2]> = series
                .points
                .iter()
                .filter(|p| p[0] >= from && p[0] < to)
                .copied()
                .collect();
            let Some(last) = inside.last() else { continue };
            let values = inside.iter().map(|p| p[1]);
            let rate = (series.kind == "counter")
                .then(|| {
                    // from the last sample before the window, when there is one
                    let before = series.points.iter().rev().find(|p| p[0] < from);
                    let first = before.unwrap_or(&inside[0]);
                    let dt = last[0] - first[0];
                    let dv = last[1] - first[1];
                    (dt > 0.0 && dv >= 0.0).then(|| dv / dt)
                })
                .flatten();
            out.push(StageSeries {
                name: series.name.clone(),
                labels: series.labels.clone(),
                kind: series.kind.clone(),
                points: inside.len() as u64,
                min: values.clone().fold(f64::INFINITY, f64::min),
                max: values.clone().fold(f64::NEG_INFINITY, f64::max),
                avg: values.sum::<f64>() / inside.len() as f64,
                last: last[1],
                rate,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scraped::{Series, Target};
    use crate::metrics::summary::SeriesPoint;

    #[test]
    fn stages_tile_the_series_and_add_up_to_it() {
        let mut s = crate::report::fixture::seeded(1);
        s.run.started_at = "2026-01-01T00:00:00.400000Z".into();
        s.run.duration_s = 6.2;
        let t0 = 1_767_225_600; // 2026-01-01T00:00:00Z
        s.series = (0..7)
            .map(|k| {
                let mut h = Hist::new();
                for v in 0..=k {
                    h.record_us(1000 * (v + 1));
                }
                SeriesPoint {
                    t: t0 + k as i64,
                    requests: k + 1,
                    failures: k % 2,
                    users: 10 * k,
                    latency: h.summary(),
                    lag_p99_ms: k as f64,
                    bytes_received: 100,
                }
            })
            .collect();
        s.stages = vec![
            Stage {
                index: 1,
                start_s: 0.0,
                end_s: 2.0,
                ..Default::default()
            },
            Stage {
                index: 2,
                start_s: 2.0,
                end_s: 5.0,
                ..Default::default()
            },
            Stage {
                index: 3,
                start_s: 5.0,
                end_s: f64::INFINITY,
                ..Default::default()
            },
        ];
        s.scrape = Some(Scraped {
            targets: vec![Target {
                series: vec![Series {
                    name: "reqs".into(),
                    kind: "counter".into(),
                    points: vec![
                        [0.5, 0.0],
                        [1.5, 10.0],
                        [2.5, 20.0],
                        [4.5, 60.0],
                        [5.5, 61.0],
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        fill(&mut s);
        let req: Vec<u64> = s.stages.iter().map(|st| st.requests).collect();
        assert_eq!(req, vec![1 + 2, 3 + 4 + 5, 6 + 7]);
        let total: u64 = s.series.iter().map(|p| p.requests).sum();
        assert_eq!(req.iter().sum::<u64>(), total);
        let counts: u64 = s.stages.iter().map(|st| st.latency.count).sum();
        assert_eq!(counts, total, "histogram counts add up");
        assert_eq!(s.stages[1].peak_users, 40);
        assert_eq!(s.stages[2].end_s, 6.2, "the last stage ends with the run");
        assert!((s.stages[1].rps - 12.0 / 3.0).abs() < 1e-9);
        let sc = &s.stages[1].scrape[0];
        assert_eq!((sc.points, sc.min, sc.max, sc.last), (2, 20.0, 60.0, 60.0));
        // from 10 at 1.5 s (before the window) to 60 at 4.5 s
        assert_eq!(sc.rate, Some(50.0 / 3.0));
        assert!(s.stages.iter().all(|st| !st.not_reached));
        // a run cut before its last stage: that stage keeps its planned window, no figures
        s.run.duration_s = 4.0;
        fill(&mut s);
        assert!(s.stages[2].not_reached && !s.stages[1].not_reached);
        assert_eq!((s.stages[1].end_s, s.stages[2].start_s), (4.0, 5.0));
        assert_eq!(s.stages[2].requests, 0);
        assert_eq!(s.stages[1].requests, 3 + 4 + 5 + 6 + 7, "no second is lost");
    }
}
