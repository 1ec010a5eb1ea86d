//! Seeded, stateless randomness: every draw is a hash of (seed, purpose, session, turn).
//!
//! Why stateless: requests of different sessions arrive in any order under load; a shared
//! RNG would make each session's draws depend on that order. Hashing the coordinates gives
//! the same draw for the same session turn in every run, with no lock.

use super::config::{Latency, Share};
use std::time::Duration;

/// What a draw is for; part of the hash so knobs are independent of each other.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Purpose {
    ThreadId = 1,
    Latency = 2,
    Divergence = 3,
    CrossTalk = 4,
    BadTiming = 5,
    Error = 6,
    Pick = 7,
    Grading = 8,
}

/// splitmix64's finaliser: a good 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The draw for (seed, purpose, a, b).
pub fn draw(seed: u64, purpose: Purpose, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ ((purpose as u64) << 56)) ^ a) ^ b.rotate_left(32))
}

/// A uniform number in `[0, 1)` from a draw.
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `share` for (seed, purpose, a, b).
pub fn hit(share: Share, seed: u64, purpose: Purpose, a: u64, b: u64) -> bool {
    !share.is_zero() && unit(draw(seed, purpose, a, b)) < share.get()
}

/// A version-4 UUID (as u128) for the `n`-th session of a seed.
pub fn thread_id(seed: u64, n: u64) -> u128 {
    let hi = draw(seed, Purpose::ThreadId, n, 0);
    let lo = draw(seed, Purpose::ThreadId, n, 1);
    let mut v = ((hi as u128) << 64) | lo as u128;
    v &= !(0xF000u128 << 64); // version nibble
    v |= 0x4000u128 << 64; // version 4
    v &= !(0xC000_0000_0000_0000u128); // variant bits
    v |= 0x8000_0000_0000_0000u128; // RFC 4122 variant
    v
}

/// The LLM latency of a session turn.
pub fn latency(latency: Latency, seed: u64, session: u64, turn: u64) -> Duration {
    match latency {
        Latency::None => Duration::ZERO,
        Latency::Fixed(d) => d,
        Latency::LogNormal { median, spread } => {
            let u1 = unit(draw(seed, Purpose::Latency, session, turn)).max(f64::MIN_POSITIVE);
            let u2 = unit(draw(seed, Purpose::Latency, session, turn ^ (1 << 63)));
            // Box–Muller.
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let factor = (spread.max(0.0) * z).exp().min(20.0);
            median.mul_f64(factor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_v4_and_distinct() {
        let a = uuid::Uuid::from_u128(thread_id(7, 0));
        let b = uuid::Uuid::from_u128(thread_id(7, 1));
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
        assert_eq!(thread_id(7, 0), thread_id(7, 0));
        assert_ne!(thread_id(7, 0), thread_id(8, 0));
    }

    #[test]
    fn hit_rate_matches_share() {
        let share = Share::new(0.1);
        let hits = (0..100_000u64)
            .filter(|&i| hit(share, 3, Purpose::Error, i, 0))
            .count();
        assert!((9_400..10_600).contains(&hits), "{hits}");
        assert!(!(0..1000u64).any(|i| hit(Share::NONE, 3, Purpose::Error, i, 0)));
        assert!((0..1000u64).all(|i| hit(Share::new(1.0), 3, Purpose::Error, i, 0)));
    }

    #[test]
    fn lognormal_median_is_near_configured() {
        let l = Latency::LogNormal {
            median: Duration::from_millis(800),
            spread: 0.5,
        };
        let mut v: Vec<Duration> = (0..10_001).map(|i| latency(l, 1, i, 3)).collect();
        v.sort();
        let med = v[5_000].as_secs_f64();
        assert!((0.74..0.86).contains(&med), "{med}");
        assert!(v[10_000] <= Duration::from_millis(16_000));
    }
}
