//! Profile files (profiles/*.toml). (to be built)
