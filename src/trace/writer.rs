//! Framed zstd writer: every batch of lines is its own complete zstd frame.
//!
//! zstd only ends a frame when its encoder is finished (`flush` ends a block, not a frame),
//! and a reader can only trust a frame whose end and checksum it has seen. So the writer
//! keeps the JSON Lines of the open frame in memory and, when the frame closes, compresses
//! them in one go into a complete, checksummed frame and writes it with a single `write`.
//! A process killed at any moment therefore leaves complete frames plus at most one torn
//! one, and loses only the exchanges of the frame that was still open.
//!
//! # Invariants
//! - The header is alone in the first frame, written by [`Writer::create`]; the footer is
//!   alone in the last frame, written by [`Writer::finish`], which then fsyncs and compacts
//!   the file into large frames (the footer means nothing more can be lost).
//! - A frame holds whole lines only, and at most [`FRAME_MAX_EXCHANGES`] exchanges. It is
//!   closed by the first [`Writer::append`] or [`Writer::tick`] after its first exchange is
//!   [`FRAME_MAX_AGE`] old; with `tick` called every `FRAME_MAX_AGE / 2` or more often, an
//!   exchange reaches the file at most `1.5 × FRAME_MAX_AGE` after it was appended.
//! - Files are created with mode 0600 and never overwrite an existing file.
//! - Dropping a writer without `finish` still writes its open frame (no footer).

use super::{Error, Exchange, Footer, Header, Line};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A frame is closed after this many exchanges…
pub const FRAME_MAX_EXCHANGES: usize = 256;
/// …or when its first exchange is this old, whichever comes first. Half a second, so that a
/// caller ticking every quarter second still persists every exchange within a second.
pub const FRAME_MAX_AGE: Duration = Duration::from_millis(500);

/// Exchanges kept buffered for another attempt while the disk refuses writes.
const RETRY_MAX_EXCHANGES: usize = 4 * FRAME_MAX_EXCHANGES;

/// zstd level: fast enough for a recorder at tens of thousands of exchanges per second,
/// and JSON compresses well at it.
const LEVEL: i32 = 3;

/// Byte counts for the recorder's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub exchanges: u64,
    /// JSON Lines bytes before compression.
    pub raw_bytes: u64,
    /// Bytes written to the file (compressed).
    pub file_bytes: u64,
    /// Complete zstd frames written (header and footer frames included).
    pub frames: u64,
    /// Exchanges given up after the disk kept refusing writes (see [`Writer::append`]).
    pub lost: u64,
    /// Whether [`Writer::finish`] rewrote the file into large frames ([`super::compact`]);
    /// `file_bytes` and `frames` then describe the compacted file.
    pub compacted: bool,
}

impl WriterStats {
    /// Raw bytes per file byte (e.g. `8.5` for 8.5:1); 0 before anything was written.
    pub fn compression_ratio(&self) -> f64 {
        if self.file_bytes == 0 {
            0.0
        } else {
            self.raw_bytes as f64 / self.file_bytes as f64
        }
    }
}

/// Writes a trace file. Synchronous: the recorder runs it on its own thread.
pub struct Writer {
    path: PathBuf,
    file: File,
    compressor: zstd::bulk::Compressor<'static>,
    /// JSON Lines of the open frame.
    pending: Vec<u8>,
    /// Exchanges in `pending`.
    pending_exchanges: usize,
    /// When the first exchange of the open frame was appended.
    opened: Option<Instant>,
    /// Reused output buffer for compressed frames.
    out: Vec<u8>,
    stats: WriterStats,
    /// Set once `finish` has written the footer: `Drop` then has nothing left to do.
    finished: bool,
}

impl Writer {
    /// Creates `path` (mode 0600, truncating nothing: fails if it exists) and writes the
    /// header as its own complete frame.
    pub fn create(path: &Path, header: &Header) -> Result<Writer, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io)?;
        let mut compressor = zstd::bulk::Compressor::new(LEVEL).map_err(io)?;
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(io)?;
        let mut writer = Writer {
            path: path.to_path_buf(),
            file,
            compressor,
            pending: Vec::with_capacity(64 * 1024),
            pending_exchanges: 0,
            opened: None,
            out: Vec::new(),
            stats: WriterStats::default(),
            finished: false,
        };
        writer.push_line(&Line::Header(header.clone()))?;
        writer.close_frame()?;
        Ok(writer)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffers one exchange; closes the frame when it is full or old enough.
    ///
    /// An `Err` from encoding leaves the frame as it was (the exchange is not kept). An
    /// `Err` from writing a closed frame to disk cuts any partial frame off the file again
    /// and keeps the frame's lines buffered, to be written by the next close — up to
    /// `4 × FRAME_MAX_EXCHANGES`; past that they are given up and counted in
    /// [`WriterStats::lost`], so memory stays bounded on a full disk.
    pub fn append(&mut self, exchange: &Exchange) -> Result<(), Error> {
        // Serialise the borrowed exchange without cloning it into a `Line`.
        #[derive(serde::Serialize)]
        struct Tagged<'a> {
            kind: &'static str,
            #[serde(flatten)]
            exchange: &'a Exchange,
        }
        let tagged = Tagged {
            kind: "exchange",
            exchange,
        };
        self.push_json(&tagged)?;
        self.pending_exchanges += 1;
        self.stats.exchanges += 1;
        let opened = *self.opened.get_or_insert_with(Instant::now);
        if self.pending_exchanges >= FRAME_MAX_EXCHANGES || opened.elapsed() >= FRAME_MAX_AGE {
            self.close_frame()?;
        }
        Ok(())
    }

    /// Closes the open frame if it is older than [`FRAME_MAX_AGE`]. Call at least every
    /// `FRAME_MAX_AGE / 2` when idle, so a quiet recorder still persists its last exchanges.
    pub fn tick(&mut self) -> Result<(), Error> {
        match self.opened {
            Some(opened) if opened.elapsed() >= FRAME_MAX_AGE => self.close_frame(),
            _ => Ok(()),
        }
    }

    /// Closes the open frame now, whatever its age (e.g. before a planned pause).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.close_frame()
    }

    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Closes the open frame, writes the footer frame and fsyncs; then, the recording being
    /// complete, compacts the file into large frames ([`super::compact`]). A compaction that
    /// fails (a full disk) leaves the complete, uncompacted file and `compacted` false.
    pub fn finish(mut self, footer: &Footer) -> Result<WriterStats, Error> {
        self.close_frame()?;
        self.push_line(&Line::Footer(*footer))?;
        self.close_frame()?;
        self.finished = true;
        self.file.sync_all().map_err(|e| self.io(e))?;
        if let Ok(c) = super::compact::compact(&self.path) {
            self.stats.file_bytes = c.file_bytes;
            self.stats.frames = c.frames;
            self.stats.compacted = true;
        }
        Ok(self.stats)
    }

    fn push_line(&mut self, line: &Line) -> Result<(), Error> {
        self.push_json(line)
    }

    fn push_json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let start = self.pending.len();
        if let Err(e) = serde_json::to_writer(&mut self.pending, value) {
            // Leave the frame as it was: one bad record never corrupts the others.
            self.pending.truncate(start);
            return Err(self.io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)));
        }
        self.pending.push(b'\n');
        Ok(())
    }

    /// Compresses the pending lines into one complete frame and writes it in one call.
    fn close_frame(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.out.clear();
        self.out
            .reserve(zstd::zstd_safe::compress_bound(self.pending.len()));
        let compressed = self
            .compressor
            .compress_to_buffer(&self.pending, &mut self.out);
        if let Err(e) = compressed {
            return Err(self.io(e));
        }
        if let Err(e) = self.file.write_all(&self.out) {
            // Cut a partly written frame off again, so frames written later are not hidden
            // behind a torn one; the pending lines stay for a later attempt.
            let good = self.stats.file_bytes;
            let _ = self.file.set_len(good);
            let _ = self.file.seek(SeekFrom::Start(good));
            if self.pending_exchanges >= RETRY_MAX_EXCHANGES {
                // The disk has refused frame after frame: stop growing, count the loss.
                self.stats.lost += self.pending_exchanges as u64;
                self.pending.clear();
                self.pending_exchanges = 0;
                self.opened = None;
            }
            return Err(self.io(e));
        }
        self.stats.raw_bytes += self.pending.len() as u64;
        self.stats.file_bytes += self.out.len() as u64;
        self.stats.frames += 1;
        self.pending.clear();
        self.pending_exchanges = 0;
        self.opened = None;
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: keep what was appended; the missing footer tells readers the
            // recording did not end cleanly.
            let _ = self.close_frame();
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("pending_exchanges", &self.pending_exchanges)
            .field("stats", &self.stats)
            .finish()
    }
}
