//! A worker's precise timer: deadlines to the microsecond, on one `timerfd` per worker.
//!
//! tokio's timer wheel has millisecond ticks: a deadline is rounded up to the next tick and
//! the driver parks for whole ticks counted from the *current* tick, so a sleep ends 0–2 ms
//! late (~1.3 ms at the median, measured by `bench/fidelity.sh`). Replaying think time that
//! adds a millisecond to every recorded gap, so the users' deadlines go here instead: an
//! ordered map of pending deadlines and one `timerfd` (`CLOCK_MONOTONIC`, absolute, armed
//! to the earliest deadline with nanosecond resolution) registered in the worker's tokio
//! reactor. When it expires the reactor wakes at once, the driver task wakes every user
//! whose deadline has passed, and arms the fd to the next one.
//!
//! # Invariants
//! - A [`Sleep`] completes only once `Instant::now() >= deadline`, never before.
//! - The fd is armed at or before the earliest pending deadline (a cancelled early
//!   deadline may leave it armed earlier; that costs one empty wake-up, nothing else).
//! - A dropped [`Sleep`] leaves nothing behind: its entry is removed from the map.
//! - Single-threaded: a [`Timer`] and its sleeps live on one worker's `LocalSet`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// One worker's timer. Cloning shares it.
#[derive(Clone)]
pub struct Timer {
    /// `None` when no timerfd could be made: tokio's timer is used instead.
    shared: Option<Rc<Shared>>,
}

struct Shared {
    fd: AsyncFd<OwnedFd>,
    /// `Instant` ↔ `CLOCK_MONOTONIC` reading taken together, to convert deadlines.
    base: (Instant, Duration),
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    /// What the fd is armed to, if anything.
    armed: Option<Instant>,
}

impl Default for Timer {
    fn default() -> Self {
        Timer::new()
    }
}

impl Timer {
    /// Creates the timer and spawns its driver task on the current `LocalSet`; falls back
    /// to tokio's timer when the kernel refuses a timerfd.
    pub fn new() -> Timer {
        Timer {
            shared: Shared::new().ok(),
        }
    }

    /// A future completing at `deadline` (at once if it has passed).
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            fallback: match self.shared {
                None => Some(Box::pin(tokio::time::sleep_until(deadline))),
                Some(_) => None,
            },
            shared: self.shared.clone(),
            deadline,
            key: None,
        }
    }
}

impl Shared {
    fn new() -> io::Result<Rc<Shared>> {
        // SAFETY: plain syscall; the returned fd is checked and then owned.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let base = (Instant::now(), monotonic_now());
        let shared = Rc::new(Shared {
            // SAFETY: the OwnedFd is moved into the AsyncFd, stays open and is the same fd
            // for the AsyncFd's whole life.
            fd: unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?,
            base,
            state: RefCell::new(State::default()),
        });
        // the driver lives as long as the worker's LocalSet
        let driver = shared.clone();
        tokio::task::spawn_local(async move {
            while let Ok(mut guard) = driver.fd.readable().await {
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
                unsafe {
                    libc::read(
                        driver.fd.as_raw_fd(),
                        expirations.as_mut_ptr().cast(),
                        expirations.len(),
                    )
                };
                // edge-triggered: the next expiry is a new event (tokio keeps a readiness
                // newer than this guard's)
                guard.clear_ready();
                driver.fire();
            }
        });
        Ok(shared)
    }

    /// Wakes every sleep whose deadline has passed and arms the fd to the next.
    fn fire(&self) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            while let Some(entry) = st.pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            st.armed = None;
            if let Some(&(next, _)) = st.pending.keys().next() {
                self.arm(&mut st, next);
            }
        }
        for w in due {
            w.wake();
        }
    }

    fn arm(&self, st: &mut State, at: Instant) {
        let since = at.saturating_duration_since(self.base.0);
        // never zero: an all-zero it_value disarms the fd
        let abs = (self.base.1 + since).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: abs.as_secs() as libc::time_t,
                tv_nsec: abs.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid fd and a fully initialised itimerspec; no old value requested.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r == 0 {
            st.armed = Some(at);
        }
    }
}

fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Completes at its deadline; see [`Timer::sleep_until`].
pub struct Sleep {
    shared: Option<Rc<Shared>>,
    fallback: Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(f) = self.fallback.as_mut() {
            return f.as_mut().poll(cx);
        }
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let Some(shared) = self.shared.clone() else {
            return Poll::Ready(());
        };
        let mut st = shared.state.borrow_mut();
        match self.key {
            Some(key) if st.pending.contains_key(&key) => {
                if let Some(w) = st.pending.get_mut(&key) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
            }
            _ => {
                let key = (self.deadline, st.next_id);
                st.next_id += 1;
                st.pending.insert(key, cx.waker().clone());
                self.key = Some(key);
                if st.armed.is_none_or(|a| self.deadline < a) {
                    shared.arm(&mut st, self.deadline);
                }
            }
        }
        Poll::Pending
    }
}

impl Sleep {
    fn cancel(&mut self) {
        if let (Some(key), Some(shared)) = (self.key.take(), &self.shared) {
            if let Ok(mut st) = shared.state.try_borrow_mut() {
                st.pending.remove(&key);
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    fn pending(timer: &Timer) -> usize {
        timer
            .shared
            .as_ref()
            .map_or(0, |s| s.state.borrow().pending.len())
    }

    #[test]
    fn sleeps_end_at_their_deadline_not_before_and_not_a_tick_late() {
        local(async {
            let timer = Timer::new();
            assert!(timer.shared.is_some(), "timerfd");
            let start = Instant::now();
            let mut tasks = Vec::new();
            for i in 0..200u64 {
                // 1..=60 ms, with sub-millisecond parts
                let at = start + Duration::from_micros(1_000 + (i * 7_919) % 59_000);
                let t = timer.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    t.sleep_until(at).await;
                    let now = Instant::now();
                    assert!(now >= at, "a sleep ended {:?} early", at - now);
                    now - at
                }));
            }
            let mut late = Vec::new();
            for t in tasks {
                late.push(t.await.unwrap());
            }
            late.sort();
            let median = late[late.len() / 2];
            // the median is well under tokio's ~1 ms; generous for a shared machine
            assert!(
                median < Duration::from_micros(700),
                "median lateness {median:?}"
            );
            assert!(late[late.len() - 1] < Duration::from_millis(50), "{late:?}");
        });
    }

    #[test]
    fn a_dropped_sleep_leaves_nothing_and_does_not_disturb_others() {
        local(async {
            let timer = Timer::new();
            assert!(timer.shared.is_some(), "timerfd");
            let start = Instant::now();
            {
                let early = timer.sleep_until(start + Duration::from_millis(5));
                let _ = tokio::time::timeout(Duration::from_millis(1), early).await;
            }
            assert_eq!(pending(&timer), 0);
            let at = start + Duration::from_millis(20);
            timer.sleep_until(at).await;
            assert!(Instant::now() >= at);
            // a deadline in the past completes at once
            let before = Instant::now();
            timer.sleep_until(start).await;
            assert!(before.elapsed() < Duration::from_millis(5));
            assert_eq!(pending(&timer), 0);
        });
    }
}
