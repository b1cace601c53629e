//! The effective settings of one process: the application's identity, the
//! environment snapshot, the files on disk and the command-line flags,
//! resolved once by [`resolve`] into plain values, each tagged with where it
//! came from so `telemetry status` can explain every one of them.

use std::time::Duration;

use crate::consent::app::AppInfo;
use crate::consent::config::{self, ConfigState};
use crate::consent::migrate::{self, Migration};
use crate::consent::paths::Paths;
use crate::consent::policy::{self, PolicyState};
use crate::consent::precedence::{self as consent, Consent};
use crate::consent::rotation::Rotation;
use crate::os::clock::Clock;
use crate::os::env::{Env, parse_switch};

pub use crate::consent::origin::{Origin, Sourced};

/// Flags from the host's command line that bear on telemetry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// `--no-telemetry` was given.
    pub no_telemetry: bool,
}

/// The default interval between flushes in long-running commands.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Everything one process needs to know, resolved once at start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The application.
    pub app: AppInfo,
    /// The environment snapshot everything was read from.
    pub env: Env,
    /// File locations.
    pub paths: Paths,
    /// The policy in force: the system file, restricted further by an
    /// environment-named one.
    pub policy: PolicyState,
    /// The user's config file as loaded.
    pub config: ConfigState,
    /// Whether telemetry is on, and why.
    pub consent: Consent,
    /// Warnings to show in `telemetry status`.
    pub warnings: Vec<String>,
    /// Where batches go, if anywhere.
    pub endpoint: Option<Sourced<String>>,
    /// `<PREFIX>_TELEMETRY_DEBUG`: print payloads instead of sending.
    pub debug: bool,
    /// The clock (a test may fix it with `<PREFIX>_TELEMETRY_NOW`).
    pub clock: Clock,
    /// The CI variable that was detected, if any.
    pub ci: Option<&'static str>,
    /// An instance id injected by the deployment (`<PREFIX>_TELEMETRY_INSTANCE_ID`),
    /// used instead of the stored machine id.
    pub instance_id: Option<crate::os::uuid::Uuid>,
    /// Interval between flushes in long-running commands.
    pub flush_interval: Sourced<Duration>,
    /// The command-line flags this was resolved with.
    pub flags: Flags,
    /// How often the machine id is replaced, and who chose.
    pub rotation: Sourced<Rotation>,
    /// The user's own OpenTelemetry collector, a destination with its own
    /// switch (see [`crate::consent::otel`]).
    pub otlp: crate::consent::otel::OtlpSettings,
}

/// What `init` has read before resolving (to find a stored `telemetry off`
/// without resolving the rest), so resolving does not read it again: the
/// platform's directories for the application and its consent file there.
pub struct Preloaded {
    /// `directories::ProjectDirs` for the application's name.
    pub dirs: Option<directories::ProjectDirs>,
    /// The consent file in its config directory, as `config::load` read it.
    pub config: ConfigState,
}

/// Resolves the effective settings. `paths` overrides the platform
/// locations (tests, unusual embedders).
pub fn resolve(app: AppInfo, env: Env, flags: Flags, paths: Option<Paths>) -> Settings {
    resolve_from(app, env, flags, paths, None)
}

/// [`resolve`], reusing what `init` read first when it is given (and no
/// `paths` override it).
pub fn resolve_from(
    app: AppInfo,
    env: Env,
    flags: Flags,
    paths: Option<Paths>,
    pre: Option<Preloaded>,
) -> Settings {
    let (paths, preloaded) = match (paths, pre) {
        (Some(p), _) => (p, None),
        (None, Some(pre)) => (Paths::resolve_in(&app, &env, pre.dirs), Some(pre.config)),
        (None, None) => (Paths::resolve(&app, &env), None),
    };
    let extra = paths
        .extra_policy_file
        .as_deref()
        .map(|p| (policy::load(p), p));
    let policy_var = app.var("POLICY_FILE");
    let mut early_warnings = Vec::new();
    if let Some((PolicyState::Absent, p)) = &extra {
        // Set on purpose and silently ignored, a typo once looked like a
        // policy in force.
        early_warnings.push(format!(
            "{policy_var}={} names a file that does not exist, so it adds nothing; create it, or unset {policy_var}",
            p.display()
        ));
    }
    let extra_path = extra.as_ref().map(|(_, p)| p.to_path_buf());
    let (policy, policy_path) =
        policy::combine(policy::load(&paths.policy_file), &paths.policy_file, extra);
    let migrated = match (&paths.legacy_config, &paths.config_file) {
        (Some(legacy), Some(consent)) => migrate::run(legacy, consent),
        _ => Migration::Nothing,
    };
    let config = match migrated {
        // The move failed: the old table's values still decide this run.
        Migration::Failed(old, why) => {
            early_warnings.push(why);
            ConfigState::Loaded(old)
        }
        // The file was read before a move could have written it.
        Migration::Nothing => {
            preloaded.unwrap_or_else(|| config::load(paths.config_file.as_deref()))
        }
        Migration::Moved => config::load(paths.config_file.as_deref()),
    };
    let (consent, mut warnings) = consent::resolve(&consent::Inputs {
        app: &app,
        env: &env,
        no_telemetry_flag: flags.no_telemetry,
        policy: &policy,
        policy_path: &policy_path,
        policy_var: (extra_path.as_deref() == Some(policy_path.as_path()))
            .then_some(policy_var.as_str()),
        config: &config,
        config_path: paths.config_file.as_deref(),
    });
    warnings.extend(early_warnings);
    let dir_var = app.var("TELEMETRY_DIR");
    if let Some(v) = env
        .non_empty(&dir_var)
        .filter(|v| !std::path::Path::new(v).is_absolute())
    {
        warnings.push(format!(
            "{dir_var}={v:?} is not an absolute path, so it is ignored (it would put the state under whichever directory a run starts in); the default state directory is used"
        ));
    }

    let endpoint_var = app.var("TELEMETRY_ENDPOINT");
    let endpoint = match &policy {
        PolicyState::Loaded {
            endpoint: Some(e), ..
        } => Some(Sourced {
            value: e.clone(),
            origin: Origin::Policy(paths.policy_file.clone()),
        }),
        _ => None,
    }
    .or_else(|| {
        env.non_empty(&endpoint_var).map(|e| Sourced {
            value: e.to_owned(),
            origin: Origin::Env(endpoint_var.clone()),
        })
    })
    .or_else(|| {
        let e = config.user()?.endpoint.clone()?;
        Some(Sourced {
            value: e,
            origin: Origin::Config(paths.config_file.clone()?),
        })
    })
    .or_else(|| {
        app.endpoint.clone().map(|e| Sourced {
            value: e,
            origin: Origin::Builder,
        })
    })
    .filter(|e| !e.value.trim().is_empty());
    // An endpoint that cannot be used (not http/https, plain http to another
    // machine) is reported by `telemetry status` and `flush` with one
    // message, from the sender's own check.

    let debug_var = app.var("TELEMETRY_DEBUG");
    let debug = env.get(&debug_var).and_then(parse_switch).unwrap_or(false);
    let clock = Clock::from_override(crate::os::testhook::var(&env, &app.var("TELEMETRY_NOW")));
    let ci = consent::detect_ci(&env);

    let id_var = app.var("TELEMETRY_INSTANCE_ID");
    let instance_id = env
        .non_empty(&id_var)
        .and_then(|v| match crate::os::uuid::Uuid::parse(v) {
            Some(id) => Some(id),
            None => {
                warnings.push(format!(
                    "{id_var} is not a UUID (8-4-4-4-12 hex digits) and is ignored"
                ));
                None
            }
        });

    let interval_var = app.var("TELEMETRY_FLUSH_INTERVAL");
    let flush_interval = match env.non_empty(&interval_var).map(str::parse::<u64>) {
        Some(Ok(s)) if s > 0 => Sourced {
            value: Duration::from_secs(s),
            origin: Origin::Env(interval_var),
        },
        Some(_) => {
            warnings.push(format!(
                "{interval_var} must be a positive number of seconds; ignored"
            ));
            default_interval(&config, &paths)
        }
        None => default_interval(&config, &paths),
    };

    let policy_rotation = match &policy {
        PolicyState::Loaded { rotation, .. } => *rotation,
        _ => None,
    };
    let rotation = match (app.rotation, policy_rotation) {
        (a, Some(p)) if a.is_none_or(|a| p < a) => Sourced {
            value: p,
            origin: Origin::Policy(policy_path.clone()),
        },
        (Some(a), _) => Sourced {
            value: a,
            origin: Origin::Builder,
        },
        _ => Sourced {
            value: Rotation::Never,
            origin: Origin::Default,
        },
    };
    let otlp =
        crate::consent::otel::resolve(&app, &env, &policy, flags.no_telemetry, &mut warnings);

    Settings {
        app,
        env,
        paths,
        policy,
        rotation,
        config,
        consent,
        warnings,
        endpoint,
        debug,
        clock,
        ci,
        instance_id,
        flush_interval,
        flags,
        otlp,
    }
}

fn default_interval(config: &ConfigState, paths: &Paths) -> Sourced<Duration> {
    match (
        config.user().and_then(|c| c.flush_interval_secs),
        &paths.config_file,
    ) {
        (Some(s), Some(p)) if s > 0 => Sourced {
            value: Duration::from_secs(s),
            origin: Origin::Config(p.clone()),
        },
        _ => Sourced {
            value: DEFAULT_FLUSH_INTERVAL,
            origin: Origin::Default,
        },
    }
}

impl Settings {
    /// Whether an `http://` or `https://` endpoint (in any case) is
    /// configured. Whether it may be used is the sender's check
    /// (`deliver::sender::transport_problem`).
    pub fn can_send(&self) -> bool {
        self.endpoint.as_ref().is_some_and(|e| {
            e.value.trim().split_once("://").is_some_and(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
            })
        })
    }

    /// Whether the system policy file allows plain `http://` to another
    /// machine.
    pub fn plain_http_allowed(&self) -> bool {
        matches!(
            self.policy,
            PolicyState::Loaded {
                allow_plain_http: true,
                ..
            }
        )
    }

    /// Resolves again from the same environment, flags and locations (after
    /// the config file changed).
    pub fn reresolve(&self) -> Settings {
        resolve(
            self.app.clone(),
            self.env.clone(),
            self.flags,
            Some(self.paths.clone()),
        )
    }

    /// Whether this process counts anything: product analytics is on, or
    /// the user's own OTLP collector is configured.
    pub fn records(&self) -> bool {
        self.consent.enabled || self.otlp.enabled
    }

    /// Whether the choice is still the application's default (so the
    /// notice applies).
    pub fn undecided(&self) -> bool {
        self.consent.decided_by == consent::Source::Default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::app::DefaultPolicy;

    fn with(app_rotation: Option<Rotation>, policy: &str) -> Sourced<Rotation> {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("policy.toml"), policy).unwrap();
        let app = AppInfo {
            name: "demo".into(),
            version: "1".into(),
            env_prefix: "DEMO".into(),
            default_policy: DefaultPolicy::OptIn,
            docs_url: None,
            endpoint: None,
            policy_file: None,
            rotation: app_rotation,
            command: "telemetry".into(),
            declared: Default::default(),
        };
        let paths = Paths::explicit(
            t.path().join("telemetry.toml"),
            t.path().join("state"),
            t.path().join("policy.toml"),
        );
        resolve(app, Env::default(), Flags::default(), Some(paths)).rotation
    }

    #[test]
    fn the_shorter_of_the_apps_and_the_admins_rotation_applies() {
        let monthly = "rotate_machine_id = \"monthly\"\n";
        let r = with(Some(Rotation::Yearly), monthly);
        assert_eq!(r.value, Rotation::Monthly);
        assert!(matches!(r.origin, Origin::Policy(_)));
        let r = with(Some(Rotation::Daily), monthly);
        assert_eq!((r.value, r.origin), (Rotation::Daily, Origin::Builder));
        let r = with(None, "");
        assert_eq!((r.value, r.origin), (Rotation::Never, Origin::Default));
    }
}
