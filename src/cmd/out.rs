//! Console output that a closed pipe cannot crash: `reprise replay … | head -1` and
//! `reprise inspect … | head` stop reading early, and the rest of the run (its report) must
//! still happen.
//!
//! # Invariants
//! - Nothing here panics; a write error (a closed pipe) is ignored, the text is dropped.

use std::io::Write;

/// Writes `text` to stdout as it is.
pub fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Writes `text` and a newline to stderr.
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
