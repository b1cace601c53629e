//! The system policy file an administrator may install (by default
//! `/etc/tally/<app>.toml`). It outranks everything: it may force telemetry
//! off for every user of the machine, and may set the endpoint (a company
//! collector). It can never force telemetry on.
//!
//! ```toml
//! telemetry = "off"                              # optional
//! endpoint = "https://collector.example/v1/batch" # optional
//! allow_plain_http = true                        # optional: permit http:// to another machine
//! ```

use std::path::Path;

use serde::Deserialize;

/// The policy file as loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PolicyState {
    /// No policy file: no effect.
    #[default]
    Absent,
    /// A valid policy.
    Loaded {
        /// `telemetry = "off"`.
        force_off: bool,
        /// `endpoint = "…"`.
        endpoint: Option<String>,
        /// `allow_plain_http = true`: an `http://` endpoint on another
        /// machine may be used (the data then travels unencrypted).
        allow_plain_http: bool,
    },
    /// The file exists but cannot be used; telemetry fails closed (off).
    Broken(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    telemetry: Option<String>,
    endpoint: Option<String>,
    allow_plain_http: Option<bool>,
}

/// Loads the policy file. It is written by an administrator, so unlike
/// user state it may be a symlink and is owned by root.
pub fn load(path: &Path) -> PolicyState {
    let text = match crate::os::files::read_admin_file(path, crate::os::files::SMALL_FILE_MAX) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PolicyState::Absent,
        Err(e) => return PolicyState::Broken(format!("cannot be read: {e}")),
    };
    let raw: RawPolicy = match toml::from_str(&text) {
        Ok(r) => r,
        Err(e) => return PolicyState::Broken(format!("is not valid: {}", e.message().trim_end())),
    };
    let force_off = match raw
        .telemetry
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => false,
        Some("off") => true,
        Some(other) => {
            return PolicyState::Broken(format!(
                "sets telemetry = {other:?}; the only accepted value is \"off\""
            ));
        }
    };
    PolicyState::Loaded {
        force_off,
        endpoint: raw.endpoint.filter(|e| !e.trim().is_empty()),
        allow_plain_http: raw.allow_plain_http.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("p.toml");
        assert_eq!(load(&p), PolicyState::Absent);
        std::fs::write(&p, "telemetry = \"off\"\nendpoint = \"http://x\"\n").unwrap();
        assert_eq!(
            load(&p),
            PolicyState::Loaded {
                force_off: true,
                endpoint: Some("http://x".into()),
                allow_plain_http: false,
            }
        );
        std::fs::write(&p, "allow_plain_http = true\n").unwrap();
        assert!(matches!(
            load(&p),
            PolicyState::Loaded {
                allow_plain_http: true,
                ..
            }
        ));
        std::fs::write(&p, "telemetry = \"on\"\n").unwrap();
        assert!(matches!(load(&p), PolicyState::Broken(_)));
        std::fs::write(&p, "surprise = 1\n").unwrap();
        assert!(matches!(load(&p), PolicyState::Broken(_)));
    }
}
