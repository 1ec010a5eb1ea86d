//! (to be built)
pub mod conversation;
