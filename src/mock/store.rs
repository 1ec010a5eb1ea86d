//! In-memory sessions, sharded so that 10,000 concurrent sessions never queue on one lock.
//!
//! # Invariants
//! - A session exists only for a thread id this server issued; ids are never reused by one
//!   server (they hash a per-server random key and a counter).
//! - Every operation on a session holds one shard's lock for a few hundred nanoseconds and
//!   never across an `.await`.
//! - `requests` counts every request that named the session (errors included): it keys the
//!   seeded misbehaviour decisions, so a retried request gets a fresh draw.

use super::node::Node;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

const SHARDS: usize = 64;
const RECENT: usize = 256;

/// One session's state.
#[derive(Debug, Clone)]
pub struct Session {
    /// Issue order (0 = first session of this server); keys the seeded draws.
    pub seq: u64,
    pub node: Node,
    /// Agent turns taken (`continue` calls that advanced the session).
    pub turn: u32,
    /// Requests that named this session so far.
    pub requests: u64,
    /// Client connection the session was started from.
    pub peer: SocketAddr,
}

impl Session {
    pub fn complete(&self) -> bool {
        self.node == Node::Complete
    }

    /// Messages in the conversation: the greeting plus a reply and an answer per turn.
    pub fn history_length(&self) -> u64 {
        1 + 2 * u64::from(self.turn)
    }
}

/// The sessions of one server.
pub struct Store {
    shards: Box<[Mutex<HashMap<u128, Session>>]>,
    /// Recently started sessions (for cross-talk injection); kept only when asked.
    recent: Option<Mutex<VecDeque<(u128, SocketAddr)>>>,
}

impl Store {
    /// `keep_recent`: remember recent starts so [`Store::other_than`] can pick one.
    pub fn new(keep_recent: bool) -> Store {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            recent: keep_recent.then(|| Mutex::new(VecDeque::with_capacity(RECENT))),
        }
    }

    fn shard(&self, id: u128) -> std::sync::MutexGuard<'_, HashMap<u128, Session>> {
        // Ids are hashes: their low bits are uniform.
        let i = (id as usize) % SHARDS;
        // A poisoned shard only means a panic elsewhere; its map is still consistent.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, id: u128, session: Session) {
        let peer = session.peer;
        self.shard(id).insert(id, session);
        if let Some(recent) = &self.recent {
            let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
            if r.len() == RECENT {
                r.pop_front();
            }
            r.push_back((id, peer));
        }
    }

    /// Runs `f` on the session under its shard lock; `None` if the id was never issued.
    pub fn with<R>(&self, id: u128, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        self.shard(id).get_mut(&id).map(f)
    }

    /// A copy of a session's state.
    pub fn get(&self, id: u128) -> Option<Session> {
        self.shard(id).get(&id).cloned()
    }

    /// A recently started session other than `id` that was started from another client
    /// connection than `peer`, searched from position `pick` of the recent ring.
    pub fn other_than(&self, id: u128, peer: SocketAddr, pick: u64) -> Option<u128> {
        let recent = self.recent.as_ref()?;
        let r = recent.lock().unwrap_or_else(|p| p.into_inner());
        let n = r.len();
        if n == 0 {
            return None;
        }
        let start = (pick % n as u64) as usize;
        (0..n)
            .map(|k| r[(start + k) % n])
            .find(|&(other, p)| other != id && p != peer)
            .map(|(other, _)| other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(seq: u64, port: u16) -> Session {
        Session {
            seq,
            node: Node::Apk,
            turn: 0,
            requests: 0,
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    #[test]
    fn with_mutates_and_unknown_is_none() {
        let s = Store::new(false);
        s.insert(5, session(0, 1));
        assert_eq!(
            s.with(5, |x| {
                x.turn += 1;
                x.turn
            }),
            Some(1)
        );
        assert_eq!(s.get(5).map(|x| x.turn), Some(1));
        assert!(s.with(6, |_| ()).is_none());
    }

    #[test]
    fn other_than_skips_self_and_same_connection() {
        let s = Store::new(true);
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        s.insert(1, session(0, 1));
        s.insert(2, session(1, 1));
        assert_eq!(s.other_than(1, peer, 0), None);
        s.insert(3, session(2, 2));
        for pick in 0..5 {
            assert_eq!(s.other_than(1, peer, pick), Some(3));
        }
        assert_eq!(Store::new(false).other_than(1, peer, 0), None);
    }
}
