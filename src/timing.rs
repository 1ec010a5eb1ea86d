//! When each request of a session is sent: one type for the command line (`--timing`),
//! profiles (`timing = "…"`) and the replay.
//!
//! Uses nothing of ours, so `profile`, `cli` and `replay` share it without depending on
//! each other. Its name ([`Timing::name`]) is the spelling of the flag, the profile value
//! and `summary.json`'s `run.timing`.

use serde::{Deserialize, Serialize};

/// How sends are timed (see the README's *Timing model*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// Closed loop: send at the live completion of the dependency + recorded gap / speed.
    #[default]
    Think,
    /// Open loop: send at live session start + recorded offset / speed, waiting only for the
    /// ids a request needs (latency also from the planned send).
    Schedule,
}

impl Timing {
    /// Every mode, in the order help texts list them.
    pub const ALL: [Timing; 2] = [Timing::Think, Timing::Schedule];

    pub fn name(self) -> &'static str {
        match self {
            Timing::Think => "think",
            Timing::Schedule => "schedule",
        }
    }

    /// The mode spelled `s` exactly as [`Timing::name`] gives it.
    pub fn from_name(s: &str) -> Option<Timing> {
        Timing::ALL.into_iter().find(|t| t.name() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn one_spelling_for_flag_profile_and_summary() {
        for t in Timing::ALL {
            assert_eq!(Timing::from_name(t.name()), Some(t));
            let flag = t.to_possible_value().unwrap();
            assert_eq!(flag.get_name(), t.name(), "clap spelling");
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name()), "serde spelling");
            assert_eq!(serde_json::from_str::<Timing>(&json).unwrap(), t);
        }
        assert_eq!(Timing::from_name("fast"), None);
        assert_eq!(Timing::default(), Timing::Think);
    }
}
