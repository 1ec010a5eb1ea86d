//! One level: a replay at a fixed load for a warm-up and a hold, judged on the hold.
//!
//! # Invariants
//! - The warm-up is a whole number of seconds (rounded up), so the hold is made of whole
//!   seconds of the run's 1-second series: second `k` (covering `[k, k+1)` s of the run)
//!   belongs to the hold when `k >= warm-up`; the drain after the end belongs to it too.
//! - The process CPU is read when the warm-up's last second is reported and when the run
//!   returned; the level's `cpu_cores` is their difference over the wall time between.
//! - A scrape loop runs for each level on the level's time axis; its samples before the
//!   hold are left out.

use super::window::Hold;
use super::{cpu, Level};
use crate::metrics::scraped::Scraped;
use crate::metrics::summary::{RunInfo, SeriesPoint};
use crate::metrics::Hist;
use crate::replay::{self, Plan, Progress, Workload};
use crate::report::attribution;
use crate::report::Thresholds;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What every level shares.
#[derive(Debug, Clone)]
pub struct Runner {
    pub plan: Arc<Plan>,
    /// Target, speed, timing, timeout, headers…; its workload and duration are set per level.
    pub base: replay::Config,
    /// Closed (levels are users) or open (levels are multipliers, or sessions/s with
    /// `rate`).
    pub closed: bool,
    /// Open at a rate: levels are session arrivals per second.
    pub rate: bool,
    /// Closed: users started per second (default: a level's users within one second).
    pub spawn_rate: Option<f64>,
    pub warmup: Duration,
    pub thresholds: Thresholds,
    pub scrape: Vec<crate::scrape::Target>,
    pub lag_bound_ms: f64,
    pub cpu_bound: f64,
    /// Worker threads the replay uses (the CPU bound is a share of these).
    pub workers: usize,
}

impl Runner {
    /// `40 users`, or `×4 (2.5 sessions/s)` for the open workload.
    pub fn label(&self, load: u64) -> String {
        match self.sessions_per_s(load) {
            None => format!("{load} user{}", if load == 1 { "" } else { "s" }),
            Some(_) if self.rate => format!("{load} sessions/s"),
            Some(r) => format!("×{load} ({r:.2} sessions/s)"),
        }
    }

    /// Open workload: session arrivals per second at multiplier `load`.
    pub fn sessions_per_s(&self, load: u64) -> Option<f64> {
        if self.closed {
            return None;
        }
        if self.rate {
            return Some(load as f64);
        }
        let first = self
            .plan
            .sessions
            .first()
            .map(|s| s.start)
            .unwrap_or_default();
        let span = self.base.speed.scale(self.plan.span.saturating_sub(first));
        let span = span.as_secs_f64().max(1e-3);
        Some(load as f64 * self.plan.sessions.len() as f64 / span)
    }

    /// The warm-up, rounded up to whole seconds.
    pub fn warmup_secs(&self) -> u64 {
        self.warmup.as_secs_f64().ceil() as u64
    }

    /// Runs level `index` at `load` for the warm-up then `hold`; `progress` sees every
    /// second. `cancel` drains the run (the level is then marked aborted).
    pub fn run(
        &self,
        index: usize,
        load: u64,
        hold: Duration,
        confirm: bool,
        cancel: CancellationToken,
        mut progress: impl FnMut(&Progress, bool),
    ) -> Result<Level, replay::Error> {
        let warmup = self.warmup_secs();
        let mut config = self.base.clone();
        config.workload = if self.closed {
            Workload::Closed {
                users: load,
                spawn_rate: Some(self.spawn_rate.unwrap_or(load as f64)),
            }
        } else if self.rate {
            Workload::Rate { per_s: load as f64 }
        } else {
            Workload::Open { multiply: load }
        };
        config.duration = Some(Duration::from_secs(warmup) + hold);
        let start = Instant::now();
        let measure = Arc::new(Hold::new(
            start + Duration::from_secs(warmup),
            &self.plan.routes,
        ));
        // a scrape loop that cannot start is a run without scraping, not a failed level
        let scraping = match self.scrape.is_empty() {
            true => None,
            false => crate::scrape::poll::start(self.scrape.clone(), start).ok(),
        };
        let mut at_hold = (warmup == 0).then(|| (cpu::used(), Instant::now()));
        let mut points: Vec<(u64, SeriesPoint)> = Vec::new();
        let control = replay::Control::new(config.workload);
        let run = replay::run_with(
            self.plan.clone(),
            &config,
            measure.clone(),
            cancel.clone(),
            |p| {
                if at_hold.is_none() && p.elapsed_s >= warmup {
                    at_hold = Some((cpu::used(), Instant::now()));
                }
                points.push((p.elapsed_s, p.point.clone()));
                progress(p, p.elapsed_s > warmup);
            },
            RunInfo::default(),
            &control,
        );
        let (cpu_end, end) = (cpu::used(), Instant::now());
        let scraped = scraping.map(crate::scrape::Handle::finish);
        let mut summary = run?;
        let cpu_cores = at_hold.map_or(0.0, |(c, t)| cpu::cores(c, cpu_end, end - t));

        // the hold: seconds `warmup..` of the series
        let hold_points: Vec<SeriesPoint> = points
            .into_iter()
            .filter(|(elapsed, _)| *elapsed > warmup)
            .map(|(_, p)| p)
            .collect();
        let mut latency = Hist::new();
        let (mut requests, mut failures) = (0u64, 0u64);
        for p in &hold_points {
            requests += p.requests;
            failures += p.failures;
            if let Ok(h) = p.latency.decode() {
                latency.add(&h);
            }
        }
        let lag_p99_ms = median(
            hold_points
                .iter()
                .filter(|p| p.requests > 0)
                .map(|p| p.lag_p99_ms)
                .collect(),
        );
        let hold_s = hold.as_secs_f64();
        let figures = measure.take();
        let server_timing: std::collections::BTreeMap<_, _> = figures
            .server_timing
            .iter()
            .map(|(k, h)| (k.clone(), h.summary()))
            .collect();
        let scraped = scraped.map(|s| windowed(&s, warmup as f64));
        let gauges = scraped
            .as_ref()
            .map(|s| attribution::gauges(s, warmup as f64, f64::MAX))
            .unwrap_or_default();

        // the SLOs see the hold as if it were a run of its own
        let t = &mut summary.totals;
        let peak_users = t.peak_users;
        t.requests = requests;
        t.failures = failures;
        t.error_rate = if requests == 0 {
            0.0
        } else {
            failures as f64 / requests as f64
        };
        t.success_rate = 1.0 - t.error_rate;
        t.rps = requests as f64 / hold_s.max(1e-9);
        t.latency = latency.summary();
        summary.endpoints = figures.endpoints;
        summary.conversation.server_timing = server_timing.clone();
        summary.series = hold_points;
        summary.run.duration_s = hold_s;
        summary.scrape = scraped.clone();
        let verdicts = self.thresholds.evaluate(&summary);

        let aborted = cancel.is_cancelled() || self.base.abort.is_cancelled();
        let busy = self.workers.max(1) as f64 * self.cpu_bound;
        let generator = if lag_p99_ms > self.lag_bound_ms {
            Some(format!(
                "replayer lag p99 {} over the bound {}",
                crate::report::format::ms(lag_p99_ms),
                crate::report::format::ms(self.lag_bound_ms)
            ))
        } else if cpu_cores >= busy {
            Some(format!(
                "CPU {cpu_cores:.2} cores, at least {:.0} % of the {} worker{}' cores",
                self.cpu_bound * 100.0,
                self.workers,
                if self.workers == 1 { "" } else { "s" }
            ))
        } else {
            None
        };
        let verdict = if aborted {
            "aborted"
        } else if generator.is_some() {
            "generator_bound"
        } else if verdicts.iter().all(|v| v.ok) {
            "pass"
        } else {
            "fail"
        };
        Ok(Level {
            index,
            load,
            label: self.label(load),
            sessions_per_s: self.sessions_per_s(load),
            confirm,
            warmup_s: warmup as f64,
            hold_s,
            requests,
            failures,
            error_rate: summary.totals.error_rate * 100.0,
            rps: summary.totals.rps,
            latency: summary.totals.latency.clone(),
            lag_p99_ms,
            cpu_cores,
            peak_users,
            verdicts,
            verdict: verdict.to_string(),
            generator,
            server_timing,
            gauges,
            scrape_failures: scraped.as_ref().map_or(0, Scraped::failed),
            attribution: None,
            aborted,
        })
    }
}

/// The samples of `s` from `from_s` on.
fn windowed(s: &Scraped, from_s: f64) -> Scraped {
    let mut out = s.clone();
    for t in &mut out.targets {
        for series in &mut t.series {
            series.points.retain(|p| p[0] >= from_s);
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_seconds() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![5.0, 1.0, 300.0]), 5.0);
        assert_eq!(median(vec![1.0, 2.0]), 2.0);
    }
}
