//! Open workload at a rate: session arrivals at a given number per second.
//!
//! Arrivals are evenly spaced (constant spacing, not Poisson): at `r` sessions/s arrival
//! `n` is due `n / r` seconds after the start, so a window of `T` seconds holds `r · T`
//! arrivals ± 1 and a target's measured rate is exactly what was asked, whatever the
//! window. Arrival `n` plays recorded session `n mod len`, the sessions taken in recorded
//! order (by start); the recording is cycled when used up. Without `--duration` the run
//! plays every recorded session once and ends.
//!
//! A [`Change::Rate`](super::Change::Rate) moves the schedule: the handle numbers the first
//! arrival not yet due under the old rate and anchors the new rate there
//! ([`Target::rate_first`](super::control::Target), `rate_since`), so every worker (and
//! every shard) computes the same numbers and each plays its own share of them.
//!
//! # Invariants
//! - The schedule is in active run time: paused time is left out, nothing starts while
//!   paused, and a resumed run goes on where it was (no burst of missed arrivals).
//! - Arrival numbers are global (all workers, all shards): `mine(n)` says which are this
//!   worker's.

use super::client::{Client, ClientConfig};
use super::control::{arrival_at, next_arrival};
use super::hook::WorkerMeasure;
use super::plan::Plan;
use super::run::{until_due, Wake};
use super::vu::{run_session, Worker};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The recorded sessions in recorded order (by start, then index).
pub fn order(plan: &Plan) -> Vec<usize> {
    let mut order: Vec<usize> = (0..plan.sessions.len()).collect();
    order.sort_by_key(|&i| (plan.sessions[i].start, i));
    order
}

/// Runs one worker's share (`mine`) of the arrivals at the control's rate, from the start
/// until stopped, or — `once` — until every recorded session has arrived once.
pub(super) async fn rate_arrivals<W: WorkerMeasure>(
    w: &Rc<Worker<W>>,
    mine: impl Fn(u64) -> bool,
    once: bool,
    cc: Arc<ClientConfig>,
    start: Instant,
) {
    let order = order(&w.plan);
    let len = order.len() as u64;
    if len == 0 {
        return;
    }
    let mut tasks = tokio::task::JoinSet::new();
    let (mut target, mut seen) = w.control.target();
    let mut n = target.rate_first;
    'arrivals: loop {
        if once && n >= len {
            break;
        }
        if !mine(n) {
            n += 1;
            continue;
        }
        let at = arrival_at(&target, n);
        loop {
            match until_due(w, start, at, seen, &mut tasks).await {
                Wake::Due => break,
                Wake::Stopped => break 'arrivals,
                Wake::Changed => {
                    let before = (target.rate, target.rate_first, target.rate_since);
                    (target, seen) = w.control.target();
                    if (target.rate, target.rate_first, target.rate_since) != before {
                        n = target.rate_first;
                        continue 'arrivals;
                    }
                }
            }
        }
        let session = order[(n % len) as usize];
        // the client is built before the send so its set-up never shows as lag
        let client = Client::new(cc.clone());
        let w = w.clone();
        tasks.spawn_local(async move {
            w.rec.borrow_mut().user_started();
            let due = start + at + w.control.paused_total();
            run_session(&w, &client, n, &w.plan.sessions[session], due, &w.stop).await;
            w.rec.borrow_mut().user_ended();
        });
        n += 1;
    }
    while let Some(ended) = tasks.join_next().await {
        super::run::surface_panic(ended);
    }
}

/// Arrivals of `target`'s schedule due in `[from, to)` of active run time (tests, docs).
pub fn due_between(target: &super::control::Target, from: Duration, to: Duration) -> u64 {
    next_arrival(target, to).saturating_sub(next_arrival(target, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Change, Control, Workload};

    #[test]
    fn arrivals_are_evenly_spaced_and_a_change_anchors_where_the_old_rate_was() {
        let c = Control::new(Workload::Rate { per_s: 4.0 });
        let t = c.target();
        assert_eq!(arrival_at(&t, 0), Duration::ZERO);
        assert_eq!(arrival_at(&t, 6), Duration::from_millis(1500));
        assert_eq!(due_between(&t, Duration::ZERO, Duration::from_secs(10)), 40);
        c.started(std::time::Instant::now() - Duration::from_millis(2100));
        c.apply(Change::Rate(10.0)).unwrap();
        let t = c.target();
        // 0, 0.25, … 2.0 s were due before 2.1 s: 9 arrivals
        assert_eq!(t.rate_first, 9);
        assert!(t.rate_since >= Duration::from_millis(2100));
        assert_eq!(arrival_at(&t, 19), t.rate_since + Duration::from_secs(1));
        assert!(c.apply(Change::Rate(0.0)).is_err());
        assert!(c.apply(Change::Rate(f64::NAN)).is_err());
        assert!(
            c.apply(Change::Multiply(2)).is_err(),
            "not a multiplier run"
        );
        assert_eq!(c.events().len(), 1);
        assert_eq!(c.events()[0].rate, Some(10.0));
    }
}
