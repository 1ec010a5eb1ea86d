//! The scrape loop: reads each target's metrics page on its own interval during a run, off
//! the replay's threads, and keeps the samples as series on the run's time axis.
//!
//! Runs on one thread of its own with a current-thread runtime, so it never competes with
//! the virtual users' workers for a scheduler slot; it only sleeps and reads.
//!
//! # Invariants
//! - A scrape never takes longer than its timeout (the interval, at most 10 s); ticks that
//!   fall during a slow scrape are skipped, never queued.
//! - A failed scrape (connect, timeout, status, body) is counted with its message and the
//!   loop goes on; nothing here can stop the run.
//! - `_bucket` samples of histograms are not kept (their many series would dominate the
//!   summary); `_sum`, `_count` and every other sample are. At most [`MAX_SERIES`] series
//!   per target; samples past that are counted in `dropped`.
//! - Cancelling the token ends every target's loop after its current scrape.

use super::target::Target;
use super::text::{self, Kind};
use crate::metrics::scraped::{self, Scraped, Series};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Series kept per target.
pub const MAX_SERIES: usize = 2000;

/// The running loop; [`Handle::finish`] stops it and returns what it scraped.
pub struct Handle {
    cancel: CancellationToken,
    thread: std::thread::JoinHandle<Scraped>,
}

impl Handle {
    /// Stops scraping and returns the series.
    pub fn finish(self) -> Scraped {
        self.cancel.cancel();
        self.thread.join().unwrap_or_default()
    }
}

/// Starts scraping `targets`, with times measured from `start` (the run's start).
pub fn start(targets: Vec<Target>, start: std::time::Instant) -> std::io::Result<Handle> {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let thread = std::thread::Builder::new()
        .name("reprise-scrape".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return Scraped::default(),
            };
            rt.block_on(run(targets, Instant::from_std(start), c))
        })?;
    Ok(Handle { cancel, thread })
}

/// Scrapes every target until `cancel`; the result keeps the targets' order.
pub async fn run(targets: Vec<Target>, start: Instant, cancel: CancellationToken) -> Scraped {
    let client = reqwest::Client::builder()
        .user_agent(concat!("reprise/", env!("CARGO_PKG_VERSION"), " (scrape)"))
        .build()
        .unwrap_or_default();
    let loops = targets
        .into_iter()
        .map(|t| one(client.clone(), t, start, cancel.clone()));
    Scraped {
        targets: futures_util::future::join_all(loops).await,
    }
}

async fn one(
    client: reqwest::Client,
    target: Target,
    start: Instant,
    cancel: CancellationToken,
) -> scraped::Target {
    let timeout = target.interval.min(Duration::from_secs(10));
    let mut acc = Accumulator::new(&target);
    let mut tick = tokio::time::interval(target.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let at = Instant::now();
        let t_s = at.saturating_duration_since(start).as_secs_f64();
        let got = tokio::select! {
            _ = cancel.cancelled() => break,
            r = fetch(&client, &target.url, timeout) => r,
        };
        acc.out.scrapes += 1;
        match got {
            Ok(body) => acc.add(&text::parse(&body), t_s),
            Err(e) => {
                acc.out.failed += 1;
                acc.out.last_error = Some(e);
            }
        }
    }
    acc.finish()
}

async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let res = client
        .get(url)
        .header(
            "accept",
            "text/plain; version=0.0.4, application/openmetrics-text; q=0.5",
        )
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| describe(&e, timeout))?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    res.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| describe(&e, timeout))
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("timed out after {timeout:?}")
    } else if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        e.to_string()
    }
}

/// Pages folded into series.
struct Accumulator {
    out: scraped::Target,
    index: HashMap<(String, Vec<(String, String)>), usize>,
}

impl Accumulator {
    fn new(t: &Target) -> Accumulator {
        Accumulator {
            out: scraped::Target {
                url: t.url.clone(),
                interval_s: t.interval.as_secs_f64(),
                ..Default::default()
            },
            index: HashMap::new(),
        }
    }

    fn add(&mut self, page: &text::Page, t_s: f64) {
        self.out.bad_lines += page.errors.len() as u64;
        for s in &page.samples {
            let kind = page.kind_of(&s.name);
            if s.name.ends_with("_bucket") && matches!(kind, Kind::Histogram | Kind::GaugeHistogram)
            {
                continue;
            }
            if !s.value.is_finite() {
                self.out.dropped += 1;
                continue;
            }
            let mut labels = s.labels.clone();
            labels.sort();
            let key = (s.name.clone(), labels);
            let i = match self.index.get(&key) {
                Some(&i) => i,
                None if self.out.series.len() >= MAX_SERIES => {
                    self.out.dropped += 1;
                    continue;
                }
                None => {
                    self.out.series.push(Series {
                        name: key.0.clone(),
                        labels: key.1.iter().cloned().collect(),
                        kind: kind.as_str().to_string(),
                        points: Vec::new(),
                    });
                    let i = self.out.series.len() - 1;
                    self.index.insert(key, i);
                    i
                }
            };
            self.out.series[i].points.push([t_s, s.value]);
        }
    }

    fn finish(self) -> scraped::Target {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_fold_into_series_skipping_buckets_and_non_finite() {
        let t = Target {
            url: "http://x/metrics".into(),
            interval: Duration::from_secs(1),
        };
        let mut acc = Accumulator::new(&t);
        let page = b"# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_count 1\n\
                     g{pid=\"1\"} 3\ng{pid=\"2\"} NaN\nbroken{\n";
        acc.add(&text::parse(page), 0.5);
        acc.add(&text::parse(b"g{pid=\"1\"} 4\n"), 1.5);
        let out = acc.finish();
        let names: Vec<_> = out.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["lat_count", "g"]);
        assert_eq!(out.series[1].points, vec![[0.5, 3.0], [1.5, 4.0]]);
        assert_eq!(out.series[0].kind, "histogram");
        assert_eq!((out.dropped, out.bad_lines), (1, 1));
    }
}
