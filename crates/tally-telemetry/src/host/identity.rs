//! The identity a host gives the builder (name, version, environment
//! prefix, endpoint), checked once when the builder runs, so the client can
//! never build a batch the server refuses for its envelope: a value outside
//! the schema is normalized (a version to its semver core, a name to its
//! allowed characters) or, for an endpoint, dropped, and every change is a
//! warning that `telemetry status` shows.

use crate::consent::app::{AppInfo, prefix_for};
use crate::schema::fields::Pattern;

/// The longest endpoint URL accepted from the builder.
const MAX_ENDPOINT: usize = 2048;

/// Normalizes `app` in place; returns one warning per changed value.
pub(crate) fn normalize(app: &mut AppInfo) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = name(&app.name);
    if name != app.name {
        warnings.push(format!(
            "the application name {:?} is outside the schema ({}); it is used as {name:?}",
            app.name,
            Pattern::AppName.describe()
        ));
        app.name = name;
    }
    let version = version(&app.version);
    if version != app.version {
        warnings.push(format!(
            "the version {:?} is outside the schema ({}); it is sent as {version:?}",
            app.version,
            Pattern::Version.describe()
        ));
        app.version = version;
    }
    if !valid_prefix(&app.env_prefix) {
        let prefix = prefix(&app.env_prefix, &app.name);
        warnings.push(format!(
            "the environment prefix {:?} is not a variable name (`[A-Z_][A-Z0-9_]*`); {prefix} is used",
            app.env_prefix
        ));
        app.env_prefix = prefix;
    }
    if let Some((e, Err(why))) = app.endpoint.as_ref().map(|e| (e, check_endpoint(e))) {
        warnings.push(format!(
            "the compiled-in endpoint {:?} {why}; it is ignored",
            truncate(e, 100)
        ));
        app.endpoint = None;
    }
    warnings
}

/// The name as the schema allows it: lower-case ASCII letters, digits, `_`
/// and `-`, starting with a letter or digit, at most 40 bytes; `app` when
/// nothing is left.
pub fn name(raw: &str) -> String {
    if Pattern::AppName.matches(raw) {
        return raw.to_owned();
    }
    let mapped: String = raw
        .trim()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    let mut s = mapped
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    s.truncate(40);
    if s.is_empty() { "app".into() } else { s }
}

/// The version as the schema allows it: unchanged when it fits; otherwise
/// characters outside `[0-9A-Za-z.+-]` become `-`, and a version still too
/// long is cut to its semver core (`1.2.3` of `1.2.3-rc.1+build…`), or to 32
/// bytes when even that is too long; `unknown` when nothing is left.
pub fn version(raw: &str) -> String {
    if Pattern::Version.matches(raw) {
        return raw.to_owned();
    }
    let mapped: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mapped = mapped
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .trim_end_matches(['.', '+', '-']);
    if Pattern::Version.matches(mapped) {
        return mapped.to_owned();
    }
    let core = mapped.split(['-', '+']).next().unwrap_or("");
    let mut s = if !core.is_empty() && core.len() <= 32 {
        core.to_owned()
    } else {
        mapped.chars().take(32).collect()
    };
    while s.ends_with(['.', '+', '-']) {
        s.pop();
    }
    if Pattern::Version.matches(&s) {
        s
    } else {
        "unknown".into()
    }
}

fn valid_prefix(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

fn prefix(raw: &str, name: &str) -> String {
    let base = if raw.trim().is_empty() { name } else { raw };
    let mut p = prefix_for(base);
    p.truncate(64);
    if !p.starts_with(|c: char| c.is_ascii_uppercase() || c == '_') {
        p.insert(0, '_');
        p.truncate(64);
    }
    p
}

/// Why `url` cannot be posted to, if it cannot.
pub fn check_endpoint(url: &str) -> Result<(), &'static str> {
    if url.len() > MAX_ENDPOINT {
        return Err("is longer than 2048 bytes");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err("is not an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err("has no host");
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_33_bytes_long_is_cut_to_its_semver_core() {
        let v = "1.2.3-rc.1+build.0123456789abcdef";
        assert_eq!(v.len(), 33);
        assert_eq!(version(v), "1.2.3");
    }

    #[test]
    fn versions_outside_the_schema_become_versions_inside_it() {
        assert_eq!(version("1.2.3"), "1.2.3");
        assert_eq!(version("v1.2.3"), "v1.2.3");
        assert_eq!(version(" 1.2.3 (abc def)"), "1.2.3--abc-def");
        assert_eq!(version(""), "unknown");
        assert_eq!(version("ü"), "unknown");
        assert_eq!(version(&"9".repeat(40)), "9".repeat(32));
        for v in [
            "1.2.3",
            "x",
            &"a.".repeat(30),
            "-1",
            "1+2+3+4+5+6+7+8+9+0+1+2+3+4+5+6+7",
        ] {
            assert!(Pattern::Version.matches(&version(v)), "{v}");
        }
    }

    #[test]
    fn names_outside_the_schema_become_names_inside_it() {
        assert_eq!(name("mytool"), "mytool");
        assert_eq!(name("My Tool"), "my-tool");
        assert_eq!(name("_x"), "x");
        assert_eq!(name("日本"), "app");
        assert_eq!(name(&"a".repeat(50)).len(), 40);
    }

    #[test]
    fn prefixes_become_variable_names() {
        assert!(valid_prefix("MYTOOL"));
        assert!(!valid_prefix("my-tool"));
        assert_eq!(prefix("my-tool", "x"), "MY_TOOL");
        assert_eq!(prefix("1x", "x"), "_1X");
        assert_eq!(prefix("", "my-tool"), "MY_TOOL");
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(check_endpoint("https://t.example.com/v1/batch").is_ok());
        assert!(check_endpoint("http://127.0.0.1:9/").is_ok());
        assert!(check_endpoint("ftp://x").is_err());
        assert!(check_endpoint("https:///x").is_err());
        assert!(check_endpoint("https://x y").is_err());
    }

    #[test]
    fn normalize_reports_each_change() {
        let mut app = AppInfo {
            name: "My Tool".into(),
            version: "1.2.3-rc.1+build.0123456789abcdef".into(),
            env_prefix: "my-tool".into(),
            default_policy: crate::DefaultPolicy::OptIn,
            docs_url: None,
            endpoint: Some("nope".into()),
            policy_file: None,
            command: "telemetry".into(),
            rotation: None,
            declared: Default::default(),
        };
        let w = normalize(&mut app);
        assert_eq!(w.len(), 4, "{w:?}");
        assert_eq!(app.name, "my-tool");
        assert_eq!(app.version, "1.2.3");
        assert_eq!(app.env_prefix, "MY_TOOL");
        assert_eq!(app.endpoint, None);
    }
}
