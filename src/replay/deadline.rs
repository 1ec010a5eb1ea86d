//! The deadline rule: when a step is meant to be sent, and how the time between that and
//! its actual send splits into the replayer's own **lag** and the **wait** for the
//! responses the step needs.
//!
//! A step has a *planned* instant, fixed by the timing mode:
//! - `think`: live completion of its dependency + recorded gap / speed (a step with no
//!   dependency: session start + recorded offset / speed);
//! - `schedule`: session start + recorded offset / speed.
//!
//! It may also have to wait until it is *ready*: until every response it needs has come
//! (the producers of the ids it sends back, and in `think` its dependency). The generator
//! can send it no earlier than `intended = max(planned, ready)`, so
//! - lag = sent − intended: the generator's lateness alone — a slow target does not show
//!   up in it;
//! - wait = intended − planned: how long the step waited for responses beyond its plan (a
//!   slow target shows up here);
//! - corrected latency = last byte − planned = latency + lag + wait.
//!
//! Every instant is *anchored*: it moves by the time the run was paused after it was fixed
//! (the paused total at its anchor is kept beside it), so a pause counts neither as lag nor
//! as wait.
//!
//! # Invariants
//! - `planned <= intended`; `wait == intended − planned`; without `ready`, or with `ready`
//!   at or before `planned`, `intended == planned` and the wait is zero.
//! - Lag is never negative: a send before `intended` (impossible in the driver) counts 0.

use super::{Speed, Timing};
use std::time::Duration;
use tokio::time::Instant;

/// An instant fixed while the run had been paused for `paused` in all; it moves by every
/// later pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchored {
    pub at: Instant,
    pub paused: Duration,
}

impl Anchored {
    pub fn new(at: Instant, paused: Duration) -> Anchored {
        Anchored { at, paused }
    }

    /// Where the instant is now that the run has been paused for `paused_total` in all.
    pub fn shifted(self, paused_total: Duration) -> Instant {
        self.at + paused_total.saturating_sub(self.paused)
    }
}

/// A step's planned instant and, when it must wait for responses, the instant it became
/// ready (the latest of their completions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub planned: Anchored,
    pub ready: Option<Anchored>,
}

impl Deadline {
    /// The planned instant of a step by the timing mode: `start` is the session's start,
    /// `dep` its dependency's live completion (when it has one and it completed).
    pub fn plan(
        timing: Timing,
        speed: Speed,
        offset: Duration,
        gap: Duration,
        start: Anchored,
        dep: Option<Anchored>,
    ) -> Anchored {
        match (timing, dep) {
            (Timing::Think, Some(d)) => Anchored::new(d.at + speed.scale(gap), d.paused),
            _ => Anchored::new(start.at + speed.scale(offset), start.paused),
        }
    }

    /// The figures of this deadline once the run has been paused for `paused_total`.
    pub fn due(&self, paused_total: Duration) -> Due {
        let planned = self.planned.shifted(paused_total);
        let intended = match self.ready {
            Some(r) => planned.max(r.shifted(paused_total)),
            None => planned,
        };
        Due { planned, intended }
    }
}

/// Where a step's send was meant to be: `planned` by the timing mode, `intended` once the
/// responses it needs had come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub planned: Instant,
    pub intended: Instant,
}

impl Due {
    /// A due with nothing to wait for.
    pub fn at(planned: Instant) -> Due {
        Due {
            planned,
            intended: planned,
        }
    }

    /// Time waited for responses beyond the plan.
    pub fn wait(&self) -> Duration {
        self.intended.saturating_duration_since(self.planned)
    }

    /// The generator's lateness for a send at `sent`.
    pub fn lag(&self, sent: Instant) -> Duration {
        sent.saturating_duration_since(self.intended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn schedule_plans_from_the_session_start_and_think_from_the_dependency() {
        let t0 = Instant::now();
        let start = Anchored::new(t0, Duration::ZERO);
        let dep = Anchored::new(t0 + ms(700), ms(5));
        let speed = Speed::new(2.0).unwrap();
        let s = Deadline::plan(Timing::Schedule, speed, ms(1000), ms(300), start, Some(dep));
        assert_eq!(s, Anchored::new(t0 + ms(500), Duration::ZERO));
        let t = Deadline::plan(Timing::Think, speed, ms(1000), ms(300), start, Some(dep));
        assert_eq!(
            t,
            Anchored::new(t0 + ms(850), ms(5)),
            "anchored at the dependency"
        );
        let first = Deadline::plan(Timing::Think, speed, ms(1000), ms(300), start, None);
        assert_eq!(first, Anchored::new(t0 + ms(500), Duration::ZERO));
    }

    #[test]
    fn a_slow_response_is_wait_not_lag() {
        let t0 = Instant::now();
        // planned at 100 ms, the id it needs came at 400 ms, sent at 401 ms
        let d = Deadline {
            planned: Anchored::new(t0 + ms(100), Duration::ZERO),
            ready: Some(Anchored::new(t0 + ms(400), Duration::ZERO)),
        };
        let due = d.due(Duration::ZERO);
        assert_eq!(due.planned, t0 + ms(100));
        assert_eq!(due.intended, t0 + ms(400));
        assert_eq!(due.wait(), ms(300));
        assert_eq!(due.lag(t0 + ms(401)), ms(1));
        // corrected = lag + wait + latency: from the plan
        assert_eq!(due.lag(t0 + ms(401)) + due.wait(), ms(301));
    }

    #[test]
    fn ready_before_the_plan_waits_nothing_and_lag_counts_from_the_plan() {
        let t0 = Instant::now();
        let d = Deadline {
            planned: Anchored::new(t0 + ms(500), Duration::ZERO),
            ready: Some(Anchored::new(t0 + ms(20), Duration::ZERO)),
        };
        let due = d.due(Duration::ZERO);
        assert_eq!(due, Due::at(t0 + ms(500)));
        assert_eq!(due.wait(), Duration::ZERO);
        assert_eq!(due.lag(t0 + ms(530)), ms(30));
        assert_eq!(due.lag(t0 + ms(400)), Duration::ZERO, "never negative");
        let none = Deadline {
            planned: Anchored::new(t0, Duration::ZERO),
            ready: None,
        };
        assert_eq!(none.due(ms(0)), Due::at(t0));
    }

    #[test]
    fn pauses_move_both_instants_by_the_time_paused_after_their_anchor() {
        let t0 = Instant::now();
        // planned before any pause; ready after 200 ms of pause had already passed
        let d = Deadline {
            planned: Anchored::new(t0 + ms(100), Duration::ZERO),
            ready: Some(Anchored::new(t0 + ms(400), ms(200))),
        };
        // 500 ms paused in all: the plan moved by 500, readiness by 300
        let due = d.due(ms(500));
        assert_eq!(due.planned, t0 + ms(600));
        assert_eq!(due.intended, t0 + ms(700));
        assert_eq!(due.wait(), ms(100));
        // both move on together with later pauses: the wait stays what it was
        let due = d.due(ms(900));
        assert_eq!(due.planned, t0 + ms(1000));
        assert_eq!(due.wait(), ms(100));
    }
}
