//! Fuzz target for the trace reader: any bytes as a `.trace.zst` file — open refuses or
//! iteration ends, never a panic; and the integrity it reports is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::trace;

fuzz_target!(|data: &[u8]| {
    // half the inputs are wrapped in a valid zstd frame, so the JSON Lines parser is reached
    let bytes = match data.split_first() {
        Some((&b, rest)) if b % 2 == 0 => zstd::bulk::compress(rest, 1).unwrap_or_default(),
        _ => data.to_vec(),
    };
    let path = std::env::temp_dir().join(format!("reprise-fuzz-{}.trace.zst", std::process::id()));
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    if let Ok(mut reader) = trace::Reader::open(&path) {
        let mut n = 0u64;
        for ex in reader.by_ref() {
            if ex.is_err() {
                break;
            }
            n += 1;
        }
        let i = reader.integrity();
        assert_eq!(i.exchanges, n);
        if let Some(t) = i.torn {
            assert_eq!(t.recovered, n);
            let _ = t.to_string();
        }
    }
});
