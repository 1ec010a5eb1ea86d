//! Streaming, recovering reader.
//!
//! The file is read frame by frame through one `BufReader`: each zstd frame is decoded on
//! its own (one raw zstd context, reset at every frame start), and the reader counts the compressed bytes consumed so it knows
//! the byte offset where every frame starts. A frame's lines are yielded only once the whole
//! frame has decoded and its checksum matched, so a torn or corrupted frame contributes
//! nothing — it ends iteration and is reported by [`Reader::integrity`] as a [`TornTail`].
//!
//! # Invariants
//! - Memory is bounded by one frame's decompressed lines (refused above
//!   [`MAX_FRAME_BYTES`]), never by the file.
//! - [`Reader::open`] refuses, with a one-line [`Error`] naming the file: an empty file,
//!   anything not zstd (random bytes, gzip, plain JSON), a damaged or truncated first frame,
//!   a first line that is not a v1-or-older `reprise.trace` header, and a newer version.
//! - After `open`, bad data never yields an `Err` and never panics: it ends iteration. Only
//!   a failing read of the file itself is an `Err`.
//! - A line that is valid JSON with an unknown `kind` (a record added by a later minor
//!   version) is skipped and counted; unknown fields in known records are ignored. A line of
//!   a known kind that does not parse, or a second header, ends iteration as damage.

use super::{Error, Exchange, Footer, Header, Line, FORMAT, VERSION};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use zstd::stream::raw::Operation as _;

/// A frame that decompresses to more than this is treated as damage, so a hostile or broken
/// file cannot make the reader allocate without bound.
pub const MAX_FRAME_BYTES: u64 = 256 * 1024 * 1024;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Where a damaged file stops making sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset of the first frame that could not be decoded (or that holds a line that
    /// is not a valid record; the frame's lines before that one were yielded).
    pub offset: u64,
    /// Exchanges recovered in all.
    pub recovered: u64,
    /// The line (1-based, of the decompressed stream) that is not a valid record, when a
    /// line is what broke; `None` when the frame itself does not decode.
    pub line: Option<u64>,
    /// What is wrong there, in words.
    pub why: &'static str,
}

impl std::fmt::Display for TornTail {
    /// `damaged at byte 812: line 17 is not a valid record (…); 15 exchanges recovered`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "damaged at byte {}: ", self.offset)?;
        if let Some(l) = self.line {
            write!(f, "line {l} ")?;
        }
        write!(
            f,
            "{}; {} exchanges recovered before it",
            self.why, self.recovered
        )
    }
}

/// Why a tail is torn.
const FRAME_DAMAGED: &str = "the frame does not decode (the file is cut short or corrupted)";
const NOT_A_RECORD: &str = "is not a valid record (not a JSON header, exchange or footer line)";
const SECOND_HEADER: &str = "is a second header (two traces concatenated?)";

/// What the reader learned about the file's state once it reached the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrity {
    pub footer: Option<Footer>,
    pub torn: Option<TornTail>,
    /// Exchanges yielded.
    pub exchanges: u64,
    /// Lines skipped because their `kind` is unknown to this version.
    pub skipped: u64,
}

/// Reads a trace frame by frame. Iterate for exchanges; then ask [`Reader::integrity`].
pub struct Reader {
    path: PathBuf,
    input: Counting<BufReader<File>>,
    header: Header,
    /// Decompressed lines of the current frame, and how far they have been read.
    frame: Vec<u8>,
    pos: usize,
    /// Lines of the decompressed stream taken so far (blank ones included).
    lines: u64,
    /// Byte offset of the current frame in the file.
    frame_offset: u64,
    integrity: Integrity,
    done: bool,
    /// One zstd context for the whole file, reset at each frame.
    decoder: zstd::stream::raw::Decoder<'static>,
    /// Decoder output, copied into `frame`.
    scratch: Box<[u8]>,
}

/// Why a frame could not be read.
enum Fault {
    /// The bytes are not a complete, valid zstd frame (or decompress to too much).
    Damaged,
    /// Reading the file failed.
    Io(io::Error),
}

impl Reader {
    /// Opens `path` and reads the header; refuses non-traces and newer versions.
    pub fn open(path: &Path) -> Result<Reader, Error> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let not_a_trace = |reason: &str| Error::NotATrace {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let file = File::open(path).map_err(io_err)?;
        let mut input = Counting {
            inner: BufReader::with_capacity(64 * 1024, file),
            consumed: 0,
            failed: false,
        };
        let start = input.fill_buf().map_err(io_err)?;
        if start.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        if start.starts_with(&GZIP_MAGIC) {
            return Err(not_a_trace("gzip-compressed; a trace is zstd-compressed"));
        }
        if start.len() < ZSTD_MAGIC.len() && ZSTD_MAGIC.starts_with(start) {
            return Err(not_a_trace(
                "truncated header: the file ends inside its first frame",
            ));
        }
        if !start.starts_with(&ZSTD_MAGIC) {
            let first = start.iter().find(|b| !b.is_ascii_whitespace());
            return Err(not_a_trace(if first == Some(&b'{') {
                "plain JSON Lines; a trace is zstd-compressed"
            } else {
                "not zstd-compressed"
            }));
        }
        let mut reader = Reader {
            path: path.to_path_buf(),
            input,
            header: Header::new(Default::default()),
            frame: Vec::new(),
            pos: 0,
            lines: 0,
            frame_offset: 0,
            integrity: Integrity::default(),
            done: false,
            decoder: zstd::stream::raw::Decoder::new().map_err(io_err)?,
            scratch: vec![0; 128 * 1024].into_boxed_slice(),
        };
        match reader.read_frame() {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Empty {
                    path: path.to_path_buf(),
                })
            }
            Err(Fault::Io(e)) => return Err(io_err(e)),
            Err(Fault::Damaged) => {
                return Err(not_a_trace(
                    "truncated header: the first frame is incomplete or damaged",
                ))
            }
        }
        let Some((a, b)) = reader.take_line() else {
            return Err(not_a_trace("the first frame holds no header line"));
        };
        reader.header = parse_header(&reader.frame[a..b]).map_err(|fault| match fault {
            HeaderFault::NotATrace(reason) => not_a_trace(&reason),
            HeaderFault::Version(found) => Error::Version {
                path: path.to_path_buf(),
                found,
                max: VERSION,
            },
        })?;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Valid once iteration has ended (a torn tail ends iteration; it is not an error).
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// Decodes the next frame into `self.frame`. `Ok(false)` at a clean end of file.
    fn read_frame(&mut self) -> Result<bool, Fault> {
        self.frame.clear();
        self.pos = 0;
        self.frame_offset = self.input.consumed;
        match self.input.fill_buf() {
            Ok([]) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(Fault::Io(e)),
        }
        if self.decoder.reinit().is_err() {
            return Err(Fault::Damaged);
        }
        loop {
            let input = match self.input.fill_buf() {
                Ok(input) => input,
                Err(e) => return Err(Fault::Io(e)),
            };
            let status = self
                .decoder
                .run_on_buffers(input, &mut self.scratch)
                .map_err(|_| Fault::Damaged)?;
            self.input.consume(status.bytes_read);
            self.frame
                .extend_from_slice(&self.scratch[..status.bytes_written]);
            if self.frame.len() as u64 > MAX_FRAME_BYTES {
                return Err(Fault::Damaged);
            }
            if status.remaining == 0 {
                // End of frame: fully decoded, flushed, and its checksum matched.
                return Ok(true);
            }
            if status.bytes_read == 0 && status.bytes_written == 0 {
                // With room for output, zstd always progresses on input it has: no progress
                // means the file ends inside the frame (no input left), or bad input.
                return Err(Fault::Damaged);
            }
        }
    }

    /// The byte range of the next non-blank line of the current frame.
    fn take_line(&mut self) -> Option<(usize, usize)> {
        while self.pos < self.frame.len() {
            let rest = &self.frame[self.pos..];
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let (a, b) = (self.pos, self.pos + len);
            self.lines += 1;
            // Past the newline, or at the end of a last line that has none.
            self.pos = if b < self.frame.len() { b + 1 } else { b };
            if !self.frame[a..b].iter().all(u8::is_ascii_whitespace) {
                return Some((a, b));
            }
        }
        None
    }

    /// Ends iteration at the current frame, recording it as the torn tail: `why` at `line`
    /// (the line just taken) or, without a line, the frame itself.
    fn tear(&mut self, why: &'static str, line: bool) {
        self.done = true;
        self.integrity.torn = Some(TornTail {
            offset: self.frame_offset,
            recovered: self.integrity.exchanges,
            line: line.then_some(self.lines),
            why,
        });
    }
}

impl Reader {
    /// The next exchange as `fast` reads it from its line, or — when `fast` declines (a
    /// line it does not read, an exchange line not written as reprise writes them) — as
    /// `full` makes it from the parsed [`Exchange`]. What a line must be, what ends
    /// iteration and what is counted are the iterator's rules: `fast` may only accept a
    /// line the iterator would yield as an exchange. For readers that keep a few fields of
    /// each exchange (a replay plan) without building the whole of it.
    pub fn next_with<T>(
        &mut self,
        fast: &mut dyn FnMut(&[u8]) -> Option<T>,
        full: &mut dyn FnMut(Exchange) -> T,
    ) -> Option<Result<T, Error>> {
        while !self.done {
            let Some((a, b)) = self.take_line() else {
                match self.read_frame() {
                    Ok(true) => continue,
                    Ok(false) => self.done = true,
                    Err(Fault::Damaged) => self.tear(FRAME_DAMAGED, false),
                    Err(Fault::Io(source)) => {
                        self.done = true;
                        return Some(Err(Error::Io {
                            path: self.path.clone(),
                            source,
                        }));
                    }
                }
                continue;
            };
            let line = &self.frame[a..b];
            if line.starts_with(br#"{"kind":"exchange","#) {
                if let Some(t) = fast(line) {
                    self.integrity.exchanges += 1;
                    return Some(Ok(t));
                }
            }
            match classify(line) {
                Record::Line(Line::Exchange(exchange)) => {
                    self.integrity.exchanges += 1;
                    return Some(Ok(full(exchange)));
                }
                Record::Line(Line::Footer(footer)) => self.integrity.footer = Some(footer),
                Record::Unknown => self.integrity.skipped += 1,
                Record::Line(Line::Header(_)) => self.tear(SECOND_HEADER, true),
                Record::Damaged => self.tear(NOT_A_RECORD, true),
            }
        }
        None
    }
}

impl Iterator for Reader {
    /// An I/O error reading the file; a damaged tail is reported by `integrity` instead.
    type Item = Result<Exchange, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(&mut |_| None, &mut |e| e)
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("offset", &self.frame_offset)
            .field("integrity", &self.integrity)
            .finish()
    }
}

// One record at a time, returned by value and never stored: size difference is harmless.
#[allow(clippy::large_enum_variant)]
enum Record {
    Line(Line),
    /// Valid JSON object whose `kind` this version does not know.
    Unknown,
    Damaged,
}

fn classify(line: &[u8]) -> Record {
    // Fast path for the line reprise writes most: serde's internally tagged `Line` would
    // first buffer the whole object, then convert it; `Exchange` ignores the `kind` field.
    if line.starts_with(br#"{"kind":"exchange","#) {
        if let Ok(exchange) = serde_json::from_slice::<Exchange>(line) {
            return Record::Line(Line::Exchange(exchange));
        }
    }
    match serde_json::from_slice::<Line>(line) {
        Ok(line) => Record::Line(line),
        // Only on the error path: is it a record kind from the future, or damage?
        Err(_) => match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => match map.get("kind") {
                Some(serde_json::Value::String(kind))
                    if !matches!(kind.as_str(), "header" | "exchange" | "footer") =>
                {
                    Record::Unknown
                }
                _ => Record::Damaged,
            },
            _ => Record::Damaged,
        },
    }
}

enum HeaderFault {
    NotATrace(String),
    Version(u32),
}

/// Checks the kind, format and version before the rest, so a newer version is reported as
/// such even when its header has a different shape.
fn parse_header(line: &[u8]) -> Result<Header, HeaderFault> {
    let not = |s: &str| HeaderFault::NotATrace(s.to_string());
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|_| not("first line is not a header"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| not("first line is not a header"))?;
    if obj.get("kind").and_then(|k| k.as_str()) != Some("header") {
        return Err(not("first line is not a header"));
    }
    match obj.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(HeaderFault::NotATrace(format!(
                "header format is `{other}`, expected `{FORMAT}`"
            )))
        }
        None => return Err(not("header has no `format`")),
    }
    let version = obj
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| not("header has no numeric `version`"))?;
    if version > u64::from(VERSION) {
        return Err(HeaderFault::Version(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    if version == 0 {
        return Err(not("header version 0 does not exist"));
    }
    match serde_json::from_value::<Line>(value) {
        Ok(Line::Header(header)) => Ok(header),
        Ok(_) => Err(not("first line is not a header")),
        Err(e) => Err(HeaderFault::NotATrace(format!("bad header: {e}"))),
    }
}

/// A `BufRead` that counts the bytes consumed from it (the compressed offset) and remembers
/// whether the file itself failed, to tell I/O errors from damaged data.
struct Counting<R> {
    inner: R,
    consumed: u64,
    failed: bool,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.consumed += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(buf) => Ok(buf),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.consumed += amt as u64;
    }
}
