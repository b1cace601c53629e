//! Who the embedding application is: its name, version, environment-variable
//! prefix, default policy and where its data may go. A host fills this in
//! once through [`crate::Builder`]; everything else derives from it.

use std::path::{Path, PathBuf};

/// What happens before the user has made a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultPolicy {
    /// On unless refused: a one-time notice, and the first send only in a
    /// later process.
    OptOut,
    /// Off until accepted (the prompt, `telemetry on`, or the env var).
    OptIn,
}

impl DefaultPolicy {
    /// Whether telemetry is on when nothing else decided.
    pub fn enabled(self) -> bool {
        matches!(self, DefaultPolicy::OptOut)
    }

    /// The policy a word names: `opt-in` or `opt-out` (also written
    /// `opt_in`, `optin`, `opt_out`, `optout`, in any case). The one parser
    /// the bindings and hosts share.
    pub fn from_word(word: &str) -> Option<DefaultPolicy> {
        match word.to_ascii_lowercase().as_str() {
            "opt-in" | "opt_in" | "optin" => Some(DefaultPolicy::OptIn),
            "opt-out" | "opt_out" | "optout" => Some(DefaultPolicy::OptOut),
            _ => None,
        }
    }
}

/// The embedding application's identity and defaults.
#[derive(Clone, Debug)]
pub struct AppInfo {
    /// Short lowercase name, used for directories and in the envelope.
    pub name: String,
    /// The application's version, sent in the envelope.
    pub version: String,
    /// Upper-case prefix of the environment variables (`MYTOOL` gives
    /// `MYTOOL_TELEMETRY`, `MYTOOL_TELEMETRY_ENDPOINT`, …).
    pub env_prefix: String,
    /// What happens before a choice is made.
    pub default_policy: DefaultPolicy,
    /// Where users can read what is collected (linked from the notice).
    pub docs_url: Option<String>,
    /// The endpoint compiled into the application, if any.
    pub endpoint: Option<String>,
    /// The system policy file; found among
    /// [`policy_file_candidates`](Self::policy_file_candidates) unless set.
    pub policy_file: Option<PathBuf>,
    /// The name of the host's subcommand that holds `status|on|off|…`
    /// (`telemetry` unless the host chose another), for the texts that
    /// tell users what to run.
    pub command: String,
    /// How often the machine id is replaced, as the application chose.
    pub rotation: Option<crate::consent::rotation::Rotation>,
    /// What the host declared beyond its identity (exit outcomes, renamed
    /// command paths, retention, the kinds of events it sends).
    pub declared: crate::host::declared::Declared,
}

impl AppInfo {
    /// An application as a builder starts it: version `0.0.0`, the
    /// variables' prefix from the name, opt-in, nothing else set.
    pub(crate) fn named(name: &str) -> AppInfo {
        AppInfo {
            name: name.to_owned(),
            version: "0.0.0".into(),
            env_prefix: prefix_for(name),
            default_policy: DefaultPolicy::OptIn,
            docs_url: None,
            endpoint: None,
            policy_file: None,
            command: "telemetry".into(),
            rotation: None,
            declared: Default::default(),
        }
    }

    /// What users type to manage telemetry: `mytool telemetry`.
    pub fn manage(&self) -> String {
        format!("{} {}", self.name, self.command)
    }

    /// The name of one of this application's environment variables, e.g.
    /// `var("TELEMETRY_DIR")` → `MYTOOL_TELEMETRY_DIR`.
    pub fn var(&self, suffix: &str) -> String {
        // Not `format!`: resolving consent names several variables on every
        // run that records, and the formatter costs several times this.
        let mut v = String::with_capacity(self.env_prefix.len() + 1 + suffix.len());
        v.push_str(&self.env_prefix);
        v.push('_');
        v.push_str(suffix);
        v
    }

    /// The consent variable, `<PREFIX>_TELEMETRY`.
    pub fn consent_var(&self) -> String {
        self.var("TELEMETRY")
    }

    /// Where the system policy file may be when the host configured none,
    /// in precedence order: under the application's own name,
    /// `/etc/<name>/telemetry.toml`, where an administrator looks first;
    /// then the shared `/etc/tally/<name>.toml` of earlier versions. The
    /// first that exists applies, alone. On Windows `%ProgramData%` takes
    /// the place of `/etc`. `root` replaces `/etc` (tests only).
    pub fn policy_file_candidates(&self, root: Option<&Path>) -> [PathBuf; 2] {
        let root = root.map_or_else(system_policy_root, Path::to_path_buf);
        let mut legacy = under(&root, &["tally", &self.name]);
        legacy.as_mut_os_string().push(".toml");
        [under(&root, &[&self.name, "telemetry.toml"]), legacy]
    }
}

/// `root` with `parts` pushed on, in one buffer of the right size: every
/// run that records builds these paths, and `join` on `join` allocated
/// and copied each step (about 850 instructions a step).
fn under(root: &Path, parts: &[&str]) -> PathBuf {
    // A separator before each part, and room for the `.toml` the legacy
    // name takes on.
    let len =
        root.as_os_str().len() + parts.iter().map(|p| p.len() + 1).sum::<usize>() + ".toml".len();
    let mut path = PathBuf::with_capacity(len);
    path.push(root);
    for part in parts {
        path.push(part);
    }
    path
}

/// The folder that holds administrators' files: `/etc` on Unix (macOS
/// included: `/etc` is root's there too).
#[cfg(not(windows))]
fn system_policy_root() -> PathBuf {
    PathBuf::from("/etc")
}

/// Windows: the ProgramData known folder, asked of the shell
/// rather than read from `%ProgramData%`, which every user may set in their
/// own environment (and so escape the administrator's policy). `/etc/…`
/// would be `C:\etc\…`, a folder any user may create.
#[cfg(windows)]
fn system_policy_root() -> PathBuf {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::System::Com::CoTaskMemFree;
    use windows_sys::Win32::UI::Shell::{
        FOLDERID_ProgramData, KF_FLAG_DEFAULT, SHGetKnownFolderPath,
    };
    let mut raw: *mut u16 = std::ptr::null_mut();
    // SAFETY: a valid folder id and out-pointer; the shell allocates the
    // string, freed below whatever the result.
    let hr = unsafe {
        SHGetKnownFolderPath(
            &FOLDERID_ProgramData,
            KF_FLAG_DEFAULT as u32,
            std::ptr::null_mut(),
            &mut raw,
        )
    };
    let mut dir = PathBuf::from(r"C:\ProgramData");
    if hr >= 0 && !raw.is_null() {
        // SAFETY: on success `raw` is a NUL-terminated UTF-16 string.
        let len = (0..).take_while(|&i| unsafe { *raw.add(i) } != 0).count();
        // SAFETY: `len` u16s before the NUL are readable.
        let wide = unsafe { std::slice::from_raw_parts(raw, len) };
        dir = PathBuf::from(std::ffi::OsString::from_wide(wide));
    }
    // SAFETY: `raw` came from SHGetKnownFolderPath (null is allowed).
    unsafe { CoTaskMemFree(raw.cast()) };
    dir
}

/// Derives an environment prefix from an application name: `my-tool` →
/// `MY_TOOL`.
pub fn prefix_for(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_derived_from_names() {
        assert_eq!(prefix_for("my-tool"), "MY_TOOL");
        assert_eq!(prefix_for("tally"), "TALLY");
    }

    #[test]
    fn policy_file_candidates_are_the_joined_paths() {
        let app = AppInfo::named("my-tool");
        let dir = std::env::temp_dir();
        for root in [None, Some(dir.as_path()), Some(Path::new("relative/root"))] {
            let base = root.map_or_else(system_policy_root, Path::to_path_buf);
            assert_eq!(
                app.policy_file_candidates(root),
                [
                    base.join("my-tool").join("telemetry.toml"),
                    base.join("tally").join("my-tool.toml"),
                ],
                "{root:?}"
            );
        }
    }
}
