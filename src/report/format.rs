//! Human-readable numbers with units, shared by the console, HTML and verdict texts.
//!
//! Durations come in milliseconds (the unit of `summary.json`); the output keeps three
//! significant figures and picks µs, ms, s or m so a reader never counts zeros.

/// `850µs`, `12.3ms`, `4.21s`, `2m 05s`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0ms".to_string()
    } else if a < 1.0 {
        format!("{:.0}µs", v * 1000.0)
    } else if a < 10.0 {
        format!("{v:.2}ms")
    } else if a < 100.0 {
        format!("{v:.1}ms")
    } else if a < 1_000.0 {
        format!("{v:.0}ms")
    } else if a < 10_000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if a < 60_000.0 {
        format!("{:.1}s", v / 1000.0)
    } else {
        let s = (v / 1000.0).round() as i64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// A percentage already in percent: `0%`, `0.052%`, `1.25%`, `99.9%`.
pub fn pct(v: f64) -> String {
    if !v.is_finite() {
        "–".to_string()
    } else if v == 0.0 || v == 100.0 {
        format!("{v:.0}%")
    } else if v.abs() < 0.1 {
        format!("{v:.3}%")
    } else {
        format!("{v:.2}%")
    }
}

/// `1,234,567`.
pub fn count(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A plain number with at most two decimals, trailing zeros dropped: `12.5`, `3`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return count_signed(v as i64);
    }
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn count_signed(v: i64) -> String {
    if v < 0 {
        format!("-{}", count(v.unsigned_abs()))
    } else {
        count(v as u64)
    }
}

/// Requests per second: `12.5/s`.
pub fn rate(v: f64) -> String {
    format!("{}/s", num((v * 10.0).round() / 10.0))
}

/// Bytes: `512 B`, `1.2 KiB`, `3.4 MiB`.
pub fn bytes(v: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if v < 1024 {
        return format!("{v} B");
    }
    let mut x = v as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit < UNITS.len() - 1 {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(ms(0.0), "0ms");
        assert_eq!(ms(0.85), "850µs");
        assert_eq!(ms(1.234), "1.23ms");
        assert_eq!(ms(12.34), "12.3ms");
        assert_eq!(ms(123.4), "123ms");
        assert_eq!(ms(4210.0), "4.21s");
        assert_eq!(ms(12_340.0), "12.3s");
        assert_eq!(ms(125_000.0), "2m 05s");
    }

    #[test]
    fn counts_rates_and_bytes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(0.052), "0.052%");
        assert_eq!(pct(1.25), "1.25%");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(rate(12.34), "12.3/s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
