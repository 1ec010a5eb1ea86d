//! Thresholds on the target's scraped metrics: which series an expression names, and the
//! one series it derives from them.
//!
//! ```text
//! scrape.db_pool_in_use.max < 8
//! scrape['db_pool_in_use / db_pool_max'].max < 0.8     (a ratio of two series)
//! scrape['rate(http_requests_total)'].avg > 50        (a counter as a per-second rate)
//! scrape['db_pool_in_use{pid="1"}'].p95 < 5           (label matchers)
//! ```
//!
//! Grammar of the expression (inside `scrape[' ']`, or after `scrape.`):
//! `TERM [/ TERM]`, `TERM := rate(SELECTOR) | SELECTOR`,
//! `SELECTOR := NAME[{LABEL="VALUE", …}]`; label values take `\"` and `\\` escapes.
//!
//! # Invariants
//! - Every series matching a selector is summed into one, on the union of their sample
//!   times (each series holds its last value between its samples), so two workers scraped
//!   separately (`{pid="1"}`, `{pid="2"}`) add up.
//! - `rate` is taken per series before the sum: the increase between consecutive samples
//!   over the time between them; a decrease is a counter reset (the new value is the
//!   increase). Its first point is at the series' second sample.
//! - A ratio has a point wherever both sides have a value and the denominator is not zero.
//! - Statistics are over the derived points (in a window, those whose time falls in it):
//!   `max`, `min`, `avg`, `last`, `pN` (nearest rank).

use crate::metrics::scraped::{Scraped, Series};

/// `NAME{LABEL="VALUE", …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, String)>,
}

/// One side of an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub selector: Selector,
    /// `rate(…)`: a counter's increase per second.
    pub rate: bool,
}

/// `TERM [/ TERM]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// As written, for messages.
    pub text: String,
    pub num: Term,
    pub den: Option<Term>,
}

/// A statistic of a derived series over the run (or a stage).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Max,
    Min,
    Avg,
    Last,
    /// 0 < p ≤ 100.
    Pct(f64),
}

pub(super) const STATS: &str = "max, min, avg, last, p50, p95, p99 (any pN)";

pub(super) fn stat_of(name: &str) -> Option<Stat> {
    Some(match name {
        "max" => Stat::Max,
        "min" => Stat::Min,
        "avg" | "mean" => Stat::Avg,
        "last" => Stat::Last,
        "med" | "median" => Stat::Pct(50.0),
        p if p.starts_with('p') && p.len() > 1 && !p[1..].starts_with('.') => {
            let v: f64 = p[1..].parse().ok()?;
            if !(v > 0.0 && v <= 100.0) {
                return None;
            }
            Stat::Pct(v)
        }
        _ => return None,
    })
}

/// Parses an expression from `chars[pos..end]`; returns it and the position after it, or
/// the 0-based position of the error and its message.
pub(super) fn parse(
    chars: &[char],
    mut pos: usize,
    end: usize,
    stop_at_dot: bool,
) -> Result<(Expr, usize), (usize, String)> {
    let start = pos;
    let peek = |pos: usize| (pos < end).then(|| chars[pos]);
    let skip_ws = |pos: &mut usize| {
        while peek(*pos).is_some_and(char::is_whitespace) {
            *pos += 1;
        }
    };
    let name = |pos: &mut usize| -> Result<String, (usize, String)> {
        let from = *pos;
        if !peek(*pos).is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':') {
            return Err((
                *pos,
                match peek(*pos) {
                    Some(c) => format!("expected a metric name, found `{c}`"),
                    None => "expected a metric name, e.g. db_pool_in_use".to_string(),
                },
            ));
        }
        while peek(*pos).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            *pos += 1;
        }
        Ok(chars[from..*pos].iter().collect())
    };
    let selector = |pos: &mut usize| -> Result<Selector, (usize, String)> {
        let n = name(pos)?;
        let mut matchers = Vec::new();
        if peek(*pos) == Some('{') {
            *pos += 1;
            loop {
                skip_ws(pos);
                if peek(*pos) == Some('}') {
                    *pos += 1;
                    break;
                }
                let label = name(pos).map_err(|(p, _)| (p, "expected a label name".to_string()))?;
                skip_ws(pos);
                if peek(*pos) != Some('=') {
                    return Err((*pos, format!("expected `=` after label `{label}`")));
                }
                *pos += 1;
                skip_ws(pos);
                let q = match peek(*pos) {
                    Some(q @ ('"' | '\'')) => q,
                    _ => return Err((*pos, "expected a quoted label value, e.g. \"1\"".into())),
                };
                let open = *pos;
                *pos += 1;
                let mut value = String::new();
                loop {
                    match peek(*pos) {
                        None => {
                            return Err((open, format!("unterminated label value (missing {q})")))
                        }
                        Some('\\') => {
                            match peek(*pos + 1) {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => return Err((*pos, "unterminated escape".into())),
                            }
                            *pos += 2;
                        }
                        Some(c) if c == q => {
                            *pos += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(c);
                            *pos += 1;
                        }
                    }
                }
                matchers.push((label, value));
                skip_ws(pos);
                match peek(*pos) {
                    Some(',') => *pos += 1,
                    Some('}') => {}
                    Some(c) => return Err((*pos, format!("expected `,` or `}}`, found `{c}`"))),
                    None => return Err((*pos, "expected `}`".into())),
                }
            }
        }
        Ok(Selector { name: n, matchers })
    };
    let term = |pos: &mut usize| -> Result<Term, (usize, String)> {
        skip_ws(pos);
        let at = *pos;
        let word: String = chars[at..end]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == ':')
            .collect();
        let after = at + word.chars().count();
        let mut p = after;
        skip_ws(&mut p);
        if word == "rate" && peek(p) == Some('(') {
            *pos = p + 1;
            skip_ws(pos);
            let s = selector(pos)?;
            skip_ws(pos);
            if peek(*pos) != Some(')') {
                return Err((*pos, "expected `)` to close rate(".into()));
            }
            *pos += 1;
            return Ok(Term {
                selector: s,
                rate: true,
            });
        }
        if peek(after) == Some('(') {
            return Err((at, format!("unknown function `{word}` (use rate(NAME))")));
        }
        Ok(Term {
            selector: selector(pos)?,
            rate: false,
        })
    };
    let num = term(&mut pos)?;
    let mut p = pos;
    skip_ws(&mut p);
    let den = if peek(p) == Some('/') {
        pos = p + 1;
        Some(term(&mut pos)?)
    } else {
        None
    };
    if !stop_at_dot {
        skip_ws(&mut pos);
        if let Some(c) = peek(pos) {
            return Err((
                pos,
                format!("unexpected `{c}` in the scrape expression (a ratio is `A / B`)"),
            ));
        }
    }
    let text: String = chars[start..pos].iter().collect();
    Ok((
        Expr {
            text: text.trim().to_string(),
            num,
            den,
        },
        pos,
    ))
}

/// The expression's one derived series, `[t_s, value]` in time order; an error names a
/// selector that matched nothing.
pub fn series(e: &Expr, scraped: &Scraped) -> Result<Vec<[f64; 2]>, String> {
    let num = term_series(&e.num, scraped)?;
    let Some(den) = &e.den else { return Ok(num) };
    let den = term_series(den, scraped)?;
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let times = union(&[&num, &den]);
    for t in times {
        while i + 1 < num.len() && num[i + 1][0] <= t {
            i += 1;
        }
        while j + 1 < den.len() && den[j + 1][0] <= t {
            j += 1;
        }
        let (Some(n), Some(d)) = (num.get(i), den.get(j)) else {
            continue;
        };
        if n[0] <= t && d[0] <= t && d[1] != 0.0 {
            out.push([t, n[1] / d[1]]);
        }
    }
    Ok(out)
}

/// `stat` of `points` whose time is in `[from, to)`.
pub fn stat(points: &[[f64; 2]], stat: Stat, from: f64, to: f64) -> Option<f64> {
    let v: Vec<f64> = points
        .iter()
        .filter(|p| p[0] >= from && p[0] < to)
        .map(|p| p[1])
        .collect();
    if v.is_empty() {
        return None;
    }
    Some(match stat {
        Stat::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Avg => v.iter().sum::<f64>() / v.len() as f64,
        Stat::Last => v[v.len() - 1],
        Stat::Pct(p) => {
            let mut s = v;
            s.sort_by(f64::total_cmp);
            let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
            s[rank.min(s.len()) - 1]
        }
    })
}

/// A counter's increase per second between consecutive samples (a decrease is a reset).
pub fn rate(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    points
        .windows(2)
        .filter(|w| w[1][0] > w[0][0])
        .map(|w| {
            let dv = if w[1][1] >= w[0][1] {
                w[1][1] - w[0][1]
            } else {
                w[1][1]
            };
            [w[1][0], dv / (w[1][0] - w[0][0])]
        })
        .collect()
}

fn term_series(t: &Term, scraped: &Scraped) -> Result<Vec<[f64; 2]>, String> {
    let matched: Vec<&Series> = scraped
        .matching(&t.selector.name, &t.selector.matchers)
        .collect();
    if matched.is_empty() {
        let mut names: Vec<&str> = scraped
            .targets
            .iter()
            .flat_map(|t| t.series.iter().map(|s| s.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let shown = match names.len() {
            0 => String::new(),
            n if n <= 8 => format!(" (have: {})", names.join(", ")),
            n => format!(" (have: {}, … {} more)", names[..8].join(", "), n - 8),
        };
        let labels = if t.selector.matchers.is_empty() {
            String::new()
        } else {
            let m: Vec<String> = t
                .selector
                .matchers
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            format!("{{{}}}", m.join(","))
        };
        return Err(format!(
            "no scraped series `{}{labels}`{shown}",
            t.selector.name
        ));
    }
    let parts: Vec<Vec<[f64; 2]>> = matched
        .iter()
        .map(|s| {
            if t.rate {
                rate(&s.points)
            } else {
                s.points.clone()
            }
        })
        .collect();
    let refs: Vec<&Vec<[f64; 2]>> = parts.iter().collect();
    let times = union(&refs.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    let mut at = vec![0usize; parts.len()];
    let mut out = Vec::with_capacity(times.len());
    for t in times {
        let mut sum = 0.0;
        let mut any = false;
        for (k, p) in parts.iter().enumerate() {
            while at[k] < p.len() && p[at[k]][0] <= t {
                at[k] += 1;
            }
            if at[k] > 0 {
                sum += p[at[k] - 1][1];
                any = true;
            }
        }
        if any {
            out.push([t, sum]);
        }
    }
    Ok(out)
}

fn union(parts: &[&[[f64; 2]]]) -> Vec<f64> {
    let mut t: Vec<f64> = parts.iter().flat_map(|p| p.iter().map(|x| x[0])).collect();
    t.sort_by(f64::total_cmp);
    t.dedup();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scraped::Target;

    fn expr(s: &str) -> Expr {
        let c: Vec<char> = s.chars().collect();
        parse(&c, 0, c.len(), false)
            .unwrap_or_else(|e| panic!("{s}: {e:?}"))
            .0
    }

    fn scraped(series: Vec<(&str, &str, Vec<[f64; 2]>)>) -> Scraped {
        Scraped {
            targets: vec![Target {
                url: "http://x/metrics".into(),
                series: series
                    .into_iter()
                    .map(|(name, pid, points)| Series {
                        name: name.into(),
                        labels: [("pid".to_string(), pid.to_string())].into(),
                        kind: "gauge".into(),
                        points,
                    })
                    .collect(),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn expressions_parse_with_rates_ratios_and_escaped_labels() {
        let e = expr("rate(http_requests_total{endpoint=\"start\", x='a\\\"b'}) / db_pool_max");
        assert!(e.num.rate);
        assert_eq!(
            e.num.selector.matchers,
            vec![
                ("endpoint".to_string(), "start".to_string()),
                ("x".into(), "a\"b".into())
            ]
        );
        assert_eq!(e.den.unwrap().selector.name, "db_pool_max");
        let bad = |s: &str| {
            let c: Vec<char> = s.chars().collect();
            parse(&c, 0, c.len(), false).unwrap_err()
        };
        assert_eq!(
            bad("a{pid=1}").1,
            "expected a quoted label value, e.g. \"1\""
        );
        assert_eq!(bad("sum(a)").1, "unknown function `sum` (use rate(NAME))");
        assert_eq!(bad("a b").0, 2);
        assert!(bad("a{pid=\"1}").1.contains("unterminated"));
    }

    #[test]
    fn series_are_summed_across_labels_ratios_and_rates_derived() {
        let s = scraped(vec![
            ("in_use", "1", vec![[0.0, 2.0], [1.0, 4.0], [2.0, 6.0]]),
            ("in_use", "2", vec![[0.5, 1.0], [1.5, 1.0]]),
            ("max", "1", vec![[0.0, 10.0], [1.0, 10.0], [2.0, 10.0]]),
            (
                "total",
                "1",
                vec![[0.0, 0.0], [1.0, 5.0], [2.0, 3.0], [4.0, 7.0]],
            ),
        ]);
        let sum = series(&expr("in_use"), &s).unwrap();
        assert_eq!(
            sum,
            vec![[0.0, 2.0], [0.5, 3.0], [1.0, 5.0], [1.5, 5.0], [2.0, 7.0]]
        );
        let one = series(&expr("in_use{pid=\"1\"}"), &s).unwrap();
        assert_eq!(stat(&one, Stat::Max, 0.0, f64::INFINITY), Some(6.0));
        let ratio = series(&expr("in_use / max"), &s).unwrap();
        assert_eq!(stat(&ratio, Stat::Max, 0.0, f64::INFINITY), Some(0.7));
        assert_eq!(stat(&ratio, Stat::Min, 0.0, f64::INFINITY), Some(0.2));
        // 0→5 in 1 s, reset to 3, +4 in 2 s
        let r = series(&expr("rate(total)"), &s).unwrap();
        assert_eq!(r, vec![[1.0, 5.0], [2.0, 3.0], [4.0, 2.0]]);
        assert_eq!(stat(&r, Stat::Avg, 0.0, 3.0), Some(4.0), "a window");
        assert_eq!(stat(&r, Stat::Last, 0.0, f64::INFINITY), Some(2.0));
        assert_eq!(stat(&r, Stat::Pct(50.0), 0.0, f64::INFINITY), Some(3.0));
        assert_eq!(stat(&r, Stat::Max, 10.0, 20.0), None);
        let e = series(&expr("nope{pid=\"9\"}"), &s).unwrap_err();
        assert_eq!(
            e,
            "no scraped series `nope{pid=\"9\"}` (have: in_use, max, total)"
        );
    }
}
