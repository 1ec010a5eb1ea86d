//! The search for the largest load that meets every SLO: grow geometrically, bisect, confirm.
//!
//! A pure state machine: [`Search::step`] says which level to run (or that the search is
//! over), [`Search::record`] takes that level's verdict. Levels are whole numbers (users, or
//! the open workload's multiplier).
//!
//! 1. Grow: `start`, then ×`growth` each time (at least +1), capped at `max`, until a level
//!    fails.
//! 2. Bisect between the highest level that passed and the lowest that failed, at their
//!    geometric mean, until the gap is at most `precision` of the passing level (or one).
//! 3. Confirm the highest passing level with a longer hold. If it fails there, it becomes
//!    the lowest failing level and the search bisects again below it.
//!
//! # Invariants
//! - A [`Verdict::GeneratorBound`] level ends the search: no knee is ever placed where
//!   reprise itself could not drive the load. Only the confirmation of the highest clean
//!   pass below it follows; that level is the result (a lower bound), if there is one.
//! - The same level is never measured twice with the same hold; every level lies in
//!   `start..=max`; the search ends after at most `log_growth(max/start) + log2(max) + 2 ×
//!   confirmations` levels.

/// How one level went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every SLO met, the generator kept up.
    Pass,
    /// An SLO failed, the generator kept up.
    Fail,
    /// The replayer lagged or its CPU was saturated: the level says nothing about the target.
    GeneratorBound,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Next {
    /// Measure this level with the normal hold.
    Level(u64),
    /// Measure this level with the confirmation hold.
    Confirm(u64),
    Done(End),
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The capacity: the highest confirmed level, with the lowest failing level above it.
    Knee { capacity: u64, broke_at: u64 },
    /// Even `max` met the SLOs (confirmed): the capacity is at least `max`.
    Max { capacity: u64 },
    /// The generator could not drive `at`; `capacity` is the highest confirmed clean pass
    /// below it (a lower bound), if any.
    GeneratorBound { capacity: Option<u64>, at: u64 },
    /// Even the first level failed an SLO (or failed its confirmation with nothing below).
    FirstBreaks { at: u64 },
}

/// The search's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub start: u64,
    /// > 1.
    pub growth: f64,
    /// Relative width at which bisection stops, e.g. 0.1.
    pub precision: f64,
    pub max: u64,
}

#[derive(Debug, Clone)]
pub struct Search {
    s: Settings,
    /// Levels that passed their normal hold, ascending.
    passed: Vec<u64>,
    /// Lowest level that failed.
    failed: Option<u64>,
    /// Levels confirmed by the longer hold.
    confirmed: Vec<u64>,
    /// Lowest level the generator could not drive.
    bound: Option<u64>,
    /// What `step` last asked for (for `record`).
    asked: Option<Next>,
}

impl Search {
    pub fn new(s: Settings) -> Search {
        let s = Settings {
            start: s.start.max(1),
            max: s.max.max(s.start.max(1)),
            growth: if s.growth > 1.0 { s.growth } else { 2.0 },
            precision: s.precision.max(0.0),
        };
        Search {
            s,
            passed: Vec::new(),
            failed: None,
            confirmed: Vec::new(),
            bound: None,
            asked: None,
        }
    }

    /// The next step.
    pub fn step(&mut self) -> Next {
        let n = self.decide();
        self.asked = Some(n);
        n
    }

    fn decide(&self) -> Next {
        let best = self.best_pass();
        if let Some(at) = self.bound {
            return match best {
                None => Next::Done(End::GeneratorBound { capacity: None, at }),
                Some(lo) => self.confirm_or(
                    lo,
                    End::GeneratorBound {
                        capacity: Some(lo),
                        at,
                    },
                ),
            };
        }
        match (best, self.failed) {
            (None, None) => Next::Level(self.s.start),
            (None, Some(f)) => Next::Done(End::FirstBreaks { at: f }),
            (Some(lo), None) => {
                if lo >= self.s.max {
                    return self.confirm_or(lo, End::Max { capacity: lo });
                }
                let grown = ((lo as f64 * self.s.growth).ceil() as u64).max(lo + 1);
                Next::Level(grown.min(self.s.max))
            }
            (Some(lo), Some(hi)) => {
                if hi - lo <= 1 || (hi - lo) as f64 <= self.s.precision * lo as f64 {
                    return self.confirm_or(
                        lo,
                        End::Knee {
                            capacity: lo,
                            broke_at: hi,
                        },
                    );
                }
                let mid = ((lo as f64 * hi as f64).sqrt().round() as u64).clamp(lo + 1, hi - 1);
                Next::Level(mid)
            }
        }
    }

    fn confirm_or(&self, level: u64, end: End) -> Next {
        if self.confirmed.contains(&level) {
            Next::Done(end)
        } else {
            Next::Confirm(level)
        }
    }

    /// The highest level that passed and is below the lowest failure and the lowest
    /// generator-bound level.
    fn best_pass(&self) -> Option<u64> {
        let ceiling = self.failed.into_iter().chain(self.bound).min();
        self.passed
            .iter()
            .copied()
            .filter(|&p| ceiling.is_none_or(|c| p < c))
            .max()
    }

    /// The verdict of the step [`Search::step`] returned.
    pub fn record(&mut self, verdict: Verdict) {
        let Some(asked) = self.asked.take() else {
            return;
        };
        let (level, confirming) = match asked {
            Next::Level(l) => (l, false),
            Next::Confirm(l) => (l, true),
            Next::Done(_) => return,
        };
        match verdict {
            Verdict::GeneratorBound => {
                self.bound = Some(self.bound.map_or(level, |b| b.min(level)));
            }
            Verdict::Pass if confirming => self.confirmed.push(level),
            Verdict::Pass => {
                self.passed.push(level);
                self.passed.sort_unstable();
            }
            Verdict::Fail => {
                self.failed = Some(self.failed.map_or(level, |f| f.min(level)));
                if confirming {
                    self.passed.retain(|&p| p < level);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a target whose capacity is `knee` (levels above it fail);
    /// returns the levels measured and the end.
    fn against(s: Settings, verdict: impl Fn(u64, bool) -> Verdict) -> (Vec<Next>, End) {
        let mut search = Search::new(s);
        let mut steps = Vec::new();
        for _ in 0..100 {
            match search.step() {
                Next::Done(e) => return (steps, e),
                n @ Next::Level(l) => {
                    steps.push(n);
                    search.record(verdict(l, false));
                }
                n @ Next::Confirm(l) => {
                    steps.push(n);
                    search.record(verdict(l, true));
                }
            }
        }
        panic!("the search did not end: {steps:?}");
    }

    fn settings(start: u64, max: u64) -> Settings {
        Settings {
            start,
            growth: 2.0,
            precision: 0.1,
            max,
        }
    }

    fn knee(k: u64) -> impl Fn(u64, bool) -> Verdict {
        move |l, _| if l <= k { Verdict::Pass } else { Verdict::Fail }
    }

    #[test]
    fn grows_bisects_to_the_precision_and_confirms() {
        let (steps, end) = against(settings(10, 10_000), knee(113));
        let Next::Confirm(c) = *steps.last().unwrap() else {
            panic!("{steps:?}")
        };
        let End::Knee { capacity, broke_at } = end else {
            panic!("{end:?}")
        };
        assert_eq!(c, capacity);
        assert!(capacity <= 113 && broke_at > 113, "{end:?}");
        assert!(
            (broke_at - capacity) as f64 <= 0.1 * capacity as f64,
            "{end:?}"
        );
        assert_eq!(
            &steps[..5],
            &[10, 20, 40, 80, 160].map(Next::Level),
            "{steps:?}"
        );
        assert!(steps.len() <= 12, "{steps:?}");
    }

    #[test]
    fn a_failed_confirmation_bisects_below_it() {
        // passes 100 on the short hold but not on the long one
        let v = |l: u64, confirming: bool| match (l, confirming) {
            (l, _) if l <= 90 => Verdict::Pass,
            (l, false) if l <= 113 => Verdict::Pass,
            _ => Verdict::Fail,
        };
        let (_, end) = against(settings(10, 10_000), v);
        let End::Knee { capacity, .. } = end else {
            panic!("{end:?}")
        };
        assert!((82..=90).contains(&capacity), "{end:?}");
    }

    #[test]
    fn first_level_failing_max_reached_and_generator_bound() {
        assert_eq!(
            against(settings(10, 1000), knee(5)).1,
            End::FirstBreaks { at: 10 }
        );
        assert_eq!(
            against(settings(10, 50), knee(1000)).1,
            End::Max { capacity: 50 }
        );
        let (steps, end) = against(settings(10, 1000), |l, _| {
            if l >= 40 {
                Verdict::GeneratorBound
            } else {
                Verdict::Pass
            }
        });
        // 10, 20 pass; 40 is generator-bound: 20 is confirmed, a lower bound
        assert_eq!(
            end,
            End::GeneratorBound {
                capacity: Some(20),
                at: 40
            },
            "{steps:?}"
        );
        assert_eq!(steps.last(), Some(&Next::Confirm(20)));
        let (_, end) = against(settings(1, 1), |_, _| Verdict::GeneratorBound);
        assert_eq!(
            end,
            End::GeneratorBound {
                capacity: None,
                at: 1
            }
        );
    }

    #[test]
    fn levels_stay_in_range_and_are_never_repeated() {
        for k in [1, 2, 3, 7, 10, 11, 99, 500, 9_999, 20_000] {
            let (steps, _) = against(settings(3, 10_000), knee(k));
            let mut seen = std::collections::HashSet::new();
            for s in &steps {
                assert!(seen.insert(*s), "{k}: {s:?} twice in {steps:?}");
                let (Next::Level(l) | Next::Confirm(l)) = s else {
                    unreachable!()
                };
                assert!((3..=10_000).contains(l), "{k}: {steps:?}");
            }
        }
    }
}
