//! Fuzz target for the profile loader: any text as a profile file loads or is refused with
//! an error naming the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::profile::Profile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Profile::parse(text, Path::new("fuzz.toml")) {
        assert!(e.to_string().contains("fuzz.toml"), "{e}");
    }
});
