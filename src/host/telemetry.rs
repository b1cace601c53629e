//! The handle a host holds: [`Builder`] resolves everything once at start
//! (and asks the first-run question when it may), [`Telemetry`] answers
//! whether telemetry is on and why, and the process-wide runtime persists
//! counts at exit through an `atexit` hook, so they survive
//! `std::process::exit` anywhere in the host, a return from `main`, and a
//! panic that unwinds out of `main`. What an exit hook cannot save: counts of
//! a process killed by a signal it does not handle (SIGKILL, an unhandled
//! SIGTERM/SIGINT), `abort()` and `panic = "abort"` builds.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::consent::app::{AppInfo, DefaultPolicy, prefix_for};
use crate::consent::config::{self, ChoiceVia, Generation};
use crate::consent::paths::Paths;
use crate::consent::settings::{self, Flags, Settings};
use crate::deliver::sender::{self, Mode};
use crate::os::clock::{format_day, format_instant};
use crate::os::env::Env;
use crate::record::recorder;
use crate::record::rollup;
use crate::record::spool;
use crate::record::state;
use crate::schema::CommandOutcome;

/// Configures telemetry for an application; finish with [`Builder::init`].
#[derive(Clone, Debug)]
pub struct Builder {
    app: AppInfo,
    env: Option<Env>,
    flags: Flags,
    paths: Option<Paths>,
    prompt: bool,
    background_send: bool,
    report_as: Option<String>,
}

impl Builder {
    /// Starts a builder for `name` (lower-case, e.g. `mytool`). The env
    /// prefix defaults to the upper-cased name, the policy to opt-in.
    pub fn new(name: &str) -> Self {
        Builder {
            app: AppInfo {
                name: name.to_owned(),
                version: "0.0.0".into(),
                env_prefix: prefix_for(name),
                default_policy: DefaultPolicy::OptIn,
                docs_url: None,
                endpoint: None,
                policy_file: None,
            },
            env: None,
            flags: Flags::default(),
            paths: None,
            prompt: true,
            background_send: true,
            report_as: None,
        }
    }

    /// The application's version (usually `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, v: &str) -> Self {
        self.app.version = v.to_owned();
        self
    }

    /// The environment-variable prefix (`MYTOOL` → `MYTOOL_TELEMETRY`).
    pub fn env_prefix(mut self, p: &str) -> Self {
        self.app.env_prefix = p.to_owned();
        self
    }

    /// What happens before the user chooses.
    pub fn default_policy(mut self, p: DefaultPolicy) -> Self {
        self.app.default_policy = p;
        self
    }

    /// Where users can read what is collected.
    pub fn docs_url(mut self, url: &str) -> Self {
        self.app.docs_url = Some(url.to_owned());
        self
    }

    /// The endpoint batches are posted to (the env var, config file and
    /// policy file can override it).
    pub fn endpoint(mut self, url: &str) -> Self {
        self.app.endpoint = Some(url.to_owned());
        self
    }

    /// The system policy file (default `/etc/tally/<name>.toml`).
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.app.policy_file = Some(path.into());
        self
    }

    /// `--no-telemetry` was given on this run.
    pub fn no_telemetry(mut self, flag: bool) -> Self {
        self.flags.no_telemetry = flag;
        self
    }

    /// Uses this environment instead of the process's (tests).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Uses these locations instead of the platform's (benchmarks, tests).
    #[doc(hidden)]
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = Some(paths);
        self
    }

    /// Whether [`init`](Self::init) may ask the first-run question (hosts
    /// turn this off while running their `telemetry …` commands).
    pub fn prompt(mut self, allow: bool) -> Self {
        self.prompt = allow;
        self
    }

    /// Whether [`init`](Self::init) may start an opportunistic background
    /// send (on by default).
    pub fn background_send(mut self, allow: bool) -> Self {
        self.background_send = allow;
        self
    }

    /// Reports the counts under another application name (`tally run --app
    /// NAME`) while consent, the config file, the policy file and the
    /// environment variables stay this application's. The counts are kept
    /// apart in `<state dir>/apps/<name>` (see [`Paths::for_app`]) and sent
    /// with `name` in the envelope; `telemetry off` of this application
    /// deletes them too.
    pub fn report_as(mut self, name: &str) -> Self {
        self.report_as = Some(name.to_owned());
        self
    }

    /// Resolves settings without side effects: no prompt, no hook, no
    /// thread, no file created. Used by `telemetry status`.
    pub(crate) fn resolve(&self) -> Settings {
        let env = self.env.clone().unwrap_or_else(Env::from_process);
        let Some(name) = &self.report_as else {
            return settings::resolve(self.app.clone(), env, self.flags, self.paths.clone());
        };
        // Locations are resolved under the owner's name first, so its config
        // and policy file apply; only the state directory and the name in
        // the envelope change.
        let paths = self
            .paths
            .clone()
            .unwrap_or_else(|| Paths::resolve(&self.app, &env))
            .for_app(name);
        let mut app = self.app.clone();
        app.name = name.clone();
        settings::resolve(app, env, self.flags, Some(paths))
    }

    /// Resolves consent, asks the first-run question if it is due, and when
    /// telemetry is on, turns recording on, registers the exit hook and
    /// starts a background send if a completed day is waiting. Never fails
    /// and never writes to stdout.
    pub fn init(self) -> Telemetry {
        let mut s = self.resolve();
        if self.prompt
            && crate::consent::prompt::due(&s)
            && let Some(answer) = crate::consent::prompt::ask(&s)
        {
            let _ = store_choice(&s, answer, ChoiceVia::Prompt);
            s = self.resolve();
        }
        let t = Telemetry {
            settings: Arc::new(s),
        };
        if t.settings.records() {
            activate(&t.settings);
            if self.background_send && sender::worth_trying(&t.settings) {
                let s = Arc::clone(&t.settings);
                let _ = std::thread::Builder::new()
                    .name("tally-send".into())
                    .spawn(move || sender::send_pending(&s, Mode::Background));
            }
        }
        t
    }
}

/// Stores an explicit choice for the application in `s` (the prompt, `on`,
/// `off`, `config otel set`), stamped with when it was made.
pub fn store_choice(
    s: &Settings,
    enabled: bool,
    via: ChoiceVia,
) -> Result<(), config::ConfigError> {
    config::store_choice(
        s.paths.config_file.as_deref(),
        &s.app.consent_var(),
        enabled,
        via,
        &format_instant(s.clock.now()),
    )
}

/// A host's handle on telemetry for this process.
#[derive(Clone, Debug)]
pub struct Telemetry {
    settings: Arc<Settings>,
}

impl Telemetry {
    /// Starts configuring telemetry for the application `name`.
    pub fn builder(name: &str) -> Builder {
        Builder::new(name)
    }

    /// Whether telemetry is on for this process.
    pub fn enabled(&self) -> bool {
        self.settings.consent.enabled
    }

    /// The resolved settings (consent and what decided it, paths, endpoint).
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Counts a command from clap's matches: the subcommand path only,
    /// never an argument value.
    /// `telemetry …` itself is never counted: managing consent is not usage,
    /// and `telemetry status` must not create files while undecided.
    pub fn record_matches(&self, matches: &clap::ArgMatches) {
        if recorder::is_enabled() {
            let path = command_path(matches);
            if path != "telemetry" && !path.starts_with("telemetry ") {
                recorder::record_command(&path);
            }
        }
    }

    /// Says how the command that [`Telemetry::record_matches`] counted
    /// ended, from the exit code the host is about to return, and gives the
    /// code back, so `main` can end with
    /// `ExitCode::from(t.finish(code) as u8)` or `process::exit(t.finish(code))`.
    /// 0 is a success, 2 a usage error, 129/130/143 an interruption,
    /// anything else a failure; see [`finish_command`](crate::finish_command)
    /// to say it directly. The run's duration is counted in coarse buckets.
    pub fn finish(&self, exit_code: i32) -> i32 {
        recorder::finish_command(CommandOutcome::from_exit_code(exit_code));
        exit_code
    }

    /// Persists what was recorded so far and sends what is due, in the
    /// foreground, within the sender's timeouts. For shutdown of long-running
    /// commands.
    pub fn shutdown(&self) {
        persist();
        if self.settings.records() {
            sender::send_pending(&self.settings, Mode::Background);
        }
    }

    /// Starts a thread that persists counts every flush interval (and at
    /// each UTC midnight, so counts land on the right day) and then tries a
    /// send. For long-running commands such as a proxy or a server.
    pub fn start_interval_flush(&self) {
        if !self.settings.records() {
            return;
        }
        let s = Arc::clone(&self.settings);
        let _ = std::thread::Builder::new()
            .name("tally-flush".into())
            .spawn(move || {
                loop {
                    let now = s.clock.now();
                    let midnight = (now.date() + time::Duration::days(1))
                        .midnight()
                        .assume_utc();
                    let to_midnight = (midnight - now).whole_seconds().max(1) as u64;
                    let wait = s.flush_interval.value.min(Duration::from_secs(to_midnight));
                    std::thread::sleep(wait);
                    persist();
                    sender::send_pending(&s, Mode::Background);
                }
            });
    }
}

/// The subcommand path of parsed arguments: `tally config otel get` gives
/// `config otel get`. Only subcommand names, which the host defines, are
/// used; argument values never are.
pub fn command_path(matches: &clap::ArgMatches) -> String {
    let mut path = String::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        if !path.is_empty() {
            path.push(' ');
        }
        path.push_str(name);
        m = sub;
    }
    path
}

/// The process-wide state the exit hook needs.
struct Runtime {
    settings: Arc<Settings>,
    generation: Mutex<Option<Generation>>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn activate(s: &Arc<Settings>) {
    let first = RUNTIME
        .set(Runtime {
            settings: Arc::clone(s),
            generation: Mutex::new(s.paths.config_file.as_deref().and_then(config::generation)),
        })
        .is_ok();
    recorder::set_enabled(true);
    if first {
        // SAFETY: registering a plain `extern "C"` function with no captured
        // state; it is safe to call at any point of process exit.
        unsafe {
            libc::atexit(at_exit);
        }
    }
}

extern "C" fn at_exit() {
    // A panic must not unwind into libc; whatever fails here is dropped.
    let _ = std::panic::catch_unwind(|| {
        // Nothing will finish a command still running now: count it as
        // ended in an unknown way rather than lose it.
        recorder::close_running();
        persist();
    });
}

/// Appends everything recorded so far to the spool. Called at exit and by
/// the interval flush; cheap when nothing was recorded. Re-checks consent
/// first with a stat of the config file, so a `telemetry off` run in another
/// process takes effect without reading the file on every record.
pub fn persist() {
    let Some(rt) = RUNTIME.get() else { return };
    let counters = recorder::drain();
    if counters.is_empty() {
        return;
    }
    let s = &rt.settings;
    if !still_enabled(rt) {
        recorder::set_enabled(false);
        return;
    }
    let Some(state) = s.paths.state() else { return };
    let today = format_day(s.clock.today());
    let lines = rollup::lines_from(&counters, &today);
    match spool::append(&state, &lines, &today) {
        Ok(()) => {
            if s.consent.enabled {
                crate::consent::notice::show(s);
            }
        }
        Err(e) => {
            // Keep the counts for the next try: a long-running process's
            // next interval flush, since at exit nothing comes after.
            recorder::restore(counters);
            state::note_error(&state, &format_instant(s.clock.now()), &e.to_string());
            if s.debug {
                eprintln!("[{} telemetry] {e}", s.app.name);
            }
        }
    }
}

fn still_enabled(rt: &Runtime) -> bool {
    let s = &rt.settings;
    let Some(path) = s.paths.config_file.as_deref() else {
        return true;
    };
    let now = config::generation(path);
    let mut seen = rt.generation.lock().unwrap_or_else(|e| e.into_inner());
    if *seen == now {
        return true;
    }
    *seen = now;
    // The config changed since start: resolve consent again from the same
    // environment and flags with the new file.
    let fresh = s.reresolve();
    fresh.records()
}
