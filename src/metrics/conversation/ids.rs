//! Interned names and the run-wide registry of session ids issued to virtual users.
//!
//! # Invariants
//! - [`Interner`] ids are dense (`0..len`) and stable for the interner's life; looking up a
//!   known name does not allocate.
//! - [`IssuedIds`] is shared by every worker of a run (`Arc`); it is touched once per
//!   session (the claim) and otherwise only when a response names an id that is not the
//!   virtual user's own — so its locks are off the hot path. Ids stay claimed for the whole
//!   run: a response naming a finished session of another user is still cross-talk.

use rustc_hash::FxHashMap;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
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

/// Session ids issued to the run's virtual users (one per recorded session replayed).
#[derive(Debug)]
pub struct IssuedIds {
    shards: Vec<Mutex<HashSet<Box<str>>>>,
}

impl Default for IssuedIds {
    fn default() -> Self {
        IssuedIds {
            shards: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
        }
    }
}

impl IssuedIds {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, id: &str) -> &Mutex<HashSet<Box<str>>> {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        &self.shards[h.finish() as usize % SHARDS]
    }

    /// Claims `id` for the caller; false when it was already issued to another user.
    pub fn claim(&self, id: &str) -> bool {
        let mut set = self.shard(id).lock().unwrap_or_else(|p| p.into_inner());
        if set.contains(id) {
            false
        } else {
            set.insert(id.into())
        }
    }

    /// Whether `id` was issued to some user of the run.
    pub fn contains(&self, id: &str) -> bool {
        let set = self.shard(id).lock().unwrap_or_else(|p| p.into_inner());
        set.contains(id)
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
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
}
