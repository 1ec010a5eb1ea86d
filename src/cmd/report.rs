//! `reprise report SUMMARY… [--out DIR] [--threshold EXPR]… [--profile FILE]`: re-renders
//! the HTML and CSV of a run from its `summary.json`, or merges several exactly.
//!
//! Thresholds: those given (profile, then flags) replace the summaries' own; without any,
//! the expressions already in the summaries are evaluated again on the (merged) figures.
//! The exit code follows the result: 0 met, 1 a threshold failed, 3 the run was aborted.

use super::Exit;
use crate::cli::ReportArgs;
use crate::profile::Profile;
use crate::report::{self, Outcome, Thresholds};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let mut parts = Vec::new();
    for p in &args.summaries {
        let file = if p.is_dir() {
            p.join("summary.json")
        } else {
            p.clone()
        };
        let summary = report::load(&file)?;
        parts.push((file.display().to_string(), summary));
    }
    let out = match (&args.out, parts.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [(file, _)]) => Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        (None, _) => PathBuf::from("reports/merged"),
    };
    let name = if parts.len() == 1 {
        parts[0].1.run.name.clone()
    } else {
        out.file_name().map_or_else(
            || "merged".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };

    let mut exprs: Vec<String> = Vec::new();
    if let Some(path) = &args.profile {
        let profile = Profile::load(path)?;
        exprs.extend(profile.settings.thresholds);
    }
    exprs.extend(args.thresholds.iter().cloned());
    if exprs.is_empty() {
        for (_, s) in &parts {
            for v in &s.thresholds {
                if !exprs.contains(&v.expr) {
                    exprs.push(v.expr.clone());
                }
            }
        }
    }
    let thresholds = Thresholds::parse_all(&exprs)?;

    let mut summary = report::merge(&name, &parts)?;
    if let Some(path) = &args.profile {
        summary.run.profile = Some(path.display().to_string());
    }
    summary.thresholds = thresholds.evaluate(&summary);
    report::stages::judge(&mut summary, &thresholds);
    report::shards::judge(&mut summary, args.allow_missing);
    let written = report::write_all(&summary, &out)
        .with_context(|| format!("writing the report to {}", out.display()))?;

    if let Some(h) = report::stages::headline(&summary) {
        println!("{h}\n");
    }
    print!("{}", report::render_summary(&summary));
    let conversation = report::conversation::render(&summary.conversation);
    if !conversation.is_empty() {
        print!("\n{conversation}");
    }
    let stages = report::stages::render(&summary);
    if !stages.is_empty() {
        print!("\n{stages}");
    }
    if parts.len() > 1 {
        println!("\nmerged {} summaries", parts.len());
    }
    println!("\nreport: {}", written.html().display());
    Ok(match Outcome::of(&summary) {
        Outcome::Met => Exit::Ok,
        Outcome::ThresholdFailed => Exit::ThresholdFailed,
        Outcome::Aborted => Exit::Aborted,
    })
}
