//! Fuzz target for the threshold and `--abort-on` parsers: any text parses or is refused
//! with a column inside the expression, never a panic; a parsed threshold evaluates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::report::{abort_on::AbortOn, fixture, Threshold};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Threshold::parse(text) {
        Ok(t) => {
            let _ = t.evaluate(&fixture::seeded(1));
        }
        Err(e) => {
            assert!(e.column >= 1 && e.column <= text.trim().chars().count() + 1, "{e}");
            let _ = e.to_string();
        }
    }
    if let Ok(mut a) = AbortOn::parse(text) {
        let _ = a.second(10, 3);
    }
});
