//! `reprise import-har FILE -o x.trace.zst` and `reprise export-har TRACE -o x.har`
//! (logic in [`crate::har`]).
//!
//! Import writes an ordinary recording with the trace writer and prints what it kept and
//! skipped; an unusable file or entry is exit 2 with the entry index and field. Export
//! reads a recording (a torn tail is warned about, as replay does) and writes one HAR
//! document; it holds the recording's exchanges in memory to put them in send order.

use super::Exit;
use crate::cli::{ExportHarArgs, ImportHarArgs};
use crate::correlate::session::Rules;
use crate::har::{self, Report};
use crate::trace::{self, Footer, Header, Reader, Writer};
use anyhow::{bail, Context};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

pub fn import(args: ImportHarArgs) -> anyhow::Result<Exit> {
    let options = har::Options {
        rules: Rules::from_parts(
            &args.session_response,
            &args.session_request,
            &args.session_path,
        )?,
        redaction: super::record::redaction(
            args.no_redact,
            &args.redact_headers,
            &args.redact_json,
        )?,
        keep_all: args.keep_all,
    };
    // The library error names the file, the entry and the field, on one line.
    let parsed = har::open(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let imported = har::import(&parsed, &options);
    let report = &imported.report;
    if imported.exchanges.is_empty() {
        bail!(
            "{}: nothing to import: {} of {} entries skipped ({}); --keep-all imports them",
            args.file.display(),
            report.skipped.values().sum::<usize>(),
            report.entries,
            skipped(report)
        );
    }
    let mut source = serde_json::Map::new();
    source.insert("har".into(), args.file.display().to_string().into());
    if let Some(c) = &parsed.creator {
        source.insert("creator".into(), c.clone().into());
    }
    if let Some(o) = &imported.origin {
        source.insert("upstream".into(), o.clone().into());
    }
    let mut writer = Writer::create(&args.out, &Header::new(source))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("creating the recording")?;
    // A trace lists exchanges in completion order, as the recorder writes them.
    let mut order: Vec<&trace::Exchange> = imported.exchanges.iter().collect();
    order.sort_by_key(|e| (e.t_us + e.done_us, e.id));
    for ex in order {
        writer.append(ex).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let sessions: HashSet<&str> = imported
        .exchanges
        .iter()
        .filter_map(|e| e.session.as_deref())
        .collect();
    let stats = writer
        .finish(&Footer {
            exchanges: imported.exchanges.len() as u64,
            sessions: sessions.len() as u64,
            dropped: 0,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    print!(
        "{}",
        summary(&args.file, &args.out, report, stats.file_bytes)
    );
    if let Some(why) = &report.sanitized {
        eprintln!(
            "note: {}: {why}. The recording carries no credentials: pass them at replay, e.g. \
             --header 'Authorization: Bearer …' or --header 'Cookie: …'",
            args.file.display()
        );
    }
    Ok(Exit::Ok)
}

fn skipped(r: &Report) -> String {
    if r.skipped.is_empty() {
        return "none".into();
    }
    r.skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The import's console summary.
pub fn summary(file: &Path, out: &Path, r: &Report, bytes: u64) -> String {
    let found: Vec<String> = r
        .sessions
        .iter()
        .map(|(how, n)| format!("{n} by {how}"))
        .collect();
    let mut s = format!(
        "imported {} -> {} ({bytes} bytes)\n",
        file.display(),
        out.display()
    );
    s += &format!("  entries      {}\n", r.entries);
    s += &format!("  exchanges    {}\n", r.imported);
    s += &format!(
        "  sessions     {}{}\n",
        r.sessions_total(),
        if found.is_empty() {
            String::new()
        } else {
            format!(" ({})", found.join(", "))
        }
    );
    if r.unkeyed > 0 {
        s += &format!(
            "  no session   {} (replayed grouped by connection)\n",
            r.unkeyed
        );
    }
    s += &format!(
        "  skipped      {} ({})\n",
        r.skipped.values().sum::<usize>(),
        skipped(r)
    );
    s
}

pub fn export(args: ExportHarArgs) -> anyhow::Result<Exit> {
    let mut reader = Reader::open(&args.trace).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut exchanges = Vec::new();
    for ex in reader.by_ref() {
        exchanges.push(ex.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if let Some(t) = reader.integrity().torn {
        eprintln!(
            "warning: {}: damaged after byte {}; exporting the {} exchanges before it",
            args.trace.display(),
            t.offset,
            t.recovered
        );
    }
    let base = match &args.base_url {
        Some(b) => {
            crate::record::Upstream::parse(b).map_err(|e| {
                anyhow::anyhow!("{}", e.to_string().replace("--upstream", "--base-url"))
            })?;
            b.clone()
        }
        None => reader
            .header()
            .source
            .get("upstream")
            .and_then(|v| v.as_str())
            .unwrap_or("http://localhost")
            .to_string(),
    };
    let comment = format!("exported by reprise from {}", args.trace.display());
    let doc = har::export::document(&mut exchanges, &base, &comment);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("{}: cannot create the HAR file", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")?;
    out.flush()
        .with_context(|| format!("{}: write failed", args.out.display()))?;
    println!(
        "exported {} -> {} ({} entries)",
        args.trace.display(),
        args.out.display(),
        exchanges.len()
    );
    Ok(Exit::Ok)
}
