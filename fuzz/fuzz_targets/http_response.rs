//! Fuzz target for the HTTP/1.1 response decoder: never panics, and however the bytes are
//! cut into feeds the outcome (status, framing, body, bytes left over, the error) is the
//! one of a single feed.
//!
//! The first byte picks whether the request was a `HEAD`, and how the rest is cut, so
//! libFuzzer explores both the bytes and the feed boundaries (inside a CRLF, a chunk-size
//! line, a trailer, between an interim and the final head).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::replay::client::decode::decode_cut;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let head_request = pick & 0x80 != 0;
    let whole = decode_cut(head_request, bytes, &[]);
    // feed sizes cycle through 0..=step, so empty feeds are fed too
    let step = usize::from(pick & 0x7f) % 23 + 1;
    let mut cuts = Vec::new();
    let mut at = 0;
    let mut n = 0usize;
    while at < bytes.len() {
        at += n % (step + 1);
        cuts.push(at);
        n += 1;
    }
    assert_eq!(decode_cut(head_request, bytes, &cuts), whole);
    // one byte at a time
    let every: Vec<usize> = (0..bytes.len()).collect();
    assert_eq!(decode_cut(head_request, bytes, &every), whole);
});
