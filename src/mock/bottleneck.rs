//! The mock's configurable bottlenecks: a database connection pool and an LLM concurrency
//! limit, each a queue in front of a fixed number of slots, and the gauges `/metrics` shows.
//!
//! Built so a load test has a known answer: with a pool of N connections and a service time
//! S per checkpoint, the database serves at most N / S checkpoints per second, and queueing
//! time past that shows up in the `checkpoint_*` Server-Timing components (which include the
//! wait) and in the `db_pool_waiting` gauge.
//!
//! # Invariants
//! - `in_use <= size` at every instant; `waiting` counts tasks queued for a slot.
//! - A slot is released when its [`Slot`] drops, even if the request is cancelled mid-wait
//!   (the waiting count is decremented by a guard, not by the happy path).
//! - With no bottleneck configured nothing here runs: the handler never awaits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A queue in front of `size` slots.
#[derive(Debug)]
pub(crate) struct Gate {
    size: u64,
    sem: Arc<Semaphore>,
    in_use: AtomicU64,
    waiting: AtomicU64,
    /// Acquisitions completed (for `…_acquired_total`).
    acquired: AtomicU64,
    /// Total time spent waiting for a slot, µs.
    waited_us: AtomicU64,
}

/// A held slot; released on drop.
pub(crate) struct Slot<'a> {
    gate: &'a Gate,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gate.in_use.fetch_sub(1, Relaxed);
    }
}

/// A slot held by a task that outlives the request's borrow (the stream variant).
pub(crate) struct OwnedSlot {
    gate: Arc<Gate>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        self.gate.in_use.fetch_sub(1, Relaxed);
    }
}

struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Gate {
    pub fn new(size: u32) -> Gate {
        let size = size.max(1);
        Gate {
            size: u64::from(size),
            sem: Arc::new(Semaphore::new(size as usize)),
            in_use: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            acquired: AtomicU64::new(0),
            waited_us: AtomicU64::new(0),
        }
    }

    async fn permit(&self) -> (OwnedSemaphorePermit, Duration) {
        let t = Instant::now();
        self.waiting.fetch_add(1, Relaxed);
        let guard = Waiting(&self.waiting);
        // The semaphore is never closed.
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("gate semaphore is never closed");
        drop(guard);
        self.in_use.fetch_add(1, Relaxed);
        self.acquired.fetch_add(1, Relaxed);
        let waited = t.elapsed();
        self.waited_us.fetch_add(waited.as_micros() as u64, Relaxed);
        (permit, waited)
    }

    /// Waits for a slot; returns it and the time spent queueing.
    pub async fn acquire(&self) -> (Slot<'_>, Duration) {
        let (permit, waited) = self.permit().await;
        (
            Slot {
                gate: self,
                _permit: permit,
            },
            waited,
        )
    }

    /// As [`Gate::acquire`], for a slot held past the request's borrow.
    pub async fn acquire_owned(self: &Arc<Self>) -> (OwnedSlot, Duration) {
        let (permit, waited) = self.permit().await;
        (
            OwnedSlot {
                gate: self.clone(),
                _permit: permit,
            },
            waited,
        )
    }

    /// Holds a slot for `service` (queueing first); returns the total (wait + service) and
    /// the wait alone.
    pub async fn serve(&self, service: Duration) -> (Duration, Duration) {
        let t = Instant::now();
        let (slot, waited) = self.acquire().await;
        if !service.is_zero() {
            tokio::time::sleep(service).await;
        }
        drop(slot);
        (t.elapsed(), waited)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn in_use(&self) -> u64 {
        self.in_use.load(Relaxed)
    }

    pub fn waiting(&self) -> u64 {
        self.waiting.load(Relaxed)
    }

    pub fn acquired(&self) -> u64 {
        self.acquired.load(Relaxed)
    }

    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pool_of_two_queues_the_third_and_counts_it() {
        let gate = Arc::new(Gate::new(2));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let g = gate.clone();
            tasks.push(tokio::spawn(async move {
                g.serve(Duration::from_millis(100)).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!((gate.in_use(), gate.waiting()), (2, 1));
        let mut waits = Vec::new();
        for t in tasks {
            let (total, waited) = t.await.unwrap();
            assert!(total >= Duration::from_millis(100));
            waits.push(waited);
        }
        waits.sort();
        assert_eq!(waits[0], Duration::ZERO);
        assert!(waits[2] >= Duration::from_millis(100), "{waits:?}");
        assert_eq!((gate.in_use(), gate.waiting(), gate.acquired()), (0, 0, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_no_trace() {
        let gate = Arc::new(Gate::new(1));
        let (held, _) = gate.acquire_owned().await;
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.serve(Duration::from_millis(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(gate.waiting(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.waiting(), 0);
        drop(held);
        assert_eq!(gate.in_use(), 0);
    }
}
