//! Exact merge of two `summary.json` conversation sections (shards of one run).
//!
//! # Invariants
//! - Histograms merge through their lossless encodings, counts add, rates are recomputed
//!   from the merged counts; merging with an empty section is the identity.
//! - Examples keep the first section's, then the second's, up to the larger of the two
//!   lists' lengths and the default number kept ([`Config::default`]'s `max_examples`).
//! - Path counts add (up to the cap of distinct paths) and their distances are recomputed.

use super::{node_divergence, paths, Config, Error};
use crate::metrics::summary::{Conversation, Divergence, Isolation, Streaming};
use crate::metrics::HistSummary;
use std::collections::BTreeMap;

/// `a` and `b` as if one recorder had seen both.
pub fn merge_summaries(a: &Conversation, b: &Conversation) -> Result<Conversation, Error> {
    let mut examples = a.isolation.examples.clone();
    let keep = (a.isolation.examples.len())
        .max(b.isolation.examples.len())
        .max(Config::default().max_examples);
    let room = keep.saturating_sub(examples.len());
    examples.extend(b.isolation.examples.iter().take(room).cloned());
    let mut by_node = a.divergence.by_node.clone();
    for (node, d) in &b.divergence.by_node {
        let m = by_node.entry(node.clone()).or_default();
        *m = node_divergence(m.compared + d.compared, m.diverged + d.diverged);
    }
    Ok(Conversation {
        nodes: hists(&a.nodes, &b.nodes, "nodes")?,
        recorded_nodes: hists(&a.recorded_nodes, &b.recorded_nodes, "recorded_nodes")?,
        turns: hists(&a.turns, &b.turns, "turns")?,
        recorded_turns: hists(&a.recorded_turns, &b.recorded_turns, "recorded_turns")?,
        streaming: streaming(&a.streaming, &b.streaming)?,
        server_timing: hists(&a.server_timing, &b.server_timing, "server_timing")?,
        server_timing_malformed: a.server_timing_malformed + b.server_timing_malformed,
        fields: counts(&a.fields, &b.fields),
        divergence: Divergence {
            compared: a.divergence.compared + b.divergence.compared,
            diverged: a.divergence.diverged + b.divergence.diverged,
            by_node,
            first_turn: counts(&a.divergence.first_turn, &b.divergence.first_turn),
        },
        isolation: Isolation {
            cross_talk: a.isolation.cross_talk + b.isolation.cross_talk,
            examples,
        },
        paths: paths::paths(
            paths::merge_counts(&a.paths.live, &b.paths.live),
            paths::merge_counts(&a.paths.recorded, &b.paths.recorded),
        ),
        follow: paths::merge_follow(&a.follow, &b.follow),
    })
}

fn merged(a: &HistSummary, b: &HistSummary, key: &str) -> Result<HistSummary, Error> {
    a.merged(b).map_err(|message| Error::Hist {
        key: key.to_string(),
        message,
    })
}

fn hists(
    a: &BTreeMap<String, HistSummary>,
    b: &BTreeMap<String, HistSummary>,
    section: &str,
) -> Result<BTreeMap<String, HistSummary>, Error> {
    let mut out = a.clone();
    for (k, h) in b {
        let m = match out.get(k) {
            Some(mine) => merged(mine, h, &format!("{section}.{k}"))?,
            None => h.clone(),
        };
        out.insert(k.clone(), m);
    }
    Ok(out)
}

fn streaming(
    a: &BTreeMap<String, Streaming>,
    b: &BTreeMap<String, Streaming>,
) -> Result<BTreeMap<String, Streaming>, Error> {
    let mut out = a.clone();
    for (k, s) in b {
        let m = match out.get(k) {
            Some(mine) => {
                let key = |f: &str| format!("streaming.{k}.{f}");
                Streaming {
                    responses: mine.responses + s.responses,
                    ttft: merged(&mine.ttft, &s.ttft, &key("ttft"))?,
                    gap: merged(&mine.gap, &s.gap, &key("gap"))?,
                    events: merged(&mine.events, &s.events, &key("events"))?,
                    duration: merged(&mine.duration, &s.duration, &key("duration"))?,
                }
            }
            None => s.clone(),
        };
        out.insert(k.clone(), m);
    }
    Ok(out)
}

fn counts(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = a.clone();
    for (k, n) in b {
        *out.entry(k.clone()).or_default() += n;
    }
    out
}
