//! How many worker threads a replay may start.
//!
//! Each worker is an OS thread with its own tokio runtime, timer and buffers: a thousand of
//! them for two users took 3.6 GB of memory and made a 2 s run last 17 s. More workers than
//! cores only take turns on the same cores, so `--workers` is bounded by [`max`].
//!
//! # Invariants
//! - [`max`] is at least [`PER_CORE`] and grows with the cores of the machine.

/// Workers allowed per core.
pub const PER_CORE: usize = 4;

/// The largest `--workers` accepted on a machine with `cores` cores.
pub fn max_for(cores: usize) -> usize {
    cores.max(1) * PER_CORE
}

/// The largest `--workers` accepted on this machine.
pub fn max() -> usize {
    max_for(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn four_per_core() {
        assert_eq!(super::max_for(2), 8);
        assert_eq!(super::max_for(0), 4);
        assert!(super::max() >= 4);
    }
}
