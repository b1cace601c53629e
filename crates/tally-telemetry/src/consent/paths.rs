//! Where tally keeps things: its own consent file (never the host's config
//! file, which only the one-time migration reads), the private state
//! directory and the names of the files in it, and the policy files: the
//! system one, which always applies, and one the environment may name,
//! which can only add restrictions.
//!
//! Locations follow the platform conventions through `directories` (XDG on
//! Linux) and can be overridden by environment for containers, where there
//! may be no home at all but a volume to keep state on.
//!
//! | | consent file | state directory | system policy |
//! |---|---|---|---|
//! | Linux | `$XDG_CONFIG_HOME/<app>/telemetry.toml` (`~/.config/…`) | `$XDG_STATE_HOME/<app>` (`~/.local/state/…`) | `/etc/<app>/telemetry.toml`, else `/etc/tally/<app>.toml` |
//! | macOS | `~/Library/Application Support/<app>/telemetry.toml` | `~/Library/Application Support/<app>` (the same folder: macOS has no separate state location) | `/etc/<app>/telemetry.toml`, else `/etc/tally/<app>.toml` |
//! | Windows | `%APPDATA%\<app>\config\telemetry.toml` (roaming: the choice is the user's, on every machine) | `%LOCALAPPDATA%\<app>\data` (local: a roaming machine id would be shared by machines) | `%ProgramData%\<app>\telemetry.toml`, else `%ProgramData%\tally\<app>.toml` |
//!
//! `<PREFIX>_TELEMETRY_DIR` replaces the state directory everywhere. Of the
//! two system policy files, the one under the application's own name is
//! where an administrator looks first; the shared one is where earlier
//! versions read. When both exist, only the first applies and `status`
//! warns about the other.

use std::path::{Path, PathBuf};

use crate::consent::app::AppInfo;
use crate::consent::origin::Origin;
use crate::os::env::Env;

/// The resolved locations for one application.
#[derive(Clone, Debug)]
pub struct Paths {
    /// tally's consent file, `<config dir>/<app>/telemetry.toml`, when a
    /// config directory could be determined.
    pub config_file: Option<PathBuf>,
    /// The host's own `config.toml` beside it, where earlier versions kept
    /// a `[telemetry]` table; read only to migrate that table once.
    pub legacy_config: Option<PathBuf>,
    /// The private state directory, when one could be determined.
    pub state_dir: Option<PathBuf>,
    /// Where the state directory location came from.
    pub state_dir_origin: Origin,
    /// The system policy file (may not exist). It always applies.
    pub policy_file: PathBuf,
    /// The shared `/etc/tally/<app>.toml` when the file under the
    /// application's own name exists too: it is not read, and `status`
    /// says so.
    pub ignored_policy_file: Option<PathBuf>,
    /// A further policy file named by `<PREFIX>_POLICY_FILE`: it may turn
    /// telemetry off, never undo what the system file says.
    pub extra_policy_file: Option<PathBuf>,
}

impl Paths {
    /// Resolves the locations for `app` from the platform defaults and the
    /// environment snapshot (`<PREFIX>_TELEMETRY_DIR`, `<PREFIX>_POLICY_FILE`).
    pub fn resolve(app: &AppInfo, env: &Env) -> Self {
        Self::resolve_in(app, env, directories::ProjectDirs::from("", "", &app.name))
    }

    /// The consent file in the application's config directory.
    pub fn consent_file(dirs: &directories::ProjectDirs) -> PathBuf {
        dirs.config_dir().join(crate::consent::config::FILE_NAME)
    }

    /// [`resolve`](Self::resolve) with the platform's directories for
    /// `app` already looked up (`init` does so to read a stored choice
    /// first, see [`crate::consent::settings::Preloaded`]).
    pub fn resolve_in(app: &AppInfo, env: &Env, dirs: Option<directories::ProjectDirs>) -> Self {
        let config_file = dirs.as_ref().map(Self::consent_file);
        let legacy_config = dirs.as_ref().map(|d| d.config_dir().join("config.toml"));
        let dir_var = app.var("TELEMETRY_DIR");
        // A relative directory would follow the working directory of each
        // run; it is ignored (status warns, see `settings`).
        let absolute = env
            .non_empty(&dir_var)
            .filter(|v| std::path::Path::new(v).is_absolute());
        let (state_dir, state_dir_origin) = match absolute {
            Some(v) => (Some(PathBuf::from(v)), Origin::Env(dir_var)),
            None => (
                dirs.as_ref().map(|d| {
                    d.state_dir()
                        .unwrap_or_else(|| d.data_local_dir())
                        .to_path_buf()
                }),
                Origin::Default,
            ),
        };
        // The system file is where the application says; only a test build
        // may move it (so tests never read this machine's /etc).
        let test_var = app.var("TELEMETRY_TEST_SYSTEM_POLICY_FILE");
        let test_root = app.var("TELEMETRY_TEST_SYSTEM_POLICY_ROOT");
        let (policy_file, ignored_policy_file) =
            match (crate::os::testhook::var(env, &test_var), &app.policy_file) {
                (Some(v), _) => (PathBuf::from(v), None),
                (None, Some(p)) => (p.clone(), None),
                (None, None) => {
                    let root = crate::os::testhook::var(env, &test_root).map(Path::new);
                    let [own, shared] = app.policy_file_candidates(root);
                    // A link counts as there: reading it decides (a dangling one
                    // is unreadable, which means off).
                    let there = |p: &Path| std::fs::symlink_metadata(p).is_ok();
                    match (there(&own), there(&shared)) {
                        (true, true) => (own, Some(shared)),
                        (false, true) => (shared, None),
                        _ => (own, None),
                    }
                }
            };
        let extra_policy_file = env.non_empty(&app.var("POLICY_FILE")).map(PathBuf::from);
        Paths {
            config_file,
            legacy_config,
            state_dir,
            state_dir_origin,
            policy_file,
            ignored_policy_file,
            extra_policy_file,
        }
    }

    /// Paths rooted in explicit directories (tests, embedders with their own
    /// layout).
    #[cfg(any(test, feature = "conformance"))]
    pub fn explicit(config_file: PathBuf, state_dir: PathBuf, policy_file: PathBuf) -> Self {
        Paths {
            config_file: Some(config_file),
            legacy_config: None,
            state_dir: Some(state_dir),
            state_dir_origin: Origin::Builder,
            policy_file,
            ignored_policy_file: None,
            extra_policy_file: None,
        }
    }

    /// The files inside the state directory, if there is one.
    pub fn state(&self) -> Option<StateFiles> {
        self.state_dir.clone().map(StateFiles)
    }

    /// The same locations for counts reported under another application
    /// name (`tally run --app NAME`): config and policy file stay these, the
    /// state directory becomes `<state dir>/apps/<name>`, so each name has
    /// its own spool, machine id and send ledger.
    pub fn for_app(mut self, name: &str) -> Self {
        self.state_dir = self.state_dir.map(|d| d.join(APPS_DIR).join(name));
        self
    }
}

/// The subdirectory of a state directory holding the state of the names
/// counts are reported under ([`Paths::for_app`]).
pub const APPS_DIR: &str = "apps";

/// Names of the files in the state directory.
#[derive(Clone, Debug)]
pub struct StateFiles(pub PathBuf);

impl StateFiles {
    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }
    /// The random machine id.
    pub fn machine_id(&self) -> PathBuf {
        self.0.join("machine_id")
    }
    /// The period the machine id belongs to, when it rotates.
    pub fn machine_id_period(&self) -> PathBuf {
        self.0.join("machine_id_period")
    }
    /// The ids of earlier periods whose days may still wait in the spool
    /// (`<period> <id>` per line, bounded), when the id rotates.
    pub fn machine_id_past(&self) -> PathBuf {
        self.0.join("machine_id_past")
    }
    /// The application version of the last run that recorded (upgrade
    /// detection).
    pub fn last_version(&self) -> PathBuf {
        self.0.join("last_version")
    }
    /// The append-only spool of per-day counts.
    pub fn spool(&self) -> PathBuf {
        self.0.join("spool.jsonl")
    }
    /// Lock serialising every change to the spool.
    pub fn spool_lock(&self) -> PathBuf {
        self.0.join("spool.lock")
    }
    /// Lock held by the one process that sends at a time.
    pub fn send_lock(&self) -> PathBuf {
        self.0.join("send.lock")
    }
    /// Written by a process that starts the delivery helper, removed by
    /// the helper as soon as tally's code runs in it: one that outlives the
    /// helper's lifetime means the helper never got there (see
    /// `deliver::helper`).
    pub fn helper_started(&self) -> PathBuf {
        self.0.join("helper.started")
    }
    /// The bounded ledger of what was sent.
    pub fn ledger(&self) -> PathBuf {
        self.0.join("sent.jsonl")
    }
    /// The backoff record after a failed send.
    pub fn backoff(&self) -> PathBuf {
        self.0.join("backoff.json")
    }
    /// The last local failure (file or network), for `telemetry status`.
    pub fn last_error(&self) -> PathBuf {
        self.0.join("last_error")
    }
    /// Every file tally may create here, for `telemetry off`, including
    /// those of the names reported under in `apps/` ([`Paths::for_app`]):
    /// their consent is this application's.
    pub fn all(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.machine_id(),
            self.machine_id_period(),
            self.machine_id_past(),
            self.last_version(),
            self.spool(),
            self.spool_lock(),
            self.send_lock(),
            self.helper_started(),
            self.ledger(),
            self.backoff(),
            self.last_error(),
        ];
        for app in self.app_dirs() {
            files.extend(app.all());
        }
        files
    }

    /// The state of each name reported under (`apps/<name>`).
    pub fn app_dirs(&self) -> Vec<StateFiles> {
        let Ok(entries) = std::fs::read_dir(self.0.join(APPS_DIR)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| StateFiles(e.path()))
            .collect()
    }
}
