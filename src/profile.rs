//! Profile files (`profiles/*.toml`): a named scenario — load shape, pacing, expected results
//! as thresholds, and what to measure — that flags can override.
//!
//! Uses nothing else of ours but [`Timing`] (`crate::timing`): thresholds stay strings here
//! and are parsed by the command layer (`report::Thresholds`), so a bad threshold is
//! reported with its column there.
//!
//! # Invariants
//! - Validation is strict and complete at load time: an unknown key or a bad value is an
//!   [`Error`] naming the file, the key and what is allowed (with a did-you-mean for keys).
//!   A loaded [`Profile`] holds only typed, checked values — durations are `Duration`s,
//!   never strings.
//! - `users` (closed workload) and `multiply` (open workload) exclude each other.
//! - [`Settings::overridden_by`] is the only place flags and profile meet: a flag that is
//!   set wins; list values (thresholds, fields, correlation pointers) add up; a header set
//!   by a flag replaces the profile's header of the same name.

pub mod stages;

pub use stages::Stage;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read the profile: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not valid TOML: {message}")]
    Syntax {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },
    #[error("{path}: unknown key `{key}`{hint}; allowed: {allowed}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// ` (did you mean `users`?)` or empty.
        hint: String,
        allowed: String,
    },
    #[error("{path}: `{key}` {problem}")]
    BadValue {
        path: PathBuf,
        key: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

pub use crate::timing::Timing;

/// Every setting a profile (or a flag) can give; `None` / empty when not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Closed workload: concurrent virtual users.
    pub users: Option<u64>,
    /// Users started per second.
    pub spawn_rate: Option<f64>,
    /// Open workload: recorded arrivals replayed K times over.
    pub multiply: Option<u64>,
    /// Open workload at a rate: session arrivals per second (`rate`, `--rate`).
    pub rate: Option<f64>,
    /// How long the run lasts (`run_time`, alias `duration`).
    pub run_time: Option<Duration>,
    pub timing: Option<Timing>,
    /// Think times (and, open, arrival offsets) are divided by this.
    pub speed: Option<f64>,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
    pub seed: Option<u64>,
    /// Closed users play sessions back to back instead of whole recorded clients with
    /// their pauses between sessions (`back_to_back`).
    pub back_to_back: Option<bool>,
    /// Worker threads at real-time priority (`realtime`, `--realtime`).
    pub realtime: Option<bool>,
    /// Threshold expressions (`p95 < 5s`), parsed by `report::Thresholds`.
    pub thresholds: Vec<String>,
    /// Extra JSON pointers whose response values are session correlations (`/thread_id`).
    pub correlation: Vec<String>,
    /// JSON pointer of the conversation node in responses (default `/current_node`).
    pub node_pointer: Option<String>,
    /// JSON pointers counted when truthy (`/simulation_triggered`).
    pub fields: Vec<String>,
    /// Headers injected into every replayed request (profile headers in name order).
    pub headers: Vec<(String, String)>,
    /// What users do when the live agent leaves the recording: one of
    /// [`ON_DIVERGENCE`] (`on_divergence`).
    pub on_divergence: Option<String>,
    /// The run's load shape (`[[stages]]`, `--stages`); empty: one level for the whole run.
    pub stages: Vec<Stage>,
}

/// The values `on_divergence` (and `--on-divergence`) take.
pub const ON_DIVERGENCE: &[&str] = &["continue", "resync", "end"];

impl Settings {
    /// `self` (a profile) with every value `flags` sets taking precedence.
    pub fn overridden_by(&self, flags: &Settings) -> Settings {
        fn pick<T: Clone>(flag: &Option<T>, profile: &Option<T>) -> Option<T> {
            flag.clone().or_else(|| profile.clone())
        }
        fn union(a: &[String], b: &[String]) -> Vec<String> {
            let mut out = a.to_vec();
            out.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            out
        }
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| !flags.headers.iter().any(|(f, _)| f.eq_ignore_ascii_case(k)))
            .cloned()
            .collect();
        headers.extend(flags.headers.iter().cloned());
        // a workload flag replaces the profile's workload of the other kind, and its stages;
        // flag stages replace the profile's workload
        let stages = if !flags.stages.is_empty() {
            flags.stages.clone()
        } else if flags.users.is_some() || flags.multiply.is_some() || flags.rate.is_some() {
            Vec::new()
        } else {
            self.stages.clone()
        };
        let (users, spawn_rate, multiply, rate) = if !flags.stages.is_empty() {
            (None, pick(&flags.spawn_rate, &self.spawn_rate), None, None)
        } else if flags.multiply.is_some() || flags.rate.is_some() {
            (flags.users, flags.spawn_rate, flags.multiply, flags.rate)
        } else if flags.users.is_some() {
            (
                flags.users,
                pick(&flags.spawn_rate, &self.spawn_rate),
                None,
                None,
            )
        } else {
            (
                self.users,
                pick(&flags.spawn_rate, &self.spawn_rate),
                self.multiply,
                self.rate,
            )
        };
        Settings {
            users,
            spawn_rate,
            multiply,
            rate,
            run_time: pick(&flags.run_time, &self.run_time),
            timing: pick(&flags.timing, &self.timing),
            speed: pick(&flags.speed, &self.speed),
            timeout: pick(&flags.timeout, &self.timeout),
            seed: pick(&flags.seed, &self.seed),
            back_to_back: pick(&flags.back_to_back, &self.back_to_back),
            realtime: pick(&flags.realtime, &self.realtime),
            thresholds: union(&self.thresholds, &flags.thresholds),
            correlation: union(&self.correlation, &flags.correlation),
            node_pointer: pick(&flags.node_pointer, &self.node_pointer),
            fields: union(&self.fields, &flags.fields),
            headers,
            on_divergence: pick(&flags.on_divergence, &self.on_divergence),
            stages,
        }
    }
}

/// A loaded, validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub path: PathBuf,
    /// Profile name: the file stem (`baseline`).
    pub name: String,
    pub description: Option<String>,
    pub settings: Settings,
}

const TOP_KEYS: &[&str] = &[
    "description",
    "users",
    "spawn_rate",
    "multiply",
    "rate",
    "run_time",
    "duration",
    "timing",
    "speed",
    "timeout",
    "seed",
    "back_to_back",
    "realtime",
    "thresholds",
    "correlation",
    "metrics",
    "headers",
    "on_divergence",
    "stages",
];
const CORRELATION_KEYS: &[&str] = &["pointers"];
const METRICS_KEYS: &[&str] = &["node", "fields"];

impl Profile {
    pub fn load(path: &Path) -> Result<Profile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Profile::parse(&text, path)
    }

    /// Parses profile text; `path` names the file in errors and gives the profile its name.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, Error> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = line_column(text, e.span().map_or(0, |r| r.start));
            Error::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim_end().replace('\n', "; "),
            }
        })?;
        let v = Validator { path };
        v.known(&table, TOP_KEYS, "")?;
        let mut s = Settings {
            users: v.count(&table, "users")?,
            spawn_rate: v.positive(&table, "spawn_rate")?,
            multiply: v.count(&table, "multiply")?,
            rate: v.rate(&table, "rate")?,
            run_time: v.duration(&table, "run_time")?,
            timing: v.timing(&table)?,
            speed: v.positive(&table, "speed")?,
            timeout: v.duration(&table, "timeout")?,
            seed: v.seed(&table)?,
            back_to_back: v.boolean(&table, "back_to_back")?,
            realtime: v.boolean(&table, "realtime")?,
            thresholds: v.strings(&table, "thresholds", "")?,
            on_divergence: v.string(&table, "on_divergence", "")?,
            ..Settings::default()
        };
        if let Some(p) = &s.on_divergence {
            if !ON_DIVERGENCE.contains(&p.as_str()) {
                return Err(v.bad(
                    "on_divergence",
                    &format!("must be \"continue\", \"resync\" or \"end\", found \"{p}\""),
                ));
            }
        }
        if let Some(d) = v.duration(&table, "duration")? {
            if s.run_time.is_some() {
                return Err(v.bad("duration", "repeats `run_time`; give one of the two"));
            }
            s.run_time = Some(d);
        }
        if s.users.is_some() && s.multiply.is_some() {
            return Err(v.bad(
                "multiply",
                "cannot be combined with `users`: use `users` (+ `spawn_rate`) for a closed workload or `multiply` for an open one",
            ));
        }
        if s.rate.is_some() && (s.users.is_some() || s.multiply.is_some()) {
            return Err(v.bad(
                "rate",
                &format!(
                    "cannot be combined with `{}`: `rate` is an open workload of its own (sessions per second)",
                    if s.users.is_some() { "users" } else { "multiply" }
                ),
            ));
        }
        if s.spawn_rate.is_some() && (s.multiply.is_some() || s.rate.is_some()) {
            return Err(v.bad(
                "spawn_rate",
                "applies to `users` (closed workload), not to `multiply`",
            ));
        }
        s.stages = v.stages(&table)?;
        if !s.stages.is_empty() && (s.users.is_some() || s.multiply.is_some() || s.rate.is_some()) {
            let key = if s.users.is_some() {
                "users"
            } else if s.multiply.is_some() {
                "multiply"
            } else {
                "rate"
            };
            return Err(v.bad(
                key,
                "cannot be combined with `[[stages]]`: each stage gives its own `users` (or `multiply`)",
            ));
        }
        if let Some(t) = v.table(&table, "correlation")? {
            v.known(t, CORRELATION_KEYS, "correlation.")?;
            s.correlation = v.strings(t, "pointers", "correlation.")?;
            v.pointers(&s.correlation, "correlation.pointers")?;
        }
        if let Some(t) = v.table(&table, "metrics")? {
            v.known(t, METRICS_KEYS, "metrics.")?;
            if let Some(node) = v.string(t, "node", "metrics.")? {
                v.pointers(std::slice::from_ref(&node), "metrics.node")?;
                s.node_pointer = Some(node);
            }
            s.fields = v.strings(t, "fields", "metrics.")?;
            v.pointers(&s.fields, "metrics.fields")?;
        }
        if let Some(t) = v.table(&table, "headers")? {
            for (name, value) in t {
                let key = format!("headers.{name}");
                if name.is_empty() || !name.bytes().all(is_token_byte) {
                    return Err(v.bad(
                        &key,
                        "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                    ));
                }
                match value.as_str() {
                    Some(val) if !val.contains(['\r', '\n']) => {
                        s.headers.push((name.clone(), val.to_string()))
                    }
                    Some(_) => return Err(v.bad(&key, "must not contain a line break")),
                    None => {
                        return Err(v.bad(&key, &format!("must be a string, found {}", kind(value))))
                    }
                }
            }
        }
        Ok(Profile {
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: v.string(&table, "description", "")?,
            settings: s,
        })
    }
}

struct Validator<'a> {
    path: &'a Path,
}

impl Validator<'_> {
    fn bad(&self, key: &str, problem: &str) -> Error {
        Error::BadValue {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            problem: problem.to_string(),
        }
    }

    fn known(&self, t: &toml::Table, allowed: &[&str], prefix: &str) -> Result<(), Error> {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = did_you_mean(key, allowed)
                    .map(|m| format!(" (did you mean `{prefix}{m}`?)"))
                    .unwrap_or_default();
                return Err(Error::UnknownKey {
                    path: self.path.to_path_buf(),
                    key: format!("{prefix}{key}"),
                    hint,
                    allowed: allowed
                        .iter()
                        .map(|k| format!("{prefix}{k}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }

    fn count(&self, t: &toml::Table, key: &str) -> Result<Option<u64>, Error> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n >= 1 => Ok(Some(*n as u64)),
            Some(other) => Err(self.bad(
                key,
                &format!("must be a whole number ≥ 1, found {}", shown(other)),
            )),
        }
    }

    fn seed(&self, t: &toml::Table) -> Result<Option<u64>, Error> {
        match t.get("seed") {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
            Some(other) => Err(self.bad(
                "seed",
                &format!("must be a whole number ≥ 0, found {}", shown(other)),
            )),
        }
    }

    fn boolean(&self, t: &toml::Table, key: &str) -> Result<Option<bool>, Error> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(self.bad(
                key,
                &format!("must be true or false, found {}", shown(other)),
            )),
        }
    }

    /// A rate of sessions per second: a number > 0 or a string such as `"5/s"`.
    fn rate(&self, t: &toml::Table, key: &str) -> Result<Option<f64>, Error> {
        match t.get(key) {
            Some(toml::Value::String(text)) => stages::rate(text).map(Some).ok_or_else(|| {
                self.bad(
                    key,
                    &format!("must be a number of sessions per second > 0 (5, 2.5 or \"5/s\"), found \"{text}\""),
                )
            }),
            _ => self.positive(t, key),
        }
    }

    fn positive(&self, t: &toml::Table, key: &str) -> Result<Option<f64>, Error> {
        let v = match t.get(key) {
            None => return Ok(None),
            Some(toml::Value::Integer(n)) => *n as f64,
            Some(toml::Value::Float(f)) => *f,
            Some(other) => {
                return Err(self.bad(
                    key,
                    &format!("must be a number > 0, found {}", shown(other)),
                ))
            }
        };
        if v.is_finite() && v > 0.0 {
            Ok(Some(v))
        } else {
            Err(self.bad(key, &format!("must be a number > 0, found {v}")))
        }
    }

    fn duration(&self, t: &toml::Table, key: &str) -> Result<Option<Duration>, Error> {
        let allowed =
            "must be a duration such as \"30s\", \"5m\", \"1h 30m\" or a number of seconds";
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n > 0 => Ok(Some(Duration::from_secs(*n as u64))),
            Some(toml::Value::Float(f)) if f.is_finite() && *f > 0.0 => {
                Ok(Some(Duration::from_secs_f64(*f)))
            }
            Some(toml::Value::String(s)) => match humantime::parse_duration(s.trim()) {
                Ok(d) if !d.is_zero() => Ok(Some(d)),
                _ => Err(self.bad(key, &format!("{allowed}, found \"{s}\""))),
            },
            Some(other) => Err(self.bad(key, &format!("{allowed}, found {}", shown(other)))),
        }
    }

    fn timing(&self, t: &toml::Table) -> Result<Option<Timing>, Error> {
        match t.get("timing") {
            None => Ok(None),
            Some(toml::Value::String(s)) if Timing::from_name(s).is_some() => {
                Ok(Timing::from_name(s))
            }
            Some(other) => {
                let names: Vec<String> = Timing::ALL
                    .iter()
                    .map(|t| format!("\"{}\"", t.name()))
                    .collect();
                Err(self.bad(
                    "timing",
                    &format!("must be {}, found {}", names.join(" or "), shown(other)),
                ))
            }
        }
    }

    fn string(&self, t: &toml::Table, key: &str, prefix: &str) -> Result<Option<String>, Error> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(
                &format!("{prefix}{key}"),
                &format!("must be a string, found {}", kind(other)),
            )),
        }
    }

    fn strings(&self, t: &toml::Table, key: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let full = format!("{prefix}{key}");
        match t.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    toml::Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                    toml::Value::String(_) => Err(self.bad(&format!("{full}[{i}]"), "is empty")),
                    other => Err(self.bad(
                        &format!("{full}[{i}]"),
                        &format!("must be a string, found {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.bad(
                &full,
                &format!("must be a list of strings, found {}", kind(other)),
            )),
        }
    }

    fn table<'t>(&self, t: &'t toml::Table, key: &str) -> Result<Option<&'t toml::Table>, Error> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::Table(x)) => Ok(Some(x)),
            Some(other) => Err(self.bad(
                key,
                &format!("must be a table ([{key}]), found {}", kind(other)),
            )),
        }
    }

    fn pointers(&self, ps: &[String], key: &str) -> Result<(), Error> {
        for p in ps {
            if !p.starts_with('/') {
                return Err(self.bad(key, &format!("holds \"{p}\", which is not a JSON pointer (RFC 6901: it starts with `/`, e.g. \"/thread_id\")")));
            }
        }
        Ok(())
    }
}

fn kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::String(_) => v.to_string(),
        _ => kind(v).to_string(),
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn did_you_mean<'n>(word: &str, names: &[&'n str]) -> Option<&'n str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    names
        .iter()
        .map(|n| (distance(word, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4) && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// 1-based line and column (in characters) of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profile, Error> {
        Profile::parse(text, Path::new("profiles/light.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    #[test]
    fn parses_every_setting() {
        let p = parse(
            r#"
            description = "Light load"
            users = 100
            spawn_rate = 10
            run_time = "10m"
            timing = "schedule"
            on_divergence = "end"
            speed = 2.5
            timeout = 60
            seed = 7
            back_to_back = true
            realtime = true
            thresholds = ["error_rate < 0.1%", "p95 < 5s"]
            [correlation]
            pointers = ["/thread_id", "/session/id"]
            [metrics]
            node = "/state/node"
            fields = ["/simulation_triggered", "/image_url"]
            [headers]
            Authorization = "Bearer test"
            X-Load-Test = "reprise"
            "#,
        )
        .unwrap();
        assert_eq!(p.name, "light");
        assert_eq!(p.description.as_deref(), Some("Light load"));
        let s = &p.settings;
        assert_eq!(s.users, Some(100));
        assert_eq!(s.spawn_rate, Some(10.0));
        assert_eq!(s.run_time, Some(Duration::from_secs(600)));
        assert_eq!(s.timing, Some(Timing::Schedule));
        assert_eq!(s.on_divergence.as_deref(), Some("end"));
        assert_eq!(s.speed, Some(2.5));
        assert_eq!(s.timeout, Some(Duration::from_secs(60)));
        assert_eq!(s.back_to_back, Some(true));
        assert_eq!(s.realtime, Some(true));
        assert_eq!(s.seed, Some(7));
        assert_eq!(s.thresholds, ["error_rate < 0.1%", "p95 < 5s"]);
        assert_eq!(s.correlation, ["/thread_id", "/session/id"]);
        assert_eq!(s.node_pointer.as_deref(), Some("/state/node"));
        assert_eq!(s.fields, ["/simulation_triggered", "/image_url"]);
        assert_eq!(
            s.headers,
            [
                ("Authorization".to_string(), "Bearer test".to_string()),
                ("X-Load-Test".into(), "reprise".into())
            ]
        );
        let open = parse("multiply = 3\nduration = \"90s\"").unwrap();
        assert_eq!(
            (open.settings.multiply, open.settings.run_time),
            (Some(3), Some(Duration::from_secs(90)))
        );
    }

    #[test]
    fn unknown_keys_name_file_key_allowed_and_a_guess() {
        let e = err("usres = 10");
        assert!(e.starts_with("profiles/light.toml: unknown key `usres` (did you mean `users`?); allowed: description, users,"), "{e}");
        let e = err("[metrics]\nnodes = \"/x\"");
        assert_eq!(e, "profiles/light.toml: unknown key `metrics.nodes` (did you mean `metrics.node`?); allowed: metrics.node, metrics.fields");
        let e = err("zzzzzzzz = 1");
        assert!(
            e.starts_with("profiles/light.toml: unknown key `zzzzzzzz`; allowed:"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_file_key_and_what_is_allowed() {
        let cases: &[(&str, &str)] = &[
            ("users = 0", "`users` must be a whole number ≥ 1, found 0"),
            ("users = \"ten\"", "`users` must be a whole number ≥ 1, found \"ten\""),
            ("spawn_rate = -1", "`spawn_rate` must be a number > 0, found -1"),
            ("speed = 0.0", "`speed` must be a number > 0, found 0"),
            ("run_time = \"5 minutes please\"", "`run_time` must be a duration such as \"30s\""),
            ("run_time = \"0s\"", "`run_time` must be a duration"),
            ("timeout = true", "`timeout` must be a duration such as \"30s\", \"5m\", \"1h 30m\" or a number of seconds, found true"),
            ("timing = \"fast\"", "`timing` must be \"think\" or \"schedule\", found \"fast\""),
            ("back_to_back = 1", "`back_to_back` must be true or false, found 1"),
            ("on_divergence = \"skip\"", "`on_divergence` must be \"continue\", \"resync\" or \"end\", found \"skip\""),
            ("on_divergence = 1", "`on_divergence` must be a string, found an integer"),
            ("thresholds = \"p95 < 5s\"", "`thresholds` must be a list of strings, found a string"),
            ("thresholds = [1]", "`thresholds[0]` must be a string, found an integer"),
            ("users = 10\nmultiply = 2", "`multiply` cannot be combined with `users`"),
            ("run_time = \"1m\"\nduration = \"2m\"", "`duration` repeats `run_time`"),
            ("[correlation]\npointers = [\"thread_id\"]", "`correlation.pointers` holds \"thread_id\", which is not a JSON pointer"),
            ("[metrics]\nnode = 3", "`metrics.node` must be a string, found an integer"),
            ("[headers]\n\"Bad Header\" = \"x\"", "`headers.Bad Header` is not a valid header name"),
            ("[headers]\nX-A = 1", "`headers.X-A` must be a string, found an integer"),
            ("metrics = 1", "`metrics` must be a table ([metrics]), found an integer"),
            ("seed = -1", "`seed` must be a whole number ≥ 0"),
        ];
        for (text, msg) in cases {
            let e = err(text);
            assert!(e.starts_with("profiles/light.toml: "), "{e}");
            assert!(e.contains(msg), "{text}: {e}");
        }
        let e = err("users = [");
        assert!(
            e.starts_with("profiles/light.toml:1:10: not valid TOML"),
            "{e}"
        );
        let e = Profile::load(Path::new("profiles/nope.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profiles/nope.toml: cannot read the profile"),
            "{e}"
        );
    }

    #[test]
    fn flags_override_the_profile() {
        let profile = parse(
            "users = 100\nspawn_rate = 10\nrun_time = \"10m\"\nspeed = 1\nthresholds = [\"p95 < 5s\"]\n[headers]\nAuthorization = \"Bearer a\"\nX-Keep = \"1\"",
        )
        .unwrap()
        .settings;
        let flags = Settings {
            users: Some(20),
            speed: Some(10.0),
            thresholds: vec!["error_rate < 1%".into(), "p95 < 5s".into()],
            headers: vec![("authorization".into(), "Bearer b".into())],
            ..Settings::default()
        };
        let s = profile.overridden_by(&flags);
        assert_eq!(s.users, Some(20));
        assert_eq!(s.spawn_rate, Some(10.0), "kept from the profile");
        assert_eq!(s.run_time, Some(Duration::from_secs(600)));
        assert_eq!(s.speed, Some(10.0));
        assert_eq!(
            s.thresholds,
            ["p95 < 5s", "error_rate < 1%"],
            "added, without duplicates"
        );
        assert_eq!(
            s.headers,
            [
                ("X-Keep".to_string(), "1".to_string()),
                ("authorization".into(), "Bearer b".into())
            ]
        );
        // an open-workload flag replaces a closed profile
        let open = profile.overridden_by(&Settings {
            multiply: Some(4),
            ..Settings::default()
        });
        assert_eq!(
            (open.users, open.spawn_rate, open.multiply),
            (None, None, Some(4))
        );
        // nothing set: the profile as is
        assert_eq!(profile.overridden_by(&Settings::default()), profile);
    }

    #[test]
    fn every_shipped_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let expect: &[(&str, u64, f64, u64)] = &[
            ("smoke", 5, 5.0, 30),
            ("baseline", 10, 1.0, 300),
            ("light", 100, 10.0, 600),
            ("medium", 1000, 50.0, 900),
            ("stress", 10_000, 100.0, 1200),
        ];
        for (name, users, spawn, secs) in expect {
            let p =
                Profile::load(&dir.join(format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, *name);
            assert_eq!(p.settings.users, Some(*users), "{name}");
            assert_eq!(p.settings.spawn_rate, Some(*spawn), "{name}");
            assert_eq!(
                p.settings.run_time,
                Some(Duration::from_secs(*secs)),
                "{name}"
            );
            assert!(
                !p.settings.thresholds.is_empty(),
                "{name} carries its expected results"
            );
        }
    }
}

#[cfg(test)]
mod syntax_tests {
    use super::*;

    #[test]
    fn toml_syntax_errors_name_line_and_column() {
        let e = Profile::parse("users = 10\nspawn_rate = = 2\n", Path::new("p.toml")).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("p.toml:2:14: not valid TOML: "), "{text}");
        assert_eq!(line_column("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_column("", 5), (1, 1));
    }
}
