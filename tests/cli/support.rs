//! The sandbox builder every integration test uses: a temporary HOME with
//! its own XDG directories, an environment cleared of everything but PATH
//! (so the developer's or CI's own `CI`, `DO_NOT_TRACK`, proxies and config
//! never leak in), and helpers to run the built binaries.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The built `tally` binary.
pub fn tally_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tally"))
}

/// The features the library's examples are built with (every one a host
/// may use, so one build of the library serves them all).
pub const EXAMPLE_FEATURES: &str = "clap,prompt,rustls,otlp,rmcp";

/// One of the library's examples (`crates/tally-telemetry/examples/`),
/// built with the same cargo (a no-op when `cargo test --workspace`
/// already built them, needed when only this test binary was built).
pub fn library_example(name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--quiet", "--locked", "-p", "tally-telemetry"])
        .args(["--features", EXAMPLE_FEATURES, "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build --example");
    assert!(st.success(), "building the library's example {name} failed");
    tally_bin().parent().unwrap().join("examples").join(name)
}

/// The example host (`crates/tally-telemetry/examples/host.rs`), built
/// once per test run.
pub fn host_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| library_example("host")).clone()
}

/// An isolated home for one test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert("HOME".into(), root.join("home").display().to_string());
        env.insert(
            "XDG_CONFIG_HOME".into(),
            root.join("config").display().to_string(),
        );
        env.insert(
            "XDG_STATE_HOME".into(),
            root.join("state").display().to_string(),
        );
        env.insert(
            "XDG_DATA_HOME".into(),
            root.join("data").display().to_string(),
        );
        env.insert(
            "XDG_CACHE_HOME".into(),
            root.join("cache").display().to_string(),
        );
        // The system policy file moved into the sandbox (a hook only debug
        // builds honour), so the machine's /etc never counts. Tests write
        // these files to act as the administrator.
        env.insert(
            "TALLY_TELEMETRY_TEST_SYSTEM_POLICY_FILE".into(),
            root.join("policy.toml").display().to_string(),
        );
        env.insert(
            "HOST_TELEMETRY_TEST_SYSTEM_POLICY_FILE".into(),
            root.join("host-policy.toml").display().to_string(),
        );
        std::fs::create_dir_all(root.join("home")).unwrap();
        Sandbox { dir, env }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Sets a variable for every later run.
    pub fn set(&mut self, k: &str, v: impl AsRef<str>) -> &mut Self {
        self.env.insert(k.into(), v.as_ref().into());
        self
    }

    /// Removes a variable for every later run.
    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.env.remove(k);
        self
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// A command for `bin` with the sandbox's environment and no stdin.
    pub fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.root())
            .stdin(Stdio::null());
        c
    }

    pub fn tally(&self, args: &[&str]) -> Output {
        self.command(&tally_bin(), args)
            .output()
            .expect("run tally")
    }

    pub fn host(&self, args: &[&str]) -> Output {
        self.command(&host_bin(), args).output().expect("run host")
    }

    /// `tally …`, asserting success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.tally(args);
        assert!(
            out.status.success(),
            "tally {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `tally telemetry status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["telemetry", "status", "--json"])).expect("status json")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config").join("tally")
    }

    /// tally's own consent file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("telemetry.toml")
    }

    /// The host's own config file beside it (where earlier versions kept a
    /// `[telemetry]` table).
    pub fn host_config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state").join("tally")
    }

    /// Every file and directory under the sandbox's config and state homes.
    pub fn created(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for top in ["config", "state", "data", "cache"] {
            walk(&self.root().join(top), &mut out);
        }
        out
    }
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            out.push(e.path());
            walk(&e.path(), out);
        }
    }
}

/// Every file (not directory) under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
