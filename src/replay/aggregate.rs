//! The per-second aggregator: the workers' seconds merged into whole seconds, in order.
//!
//! Each worker sends its figures for second `k` when that second ends (index counted from
//! the run start), then, when it has ended (done, or lost), nothing more. A second is
//! complete once every worker sent it or has ended; complete seconds come out of
//! [`Aggregator::next_complete`] one by one, in order — so a worker that died does not stall
//! the series, and a late one holds it back only until its second comes.
//!
//! # Invariants
//! - Seconds come out in index order, each once, each the sum of what every worker sent
//!   for it.
//! - A second no worker sent is emitted (empty) only while some worker is still running:
//!   once all have ended, the series stops at the last second one of them sent.

use crate::metrics::Second;
use std::collections::BTreeMap;

/// Merges the workers' seconds; see the module doc.
#[derive(Debug)]
pub(super) struct Aggregator {
    /// Per worker: the seconds below this index were sent.
    sent_upto: Vec<u64>,
    /// Per worker: done or lost, it sends no more seconds.
    ended: Vec<bool>,
    pending: BTreeMap<u64, Second>,
    next: u64,
}

impl Aggregator {
    pub(super) fn new(workers: usize) -> Aggregator {
        Aggregator {
            sent_upto: vec![0; workers],
            ended: vec![false; workers],
            pending: BTreeMap::new(),
            next: 0,
        }
    }

    /// `worker`'s figures for second `index`.
    pub(super) fn second(&mut self, worker: usize, index: u64, second: Second) {
        self.sent_upto[worker] = self.sent_upto[worker].max(index + 1);
        self.pending.entry(index).or_default().absorb(second);
    }

    /// `worker` sends no more seconds (it finished, or it was lost).
    pub(super) fn ended(&mut self, worker: usize) {
        self.ended[worker] = true;
    }

    pub(super) fn all_ended(&self) -> bool {
        self.ended.iter().all(|e| *e)
    }

    /// The next complete second and its index, if there is one now.
    pub(super) fn next_complete(&mut self) -> Option<(u64, Second)> {
        let next = self.next;
        let everyone = (0..self.ended.len()).all(|w| self.ended[w] || self.sent_upto[w] > next);
        if !everyone || (self.all_ended() && !self.pending.contains_key(&next)) {
            return None;
        }
        self.next += 1;
        Some((next, self.pending.remove(&next).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(requests: u64) -> Second {
        Second {
            requests,
            ..Second::default()
        }
    }

    fn drain(a: &mut Aggregator) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| a.next_complete())
            .map(|(k, s)| (k, s.requests))
            .collect()
    }

    #[test]
    fn a_second_is_complete_once_every_worker_sent_it() {
        let mut a = Aggregator::new(2);
        a.second(0, 0, with(3));
        a.second(0, 1, with(4));
        assert_eq!(drain(&mut a), []);
        a.second(1, 0, with(10));
        assert_eq!(drain(&mut a), [(0, 13)]);
        a.second(1, 1, with(20));
        a.second(1, 2, with(30));
        assert_eq!(drain(&mut a), [(1, 24)]);
        a.second(0, 2, with(5));
        assert_eq!(drain(&mut a), [(2, 35)]);
        assert!(!a.all_ended());
    }

    #[test]
    fn seconds_sent_out_of_order_come_out_in_order() {
        let mut a = Aggregator::new(1);
        a.second(0, 1, with(2));
        // second 0 was skipped by this worker (it sends every index; here only its max
        // counts): both come out, in order
        assert_eq!(drain(&mut a), [(0, 0), (1, 2)]);
        a.second(0, 3, with(4));
        a.second(0, 2, with(3));
        assert_eq!(drain(&mut a), [(2, 3), (3, 4)]);
    }

    #[test]
    fn a_lost_worker_does_not_stall_the_series() {
        let mut a = Aggregator::new(3);
        for w in 0..3 {
            a.second(w, 0, with(1));
        }
        assert_eq!(drain(&mut a), [(0, 3)]);
        // worker 2 dies after second 0; the others go on
        a.ended(2);
        for k in 1..4 {
            a.second(0, k, with(1));
            a.second(1, k, with(1));
        }
        assert_eq!(drain(&mut a), [(1, 2), (2, 2), (3, 2)]);
        assert!(!a.all_ended());
        a.second(0, 4, with(1));
        a.ended(0);
        a.second(1, 4, with(2));
        a.ended(1);
        assert!(a.all_ended());
        assert_eq!(drain(&mut a), [(4, 3)]);
        // nothing after the last second sent
        assert_eq!(a.next_complete().map(|(k, _)| k), None);
    }

    #[test]
    fn ended_workers_leave_no_endless_empty_seconds() {
        let mut a = Aggregator::new(2);
        a.ended(0);
        a.ended(1);
        assert_eq!(drain(&mut a), []);
    }
}
