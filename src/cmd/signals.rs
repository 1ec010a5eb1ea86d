//! Stopping a run from outside: SIGINT (Ctrl-C) and SIGTERM (`timeout`, `docker stop`,
//! Kubernetes) — decided in this one place.
//!
//! # Invariants
//! - The first signal cancels [`Stop::drain`]: no new request is sent, in-flight ones
//!   complete, the report is written (exit 3).
//! - The second cancels [`Stop::abort`] (and `drain`): sending stops at once, in-flight
//!   requests are dropped, and the report of what was measured is written, marked aborted.
//! - A third exits the process at once (exit 3), for a run stuck writing its report.
//! - [`Stop::reason`] names the signals seen, for the summary's `abort_reason`.

use super::Exit;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The tokens a signal cancels and which signals came.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub drain: CancellationToken,
    pub abort: CancellationToken,
    seen: Arc<Mutex<Vec<&'static str>>>,
}

impl Stop {
    /// A stop whose first signal cancels `drain`.
    pub fn draining(drain: CancellationToken) -> Stop {
        Stop {
            drain,
            ..Default::default()
        }
    }

    /// Why the run stopped early, when a signal stopped it: `SIGTERM`, or
    /// `SIGINT, then SIGINT (in-flight requests dropped)`.
    pub fn reason(&self) -> Option<String> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        match seen.as_slice() {
            [] => None,
            [one] => Some(format!("{one}: drained")),
            [first, second, ..] => Some(format!(
                "{first}, then {second}: stopped at once, in-flight requests dropped"
            )),
        }
    }

    /// Records `signal` and cancels what it stands for.
    pub fn signal(&self, signal: &'static str) -> usize {
        let n = match self.seen.lock() {
            Ok(mut s) => {
                s.push(signal);
                s.len()
            }
            Err(_) => 1,
        };
        self.drain.cancel();
        if n >= 2 {
            self.abort.cancel();
        }
        n
    }
}

/// Watches SIGINT and SIGTERM on a thread of its own for the life of the process.
pub fn watch(stop: Stop) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                match stop.signal(name) {
                    1 => eprintln!(
                        "\n{name}: stopping, draining in-flight requests (again to stop at once)"
                    ),
                    2 => eprintln!(
                        "\n{name}: stopping at once; writing the report of what was measured"
                    ),
                    _ => {
                        eprintln!("\n{name}: exiting without a report");
                        std::process::exit(Exit::Aborted as i32);
                    }
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_drains_second_aborts() {
        let s = Stop::default();
        assert_eq!(s.reason(), None);
        assert_eq!(s.signal("SIGTERM"), 1);
        assert!(s.drain.is_cancelled() && !s.abort.is_cancelled());
        assert_eq!(s.reason().as_deref(), Some("SIGTERM: drained"));
        s.signal("SIGINT");
        assert!(s.abort.is_cancelled());
        assert!(s
            .reason()
            .unwrap()
            .starts_with("SIGTERM, then SIGINT: stopped at once"));
    }
}
