//! Rewriting a recorded request for one virtual user: recorded ids → this user's live ids.
//!
//! Pure functions. A step's request is rebuilt from the plan by substituting, for each
//! variable it uses, the recorded value by the user's live one — in the path and query
//! (percent-encoded), header values (as is) and the body (JSON-escaped inside a JSON body).
//! A request that finds nothing to replace borrows its recorded parts (`Cow`, `Bytes`
//! clone), so a plain replay copies nothing.
//!
//! # Invariants
//! - A request whose used variable has no live value is never built: [`request`] returns
//!   [`Missing`] naming the variable, and the caller counts a correlation failure.
//! - A fresh value keeps the recorded value's shape: a UUID stays a UUID (v4), otherwise each
//!   digit stays a digit and each letter a letter of the same case; other characters are kept.

use super::plan::{Step, Var};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use rand::Rng;
use std::borrow::Cow;

/// Characters escaped in a substituted path segment or query value.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'=')
    .add(b'+')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    /// Path and query, e.g. `/session/status/abc?x=1`.
    pub path_and_query: Cow<'a, str>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// A variable the request needs but the user never received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub var: usize,
    pub name: String,
}

/// Builds the request of `step` with the user's `live` values (indexed like `vars`).
pub fn request<'a>(
    step: &'a Step,
    vars: &[Var],
    live: &[Option<String>],
) -> Result<Prepared<'a>, Missing> {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(step.uses.len());
    for &v in &step.uses {
        match live.get(v).and_then(|x| x.as_deref()) {
            Some(value) => pairs.push((vars[v].recorded.as_str(), value)),
            None => {
                return Err(Missing {
                    var: v,
                    name: vars[v].name.clone(),
                })
            }
        }
    }
    let encoded: Vec<(&str, String)> = pairs
        .iter()
        .map(|(r, l)| (*r, utf8_percent_encode(l, COMPONENT).to_string()))
        .collect();
    let enc_pairs: Vec<(&str, &str)> = encoded.iter().map(|(r, l)| (*r, l.as_str())).collect();
    let path = replace_all(&step.path, &enc_pairs);
    let path_and_query = match &step.query {
        None => path,
        Some(q) => Cow::Owned(format!("{path}?{}", replace_all(q, &enc_pairs))),
    };
    let headers = step
        .headers
        .iter()
        .map(|(n, v)| {
            let text = v.to_str().unwrap_or_default();
            match replace_all(text, &pairs) {
                Cow::Borrowed(_) => (n.clone(), v.clone()),
                Cow::Owned(s) => (
                    n.clone(),
                    HeaderValue::from_str(&s).unwrap_or_else(|_| v.clone()),
                ),
            }
        })
        .collect();
    let body = if pairs.is_empty() {
        step.body.clone()
    } else if step.json_body {
        let escaped: Vec<(String, String)> = pairs
            .iter()
            .map(|(r, l)| (json_escape(r), json_escape(l)))
            .collect();
        let esc: Vec<(&[u8], &[u8])> = escaped
            .iter()
            .map(|(r, l)| (r.as_bytes(), l.as_bytes()))
            .collect();
        replace_bytes(&step.body, &esc)
    } else {
        let raw: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(r, l)| (r.as_bytes(), l.as_bytes()))
            .collect();
        replace_bytes(&step.body, &raw)
    };
    Ok(Prepared {
        path_and_query,
        headers,
        body,
    })
}

/// Replaces every occurrence of each `from` by its `to`; borrows when nothing matched.
pub fn replace_all<'a>(text: &'a str, pairs: &[(&str, &str)]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for (from, to) in pairs {
        if !from.is_empty() && out.contains(from) {
            out = Cow::Owned(out.replace(from, to));
        }
    }
    out
}

fn replace_bytes(body: &Bytes, pairs: &[(&[u8], &[u8])]) -> Bytes {
    let mut cur: Option<Vec<u8>> = None;
    for (from, to) in pairs {
        let hay: &[u8] = cur.as_deref().unwrap_or(body);
        if from.is_empty() || !contains(hay, from) {
            continue;
        }
        let mut out = Vec::with_capacity(hay.len() + to.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(hay[i]);
                i += 1;
            }
        }
        cur = Some(out);
    }
    match cur {
        Some(v) => Bytes::from(v),
        None => body.clone(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The JSON string-literal content of `s` (escaped, without quotes).
fn json_escape(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// A fresh value of the same shape as `recorded`.
pub fn fresh(recorded: &str, rng: &mut impl Rng) -> String {
    if uuid::Uuid::try_parse(recorded).is_ok() {
        let v = uuid::Builder::from_random_bytes(rng.gen()).into_uuid();
        // keep the recorded letter case and hyphenation
        let s = if recorded.contains('-') {
            v.hyphenated().to_string()
        } else {
            v.simple().to_string()
        };
        return if recorded.chars().any(|c| c.is_ascii_uppercase()) {
            s.to_ascii_uppercase()
        } else {
            s
        };
    }
    // a readable prefix such as `req_` or `sess-` is kept verbatim
    let prefix = recorded
        .find(['_', '-'])
        .filter(|&i| i > 0 && recorded[..i].bytes().all(|b| b.is_ascii_alphabetic()))
        .map_or(0, |i| i + 1);
    let rest = &recorded[prefix..];
    let hex = rest
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    let mut out = String::with_capacity(recorded.len());
    out.push_str(&recorded[..prefix]);
    out.extend(rest.chars().map(|c| match c {
        '0'..='9' => rng.gen_range(b'0'..=b'9') as char,
        'a'..='f' if hex => char::from_digit(rng.gen_range(10..16), 16).unwrap_or(c),
        'A'..='F' if hex => {
            char::from_digit(rng.gen_range(10..16), 16).map_or(c, |d| d.to_ascii_uppercase())
        }
        'a'..='z' => rng.gen_range(b'a'..=b'z') as char,
        'A'..='Z' => rng.gen_range(b'A'..=b'Z') as char,
        other => other,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use crate::replay::plan::{Plan, VarSource};
    use rand::SeedableRng;
    use serde_json::json;

    const T: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
    const L: &str = "00000000-1111-4222-8333-444444444444";

    fn plan() -> Plan {
        let a = ex(
            1,
            0,
            100,
            "POST",
            "/session/start",
            json!({"student_id": "s-17"}),
            json!({"thread_id": T}),
        );
        let b = ex(
            2,
            200,
            100,
            "POST",
            "/session/continue",
            json!({"thread_id": T, "user_response": "hi"}),
            json!({}),
        );
        let mut c = ex(
            3,
            400,
            10,
            "GET",
            &format!("/session/status/{T}"),
            json!(null),
            json!({}),
        );
        c.req.query = Some(format!("t={T}"));
        c.req.headers.push(("x-thread".into(), T.into()));
        Plan::from_exchanges(vec![a, b, c])
    }

    #[test]
    fn live_values_replace_recorded_ones_everywhere() {
        let p = plan();
        let s = &p.sessions[0];
        let live = vec![Some(L.to_string())];
        let first = request(&s.steps[0], &s.vars, &live).unwrap();
        assert!(matches!(
            first.path_and_query,
            Cow::Borrowed("/session/start")
        ));
        assert_eq!(
            first.body.as_ptr(),
            s.steps[0].body.as_ptr(),
            "unchanged body is shared"
        );
        let b = request(&s.steps[1], &s.vars, &live).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(body, json!({"thread_id": L, "user_response": "hi"}));
        let c = request(&s.steps[2], &s.vars, &live).unwrap();
        assert_eq!(c.path_and_query, format!("/session/status/{L}?t={L}"));
        assert_eq!(c.headers[0].1, L);
    }

    #[test]
    fn a_missing_value_is_reported_not_sent_stale() {
        let p = plan();
        let s = &p.sessions[0];
        let err = request(&s.steps[1], &s.vars, &[None]).unwrap_err();
        assert_eq!(
            err,
            Missing {
                var: 0,
                name: "thread_id".into()
            }
        );
        assert_eq!(
            s.vars[0].source,
            VarSource::Json {
                step: 0,
                pointer: "/thread_id".into()
            }
        );
    }

    #[test]
    fn live_values_are_escaped_for_their_context() {
        let p = plan();
        let s = &p.sessions[0];
        let odd = vec![Some("a/b\"c 1".to_string())];
        let b = request(&s.steps[1], &s.vars, &odd).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(body["thread_id"], "a/b\"c 1");
        let c = request(&s.steps[2], &s.vars, &odd).unwrap();
        assert_eq!(
            c.path_and_query,
            "/session/status/a%2Fb%22c%201?t=a%2Fb%22c%201"
        );
    }

    #[test]
    fn fresh_values_keep_their_shape() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let u = fresh(T, &mut rng);
        assert_ne!(u, T);
        assert_eq!(uuid::Uuid::parse_str(&u).unwrap().get_version_num(), 4);
        assert_eq!(u.len(), 36);
        let t = fresh("req_AB12cd34ef56gh78", &mut rng);
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("req_"));
        assert!(t[4..6].bytes().all(|b| b.is_ascii_uppercase()));
        assert!(t[6..8].bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(fresh(T, &mut rng), u, "every call is new");
    }
}
