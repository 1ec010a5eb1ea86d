//! Reports of a run: `summary.json`, `report.html`, Locust-compatible CSV, console tables,
//! threshold verdicts, and the exact merge of several summaries.
//!
//! Uses only `metrics`. Everything here starts from a [`Summary`] value, so a report can be
//! rebuilt from a `summary.json` on disk at any time (`reprise report`).
//!
//! # Invariants
//! - [`write_all`] writes every file or returns the first error; it never leaves a report
//!   directory without its `summary.json` when it reports success, and `summary.json`
//!   appears whole (renamed into place), last.
//! - [`load`] refuses a file that is not a reprise summary or has a newer schema version,
//!   with an error naming the file.
//! - Rendering never fails on missing data (empty endpoints, no series, no conversation
//!   measures): sections say "not measured" instead.

pub mod abort_on;
pub mod attribution;
mod console;
pub mod conversation;
mod csv;
pub mod fixture;
pub(crate) mod format;
mod html;
pub(crate) use html::esc;
mod merge;
pub mod scrape;
pub mod shards;
pub mod stages;
pub mod success;
pub mod thresholds;

pub use console::{render_summary, render_verdicts};
pub use csv::{failures as failures_csv, stats as stats_csv, stats_history as stats_history_csv};
pub use csv::{FAILURES_HEADER, HISTORY_HEADER, STATS_HEADER};
pub use html::render as render_html;
pub use merge::merge;
pub use thresholds::measure;
pub use thresholds::{ParseError, Threshold, Thresholds};

use crate::metrics::summary::{Summary, SCHEMA, SCHEMA_VERSION};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: not a reprise summary ({detail})")]
    NotASummary { path: PathBuf, detail: String },
    #[error(
        "{path}: summary version {found} is newer than this reprise reads ({max}); upgrade reprise"
    )]
    Version { path: PathBuf, found: u64, max: u32 },
    #[error("{what}: histogram does not decode ({detail}); the summary is damaged")]
    Histogram { what: String, detail: String },
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// How a run ended, for the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every threshold met (or none given).
    Met,
    /// At least one threshold failed.
    ThresholdFailed,
    /// The run stopped early; its figures cover only part of the plan.
    Aborted,
}

impl Outcome {
    /// The summary's outcome: aborted wins over a failed threshold.
    pub fn of(summary: &Summary) -> Outcome {
        if summary.run.aborted {
            Outcome::Aborted
        } else if summary.thresholds.iter().any(|v| !v.ok) {
            Outcome::ThresholdFailed
        } else {
            Outcome::Met
        }
    }

    /// 0 met, 1 a threshold failed, 3 aborted (2, bad input, is decided by `main`).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Met => 0,
            Outcome::ThresholdFailed => 1,
            Outcome::Aborted => 3,
        }
    }
}

/// The files [`write_all`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Written {
    pub fn html(&self) -> PathBuf {
        self.dir.join("report.html")
    }
}

/// Writes `summary.json` (pretty), `report.html`, `stats.csv`, `stats_history.csv` and
/// `failures.csv` into `dir` (created if missing).
pub fn write_all(summary: &Summary, dir: &Path) -> Result<Written, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "create the report directory",
        source,
    })?;
    // render everything first, so a damaged histogram writes nothing
    let files = [
        ("stats.csv", csv::stats(summary)?),
        ("stats_history.csv", csv::stats_history(summary)?),
        ("failures.csv", csv::failures(summary)),
        ("report.html", html::render(summary)),
        ("summary.json", to_json(summary)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        // written beside and renamed into place, so a reader polling a shared volume for
        // `summary.json` (a merge waiting for its shards) never reads half a file
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| Error::Io {
                path: path.clone(),
                action: "write",
                source,
            })?;
        written.push(path);
    }
    Ok(Written {
        dir: dir.to_path_buf(),
        files: written,
    })
}

/// The end of a run, in one call for the replay command: evaluates `thresholds` into
/// `summary.thresholds`, writes every report file into `dir`, and returns what was written
/// with the run's [`Outcome`] (for the exit code). Print [`render_verdicts`] of
/// `summary.thresholds` under the final table.
pub fn finish(
    summary: &mut Summary,
    thresholds: &Thresholds,
    dir: &Path,
) -> Result<(Written, Outcome), Error> {
    judge(summary, thresholds);
    let written = write_all(summary, dir)?;
    Ok((written, Outcome::of(summary)))
}

/// Evaluates `thresholds` into `summary.thresholds`, with the verdict every run gets
/// ([`success::nothing_succeeded`]) when no request succeeded.
pub fn judge(summary: &mut Summary, thresholds: &Thresholds) {
    summary.thresholds = thresholds.evaluate(summary);
    stages::judge(summary, thresholds);
    summary
        .thresholds
        .extend(success::nothing_succeeded(summary));
}

/// Refuses a report directory that cannot be written, before a run spends its time:
/// creates it if missing and writes (then removes) a probe file in it.
pub fn check_writable(dir: &Path) -> Result<(), Error> {
    let io = |action: &'static str| {
        move |source| Error::Io {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("create the report directory"))?;
    let probe = dir.join(format!(".reprise-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(io("write the report directory"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// `summary.json` text: pretty JSON with a trailing newline.
pub fn to_json(summary: &Summary) -> String {
    let mut s = serde_json::to_string_pretty(summary).expect("a Summary always serialises");
    s.push('\n');
    s
}

/// Reads a `summary.json`, checking its schema name and version first.
pub fn load(path: &Path) -> Result<Summary, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    parse(&text, path)
}

/// [`load`] for text already in memory; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Summary, Error> {
    let not = |detail: String| Error::NotASummary {
        path: path.to_path_buf(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| not(format!("not JSON: {e}")))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => return Err(not(format!("schema is `{other}`, expected `{SCHEMA}`"))),
        None => return Err(not(format!("no `schema` field; expected `{SCHEMA}`"))),
    }
    let found = value
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| not("no numeric `version` field".into()))?;
    if found > u64::from(SCHEMA_VERSION) {
        return Err(Error::Version {
            path: path.to_path_buf(),
            found,
            max: SCHEMA_VERSION,
        });
    }
    // the path of the field at fault (`endpoints[2].latency: missing field `hist``), not
    // only serde's message
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at.is_empty() || at == "." {
            not(inner.to_string())
        } else {
            not(format!("{at}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_summary_names_the_field_path() {
        let mut v = serde_json::to_value(fixture::seeded(1)).unwrap();
        v["totals"]["latency"]
            .as_object_mut()
            .unwrap()
            .remove("hist");
        let e = parse(&v.to_string(), Path::new("s.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.json: not a reprise summary (totals.latency: missing field `hist`"),
            "{e}"
        );
    }
}
