//! Fuzz target for the Prometheus text-format reader: never panics; every sample has a
//! valid metric name, every error a line number within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::scrape::text;

fuzz_target!(|data: &[u8]| {
    let page = text::parse(data);
    let lines = data.split(|&b| b == b'\n').count();
    for s in &page.samples {
        let b = s.name.as_bytes();
        assert!(!b.is_empty() && !b[0].is_ascii_digit());
        assert!(s.timestamp.is_none_or(f64::is_finite));
    }
    for e in &page.errors {
        assert!(e.line >= 1 && e.line <= lines);
    }
});
