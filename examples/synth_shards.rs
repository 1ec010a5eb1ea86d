//! Synthetic shard summaries for `bench/merge.sh`: what the merge of a 100-pod test reads.
//!
//! `cargo run --release --example synth_shards -- DIR [SHARDS] [SECONDS]` writes
//! `DIR/shard-<i>/` (summary.json and the rest, as a shard writes them) for SHARDS shards
//! (default 100) of a run SECONDS long (default 600): each is a seeded fixture summary —
//! every endpoint, conversation and Server-Timing histogram filled — with its 1-second
//! series stretched to SECONDS points (a histogram each), `shard i/n` and a start skew.

use reprise::report::{self, fixture};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .expect("usage: synth_shards DIR [SHARDS] [SECONDS]"),
    );
    let shards: u64 = args.next().map_or(100, |s| s.parse().expect("SHARDS"));
    let seconds: usize = args.next().map_or(600, |s| s.parse().expect("SECONDS"));
    let mut bytes = 0u64;
    for i in 0..shards {
        let mut s = fixture::seeded(1000 + i);
        let base = s.series.clone();
        let t0 = base.first().map_or(0, |p| p.t);
        s.series = (0..seconds)
            .map(|k| {
                let mut p = base[k % base.len()].clone();
                p.t = t0 + k as i64;
                p
            })
            .collect();
        s.run.shard = Some(format!("{i}/{shards}"));
        s.run.start_at = Some(s.run.started_at.clone());
        s.run.start_skew_ms = Some(0.5 + (i * 37 % 100) as f64 / 20.0);
        let d = dir.join(format!("shard-{i}"));
        report::write_all(&s, &d).expect("write the shard's report");
        bytes += std::fs::metadata(d.join("summary.json")).map_or(0, |m| m.len());
    }
    println!(
        "wrote {shards} shard summaries of {seconds} s each under {}: {:.1} MB of summary.json ({:.0} KB each)",
        dir.display(),
        bytes as f64 / 1e6,
        bytes as f64 / shards as f64 / 1e3
    );
}
