//! Load stages: a run's shape as a list of targets, each reached over a ramp and then held.
//!
//! Two spellings of one type: a profile's `[[stages]]` tables and the compact `--stages`
//! text, `TARGET:[RAMP+]HOLD` joined by commas (`10:1m,100:30s+2m`). `TARGET` is a number
//! of users (closed workload), `xK`, a multiplier (open workload), or `R/s`, session
//! arrivals per second (open workload at a rate; `R` may have decimals: `0.5/s`).
//!
//! # Invariants
//! - A parsed list is never empty, every hold is > 0, and every stage has the same kind of
//!   target (all users, all multipliers or all rates).
//! - Names are unique; a stage without a name is called by its 1-based index.

use super::Error;
use std::time::Duration;

/// What one stage aims for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Closed workload: concurrent virtual users.
    Users(u64),
    /// Open workload: copies of the recorded arrivals.
    Multiply(u64),
    /// Open workload: session arrivals per second (finite, > 0).
    Rate(f64),
}

impl Target {
    pub fn value(self) -> f64 {
        match self {
            Target::Users(n) | Target::Multiply(n) => n as f64,
            Target::Rate(r) => r,
        }
    }

    /// Which kind of target: every stage of a list has the same.
    fn kind(self) -> &'static str {
        match self {
            Target::Users(_) => "users",
            Target::Multiply(_) => "multiply",
            Target::Rate(_) => "rate",
        }
    }
}

/// One stage: move to `target` over `ramp`, then hold it for `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: Option<String>,
    pub target: Target,
    /// Zero: the change is made at once (new users start at the run's spawn rate).
    pub ramp: Duration,
    pub hold: Duration,
}

/// The keys of one `[[stages]]` table.
pub(super) const KEYS: &[&str] = &["name", "users", "multiply", "rate", "ramp", "hold"];

/// A rate of sessions per second, `5/s`, `0.5/s` or a bare number (`5`): finite and > 0.
pub fn rate(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    t.parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0)
}

/// Parses the compact form, e.g. `10:1m,100:30s+2m,x3:1m`; the error says what is wrong
/// with which stage.
pub fn parse_list(text: &str) -> Result<Vec<Stage>, String> {
    let mut out = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let part = part.trim();
        let n = i + 1;
        let (target, time) = part.split_once(':').ok_or_else(|| {
            format!("stage {n} `{part}`: expected TARGET:[RAMP+]HOLD, e.g. 100:30s+2m")
        })?;
        let target = target.trim();
        let target = match target.strip_prefix(['x', 'X']) {
            _ if target.ends_with("/s") => Target::Rate(rate(target).ok_or_else(|| {
                format!("stage {n} `{part}`: rate `{target}` must be a number of sessions per second > 0 followed by /s (e.g. 2.5/s)")
            })?),
            Some(k) => Target::Multiply(count(k).ok_or_else(|| {
                format!("stage {n} `{part}`: multiplier `{target}` must be x followed by a whole number ≥ 1")
            })?),
            None => Target::Users(count(target).ok_or_else(|| {
                format!("stage {n} `{part}`: `{target}` is not a number of users ≥ 1 (or xK for a multiplier, R/s for a rate)")
            })?),
        };
        let (ramp, hold) = match time.split_once('+') {
            Some((r, h)) => (
                duration(r).ok_or_else(|| {
                    format!(
                        "stage {n} `{part}`: ramp `{}` is not a duration (30s, 2m, 1h)",
                        r.trim()
                    )
                })?,
                h,
            ),
            None => (Duration::ZERO, time),
        };
        let hold = duration(hold).filter(|d| !d.is_zero()).ok_or_else(|| {
            format!(
                "stage {n} `{part}`: hold `{}` is not a duration > 0 (30s, 2m, 1h)",
                hold.trim()
            )
        })?;
        out.push(Stage {
            name: None,
            target,
            ramp,
            hold,
        });
    }
    check(&out)?;
    Ok(out)
}

/// The list-wide rules: not empty, one kind of target, unique names.
pub(super) fn check(stages: &[Stage]) -> Result<(), String> {
    let Some(first) = stages.first() else {
        return Err("no stage given".into());
    };
    let kind = first.target.kind();
    if let Some((i, s)) = stages
        .iter()
        .enumerate()
        .find(|(_, s)| s.target.kind() != kind)
    {
        let names = |k: &str| match k {
            "users" => "users",
            "multiply" => "multipliers",
            _ => "rates",
        };
        return Err(format!(
            "stage {} mixes {} and {}: every stage gives `users` (closed workload), every stage `multiply` (open workload) or every stage `rate` (sessions per second)",
            i + 1,
            names(kind),
            names(s.target.kind()),
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        if let Some(name) = &s.name {
            if stages[..i].iter().any(|o| o.name.as_ref() == Some(name)) {
                return Err(format!(
                    "stage {}: the name \"{name}\" is used twice",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// The whole shape's length: every ramp and hold.
pub fn total(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.ramp + s.hold).sum()
}

fn count(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok().filter(|n| *n >= 1)
}

fn duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n));
    }
    humantime::parse_duration(s).ok()
}

impl super::Validator<'_> {
    /// `[[stages]]`: a list of tables, each `users` or `multiply`, an optional `ramp` and
    /// `name`, and a `hold`.
    pub(super) fn stages(&self, t: &toml::Table) -> Result<Vec<Stage>, Error> {
        let items = match t.get("stages") {
            None => return Ok(Vec::new()),
            Some(toml::Value::Array(items)) if !items.is_empty() => items,
            Some(other) => {
                return Err(self.bad(
                    "stages",
                    &format!(
                        "must be a list of tables ([[stages]] with users and hold), found {}",
                        if matches!(other, toml::Value::Array(_)) {
                            "an empty list"
                        } else {
                            super::kind(other)
                        }
                    ),
                ))
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("stages[{i}].");
            let Some(st) = item.as_table() else {
                return Err(self.bad(
                    &format!("stages[{i}]"),
                    &format!(
                        "must be a table (users, ramp, hold), found {}",
                        super::kind(item)
                    ),
                ));
            };
            self.known(st, KEYS, &prefix)?;
            let users = self
                .count(st, "users")
                .map_err(|e| self.prefixed(e, &prefix))?;
            let multiply = self
                .count(st, "multiply")
                .map_err(|e| self.prefixed(e, &prefix))?;
            let per_s = self
                .rate(st, "rate")
                .map_err(|e| self.prefixed(e, &prefix))?;
            let target = match (users, multiply, per_s) {
                (Some(u), None, None) => Target::Users(u),
                (None, Some(m), None) => Target::Multiply(m),
                (None, None, Some(r)) => Target::Rate(r),
                (None, None, None) => {
                    return Err(self.bad(
                        &format!("stages[{i}]"),
                        "needs `users` (closed workload), `multiply` or `rate` (open workload)",
                    ))
                }
                (u, _, r) => {
                    let key = if r.is_some() { "rate" } else { "multiply" };
                    let other = if u.is_some() { "users" } else { "multiply" };
                    return Err(self.bad(
                        &format!("{prefix}{key}"),
                        &format!("cannot be combined with `{other}` in one stage"),
                    ));
                }
            };
            let ramp = match st.get("ramp") {
                Some(toml::Value::Integer(0)) => Duration::ZERO,
                Some(toml::Value::String(r)) if r.trim() == "0" || r.trim() == "0s" => {
                    Duration::ZERO
                }
                _ => self
                    .duration(st, "ramp")
                    .map_err(|e| self.prefixed(e, &prefix))?
                    .unwrap_or_default(),
            };
            let hold = self
                .duration(st, "hold")
                .map_err(|e| self.prefixed(e, &prefix))?
                .ok_or_else(|| {
                    self.bad(
                        &format!("stages[{i}]"),
                        "needs `hold`, how long the stage's target is held (e.g. \"2m\")",
                    )
                })?;
            out.push(Stage {
                name: self.string(st, "name", &prefix)?,
                target,
                ramp,
                hold,
            });
        }
        check(&out).map_err(|e| self.bad("stages", &e))?;
        Ok(out)
    }

    /// `e` with `prefix` put before its key (a key checked inside a sub-table).
    fn prefixed(&self, e: Error, prefix: &str) -> Error {
        match e {
            Error::BadValue { path, key, problem } => Error::BadValue {
                path,
                key: format!("{prefix}{key}"),
                problem,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_compact_form_gives_targets_ramps_and_holds() {
        let s = parse_list("10:1m, 100:30s+2m,1000:0+5").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].target, s[0].ramp, s[0].hold),
            (Target::Users(10), secs(0), secs(60))
        );
        assert_eq!(
            (s[1].target, s[1].ramp, s[1].hold),
            (Target::Users(100), secs(30), secs(120))
        );
        assert_eq!(s[2].hold, secs(5));
        assert_eq!(total(&s), secs(215));
        let open = parse_list("x2:10s,x4:5s+10s").unwrap();
        assert_eq!(open[1].target, Target::Multiply(4));
        let rate = parse_list("2/s:10s, 0.5/s:5s+20s").unwrap();
        assert_eq!(
            (rate[0].target, rate[1].target, rate[1].ramp),
            (Target::Rate(2.0), Target::Rate(0.5), secs(5))
        );
    }

    #[test]
    fn bad_stages_say_which_and_why() {
        let cases: &[(&str, &str)] = &[
            ("10", "stage 1 `10`: expected TARGET:[RAMP+]HOLD"),
            (
                "10:1m,0:1m",
                "stage 2 `0:1m`: `0` is not a number of users ≥ 1",
            ),
            ("ten:1m", "`ten` is not a number of users"),
            (
                "x0:1m",
                "multiplier `x0` must be x followed by a whole number ≥ 1",
            ),
            ("10:soon+1m", "ramp `soon` is not a duration"),
            ("10:0s", "hold `0s` is not a duration > 0"),
            ("10:1m,x2:1m", "stage 2 mixes users and multipliers"),
            ("2/s:1m,10:1m", "stage 2 mixes rates and users"),
            (
                "0/s:1m",
                "rate `0/s` must be a number of sessions per second > 0",
            ),
            ("x/s:1m", "rate `x/s`"),
        ];
        for (text, want) in cases {
            let e = parse_list(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}

#[cfg(test)]
mod profile_tests {
    use super::super::*;

    fn parse(text: &str) -> Result<Profile, Error> {
        Profile::parse(text, Path::new("profiles/ladder.toml"))
    }

    #[test]
    fn stages_are_tables_of_target_ramp_and_hold() {
        let p = parse(
            "[[stages]]\nname = \"warm\"\nusers = 10\nhold = \"1m\"\n\
             [[stages]]\nusers = 100\nramp = \"30s\"\nhold = 120\n",
        )
        .unwrap();
        let s = &p.settings.stages;
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name.as_deref(), Some("warm"));
        assert_eq!(
            (s[1].target, s[1].ramp, s[1].hold),
            (
                stages::Target::Users(100),
                Duration::from_secs(30),
                Duration::from_secs(120)
            )
        );
        let open = parse("[[stages]]\nmultiply = 2\nramp = 0\nhold = \"10s\"").unwrap();
        assert_eq!(open.settings.stages[0].target, stages::Target::Multiply(2));
        let rate = parse("[[stages]]\nrate = \"2.5/s\"\nhold = 5\n[[stages]]\nrate = 4\nhold = 5")
            .unwrap();
        let targets: Vec<_> = rate.settings.stages.iter().map(|s| s.target).collect();
        assert_eq!(
            targets,
            [stages::Target::Rate(2.5), stages::Target::Rate(4.0)]
        );
        let flat = parse("rate = \"5/s\"").unwrap();
        assert_eq!(flat.settings.rate, Some(5.0));
    }

    #[test]
    fn bad_stages_name_the_file_the_stage_and_the_key() {
        let cases: &[(&str, &str)] = &[
            ("[[stages]]\nusres = 1\nhold = 1", "unknown key `stages[0].usres` (did you mean `stages[0].users`?)"),
            ("[[stages]]\nhold = \"1m\"", "`stages[0]` needs `users` (closed workload), `multiply` or `rate`"),
            ("[[stages]]\nrate = \"fast\"\nhold = 1", "`stages[0].rate` must be a number of sessions per second > 0"),
            ("[[stages]]\nrate = 2\nusers = 3\nhold = 1", "`stages[0].rate` cannot be combined with `users`"),
            ("[[stages]]\nrate = 2\nhold = 1\n[[stages]]\nusers = 3\nhold = 1", "`stages` stage 2 mixes rates and users"),
            ("rate = 2\nusers = 3", "`rate` cannot be combined with `users`"),
            ("rate = 0", "`rate` must be a number > 0"),
            ("[[stages]]\nusers = 5", "`stages[0]` needs `hold`"),
            ("[[stages]]\nusers = 0\nhold = 1", "`stages[0].users` must be a whole number ≥ 1, found 0"),
            ("[[stages]]\nusers = 5\nhold = \"soon\"", "`stages[0].hold` must be a duration"),
            ("[[stages]]\nusers = 5\nmultiply = 2\nhold = 1", "`stages[0].multiply` cannot be combined with `users`"),
            ("[[stages]]\nusers = 5\nhold = 1\n[[stages]]\nmultiply = 2\nhold = 1", "`stages` stage 2 mixes users and multipliers"),
            ("[[stages]]\nname = \"a\"\nusers = 5\nhold = 1\n[[stages]]\nname = \"a\"\nusers = 6\nhold = 1", "the name \"a\" is used twice"),
            ("users = 5\n[[stages]]\nusers = 5\nhold = 1", "`users` cannot be combined with `[[stages]]`"),
            ("stages = 3", "`stages` must be a list of tables"),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.starts_with("profiles/ladder.toml: "), "{e}");
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn flag_stages_replace_the_profiles_workload_and_a_workload_flag_its_stages() {
        let profile = parse("spawn_rate = 2\n[[stages]]\nusers = 5\nhold = 1")
            .unwrap()
            .settings;
        let users = profile.overridden_by(&Settings {
            users: Some(3),
            ..Settings::default()
        });
        assert!(users.stages.is_empty() && users.users == Some(3));
        let flat = parse("users = 4\nspawn_rate = 2").unwrap().settings;
        let staged = flat.overridden_by(&Settings {
            stages: stages::parse_list("1:1s,2:1s").unwrap(),
            ..Settings::default()
        });
        assert_eq!((staged.users, staged.stages.len()), (None, 2));
        assert_eq!(
            staged.spawn_rate,
            Some(2.0),
            "kept for stages without a ramp"
        );
    }

    #[test]
    fn the_shipped_ladder_runs_the_seeds_four_levels() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/ladder.toml");
        let p = Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let users: Vec<f64> = p.settings.stages.iter().map(|s| s.target.value()).collect();
        assert_eq!(users, [10.0, 100.0, 1000.0, 10_000.0]);
        assert!(!p.settings.thresholds.is_empty());
    }
}
