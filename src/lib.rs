//! reprise: record real user sessions against an HTTP API through a proxy, replay them as
//! load — multiplied, time-compressed, ids rewritten, think time kept — and report where the
//! service breaks.
//!
//! Stages are joined by files: `record` → `.trace.zst` → `replay` → `summary.json` → `report`.
//! Dependencies point one way: `trace`, `metrics`, `timing`, `mock`, `tls`, `secrets` use
//! nothing of ours; `profile` uses `timing`; `record` uses `trace`, `correlate`, `tls`, `secrets`; `inspect` uses
//! `trace`, `correlate`, `secrets`; `replay` uses `trace`, `correlate`,
//! `metrics`, `tls`, `timing`;
//! `report` uses `metrics`; `har` uses `trace`, `correlate` and `record`'s redaction;
//! `engine` uses `replay` and `metrics`; `capacity` uses `replay`, `metrics`, `report` and
//! `scrape`; `web` uses `replay`, `metrics`, `report` and `scrape`'s text writer; only `cmd`
//! uses everything.

pub mod capacity;
pub mod cli;
pub mod cmd;
pub mod correlate;
pub mod engine;
pub mod har;
pub mod inspect;
pub mod metrics;
pub mod mock;
pub mod profile;
pub mod record;
pub mod replay;
pub mod report;
pub mod scrape;
pub mod secrets;
pub mod timing;
pub mod tls;
pub mod trace;
pub mod web;
