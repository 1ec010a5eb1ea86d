//! HAR import and export: browser and proxy traffic in, recordings out to DevTools.
//!
//! - [`read`]: a lenient HAR 1.2 reader (plain, gzip or zstd files);
//! - [`skip`]: browser noise not replayed by default;
//! - [`import`]: HAR entries into trace exchanges — times, sessions, redaction;
//! - [`export`]: trace exchanges into a HAR 1.2 document.
//!
//! An import yields ordinary [`crate::trace::Exchange`]s, written by the ordinary trace
//! writer, so `inspect`, `replay` and everything else read the result like a recording.
//!
//! # Invariants
//! - Think time survives both ways: an imported exchange's send and completion are the
//!   HAR's `startedDateTime` and `startedDateTime + time`, and an exported entry's are the
//!   trace's, to the microsecond.
//! - Every refusal names the file and, inside an entry, its index and field.

pub mod export;
pub mod import;
pub mod read;
pub mod skip;

pub use import::{import, Imported, Options, Report};
pub use read::{open, Har};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not JSON (line {line}, column {column}): {reason}")]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{path}: not a HAR file ({reason})")]
    NotHar { path: PathBuf, reason: String },
    #[error("{path}: log.entries[{index}]{}: {reason}", field_suffix(field))]
    Entry {
        path: PathBuf,
        index: usize,
        field: String,
        reason: String,
    },
}

fn field_suffix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(".{field}")
    }
}
