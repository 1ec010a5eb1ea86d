//! What breaks first: ranks what grew between a light window of a run and a heavier one.
//!
//! A [`Window`] is the figures of one stretch of load — a capacity level's hold, a stage of
//! a ladder — as plain values: the latency histogram, each Server-Timing component's
//! histogram, the scraped gauges over that stretch ([`gauges`]) and the replayer's lag.
//! [`rank`] compares a window with the first (lightest) one and says, as [`Factor`]s in
//! order, what grew: the Server-Timing components by the time each added per request (with
//! their p95 growth and share of the latency), the gauges that have a limit by how full
//! they are, the queue gauges by how much they grew, and the replayer's lag. It then names
//! the side that broke ([`Side`]); [`headline`] says it all in one line.
//!
//! Pure functions over values: no I/O, no clock, so any caller (capacity search, load
//! stages, `reprise report`) can attribute its own windows.
//!
//! # Invariants
//! - A window whose lag exceeds the bound is blamed on the generator, whatever else grew:
//!   reprise never reports a knee it caused itself.
//! - Components nest (the mock's `db_wait` is inside `checkpoint_save`): a side's weight is
//!   its largest component, never a sum, so nesting cannot double-count.
//! - A limit is paired with its gauge by name only: `X_in_use` / `X_in_flight` / `X_used` /
//!   `X_active` with `X_max` / `X_limit` / `X_size` (`db_pool_in_use` ↔ `db_pool_max`,
//!   `llm_in_flight` ↔ `llm_limit`); queues are gauges named `…_waiting`, `…_queued` or
//!   `…_queue…`.
//! - Nothing here panics on empty or odd input: an empty window attributes nothing.

use super::format;
use crate::metrics::scraped::Scraped;
use crate::metrics::HistSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The figures of one stretch of load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// How the load is named in text: `120 users`, `×4 (8.0 sessions/s)`.
    pub label: String,
    /// Latency of the requests completed in the window.
    pub latency: HistSummary,
    /// Server-Timing components of the responses completed in the window, by name.
    pub server_timing: BTreeMap<String, HistSummary>,
    /// Scraped gauges over the window ([`gauges`]).
    pub gauges: Vec<Gauge>,
    /// The replayer's lag p99 over the window, ms.
    pub lag_p99_ms: f64,
}

/// One scraped gauge over a window (summed across its label sets, per scrape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub name: String,
    pub max: f64,
    pub mean: f64,
    /// The gauge that bounds it and its largest value over the window
    /// (`db_pool_max`), when the target reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<(String, f64)>,
    /// A queue (`…_waiting`, `…_queued`): requests waiting for something.
    #[serde(default)]
    pub queue: bool,
}

/// Which part of the system a figure belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Database,
    Llm,
    /// reprise itself.
    Generator,
    /// Named by its figure.
    Other(String),
}

impl Side {
    /// From a component or gauge name: `checkpoint_save`, `db_pool_in_use` → database.
    pub fn of(name: &str) -> Side {
        let n = name.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
        if has(&[
            "checkpoint",
            "db",
            "database",
            "pool",
            "sql",
            "postgres",
            "pg_",
        ]) {
            Side::Database
        } else if has(&["llm", "openai", "groq", "model", "inference", "completion"]) {
            Side::Llm
        } else {
            Side::Other(name.to_string())
        }
    }

    /// `the database side`.
    pub fn phrase(&self) -> String {
        match self {
            Side::Database => "the database side".into(),
            Side::Llm => "the LLM side".into(),
            Side::Generator => "the load generator (reprise itself), not the target".into(),
            Side::Other(n) => format!("`{n}`"),
        }
    }
}

/// What kind of figure a [`Factor`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// A Server-Timing component.
    Component,
    /// A gauge against its limit.
    Utilisation,
    /// A queue gauge.
    Queue,
    /// The replayer's lag.
    Lag,
}

/// One figure that grew, compared with the first window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub kind: FactorKind,
    pub name: String,
    pub side: Side,
    /// In the first window and in this one: p95 ms (component, lag), max / limit
    /// (utilisation, 0–1), mean length (queue).
    pub base: f64,
    pub value: f64,
    /// `value / base` (infinite when `base` is 0 and `value` is not: serialised as null).
    #[serde(with = "finite")]
    pub growth: f64,
    /// Component: its share of the window's latency (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Component: time it added per request against the first window, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_ms: Option<f64>,
    /// Utilisation: the gauge's largest value and its limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<(f64, f64)>,
    /// How it reads in the headline: `checkpoint_save p95 ×38 (62 % of latency)`.
    pub text: String,
}

/// What grew in one window against the first, ranked, and the side blamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub label: String,
    /// Components by time added per request, then gauges by fullness, queues by growth,
    /// then lag.
    pub factors: Vec<Factor>,
    /// The side that broke, when anything grew enough to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// p95 latency in the first window and in this one, ms.
    pub base_p95_ms: f64,
    pub p95_ms: f64,
}

/// A component whose p95 was below this in the first window is shown by its values, not
/// a ratio (a wait of 1 µs that became 200 ms is not usefully "×200000").
pub const NEGLIGIBLE_MS: f64 = 1.0;

/// A gauge at least this full counts as saturated.
pub const FULL: f64 = 0.95;

/// Ranks what grew in `w` against `base` (the lightest window). A lag p99 over
/// `lag_bound_ms` blames the generator.
pub fn rank(base: &Window, w: &Window, lag_bound_ms: f64) -> Attribution {
    let mut components = components(base, w);
    components.sort_by(|a, b| {
        b.added_ms
            .unwrap_or(0.0)
            .total_cmp(&a.added_ms.unwrap_or(0.0))
    });
    let mut utilisation = Vec::new();
    let mut queues = Vec::new();
    for g in &w.gauges {
        let before = base.gauges.iter().find(|b| b.name == g.name);
        if let Some((_, limit)) = &g.limit {
            if *limit <= 0.0 {
                continue;
            }
            let value = g.max / limit;
            let was = before.map_or(0.0, |b| match &b.limit {
                Some((_, l)) if *l > 0.0 => b.max / l,
                _ => 0.0,
            });
            utilisation.push(Factor {
                kind: FactorKind::Utilisation,
                name: g.name.clone(),
                side: Side::of(&g.name),
                base: was,
                value,
                growth: ratio(value, was),
                share: None,
                added_ms: None,
                used: Some((g.max, *limit)),
                text: format!(
                    "{} {}/{} {}",
                    gauge_subject(&g.name),
                    format::num(g.max),
                    format::num(*limit),
                    gauge_state(&g.name)
                ),
            });
        } else if g.queue {
            let was = before.map_or(0.0, |b| b.mean);
            if g.mean <= was || g.max <= 0.0 {
                continue;
            }
            queues.push(Factor {
                kind: FactorKind::Queue,
                name: g.name.clone(),
                side: Side::of(&g.name),
                base: was,
                value: g.mean,
                growth: ratio(g.mean, was),
                share: None,
                added_ms: None,
                used: None,
                text: format!(
                    "{} {} waiting on average (max {})",
                    gauge_subject(&g.name),
                    format::num((g.mean * 10.0).round() / 10.0),
                    format::num(g.max)
                ),
            });
        }
    }
    utilisation.sort_by(|a, b| b.value.total_cmp(&a.value));
    queues.sort_by(|a, b| b.value.total_cmp(&a.value));
    let lag = Factor {
        kind: FactorKind::Lag,
        name: "lag".into(),
        side: Side::Generator,
        base: base.lag_p99_ms,
        value: w.lag_p99_ms,
        growth: ratio(w.lag_p99_ms, base.lag_p99_ms),
        share: None,
        added_ms: None,
        used: None,
        text: format!("replayer lag p99 {}", format::ms(w.lag_p99_ms)),
    };
    let side = blame(&components, &utilisation, &queues, &lag, lag_bound_ms);
    let mut factors = components;
    factors.extend(utilisation);
    factors.extend(queues);
    factors.push(lag);
    Attribution {
        label: w.label.clone(),
        factors,
        side,
        base_p95_ms: base.latency.p95_ms,
        p95_ms: w.latency.p95_ms,
    }
}

/// Every window after the first, ranked against the first (a ladder's stages, a search's
/// levels in load order).
pub fn rank_all(windows: &[Window], lag_bound_ms: f64) -> Vec<Attribution> {
    match windows.split_first() {
        Some((base, rest)) => rest.iter().map(|w| rank(base, w, lag_bound_ms)).collect(),
        None => Vec::new(),
    }
}

/// Every Server-Timing component of `w`, against `base`.
fn components(base: &Window, w: &Window) -> Vec<Factor> {
    let per_request = |h: &HistSummary, requests: u64| {
        if requests == 0 {
            0.0
        } else {
            h.mean_ms * h.count as f64 / requests as f64
        }
    };
    let latency_sum = w.latency.mean_ms * w.latency.count as f64;
    w.server_timing
        .iter()
        .filter(|(_, h)| h.count > 0)
        .map(|(name, h)| {
            let before = base.server_timing.get(name);
            let was_p95 = before.map_or(0.0, |b| b.p95_ms);
            let added = per_request(h, w.latency.count)
                - before.map_or(0.0, |b| per_request(b, base.latency.count));
            let share = (latency_sum > 0.0)
                .then(|| (h.mean_ms * h.count as f64 / latency_sum).clamp(0.0, 1.0));
            let growth = ratio(h.p95_ms, was_p95);
            // a growth from next to nothing (a queue that was empty) reads as its values
            let mut text = if was_p95 < NEGLIGIBLE_MS {
                format!(
                    "{name} p95 {} → {}",
                    format::ms(was_p95),
                    format::ms(h.p95_ms)
                )
            } else {
                format!("{name} p95 {}", times(growth))
            };
            if let Some(s) = share {
                text.push_str(&format!(" ({:.0} % of latency)", s * 100.0));
            }
            Factor {
                kind: FactorKind::Component,
                name: name.clone(),
                side: Side::of(name),
                base: was_p95,
                value: h.p95_ms,
                growth,
                share,
                added_ms: Some(added),
                used: None,
                text,
            }
        })
        .collect()
}

/// The side that broke: the generator when it lagged; else the side of the component that
/// added the most time per request (when latency grew); else of the fullest gauge at 80 %
/// or more; else of the queue that grew most.
fn blame(
    components: &[Factor],
    utilisation: &[Factor],
    queues: &[Factor],
    lag: &Factor,
    lag_bound_ms: f64,
) -> Option<Side> {
    if lag.value > lag_bound_ms {
        return Some(Side::Generator);
    }
    if let Some(top) = components.first() {
        if top.added_ms.unwrap_or(0.0) > 0.0 {
            return Some(top.side.clone());
        }
    }
    if let Some(full) = utilisation.first().filter(|u| u.value >= 0.8) {
        return Some(full.side.clone());
    }
    queues.first().map(|q| q.side.clone())
}

/// The one line: `at 120 users p95 crossed 5s (6.2s); checkpoint_save p95 ×38 (62 % of
/// latency), llm p95 ×1.1, db pool 10/10 in use → the database side`. `broke` says what
/// failed at this window (`p95 crossed 5s (6.2s)`), when something did.
pub fn headline(a: &Attribution, broke: Option<&str>) -> String {
    let mut line = format!("at {}", a.label);
    match broke {
        Some(b) => line.push_str(&format!(" {b}")),
        None => line.push_str(&format!(
            " p95 {} (was {})",
            format::ms(a.p95_ms),
            format::ms(a.base_p95_ms)
        )),
    }
    let mut parts: Vec<&str> = Vec::new();
    // a component that stayed below a millisecond says nothing to a reader
    let components = a
        .factors
        .iter()
        .filter(|f| f.kind == FactorKind::Component && f.value >= NEGLIGIBLE_MS)
        .take(2);
    parts.extend(components.map(|f| f.text.as_str()));
    if let Some(u) = a
        .factors
        .iter()
        .find(|f| f.kind == FactorKind::Utilisation && f.value >= 0.8)
    {
        parts.push(&u.text);
    } else if let Some(q) = a.factors.iter().find(|f| f.kind == FactorKind::Queue) {
        parts.push(&q.text);
    }
    let lag = a.factors.iter().find(|f| f.kind == FactorKind::Lag);
    if a.side == Some(Side::Generator) && !broke.is_some_and(|b| b.contains("lag p99")) {
        if let Some(l) = lag {
            parts.insert(0, &l.text);
        }
    }
    if !parts.is_empty() {
        line.push_str("; ");
        line.push_str(&parts.join(", "));
    }
    match &a.side {
        Some(s) => line.push_str(&format!(" → {}", s.phrase())),
        None => line.push_str(" → nothing the target reports grew (no Server-Timing, no gauges)"),
    }
    line
}

/// The gauges of `scraped` over `[from_s, to_s]` (seconds on the run's time axis): each
/// name's series summed per scrape, its max and mean, paired with its limit by name.
pub fn gauges(scraped: &Scraped, from_s: f64, to_s: f64) -> Vec<Gauge> {
    // name → time → summed value (label sets of one scrape share its time)
    let mut by_name: BTreeMap<&str, BTreeMap<u64, f64>> = BTreeMap::new();
    for t in &scraped.targets {
        for s in &t.series {
            if s.kind != "gauge" && s.kind != "untyped" {
                continue;
            }
            let e = by_name.entry(s.name.as_str()).or_default();
            for p in s.points.iter().filter(|p| p[0] >= from_s && p[0] <= to_s) {
                *e.entry((p[0] * 1000.0) as u64).or_default() += p[1];
            }
        }
    }
    let stats = |values: &BTreeMap<u64, f64>| -> Option<(f64, f64)> {
        if values.is_empty() {
            return None;
        }
        let max = values.values().copied().fold(f64::MIN, f64::max);
        let mean = values.values().sum::<f64>() / values.len() as f64;
        Some((max, mean))
    };
    let mut out = Vec::new();
    for (name, values) in &by_name {
        let Some((max, mean)) = stats(values) else {
            continue;
        };
        let limit = limit_names(name).into_iter().find_map(|l| {
            let v = by_name.get(l.as_str())?;
            stats(v).map(|(m, _)| (l, m))
        });
        let queue = is_queue(name);
        if limit.is_none() && !queue {
            continue;
        }
        out.push(Gauge {
            name: name.to_string(),
            max,
            mean,
            limit,
            queue,
        });
    }
    out
}

const USE_SUFFIXES: [&str; 4] = ["_in_use", "_in_flight", "_used", "_active"];
const LIMIT_SUFFIXES: [&str; 3] = ["_max", "_limit", "_size"];

/// The names that may bound gauge `name`: `db_pool_in_use` → `db_pool_max`, ….
fn limit_names(name: &str) -> Vec<String> {
    USE_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .map(|stem| {
            LIMIT_SUFFIXES
                .iter()
                .map(|l| format!("{stem}{l}"))
                .collect()
        })
        .unwrap_or_default()
}

fn is_queue(name: &str) -> bool {
    name.ends_with("_waiting") || name.ends_with("_queued") || name.contains("_queue")
}

/// `db_pool_in_use` → `db pool`; `llm_in_flight` → `llm`.
fn gauge_subject(name: &str) -> String {
    let stem = USE_SUFFIXES
        .iter()
        .chain(["_waiting", "_queued"].iter())
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    stem.replace('_', " ")
}

/// `in use`, `in flight`, `active`.
fn gauge_state(name: &str) -> &'static str {
    if name.ends_with("_in_flight") {
        "in flight"
    } else if name.ends_with("_active") {
        "active"
    } else {
        "in use"
    }
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        value / base
    } else if value > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

/// `×38`, `×1.1`, `new` (nothing in the first window).
fn times(growth: f64) -> String {
    if !growth.is_finite() {
        "new".into()
    } else if growth >= 10.0 {
        format!("×{growth:.0}")
    } else {
        format!("×{growth:.1}")
    }
}

/// An `f64` that may be infinite, written as `null` when it is not finite.
mod finite {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scraped::{Series, Target};
    use crate::metrics::Hist;

    fn hist(values_ms: &[f64]) -> HistSummary {
        let mut h = Hist::new();
        for v in values_ms {
            h.record_us((v * 1000.0) as u64);
        }
        h.summary()
    }

    fn window(label: &str, latency: &[f64], st: &[(&str, &[f64])], lag: f64) -> Window {
        Window {
            label: label.into(),
            latency: hist(latency),
            server_timing: st.iter().map(|(n, v)| (n.to_string(), hist(v))).collect(),
            gauges: Vec::new(),
            lag_p99_ms: lag,
        }
    }

    fn gauge(name: &str, max: f64, limit: Option<f64>) -> Gauge {
        Gauge {
            name: name.into(),
            max,
            mean: max / 2.0,
            limit: limit.map(|l| (name.replace("_in_use", "_max"), l)),
            queue: is_queue(name),
        }
    }

    #[test]
    fn the_component_that_added_the_most_time_names_the_side() {
        let base = window(
            "10 users",
            &[25.0; 10],
            &[("checkpoint_save", &[5.0; 10]), ("llm", &[20.0; 10])],
            1.0,
        );
        let mut heavy = window(
            "120 users",
            &[230.0; 10],
            &[("checkpoint_save", &[190.0; 10]), ("llm", &[22.0; 10])],
            2.0,
        );
        heavy.gauges = vec![gauge("db_pool_in_use", 10.0, Some(10.0))];
        let a = rank(&base, &heavy, 100.0);
        assert_eq!(a.side, Some(Side::Database));
        let first = &a.factors[0];
        assert_eq!(first.name, "checkpoint_save");
        assert!((first.growth - 38.0).abs() < 1.0, "{}", first.growth);
        assert!((first.share.unwrap() - 190.0 / 230.0).abs() < 0.01);
        assert!((first.added_ms.unwrap() - 185.0).abs() < 1.0);
        let line = headline(&a, Some("p95 crossed 200ms (230ms)"));
        assert!(
            line.starts_with("at 120 users p95 crossed 200ms (230ms); checkpoint_save p95 ×38"),
            "{line}"
        );
        assert!(line.contains("llm p95 ×1.1"), "{line}");
        assert!(line.contains("db pool 10/10 in use"), "{line}");
        assert!(line.ends_with("→ the database side"), "{line}");
    }

    #[test]
    fn nested_components_do_not_outweigh_the_side_that_grew() {
        // llm_wait is inside llm; both grow, the database does not
        let base = window(
            "1",
            &[30.0; 4],
            &[
                ("llm", &[20.0; 4]),
                ("llm_wait", &[0.01; 4]),
                ("checkpoint_save", &[5.0; 4]),
            ],
            0.5,
        );
        let heavy = window(
            "2",
            &[300.0; 4],
            &[
                ("llm", &[295.0; 4]),
                ("llm_wait", &[270.0; 4]),
                ("checkpoint_save", &[5.0; 4]),
            ],
            0.5,
        );
        let a = rank(&base, &heavy, 100.0);
        assert_eq!(a.side, Some(Side::Llm));
        assert_eq!(a.factors[0].name, "llm");
        assert!(headline(&a, None).ends_with("→ the LLM side"));
    }

    #[test]
    fn lag_over_the_bound_blames_the_generator() {
        let base = window("a", &[5.0], &[("checkpoint_save", &[1.0])], 0.5);
        let heavy = window("b", &[50.0], &[("checkpoint_save", &[40.0])], 250.0);
        let a = rank(&base, &heavy, 100.0);
        assert_eq!(a.side, Some(Side::Generator));
        let line = headline(&a, Some("p95 crossed 20ms (50ms)"));
        assert!(line.contains("replayer lag p99 250ms"), "{line}");
        assert!(line.contains("reprise itself"), "{line}");
    }

    #[test]
    fn without_components_a_full_gauge_or_a_queue_decides() {
        let mut base = window("a", &[5.0], &[], 0.0);
        let mut heavy = window("b", &[50.0], &[], 0.0);
        base.gauges = vec![gauge("llm_in_flight", 1.0, Some(4.0))];
        heavy.gauges = vec![
            gauge("llm_in_flight", 4.0, Some(4.0)),
            gauge("db_pool_waiting", 3.0, None),
        ];
        let a = rank(&base, &heavy, 100.0);
        assert_eq!(a.side, Some(Side::Llm));
        heavy.gauges.remove(0);
        assert_eq!(rank(&base, &heavy, 100.0).side, Some(Side::Database));
        let all = rank_all(&[base.clone(), heavy.clone(), heavy.clone()], 100.0);
        assert_eq!(all.len(), 2);
        assert!(rank_all(&[], 100.0).is_empty());
        let empty = rank(&Window::default(), &Window::default(), 100.0);
        assert_eq!(empty.side, None);
        assert!(headline(&empty, None).contains("nothing the target reports grew"));
    }

    #[test]
    fn gauges_are_summed_per_scrape_windowed_and_paired_with_limits() {
        let series = |name: &str, pid: &str, kind: &str, pts: &[[f64; 2]]| Series {
            name: name.into(),
            labels: [("pid".to_string(), pid.to_string())].into(),
            kind: kind.into(),
            points: pts.to_vec(),
        };
        let s = Scraped {
            targets: vec![Target {
                series: vec![
                    series(
                        "db_pool_in_use",
                        "1",
                        "gauge",
                        &[[1.0, 2.0], [2.0, 4.0], [9.0, 9.0]],
                    ),
                    series("db_pool_in_use", "2", "gauge", &[[1.0, 1.0], [2.0, 4.0]]),
                    series("db_pool_max", "1", "gauge", &[[1.0, 10.0], [2.0, 10.0]]),
                    series("db_pool_waiting", "1", "gauge", &[[1.0, 0.0], [2.0, 6.0]]),
                    series("http_requests_total", "1", "counter", &[[1.0, 5.0]]),
                    series("connections_open", "1", "gauge", &[[1.0, 5.0]]),
                ],
                ..Default::default()
            }],
        };
        let g = gauges(&s, 0.5, 5.0);
        let names: Vec<_> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["db_pool_in_use", "db_pool_waiting"]);
        assert_eq!(
            g[0].max, 8.0,
            "summed across pids, the point at 9 s is outside"
        );
        assert_eq!(g[0].limit, Some(("db_pool_max".into(), 10.0)));
        assert!(g[1].queue && g[1].limit.is_none());
        assert_eq!(g[1].mean, 3.0);
    }

    #[test]
    fn factors_serialise_with_infinite_growth_as_null() {
        let base = window("a", &[5.0], &[], 0.0);
        let heavy = window("b", &[50.0], &[("db_wait", &[40.0])], 0.0);
        let a = rank(&base, &heavy, 100.0);
        let json = serde_json::to_value(&a).unwrap();
        assert!(json["factors"][0]["growth"].is_null(), "{json}");
        assert!(
            a.factors[0].text.starts_with("db_wait p95 "),
            "{}",
            a.factors[0].text
        );
        assert!(
            a.factors[0].text.contains("0ms → 40"),
            "{}",
            a.factors[0].text
        );
        let back: Attribution = serde_json::from_value(json).unwrap();
        assert!(back.factors[0].growth.is_infinite());
    }
}
