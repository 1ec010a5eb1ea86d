//! Session keys and correlations, shared by record, inspect and replay. (to be built)
