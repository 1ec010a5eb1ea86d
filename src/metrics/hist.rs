//! An HDR histogram of microseconds, with a lossless text form for `summary.json`.
//!
//! Values are microseconds, 3 significant digits, 1 µs to 1 hour; larger values are clamped
//! to the top (and counted in `clamped`). The text form is base64 of hdrhistogram's V2
//! serialization, which merges exactly: `merge(decode(a), decode(b))` equals the histogram of
//! both sample sets.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MAX_US: u64 = 3_600_000_000;

#[derive(Debug)]
pub struct Hist {
    h: hdrhistogram::Histogram<u64>,
}

impl Clone for Hist {
    fn clone(&self) -> Self {
        Hist { h: self.h.clone() }
    }

    /// Copies `source` into this histogram's own counts: no allocation (a live view's
    /// once-a-second snapshots reuse their buffers this way).
    fn clone_from(&mut self, source: &Self) {
        self.h.reset();
        let _ = self.h.add(&source.h);
    }
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Self) -> bool {
        self.h == other.h
    }
}

impl Hist {
    /// The top of the range, µs: larger values are recorded as this.
    pub const MAX_US: u64 = MAX_US;

    pub fn new() -> Self {
        Hist {
            h: hdrhistogram::Histogram::new_with_bounds(1, MAX_US, 3).expect("valid bounds"),
        }
    }

    #[inline]
    pub fn record_us(&mut self, us: u64) {
        // saturating: values above the top are clamped, never an error on the hot path
        self.h.saturating_record(us.clamp(1, MAX_US));
    }

    #[inline]
    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn add(&mut self, other: &Hist) {
        // both share bounds, so this cannot fail
        let _ = self.h.add(&other.h);
    }

    pub fn reset(&mut self) {
        self.h.reset();
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at quantile `q` (0..=1), in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.value_at_quantile(q)
        }
    }

    pub fn mean_us(&self) -> f64 {
        if self.h.is_empty() {
            0.0
        } else {
            self.h.mean()
        }
    }

    pub fn min_us(&self) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.min()
        }
    }

    pub fn max_us(&self) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.max()
        }
    }

    /// Sum of all recorded values (approximate to the histogram's precision), µs.
    pub fn sum_us(&self) -> f64 {
        self.mean_us() * self.count() as f64
    }

    pub fn inner(&self) -> &hdrhistogram::Histogram<u64> {
        &self.h
    }

    /// The distribution for charts: counts in log-spaced bins (ten per decade of
    /// microseconds, from the smallest value to the largest) and the percentile curve
    /// (the value at 0, 25, 50 … 99.999 % and 100 %), both in milliseconds.
    pub fn distribution(&self) -> Distribution {
        let mut d = Distribution {
            count: self.count(),
            ..Default::default()
        };
        if self.is_empty() {
            return d;
        }
        let (lo, hi) = (self.min_us().max(1) as f64, self.max_us().max(1) as f64);
        let (first, last) = (
            (lo.log10() * 10.0).floor() as i32,
            (hi.log10() * 10.0).floor() as i32,
        );
        for k in first..=last {
            let a = 10f64.powf(f64::from(k) / 10.0);
            let b = 10f64.powf(f64::from(k + 1) / 10.0);
            let (a_us, b_us) = (a.ceil() as u64, (b.ceil() as u64).saturating_sub(1));
            let n = if b_us >= a_us {
                self.h.count_between(a_us, b_us)
            } else {
                0
            };
            d.bins.push((a / 1000.0, b / 1000.0, n));
        }
        for q in [
            0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
        ] {
            d.pct.push((q * 100.0, self.quantile_us(q) as f64 / 1000.0));
        }
        d.pct.push((100.0, self.max_us() as f64 / 1000.0));
        d
    }

    /// Base64 of the V2 serialization.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        V2Serializer::new()
            .serialize(&self.h, &mut buf)
            .expect("serialising to memory cannot fail");
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    pub fn decode(s: &str) -> Result<Hist, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        let mut out = Hist::new();
        out.h
            .add(&h)
            .map_err(|e| format!("histogram out of range: {e:?}"))?;
        Ok(out)
    }

    /// Figures for humans plus the lossless encoding.
    pub fn summary(&self) -> HistSummary {
        let ms = |us: u64| us as f64 / 1000.0;
        HistSummary {
            count: self.count(),
            min_ms: ms(self.min_us()),
            mean_ms: self.mean_us() / 1000.0,
            p50_ms: ms(self.quantile_us(0.50)),
            p90_ms: ms(self.quantile_us(0.90)),
            p95_ms: ms(self.quantile_us(0.95)),
            p99_ms: ms(self.quantile_us(0.99)),
            p999_ms: ms(self.quantile_us(0.999)),
            max_ms: ms(self.max_us()),
            hist: self.encode(),
        }
    }
}

/// A histogram as it appears in `summary.json`: figures in milliseconds and `hist`, the
/// base64 V2 encoding from which every figure can be recomputed after a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistSummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub hist: String,
}

impl Default for HistSummary {
    fn default() -> Self {
        Hist::new().summary()
    }
}

impl HistSummary {
    pub fn decode(&self) -> Result<Hist, String> {
        Hist::decode(&self.hist)
    }

    /// Merges two summaries exactly, through their histograms.
    pub fn merged(&self, other: &HistSummary) -> Result<HistSummary, String> {
        let mut a = self.decode()?;
        a.add(&other.decode()?);
        Ok(a.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_from_copies_into_the_same_counts() {
        let mut a = Hist::new();
        [5u64, 70, 900, 12_000].iter().for_each(|&v| a.record_us(v));
        let mut b = Hist::new();
        b.record_us(3_000_000);
        b.clone_from(&a);
        assert_eq!(b, a);
        assert_eq!(
            (b.count(), b.max_us(), b.min_us()),
            (4, a.max_us(), a.min_us())
        );
    }

    #[test]
    fn distribution_bins_add_up_to_the_count() {
        let mut h = Hist::new();
        for us in [900, 1_000, 1_500, 12_000, 250_000, 250_100] {
            h.record_us(us);
        }
        let d = h.distribution();
        assert_eq!(d.bins.iter().map(|b| b.2).sum::<u64>(), 6);
        assert!(d.bins.windows(2).all(|w| (w[0].1 - w[1].0).abs() < 1e-9));
        let last = d.pct.last().unwrap();
        assert_eq!(last.0, 100.0);
        assert!((last.1 - 250.1).abs() < 0.5, "{last:?}");
        assert!(Hist::new().distribution().bins.is_empty());
    }

    #[test]
    fn encode_roundtrip_and_merge_is_exact() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        let mut both = Hist::new();
        for i in 1..2000u64 {
            let v = i * 997 % 50_000 + 1;
            if i % 3 == 0 {
                a.record_us(v);
            } else {
                b.record_us(v);
            }
            both.record_us(v);
        }
        let a2 = Hist::decode(&a.encode()).unwrap();
        assert_eq!(a, a2);
        let merged = a.summary().merged(&b.summary()).unwrap();
        assert_eq!(merged, both.summary());
    }

    #[test]
    fn clamps_instead_of_failing() {
        let mut h = Hist::new();
        h.record_us(0);
        h.record_us(u64::MAX);
        assert_eq!(h.count(), 2);
        assert_eq!(h.min_us(), 1);
    }
}

/// A histogram's shape for charts ([`Hist::distribution`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// `(from_ms, to_ms, count)`, adjacent bins, ten per decade.
    pub bins: Vec<(f64, f64, u64)>,
    /// `(percentile, value_ms)`, ascending.
    pub pct: Vec<(f64, f64)>,
    pub count: u64,
}
