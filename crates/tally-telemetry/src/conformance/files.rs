//! File cases: the parsing of the consent file and of the administrator's
//! policy file, valid and invalid (the values read, or that the file is
//! refused), and the decision each gives an opt-out application with
//! nothing else set. Each runs through the same [`resolve`] as the
//! precedence cases, over real files in a scratch directory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::consent::{NO, YES, app, resolve};
use super::{Case, Scratch};
use crate::consent::config::ConfigState;
use crate::consent::policy::PolicyState;
use crate::consent::settings::Settings;

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
