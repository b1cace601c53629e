//! A snapshot of the process environment, each variable read once.
//!
//! Every decision tally makes from the environment (consent, paths, the
//! endpoint, CI detection, proxies) reads this snapshot rather than calling
//! `std::env` again, so a test can hand the library an environment of its
//! own and the answer never changes halfway through a run. A host's run
//! looks up the variables it reads at start and copies the rest of the
//! environment only if something else is asked for: a fast command should
//! not pay for the size of the user's shell.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// An immutable copy of environment variables. Variables whose name or value
/// is not valid UTF-8 are left out: none of the ones tally reads can be.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// Taken from the process ([`Env::of_app`], [`Env::from_process`]):
    /// `vars` holds the variables tally reads that are set, and the rest
    /// is read the first time anything else is asked for.
    process: Option<Process>,
}

/// The process environment behind a snapshot of the variables tally reads.
#[derive(Clone, Debug)]
struct Process {
    /// The application's prefix (`<PREFIX>_TELEMETRY…`) when tally's own
    /// variables were looked up at start ([`Env::of_app`]).
    prefix: Option<String>,
    /// The whole environment, copied the first time a variable tally does
    /// not read is asked for (a host's own, through `Telemetry::env`) or
    /// the whole of it is (the environment a delivery helper starts with),
    /// with the values of tally's own variables as they were at start.
    whole: OnceLock<BTreeMap<String, String>>,
}

/// The variables every run that records reads, whatever the application
/// is called (with the CI markers of `consent::precedence`). What only a
/// `telemetry …` command or a send reads (`NO_COLOR`, the proxies) is read
/// with the rest of the environment when asked for.
const NAMES: &[&str] = &[
    "DO_NOT_TRACK",
    crate::deliver::helper::MARKER,
    crate::consent::otel::METRICS_ENDPOINT_VAR,
    crate::consent::otel::ENDPOINT_VAR,
    crate::consent::otel::HEADERS_VAR,
    crate::consent::otel::METRICS_HEADERS_VAR,
    crate::consent::otel::PROTOCOL_VAR,
    crate::consent::otel::METRICS_PROTOCOL_VAR,
    crate::consent::otel::SERVICE_NAME_VAR,
    crate::consent::otel::RESOURCE_ATTRIBUTES_VAR,
    crate::consent::otel::SDK_DISABLED_VAR,
];

/// The application's own variables, `<PREFIX>_` and one of these.
const SUFFIXES: &[&str] = &[
    "TELEMETRY",
    "TELEMETRY_DEBUG",
    "TELEMETRY_DIR",
    "TELEMETRY_ENDPOINT",
    "TELEMETRY_FLUSH_INTERVAL",
    "TELEMETRY_INSTANCE_ID",
    "TELEMETRY_NOW",
    "POLICY_FILE",
    "OTEL_MACHINE_ID",
];

/// The application's test hooks, read only by a debug build
/// (`os::testhook`, `deliver::testing`).
const TEST_SUFFIXES: &[&str] = &[
    "TELEMETRY_TEST_HELPER_DELAY_MS",
    "TELEMETRY_TEST_PANIC",
    "TELEMETRY_TEST_SYSTEM_POLICY_FILE",
    "TELEMETRY_TEST_SYSTEM_POLICY_ROOT",
];

/// Whether `suffix` names one of the application's variables this build
/// reads.
fn is_suffix(suffix: &str) -> bool {
    SUFFIXES.contains(&suffix) || (cfg!(debug_assertions) && TEST_SUFFIXES.contains(&suffix))
}

/// Whether tally reads `key` in a run of the application whose variables
/// start with `prefix`: the names looked up at start.
fn reads(prefix: &str, key: &str) -> bool {
    NAMES.contains(&key)
        || crate::consent::precedence::CI_VARS.contains(&key)
        || key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(is_suffix)
}

/// The variables of the process environment that tally reads, from one
/// pass over it. Looking each of the ~40 names up (libc's `getenv` walks
/// the whole environment for every name) cost a run about 230
/// instructions a name, more with every variable of the user's shell; one
/// pass matches each variable against the names once.
#[cfg(unix)]
fn read_own(prefix: &str) -> BTreeMap<String, String> {
    use std::ffi::CStr;
    let mut entries: Vec<&[u8]> = Vec::new();
    // SAFETY: `environ` is libc's array of NUL-terminated `NAME=value`
    // strings, ended by a null pointer (itself null after `clearenv`). It
    // stays valid until the environment is changed, and `scan` copies
    // what it keeps before this returns. std's lock only orders its own
    // `set_var`, which a host may call only while no other thread reads
    // the environment.
    unsafe {
        let mut p = environ();
        while !p.is_null() && !(*p).is_null() {
            entries.push(CStr::from_ptr(*p).to_bytes());
            p = p.add(1);
        }
    }
    scan(entries, |key| reads(prefix, key))
}

/// libc's environment array.
#[cfg(unix)]
unsafe fn environ() -> *const *const std::ffi::c_char {
    // Apple's dynamic libraries (the Node and Python packages) cannot
    // link `environ` itself; `_NSGetEnviron` is how they reach it.
    #[cfg(target_vendor = "apple")]
    // SAFETY: `_NSGetEnviron` returns a pointer to the process's
    // `environ`, valid for the life of the process.
    unsafe {
        (*libc::_NSGetEnviron()).cast_const().cast()
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        unsafe extern "C" {
            static environ: *const *const std::ffi::c_char;
        }
        // SAFETY: a read of libc's `environ` pointer (see `read_own`).
        unsafe { environ }
    }
}

/// The `NAME=value` entries of an environment whose name `wanted` accepts,
/// read as libc's `getenv` reads them: the name ends at the first `=`, an
/// entry without one is no variable, and the first entry of a name is its
/// value (an environment may be crafted to hold two). A name or value
/// that is not UTF-8 is left out, as if unset.
#[cfg(any(unix, test))]
fn scan<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
    wanted: impl Fn(&str) -> bool,
) -> BTreeMap<String, String> {
    let mut first: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for entry in entries {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&entry[..eq]) else {
            continue;
        };
        if wanted(name) {
            first
                .entry(name)
                .or_insert_with(|| std::str::from_utf8(&entry[eq + 1..]).ok());
        }
    }
    first
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect()
}

/// The variables tally reads, looked up one by one (std reads the
/// environment through the platform's own calls).
#[cfg(not(unix))]
fn read_own(prefix: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut keep = |name: &str| {
        if let Some(v) = std::env::var_os(name).and_then(|v| v.into_string().ok()) {
            vars.insert(name.to_owned(), v);
        }
    };
    for name in NAMES.iter().chain(crate::consent::precedence::CI_VARS) {
        keep(name);
    }
    let test = if cfg!(debug_assertions) {
        TEST_SUFFIXES
    } else {
        &[]
    };
    for suffix in SUFFIXES.iter().chain(test) {
        keep(&format!("{prefix}_{suffix}"));
    }
    vars
}

impl Process {
    /// Whether `key` is one of the variables the snapshot looked up, so
    /// that its absence from it is the answer.
    fn looked_up(&self, key: &str) -> bool {
        // Without a prefix (`from_process`) nothing was looked up at start.
        self.prefix
            .as_deref()
            .is_some_and(|prefix| reads(prefix, key))
    }
}

impl Env {
    /// Snapshots the process environment: the whole of it is copied the
    /// first time a variable is asked for, and kept.
    pub fn from_process() -> Self {
        Self {
            vars: BTreeMap::new(),
            process: Some(Process {
                prefix: None,
                whole: OnceLock::new(),
            }),
        }
    }

    /// Snapshots the process environment for the application whose
    /// variables start with `prefix`: the variables tally reads are taken
    /// at once, and the rest of the environment is copied
    /// only when something else is asked for. Copying and sorting the whole
    /// environment cost every run that records about 1,300 instructions a
    /// variable, so a shell's 30 or a CI runner's 100 weighed more than
    /// everything else tally does (docs/PERFORMANCE.md).
    pub(crate) fn of_app(prefix: &str) -> Self {
        Self {
            vars: read_own(prefix),
            process: Some(Process {
                prefix: Some(prefix.to_owned()),
                whole: OnceLock::new(),
            }),
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
            process: None,
        }
    }

    /// Returns a copy with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        if let Some(p) = &mut self.process {
            p.whole = OnceLock::new();
        }
        self
    }

    /// The value of `key`, if set (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.vars.get(key) {
            return Some(v);
        }
        match &self.process {
            Some(p) if !p.looked_up(key) => self.all().get(key).map(String::as_str),
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
    /// looked up at start as they were then.
    fn all(&self) -> &BTreeMap<String, String> {
        match &self.process {
            None => &self.vars,
            Some(p) => p.whole.get_or_init(|| {
                let mut all: BTreeMap<String, String> = std::env::vars_os()
                    .filter_map(|(k, v)| {
                        let k = k.into_string().ok()?;
                        (!p.looked_up(&k)).then_some(())?;
                        Some((k, v.into_string().ok()?))
                    })
                    .collect();
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
    fn the_scan_of_the_environment_reads_a_variable_as_getenv_does() {
        let entries: [&[u8]; 10] = [
            b"PATH=/usr/bin",
            b"MYTOOL_TELEMETRY=0",
            b"MYTOOL_TELEMETRY=1",
            b"DO_NOT_TRACK",
            b"=DO_NOT_TRACK=1",
            b"OTEL_EXPORTER_OTLP_ENDPOINT=http://h/?a=b",
            b"CI=\xff",
            b"CI=true",
            b"MYTOOL_UNKNOWN=1",
            b"MYTOOLX_TELEMETRY=1",
        ];
        let vars = scan(entries, |k| reads("MYTOOL", k));
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                // The first entry of a name, as getenv answers.
                ("MYTOOL_TELEMETRY", "0"),
                // The value runs to the end, `=` and all.
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h/?a=b"),
            ],
            "not read (PATH, an unknown suffix, another prefix), no `=` (DO_NOT_TRACK), \
             an empty name, and a first value that is not UTF-8 (CI: unset, as getenv's \
             answer would be, not the second entry's)"
        );
    }

    #[test]
    fn a_snapshot_for_an_application_takes_the_variables_it_reads_from_the_process() {
        // Set by the test runner's own environment when CI sets it;
        // otherwise the names below are unset in both.
        let env = Env::of_app("MYTOOL");
        for name in NAMES.iter().chain(crate::consent::precedence::CI_VARS) {
            assert_eq!(
                env.vars.get(*name).map(String::as_str),
                std::env::var(name).ok().as_deref(),
                "{name}"
            );
        }
        assert!(
            env.vars.keys().all(|k| reads("MYTOOL", k)),
            "{:?}",
            env.vars
        );
    }

    #[test]
    fn a_snapshot_for_an_application_reads_the_rest_of_the_environment_when_asked() {
        // PATH is set wherever tests run, and tally never reads it.
        let path = std::env::var("PATH").unwrap();
        let env = Env::of_app("MYTOOL");
        assert!(!env.vars.contains_key("PATH"));
        assert_eq!(env.get("PATH"), Some(path.as_str()));
        assert_eq!(Env::from_process().get("PATH"), Some(path.as_str()));
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
        // A value set on the snapshot wins over the process's.
        let env = env.with("DO_NOT_TRACK", "1").with("PATH", "/nowhere");
        assert_eq!(env.get("DO_NOT_TRACK"), Some("1"));
        assert_eq!(env.get("PATH"), Some("/nowhere"));
        assert!(env.vars().any(|kv| kv == ("DO_NOT_TRACK", "1")));
        assert!(env.vars().any(|kv| kv == ("PATH", "/nowhere")));
    }

    #[test]
    fn the_names_looked_up_at_start_are_tallys_own() {
        let p = Process {
            prefix: Some("MY_TOOL".into()),
            whole: OnceLock::new(),
        };
        for name in [
            "DO_NOT_TRACK",
            "MY_TOOL_TELEMETRY",
            "MY_TOOL_TELEMETRY_DIR",
            "MY_TOOL_POLICY_FILE",
            "MY_TOOL_OTEL_MACHINE_ID",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "GITHUB_ACTIONS",
            "CI",
            crate::deliver::helper::MARKER,
        ] {
            assert!(p.looked_up(name), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "NO_COLOR",
            "https_proxy",
            "MY_TOOL_OTHER",
            "OTHER_TELEMETRY",
            "MY_TOOLTELEMETRY",
        ] {
            assert!(!p.looked_up(name), "{name}");
        }
        let none = Process {
            prefix: None,
            whole: OnceLock::new(),
        };
        assert!(!none.looked_up("DO_NOT_TRACK"));
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
