//! Streaming, recovering reader. (Skeleton: the signatures are the contract.)

use super::{Error, Exchange, Footer, Header};
use std::path::Path;

/// Where a damaged file stops making sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset of the first frame that could not be decoded.
    pub offset: u64,
    /// Exchanges recovered before it.
    pub recovered: u64,
}

/// What the reader learned about the file's state once it reached the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrity {
    pub footer: Option<Footer>,
    pub torn: Option<TornTail>,
    /// Exchanges yielded.
    pub exchanges: u64,
}

/// Reads a trace frame by frame. Iterate for exchanges; then ask [`Reader::integrity`].
pub struct Reader {
    _private: (),
}

impl Reader {
    /// Opens `path` and reads the header; refuses non-traces and newer versions.
    pub fn open(path: &Path) -> Result<Reader, Error> {
        let _ = path;
        todo!()
    }

    pub fn header(&self) -> &Header {
        todo!()
    }

    /// Valid once iteration has ended (a torn tail ends iteration; it is not an error).
    pub fn integrity(&self) -> Integrity {
        todo!()
    }
}

impl Iterator for Reader {
    /// An I/O error reading the file; a damaged tail is reported by `integrity` instead.
    type Item = Result<Exchange, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}
