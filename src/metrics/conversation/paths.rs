//! Node paths: the live conversations' paths beside the recorded ones they replayed, and
//! what users did when the live agent left the recording.
//!
//! A session's path is the node of its first response naming one, then the node of each
//! turn response (`APK→CI→GE→AR→TC→RLC→complete`); its length is the number of nodes. The
//! two distributions are compared with the total variation distance (half the sum of the
//! absolute differences of the shares; 0 = the same, 1 = disjoint), over lengths and over
//! whole paths, so a user sees whether the replayed conversations still look like the
//! students' ones.
//!
//! # Invariants
//! - Counted once per session, at its end (never per request); a session stopped by the
//!   end of the run (reason `stopped`) is counted on neither side.
//! - Memory is bounded: at most [`MAX_PATHS`] distinct paths per side (later new ones count
//!   as [`OTHER`]); lengths past [`MAX_LENGTH`] count as [`MAX_LENGTH`].
//! - Merging adds counts, so the merge of two parts equals one part fed both, up to the cap
//!   of distinct paths; distances are recomputed from the merged counts.

use super::OTHER;
use crate::metrics::summary::{self, PathCounts};
use std::collections::BTreeMap;

/// Distinct paths kept per side.
pub const MAX_PATHS: usize = 256;
/// Path lengths past this share its key.
pub const MAX_LENGTH: u32 = 64;

/// One side's counts (live or recorded).
#[derive(Debug, Clone, Default)]
pub struct Counter {
    sessions: u64,
    paths: BTreeMap<String, u64>,
    lengths: BTreeMap<u32, u64>,
}

impl Counter {
    /// Counts one session's path, given as its node names and its length (which may
    /// exceed the names kept).
    pub fn record(&mut self, path: &str, len: u32) {
        if len == 0 {
            return;
        }
        self.sessions += 1;
        *self.lengths.entry(len.min(MAX_LENGTH)).or_default() += 1;
        add_capped(&mut self.paths, path, 1);
    }

    pub fn merge(&mut self, other: &Counter) {
        self.sessions += other.sessions;
        for (&l, &n) in &other.lengths {
            *self.lengths.entry(l).or_default() += n;
        }
        for (p, &n) in &other.paths {
            add_capped(&mut self.paths, p, n);
        }
    }

    pub fn summary(&self) -> PathCounts {
        PathCounts {
            sessions: self.sessions,
            paths: self.paths.clone(),
            lengths: self
                .lengths
                .iter()
                .map(|(l, &n)| (l.to_string(), n))
                .collect(),
        }
    }
}

fn add_capped(paths: &mut BTreeMap<String, u64>, path: &str, n: u64) {
    if let Some(c) = paths.get_mut(path) {
        *c += n;
    } else if paths.len() < MAX_PATHS {
        paths.insert(path.to_string(), n);
    } else {
        *paths.entry(OTHER.to_string()).or_default() += n;
    }
}

/// The `paths` section from the two sides' counts.
pub fn paths(live: PathCounts, recorded: PathCounts) -> summary::Paths {
    summary::Paths {
        length_distance: distance(&live.lengths, &recorded.lengths),
        path_distance: distance(&live.paths, &recorded.paths),
        live,
        recorded,
    }
}

/// The sum of two sides' counts, capped like a [`Counter`].
pub fn merge_counts(a: &PathCounts, b: &PathCounts) -> PathCounts {
    let mut paths = a.paths.clone();
    for (p, &n) in &b.paths {
        add_capped(&mut paths, p, n);
    }
    let mut lengths = a.lengths.clone();
    for (l, &n) in &b.lengths {
        *lengths.entry(l.clone()).or_default() += n;
    }
    PathCounts {
        sessions: a.sessions + b.sessions,
        paths,
        lengths,
    }
}

/// Total variation distance between two distributions given as counts: half the sum over
/// every key of `|a/Σa − b/Σb|`. 0 when either side is empty (nothing to compare).
pub fn distance(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> f64 {
    let (sa, sb) = (a.values().sum::<u64>(), b.values().sum::<u64>());
    if sa == 0 || sb == 0 {
        return 0.0;
    }
    let share = |m: &BTreeMap<String, u64>, k: &str, s: u64| {
        m.get(k).copied().unwrap_or(0) as f64 / s as f64
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let sum: f64 = keys
        .iter()
        .map(|k| (share(a, k, sa) - share(b, k, sb)).abs())
        .sum();
    (sum / 2.0).clamp(0.0, 1.0)
}

/// What sessions did after the live agent left their recording.
#[derive(Debug, Clone, Default)]
pub struct Followed {
    sessions: u64,
    by_node: BTreeMap<String, u64>,
    answers: u64,
    ended: BTreeMap<String, u64>,
}

/// Distinct node names kept in [`Followed`]'s `by_node`.
const MAX_FOLLOW_NODES: usize = 64;

impl Followed {
    /// A session left its recording at live node `at`, took `answers` answers from the
    /// bank and ended as `ended`.
    pub fn record(&mut self, at: &str, answers: u32, ended: &str) {
        self.sessions += 1;
        self.answers += u64::from(answers);
        let key = if self.by_node.contains_key(at) || self.by_node.len() < MAX_FOLLOW_NODES {
            at
        } else {
            OTHER
        };
        *self.by_node.entry(key.to_string()).or_default() += 1;
        *self.ended.entry(ended.to_string()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Followed) {
        let s = other.summary();
        let mine = merge_follow(&self.summary(), &s);
        self.sessions = mine.sessions;
        self.by_node = mine.by_node;
        self.answers = mine.answers;
        self.ended = mine.ended;
    }

    pub fn summary(&self) -> summary::Follow {
        summary::Follow {
            sessions: self.sessions,
            by_node: self.by_node.clone(),
            answers: self.answers,
            ended: self.ended.clone(),
        }
    }
}

/// Two `follow` sections added.
pub fn merge_follow(a: &summary::Follow, b: &summary::Follow) -> summary::Follow {
    let add = |x: &BTreeMap<String, u64>, y: &BTreeMap<String, u64>| {
        let mut out = x.clone();
        for (k, n) in y {
            *out.entry(k.clone()).or_default() += n;
        }
        out
    };
    summary::Follow {
        sessions: a.sessions + b.sessions,
        by_node: add(&a.by_node, &b.by_node),
        answers: a.answers + b.answers,
        ended: add(&a.ended, &b.ended),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn total_variation_distance() {
        let a = counts(&[("6", 50), ("7", 50)]);
        assert_eq!(distance(&a, &a), 0.0);
        assert_eq!(
            distance(&a, &counts(&[("6", 1), ("7", 1)])),
            0.0,
            "shares, not counts"
        );
        assert_eq!(distance(&a, &counts(&[("8", 3)])), 1.0);
        let d = distance(&a, &counts(&[("6", 80), ("7", 20)]));
        assert!((d - 0.3).abs() < 1e-12, "{d}");
        assert_eq!(distance(&a, &BTreeMap::new()), 0.0);
    }

    #[test]
    fn counter_caps_paths_and_merges_exactly() {
        let mut a = Counter::default();
        let mut b = Counter::default();
        let mut whole = Counter::default();
        for i in 0..300u32 {
            let p = format!("APK→X{}", i % 20);
            let c = if i % 2 == 0 { &mut a } else { &mut b };
            c.record(&p, 2 + i % 3);
            whole.record(&p, 2 + i % 3);
        }
        a.record("", 0);
        a.merge(&b);
        assert_eq!(a.summary(), whole.summary());
        assert_eq!(a.summary().sessions, 300);
        assert_eq!(a.summary().lengths["2"], 100);

        let mut capped = Counter::default();
        for i in 0..(MAX_PATHS + 10) {
            capped.record(&format!("p{i}"), 1);
        }
        let s = capped.summary();
        assert_eq!(s.paths.len(), MAX_PATHS + 1);
        assert_eq!(s.paths[OTHER], 10);
    }

    #[test]
    fn followed_counts_and_merges() {
        let mut a = Followed::default();
        a.record("TC", 3, "terminal");
        let mut b = Followed::default();
        b.record("AR", 2, "turn_cap");
        b.record("TC", 0, "end");
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.sessions, 3);
        assert_eq!(s.answers, 5);
        assert_eq!(s.by_node["TC"], 2);
        assert_eq!(s.ended["turn_cap"], 1);
        assert_eq!(merge_follow(&s, &summary::Follow::default()), s);
    }
}
