//! Consent cases: the precedence table (env, flag, consent file, policy
//! file, CI, `DO_NOT_TRACK`, default in; the decision and `decided_by`
//! out) and the parsing of the consent and policy files, valid and
//! invalid. Each runs through [`settings::resolve`] over real files in a
//! scratch directory, as a host's start does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{APP, Case, Scratch};
use crate::consent::app::{AppInfo, DefaultPolicy};
use crate::consent::config::{ConfigState, FILE_NAME};
use crate::consent::paths::Paths;
use crate::consent::policy::PolicyState;
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

const YES: &str = "enabled = true\nconsent_version = 2\n";
const NO: &str = "enabled = false\nconsent_version = 2\n";

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

/// What a consent file says, when it parses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decided_via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consent_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notice_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flush_interval_secs: Option<u64>,
}

/// A file's parse and the decision it gives an opt-out app with nothing
/// else set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed<V> {
    valid: bool,
    values: Option<V>,
    enabled: bool,
    decided_by: String,
    endpoint: Option<String>,
}

/// A consent file case.
#[derive(Serialize, Deserialize)]
pub struct ConsentFile {
    name: String,
    text: String,
    want: Parsed<ConsentValues>,
}

impl Case for ConsentFile {
    type Want = Parsed<ConsentValues>;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &Self::Want {
        &self.want
    }
}

pub fn run_consent_file(c: &ConsentFile) -> Result<Parsed<ConsentValues>, String> {
    let dir = Scratch::new()?;
    let s = resolve(
        &dir,
        app(false, "1.0.0", None),
        &BTreeMap::new(),
        false,
        None,
        Some(&c.text),
    )?;
    let values = match &s.config {
        ConfigState::Loaded(u) => Some(ConsentValues {
            enabled: u.enabled,
            decided_at: u.decided_at.clone(),
            decided_via: u.decided_via.clone(),
            consent_version: u.consent_version,
            notice_version: u.notice_version,
            endpoint: u.endpoint.clone(),
            flush_interval_secs: u.flush_interval_secs,
        }),
        ConfigState::Broken(_) => None,
        other => return Err(format!("the consent file was not read: {other:?}")),
    };
    Ok(parsed(&s, values))
}

fn parsed<V>(s: &Settings, values: Option<V>) -> Parsed<V> {
    Parsed {
        valid: values.is_some(),
        values,
        enabled: s.consent.enabled,
        decided_by: s.consent.decided_by.as_str().to_owned(),
        endpoint: s.endpoint.as_ref().map(|e| e.value.clone()),
    }
}

pub fn consent_file_cases() -> Vec<ConsentFile> {
    let texts: &[(&str, &str)] = &[
        ("on", YES),
        ("off", NO),
        ("empty", ""),
        ("comments and blank lines only", "# nothing chosen\n\n"),
        (
            "every key",
            "enabled = true\ndecided_at = \"2026-11-20T10:00:00Z\"\ndecided_via = \"prompt\"\nconsent_version = 2\nnotice_version = 2\nendpoint = \"https://t.example.com/v1/batch\"\nflush_interval_secs = 3600\n",
        ),
        ("a choice without a version", "enabled = false\n"),
        ("the notice only", "notice_version = 2\n"),
        (
            "an endpoint only",
            "endpoint = \"https://t.example.com/v1/batch\"\n",
        ),
        (
            "keys in another order",
            "consent_version = 2\nenabled = true\n",
        ),
        (
            "a trailing comment",
            "enabled = true # chosen\nconsent_version = 2\n",
        ),
        (
            "CRLF line ends",
            "enabled = true\r\nconsent_version = 2\r\n",
        ),
        ("no final newline", "enabled = false"),
        ("a quoted bool is not a bool", "enabled = \"true\"\n"),
        ("a bare word", "enabled = maybe\n"),
        ("an unknown key", "enabled = true\nsurprise = 1\n"),
        ("a table", "[telemetry]\nenabled = true\n"),
        ("a key twice", "enabled = true\nenabled = false\n"),
        (
            "a negative version",
            "enabled = true\nconsent_version = -1\n",
        ),
        (
            "a version as a string",
            "enabled = true\nconsent_version = \"2\"\n",
        ),
        ("an endpoint as a number", "endpoint = 5\n"),
        ("not TOML", "this is not toml\n"),
        ("an unterminated string", "decided_via = \"prompt\n"),
    ];
    texts
        .iter()
        .map(|&(name, text)| {
            let mut c = ConsentFile {
                name: name.into(),
                text: text.into(),
                want: Parsed {
                    valid: false,
                    values: None,
                    enabled: false,
                    decided_by: String::new(),
                    endpoint: None,
                },
            };
            c.want = run_consent_file(&c).expect("the consent file is read");
            c
        })
        .collect()
}

/// What a policy file says, when it parses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyValues {
    telemetry_off: bool,
    endpoint: Option<String>,
    rotate_machine_id: Option<String>,
    allow_plain_http: bool,
}

/// A policy file case.
#[derive(Serialize, Deserialize)]
pub struct PolicyFile {
    name: String,
    text: String,
    want: Parsed<PolicyValues>,
}

impl Case for PolicyFile {
    type Want = Parsed<PolicyValues>;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &Self::Want {
        &self.want
    }
}

pub fn run_policy_file(c: &PolicyFile) -> Result<Parsed<PolicyValues>, String> {
    let dir = Scratch::new()?;
    let s = resolve(
        &dir,
        app(false, "1.0.0", None),
        &BTreeMap::new(),
        false,
        Some(&c.text),
        None,
    )?;
    let values = match &s.policy {
        PolicyState::Loaded {
            force_off,
            endpoint,
            rotation,
            allow_plain_http,
        } => Some(PolicyValues {
            telemetry_off: *force_off,
            endpoint: endpoint.clone(),
            rotate_machine_id: rotation.map(|r| r.as_str().to_owned()),
            allow_plain_http: *allow_plain_http,
        }),
        PolicyState::Broken(_) => None,
        PolicyState::Absent => return Err("the policy file was not read".into()),
    };
    Ok(parsed(&s, values))
}

pub fn policy_file_cases() -> Vec<PolicyFile> {
    let texts: &[(&str, &str)] = &[
        ("off", "telemetry = \"off\"\n"),
        ("Off in mixed case", "telemetry = \"Off\"\n"),
        ("empty", ""),
        (
            "an endpoint",
            "endpoint = \"https://t.corp.example/v1/batch\"\n",
        ),
        ("a blank endpoint is no endpoint", "endpoint = \"  \"\n"),
        (
            "every key",
            "telemetry = \"off\"\nendpoint = \"http://t.corp.example/v1/batch\"\nrotate_machine_id = \"weekly\"\nallow_plain_http = true\n",
        ),
        ("rotation daily", "rotate_machine_id = \"daily\"\n"),
        (
            "rotation monthly in capitals",
            "rotate_machine_id = \"MONTHLY\"\n",
        ),
        ("rotation yearly", "rotate_machine_id = \"yearly\"\n"),
        ("rotation never", "rotate_machine_id = \"never\"\n"),
        ("plain http allowed", "allow_plain_http = true\n"),
        (
            "comments",
            "# managed by the IT department\ntelemetry = \"off\" # for all\n",
        ),
        ("telemetry on is not accepted", "telemetry = \"on\"\n"),
        ("telemetry as a bool", "telemetry = false\n"),
        ("telemetry off unquoted", "telemetry = off\n"),
        ("an unknown rotation", "rotate_machine_id = \"hourly\"\n"),
        ("an unknown key", "telemetry_enabled = false\n"),
        (
            "allow_plain_http as a string",
            "allow_plain_http = \"yes\"\n",
        ),
        ("a table", "[policy]\ntelemetry = \"off\"\n"),
        ("not TOML", "off\n"),
    ];
    texts
        .iter()
        .map(|&(name, text)| {
            let mut c = PolicyFile {
                name: name.into(),
                text: text.into(),
                want: Parsed {
                    valid: false,
                    values: None,
                    enabled: false,
                    decided_by: String::new(),
                    endpoint: None,
                },
            };
            c.want = run_policy_file(&c).expect("the policy file is read");
            c
        })
        .collect()
}
