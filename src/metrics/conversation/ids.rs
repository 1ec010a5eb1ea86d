//! Interned names and the run-wide registry of session ids issued to virtual users.
//!
//! # Invariants
//! - [`Interner`] ids are dense (`0..len`) and stable for the interner's life; looking up a
//!   known name does not allocate.
//! - [`IssuedIds`] is shared by every worker of a run (`Arc`); it is touched once per
//!   session (the claim) and otherwise only when a response names an id that is not the
//!   virtual user's own — so its locks are off the hot path.
//! - Memory is bounded however long the run: ids are kept as 64-bit hashes, live sessions'
//!   for as long as they last, ended sessions' for the last [`ENDED_KEPT`] ended (a response
//!   naming a recently finished session of another user is still cross-talk; one naming a
//!   session that ended long before is no longer recognised as ours). A hash collision —
//!   odds around n²/2⁶⁵ for n ids — could make one fresh id look already claimed.

use rustc_hash::FxHashMap;
use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

/// The name that stands for every name past a cap.
pub const OTHER: &str = "(other)";

/// Maps names to small dense ids.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    /// Looked up per response with names the recorder chose or capped: a fast hash.
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// Like [`Interner::intern`], but once `cap` names are known a new name becomes
    /// [`OTHER`], so a target that invents names cannot grow memory without bound.
    pub fn intern_capped(&mut self, name: &str, cap: usize) -> u32 {
        match self.ids.get(name) {
            Some(&id) => id,
            None if self.names.len() < cap => self.intern(name),
            None => self.intern(OTHER),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

const SHARDS: usize = 16;
/// Ended sessions' ids remembered, over all shards (~16 bytes each).
pub const ENDED_KEPT: usize = 1 << 20;

#[derive(Debug, Default)]
struct Shard {
    live: HashSet<u64>,
    ended: HashSet<u64>,
    /// `ended` in the order the sessions ended, to forget the oldest first.
    order: VecDeque<u64>,
}

/// Session ids issued to the run's virtual users (one per recorded session replayed).
#[derive(Debug)]
pub struct IssuedIds {
    shards: Vec<Mutex<Shard>>,
    keys: RandomState,
}

impl Default for IssuedIds {
    fn default() -> Self {
        IssuedIds {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            keys: RandomState::new(),
        }
    }
}

impl IssuedIds {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, id: &str) -> (std::sync::MutexGuard<'_, Shard>, u64) {
        let h = self.keys.hash_one(id);
        let shard = self.shards[h as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (shard, h)
    }

    /// Claims `id` for the caller; false when it was already issued to another user.
    pub fn claim(&self, id: &str) -> bool {
        let (mut s, h) = self.shard(id);
        !s.ended.contains(&h) && s.live.insert(h)
    }

    /// Whether `id` was issued to some user of the run (live, or among the recently ended).
    pub fn contains(&self, id: &str) -> bool {
        let (s, h) = self.shard(id);
        s.live.contains(&h) || s.ended.contains(&h)
    }

    /// The session that claimed `id` has ended: its id is remembered among the last
    /// [`ENDED_KEPT`] ended, then forgotten.
    pub fn release(&self, id: &str) {
        let (mut s, h) = self.shard(id);
        if s.live.remove(&h) && s.ended.insert(h) {
            s.order.push_back(h);
            while s.order.len() > ENDED_KEPT / SHARDS {
                if let Some(old) = s.order.pop_front() {
                    s.ended.remove(&old);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.live.len() + s.ended.len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_is_dense_and_stable() {
        let mut i = Interner::default();
        assert_eq!(i.intern("APK"), 0);
        assert_eq!(i.intern("CI"), 1);
        assert_eq!(i.intern("APK"), 0);
        assert_eq!(i.name(1), "CI");
        assert_eq!(i.name(9), "");
    }

    #[test]
    fn past_the_cap_new_names_are_other() {
        let mut i = Interner::default();
        assert_eq!(i.intern_capped("a", 2), 0);
        assert_eq!(i.intern_capped("b", 2), 1);
        let other = i.intern_capped("c", 2);
        assert_eq!(i.name(other), OTHER);
        assert_eq!(i.intern_capped("d", 2), other);
        assert_eq!(i.intern_capped("a", 2), 0, "known names keep their id");
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn an_id_is_claimed_once() {
        let ids = IssuedIds::new();
        assert!(ids.claim("a"));
        assert!(!ids.claim("a"));
        assert!(ids.claim("b"));
        assert!(ids.contains("a") && !ids.contains("c"));
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn ended_ids_are_remembered_for_a_while_then_forgotten() {
        let ids = IssuedIds::new();
        assert!(ids.claim("first"));
        ids.release("first");
        assert!(
            ids.contains("first"),
            "a recently ended session is still ours"
        );
        assert!(!ids.claim("first"), "and cannot be claimed again");
        ids.release("never claimed");
        assert!(!ids.contains("never claimed"));
        // end many more sessions than are kept: memory stays bounded, the oldest go
        for i in 0..(ENDED_KEPT + ENDED_KEPT / 2) {
            let id = format!("s{i}");
            assert!(ids.claim(&id));
            ids.release(&id);
        }
        assert!(ids.len() <= ENDED_KEPT, "{} kept", ids.len());
        assert!(!ids.contains("first"), "the oldest ended id is forgotten");
        assert!(ids.contains(&format!("s{}", ENDED_KEPT + ENDED_KEPT / 2 - 1)));
    }
}
