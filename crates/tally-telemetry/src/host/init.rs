//! [`Builder::init`]: the one call a host makes at start. It resolves
//! consent (or, when a switch no file can overrule turns telemetry off,
//! nothing at all), asks the first-run question when it is due, finds this
//! run's command path, and when telemetry is on turns recording on and
//! registers the exit hook. Apart from the builder's other methods because
//! this is the path every run of a host takes, and what it costs a fast
//! command is measured (`scripts/callgrind.sh`).

use std::sync::{Arc, OnceLock};

use crate::consent::app::AppInfo;
use crate::consent::config::ChoiceVia;
use crate::consent::prompt;
use crate::host::exit::activate;
use crate::host::telemetry::{
    Builder, Resolved, Telemetry, forget_everything, is_manage, store_choice,
};
use crate::os::env::Env;

/// What [`Builder::early`] found.
// Made once per process and consumed at once: a box would be one more
// allocation on the path whose cost is measured.
#[allow(clippy::large_enum_variant)]
enum Stored {
    /// Off for this run: a switch, or the user's stored choice.
    Off,
    /// Anything else: resolve, with what was prepared.
    Other(Early),
}

/// What [`Builder::early`] prepared on the way, handed on so that
/// resolving does not do it again (`Builder::resolve_with`).
pub(super) struct Early {
    /// The application as the host described it, normalized, with the
    /// builder's own command name.
    pub(super) app: AppInfo,
    /// What normalizing changed, one warning each.
    pub(super) warnings: Vec<String>,
    /// The environment snapshot for the application's prefix.
    pub(super) env: Env,
    /// The platform's directories and the consent file, when read.
    pub(super) pre: Option<crate::consent::settings::Preloaded>,
}

impl Builder {
    /// Resolves consent, asks the first-run question if it is due, and when
    /// telemetry is on, turns recording on and registers the exit hook,
    /// which persists the counts and starts a delivery helper if a completed
    /// day is waiting. Never fails and never writes to stdout.
    ///
    /// Call it early in `main`: a process started to deliver runs tally's
    /// code before `main` and exits, and should that hook be unavailable on
    /// a platform, `init` is where such a process stops.
    pub fn init(self) -> Telemetry {
        let Stored::Other(early) = self.early() else {
            // Nothing of this run can be recorded or sent: a switch no file
            // can overrule, or the user's stored off that nothing set for
            // this run overrules. The settings (files, paths, the clap tree)
            // are resolved only if the host asks for them (`telemetry
            // status`).
            return Telemetry {
                settings: Resolved::Later(Arc::new((self, OnceLock::new()))),
                path: None,
                value: None,
            };
        };
        let mut s = self.resolve_with(None, Some(early));
        // Normally the helper never gets here (it runs before `main`).
        crate::deliver::helper_run::run_if_helper(&s.env);
        if s.debug {
            // What `status` warns about (a policy file that does not exist,
            // a value that was ignored) is what debug mode is asked for.
            for w in &s.warnings {
                eprintln!("[{} telemetry debug] warning: {w}", s.app.name);
            }
        }
        let may_ask = self.prompt && self.first_run_prompt && prompt::due(&s);
        if !s.records() && !may_ask {
            // Off (the stored choice, an opt-in tool still undecided, CI):
            // nothing needs the clap tree, and the settings are resolved
            // again, tree and all, only if the host asks for them.
            return Telemetry {
                settings: Resolved::Later(Arc::new((self, OnceLock::new()))),
                path: None,
                value: None,
            };
        }
        #[cfg(feature = "clap")]
        let parsed = self
            .tree
            .and_then(|_| crate::host::telemetry_clap::take_parsed())
            // A declared value is read from the tree (see `host::values`).
            .filter(|(p, _)| {
                crate::host::values::declared_for(&self.app.declared.values, p).is_none()
            });
        #[cfg(feature = "clap")]
        let (path, manage, value) = match (self.tree, parsed) {
            // The host's own parse noted the path and the name of its
            // `telemetry` command (`host::telemetry_clap`): no tree to
            // build.
            (Some(_), Some((path, noted))) => {
                let manage = noted.filter(|_| self.command.is_none());
                (Some(path), manage, None)
            }
            (Some(tree), None) => {
                let tree = tree();
                let manage = match self.command {
                    None => crate::host::tree::manage_name(&tree),
                    Some(_) => None,
                };
                let path = crate::host::tree::path_of(&tree, std::env::args_os());
                // Only a run of a command the host declared a value for
                // parses its arguments again (see `host::values`).
                let value = path.as_deref().and_then(|p| {
                    let arg = crate::host::values::declared_for(&self.app.declared.values, p)?;
                    crate::host::values::value_of_args(&tree, p, arg, std::env::args_os())
                });
                // Freeing this copy of the tree would cost a fast command
                // about as much as walking it did; it is a few kilobytes,
                // once per process.
                std::mem::forget(tree);
                (path, manage, value)
            }
            (None, _) => (None, None, None),
        };
        #[cfg(not(feature = "clap"))]
        let (path, manage, value): (Option<String>, Option<String>, Option<String>) =
            (None, None, None);
        // Resolving did not know the host's name for `telemetry` yet. Of what
        // it resolved, only texts use that name, and none of those when
        // telemetry is on; off (here only when the question may be asked),
        // the reason may name it, so that is resolved again.
        if let Some(name) = manage.as_ref().filter(|n| **n != s.app.command) {
            if s.records() {
                s.app.command = name.clone();
            } else {
                s = self.resolve_with(manage.clone(), None);
            }
        }
        let managing = path
            .as_deref()
            .is_some_and(|p| is_manage(&s.app.command, p));
        let ask = self.prompt && !managing && self.first_run_prompt;
        if let Some(answer) = ask
            .then(|| crate::consent::prompt::due(&s))
            .filter(|due| *due)
            .and_then(|_| crate::consent::prompt::ask(&s))
        {
            let _ = store_choice(&s, answer, ChoiceVia::Prompt);
            if !answer {
                forget_everything(&s);
            }
            s = self.resolve_with(manage, None);
        }
        let s = Arc::new(s);
        if s.records() {
            // With background sends allowed, the exit hook starts a delivery
            // helper when a completed day is waiting (see `deliver::helper`):
            // even a 2 ms command delivers, and none waits on the network.
            activate(&s, self.background_send && !managing);
        }
        let path = path
            .filter(|_| !managing)
            .map(|p| s.app.declared.recorded_as(&p));
        Telemetry {
            settings: Resolved::Now(s),
            value: value.filter(|_| path.is_some()),
            path,
        }
    }

    /// What decides this run before anything is resolved, cheapest first,
    /// so an off run copies no environment and reads at most one file.
    ///
    /// 1. A switch no file can overrule: `--no-telemetry`, `DO_NOT_TRACK`,
    ///    or the consent variable set to anything but on while no OTLP
    ///    collector is configured (the one destination that variable does
    ///    not switch). The precedence table and the OTLP rules decide the
    ///    same (`consent::precedence`, `consent::otel`). A delivery helper
    ///    never stops here: it is started only by a process that records,
    ///    with that process's environment snapshot and flags, under which
    ///    this answers no.
    /// 2. The user's stored `telemetry off`, read by the same code
    ///    `resolve` uses (`config::load`, links and owners checked), when
    ///    nothing that can outrank it or send anyway is set: the consent
    ///    variable (`=1` turns a stored off back on for one run), an OTLP
    ///    collector (the user's own destination, with its own switch),
    ///    debug mode (which prints what resolving warns about), a delivery
    ///    helper's marker (a helper must reach `run_if_helper`, never the
    ///    host's `main`), or paths and names the host set itself. The
    ///    policy file and CI only ever turn telemetry off, and a stored
    ///    choice is never asked again, so the answer is the one `resolve`
    ///    gives (tests/cli `consent`: a run records exactly when `telemetry
    ///    status` says so). A stored off was the costliest off run, 73,000
    ///    instructions more than `DO_NOT_TRACK` (docs/PERFORMANCE.md).
    ///
    /// Anything else hands what was read on to `resolve`, so a run that
    /// records reads nothing twice.
    fn early(&self) -> Stored {
        use crate::consent::config::{self, ConfigState, UserConfig};
        use crate::consent::settings::Preloaded;
        use crate::os::env::parse_switch;
        if self.flags.no_telemetry
            || self
                .var("DO_NOT_TRACK")
                .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
        {
            return Stored::Off;
        }
        let (app, warnings) = self.normalized(None);
        let consent = self.var(&app.consent_var());
        let otlp = self.otlp_configured();
        if consent
            .as_deref()
            .is_some_and(|v| parse_switch(v) != Some(true))
            && !otlp
        {
            return Stored::Off;
        }
        let outranked = consent.is_some()
            || otlp
            || self.paths.is_some()
            || self.report_as.is_some()
            || self.var(&app.var("TELEMETRY_DEBUG")).is_some()
            || self.helper_marker();
        let dirs = (!outranked)
            .then(|| directories::ProjectDirs::from("", "", &app.name))
            .flatten();
        let pre = match dirs
            .as_ref()
            .map(crate::consent::paths::Paths::consent_file)
        {
            None => None,
            Some(file) => match config::load(Some(&file)) {
                ConfigState::Loaded(UserConfig {
                    enabled: Some(false),
                    ..
                }) => return Stored::Off,
                config => Some(Preloaded { dirs, config }),
            },
        };
        // Resolving reads these variables and more from one snapshot,
        // taken only now: a stored off needs none of it.
        let env = self
            .env
            .clone()
            .unwrap_or_else(|| Env::of_app(&app.env_prefix));
        Stored::Other(Early {
            app,
            warnings,
            env,
            pre,
        })
    }

    /// Whether this process carries a delivery helper's marker (set at all,
    /// as `run_if_helper` reads it).
    fn helper_marker(&self) -> bool {
        use crate::deliver::helper::MARKER;
        match &self.env {
            Some(env) => env.get(MARKER).is_some(),
            None => std::env::var_os(MARKER).is_some(),
        }
    }

    /// Whether an OTLP collector is configured (a build without the `otlp`
    /// feature has none).
    fn otlp_configured(&self) -> bool {
        use crate::consent::otel;
        otel::BUILT
            && (self.var(otel::METRICS_ENDPOINT_VAR).is_some()
                || self.var(otel::ENDPOINT_VAR).is_some())
    }

    /// A variable as `resolve` will see it (trimmed, empty as unset), from
    /// the builder's environment snapshot or the process's, without copying
    /// the whole environment.
    fn var(&self, key: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.non_empty(key).map(str::to_owned),
            None => std::env::var(key)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned()),
        }
    }
}
