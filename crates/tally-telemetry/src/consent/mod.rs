//! Whether this process may record and send, and why: the host's identity
//! and default policy, the files that store a choice (the user's consent
//! file, the admin's policy), the precedence table that decides, the
//! settings that carry every value with its origin, and the first-run
//! question and notice that give every user a chance to say no.

pub mod app;
pub mod config;
pub(crate) mod config_error;
pub(crate) mod flat;
pub mod links;
pub mod migrate;
pub mod notice;
pub mod origin;
pub mod otel;
pub mod paths;
pub mod policy;
pub mod precedence;
pub mod prompt;
pub mod rotation;
pub mod settings;
pub mod toml_keys;
pub mod toml_lines;
