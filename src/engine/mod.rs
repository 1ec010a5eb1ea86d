//! One test on many machines, run by an existing engine (a Kubernetes Indexed Job, a Slurm
//! array job): which shard this process is, and the common instant every shard starts at.
//!
//! reprise brings no coordinator of its own. The engine starts `n` copies of the same
//! command; each learns its index from the engine's environment ([`shard`]) and waits for
//! the start time given to all ([`start`]), so the `n` shards together replay the plan of
//! one process — the same sessions, VU numbers and arrivals — from one instant. Each shard
//! writes its own `summary.json`; `reprise report` merges them exactly.
//!
//! Uses `replay` (for [`Shard`](crate::replay::Shard)), `metrics` (the summary it writes
//! the start into) and `cli::parse_duration` (for `+DURATION`, the same syntax as every
//! other duration flag).

pub mod shard;
pub mod start;
