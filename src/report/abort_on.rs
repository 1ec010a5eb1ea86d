//! `--abort-on 'error_rate > 50% for 30s'`: a condition on the live figures that ends a run
//! early (k6's `abortOnFail`), so a broken target does not take a whole test's time.
//!
//! The expression is a threshold expression whose metric is one the live line measures —
//! `error_rate`, `success_rate`, `failures`, `requests`, `rps` — then `for` and a window.
//! It is checked once a second on the requests of the last window taken together, from the
//! first second the window is full; the run stops (drains) the first time it holds. Without
//! `for`, the window is one second.
//!
//! # Invariants
//! - [`AbortOn::second`] is pure arithmetic on what it was given; seconds without requests
//!   count in the window (a rate over a window without any request is not checked).
//! - Parse errors name the expression and say what is allowed.

use super::thresholds::{Metric, Scope, Threshold};
use std::collections::VecDeque;
use std::time::Duration;

/// A parsed `--abort-on` condition and its window of per-second figures.
#[derive(Debug, Clone)]
pub struct AbortOn {
    /// As written.
    pub expr: String,
    condition: Threshold,
    window: usize,
    /// (requests, failures) per second, the newest last.
    seconds: VecDeque<(u64, u64)>,
}

impl AbortOn {
    pub fn parse(expr: &str) -> Result<AbortOn, String> {
        let bad = |why: String| format!("--abort-on \"{expr}\": {why}");
        let (cond, window) = match expr.rsplit_once(" for ") {
            Some((c, w)) => {
                let d = humantime::parse_duration(w.trim()).map_err(|e| {
                    bad(format!(
                        "`{}` is not a window ({e}; expected e.g. 30s)",
                        w.trim()
                    ))
                })?;
                if d < Duration::from_secs(1) {
                    return Err(bad("the window must be at least 1s".into()));
                }
                (c, d.as_secs_f64().ceil() as usize)
            }
            None => (expr, 1),
        };
        let condition = Threshold::parse(cond).map_err(|e| bad(e.to_string()))?;
        match condition.metric {
            Metric::ErrorRate(Scope::Total)
            | Metric::SuccessRate(Scope::Total)
            | Metric::Failures(Scope::Total)
            | Metric::Requests(Scope::Total)
            | Metric::Rps(Scope::Total) => {}
            _ => {
                return Err(bad(
                    "watches error_rate, success_rate, failures, requests or rps of all \
                     requests (the figures of the live line)"
                        .into(),
                ))
            }
        }
        Ok(AbortOn {
            expr: expr.trim().to_string(),
            condition,
            window,
            seconds: VecDeque::new(),
        })
    }

    /// Adds one second's figures; returns what was observed over the window when the
    /// condition holds (the run should stop).
    pub fn second(&mut self, requests: u64, failures: u64) -> Option<String> {
        self.seconds.push_back((requests, failures));
        while self.seconds.len() > self.window {
            self.seconds.pop_front();
        }
        if self.seconds.len() < self.window {
            return None;
        }
        let (req, fail) = self
            .seconds
            .iter()
            .fold((0u64, 0u64), |(r, f), (a, b)| (r + a, f + b));
        let pct = |n: u64| (req > 0).then(|| n as f64 * 100.0 / req as f64);
        let (value, shown) = match self.condition.metric {
            Metric::ErrorRate(_) => pct(fail).map(|v| (v, format!("{v:.1}%")))?,
            Metric::SuccessRate(_) => pct(req - fail.min(req)).map(|v| (v, format!("{v:.1}%")))?,
            Metric::Failures(_) => (fail as f64, fail.to_string()),
            Metric::Requests(_) => (req as f64, req.to_string()),
            _ => {
                let v = req as f64 / self.window as f64;
                (v, format!("{v:.1}/s"))
            }
        };
        self.condition
            .op
            .holds(value, self.condition.limit)
            .then(|| {
                format!(
                    "{} was {shown} over the last {}s",
                    self.condition.expr, self.window
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_over_a_full_window_only() {
        let mut a = AbortOn::parse("error_rate > 50% for 3s").unwrap();
        assert_eq!(a.second(10, 10), None, "window not full");
        assert_eq!(a.second(10, 10), None);
        let hit = a.second(10, 0).unwrap();
        assert_eq!(hit, "error_rate > 50% was 66.7% over the last 3s");
        assert_eq!(a.second(10, 0), None, "10/30 failed in the last 3 s");
        let mut q = AbortOn::parse("error_rate > 50% for 2s").unwrap();
        assert_eq!(
            (q.second(0, 0), q.second(0, 0)),
            (None, None),
            "no request: no rate"
        );
        let mut r = AbortOn::parse("rps < 1").unwrap();
        assert!(r.second(0, 0).is_some());
    }

    #[test]
    fn bad_expressions_say_what_is_allowed() {
        let e = AbortOn::parse("p95 > 5s for 10s").unwrap_err();
        assert!(e.contains("watches error_rate"), "{e}");
        let e = AbortOn::parse("error_rate > 50% for soon").unwrap_err();
        assert!(
            e.starts_with("--abort-on \"error_rate > 50% for soon\": `soon` is not a window"),
            "{e}"
        );
        assert!(AbortOn::parse("error_rate > 50% for 0s").is_err());
        assert!(AbortOn::parse("error_rat > 50%").is_err());
    }
}
