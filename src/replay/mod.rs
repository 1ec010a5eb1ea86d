//! (to be built)

pub mod limits;
