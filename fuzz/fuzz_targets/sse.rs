//! Fuzz target for the SSE parser: never panics, and any chunking gives the same events.
//!
//! The first byte picks how the rest is cut into chunks, so libFuzzer explores both the
//! bytes and the chunk boundaries (inside CRLF, inside a UTF-8 character, inside the BOM).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::metrics::sse;

fuzz_target!(|data: &[u8]| {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let whole = sse::parse_all(bytes);
    let step = usize::from(step % 7) + 1;
    let mut p = sse::Parser::new();
    let mut chunked = Vec::new();
    let mut i = 0;
    let mut n = 0usize;
    while i < bytes.len() {
        // chunk sizes cycle through 0..=step so empty chunks are fed too
        let len = (n % (step + 1)).min(bytes.len() - i);
        p.feed(&bytes[i..i + len], |e| chunked.push(e));
        i += len;
        n += 1;
    }
    p.finish();
    assert_eq!(whole, chunked);
    for e in &whole {
        assert!(!e.event.is_empty());
    }
});
