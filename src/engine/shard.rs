//! `--shard auto[/N]`: the shard index (and count) from the engine's environment.
//!
//! - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` is the 0-based index. Kubernetes does
//!   not give the count to the pod, so `auto/N` is required there.
//! - Slurm array job: `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`,
//!   `SLURM_ARRAY_TASK_MIN` (and `SLURM_ARRAY_TASK_STEP`): an array need not start at 0
//!   (`--array=1-4`), so the index is `(ID − MIN) / STEP`.
//!
//! # Invariants
//! - The result is a valid [`Shard`] (`index < count`) or an error naming the variable, its
//!   value and what to do; nothing is guessed (no variable set is an error, not shard 0/1).
//! - An `N` given with `auto/N` must agree with the engine's count when it has one.
//! - Environment is read through the `env` function handed in, so tests need no process
//!   environment.

use crate::replay::Shard;

pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
pub const SLURM_ID: &str = "SLURM_ARRAY_TASK_ID";
pub const SLURM_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
pub const SLURM_MIN: &str = "SLURM_ARRAY_TASK_MIN";
pub const SLURM_STEP: &str = "SLURM_ARRAY_TASK_STEP";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "--shard {spec}: neither {K8S_INDEX} (Kubernetes Indexed Job) nor {SLURM_ID} (Slurm \
         array job) is set; outside an engine, give the shard as --shard i/n"
    )]
    NoEngine { spec: String },
    #[error(
        "--shard {spec}: both {K8S_INDEX} and {SLURM_ID} are set; give the shard as --shard i/n"
    )]
    TwoEngines { spec: String },
    #[error("--shard {spec}: {K8S_INDEX} gives the index but Kubernetes does not give the count; use --shard auto/N with N = the Job's completions")]
    NoCount { spec: String },
    #[error("--shard {spec}: {var}={value} is not {expected}")]
    BadVar {
        spec: String,
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("--shard {spec}: {detail}")]
    Mismatch { spec: String, detail: String },
    #[error("--shard `{spec}`: expected i/n (0 <= i < n), auto or auto/N, e.g. 0/4 or auto/4")]
    Syntax { spec: String },
}

/// What `--shard` said: a fixed `i/n`, or `auto` with an optional count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    Fixed(Shard),
    Auto { count: Option<u64> },
}

impl std::str::FromStr for Spec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Spec, Error> {
        let syntax = || Error::Syntax {
            spec: s.to_string(),
        };
        let t = s.trim();
        match t.strip_prefix("auto") {
            Some("") => Ok(Spec::Auto { count: None }),
            Some(rest) => {
                let n: u64 = rest
                    .strip_prefix('/')
                    .and_then(|n| n.trim().parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(syntax)?;
                Ok(Spec::Auto { count: Some(n) })
            }
            None => t.parse::<Shard>().map(Spec::Fixed).map_err(|_| syntax()),
        }
    }
}

impl Spec {
    /// The shard this process runs; `env` reads an environment variable.
    pub fn resolve(self, spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, Error> {
        let count = match self {
            Spec::Fixed(s) => return Ok(s),
            Spec::Auto { count } => count,
        };
        let spec = spec.trim().to_string();
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        match (get(K8S_INDEX), get(SLURM_ID)) {
            (None, None) => Err(Error::NoEngine { spec }),
            (Some(_), Some(_)) => Err(Error::TwoEngines { spec }),
            (Some(index), None) => {
                let count = count.ok_or_else(|| Error::NoCount { spec: spec.clone() })?;
                let index = number(&spec, K8S_INDEX, &index)?;
                shard(&spec, index, count, K8S_INDEX)
            }
            (None, Some(id)) => {
                let id = number(&spec, SLURM_ID, &id)?;
                let min = get(SLURM_MIN)
                    .map(|v| number(&spec, SLURM_MIN, &v))
                    .transpose()?
                    .unwrap_or(0);
                let step = get(SLURM_STEP)
                    .map(|v| number(&spec, SLURM_STEP, &v))
                    .transpose()?
                    .unwrap_or(1)
                    .max(1);
                let engine_count = get(SLURM_COUNT)
                    .map(|v| number(&spec, SLURM_COUNT, &v))
                    .transpose()?;
                let count = match (count, engine_count) {
                    (Some(n), Some(c)) if n != c => {
                        return Err(Error::Mismatch {
                            spec,
                            detail: format!("{SLURM_COUNT}={c} but auto/{n} says {n} shards"),
                        })
                    }
                    (Some(n), _) | (None, Some(n)) => n,
                    (None, None) => {
                        return Err(Error::Mismatch {
                            spec,
                            detail: format!(
                                "{SLURM_ID} is set but {SLURM_COUNT} is not; use --shard auto/N"
                            ),
                        })
                    }
                };
                let offset = id.checked_sub(min).filter(|o| o % step == 0).ok_or_else(|| {
                    Error::Mismatch {
                        spec: spec.clone(),
                        detail: format!(
                            "{SLURM_ID}={id} is not {SLURM_MIN}={min} plus a multiple of {SLURM_STEP}={step}"
                        ),
                    }
                })?;
                shard(&spec, offset / step, count, SLURM_ID)
            }
        }
    }
}

fn number(spec: &str, var: &'static str, value: &str) -> Result<u64, Error> {
    value.trim().parse().map_err(|_| Error::BadVar {
        spec: spec.to_string(),
        var,
        value: value.to_string(),
        expected: "a whole number",
    })
}

fn shard(spec: &str, index: u64, count: u64, var: &'static str) -> Result<Shard, Error> {
    if count == 0 || index >= count {
        return Err(Error::Mismatch {
            spec: spec.to_string(),
            detail: format!(
                "{var} gives shard index {index}, not below the {count} shards (use an array \
                 of 0..N-1, or --array=1-N with {SLURM_MIN} set)"
            ),
        });
    }
    Ok(Shard { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(spec: &str, vars: &[(&str, &str)]) -> Result<Shard, Error> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec.parse::<Spec>()?.resolve(spec, |k| env.get(k).cloned())
    }

    fn sh(index: u64, count: u64) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn fixed_shards_ignore_the_environment() {
        assert_eq!(resolve("1/4", &[(K8S_INDEX, "3")]), Ok(sh(1, 4)));
        assert!(matches!(resolve("4/4", &[]), Err(Error::Syntax { .. })));
        assert!(matches!(resolve("autox", &[]), Err(Error::Syntax { .. })));
        assert!(matches!(resolve("auto/0", &[]), Err(Error::Syntax { .. })));
    }

    #[test]
    fn kubernetes_gives_the_index_and_the_flag_the_count() {
        assert_eq!(resolve("auto/4", &[(K8S_INDEX, "2")]), Ok(sh(2, 4)));
        let e = resolve("auto", &[(K8S_INDEX, "2")]).unwrap_err();
        assert!(e.to_string().contains("use --shard auto/N"), "{e}");
        let e = resolve("auto/4", &[(K8S_INDEX, "4")]).unwrap_err();
        assert!(
            e.to_string().contains("index 4, not below the 4 shards"),
            "{e}"
        );
        let e = resolve("auto/4", &[(K8S_INDEX, "two")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--shard auto/4: JOB_COMPLETION_INDEX=two is not a whole number"
        );
    }

    #[test]
    fn slurm_arrays_may_start_anywhere_and_step() {
        let v = |id: &'static str| vec![(SLURM_ID, id), (SLURM_COUNT, "4"), (SLURM_MIN, "0")];
        assert_eq!(resolve("auto", &v("3")), Ok(sh(3, 4)));
        assert_eq!(resolve("auto/4", &v("0")), Ok(sh(0, 4)));
        // --array=1-4
        let one = [(SLURM_ID, "1"), (SLURM_COUNT, "4"), (SLURM_MIN, "1")];
        assert_eq!(resolve("auto", &one), Ok(sh(0, 4)));
        let four = [(SLURM_ID, "4"), (SLURM_COUNT, "4"), (SLURM_MIN, "1")];
        assert_eq!(resolve("auto", &four), Ok(sh(3, 4)));
        // --array=10-16:2 → 10, 12, 14, 16
        let stepped = [
            (SLURM_ID, "14"),
            (SLURM_COUNT, "4"),
            (SLURM_MIN, "10"),
            (SLURM_STEP, "2"),
        ];
        assert_eq!(resolve("auto", &stepped), Ok(sh(2, 4)));
        let odd = [
            (SLURM_ID, "13"),
            (SLURM_COUNT, "4"),
            (SLURM_MIN, "10"),
            (SLURM_STEP, "2"),
        ];
        assert!(resolve("auto", &odd).is_err());
        // the flag's count must agree with the engine's
        let e = resolve("auto/8", &v("1")).unwrap_err();
        assert!(
            e.to_string()
                .contains("SLURM_ARRAY_TASK_COUNT=4 but auto/8"),
            "{e}"
        );
        // an irregular array (--array=1,3,8) is refused where it does not fit
        let irregular = [(SLURM_ID, "8"), (SLURM_COUNT, "3"), (SLURM_MIN, "1")];
        assert!(resolve("auto", &irregular).is_err());
        let bad = [(SLURM_ID, "-1"), (SLURM_COUNT, "4")];
        assert!(matches!(
            resolve("auto", &bad),
            Err(Error::BadVar { var: SLURM_ID, .. })
        ));
    }

    #[test]
    fn no_engine_or_two_engines_are_errors() {
        let e = resolve("auto/4", &[]).unwrap_err();
        assert!(
            e.to_string().contains("neither JOB_COMPLETION_INDEX"),
            "{e}"
        );
        assert!(matches!(
            resolve("auto/4", &[(K8S_INDEX, " "), (SLURM_ID, "")]),
            Err(Error::NoEngine { .. })
        ));
        assert!(matches!(
            resolve("auto/4", &[(K8S_INDEX, "1"), (SLURM_ID, "1")]),
            Err(Error::TwoEngines { .. })
        ));
    }
}
