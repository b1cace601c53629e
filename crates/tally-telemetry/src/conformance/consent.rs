//! Consent cases: the precedence table (env, flag, consent file, policy
//! file, CI, `DO_NOT_TRACK`, default in; the decision and `decided_by`
//! out). Each runs through [`settings::resolve`] over real files in a
//! scratch directory, as a host's start does; `files.rs` parses the
//! consent and policy files through the same [`resolve`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{APP, Case, Scratch};
use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::consent::config::FILE_NAME;
use crate::consent::paths::Paths;
use crate::consent::settings::{self, Flags, Settings};
use crate::os::env::Env;

/// The application of every case, with the default policy it names.
pub(super) fn app(opt_in: bool, version: &str, endpoint: Option<&str>) -> AppInfo {
    AppInfo {
        name: APP.into(),
        version: version.into(),
        env_prefix: "DEMO".into(),
        default_policy: if opt_in {
            DefaultPolicy::OptIn
        } else {
            DefaultPolicy::OptOut
        },
        docs_url: None,
        endpoint: endpoint.map(str::to_owned),
        policy_file: None,
        command: "telemetry".into(),
        rotation: None,
        declared: Default::default(),
    }
}

/// Settings resolved over real files: the system policy file, the consent
/// file and the state directory under `dir`, written from the texts given.
pub(super) fn resolve(
    dir: &Scratch,
    app: AppInfo,
    env: &BTreeMap<String, String>,
    flag: bool,
    policy: Option<&str>,
    config: Option<&str>,
) -> Result<Settings, String> {
    let policy_file = dir.put("policy.toml", policy)?;
    let config_file = dir.put(&format!("config/{FILE_NAME}"), config)?;
    let paths = Paths::explicit(config_file, dir.path("state"), policy_file);
    let env = Env::from_pairs(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(settings::resolve(
        app,
        env,
        Flags { no_telemetry: flag },
        Some(paths),
    ))
}

/// The decision, as `telemetry status --json` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    enabled: bool,
    decided_by: String,
}

fn decision(s: &Settings) -> Decision {
    Decision {
        enabled: s.consent.enabled,
        decided_by: s.consent.decided_by.as_str().to_owned(),
    }
}

/// A precedence case.
#[derive(Serialize, Deserialize)]
pub struct Precedence {
    name: String,
    opt_in: bool,
    env: BTreeMap<String, String>,
    flag: bool,
    policy: Option<String>,
    config: Option<String>,
    want: Decision,
}

impl Case for Precedence {
    type Want = Decision;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &Decision {
        &self.want
    }
}

pub fn run_precedence(c: &Precedence) -> Result<Decision, String> {
    let dir = Scratch::new()?;
    let s = resolve(
        &dir,
        app(c.opt_in, "1.0.0", None),
        &c.env,
        c.flag,
        c.policy.as_deref(),
        c.config.as_deref(),
    )?;
    Ok(decision(&s))
}

pub(super) const YES: &str = "enabled = true\nconsent_version = 2\n";
pub(super) const NO: &str = "enabled = false\nconsent_version = 2\n";

pub fn precedence_cases() -> Vec<Precedence> {
    type Row<'a> = (
        &'a str,
        bool,
        &'a [(&'a str, &'a str)],
        bool,
        Option<&'a str>,
        Option<&'a str>,
    );
    let rows: &[Row<'_>] = &[
        ("opt-out default is on", false, &[], false, None, None),
        ("opt-in default is off", true, &[], false, None, None),
        (
            "CI beats the default",
            false,
            &[("GITHUB_ACTIONS", "true")],
            false,
            None,
            None,
        ),
        (
            "CI=false is not CI",
            false,
            &[("CI", "false")],
            false,
            None,
            None,
        ),
        ("CI=0 is not CI", false, &[("CI", "0")], false, None, None),
        (
            "an empty CI is not CI",
            false,
            &[("CI", "")],
            false,
            None,
            None,
        ),
        (
            "GitLab is CI",
            false,
            &[("GITLAB_CI", "true")],
            false,
            None,
            None,
        ),
        (
            "Jenkins is CI",
            false,
            &[("JENKINS_URL", "http://ci.example/")],
            false,
            None,
            None,
        ),
        (
            "Azure Pipelines is CI",
            false,
            &[("TF_BUILD", "True")],
            false,
            None,
            None,
        ),
        (
            "CONTINUOUS_INTEGRATION is CI",
            false,
            &[("CONTINUOUS_INTEGRATION", "yes")],
            false,
            None,
            None,
        ),
        (
            "stored on beats CI and opt-in",
            true,
            &[("CI", "1")],
            false,
            None,
            Some(YES),
        ),
        ("stored off", false, &[], false, None, Some(NO)),
        (
            "stored off beats opt-out",
            false,
            &[("CI", "true")],
            false,
            None,
            Some(NO),
        ),
        (
            "a broken consent file fails closed",
            false,
            &[],
            false,
            None,
            Some("enabled = maybe\n"),
        ),
        (
            "an unknown key breaks the consent file",
            false,
            &[],
            false,
            None,
            Some("enabled = true\nsurprise = 1\n"),
        ),
        (
            "a consent file without a choice decides nothing",
            false,
            &[],
            false,
            None,
            Some("notice_version = 2\n"),
        ),
        (
            "an empty consent file decides nothing",
            true,
            &[],
            false,
            None,
            Some(""),
        ),
        (
            "env on beats a stored off",
            true,
            &[("DEMO_TELEMETRY", "1"), ("CI", "true")],
            false,
            None,
            Some(NO),
        ),
        (
            "env OFF beats a stored on",
            false,
            &[("DEMO_TELEMETRY", "OFF")],
            false,
            None,
            Some(YES),
        ),
        (
            "env yes beats a broken consent file",
            false,
            &[("DEMO_TELEMETRY", "yes")],
            false,
            None,
            Some("enabled = maybe\n"),
        ),
        (
            "env not understood means off",
            false,
            &[("DEMO_TELEMETRY", "maybe")],
            false,
            None,
            Some(YES),
        ),
        (
            "env disabled is not understood, so off",
            false,
            &[("DEMO_TELEMETRY", "disabled")],
            false,
            None,
            None,
        ),
        (
            "env with spaces around on",
            true,
            &[("DEMO_TELEMETRY", " on ")],
            false,
            None,
            None,
        ),
        (
            "env true in capitals",
            true,
            &[("DEMO_TELEMETRY", "TRUE")],
            false,
            None,
            None,
        ),
        (
            "env 0",
            false,
            &[("DEMO_TELEMETRY", "0")],
            false,
            None,
            None,
        ),
        (
            "env no",
            false,
            &[("DEMO_TELEMETRY", "no")],
            false,
            None,
            None,
        ),
        (
            "an empty env value decides nothing",
            false,
            &[("DEMO_TELEMETRY", "")],
            false,
            None,
            None,
        ),
        (
            "a blank env value decides nothing",
            false,
            &[("DEMO_TELEMETRY", "  ")],
            false,
            None,
            None,
        ),
        (
            "another app's variable decides nothing",
            true,
            &[("OTHER_TELEMETRY", "1")],
            false,
            None,
            None,
        ),
        (
            "the flag beats env on",
            false,
            &[("DEMO_TELEMETRY", "on")],
            true,
            None,
            Some(YES),
        ),
        ("the flag beats the default", false, &[], true, None, None),
        (
            "DO_NOT_TRACK beats env and config",
            false,
            &[("DO_NOT_TRACK", "1"), ("DEMO_TELEMETRY", "1")],
            false,
            None,
            Some(YES),
        ),
        (
            "DO_NOT_TRACK beats the flag",
            false,
            &[("DO_NOT_TRACK", "true")],
            true,
            None,
            None,
        ),
        (
            "DO_NOT_TRACK=yes blocks",
            false,
            &[("DO_NOT_TRACK", "yes")],
            false,
            None,
            None,
        ),
        (
            "DO_NOT_TRACK=0 does not block",
            false,
            &[("DO_NOT_TRACK", "0")],
            false,
            None,
            None,
        ),
        (
            "DO_NOT_TRACK=false does not block",
            false,
            &[("DO_NOT_TRACK", "false")],
            false,
            None,
            None,
        ),
        (
            "DO_NOT_TRACK=FALSE does not block",
            false,
            &[("DO_NOT_TRACK", "FALSE")],
            false,
            None,
            None,
        ),
        (
            "an empty DO_NOT_TRACK does not block",
            false,
            &[("DO_NOT_TRACK", "")],
            false,
            None,
            None,
        ),
        (
            "policy off beats everything",
            false,
            &[("DEMO_TELEMETRY", "1")],
            false,
            Some("telemetry = \"off\"\n"),
            Some(YES),
        ),
        (
            "policy OFF in capitals",
            false,
            &[],
            false,
            Some("telemetry = \"OFF\"\n"),
            None,
        ),
        (
            "policy off beats DO_NOT_TRACK",
            false,
            &[("DO_NOT_TRACK", "1")],
            false,
            Some("telemetry = \"off\"\n"),
            None,
        ),
        (
            "a broken policy fails closed",
            false,
            &[("DEMO_TELEMETRY", "1")],
            false,
            Some("telemetry = \"on\"\n"),
            None,
        ),
        (
            "a policy that is not TOML fails closed",
            false,
            &[],
            false,
            Some("telemetry = off\n"),
            Some(YES),
        ),
        (
            "a policy with an unknown key fails closed",
            false,
            &[],
            false,
            Some("telemetry_enabled = false\n"),
            None,
        ),
        (
            "a policy with a bad rotation fails closed",
            false,
            &[],
            false,
            Some("rotate_machine_id = \"hourly\"\n"),
            None,
        ),
        (
            "a policy with only an endpoint decides nothing",
            false,
            &[],
            false,
            Some("endpoint = \"http://127.0.0.1:9/v1/batch\"\n"),
            None,
        ),
        (
            "a policy with a rotation decides nothing",
            true,
            &[],
            false,
            Some("rotate_machine_id = \"monthly\"\n"),
            Some(YES),
        ),
        (
            "an empty policy decides nothing",
            false,
            &[],
            false,
            Some(""),
            None,
        ),
        (
            "opt-in yes under an older consent version is asked again",
            true,
            &[],
            false,
            None,
            Some("enabled = true\nconsent_version = 1\n"),
        ),
        (
            "opt-in yes without a consent version is asked again",
            true,
            &[],
            false,
            None,
            Some("enabled = true\n"),
        ),
        (
            "opt-out keeps a yes under an older consent version",
            false,
            &[],
            false,
            None,
            Some("enabled = true\nconsent_version = 1\n"),
        ),
        (
            "opt-in no under an older consent version stays no",
            true,
            &[],
            false,
            None,
            Some("enabled = false\nconsent_version = 1\n"),
        ),
    ];
    rows.iter()
        .map(|&(name, opt_in, env, flag, policy, config)| {
            let mut c = Precedence {
                name: name.into(),
                opt_in,
                env: env.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
                flag,
                policy: policy.map(str::to_owned),
                config: config.map(str::to_owned),
                want: Decision {
                    enabled: false,
                    decided_by: String::new(),
                },
            };
            c.want = run_precedence(&c).expect("a scratch directory");
            c
        })
        .collect()
}
