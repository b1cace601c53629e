//! A snapshot of the process environment, taken once at start-up.
//!
//! Every decision tally makes from the environment (consent, paths, the
//! endpoint, CI detection, proxies) reads this snapshot rather than calling
//! `std::env` again, so a test can hand the library an environment of its
//! own and the answer never changes halfway through a run.

use std::collections::BTreeMap;

/// An immutable copy of environment variables. Variables whose name or value
/// is not valid UTF-8 are left out: none of the ones tally reads can be.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Copies the current process environment.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self { vars }
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
        }
    }

    /// Returns a copy with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The value of `key`, if set (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// Every variable, in name order (to hand the same environment to
    /// tally's delivery helper).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
    fn non_empty_ignores_blank_values() {
        let env = Env::from_pairs([("A", "  "), ("B", "x")]);
        assert_eq!(env.non_empty("A"), None);
        assert_eq!(env.non_empty("B"), Some("x"));
        assert_eq!(env.get("A"), Some("  "));
        assert_eq!(env.get("C"), None);
    }
}
