//! Where a setting's value came from: every value `telemetry status`
//! shows carries one, so a user can see which file, variable or flag to
//! change.

use std::fmt;
use std::path::PathBuf;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// Set by the embedding application in code.
    Builder,
    /// An environment variable (its name).
    Env(String),
    /// The user's config file.
    Config(PathBuf),
    /// The system policy file.
    Policy(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Builder => f.write_str("built into the application"),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::Config(p) => write!(f, "config {}", p.display()),
            Origin::Policy(p) => write!(f, "policy {}", p.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its origin.
    pub origin: Origin,
}
