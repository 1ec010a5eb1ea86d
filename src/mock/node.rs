//! The pedagogical node machine: APK → CI → GE → AR → TC → RLC → complete.
//!
//! # The rule (deterministic, so a replayed student follows the recorded path)
//! - A session starts at `APK`, turn 0.
//! - Each agent turn (`continue` or its stream variant) answers the student's reply to the
//!   current node and moves to the next node.
//! - At `AR` an answer containing [`INCORRECT_MARKER`] (ASCII case-insensitive) is
//!   incorrect: the session stays in `AR`.
//! - Answering `RLC` completes the session (`current_node` = `complete`,
//!   `session_complete` = true); later turns stay `complete`.

use std::fmt;
use std::str::FromStr;

/// An AR answer containing this word (any case) is incorrect and keeps the student in AR.
pub const INCORRECT_MARKER: &str = "guess";

/// A node of the tutoring graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// Activate prior knowledge.
    Apk,
    /// Concept introduction.
    Ci,
    /// Guided exploration.
    Ge,
    /// Assessment.
    Ar,
    /// Transfer to a new context.
    Tc,
    /// Reflection, quiz.
    Rlc,
    /// The session is over.
    Complete,
}

impl Node {
    /// Every node in path order.
    pub const ALL: [Node; 7] = [
        Node::Apk,
        Node::Ci,
        Node::Ge,
        Node::Ar,
        Node::Tc,
        Node::Rlc,
        Node::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Node::Apk => "APK",
            Node::Ci => "CI",
            Node::Ge => "GE",
            Node::Ar => "AR",
            Node::Tc => "TC",
            Node::Rlc => "RLC",
            Node::Complete => "complete",
        }
    }

    /// The next node on the usual path (`complete` stays `complete`).
    pub fn next(self) -> Node {
        match self {
            Node::Apk => Node::Ci,
            Node::Ci => Node::Ge,
            Node::Ge => Node::Ar,
            Node::Ar => Node::Tc,
            Node::Tc => Node::Rlc,
            Node::Rlc | Node::Complete => Node::Complete,
        }
    }

    /// The node an agent turn moves to from `self`, given the student's answer.
    pub fn after(self, answer: &str) -> Node {
        if self == Node::Ar && contains_marker(answer) {
            Node::Ar
        } else {
            self.next()
        }
    }

    /// The node an injected divergence reports instead of `self`: one step ahead, or `RLC`
    /// for `complete`. Never equal to `self`.
    pub fn diverged(self) -> Node {
        match self {
            Node::Complete => Node::Rlc,
            n => n.next(),
        }
    }

    /// What the agent says on arriving at this node.
    pub fn prompt(self) -> &'static str {
        match self {
            Node::Apk => "Hi! Before we start: what do you already know about this topic?",
            Node::Ci => "Here is the key idea, with a diagram. Can you say the definition back in your own words?",
            Node::Ge => "Let's explore: change one thing in the simulation and tell me what happens.",
            Node::Ar => "Quick check: which answer is right, and why?",
            Node::Tc => "Now apply it somewhere new: where else would you see this happen?",
            Node::Rlc => "To wrap up: what did you learn, and can you answer this last quiz question?",
            Node::Complete => "Great work, this session is complete.",
        }
    }
}

fn contains_marker(answer: &str) -> bool {
    let m = INCORRECT_MARKER.as_bytes();
    answer
        .as_bytes()
        .windows(m.len())
        .any(|w| w.eq_ignore_ascii_case(m))
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Node {
    type Err = String;

    /// Parses `APK`, `ci`, `complete`, … (any case).
    fn from_str(s: &str) -> Result<Node, String> {
        Node::ALL
            .into_iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("`{s}` is not a node (expected one of APK, CI, GE, AR, TC, RLC, complete)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_path_reaches_complete_in_six_turns() {
        let mut n = Node::Apk;
        let mut path = vec![n];
        for _ in 0..6 {
            n = n.after("a fine answer");
            path.push(n);
        }
        let names: Vec<_> = path.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["APK", "CI", "GE", "AR", "TC", "RLC", "complete"]);
        assert_eq!(n.after("more"), Node::Complete);
    }

    #[test]
    fn marker_keeps_ar_only_at_ar() {
        assert_eq!(Node::Ar.after("My GUESS is B"), Node::Ar);
        assert_eq!(Node::Ar.after("B, because light"), Node::Tc);
        assert_eq!(Node::Ge.after("a guess"), Node::Ar);
    }

    #[test]
    fn divergence_never_reports_the_same_node() {
        for n in Node::ALL {
            assert_ne!(n.diverged(), n);
        }
    }

    #[test]
    fn parse_round_trips() {
        for n in Node::ALL {
            assert_eq!(n.as_str().to_lowercase().parse::<Node>(), Ok(n));
        }
        assert!("XY".parse::<Node>().is_err());
    }
}
