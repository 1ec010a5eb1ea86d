//! The Prometheus text exposition format (0.0.4) and its OpenMetrics superset, read line by
//! line into samples.
//!
//! Written here rather than taken from crates.io: `prometheus-parse` splits labels with a
//! regular expression and gets escaped quotes and commas wrong, and the other readers are
//! either unmaintained or pull a whole client library. The format is small enough to decode
//! exactly from bytes, which also makes it fuzzable without sockets.
//!
//! # Invariants
//! - Never panics, whatever the input (fuzzed by `fuzz/fuzz_targets/prometheus_text.rs`).
//! - A line that does not parse is skipped and reported in [`Page::errors`] with its
//!   1-based line number; the other lines are kept.
//! - Label values are unescaped (`\\`, `\"`, `\n`); a value may hold commas, `}` and `=`.
//! - `+Inf`, `-Inf`, `NaN` (any case, as Go's `ParseFloat`) are values; the optional
//!   timestamp is kept as written (milliseconds in 0.0.4, seconds in OpenMetrics).
//! - `# EOF` ends the page (OpenMetrics); `# HELP` and `# TYPE` set a family's help and
//!   type; every other `#` line is a comment. A missing final newline is not an error.
//! - OpenMetrics exemplars (`… # {trace_id="x"} 1.0`) are accepted and dropped.

use std::collections::HashMap;

/// The type a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Untyped,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "gaugehistogram" => Kind::GaugeHistogram,
            "summary" => Kind::Summary,
            "info" => Kind::Info,
            "stateset" => Kind::StateSet,
            "untyped" | "unknown" => Kind::Untyped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::GaugeHistogram => "gaugehistogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::Untyped => "untyped",
        }
    }
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// In the order written, unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// A line that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based.
    pub line: usize,
    pub message: &'static str,
}

/// Everything read from one page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub samples: Vec<Sample>,
    /// Family name → type, from `# TYPE`.
    pub types: HashMap<String, Kind>,
    /// Family name → help text, from `# HELP` (unescaped).
    pub help: HashMap<String, String>,
    pub errors: Vec<LineError>,
    /// True when the page ended with `# EOF`.
    pub eof: bool,
}

impl Page {
    /// The type of the family `sample_name` belongs to: its own `# TYPE`, or that of the
    /// family it is a `_bucket` / `_sum` / `_count` / `_total` / `_created` member of.
    pub fn kind_of(&self, sample_name: &str) -> Kind {
        if let Some(k) = self.types.get(sample_name) {
            return *k;
        }
        for suffix in [
            "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum",
        ] {
            if let Some(base) = sample_name.strip_suffix(suffix) {
                if let Some(k) = self.types.get(base) {
                    return *k;
                }
            }
        }
        Kind::Untyped
    }
}

/// Reads a whole page. Invalid UTF-8 is replaced, not refused (a label value is the only
/// place it could matter).
pub fn parse(bytes: &[u8]) -> Page {
    let text = String::from_utf8_lossy(bytes);
    let mut page = Page::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            if comment(rest, &mut page) {
                break;
            }
            continue;
        }
        match sample(line) {
            Ok(s) => page.samples.push(s),
            Err(message) => page.errors.push(LineError {
                line: i + 1,
                message,
            }),
        }
    }
    page
}

/// Handles a `#` line; returns true at `# EOF`.
fn comment(rest: &str, page: &mut Page) -> bool {
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.trim_end() == "EOF" {
        page.eof = true;
        return true;
    }
    let mut words = rest.splitn(3, [' ', '\t']);
    match (words.next(), words.next(), words.next()) {
        (Some("TYPE"), Some(name), Some(kind)) if is_name(name) => {
            if let Some(k) = Kind::parse(kind.trim()) {
                page.types.insert(name.to_owned(), k);
            }
        }
        (Some("HELP"), Some(name), help) if is_name(name) => {
            page.help
                .insert(name.to_owned(), unescape(help.unwrap_or(""), false));
        }
        _ => {}
    }
    false
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b.iter().all(|&c| is_name_char(c))
}

/// Unescapes `\\`, `\n` and (in label values) `\"`; any other backslash is kept as is.
fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn sample(line: &str) -> Result<Sample, &'static str> {
    let b = line.as_bytes();
    let mut i = 0;
    skip_blank(b, &mut i);
    let start = i;
    if i >= b.len() || !is_name_start(b[i]) {
        return Err("expected a metric name");
    }
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let name = line[start..i].to_owned();
    let mut labels = Vec::new();
    skip_blank(b, &mut i);
    if i < b.len() && b[i] == b'{' {
        i += 1;
        labels = label_set(line, &mut i)?;
    }
    skip_blank(b, &mut i);
    let rest = &line[i..];
    // An OpenMetrics exemplar follows ` # `; it is not part of the sample.
    let rest = match rest.find(" #") {
        Some(at) => &rest[..at],
        None => rest,
    };
    let mut words = rest.split_ascii_whitespace();
    let value = words.next().ok_or("expected a value")?;
    let value = number(value).ok_or("value is not a number")?;
    let timestamp = match words.next() {
        None => None,
        Some(t) => Some(number(t).filter(|t| t.is_finite()).ok_or("bad timestamp")?),
    };
    if words.next().is_some() {
        return Err("unexpected text after the timestamp");
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
    })
}

fn skip_blank(b: &[u8], i: &mut usize) {
    while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
        *i += 1;
    }
}

/// Reads `name="value", …}` after the `{`; leaves `i` after the `}`.
fn label_set(line: &str, i: &mut usize) -> Result<Vec<(String, String)>, &'static str> {
    let b = line.as_bytes();
    let mut labels = Vec::new();
    loop {
        skip_blank(b, i);
        if *i >= b.len() {
            return Err("unterminated label set");
        }
        if b[*i] == b'}' {
            *i += 1;
            return Ok(labels);
        }
        let start = *i;
        if !is_name_start(b[*i]) {
            return Err("expected a label name");
        }
        while *i < b.len() && is_name_char(b[*i]) {
            *i += 1;
        }
        let lname = line[start..*i].to_owned();
        skip_blank(b, i);
        if *i >= b.len() || b[*i] != b'=' {
            return Err("expected `=` after a label name");
        }
        *i += 1;
        skip_blank(b, i);
        if *i >= b.len() || b[*i] != b'"' {
            return Err("expected a quoted label value");
        }
        *i += 1;
        let vstart = *i;
        loop {
            match b.get(*i) {
                None => return Err("unterminated label value"),
                Some(b'\\') => *i += 2,
                Some(b'"') => break,
                Some(_) => *i += 1,
            }
        }
        if *i > b.len() {
            return Err("unterminated label value");
        }
        let value = unescape(&line[vstart..*i], true);
        *i += 1;
        labels.push((lname, value));
        skip_blank(b, i);
        match b.get(*i) {
            Some(b',') => *i += 1,
            Some(b'}') => {}
            _ => return Err("expected `,` or `}` after a label value"),
        }
    }
}

/// A value as Go's `strconv.ParseFloat` reads one (which is what Prometheus uses).
fn number(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+' | b'_' | b'x' | b'X' | b'a'..=b'f' | b'A'..=b'F' | b'p' | b'P')) {
        return None;
    }
    if let Ok(v) = t.parse::<f64>() {
        return Some(v);
    }
    // Go also reads hexadecimal integers (`0x1F`) and digit separators.
    let t2: String = t.chars().filter(|&c| c != '_').collect();
    if let Ok(v) = t2.parse::<f64>() {
        return Some(v);
    }
    let (neg, h) = match t2.strip_prefix('-') {
        Some(h) => (true, h),
        None => (false, t2.as_str()),
    };
    let h = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X"))?;
    let v = u64::from_str_radix(h, 16).ok()? as f64;
    Some(if neg { -v } else { v })
}

/// Writes samples back in the text format (escaping label values), one per line. Used by
/// the mock's `/metrics` and by the round-trip tests.
pub fn render_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (k, (n, v)) in labels.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(n);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        out.push_str(&format!("{value:?}"));
    }
    out.push('\n');
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
