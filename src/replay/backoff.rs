//! How long a closed virtual user waits before its next session after one ended on a
//! transport failure, so a broken target is not flooded.
//!
//! Every transport failure class counts — `connect` (refused, unreachable), `timeout`, and
//! `io` (reset, closed early) or `protocol` (a malformed response head, length or chunk) — per
//! virtual user: the `n`-th failed session in a row waits [`delay`]`(n)`, exponential from
//! [`BASE`] and doubling up to [`CAP`], with "equal jitter" (half the step fixed, half
//! random) so users that failed together do not come back together. A session that ends
//! without a transport failure (completed, a bad status, stopped) resets the count.
//!
//! Against a target that fails every request, a closed user thus sends about one session
//! per [`CAP`] after the first few seconds, however fast the failures come; the README's
//! "Reliability" section quotes the rates measured with `bench/reliability.sh`.
//!
//! # Invariants
//! - [`delay`] is pure, never exceeds [`CAP`], never falls below half its step, and grows
//!   monotonically in `n` up to the cap for a fixed jitter.

use crate::metrics::summary::kind;
use std::time::Duration;

/// The first wait.
pub const BASE: Duration = Duration::from_millis(100);
/// The longest wait.
pub const CAP: Duration = Duration::from_secs(5);

/// Whether a session that ended for `reason` counts as a transport failure.
pub fn is_transport(reason: &str) -> bool {
    matches!(
        reason,
        kind::CONNECT | kind::TIMEOUT | kind::IO | kind::PROTOCOL
    )
}

/// The wait after the `n`-th transport failure in a row (`n >= 1`; 0 waits nothing).
/// `jitter` in `[0, 1)` picks where in the upper half of the step the wait falls.
pub fn delay(n: u32, jitter: f64) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let step = BASE
        .saturating_mul(1u32 << (n - 1).min(20))
        .min(CAP)
        .as_secs_f64();
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Duration::from_secs_f64(step / 2.0 + step / 2.0 * jitter).min(CAP)
}

/// One user's count of failed sessions in a row.
#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Accounts for a session that ended for `reason` (`None`: every step was sent) and
    /// returns how long to wait before the next one.
    pub fn after(&mut self, reason: Option<&str>, jitter: f64) -> Option<Duration> {
        if reason.is_some_and(is_transport) {
            self.failures = self.failures.saturating_add(1);
            Some(delay(self.failures, jitter))
        } else {
            self.failures = 0;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_with_a_cap() {
        let ms = |n, j| delay(n, j).as_millis();
        assert_eq!(ms(0, 0.5), 0);
        assert_eq!((ms(1, 0.0), ms(1, 1.0)), (50, 100));
        assert_eq!((ms(2, 0.0), ms(3, 0.0), ms(4, 0.0)), (100, 200, 400));
        assert_eq!(ms(7, 1.0), 5000);
        assert_eq!(ms(40, 1.0), 5000);
        assert_eq!(ms(u32::MAX, f64::NAN), 2500);
        for j in [0.0, 0.3, 0.99] {
            let mut last = Duration::ZERO;
            for n in 1..64 {
                let d = delay(n, j);
                assert!(
                    d >= last && d <= CAP && d >= CAP.min(BASE * 2u32.pow((n - 1).min(10))) / 2
                );
                last = d;
            }
        }
    }

    #[test]
    fn every_transport_class_backs_off_and_anything_else_resets() {
        let mut b = Backoff::default();
        for k in [kind::CONNECT, kind::IO, kind::PROTOCOL, kind::TIMEOUT] {
            assert!(b.after(Some(k), 0.0).is_some(), "{k}");
        }
        assert_eq!(
            b.after(Some(kind::IO), 0.0),
            Some(delay(5, 0.0)),
            "the fifth in a row"
        );
        assert_eq!(b.after(None, 0.0), None);
        assert_eq!(b.after(Some(kind::CONNECT), 0.0), Some(delay(1, 0.0)));
        assert_eq!(b.after(Some(kind::CORRELATION), 0.0), None);
        assert_eq!(b.after(Some("stopped"), 0.0), None);
    }
}
