//! Framed zstd writer. (Skeleton: the signatures are the contract; bodies to be written.)

use super::{Error, Exchange, Footer, Header};
use std::path::Path;
use std::time::Duration;

/// A frame is closed after this many exchanges…
pub const FRAME_MAX_EXCHANGES: usize = 256;
/// …or when its first exchange is this old, whichever comes first.
pub const FRAME_MAX_AGE: Duration = Duration::from_secs(1);

/// Byte counts for the recorder's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub exchanges: u64,
    /// JSON Lines bytes before compression.
    pub raw_bytes: u64,
    /// Bytes written to the file (compressed).
    pub file_bytes: u64,
}

/// Writes a trace file. Synchronous: the recorder runs it on its own thread.
pub struct Writer {
    _private: (),
}

impl Writer {
    /// Creates `path` (mode 0600, truncating nothing: fails if it exists) and writes the
    /// header as its own complete frame.
    pub fn create(path: &Path, header: &Header) -> Result<Writer, Error> {
        let _ = (path, header);
        todo!()
    }

    /// Buffers one exchange; closes the frame when it is full or old enough.
    pub fn append(&mut self, exchange: &Exchange) -> Result<(), Error> {
        let _ = exchange;
        todo!()
    }

    /// Closes the open frame if it is older than [`FRAME_MAX_AGE`]. Call at least every few
    /// hundred milliseconds when idle, so a quiet recorder still persists its last exchanges.
    pub fn tick(&mut self) -> Result<(), Error> {
        todo!()
    }

    pub fn stats(&self) -> WriterStats {
        todo!()
    }

    /// Closes the open frame, writes the footer frame and fsyncs.
    pub fn finish(self, footer: &Footer) -> Result<WriterStats, Error> {
        let _ = footer;
        todo!()
    }
}
