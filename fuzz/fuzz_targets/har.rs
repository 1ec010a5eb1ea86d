//! Fuzz target for the HAR reader: any bytes as a `.har` file are read or refused, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = reprise::har::read::parse(Path::new("fuzz.har"), data);
});
