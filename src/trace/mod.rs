//! Trace files: independent zstd frames of JSON Lines — header, exchanges, footer.
//!
//! # Invariants
//! - Line 1 is the header; a file whose first line is not a header, or whose version is newer
//!   than [`VERSION`], is refused with a one-line error naming the file.
//! - Every frame holds whole lines and is closed at least every second and every
//!   [`writer::FRAME_MAX_EXCHANGES`] exchanges, so a torn tail loses at most that frame.
//!   A cleanly finished file is then rewritten into frames of up to
//!   [`compact::FRAME_BYTES`] (atomically; same lines), several times smaller.
//! - The reader streams frame by frame (memory bounded by one frame) and never panics on a
//!   damaged file: it yields every exchange of every complete frame and reports the tail.

pub mod compact;
mod model;
mod reader;
mod writer;

pub use model::*;
pub use reader::{Integrity, Reader, TornTail, MAX_FRAME_BYTES};
pub use writer::{Writer, WriterStats, FRAME_MAX_AGE, FRAME_MAX_EXCHANGES};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: empty file, not a reprise trace")]
    Empty { path: PathBuf },
    #[error("{path}: not a reprise trace ({reason})")]
    NotATrace { path: PathBuf, reason: String },
    #[error(
        "{path}: trace version {found} is newer than this reprise reads ({max}); upgrade reprise"
    )]
    Version { path: PathBuf, found: u32, max: u32 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    /// The recorder runs the writer on its own thread; replay may read on a blocking thread.
    #[test]
    fn reader_and_writer_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<super::Reader>();
        send::<super::Writer>();
        send::<super::Error>();
    }
}
