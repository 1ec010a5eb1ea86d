//! Target metrics: a Prometheus text-format reader and the loop that scrapes a target's
//! endpoint during a run.
//!
//! Uses `metrics` (where the scraped series live in the summary) and nothing else of ours.

pub mod poll;
pub mod target;
pub mod text;

pub use poll::Handle;
pub use target::Target;
