//! The search loop: asks [`Search`] for a level, runs it with the [`Runner`], records the
//! verdict, until the search ends, the time budget would be exceeded, or a stop came.
//!
//! # Invariants
//! - No level starts that could not finish (warm-up + hold) within `max_duration` of the
//!   start; the search then ends `out_of_time` with what it has.
//! - A level stopped by `cancel` ends the search `aborted`; every level measured so far,
//!   the stopped one included (marked aborted), is in the result.
//! - Each level after the first carries its attribution against the first level.

use super::level::Runner;
use super::search::{End, Next, Search, Settings, Verdict};
use super::{attribute, Level, Outcome};
use crate::replay::{self, Progress};
use crate::report::attribution;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Durations of the search.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub hold: Duration,
    pub confirm: Duration,
    pub max_duration: Duration,
}

/// What the search found.
#[derive(Debug, Clone)]
pub struct Found {
    pub levels: Vec<Level>,
    pub outcome: Outcome,
    pub headline: Option<String>,
    pub attribution: Option<attribution::Attribution>,
}

/// Runs the search. `progress` sees each second (with the level running), `done` each
/// level once measured.
pub fn run(
    runner: &Runner,
    settings: Settings,
    budget: Budget,
    cancel: CancellationToken,
    mut progress: impl FnMut(&Level, &Progress, bool),
    mut done: impl FnMut(&Level),
) -> Result<Found, replay::Error> {
    let started = Instant::now();
    let mut search = Search::new(settings);
    let mut levels: Vec<Level> = Vec::new();
    let end = loop {
        let next = search.step();
        let (load, confirm) = match next {
            Next::Done(end) => break Some(end),
            Next::Level(l) => (l, false),
            Next::Confirm(l) => (l, true),
        };
        let hold = if confirm { budget.confirm } else { budget.hold };
        let needs = Duration::from_secs(runner.warmup_secs()) + hold;
        if started.elapsed() + needs > budget.max_duration {
            break None;
        }
        if cancel.is_cancelled() {
            break None;
        }
        let index = levels.len() + 1;
        let running = Level {
            index,
            load,
            label: runner.label(load),
            confirm,
            ..Default::default()
        };
        let mut level = runner.run(index, load, hold, confirm, cancel.clone(), |p, holding| {
            progress(&running, p, holding)
        })?;
        if let Some(first) = levels.iter().find(|l| !l.aborted) {
            level.attribution = Some(attribution::rank(
                &first.window(),
                &level.window(),
                runner.lag_bound_ms,
            ));
        }
        done(&level);
        let aborted = level.aborted;
        let verdict = match level.verdict.as_str() {
            "pass" => Verdict::Pass,
            "generator_bound" => Verdict::GeneratorBound,
            _ => Verdict::Fail,
        };
        levels.push(level);
        if aborted {
            break None;
        }
        search.record(verdict);
    };
    let label = |l: u64| runner.label(l);
    let confirmed = |l: u64| {
        levels
            .iter()
            .any(|x| x.load == l && x.confirm && x.verdict == "pass")
    };
    let outcome = match end {
        Some(End::Knee { capacity, broke_at }) => Outcome {
            kind: "knee".into(),
            capacity: Some(capacity),
            broke_at: Some(broke_at),
            text: format!(
                "capacity {}: the largest load that met every SLO (confirmed over {}); {} broke them",
                label(capacity),
                humantime::format_duration(budget.confirm),
                label(broke_at)
            ),
            ..Default::default()
        },
        Some(End::Max { capacity }) => Outcome {
            kind: "max".into(),
            capacity: Some(capacity),
            text: format!(
                "every level up to {} met the SLOs (the --max-users bound): capacity is at least {}",
                label(capacity),
                label(capacity)
            ),
            ..Default::default()
        },
        Some(End::GeneratorBound { capacity, at }) => {
            let why = levels
                .iter()
                .rev()
                .find(|l| l.load == at && l.generator.is_some())
                .and_then(|l| l.generator.clone())
                .unwrap_or_default();
            Outcome {
                kind: "generator_bound".into(),
                capacity,
                generator_bound_at: Some(at),
                text: format!(
                    "generator-bound at {}: reprise could not drive that load ({why}); no knee of \
                     the target was found{}",
                    label(at),
                    capacity.map_or_else(
                        || " — run the generator on more cores or machines (--shard)".to_string(),
                        |c| format!(", its capacity is at least {}", label(c))
                    )
                ),
                ..Default::default()
            }
        }
        Some(End::FirstBreaks { at }) => Outcome {
            kind: "first_breaks".into(),
            broke_at: Some(at),
            text: format!(
                "even the first level ({}) breaks an SLO{}",
                label(at),
                levels
                    .iter()
                    .find(|l| l.load == at && l.verdict == "fail")
                    .and_then(Level::broke)
                    .map_or_else(String::new, |b| format!(": {b}"))
            ),
            ..Default::default()
        },
        None => {
            let aborted = levels.last().is_some_and(|l| l.aborted) || cancel.is_cancelled();
            let best = levels
                .iter()
                .filter(|l| l.verdict == "pass")
                .map(|l| l.load)
                .filter(|&l| {
                    !levels
                        .iter()
                        .any(|f| f.verdict == "fail" && f.load <= l)
                })
                .max();
            let broke = levels
                .iter()
                .filter(|l| l.verdict == "fail")
                .map(|l| l.load)
                .min();
            let best_text = best.map_or_else(
                || "no level met every SLO yet".to_string(),
                |b| {
                    format!(
                        "the largest load that met every SLO so far: {}{}",
                        label(b),
                        if confirmed(b) { "" } else { " (not confirmed)" }
                    )
                },
            );
            if aborted {
                Outcome {
                    kind: "aborted".into(),
                    capacity: best,
                    broke_at: broke,
                    text: format!("aborted after {} level(s); {best_text}", levels.len()),
                    ..Default::default()
                }
            } else {
                Outcome {
                    kind: "out_of_time".into(),
                    capacity: best,
                    broke_at: broke,
                    text: format!(
                        "--max-duration {} reached after {} level(s); {best_text}",
                        humantime::format_duration(budget.max_duration),
                        levels.len()
                    ),
                    ..Default::default()
                }
            }
        }
    };
    let (mut headline, mut attribution) =
        match attribute(&levels, outcome.broke_at, runner.lag_bound_ms) {
            Some((h, a)) => (Some(h), Some(a)),
            None => (None, None),
        };
    // a generator-bound end is said as such, whatever the target's figures did
    let first = levels.iter().find(|l| !l.aborted);
    let bound = outcome
        .generator_bound_at
        .and_then(|at| levels.iter().rev().find(|l| l.load == at && !l.aborted));
    if let (Some(first), Some(at)) = (first, bound) {
        let mut a = attribution::rank(&first.window(), &at.window(), runner.lag_bound_ms);
        a.side = Some(attribution::Side::Generator);
        headline = Some(attribution::headline(&a, at.generator.as_deref()));
        attribution = Some(a);
    }
    Ok(Found {
        levels,
        outcome,
        headline,
        attribution,
    })
}

impl Outcome {
    /// 0 a capacity (or a lower bound) was found, 1 no level met the SLOs, 3 aborted.
    pub fn exit_code(&self) -> u8 {
        match (self.kind.as_str(), self.capacity) {
            ("aborted", _) => 3,
            (_, Some(_)) => 0,
            _ => 1,
        }
    }
}
