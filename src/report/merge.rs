//! Exact merge of several summaries (shards of one run, or runs split across processes).
//!
//! # Invariants
//! - Counts add; every histogram is decoded from its lossless encoding and added
//!   ([`Hists`]), so a merged percentile equals the percentile of all samples together —
//!   never an average of percentiles.
//! - Series points align on their wall-clock second `t`; points of the same second add,
//!   one second at a time ([`series_point`]).
//!   A point's `lag_p99_ms` is the largest of the shards' (a p99 cannot be rebuilt from
//!   p99s, and the worst shard is what a reader needs to see).
//! - Derived figures (rates, rps, divergence rates) are recomputed from merged counts.
//! - Control events (`run.events`) are the union of the shards', in time order.
//! - Scraped target metrics are concatenated target by target, each tagged with its shard
//!   and shifted onto the merged run's start.
//! - Threshold verdicts are dropped: the caller re-evaluates them on the merged figures.
//! - Shards are checked first ([`super::shards::coverage`]): the merged `run.shards` lists
//!   the missing and failed ones and the spread of the start skews.

use super::Error;
use crate::metrics::scraped::Scraped;
use crate::metrics::summary::{
    ControlEvent, Conversation, EndpointStats, FailureRow, RunInfo, SeriesPoint, Sessions, Summary,
    Totals, Workload,
};
use crate::metrics::{conversation, Hist, HistSummary};
use std::collections::BTreeMap;

/// Merges `parts` (name, summary) into one summary named `name`.
pub fn merge(name: &str, parts: &[(String, Summary)]) -> Result<Summary, Error> {
    let Some((_, first)) = parts.first() else {
        return Err(Error::Merge("no summary to merge".into()));
    };
    let shards = super::shards::coverage(parts)?;
    if parts.len() == 1 {
        let mut only = first.clone();
        only.thresholds.clear();
        only.run.shards = shards;
        return Ok(only);
    }
    let mut run = run_info(name, parts);
    run.shards = shards;
    let mut totals = Totals::default();
    let mut endpoints: BTreeMap<String, EndpointStats> = BTreeMap::new();
    let mut failures: BTreeMap<(String, String, String), FailureRow> = BTreeMap::new();
    let mut sessions = Sessions::default();
    // the parts' points of each second, merged second by second after the loop
    let mut by_second: BTreeMap<i64, Vec<(&str, &SeriesPoint)>> = BTreeMap::new();
    let mut conversation = Conversation::default();
    let mut peaks = 0;
    let mut hists = Hists::default();

    for (part, s) in parts {
        let ctx = |what: &str| format!("{part}: {what}");
        add_totals(&mut totals, &s.totals, &mut hists, &ctx("totals"))?;
        peaks += s.totals.peak_users;
        for e in &s.endpoints {
            let m = endpoints
                .entry(e.name.clone())
                .or_insert_with(|| EndpointStats {
                    name: e.name.clone(),
                    method: e.method.clone(),
                    path: e.path.clone(),
                    ..Default::default()
                });
            m.requests += e.requests;
            m.failures += e.failures;
            m.bytes_received += e.bytes_received;
            hists.add(Key::Endpoint(e.name.clone(), LATENCY), &e.latency, || {
                ctx(&e.name)
            })?;
            hists.add(
                Key::Endpoint(e.name.clone(), TTFB),
                &e.ttfb,
                || ctx(&e.name),
            )?;
        }
        for f in &s.failures {
            let key = (f.endpoint.clone(), f.kind.clone(), f.detail.clone());
            let m = failures.entry(key).or_insert_with(|| FailureRow {
                count: 0,
                ..f.clone()
            });
            m.count += f.count;
            m.first_seen = pick(&m.first_seen, &f.first_seen, std::cmp::min);
            m.last_seen = pick(&m.last_seen, &f.last_seen, std::cmp::max);
        }
        sessions.started += s.sessions.started;
        sessions.completed += s.sessions.completed;
        sessions.aborted += s.sessions.aborted;
        add_counts(
            &mut sessions.aborted_by_reason,
            &s.sessions.aborted_by_reason,
        );
        hists.add(Key::Sessions, &s.sessions.duration, || ctx("sessions"))?;
        for p in &s.series {
            by_second.entry(p.t).or_default().push((part, p));
        }
        add_conversation(&mut conversation, &s.conversation, part)?;
    }

    for k in [LATENCY, TTFB, CORRECTED, LAG, WAIT] {
        *total_hist(&mut totals, k) = hists.take(&Key::Total(k));
    }
    for m in endpoints.values_mut() {
        m.latency = hists.take(&Key::Endpoint(m.name.clone(), LATENCY));
        m.ttfb = hists.take(&Key::Endpoint(m.name.clone(), TTFB));
    }
    sessions.duration = hists.take(&Key::Sessions);
    let series = by_second
        .into_iter()
        .map(|(t, points)| series_point(t, &points))
        .collect::<Result<Vec<_>, _>>()?;
    totals.error_rate = ratio(totals.failures, totals.requests);
    totals.success_rate = if totals.requests == 0 {
        0.0
    } else {
        1.0 - totals.error_rate
    };
    totals.rps = if run.duration_s > 0.0 {
        totals.requests as f64 / run.duration_s
    } else {
        0.0
    };
    // Shards run side by side from a common start, so their peaks add.
    totals.peak_users = peaks;
    let mut failures: Vec<FailureRow> = failures.into_values().collect();
    failures.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });

    let scrape = merge_scrape(&run.started_at, parts);
    // shards of one shaped run share its stages: the windows of the first, the figures
    // recomputed from the merged series
    let stages = first
        .stages
        .iter()
        .map(|st| {
            Ok(crate::metrics::summary::Stage {
                index: st.index,
                name: st.name.clone(),
                target: st.target,
                ramp_s: st.ramp_s,
                hold_s: st.hold_s,
                start_s: st.start_s,
                end_s: st.end_s,
                server_timing: stage_timing(parts, st.index)?,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut merged = Summary {
        schema: first.schema.clone(),
        version: first.version,
        run,
        totals,
        endpoints: endpoints.into_values().collect(),
        failures,
        sessions,
        series,
        conversation,
        thresholds: Vec::new(),
        scrape,
        stages,
    };
    super::stages::fill(&mut merged);
    Ok(merged)
}

/// Stage `index`'s Server-Timing histograms of every part, merged.
fn stage_timing(
    parts: &[(String, Summary)],
    index: usize,
) -> Result<BTreeMap<String, HistSummary>, Error> {
    let mut out: BTreeMap<String, HistSummary> = BTreeMap::new();
    for (name, s) in parts {
        let Some(st) = s.stages.iter().find(|st| st.index == index) else {
            continue;
        };
        for (k, h) in &st.server_timing {
            let merged = match out.get(k) {
                Some(a) => a.merged(h).map_err(|detail| Error::Histogram {
                    what: format!("{name}: stage {index} server_timing {k}"),
                    detail,
                })?,
                None => h.clone(),
            };
            out.insert(k.clone(), merged);
        }
    }
    Ok(out)
}

/// The shards' scraped targets, concatenated, each shifted onto the merged start
/// (`None` when no shard scraped).
fn merge_scrape(started_at: &str, parts: &[(String, Summary)]) -> Option<Scraped> {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let start = at(started_at);
    let mut merged: Option<Scraped> = None;
    for (part, s) in parts {
        let Some(scraped) = &s.scrape else { continue };
        let offset = match (start, at(&s.run.started_at)) {
            (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
            _ => 0.0,
        };
        let shard = s.run.shard.clone().unwrap_or_else(|| part.clone());
        merged
            .get_or_insert_with(Scraped::default)
            .absorb(scraped, offset, Some(&shard));
    }
    merged
}

fn run_info(name: &str, parts: &[(String, Summary)]) -> RunInfo {
    let runs: Vec<&RunInfo> = parts.iter().map(|(_, s)| &s.run).collect();
    let first = runs[0];
    let same_or_join = |f: &dyn Fn(&RunInfo) -> String| {
        let mut seen: Vec<String> = Vec::new();
        for r in &runs {
            let v = f(r);
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen.join(", ")
    };
    let mut recordings: Vec<String> = Vec::new();
    for r in &runs {
        for rec in &r.recordings {
            if !recordings.contains(rec) {
                recordings.push(rec.clone());
            }
        }
    }
    let started_at = runs
        .iter()
        .map(|r| r.started_at.clone())
        .min()
        .unwrap_or_default();
    let ended_at = runs
        .iter()
        .map(|r| r.ended_at.clone())
        .max()
        .unwrap_or_default();
    let span = match (
        chrono::DateTime::parse_from_rfc3339(&started_at),
        chrono::DateTime::parse_from_rfc3339(&ended_at),
    ) {
        (Ok(a), Ok(b)) => Some((b - a).num_microseconds().unwrap_or(0) as f64 / 1e6),
        _ => None,
    };
    let longest = runs.iter().map(|r| r.duration_s).fold(0.0, f64::max);
    // A shard's summary describes the whole test's workload (its `shard` says which part
    // it ran): shards of one run share it. Separate runs side by side add up.
    let sharded = runs.iter().all(|r| r.shard.is_some());
    let workload = if sharded {
        first.workload.clone()
    } else {
        runs.iter()
            .skip(1)
            .fold(first.workload.clone(), |acc, r| match (acc, &r.workload) {
                (
                    Workload::Closed { users, spawn_rate },
                    Workload::Closed {
                        users: u,
                        spawn_rate: sr,
                    },
                ) => Workload::Closed {
                    users: users + u,
                    spawn_rate: spawn_rate + sr,
                },
                (Workload::Open { multiply }, Workload::Open { multiply: m }) => Workload::Open {
                    multiply: multiply + m,
                },
                (Workload::Rate { per_s }, Workload::Rate { per_s: r }) => {
                    Workload::Rate { per_s: per_s + r }
                }
                (acc, _) => acc,
            })
    };
    let reasons: Vec<String> = runs.iter().filter_map(|r| r.abort_reason.clone()).collect();
    RunInfo {
        name: name.to_string(),
        tool: first.tool.clone(),
        recordings,
        target: same_or_join(&|r| r.target.clone()),
        profile: first.profile.clone(),
        started_at,
        ended_at,
        duration_s: span.filter(|s| *s > 0.0).unwrap_or(longest),
        aborted: runs.iter().any(|r| r.aborted),
        abort_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        // each shard's own worker indices, shard after shard
        workers_lost: runs.iter().flat_map(|r| r.workers_lost.clone()).collect(),
        workload,
        speed: first.speed,
        timing: same_or_join(&|r| r.timing.clone()),
        timeout_s: runs.iter().map(|r| r.timeout_s).fold(0.0, f64::max),
        seed: first.seed,
        back_to_back: runs.iter().any(|r| r.back_to_back),
        shard: None,
        merged_from: parts.iter().map(|(n, _)| n.clone()).collect(),
        start_at: Some(same_or_join(&|r| r.start_at.clone().unwrap_or_default()))
            .filter(|s| !s.is_empty()),
        start_skew_ms: None,
        shards: None,
        on_divergence: runs.iter().find_map(|r| r.on_divergence.clone()),
        events: events(&runs),
    }
}

/// The shards' control events, in time order; the same change applied to every shard (at
/// the same wall-clock time, with the same figures) is kept once.
fn events(runs: &[&RunInfo]) -> Vec<ControlEvent> {
    let mut all: Vec<ControlEvent> = runs.iter().flat_map(|r| r.events.clone()).collect();
    all.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.action.cmp(&b.action)));
    all.dedup_by(|a, b| {
        a.at == b.at
            && a.action == b.action
            && a.users == b.users
            && a.multiply == b.multiply
            && a.spawn_rate == b.spawn_rate
    });
    all
}

fn add_totals(m: &mut Totals, t: &Totals, hists: &mut Hists, what: &str) -> Result<(), Error> {
    m.requests += t.requests;
    m.failures += t.failures;
    m.bytes_received += t.bytes_received;
    m.bytes_sent += t.bytes_sent;
    for (k, h) in [
        (LATENCY, &t.latency),
        (TTFB, &t.ttfb),
        (CORRECTED, &t.corrected_latency),
        (LAG, &t.lag),
        (WAIT, &t.dependency_wait),
    ] {
        hists.add(Key::Total(k), h, || what.to_string())?;
    }
    Ok(())
}

/// One second of the merged series from the parts' points of that second. Its histogram is
/// summarised before the next second's is built, so memory holds one second at a time.
fn series_point(t: i64, points: &[(&str, &SeriesPoint)]) -> Result<SeriesPoint, Error> {
    let mut m = SeriesPoint {
        t,
        ..Default::default()
    };
    let mut hists = Hists::default();
    for (part, p) in points {
        m.requests += p.requests;
        m.failures += p.failures;
        m.users += p.users;
        m.bytes_received += p.bytes_received;
        m.lag_p99_ms = m.lag_p99_ms.max(p.lag_p99_ms);
        hists.add(Key::Series(t), &p.latency, || {
            format!("{part}: series t={t}")
        })?;
    }
    m.latency = hists.take(&Key::Series(t));
    Ok(m)
}

const LATENCY: &str = "latency";
const TTFB: &str = "ttfb";
const CORRECTED: &str = "corrected_latency";
const LAG: &str = "lag";
const WAIT: &str = "dependency_wait";

fn total_hist<'a>(t: &'a mut Totals, k: &str) -> &'a mut HistSummary {
    match k {
        LATENCY => &mut t.latency,
        TTFB => &mut t.ttfb,
        CORRECTED => &mut t.corrected_latency,
        WAIT => &mut t.dependency_wait,
        _ => &mut t.lag,
    }
}

/// Which merged histogram an accumulated [`Hist`] is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Total(&'static str),
    Endpoint(String, &'static str),
    Sessions,
    Series(i64),
}

/// Histograms being merged, kept decoded: each part's histogram is decoded once and added,
/// and the figures and encoding are computed once at the end ([`Hists::take`]) — instead of
/// decoding, summarising and re-encoding the running total once per part (most of the
/// merge's time with 100 shards, `bench/merge.sh`).
#[derive(Default)]
struct Hists(BTreeMap<Key, Hist>);

impl Hists {
    fn add(
        &mut self,
        key: Key,
        h: &HistSummary,
        what: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let decoded = h.decode().map_err(|detail| Error::Histogram {
            what: what(),
            detail,
        })?;
        match self.0.entry(key) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(decoded);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().add(&decoded),
        }
        Ok(())
    }

    /// The merged histogram of `key` (an empty one when no part had it).
    fn take(&mut self, key: &Key) -> HistSummary {
        self.0.remove(key).map(|h| h.summary()).unwrap_or_default()
    }
}

fn add_conversation(m: &mut Conversation, c: &Conversation, part: &str) -> Result<(), Error> {
    *m = conversation::merge_summaries(m, c).map_err(|e| Error::Histogram {
        what: format!("{part}: conversation"),
        detail: e.to_string(),
    })?;
    Ok(())
}

fn add_counts(m: &mut BTreeMap<String, u64>, add: &BTreeMap<String, u64>) {
    for (k, v) in add {
        *m.entry(k.clone()).or_insert(0) += v;
    }
}

fn pick(a: &Option<String>, b: &Option<String>, f: fn(String, String) -> String) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a.clone(), b.clone())),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod events_tests {
    use super::*;
    use crate::metrics::summary::ControlEvent;

    fn ev(at: &str, action: &str, users: Option<u64>) -> ControlEvent {
        ControlEvent {
            at: at.into(),
            action: action.into(),
            users,
            ..Default::default()
        }
    }

    #[test]
    fn shard_events_merge_in_time_order_and_a_shared_change_is_kept_once() {
        let a = RunInfo {
            events: vec![
                ev("2026-01-01T00:00:02Z", "users", Some(50)),
                ev("2026-01-01T00:00:05Z", "stop", None),
            ],
            ..Default::default()
        };
        let b = RunInfo {
            events: vec![
                ev("2026-01-01T00:00:01Z", "pause", None),
                ev("2026-01-01T00:00:02Z", "users", Some(50)),
            ],
            ..Default::default()
        };
        let merged: Vec<_> = events(&[&a, &b]).into_iter().map(|e| e.action).collect();
        assert_eq!(merged, ["pause", "users", "stop"]);
        let c = RunInfo {
            events: vec![ev("2026-01-01T00:00:02Z", "users", Some(40))],
            ..Default::default()
        };
        assert_eq!(
            events(&[&a, &c]).len(),
            3,
            "a different change at the same time is kept"
        );
    }
}

#[cfg(test)]
mod scrape_tests {
    use super::*;
    use crate::metrics::scraped::{Series, Target};
    use crate::report::fixture;

    fn scraped(v: f64) -> Scraped {
        Scraped {
            targets: vec![Target {
                url: "http://127.0.0.1:1/metrics".into(),
                scrapes: 2,
                series: vec![Series {
                    name: "db_pool_in_use".into(),
                    kind: "gauge".into(),
                    points: vec![[0.0, v], [1.0, v + 1.0]],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn shard_scrapes_are_kept_side_by_side_on_the_merged_axis() {
        let mut shards = fixture::seeded_shards(7, 2);
        shards[0].run.started_at = "2026-12-01T10:00:00.000000Z".into();
        shards[1].run.started_at = "2026-12-01T10:00:02.500000Z".into();
        shards[0].scrape = Some(scraped(1.0));
        shards[1].scrape = Some(scraped(5.0));
        let parts: Vec<(String, Summary)> = shards
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("shard-{i}"), s))
            .collect();
        let m = merge("all", &parts).unwrap();
        let s = m.scrape.expect("scrape kept");
        assert_eq!(s.targets.len(), 2);
        assert_eq!(s.targets[0].series[0].points, vec![[0.0, 1.0], [1.0, 2.0]]);
        assert_eq!(s.targets[1].series[0].points, vec![[2.5, 5.0], [3.5, 6.0]]);
        assert!(s.targets.iter().all(|t| t.shard.is_some()));
    }

    #[test]
    fn no_scrape_in_any_shard_stays_absent() {
        let parts: Vec<(String, Summary)> = fixture::seeded_shards(7, 2)
            .into_iter()
            .map(|s| ("x".to_string(), s))
            .collect();
        assert!(merge("all", &parts).unwrap().scrape.is_none());
    }
}
