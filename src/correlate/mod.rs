//! Session keys, endpoint templates and correlations, shared by record, inspect and replay.
//!
//! - [`session`]: which session an exchange belongs to (the id a response issues, the ids
//!   later requests carry in path or JSON body).
//! - [`template`]: endpoint names with ids shown as placeholders (`GET /session/status/{thread_id}`).
//! - [`discover`]: values a response produced that later requests send back, found in a
//!   recording, for the replay's rewriting.

pub mod discover;
pub mod session;
pub mod template;
