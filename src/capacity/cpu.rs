//! The CPU time this process has used, to tell a saturated generator from a slow target.
//!
//! # Invariants
//! - [`used`] is user + system time of every thread of the process (`getrusage`
//!   `RUSAGE_SELF`), monotonic; on an error it is zero, and a level then shows no CPU
//!   rather than failing.

use std::time::Duration;

/// User + system CPU time of the whole process so far.
pub fn used() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Cores used between two readings `wall` apart.
pub fn cores(before: Duration, after: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        after.saturating_sub(before).as_secs_f64() / wall.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_loop_shows_as_about_one_core() {
        let (t0, c0) = (std::time::Instant::now(), used());
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let c = cores(c0, used(), t0.elapsed());
        // generous: other processes share the machine; other tests of this process may
        // run at the same time, so there is no upper bound
        assert!(c > 0.2, "{c}");
        assert!(used() >= c0);
        assert_eq!(cores(c0, c0, Duration::ZERO), 0.0);
    }
}
