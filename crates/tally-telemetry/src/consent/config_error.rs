//! The error of changing the consent file, apart from `config` so that
//! `links`, which checks the file's links for `config`, can name it
//! without importing `config` back.

use std::path::PathBuf;

use crate::os::files::FileError;

/// A failure to change the consent file.
#[derive(Debug)]
pub enum ConfigError {
    /// No home or config directory is known, so the choice cannot be stored.
    NoLocation(String),
    /// The existing file does not parse; tally will not overwrite it blindly.
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A symbolic link tally will not follow, with why and what to do.
    Link {
        /// The link.
        path: PathBuf,
        /// Why it is not followed.
        why: String,
        /// What the user can do.
        fix: String,
    },
    /// The file or its directory could not be read or written.
    File(FileError),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoLocation(var) => write!(
                f,
                "no config directory is known (HOME is not set); \
                 set {var}=0|1 in the environment instead"
            ),
            ConfigError::Parse { path, message } => write!(
                f,
                "{} is not valid TOML ({message}); fix or delete it, then try again",
                path.display()
            ),
            ConfigError::Link { path, why, fix } => write!(f, "{} {why}; {fix}", path.display()),
            ConfigError::File(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::File(e) => e.source(),
            _ => None,
        }
    }
}

impl From<FileError> for ConfigError {
    fn from(e: FileError) -> Self {
        ConfigError::File(e)
    }
}
