//! One file per command: the only layer that wires modules together. Each `run` takes its
//! clap `Args`, builds typed configs, runs, and returns an [`Exit`] code; errors (bad input,
//! unreadable files) become exit code 2 in `main`.

pub mod capacity;
pub mod demo;
pub mod error;
pub mod har;
pub mod inspect;
pub mod mock;
pub mod out;
pub mod record;
pub mod replay;
pub mod report;
pub mod signals;
pub mod ui;

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success; every threshold met.
    Ok = 0,
    /// A threshold failed.
    ThresholdFailed = 1,
    /// Bad usage or input.
    BadInput = 2,
    /// The run was aborted (Ctrl-C, target unreachable).
    Aborted = 3,
}

/// A multi-threaded tokio runtime for a command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
