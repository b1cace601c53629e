//! The system policy file an administrator may install (by default
//! `/etc/tally/<app>.toml`; `%ProgramData%\tally\<app>.toml` on Windows).
//! It outranks everything: it may force telemetry off for every user of the
//! machine, and may set the endpoint (a company collector) and how often
//! the machine id is replaced. It can never force telemetry on.
//!
//! The system file always applies. A second file named by
//! `<PREFIX>_POLICY_FILE` (for containers, where /etc is the image's) may
//! only add restrictions: it can turn telemetry off, set an endpoint the
//! system file does not, or rotate the id more often; it can never remove
//! what the system file says, so pointing it at a file that does not exist
//! changes nothing.
//!
//! ```toml
//! telemetry = "off"                              # optional
//! endpoint = "https://collector.example/v1/batch" # optional
//! allow_plain_http = true                        # optional: permit http:// to another machine
//! ```

use std::path::Path;

use crate::consent::rotation::Rotation;
use crate::consent::toml_keys::Keys;

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
        /// `rotate_machine_id = "daily|weekly|monthly|yearly"`.
        rotation: Option<Rotation>,
        /// `allow_plain_http = true`: an `http://` endpoint on another
        /// machine may be used (the data then travels unencrypted).
        allow_plain_http: bool,
    },
    /// The file exists but cannot be used; telemetry fails closed (off).
    Broken(String),
}

struct RawPolicy {
    telemetry: Option<String>,
    endpoint: Option<String>,
    rotate_machine_id: Option<String>,
    allow_plain_http: Option<bool>,
}

impl RawPolicy {
    fn parse(text: &str) -> Result<RawPolicy, String> {
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| e.message().trim_end().to_owned())?;
        let k = Keys::new(
            &table,
            &[
                "telemetry",
                "endpoint",
                "rotate_machine_id",
                "allow_plain_http",
            ],
        )?;
        Ok(RawPolicy {
            telemetry: k.string("telemetry")?,
            endpoint: k.string("endpoint")?,
            rotate_machine_id: k.string("rotate_machine_id")?,
            allow_plain_http: k.bool("allow_plain_http")?,
        })
    }
}

/// Loads the policy file. It is written by an administrator, so unlike
/// user state it may be a symlink and is owned by root.
pub fn load(path: &Path) -> PolicyState {
    let text = match crate::os::files::read_admin_file(path, crate::os::files::SMALL_FILE_MAX) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PolicyState::Absent,
        Err(e) => return PolicyState::Broken(format!("cannot be read: {e}")),
    };
    let raw = match RawPolicy::parse(&text) {
        Ok(r) => r,
        Err(e) => return PolicyState::Broken(format!("is not valid: {e}")),
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
    let rotation = match raw.rotate_machine_id.as_deref().map(Rotation::parse) {
        None => None,
        Some(Some(r)) => Some(r),
        Some(None) => {
            return PolicyState::Broken(format!(
                "sets rotate_machine_id = {:?}; accepted: {}",
                raw.rotate_machine_id.unwrap_or_default(),
                Rotation::WORDS
            ));
        }
    };
    PolicyState::Loaded {
        force_off,
        endpoint: raw.endpoint.filter(|e| !e.trim().is_empty()),
        rotation,
        allow_plain_http: raw.allow_plain_http.unwrap_or(false),
    }
}

/// The policy in force: the system file's, restricted further by the
/// environment-named file's, and the path of the file that decided
/// (for messages).
pub fn combine(
    system: PolicyState,
    system_path: &Path,
    extra: Option<(PolicyState, &Path)>,
) -> (PolicyState, std::path::PathBuf) {
    let Some((extra, extra_path)) = extra else {
        return (system, system_path.to_owned());
    };
    match (system, extra) {
        (s @ PolicyState::Broken(_), _) => (s, system_path.to_owned()),
        (
            s @ PolicyState::Loaded {
                force_off: true, ..
            },
            _,
        ) => (s, system_path.to_owned()),
        (_, e @ PolicyState::Broken(_)) => (e, extra_path.to_owned()),
        (s, PolicyState::Absent) => (s, system_path.to_owned()),
        (PolicyState::Absent, e) => (e, extra_path.to_owned()),
        (
            PolicyState::Loaded {
                endpoint,
                rotation,
                allow_plain_http,
                ..
            },
            PolicyState::Loaded {
                force_off: extra_off,
                endpoint: extra_endpoint,
                rotation: extra_rotation,
                allow_plain_http: extra_allow,
            },
        ) => {
            let decided = if extra_off { extra_path } else { system_path };
            (
                PolicyState::Loaded {
                    force_off: extra_off,
                    endpoint: endpoint.or(extra_endpoint),
                    rotation: Rotation::stricter(rotation, extra_rotation),
                    // The environment's file may only restrict.
                    allow_plain_http: allow_plain_http && extra_allow,
                },
                decided.to_owned(),
            )
        }
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
                rotation: None,
                allow_plain_http: false,
            }
        );
        std::fs::write(&p, "rotate_machine_id = \"monthly\"\n").unwrap();
        assert!(matches!(
            load(&p),
            PolicyState::Loaded {
                rotation: Some(Rotation::Monthly),
                ..
            }
        ));
        std::fs::write(&p, "rotate_machine_id = \"hourly\"\n").unwrap();
        assert!(matches!(load(&p), PolicyState::Broken(_)));
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

    /// `HOST_POLICY_FILE=/nonexistent` once replaced the system file and so
    /// switched off an admin's "off".
    #[test]
    fn env_named_policy_cannot_remove_the_system_one() {
        let sys = Path::new("/etc/tally/x.toml");
        let extra = Path::new("/nonexistent");
        let off = PolicyState::Loaded {
            force_off: true,
            endpoint: None,
            rotation: None,
            allow_plain_http: false,
        };
        let (p, by) = combine(off.clone(), sys, Some((PolicyState::Absent, extra)));
        assert_eq!((p, by.as_path()), (off.clone(), sys));
        let lenient = PolicyState::Loaded {
            force_off: false,
            endpoint: Some("http://mine".into()),
            rotation: None,
            allow_plain_http: false,
        };
        let (p, _) = combine(off.clone(), sys, Some((lenient.clone(), extra)));
        assert_eq!(p, off);
        // It may add restrictions.
        let (p, by) = combine(PolicyState::Absent, sys, Some((off.clone(), extra)));
        assert_eq!((p, by.as_path()), (off, extra));
        let (p, _) = combine(
            PolicyState::Absent,
            sys,
            Some((PolicyState::Broken("x".into()), extra)),
        );
        assert!(matches!(p, PolicyState::Broken(_)));
        // The system endpoint wins over the environment file's.
        let sys_ep = PolicyState::Loaded {
            force_off: false,
            endpoint: Some("http://corp".into()),
            rotation: None,
            allow_plain_http: false,
        };
        let (p, _) = combine(sys_ep, sys, Some((lenient, extra)));
        assert!(matches!(p, PolicyState::Loaded { endpoint: Some(e), .. } if e == "http://corp"));
    }
}
