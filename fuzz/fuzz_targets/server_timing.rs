//! Fuzz target for the Server-Timing parser: never panics; every emitted metric has a
//! non-empty token name and a finite, non-negative duration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::metrics::server_timing;

fuzz_target!(|data: &[u8]| {
    let _ = server_timing::parse(data, |m| {
        assert!(!m.name.is_empty());
        if let Some(d) = m.dur_ms {
            assert!(d.is_finite() && d >= 0.0);
        }
    });
});
