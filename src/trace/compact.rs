//! Compaction: a cleanly finished trace re-encoded into large frames.
//!
//! While recording, the writer cuts a frame every few hundred exchanges or half second so a
//! crash loses little; each frame restarts zstd's window, and the fast level the recorder
//! can afford leaves size on the table (a recorded sample: 56 KB in 500 ms frames, 19 KB
//! as large frames — `bench/trace.sh`). Once the footer is written nothing more can be
//! lost, so [`compact`] rewrites the same lines into frames of up to [`FRAME_BYTES`] of
//! JSON Lines at [`LEVEL`], beside the file, fsyncs, and renames it over the original.
//!
//! # Invariants
//! - The decompressed stream is byte for byte the same: only frame boundaries move.
//! - The header stays alone in the first frame and the footer alone in the last, so a
//!   reader opens a compacted file as fast as a fresh one and the footer is read last.
//! - A frame holds whole lines and at most [`FRAME_BYTES`] of them (or one longer line), so
//!   the reader's memory stays bounded by one frame.
//! - Atomic: the original is replaced only by a complete, fsynced copy; on any failure
//!   the copy is removed and the original — itself complete — is kept.

use super::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// JSON Lines per compacted frame (before compression): the reader holds one frame.
pub const FRAME_BYTES: usize = 8 << 20;

/// zstd level of compacted frames: slower than the recorder's level 3, run once, at the
/// stop (`bench/trace.sh` prints the rate and the sizes).
pub const LEVEL: i32 = 9;

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Bytes of the file after compaction.
    pub file_bytes: u64,
    pub frames: u64,
}

/// Rewrites the finished trace at `path` into large frames (see the module docs).
pub fn compact(path: &Path) -> Result<Compacted, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = beside(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // Not ours if it exists (another compaction, or a user's file): left alone.
    let file = options.open(&tmp).map_err(io)?;
    let result = write_compacted(path, file).and_then(|c| {
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is; not every platform can open one.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(c)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// `dir/.name.compacting`: hidden, beside the file so the rename stays on one filesystem.
fn beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.compacting"))
}

fn write_compacted(path: &Path, file: File) -> std::io::Result<Compacted> {
    let input = zstd::stream::read::Decoder::new(File::open(path)?)?;
    let mut lines = BufReader::with_capacity(256 << 10, input);
    let mut out = Frames {
        file,
        compressor: zstd::bulk::Compressor::new(LEVEL)?,
        buf: Vec::new(),
        stats: Compacted {
            file_bytes: 0,
            frames: 0,
        },
    };
    out.compressor
        .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    let mut pending: Vec<u8> = Vec::with_capacity(FRAME_BYTES + (64 << 10));
    let mut line: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let footer = line.starts_with(br#"{"kind":"footer""#);
        if first || footer {
            // Alone in its frame: the header first, the footer last.
            out.frame(&pending)?;
            pending.clear();
            out.frame(&line)?;
            first = false;
            continue;
        }
        if !pending.is_empty() && pending.len() + line.len() > FRAME_BYTES {
            out.frame(&pending)?;
            pending.clear();
        }
        pending.extend_from_slice(&line);
    }
    out.frame(&pending)?;
    out.file.sync_all()?;
    Ok(out.stats)
}

struct Frames {
    file: File,
    compressor: zstd::bulk::Compressor<'static>,
    buf: Vec<u8>,
    stats: Compacted,
}

impl Frames {
    /// Writes `lines` as one complete frame (nothing for no lines).
    fn frame(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        self.buf
            .reserve(zstd::zstd_safe::compress_bound(lines.len()));
        self.compressor.compress_to_buffer(lines, &mut self.buf)?;
        self.file.write_all(&self.buf)?;
        self.stats.file_bytes += self.buf.len() as u64;
        self.stats.frames += 1;
        Ok(())
    }
}
