//! The verdict every run gets without asking: a run in which no request succeeded fails,
//! thresholds or not (a target that answers nothing but errors must never exit 0).
//!
//! # Invariants
//! - [`nothing_succeeded`] is `Some` exactly when `failures >= requests` (no request at all
//!   included), and then its verdict is failed.

use crate::metrics::summary::{Summary, Verdict};

/// The expression the verdict is shown under.
pub const EXPR: &str = "at least one request succeeded";

/// A failed verdict when no request of the run succeeded.
pub fn nothing_succeeded(s: &Summary) -> Option<Verdict> {
    let (req, fail) = (s.totals.requests, s.totals.failures);
    (fail >= req).then(|| Verdict {
        expr: EXPR.to_string(),
        value: Some(0.0),
        ok: false,
        observed: if req == 0 {
            "no request was sent".to_string()
        } else {
            format!("all {req} requests failed")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_when_nothing_succeeded() {
        let mut s = crate::report::fixture::seeded(1);
        s.totals.requests = 0;
        s.totals.failures = 0;
        assert_eq!(
            nothing_succeeded(&s).unwrap().observed,
            "no request was sent"
        );
        s.totals.requests = 5;
        s.totals.failures = 5;
        let v = nothing_succeeded(&s).unwrap();
        assert!(!v.ok && v.observed == "all 5 requests failed");
        s.totals.failures = 4;
        assert!(nothing_succeeded(&s).is_none());
    }
}
