//! The mock's start banner in words and units a user types (`200ms`, `none`), not Rust's
//! debug text (`Fixed(200ms)`, `Some(5s)`).
//!
//! # Invariants
//! - Every duration is printed as `--latency` and friends accept it; absent settings say
//!   `none`; only the misbehaviours that are on are listed.

use super::{Config, Latency, Misbehave};
use std::time::Duration;

fn d(x: Duration) -> String {
    humantime::format_duration(x).to_string()
}

/// The settings line: latency, stream pacing, keep-alive timeout.
pub fn settings(c: &Config) -> String {
    let latency = match c.latency {
        Latency::None => "none".to_string(),
        Latency::Fixed(x) => d(x),
        Latency::LogNormal { median, spread } => {
            format!("log-normal, median {} spread {spread}", d(median))
        }
    };
    format!(
        "latency {latency}; stream: first event after {}, {} between events, {} events; keep-alive timeout {}",
        d(c.stream.first),
        d(c.stream.gap),
        c.stream.events,
        c.keep_alive_timeout.map_or("none".to_string(), d),
    )
}

/// The bottlenecks that are configured (`--db-pool`, `--llm-limit`), or `None`.
pub fn bottlenecks(c: &Config) -> Option<String> {
    let mut on = Vec::new();
    if let Some(db) = c.db {
        on.push(format!(
            "database pool {} connections, {} per checkpoint",
            db.pool,
            d(db.service)
        ));
    }
    if let Some(n) = c.llm_limit {
        on.push(format!("LLM limit {n} calls at once"));
    }
    (!on.is_empty()).then(|| on.join("; "))
}

/// The misbehaviours that are on, or `None`.
pub fn misbehaving(m: &Misbehave, seed: u64) -> Option<String> {
    let pct = |s: super::Share| format!("{}%", s.get() * 100.0);
    let mut on = Vec::new();
    if !m.divergence.is_zero() {
        let at = m
            .divergence_node
            .map(|n| format!(" at {n}"))
            .unwrap_or_default();
        on.push(format!("divergence {}{at}", pct(m.divergence)));
    }
    if !m.cross_talk.is_zero() {
        on.push(format!("cross-talk {}", pct(m.cross_talk)));
    }
    if !m.bad_server_timing.is_zero() {
        on.push(format!(
            "malformed Server-Timing {}",
            pct(m.bad_server_timing)
        ));
    }
    if !m.error_rate.is_zero() {
        on.push(format!("500 errors {}", pct(m.error_rate)));
    }
    (!on.is_empty()).then(|| format!("misbehaving: {} (seed {seed})", on.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::Share;

    #[test]
    fn no_debug_text() {
        let mut c = Config::default().latency(Latency::Fixed(Duration::from_millis(200)));
        c.keep_alive_timeout = Some(Duration::from_secs(5));
        let s = settings(&c);
        assert_eq!(
            s,
            "latency 200ms; stream: first event after 0s, 0s between events, 5 events; keep-alive timeout 5s"
        );
        assert!(!s.contains("Some(") && !s.contains("Fixed("));
        assert_eq!(misbehaving(&Misbehave::default(), 1), None);
        let m = Misbehave {
            error_rate: Share::new(0.1),
            ..Default::default()
        };
        assert_eq!(
            misbehaving(&m, 7).unwrap(),
            "misbehaving: 500 errors 10% (seed 7)"
        );
    }

    #[test]
    fn bottlenecks_in_flag_units() {
        let mut c = Config::default();
        assert_eq!(bottlenecks(&c), None);
        c.db = Some(super::super::Db {
            pool: 10,
            service: Duration::from_micros(1500),
        });
        c.llm_limit = Some(4);
        assert_eq!(
            bottlenecks(&c).unwrap(),
            "database pool 10 connections, 1ms 500us per checkpoint; LLM limit 4 calls at once"
        );
    }
}
