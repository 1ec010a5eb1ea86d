//! Which shards a merge holds: expected (from each summary's `shard` `i/n`), merged,
//! missing, failed — and the spread of their start skews.
//!
//! The count `n` travels in every shard's own summary, so the merge needs no other input
//! to see that a shard never reported: a crashed or refused shard writes no summary, and
//! its index is simply absent.
//!
//! # Invariants
//! - Summaries of one merge are all shards of the same `n`, each index at most once, or
//!   none is a shard (a merge of unsharded runs); anything else is an error naming the
//!   files, since mixing two runs would give a merged report of neither.
//! - `merged ∪ missing = 0..n`, disjoint, ascending; `failed ⊆ merged`.
//! - A merge with a missing shard is judged incomplete ([`judge`]) unless the caller
//!   accepts it (`--allow-missing`): it is never called "passed" by default.

use super::Error;
use crate::metrics::summary::{FailedShard, Shards, SkewSpread, Summary};
use std::collections::BTreeMap;

/// The shards of `parts`; `None` when no part is a shard (for a single merged summary
/// being re-rendered, its own `shards`).
pub fn coverage(parts: &[(String, Summary)]) -> Result<Option<Shards>, Error> {
    let mut found: BTreeMap<u64, &(String, Summary)> = BTreeMap::new();
    let mut count: Option<(u64, &str)> = None;
    let mut unsharded: Option<&str> = None;
    for part in parts {
        let (name, s) = part;
        let Some(spec) = &s.run.shard else {
            unsharded.get_or_insert(name);
            continue;
        };
        let (index, n) = parse(spec).ok_or_else(|| {
            Error::Merge(format!(
                "{name}: run.shard `{spec}` is not i/n (0 <= i < n)"
            ))
        })?;
        match count {
            Some((c, other)) if c != n => {
                return Err(Error::Merge(format!(
                    "{name} is shard {spec} but {other} is of {c} shards: merge the shards of one run only"
                )))
            }
            Some(_) => {}
            None => count = Some((n, name)),
        }
        if let Some((other, _)) = found.insert(index, part) {
            return Err(Error::Merge(format!(
                "shard {spec} appears twice: {other} and {name}"
            )));
        }
    }
    let Some((n, sharded)) = count else {
        return Ok(match parts {
            [(_, only)] => only.run.shards.clone(),
            _ => None,
        });
    };
    if let Some(other) = unsharded {
        return Err(Error::Merge(format!(
            "{other} is not a shard but {sharded} is: merge the shards of one run only"
        )));
    }
    let failed = found
        .iter()
        .filter(|(_, (_, s))| s.run.aborted)
        .map(|(&index, (_, s))| FailedShard {
            index,
            reason: s
                .run
                .abort_reason
                .clone()
                .unwrap_or_else(|| "aborted".into()),
        })
        .collect();
    let skews: Vec<f64> = found
        .values()
        .filter_map(|(_, s)| s.run.start_skew_ms)
        .collect();
    Ok(Some(Shards {
        count: n,
        merged: found.keys().copied().collect(),
        missing: (0..n).filter(|i| !found.contains_key(i)).collect(),
        failed,
        start_skew: spread(skews),
    }))
}

/// `i/n` → `(i, n)` with `i < n`.
fn parse(spec: &str) -> Option<(u64, u64)> {
    let (i, n) = spec.split_once('/')?;
    let (i, n): (u64, u64) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (i < n).then_some((i, n))
}

/// min, median (nearest rank), max and spread of the skews (a few hundred values at most:
/// one per shard, so they are sorted, not histogrammed).
fn spread(mut skews: Vec<f64>) -> Option<SkewSpread> {
    skews.retain(|v| v.is_finite());
    if skews.is_empty() {
        return None;
    }
    skews.sort_by(f64::total_cmp);
    let (min, max) = (skews[0], skews[skews.len() - 1]);
    Some(SkewSpread {
        shards: skews.len() as u64,
        min_ms: min,
        p50_ms: skews[(skews.len() - 1) / 2],
        p100_ms: max,
        spread_ms: max - min,
    })
}

/// Marks a merge with missing shards as incomplete (aborted, with the reason) unless
/// `allow_missing`; the exit code then says 3, not 0 or 1.
pub fn judge(summary: &mut Summary, allow_missing: bool) {
    let Some(sh) = &summary.run.shards else {
        return;
    };
    if sh.missing.is_empty() || allow_missing {
        return;
    }
    let list: Vec<String> = sh
        .missing
        .iter()
        .map(|i| format!("{i}/{}", sh.count))
        .collect();
    let reason = format!(
        "incomplete: {} of {} shards missing ({}); --allow-missing judges the rest",
        sh.missing.len(),
        sh.count,
        list.join(", ")
    );
    summary.run.aborted = true;
    summary.run.abort_reason = Some(match summary.run.abort_reason.take() {
        Some(r) => format!("{reason}; {r}"),
        None => reason,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn parts(n: usize, keep: &[usize]) -> Vec<(String, Summary)> {
        fixture::seeded_shards(3, n)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(i, s)| (format!("shard-{i}"), s))
            .collect()
    }

    #[test]
    fn missing_and_failed_shards_are_listed() {
        let mut p = parts(4, &[0, 1, 3]);
        p[1].1.run.aborted = true;
        p[1].1.run.abort_reason = Some("interrupted".into());
        for (k, (_, s)) in p.iter_mut().enumerate() {
            s.run.start_skew_ms = Some([0.5, 2.0, 1.0][k]);
        }
        let c = coverage(&p).unwrap().unwrap();
        assert_eq!(c.count, 4);
        assert_eq!(c.merged, [0, 1, 3]);
        assert_eq!(c.missing, [2]);
        assert_eq!(
            c.failed,
            [FailedShard {
                index: 1,
                reason: "interrupted".into()
            }]
        );
        let sk = c.start_skew.unwrap();
        assert_eq!(
            (sk.shards, sk.min_ms, sk.p50_ms, sk.p100_ms),
            (3, 0.5, 1.0, 2.0)
        );
        assert_eq!(sk.spread_ms, 1.5);
    }

    #[test]
    fn shards_of_two_runs_do_not_mix() {
        let mut p = parts(2, &[0, 1]);
        p.extend(parts(3, &[2]));
        let e = coverage(&p).unwrap_err().to_string();
        assert!(
            e.contains("shard-2 is shard 2/3 but shard-0 is of 2 shards"),
            "{e}"
        );
        let mut twice = parts(2, &[0, 1]);
        twice[1].1.run.shard = Some("0/2".into());
        let e = coverage(&twice).unwrap_err().to_string();
        assert!(
            e.contains("shard 0/2 appears twice: shard-0 and shard-1"),
            "{e}"
        );
        let mut mixed = parts(2, &[0, 1]);
        mixed[0].1.run.shard = None;
        let e = coverage(&mixed).unwrap_err().to_string();
        assert!(e.contains("shard-0 is not a shard but shard-1 is"), "{e}");
        let mut none = parts(2, &[0, 1]);
        for (_, s) in &mut none {
            s.run.shard = None;
        }
        assert_eq!(coverage(&none).unwrap(), None);
    }

    #[test]
    fn a_missing_shard_is_incomplete_unless_allowed() {
        let p = parts(4, &[0, 1, 3]);
        let mut s = p[0].1.clone();
        s.run.shards = coverage(&p).unwrap();
        let mut allowed = s.clone();
        judge(&mut allowed, true);
        assert!(!allowed.run.aborted);
        judge(&mut s, false);
        assert!(s.run.aborted);
        assert_eq!(
            s.run.abort_reason.as_deref(),
            Some("incomplete: 1 of 4 shards missing (2/4); --allow-missing judges the rest")
        );
    }
}
