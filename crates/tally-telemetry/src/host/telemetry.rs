//! The handle a host holds: [`Builder`] resolves everything once at start
//! (and asks the first-run question when it may), [`Telemetry`] answers
//! whether telemetry is on and why, and the process-wide runtime persists
//! counts at exit through an `atexit` hook, so they survive
//! `std::process::exit` anywhere in the host, a return from `main`, and a
//! panic that unwinds out of `main`. What an exit hook cannot save: counts of
//! a process killed by a signal it does not handle (SIGKILL, an unhandled
//! SIGTERM/SIGINT), `abort()` and `panic = "abort"` builds.
//!
//! On Windows `std::process::exit` is `ExitProcess`, which does not run the
//! C runtime's atexit table (a return from `main` does). There the same
//! hook also runs from a fiber-local-storage callback, which `ExitProcess`
//! calls for the exiting thread; the hook runs once, whichever comes
//! first.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::consent::config::{self, ChoiceVia};
use crate::consent::paths::Paths;
use crate::consent::settings::{self, Flags, Settings};
use crate::deliver::helper;
use crate::deliver::sender::Mode;
pub use crate::host::exit::persist;
use crate::os::clock::format_instant;
use crate::os::env::Env;
use crate::record::recorder;
use crate::record::state;

/// Configures telemetry for an application; finish with [`Builder::init`].
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) app: AppInfo,
    pub(super) env: Option<Env>,
    pub(super) flags: Flags,
    pub(super) paths: Option<Paths>,
    pub(super) prompt: bool,
    pub(super) first_run_prompt: bool,
    pub(super) background_send: bool,
    pub(super) report_as: Option<String>,
    /// What builds the host's clap tree (`C::command`), from
    /// [`Builder::cli`]: kept unbuilt, because building the tree costs a
    /// fast command more than everything else tally does in it, and a run
    /// with telemetry off never needs it.
    #[cfg(feature = "clap")]
    pub(crate) tree: Option<fn() -> clap::Command>,
    /// The subcommand name set with [`Builder::command_name`].
    pub(crate) command: Option<String>,
}

impl Builder {
    /// Starts a builder for `name` (lower-case, e.g. `mytool`). The env
    /// prefix defaults to the upper-cased name, the policy to opt-in.
    pub fn new(name: &str) -> Self {
        Builder {
            app: AppInfo::named(name),
            env: None,
            flags: Flags::default(),
            paths: None,
            prompt: true,
            first_run_prompt: false,
            background_send: true,
            report_as: None,
            #[cfg(feature = "clap")]
            tree: None,
            command: None,
        }
    }

    /// The name of the subcommand under which the host placed
    /// [`TelemetryCommand`](crate::TelemetryCommand) (`telemetry` unless
    /// set here or found by [`cli`](Self::cli)). The notice, the prompt
    /// and `status` tell users to run `<name> <this> off`.
    pub fn command_name(mut self, name: &str) -> Self {
        self.command = Some(name.to_owned());
        self
    }

    /// The host's clap CLI, for hosts that parse with `Cli::parse()`.
    /// [`init`](Self::init) then derives this run's subcommand path by
    /// walking the process arguments along the subcommand names of
    /// `C::command()` (only paths of this tree are recorded, an external
    /// subcommand as `external`; the arguments are parsed again by clap only
    /// where the walk cannot be sure), finds the subcommand that holds
    /// [`TelemetryCommand`](crate::TelemetryCommand) under whatever name the
    /// host gave it, and when this run is one of those commands, neither
    /// asks the first-run question nor starts a background send. The tree
    /// is built once, in `init`, and only when this run records or may ask
    /// the first-run question.
    /// Count the run with [`Telemetry::record`].
    #[cfg(feature = "clap")]
    pub fn cli<C: clap::CommandFactory>(mut self) -> Self {
        self.tree = Some(C::command);
        self.app.declared.tree = Some(C::command);
        self
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

    /// The system policy file, instead of the default:
    /// `/etc/<name>/telemetry.toml`, or else `/etc/tally/<name>.toml`
    /// (`%ProgramData%\<name>\telemetry.toml`, or else
    /// `%ProgramData%\tally\<name>.toml`, on Windows).
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

    /// Uses these locations instead of the platform's (unit tests).
    #[cfg(test)]
    pub(crate) fn paths(mut self, paths: Paths) -> Self {
        self.paths = Some(paths);
        self
    }

    /// Whether [`init`](Self::init) may ask the first-run question in this
    /// run, when [`first_run_prompt`](Self::first_run_prompt) asked for it
    /// (hosts turn this off while running their `telemetry …` commands).
    pub fn prompt(mut self, allow: bool) -> Self {
        self.prompt = allow;
        self
    }

    /// Asks the consent question in the first interactive run of an
    /// ordinary command, instead of leaving it to `telemetry prompt` (the
    /// installer's entry point). Off by default: an ordinary command never
    /// blocks on a question, and an opt-out host shows its one-line notice
    /// instead. Turn it on only for a tool whose commands are always run by
    /// a person at a terminal.
    pub fn first_run_prompt(mut self, ask: bool) -> Self {
        self.first_run_prompt = ask;
        self
    }

    /// Replaces the machine id with a fresh random one every `period`
    /// (default: never). Machines stay countable within a period and cannot
    /// be linked across periods; an administrator's policy may choose a
    /// shorter period.
    pub fn rotate_machine_id(mut self, period: crate::Rotation) -> Self {
        self.app.rotation = Some(period);
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
    /// apart in `<state dir>/apps/<name>` and sent
    /// with `name` in the envelope; `telemetry off` of this application
    /// deletes them too.
    pub fn report_as(mut self, name: &str) -> Self {
        self.report_as = Some(name.to_owned());
        self
    }

    /// Resolves settings without side effects: no prompt, no hook, no
    /// thread, no file created (but for the one-time move of consent out of
    /// the host's `config.toml`, see `consent::migrate`). Used by
    /// `telemetry status`.
    pub(crate) fn resolve(&self) -> Settings {
        #[cfg(feature = "clap")]
        let manage = match (&self.command, self.tree) {
            (None, Some(tree)) => crate::host::tree::manage_name(&tree()),
            _ => None,
        };
        #[cfg(not(feature = "clap"))]
        let manage = None;
        self.resolve_with(manage, None)
    }

    /// The application as resolving uses it: the builder's command name
    /// (or `manage`, the one found in the host's tree), normalized; with
    /// one warning per value normalizing changed.
    pub(super) fn normalized(&self, manage: Option<String>) -> (AppInfo, Vec<String>) {
        let mut app = self.app.clone();
        if let Some(c) = self.command.clone().or(manage) {
            app.command = c;
        }
        let warnings = crate::host::identity::normalize(&mut app);
        (app, warnings)
    }

    /// [`resolve`](Self::resolve) with the name of the host's `telemetry`
    /// subcommand as found in its tree (`init` has built the tree already).
    /// `early`: what `init` prepared first (the application normalized
    /// without `manage`, the environment snapshot, the files read; see
    /// `init::Early`), so nothing is done twice.
    pub(super) fn resolve_with(
        &self,
        manage: Option<String>,
        early: Option<crate::host::init::Early>,
    ) -> Settings {
        let (mut app, warnings, env, pre) = match early {
            Some(e) => {
                let mut app = e.app;
                if let Some(m) = manage.filter(|_| self.command.is_none()) {
                    app.command = m;
                }
                (app, e.warnings, e.env, e.pre)
            }
            None => {
                let (app, warnings) = self.normalized(manage);
                let env = self
                    .env
                    .clone()
                    .unwrap_or_else(|| Env::of_app(&app.env_prefix));
                (app, warnings, env, None)
            }
        };
        let with_warnings = |mut s: Settings| {
            s.warnings.splice(0..0, warnings.iter().cloned());
            s
        };
        let Some(name) = &self.report_as else {
            return with_warnings(settings::resolve_from(
                app,
                env,
                self.flags,
                self.paths.clone(),
                pre,
            ));
        };
        // Locations are resolved under the owner's name first, so its config
        // and policy file apply; only the state directory and the name in
        // the envelope change.
        let paths = self
            .paths
            .clone()
            .unwrap_or_else(|| Paths::resolve(&app, &env))
            .for_app(name);
        app.name = name.clone();
        with_warnings(settings::resolve(app, env, self.flags, Some(paths)))
    }
}

/// What [`Builder::init`] resolves, without its side effects; for the
/// property test, which checks every batch it can build.
#[cfg(test)]
pub(crate) fn resolved(b: &Builder) -> Settings {
    b.resolve()
}

/// Stores an explicit choice for the application in `s` (the prompt, `on`,
/// `off`, `config otel set`), stamped with when it was made and the consent
/// version it was made under.
pub fn store_choice(
    s: &Settings,
    enabled: bool,
    via: ChoiceVia,
) -> Result<config::Written, config::ConfigError> {
    config::store_choice(
        s.paths.config_file.as_deref(),
        &s.app.consent_var(),
        enabled,
        via,
        &format_instant(s.clock.now()),
        crate::schema::CONSENT_VERSION,
    )
}

/// After a "no": deletes everything recorded so far on this machine (the
/// spool, claimed batches, the machine id), including what an earlier run
/// kept while the question went unanswered.
pub(crate) fn forget_everything(s: &Settings) {
    recorder::set_enabled(false);
    recorder::drain();
    if let Some(st) = s.paths.state() {
        let _ = state::delete_all(&st);
    }
}

/// A host's handle on telemetry for this process.
#[derive(Clone, Debug)]
pub struct Telemetry {
    pub(super) settings: Resolved,
    /// This run's command path, from the tree given to [`Builder::cli`].
    pub(super) path: Option<String>,
    /// The value of the argument declared for that path
    /// ([`Builder::record_value`]), when it was given one of its set.
    pub(super) value: Option<String>,
}

/// The settings of a handle: resolved at `init`, or, when this run records
/// nothing, on first use (most such runs never use them).
#[derive(Clone, Debug)]
pub(super) enum Resolved {
    Now(Arc<Settings>),
    Later(Arc<(Builder, OnceLock<Settings>)>),
}

impl Resolved {
    fn get(&self) -> &Settings {
        match self {
            Resolved::Now(s) => s,
            Resolved::Later(l) => l.1.get_or_init(|| l.0.resolve()),
        }
    }

    /// Whether this process records anything; known without resolving.
    fn records(&self) -> bool {
        match self {
            Resolved::Now(s) => s.records(),
            Resolved::Later(_) => false,
        }
    }
}

impl Telemetry {
    /// Starts configuring telemetry for the application `name`.
    pub fn builder(name: &str) -> Builder {
        Builder::new(name)
    }

    /// Whether telemetry is on for this process.
    pub fn enabled(&self) -> bool {
        match &self.settings {
            Resolved::Now(s) => s.consent.enabled,
            // Made only for a run that records nothing.
            Resolved::Later(_) => false,
        }
    }

    /// The environment snapshot this handle was resolved from (the
    /// process's, or the one given to [`Builder::env`]).
    pub fn env(&self) -> &Env {
        &self.settings.get().env
    }

    /// The resolved settings (consent and what decided it, paths, endpoint).
    pub(crate) fn settings(&self) -> &Settings {
        self.settings.get()
    }

    /// Counts a command from clap's matches: the subcommand path only,
    /// never an argument value but for the one declared with
    /// [`Builder::record_value`] (the name of one of its closed set of
    /// values); an external subcommand counts as
    /// `external`. `telemetry …` itself is never counted: managing consent
    /// is not usage, and `telemetry status` must not create files while
    /// undecided.
    #[cfg(feature = "clap")]
    pub fn record_matches(&self, matches: &clap::ArgMatches) {
        if recorder::is_enabled() {
            let path = command_path(matches);
            let app = &self.settings().app;
            if !is_manage(&app.command, &path) {
                let recorded = app.declared.recorded_as(&path);
                // The tree is built only for a command with a declared value.
                let value = crate::host::values::declared_for(&app.declared.values, &path)
                    .and_then(|arg| {
                        let tree = app.declared.tree?();
                        crate::host::values::value_in(&tree, &path, arg, matches)
                    });
                match value {
                    Some(v) => recorder::record_command_value(&recorded, &v),
                    None => recorder::record_command(&recorded),
                }
            }
        }
    }

    /// Counts this run as the command path `path` (`"cache clean"`: words
    /// of the host's own commands, never an argument value), under the name
    /// declared with [`Builder::rename_command`], for a host whose commands
    /// are not a clap tree (the Node.js and Python packages use it). The
    /// host's `telemetry …` commands are not counted. Does nothing when
    /// telemetry is off.
    pub fn record_path(&self, path: &str) {
        if recorder::is_enabled() {
            let app = &self.settings().app;
            if !is_manage(&app.command, path) {
                recorder::record_command(&app.declared.recorded_as(path));
            }
        }
    }

    /// Says how the command this run counted ([`Telemetry::record`] or
    /// [`Telemetry::record_matches`]) ended, from the exit code the host is
    /// about to return, and gives the code back unchanged, so `main` can end
    /// with `ExitCode::from(t.finish(code))` (a `u8`) or
    /// `std::process::exit(t.finish(code))` (an `i32`). 0 is a success, 2 a
    /// usage error, 129/130/143 an interruption, anything else a failure,
    /// but for the codes declared with [`Builder::outcome_for_exit`];
    /// [`finish_command`](crate::finish_command) says it directly. The run's
    /// duration is counted in coarse buckets.
    pub fn finish<C: Copy + Into<i32>>(&self, exit_code: C) -> C {
        // A run that records nothing never resolves its settings for this.
        if recorder::is_enabled() {
            let outcome = self.settings().app.declared.outcome(exit_code.into());
            recorder::finish_command(outcome);
        }
        exit_code
    }

    /// Counts this run's subcommand path, as derived from the tree given to
    /// [`Builder::cli`]: only paths of the host's CLI, never an argument
    /// value (but the one declared with [`Builder::record_value`]), never the host's `telemetry …` commands. Does nothing without
    /// [`Builder::cli`], or when telemetry is off.
    pub fn record(&self) {
        if let Some(p) = self.path.as_deref().filter(|_| recorder::is_enabled()) {
            match &self.value {
                Some(v) => recorder::record_command_value(p, v),
                None => recorder::record_command(p),
            }
        }
    }

    /// Runs one of the host's `telemetry …` commands: results on stdout,
    /// errors on stderr as `<name>: <what happened>`. Returns the exit code,
    /// 0 on success, 1 when a file could not be changed or written, 2 for a
    /// usage error, 3 or 4 when `prompt` could not ask or got no answer; `ExitCode::from(code)` or `i32::from(code)` in the host.
    pub fn run_command(&self, command: &crate::TelemetryCommand) -> u8 {
        let mut out = std::io::stdout().lock();
        self.run_command_to(command, &mut out, &mut std::io::stderr())
    }

    /// [`run_command`](Self::run_command) with the result written to `out`
    /// and the error to `err` instead of the process's stdout and stderr:
    /// for a host (or a Node.js or Python package) that owns its streams.
    /// The same implementation, text and exit codes.
    pub fn run_command_to(
        &self,
        command: &crate::TelemetryCommand,
        out: &mut dyn std::io::Write,
        err: &mut dyn std::io::Write,
    ) -> u8 {
        let result = command.run(self, out);
        let flushed = out.flush();
        match (result, flushed) {
            (Ok(()), Ok(())) => 0,
            // `status | head`: the reader went away, which is not a failure.
            (Ok(()), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            (Ok(()), Err(_)) => {
                let _ = writeln!(err, "{}: writing output failed", self.settings().app.name);
                1
            }
            (Err(e), _) => {
                if !e.is_silent() {
                    let _ = writeln!(err, "{}: {e}", self.settings().app.name);
                }
                e.exit_code()
            }
        }
    }

    /// Persists what was recorded so far and sends what is due, in the
    /// foreground, within the sender's timeouts. For shutdown of long-running
    /// commands.
    pub fn shutdown(&self) {
        persist();
        if !self.settings.records() {
            return;
        }
        if let Some(fresh) = still_on(self.settings()) {
            crate::deliver::deliver_due(&fresh, Mode::Background, None);
        }
    }

    /// Starts a thread that persists counts every flush interval (and at
    /// each UTC midnight, so counts land on the right day) and then starts
    /// a delivery helper if something is due. For long-running commands
    /// such as a proxy or a server.
    pub fn start_interval_flush(&self) {
        let Resolved::Now(s) = &self.settings else {
            return;
        };
        if !s.records() {
            return;
        }
        let s = Arc::clone(s);
        let _ = std::thread::Builder::new()
            .name("tally-flush".into())
            .spawn(move || {
                loop {
                    let now = s.clock.now();
                    let midnight = (now.date() + 1).midnight_unix();
                    let to_midnight = (midnight - now.unix()).max(1) as u64;
                    let wait = s.flush_interval.value.min(Duration::from_secs(to_midnight));
                    std::thread::sleep(wait);
                    // A panic here must neither print on the host's stderr
                    // nor end the thread that keeps the counts flowing. A
                    // `telemetry off` since start ends this thread before it
                    // creates a lock file or opens a socket.
                    let stop = crate::deliver::guard::catching(|| {
                        persist();
                        match still_on(&s) {
                            Some(fresh) => {
                                helper::start(&fresh, false);
                                false
                            }
                            None => {
                                recorder::set_enabled(false);
                                recorder::drain();
                                true
                            }
                        }
                    });
                    if stop == Ok(true) {
                        return;
                    }
                }
            });
    }
}

#[cfg(feature = "clap")]
pub use crate::host::tree::command_path;

/// Whether `path` is the host's `telemetry …` subcommand (named `manage`).
pub(super) fn is_manage(manage: &str, path: &str) -> bool {
    path == manage
        || path
            .strip_prefix(manage)
            .is_some_and(|r| r.starts_with(' '))
}

/// The settings resolved again from the files as they are now, when
/// telemetry is still on; `None` when a `telemetry off` (or a new policy)
/// made elsewhere turned it off since this process started.
fn still_on(s: &Settings) -> Option<Settings> {
    if !s.records() {
        return None;
    }
    let fresh = s.reresolve();
    fresh.records().then_some(fresh)
}
