//! Server-Timing per load stage: each live response's `Server-Timing` durations, kept in
//! the histograms of the stage in which the response completed.
//!
//! One [`StageTiming`] per run, shared; each worker's conversation measure owns a [`Part`]
//! (no lock per response) and hands it back once, at its end ([`Part::finish`]).
//!
//! # Invariants
//! - A response completing at run time `t` belongs to the last stage starting at or
//!   before `t` (`t` from the run's start as the control handle has it); before the run
//!   has started nothing is kept.
//! - At most [`MAX_NAMES`] metric names per stage and worker; more are not kept.

use super::control::Control;
use crate::metrics::{server_timing, Hist, HistSummary};
use http::HeaderMap;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const SERVER_TIMING: http::HeaderName = http::HeaderName::from_static("server-timing");

/// Metric names kept per stage and worker.
pub const MAX_NAMES: usize = 64;

/// The run-wide collector.
#[derive(Debug)]
pub struct StageTiming {
    control: Control,
    /// Each stage's start offset, ascending (the first is zero).
    starts: Vec<Duration>,
    merged: Mutex<Vec<HashMap<String, Hist>>>,
}

impl StageTiming {
    pub fn new(control: Control, starts: Vec<Duration>) -> Arc<StageTiming> {
        let n = starts.len();
        Arc::new(StageTiming {
            control,
            starts,
            merged: Mutex::new(vec![HashMap::default(); n]),
        })
    }

    /// A worker's part.
    pub fn part(self: &Arc<Self>) -> Part {
        Part {
            by_stage: vec![HashMap::default(); self.starts.len()],
            shared: self.clone(),
        }
    }

    /// Per stage: every Server-Timing metric's histogram (after every part finished).
    pub fn take(&self) -> Vec<BTreeMap<String, HistSummary>> {
        let merged = std::mem::take(&mut *self.merged.lock().unwrap_or_else(|e| e.into_inner()));
        merged
            .into_iter()
            .map(|m| m.into_iter().map(|(k, h)| (k, h.summary())).collect())
            .collect()
    }

    fn stage_of(&self, done: Instant) -> Option<usize> {
        let start = self.control.started_at()?;
        let at = done.into_std().saturating_duration_since(start);
        Some(self.starts.partition_point(|s| *s <= at).saturating_sub(1))
    }
}

/// One worker's histograms.
#[derive(Debug)]
pub struct Part {
    shared: Arc<StageTiming>,
    by_stage: Vec<HashMap<String, Hist>>,
}

impl Part {
    /// Records the `Server-Timing` headers of a response sent at `sent`, complete after
    /// `latency`.
    pub fn response(&mut self, sent: Instant, latency: Duration, headers: &HeaderMap) {
        let Some(i) = self.shared.stage_of(sent + latency) else {
            return;
        };
        let Some(hists) = self.by_stage.get_mut(i) else {
            return;
        };
        for v in headers.get_all(&SERVER_TIMING) {
            let _ = server_timing::parse(v.as_bytes(), |m| {
                let Some(ms) = m.dur_ms else { return };
                let full = hists.len() >= MAX_NAMES;
                match hists.get_mut(m.name) {
                    Some(h) => h.record_us((ms * 1000.0).round() as u64),
                    None if !full => hists
                        .entry(m.name.to_string())
                        .or_default()
                        .record_us((ms * 1000.0).round() as u64),
                    None => {}
                }
            });
        }
    }

    /// Adds this part to the run's histograms.
    pub fn finish(self) {
        let mut merged = self.shared.merged.lock().unwrap_or_else(|e| e.into_inner());
        for (into, from) in merged.iter_mut().zip(self.by_stage) {
            for (k, h) in from {
                into.entry(k).or_default().add(&h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Workload;

    #[test]
    fn responses_land_in_the_stage_they_complete_in() {
        let control = Control::new(Workload::Closed {
            users: 1,
            spawn_rate: None,
        });
        let st = StageTiming::new(
            control.clone(),
            vec![Duration::ZERO, Duration::from_secs(2)],
        );
        let mut part = st.part();
        let mut headers = HeaderMap::new();
        headers.insert("server-timing", "db;dur=5, llm;dur=100".parse().unwrap());
        let now = Instant::now();
        part.response(now, Duration::ZERO, &headers);
        control.started(now.into_std());
        part.response(now, Duration::from_millis(500), &headers);
        part.response(now, Duration::from_millis(2500), &headers);
        part.response(now + Duration::from_secs(3), Duration::ZERO, &headers);
        part.finish();
        let out = st.take();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0]["db"].count, 1,
            "the one before the start is not kept"
        );
        assert_eq!(out[1]["llm"].count, 2);
        assert!((out[1]["llm"].p50_ms - 100.0).abs() < 0.1);
    }
}
