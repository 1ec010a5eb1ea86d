//! The target's own metrics, scraped during a run: one entry per scraped endpoint, each a
//! set of series on the run's time axis (`summary.json` → `scrape`).
//!
//! # Invariants
//! - A point is `[t_s, value]`: seconds since the run's `started_at`, and a finite value
//!   (JSON has no NaN or infinity; non-finite samples are counted in `non_finite`, not kept).
//! - Points of one series are in time order; `scrapes = ok + failed`.
//! - Merging shards concatenates their targets, each keeping its own `shard` and shifting
//!   its points onto the merged run's time axis.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything scraped in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Scraped {
    pub targets: Vec<Target>,
}

/// One scraped endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Target {
    pub url: String,
    pub interval_s: f64,
    /// Scrapes attempted.
    pub scrapes: u64,
    /// Scrapes that failed (connect, timeout, non-2xx status, unreadable body).
    pub failed: u64,
    /// The last failure's message, if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Lines of the pages that did not parse (summed over scrapes).
    #[serde(default)]
    pub bad_lines: u64,
    /// Samples not kept: non-finite values, and series beyond the per-target cap.
    #[serde(default)]
    pub dropped: u64,
    /// The shard that scraped, for a merged summary.
    #[serde(default)]
    pub shard: Option<String>,
    pub series: Vec<Series>,
}

/// One metric name and label set over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Series {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `counter`, `gauge`, `summary`, `histogram` or `untyped` (from `# TYPE`).
    pub kind: String,
    pub points: Vec<[f64; 2]>,
}

impl Scraped {
    /// Adds `other`'s targets, their points shifted by `offset_s` (the other run's start
    /// minus this one's).
    pub fn absorb(&mut self, other: &Scraped, offset_s: f64, shard: Option<&str>) {
        for t in &other.targets {
            let mut t = t.clone();
            if t.shard.is_none() {
                t.shard = shard.map(str::to_owned);
            }
            for s in &mut t.series {
                for p in &mut s.points {
                    p[0] += offset_s;
                }
            }
            self.targets.push(t);
        }
    }

    /// Every series named `name` (across targets) whose labels include all of `matchers`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        matchers: &'a [(String, String)],
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.targets
            .iter()
            .flat_map(|t| t.series.iter())
            .filter(move |s| {
                s.name == name
                    && matchers
                        .iter()
                        .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == v))
            })
    }

    pub fn failed(&self) -> u64 {
        self.targets.iter().map(|t| t.failed).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, pid: &str, points: &[[f64; 2]]) -> Series {
        Series {
            name: name.into(),
            labels: [("pid".to_string(), pid.to_string())].into(),
            kind: "gauge".into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn absorb_shifts_points_and_tags_the_shard() {
        let mut a = Scraped::default();
        let b = Scraped {
            targets: vec![Target {
                url: "http://x/metrics".into(),
                series: vec![series("g", "1", &[[0.0, 1.0], [1.0, 2.0]])],
                ..Default::default()
            }],
        };
        a.absorb(&b, 2.5, Some("1/2"));
        assert_eq!(a.targets[0].series[0].points, vec![[2.5, 1.0], [3.5, 2.0]]);
        assert_eq!(a.targets[0].shard.as_deref(), Some("1/2"));
    }

    #[test]
    fn matching_filters_by_name_and_labels() {
        let s = Scraped {
            targets: vec![Target {
                series: vec![
                    series("g", "1", &[]),
                    series("g", "2", &[]),
                    series("h", "1", &[]),
                ],
                ..Default::default()
            }],
        };
        assert_eq!(s.matching("g", &[]).count(), 2);
        let m = [("pid".to_string(), "2".to_string())];
        assert_eq!(s.matching("g", &m).count(), 1);
    }
}
