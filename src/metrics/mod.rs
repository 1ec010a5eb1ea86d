//! Measurements: HDR histograms, failure counters, time series and the run summary.
//!
//! Uses nothing else of ours. Recording happens per worker (no shared lock per request);
//! workers' figures merge through [`Hist::add`] and [`HistSummary::merged`].

pub mod conversation;
mod hist;
pub mod recorder;
pub mod scraped;
pub mod series;
pub mod server_timing;
pub mod sse;
pub mod summary;

pub use hist::{Hist, HistSummary};
pub use recorder::{Failure, Recorder, Sample};
pub use series::Second;
pub use summary::Summary;
