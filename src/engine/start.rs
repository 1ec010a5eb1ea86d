//! `--start-at RFC3339|+DURATION`: the common instant every shard starts its clock at.
//!
//! Pods and array tasks do not start together (image pulls, scheduling), so the start time
//! is chosen once — by whoever submits the job — and handed to every shard; each waits on
//! its own wall clock (kept in step by NTP on real clusters) with a countdown on stderr.
//! `+DURATION` is relative to this process's own clock: right for one process, wrong for
//! shards started at different times (give them an RFC 3339 instant).
//!
//! # Invariants
//! - [`wait`] returns at or after the intended instant, never before it (checked against
//!   the wall clock after every sleep).
//! - An instant already past by more than the tolerance is an error ([`Error::Passed`]):
//!   a late shard would replay the plan out of step with the others, so it is never a
//!   silent late start. Past by less, the run starts at once and its skew says how late.
//! - The measured skew (actual − intended start) is what the run reports, not what was
//!   asked for: [`skew_ms`] compares the run's own recorded `started_at` with the intent.

use chrono::{DateTime, SecondsFormat, Utc};
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "--start-at `{spec}`: expected an RFC 3339 time (2026-12-01T22:00:00Z) or +DURATION \
         (+30s, +2m)"
    )]
    Syntax { spec: String },
    #[error(
        "--start-at {at}: that start passed {late_ms} ms ago (tolerance {tolerance_ms} ms); a \
         late shard would run out of step with the others: give a later --start-at, or a \
         larger --start-tolerance"
    )]
    Passed {
        at: String,
        late_ms: i64,
        tolerance_ms: u128,
    },
}

/// What `--start-at` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// An absolute instant, the same for every shard.
    At(DateTime<Utc>),
    /// This long after the process read the flag.
    In(Duration),
}

impl StartAt {
    /// Parses `2026-12-01T22:00:00Z` (any RFC 3339 offset) or `+30s`.
    pub fn parse(spec: &str) -> Result<StartAt, Error> {
        let t = spec.trim();
        let syntax = || Error::Syntax {
            spec: spec.to_string(),
        };
        if let Some(d) = t.strip_prefix('+') {
            return crate::cli::parse_duration(d)
                .map(StartAt::In)
                .map_err(|_| syntax());
        }
        DateTime::parse_from_rfc3339(t)
            .map(|d| StartAt::At(d.with_timezone(&Utc)))
            .map_err(|_| syntax())
    }

    /// The intended instant, `+DURATION` counted from `now`.
    pub fn instant(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            StartAt::At(t) => t,
            StartAt::In(d) => now + chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX),
        }
    }
}

/// A common start: the instant, and how late a run may still start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    pub at: DateTime<Utc>,
    pub tolerance: Duration,
}

impl Common {
    /// [`check`] as of now.
    pub fn check(&self) -> Result<(), Error> {
        check(self.at, Utc::now(), self.tolerance)
    }

    /// [`wait`] for this start.
    pub fn wait(&self) -> Result<(), Error> {
        wait(self.at, self.tolerance)
    }

    /// Writes the intended start and the measured skew into a run's summary.
    pub fn record(&self, run: &mut crate::metrics::summary::RunInfo) {
        run.start_at = Some(format(self.at));
        run.start_skew_ms = skew_ms(self.at, &run.started_at);
    }
}

/// `at` as the summary writes it: RFC 3339, UTC, µs.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Checks that `at` is not past by more than `tolerance` (as of `now`).
pub fn check(at: DateTime<Utc>, now: DateTime<Utc>, tolerance: Duration) -> Result<(), Error> {
    let late = now - at;
    if late > chrono::Duration::from_std(tolerance).unwrap_or(chrono::TimeDelta::MAX) {
        return Err(Error::Passed {
            at: format(at),
            late_ms: late.num_milliseconds(),
            tolerance_ms: tolerance.as_millis(),
        });
    }
    Ok(())
}

/// Blocks until the wall clock reaches `at`, printing a countdown to stderr: on a terminal
/// one line rewritten each second, in a log (a pod, a Slurm output file) one line at the
/// start, then every 10 s and each of the last 5 s. Fails before waiting when `at` is past
/// by more than `tolerance`.
pub fn wait(at: DateTime<Utc>, tolerance: Duration) -> Result<(), Error> {
    check(at, Utc::now(), tolerance)?;
    let tty = std::io::stderr().is_terminal();
    let mut err = std::io::stderr();
    let mut last_said: Option<i64> = None;
    loop {
        let left = at - Utc::now();
        if left <= chrono::TimeDelta::zero() {
            break;
        }
        let secs = (left.num_milliseconds() + 999) / 1000; // whole seconds left, rounded up
        if last_said != Some(secs) && (tty || last_said.is_none() || secs % 10 == 0 || secs <= 5) {
            let line = format!("waiting for the common start at {}: {secs} s", format(at));
            let _ = if tty {
                write!(err, "\r{line}   ")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
            last_said = Some(secs);
        }
        // sleep to the next whole second left (or to the start), then look at the clock again
        let to_tick = left - chrono::Duration::seconds(secs - 1);
        let nap = to_tick
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_micros(50));
        std::thread::sleep(nap);
    }
    if tty {
        let _ = writeln!(err);
    }
    Ok(())
}

/// Measured start skew in ms: the run's recorded `started_at` (RFC 3339) minus `at`;
/// `None` when `started_at` does not parse.
pub fn skew_ms(at: DateTime<Utc>, started_at: &str) -> Option<f64> {
    let started = DateTime::parse_from_rfc3339(started_at).ok()?;
    let d = started.with_timezone(&Utc) - at;
    Some(d.num_microseconds()? as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn absolute_and_relative_starts_parse() {
        assert_eq!(
            StartAt::parse("2026-12-01T22:00:00Z"),
            Ok(StartAt::At(t("2026-12-01T22:00:00Z")))
        );
        assert_eq!(
            StartAt::parse("2026-12-01T23:00:00+01:00"),
            Ok(StartAt::At(t("2026-12-01T22:00:00Z")))
        );
        let now = t("2026-12-01T22:00:00Z");
        assert_eq!(
            StartAt::parse("+1m30s").unwrap().instant(now),
            t("2026-12-01T22:01:30Z")
        );
        assert_eq!(
            StartAt::parse("+2.5").unwrap().instant(now),
            t("2026-12-01T22:00:02.5Z")
        );
        for bad in ["", "tomorrow", "22:00", "+", "+soon", "2026-12-01 22:00"] {
            let e = StartAt::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected an RFC 3339 time"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_start_past_beyond_the_tolerance_is_refused() {
        let at = t("2026-12-01T22:00:00Z");
        let tol = Duration::from_secs(5);
        assert_eq!(check(at, t("2026-12-01T21:59:00Z"), tol), Ok(()));
        assert_eq!(check(at, t("2026-12-01T22:00:05Z"), tol), Ok(()));
        let e = check(at, t("2026-12-01T22:00:05.001Z"), tol).unwrap_err();
        assert_eq!(
            e,
            Error::Passed {
                at: "2026-12-01T22:00:00.000000Z".into(),
                late_ms: 5001,
                tolerance_ms: 5000
            }
        );
        assert!(e.to_string().contains("passed 5001 ms ago"), "{e}");
    }

    #[test]
    fn waiting_never_ends_early_and_skew_is_measured() {
        let at = Utc::now() + chrono::Duration::milliseconds(300);
        wait(at, Duration::ZERO).unwrap();
        let now = Utc::now();
        assert!(
            now >= at,
            "woke {} µs early",
            (at - now).num_microseconds().unwrap()
        );
        // generous: the machine is shared
        assert!(now - at < chrono::Duration::seconds(2));
        let skew = skew_ms(at, &format(now)).unwrap();
        assert!((0.0..2000.0).contains(&skew), "{skew}");
        assert_eq!(skew_ms(at, "not a time"), None);
    }
}
