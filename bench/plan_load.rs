//! Loads recordings into a replay plan and prints what it cost, as one JSON line.
//!
//! `cargo run --release --example plan_load -- FILE...` (see `bench/plan_scale.sh`).
//! Prints `{"exchanges", "sessions", "routes", "load_s", "cpu_s", "exchanges_per_s",
//! "base_rss_kb", "peak_rss_kb", "plan_rss_kb", "plan_bytes_per_exchange"}`: `load_s` is
//! wall time of `load_plan` (what `reprise replay` does before its first request), `cpu_s`
//! the process's CPU time over it; `peak_rss_kb` is the process's high-water mark (VmHWM)
//! after loading, `plan_rss_kb` what stays resident with the plan built (VmRSS after
//! loading minus before), divided by the exchanges read for the last figure.

use std::time::Instant;

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_s() -> f64 {
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

fn main() -> anyhow::Result<()> {
    let files: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    anyhow::ensure!(!files.is_empty(), "usage: plan_load FILE...");
    let base = status_kb("VmRSS:");
    let (t0, c0) = (Instant::now(), cpu_s());
    let plan = reprise::cmd::replay::load_plan(&files, &[])?;
    let (load_s, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    let (peak, now) = (status_kb("VmHWM:"), status_kb("VmRSS:"));
    let plan_kb = now.saturating_sub(base);
    println!(
        "{}",
        serde_json::json!({
            "exchanges": plan.exchanges,
            "sessions": plan.sessions.len(),
            "routes": plan.routes.len(),
            "load_s": load_s,
            "cpu_s": cpu,
            "exchanges_per_s": plan.exchanges as f64 / load_s,
            "base_rss_kb": base,
            "peak_rss_kb": peak,
            "plan_rss_kb": plan_kb,
            "plan_bytes_per_exchange": plan_kb as f64 * 1024.0 / plan.exchanges.max(1) as f64,
        })
    );
    drop(plan);
    Ok(())
}
