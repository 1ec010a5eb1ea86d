//! The W3C `Server-Timing` response header: `name;dur=12.3;desc="x", other`.
//!
//! Grammar (W3C Server Timing, §3): `#server-timing-metric`, a metric is a `token` name
//! followed by `;`-separated `param=value` pairs, a value a `token` or a `quoted-string`;
//! whitespace is allowed around `;`, `,` and `=`. `dur` is milliseconds.
//!
//! # Invariants
//! - Never fatal and never panics: the header is parsed leniently. Every well-formed metric
//!   is emitted even when another entry of the same header is malformed; a malformed entry
//!   is skipped up to the next `,` outside a quoted string, and the first malformation is
//!   returned as the [`Error`] so the caller can count the header as malformed.
//! - A metric without `dur` is emitted with `dur: None` (the caller decides; the
//!   conversation recorder skips it, since it has no duration to chart).
//! - `dur` must be a finite, non-negative number; the first `dur` of a metric wins (as in
//!   the spec's processing model); parameter names are case-insensitive; unknown parameters
//!   are ignored.
//! - No allocation unless a quoted `desc` holds a backslash escape.

use std::borrow::Cow;

/// One metric of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric<'a> {
    pub name: &'a str,
    /// Milliseconds, when given.
    pub dur_ms: Option<f64>,
    pub desc: Option<Cow<'a, str>>,
}

/// The first malformation found in a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("Server-Timing: byte {at}: expected a metric name (a token)")]
    Name { at: usize },
    #[error("Server-Timing: byte {at}: expected `;`, `,` or the end of the header")]
    Separator { at: usize },
    #[error("Server-Timing: byte {at}: parameter without `=value`")]
    Param { at: usize },
    #[error("Server-Timing: byte {at}: quoted string is not terminated")]
    Unterminated { at: usize },
    #[error("Server-Timing: metric `{name}`: dur `{value}` is not a non-negative number")]
    Dur { name: String, value: String },
}

/// Parses one header value, calling `emit` for every well-formed metric.
pub fn parse<'a>(header: &'a [u8], mut emit: impl FnMut(Metric<'a>)) -> Result<(), Error> {
    let mut cur = Cursor { s: header, i: 0 };
    let mut first_err = None;
    loop {
        cur.skip_ows();
        if cur.at_end() {
            break;
        }
        if cur.peek() == Some(b',') {
            cur.i += 1; // empty list element: allowed by the `#` rule
            continue;
        }
        match parse_metric(&mut cur) {
            Ok(m) => emit(m),
            Err(e) => {
                first_err.get_or_insert(e);
                cur.skip_to_comma();
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Parses a header value and collects its well-formed metrics.
pub fn parse_collect(header: &[u8]) -> (Vec<Metric<'_>>, Result<(), Error>) {
    let mut out = Vec::new();
    let r = parse(header, |m| out.push(m));
    (out, r)
}

fn parse_metric<'a>(cur: &mut Cursor<'a>) -> Result<Metric<'a>, Error> {
    let name = cur.token().ok_or(Error::Name { at: cur.i })?;
    let mut metric = Metric {
        name,
        dur_ms: None,
        desc: None,
    };
    let mut dur_seen = false;
    loop {
        cur.skip_ows();
        match cur.peek() {
            None => return Ok(metric),
            Some(b',') => {
                cur.i += 1;
                return Ok(metric);
            }
            Some(b';') => cur.i += 1,
            Some(_) => return Err(Error::Separator { at: cur.i }),
        }
        cur.skip_ows();
        let pname = cur.token().ok_or(Error::Param { at: cur.i })?;
        cur.skip_ows();
        if cur.peek() != Some(b'=') {
            return Err(Error::Param { at: cur.i });
        }
        cur.i += 1;
        cur.skip_ows();
        let value: Cow<'a, str> = if cur.peek() == Some(b'"') {
            cur.quoted()?
        } else {
            Cow::Borrowed(cur.token().ok_or(Error::Param { at: cur.i })?)
        };
        if pname.eq_ignore_ascii_case("dur") {
            if dur_seen {
                continue;
            }
            dur_seen = true;
            match value.parse::<f64>() {
                Ok(ms) if ms.is_finite() && ms >= 0.0 => metric.dur_ms = Some(ms),
                _ => {
                    return Err(Error::Dur {
                        name: name.to_string(),
                        value: value.into_owned(),
                    })
                }
            }
        } else if pname.eq_ignore_ascii_case("desc") && metric.desc.is_none() {
            metric.desc = Some(value);
        }
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

/// RFC 9110 `tchar`, as a table (the parser's innermost loop).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// A non-empty token, or None (cursor unmoved).
    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        // tchars are ASCII, so this cannot fail
        std::str::from_utf8(&self.s[start..self.i]).ok()
    }

    /// A quoted string starting at `"`; backslash escapes any byte.
    fn quoted(&mut self) -> Result<Cow<'a, str>, Error> {
        let open = self.i;
        self.i += 1;
        let start = self.i;
        let mut escaped: Option<Vec<u8>> = None;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(match escaped {
                        None => String::from_utf8_lossy(raw),
                        Some(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
                    });
                }
                b'\\' => {
                    let v = escaped.get_or_insert_with(|| self.s[start..self.i].to_vec());
                    match self.s.get(self.i + 1) {
                        Some(&next) => v.push(next),
                        None => break,
                    }
                    self.i += 2;
                }
                _ => {
                    if let Some(v) = escaped.as_mut() {
                        v.push(b);
                    }
                    self.i += 1;
                }
            }
        }
        self.i = self.s.len();
        Err(Error::Unterminated { at: open })
    }

    /// Skips past the next `,` that is not inside a quoted string (or to the end).
    fn skip_to_comma(&mut self) {
        let mut in_quote = false;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' if in_quote => self.i += 1,
                b'"' => in_quote = !in_quote,
                b',' if !in_quote => return,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names_durs(h: &str) -> (Vec<(String, Option<f64>)>, bool) {
        let (m, r) = parse_collect(h.as_bytes());
        (
            m.into_iter()
                .map(|m| (m.name.to_string(), m.dur_ms))
                .collect(),
            r.is_err(),
        )
    }

    #[test]
    fn the_agent_header() {
        let (m, bad) =
            names_durs("llm;dur=812.4, checkpoint_save;dur=14.2, checkpoint_load;dur=6.1");
        assert!(!bad);
        assert_eq!(
            m,
            vec![
                ("llm".into(), Some(812.4)),
                ("checkpoint_save".into(), Some(14.2)),
                ("checkpoint_load".into(), Some(6.1)),
            ]
        );
    }

    #[test]
    fn desc_quoted_and_token_and_escapes() {
        let (m, r) =
            parse_collect(br#"db;dur=53;desc="a, b; c", cache;desc=hit, q;desc="say \"hi\"""#);
        assert!(r.is_ok());
        assert_eq!(m[0].desc.as_deref(), Some("a, b; c"));
        assert_eq!(m[0].dur_ms, Some(53.0));
        assert_eq!(m[1].desc.as_deref(), Some("hit"));
        assert_eq!(
            m[1].dur_ms, None,
            "a metric without dur is emitted with none"
        );
        assert_eq!(m[2].desc.as_deref(), Some(r#"say "hi""#));
    }

    #[test]
    fn whitespace_case_and_order_of_params() {
        let (m, bad) = names_durs("a ; DUR = 1.5 ;desc=\"x\"\t,\tb;desc=y;dur=2");
        assert!(!bad);
        assert_eq!(m, vec![("a".into(), Some(1.5)), ("b".into(), Some(2.0))]);
    }

    #[test]
    fn first_dur_wins_and_unknown_params_ignored() {
        let (m, bad) = names_durs("a;dur=1;dur=2;foo=bar");
        assert!(!bad);
        assert_eq!(m, vec![("a".into(), Some(1.0))]);
    }

    #[test]
    fn empty_and_name_only() {
        assert_eq!(names_durs(""), (vec![], false));
        assert_eq!(names_durs(" , ,"), (vec![], false));
        assert_eq!(names_durs("miss"), (vec![("miss".into(), None)], false));
    }

    #[test]
    fn malformed_entries_are_reported_and_the_rest_kept() {
        let cases = [
            ("llm;dur=abc, db;dur=3", vec![("db".to_string(), Some(3.0))]),
            ("llm;dur=-1, db;dur=3", vec![("db".to_string(), Some(3.0))]),
            ("llm;dur=NaN", vec![]),
            ("llm;dur=inf", vec![]),
            ("llm;dur, db;dur=3", vec![("db".to_string(), Some(3.0))]),
            ("llm;=5", vec![]),
            (";dur=5, db;dur=3", vec![("db".to_string(), Some(3.0))]),
            ("llm dur=5", vec![]),
            ("ll m;dur=5", vec![]),
            ("llm;desc=\"open, db;dur=3", vec![]),
            (
                "llm;desc=\"x\" junk, db;dur=3",
                vec![("db".to_string(), Some(3.0))],
            ),
            (
                "llm;desc=\"a,b\";dur=x, db;dur=3",
                vec![("db".to_string(), Some(3.0))],
            ),
            ("é;dur=1", vec![]),
            ("{{{;;;===", vec![]),
        ];
        for (h, want) in cases {
            let (m, bad) = names_durs(h);
            assert!(bad, "{h:?} must be reported malformed");
            assert_eq!(m, want, "{h:?}");
        }
    }

    #[test]
    fn error_names_the_problem() {
        let (_, r) = parse_collect(b"llm;dur=abc");
        assert_eq!(
            r.unwrap_err().to_string(),
            "Server-Timing: metric `llm`: dur `abc` is not a non-negative number"
        );
    }

    #[test]
    fn non_utf8_bytes_are_malformed_not_fatal() {
        let (m, r) = parse_collect(b"\xFF\xFE;dur=1, ok;dur=2");
        assert!(r.is_err());
        assert_eq!(m.len(), 1);
        let (m, r) = parse_collect(b"ok;desc=\"\xFF\";dur=2");
        assert!(r.is_ok());
        assert_eq!(m[0].desc.as_deref(), Some("\u{FFFD}"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_collect(&bytes);
        }

        #[test]
        fn well_formed_headers_round_trip(
            metrics in proptest::collection::vec(("[a-z_]{1,12}", proptest::option::of(0u32..1_000_000)), 0..6)
        ) {
            let header = metrics
                .iter()
                .map(|(n, d)| match d {
                    Some(d) => format!("{n};dur={}", *d as f64 / 10.0),
                    None => n.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let (m, r) = parse_collect(header.as_bytes());
            prop_assert!(r.is_ok());
            let got: Vec<_> = m.into_iter().map(|m| (m.name.to_string(), m.dur_ms)).collect();
            let want: Vec<_> = metrics.iter().map(|(n, d)| (n.clone(), d.map(|d| d as f64 / 10.0))).collect();
            prop_assert_eq!(got, want);
        }
    }
}
