//! Consent resolution: the precedence table from docs/DESIGN.md as one pure
//! function. First match wins, and the answer always carries what decided it,
//! both as a stable machine-readable word and as a sentence for humans.

use std::fmt;
use std::path::Path;

use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::consent::config::ConfigState;
use crate::consent::policy::PolicyState;
use crate::os::env::{Env, parse_switch};
use crate::schema::CONSENT_VERSION;

/// What decided consent, in precedence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Source {
    /// The system policy file.
    Policy,
    /// `DO_NOT_TRACK`.
    DoNotTrack,
    /// `--no-telemetry` on this run.
    Flag,
    /// `<PREFIX>_TELEMETRY`.
    Env,
    /// The stored choice in the user's config file.
    Config,
    /// A CI environment was detected.
    Ci,
    /// The application's default policy.
    Default,
}

impl Source {
    /// The stable word used in `telemetry status --json` (`decided_by`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Policy => "policy",
            Source::DoNotTrack => "do_not_track",
            Source::Flag => "flag",
            Source::Env => "env",
            Source::Config => "config",
            Source::Ci => "ci",
            Source::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of consent resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// Whether telemetry is on for this process.
    pub enabled: bool,
    /// Which rule decided.
    pub decided_by: Source,
    /// A sentence saying why ("disabled by DO_NOT_TRACK=1").
    pub reason: String,
}

/// Everything consent depends on.
pub struct Inputs<'a> {
    /// The application.
    pub app: &'a AppInfo,
    /// The environment snapshot.
    pub env: &'a Env,
    /// `--no-telemetry` was given.
    pub no_telemetry_flag: bool,
    /// The system policy file.
    pub policy: &'a PolicyState,
    /// Its path, for messages.
    pub policy_path: &'a Path,
    /// The variable that named the deciding policy file, when it was not
    /// the system one (`<PREFIX>_POLICY_FILE`): the user set it, so the
    /// messages do not send them to an administrator.
    pub policy_var: Option<&'a str>,
    /// The user's config file.
    pub config: &'a ConfigState,
    /// Its path, for messages.
    pub config_path: Option<&'a Path>,
}

/// Resolves consent; the second value lists warnings for `telemetry status`
/// (an unrecognised env value, for example), which never change the answer.
pub fn resolve(i: &Inputs<'_>) -> (Consent, Vec<String>) {
    let mut warnings = Vec::new();
    let on = |decided_by, reason: String| Consent {
        enabled: true,
        decided_by,
        reason,
    };
    let off = |decided_by, reason: String| Consent {
        enabled: false,
        decided_by,
        reason,
    };
    // The texts below are built only for the branch that needs them: a run
    // that records resolves consent every time, and formats cost it.
    let policy_file = || match i.policy_var {
        Some(var) => format!(
            "the policy file {} (named by {var})",
            i.policy_path.display()
        ),
        None => format!("the system policy file {}", i.policy_path.display()),
    };
    let fix_policy = || match i.policy_var {
        Some(var) => format!("fix it, or unset {var}"),
        None => "ask your administrator to fix it".to_owned(),
    };
    let consent_var = i.app.consent_var();
    // An unrecognised value is read as off: someone who set the variable at
    // all meant something, and `disabled` must never keep an opt-out tool on.
    let env_choice = i.env.non_empty(&consent_var).map(|v| match parse_switch(v) {
        Some(p) => (p, v.to_owned(), ""),
        None => {
            warnings.push(format!(
                "{consent_var}={v:?} is not understood, so telemetry is off; use 1/true/on/yes or 0/false/off/no"
            ));
            (false, v.to_owned(), " (not understood, so off)")
        }
    });
    let config_path = || {
        i.config_path
            .map_or_else(|| "the config file".to_owned(), |p| p.display().to_string())
    };

    let consent = match i.policy {
        PolicyState::Loaded { force_off: true, .. } => {
            Some(off(Source::Policy, format!("disabled by {}", policy_file())))
        }
        PolicyState::Broken(why) => Some(off(
            Source::Policy,
            format!("disabled: {} {why}; {}", policy_file(), fix_policy()),
        )),
        _ => None,
    }
    .or_else(|| {
        let v = do_not_track(i.env)?;
        Some(off(Source::DoNotTrack, format!("disabled by DO_NOT_TRACK={v}")))
    })
    .or_else(|| {
        i.no_telemetry_flag
            .then(|| off(Source::Flag, "disabled by --no-telemetry on this run".into()))
    })
    .or_else(|| {
        let (enabled, raw, note) = env_choice?;
        let word = if enabled { "enabled" } else { "disabled" };
        Some(Consent {
            enabled,
            decided_by: Source::Env,
            reason: format!("{word} by {consent_var}={raw}{note}"),
        })
    })
    .or_else(|| match i.config {
        ConfigState::Broken(why) => Some(off(
            Source::Config,
            format!(
                "disabled: the config file {} {why}. Fix it, or delete it and choose again with `telemetry on` or `telemetry off`",
                config_path()
            ),
        )),
        // A "yes" to an opt-in tool given before what is collected changed
        // (a higher consent version) no longer counts: asked again first.
        ConfigState::Loaded(c)
            if i.app.default_policy == DefaultPolicy::OptIn
                && c.enabled == Some(true)
                && c.consent_version.unwrap_or(1) < CONSENT_VERSION =>
        {
            Some(off(
                Source::Default,
                format!(
                    "disabled: you turned telemetry on under consent version {}, and what is collected changed since (version {CONSENT_VERSION}); run `{} prompt` or `{} on` to agree again",
                    c.consent_version.unwrap_or(1),
                    i.app.manage(),
                    i.app.manage()
                ),
            ))
        }
        ConfigState::Loaded(c) => c.enabled.map(|enabled| {
            // Pieced together rather than formatted: every run that records
            // with a stored choice takes this branch, and three `format!`s
            // and a path's `Display` cost it about 2,500 instructions.
            let mut reason = String::with_capacity(160);
            reason.push_str(if enabled { "enabled" } else { "disabled" });
            reason.push_str(" by your choice stored in ");
            match i.config_path {
                Some(p) => reason.push_str(&p.to_string_lossy()),
                None => reason.push_str("the config file"),
            }
            if let Some(via) = c.decided_via.as_deref() {
                reason.push_str(" (via ");
                reason.push_str(via);
                if let Some(at) = c.decided_at.as_deref() {
                    reason.push_str(", ");
                    reason.push_str(at);
                }
                reason.push(')');
            }
            Consent {
                enabled,
                decided_by: Source::Config,
                reason,
            }
        }),
        _ => None,
    })
    .or_else(|| {
        let var = detect_ci(i.env)?;
        Some(off(Source::Ci, format!("disabled in CI ({var} is set): no prompt, no notice")))
    })
    .unwrap_or_else(|| match i.app.default_policy {
        DefaultPolicy::OptOut => on(Source::Default, "enabled by default: no choice stored yet".into()),
        DefaultPolicy::OptIn => off(
            Source::Default,
            "disabled by default: no choice stored yet (this tool is opt-in)".into(),
        ),
    });
    (consent, warnings)
}

/// `DO_NOT_TRACK`'s value when it asks for no tracking: set to anything but
/// empty, `0` or `false`.
pub fn do_not_track(env: &Env) -> Option<&str> {
    let v = env.non_empty("DO_NOT_TRACK")?;
    (v != "0" && !v.eq_ignore_ascii_case("false")).then_some(v)
}

/// Variables that mark a CI environment. `CI` itself counts unless it is
/// `0` or `false`; the others count when set to anything non-empty.
pub(crate) const CI_VARS: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "TF_BUILD",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
    "DRONE",
    "APPVEYOR",
    "SEMAPHORE",
    "BUILDKITE_BUILD_ID",
    "HUDSON_URL",
    "WOODPECKER",
    "CONTINUOUS_INTEGRATION",
];

/// The first CI variable found, if any.
pub fn detect_ci(env: &Env) -> Option<&'static str> {
    CI_VARS
        .iter()
        .copied()
        .find(|var| match env.non_empty(var) {
            Some(v) => !(v == "0" || v.eq_ignore_ascii_case("false")),
            None => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::config::UserConfig;
    use std::path::PathBuf;

    fn app(policy: DefaultPolicy) -> AppInfo {
        AppInfo {
            version: "1.0.0".into(),
            default_policy: policy,
            ..AppInfo::named("demo")
        }
    }

    struct Case {
        policy: PolicyState,
        dnt: Option<&'static str>,
        flag: bool,
        env: Option<&'static str>,
        config: ConfigState,
        ci: bool,
        default: DefaultPolicy,
        want: (bool, Source),
    }

    /// A choice stored under the current consent version.
    fn stored(enabled: bool) -> ConfigState {
        ConfigState::Loaded(UserConfig {
            enabled: Some(enabled),
            consent_version: Some(CONSENT_VERSION),
            ..UserConfig::default()
        })
    }

    fn run(c: &Case) -> Consent {
        let mut pairs = vec![];
        if let Some(v) = c.dnt {
            pairs.push(("DO_NOT_TRACK", v));
        }
        if let Some(v) = c.env {
            pairs.push(("DEMO_TELEMETRY", v));
        }
        if c.ci {
            pairs.push(("GITHUB_ACTIONS", "true"));
        }
        let env = Env::from_pairs(pairs);
        let a = app(c.default);
        let path = PathBuf::from("/etc/tally/demo.toml");
        resolve(&Inputs {
            app: &a,
            env: &env,
            no_telemetry_flag: c.flag,
            policy: &c.policy,
            policy_path: &path,
            policy_var: None,
            config: &c.config,
            config_path: None,
        })
        .0
    }

    #[test]
    fn a_stored_choice_reads_as_where_and_how_it_was_made() {
        let a = app(DefaultPolicy::OptOut);
        let env = Env::from_pairs(Vec::<(String, String)>::new());
        let policy_path = PathBuf::from("/etc/tally/demo.toml");
        let file = PathBuf::from("/home/u/.config/demo/telemetry.toml");
        let choice = |enabled, via: Option<&str>, at: Option<&str>| {
            ConfigState::Loaded(UserConfig {
                enabled: Some(enabled),
                decided_via: via.map(str::to_owned),
                decided_at: at.map(str::to_owned),
                consent_version: Some(CONSENT_VERSION),
                ..UserConfig::default()
            })
        };
        let reason = |config: &ConfigState, path: Option<&Path>| {
            resolve(&Inputs {
                app: &a,
                env: &env,
                no_telemetry_flag: false,
                policy: &PolicyState::Absent,
                policy_path: &policy_path,
                policy_var: None,
                config,
                config_path: path,
            })
            .0
            .reason
        };
        let at = Some("2026-12-07T21:13:26Z");
        assert_eq!(
            reason(&choice(true, Some("command"), at), Some(&file)),
            "enabled by your choice stored in /home/u/.config/demo/telemetry.toml (via command, 2026-12-07T21:13:26Z)"
        );
        assert_eq!(
            reason(&choice(false, Some("prompt"), None), Some(&file)),
            "disabled by your choice stored in /home/u/.config/demo/telemetry.toml (via prompt)"
        );
        assert_eq!(
            reason(&choice(true, None, at), None),
            "enabled by your choice stored in the config file"
        );
    }

    /// Every row of the precedence table, and each row against every
    /// lower-ranked source that would say the opposite.
    #[test]
    fn precedence_table() {
        use DefaultPolicy::*;
        use Source::*;
        let off_policy = PolicyState::Loaded {
            force_off: true,
            endpoint: None,
            rotation: None,
            allow_plain_http: false,
        };
        let base = || Case {
            policy: PolicyState::Absent,
            dnt: None,
            flag: false,
            env: None,
            config: ConfigState::Absent,
            ci: false,
            default: OptOut,
            want: (true, Default),
        };
        let cases = vec![
            // rank 7: defaults
            Case { ..base() },
            Case {
                default: OptIn,
                want: (false, Default),
                ..base()
            },
            // rank 6: CI beats the default
            Case {
                ci: true,
                want: (false, Ci),
                ..base()
            },
            // rank 5: stored choice beats CI and the default
            Case {
                config: stored(true),
                ci: true,
                default: OptIn,
                want: (true, Config),
                ..base()
            },
            Case {
                config: stored(false),
                want: (false, Config),
                ..base()
            },
            Case {
                config: ConfigState::Broken("x".into()),
                want: (false, Config),
                ..base()
            },
            // rank 4: env beats the stored choice
            Case {
                env: Some("1"),
                config: stored(false),
                ci: true,
                default: OptIn,
                want: (true, Env),
                ..base()
            },
            Case {
                env: Some("OFF"),
                config: stored(true),
                want: (false, Env),
                ..base()
            },
            Case {
                env: Some("yes"),
                config: ConfigState::Broken("x".into()),
                want: (true, Env),
                ..base()
            },
            // an unknown env value means off, even over a stored "on"
            // (`HOST_TELEMETRY=disabled` once kept an opt-out host on)
            Case {
                env: Some("maybe"),
                config: stored(true),
                want: (false, Env),
                ..base()
            },
            Case {
                env: Some("disabled"),
                want: (false, Env),
                ..base()
            },
            // an empty one decides nothing
            Case {
                env: Some(""),
                want: (true, Default),
                ..base()
            },
            // rank 3: the flag beats env on
            Case {
                flag: true,
                env: Some("on"),
                config: stored(true),
                want: (false, Flag),
                ..base()
            },
            // rank 2: DO_NOT_TRACK beats everything below
            Case {
                dnt: Some("1"),
                env: Some("1"),
                config: stored(true),
                want: (false, DoNotTrack),
                ..base()
            },
            Case {
                dnt: Some("yes please"),
                want: (false, DoNotTrack),
                ..base()
            },
            Case {
                dnt: Some("0"),
                want: (true, Default),
                ..base()
            },
            Case {
                dnt: Some("false"),
                want: (true, Default),
                ..base()
            },
            Case {
                dnt: Some(""),
                want: (true, Default),
                ..base()
            },
            // rank 1: the policy file beats everything
            Case {
                policy: off_policy.clone(),
                env: Some("1"),
                config: stored(true),
                want: (false, Policy),
                ..base()
            },
            Case {
                policy: PolicyState::Broken("x".into()),
                env: Some("1"),
                want: (false, Policy),
                ..base()
            },
            // a policy that only sets an endpoint decides nothing
            Case {
                policy: PolicyState::Loaded {
                    force_off: false,
                    endpoint: Some("http://e".into()),
                    rotation: None,
                    allow_plain_http: false,
                },
                want: (true, Default),
                ..base()
            },
        ];
        for (n, c) in cases.iter().enumerate() {
            let got = run(c);
            assert_eq!(
                (got.enabled, got.decided_by),
                c.want,
                "case {n}: {}",
                got.reason
            );
        }
    }

    /// A rise of the consent version stopped at the notice: an explicit
    /// "yes" to an opt-in tool kept counting new kinds of data.
    #[test]
    fn an_opt_in_yes_under_an_older_consent_version_is_asked_again() {
        let stale = ConfigState::Loaded(UserConfig {
            enabled: Some(true),
            consent_version: Some(CONSENT_VERSION - 1),
            ..UserConfig::default()
        });
        let mut c = Case {
            policy: PolicyState::Absent,
            dnt: None,
            flag: false,
            env: None,
            config: stale,
            ci: false,
            default: DefaultPolicy::OptIn,
            want: (false, Source::Default),
        };
        let got = run(&c);
        assert_eq!((got.enabled, got.decided_by), c.want, "{}", got.reason);
        assert!(got.reason.contains("agree again"), "{}", got.reason);
        // An opt-out tool keeps the yes (the notice tells what changed).
        c.default = DefaultPolicy::OptOut;
        assert_eq!(run(&c).decided_by, Source::Config);
        // The current version's yes counts.
        c.default = DefaultPolicy::OptIn;
        c.config = stored(true);
        assert!(run(&c).enabled);
    }

    #[test]
    fn reasons_name_the_source() {
        let c = run(&Case {
            policy: PolicyState::Absent,
            dnt: Some("1"),
            flag: false,
            env: None,
            config: ConfigState::Absent,
            ci: false,
            default: DefaultPolicy::OptOut,
            want: (false, Source::DoNotTrack),
        });
        assert_eq!(c.reason, "disabled by DO_NOT_TRACK=1");
    }

    #[test]
    fn ci_detection() {
        assert_eq!(detect_ci(&Env::from_pairs([("CI", "true")])), Some("CI"));
        assert_eq!(detect_ci(&Env::from_pairs([("CI", "false")])), None);
        assert_eq!(
            detect_ci(&Env::from_pairs([("JENKINS_URL", "http://j")])),
            Some("JENKINS_URL")
        );
        assert_eq!(detect_ci(&Env::default()), None);
    }
}
