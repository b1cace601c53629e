//! A snapshot of the process environment, taken once at start-up.
//!
//! Every decision tally makes from the environment (consent, paths, the
//! endpoint, CI detection, proxies) reads this snapshot rather than calling
//! `std::env` again, so a test can hand the library an environment of its
//! own and the answer never changes halfway through a run.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// An immutable copy of environment variables. Variables whose name or value
/// is not valid UTF-8 are left out: none of the ones tally reads can be.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// Taken from the process: `vars` holds only the names tally reads
    /// ([`read_by_tally`]); the whole environment is copied here the first
    /// time anything else is asked for (a host's own variable, or the
    /// environment a delivery helper is started with).
    whole: Option<OnceLock<BTreeMap<String, String>>>,
}

/// Whether tally reads the variable `name`: the application's own
/// (`<PREFIX>_TELEMETRY…`, `<PREFIX>_POLICY_FILE`,
/// `<PREFIX>_OTEL_MACHINE_ID`), OpenTelemetry's, the proxies', the CI
/// markers, `DO_NOT_TRACK`, `NO_COLOR` and the helper's marker. The snapshot
/// of the process copies these at once and the rest only when asked for:
/// copying and sorting a whole environment cost every run that records
/// about 1,300 instructions a variable (docs/PERFORMANCE.md).
pub(crate) fn read_by_tally(name: &str) -> bool {
    const PROXIES: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];
    // Asked on every lookup of a variable that is not set: the cheapest
    // tests of the names tally looks up most go first (`contains` first
    // cost a recording run 2,600 instructions more).
    name.ends_with("_TELEMETRY")
        || name.starts_with("OTEL_")
        || crate::consent::precedence::CI_VARS.contains(&name)
        || name.contains("_TELEMETRY_")
        || name.ends_with("_POLICY_FILE")
        || name.ends_with("_OTEL_MACHINE_ID")
        || matches!(name, "DO_NOT_TRACK" | "NO_COLOR")
        || name == crate::deliver::helper::MARKER
        || PROXIES.iter().any(|p| name.eq_ignore_ascii_case(p))
}

/// The process environment, names and values that are valid UTF-8.
fn process_vars(keep: impl Fn(&str) -> bool) -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            keep(&k).then_some(())?;
            Some((k, v.into_string().ok()?))
        })
        .collect()
}

impl Env {
    /// Snapshots the process environment: the variables tally reads at
    /// once, the rest the first time one of them is asked for.
    pub fn from_process() -> Self {
        Self {
            vars: process_vars(read_by_tally),
            whole: Some(OnceLock::new()),
        }
    }

    /// Builds an environment from explicit pairs (for tests and embedders).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            whole: None,
        }
    }

    /// Returns a copy with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        if let Some(whole) = &mut self.whole {
            *whole = OnceLock::new();
        }
        self
    }

    /// The value of `key`, if set (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.vars.get(key) {
            return Some(v);
        }
        match &self.whole {
            Some(_) if !read_by_tally(key) => self.all().get(key).map(String::as_str),
            _ => None,
        }
    }

    /// Every variable, in name order (to hand the same environment to
    /// tally's delivery helper).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.all().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every variable: taken from the process, the whole environment,
    /// copied on the first call, with the values of the variables tally
    /// reads as they were when the snapshot was taken.
    fn all(&self) -> &BTreeMap<String, String> {
        match &self.whole {
            None => &self.vars,
            Some(whole) => whole.get_or_init(|| {
                let mut all = process_vars(|k| !read_by_tally(k));
                all.extend(self.vars.clone());
                all
            }),
        }
    }

    /// The value of `key` if it is set and not empty after trimming.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// How an on/off style variable reads: `Some(true)` for
/// `1/true/on/yes/y/enable/enabled`, `Some(false)` for
/// `0/false/off/no/n/disable/disabled/none/never` (case-insensitive),
/// `None` otherwise.
pub fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" | "enable" | "enabled" => Some(true),
        "0" | "false" | "off" | "no" | "n" | "disable" | "disabled" | "none" | "never" => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_words_parse_case_insensitively() {
        for on in ["1", "true", "ON", "Yes", " on "] {
            assert_eq!(parse_switch(on), Some(true), "{on}");
        }
        for off in ["0", "FALSE", "off", "No", "disabled", "Disable", "never"] {
            assert_eq!(parse_switch(off), Some(false), "{off}");
        }
        for other in ["", "maybe", "2", "garbage"] {
            assert_eq!(parse_switch(other), None, "{other}");
        }
    }

    #[test]
    fn the_process_snapshot_copies_what_tally_reads_and_the_rest_when_asked() {
        let env = Env::from_process();
        // PATH is set wherever tests run, and tally never reads it.
        assert!(std::env::var_os("PATH").is_some());
        assert!(!read_by_tally("PATH"));
        assert!(!env.vars.contains_key("PATH"));
        let all: BTreeMap<&str, &str> = env.vars().collect();
        let process: Vec<String> = std::env::vars_os()
            .filter_map(|(k, v)| {
                v.into_string().ok()?;
                k.into_string().ok()
            })
            .collect();
        for k in &process {
            assert!(all.contains_key(k.as_str()), "{k} missing from vars()");
        }
        assert_eq!(all.len(), process.len());
        // Any other variable is read from the process, as before.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(Env::from_process().get("PATH"), Some(path.as_str()));
        // A value set on the snapshot wins over the process's.
        let env = env.with("DO_NOT_TRACK", "1");
        assert_eq!(env.get("DO_NOT_TRACK"), Some("1"));
        assert!(env.vars().any(|kv| kv == ("DO_NOT_TRACK", "1")));
    }

    #[test]
    fn the_names_tally_reads_are_kept() {
        for name in [
            "DO_NOT_TRACK",
            "NO_COLOR",
            "MYTOOL_TELEMETRY",
            "MYTOOL_TELEMETRY_DIR",
            "MY_TOOL_POLICY_FILE",
            "MYTOOL_OTEL_MACHINE_ID",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https_proxy",
            "NO_PROXY",
            "GITHUB_ACTIONS",
            "CI",
            crate::deliver::helper::MARKER,
        ] {
            assert!(read_by_tally(name), "{name}");
        }
        for name in ["PATH", "HOME", "TERM", "LD_LIBRARY_PATH", "TELEMETRYX"] {
            assert!(!read_by_tally(name), "{name}");
        }
    }

    #[test]
    fn non_empty_ignores_blank_values() {
        let env = Env::from_pairs([("NO_COLOR", "  "), ("DO_NOT_TRACK", "x")]);
        assert_eq!(env.non_empty("NO_COLOR"), None);
        assert_eq!(env.non_empty("DO_NOT_TRACK"), Some("x"));
        assert_eq!(env.get("NO_COLOR"), Some("  "));
        assert_eq!(env.get("CI"), None);
    }
}
