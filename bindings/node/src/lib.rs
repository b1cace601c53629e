//! The native half of the `tally` npm package: napi-rs functions over the
//! tally crate's root API. Consent, files, spool and sending are the Rust
//! library's, so a Node CLI and a Rust CLI of the same application name
//! share one consent and one spool. The JavaScript half (`index.js`) adds
//! the idioms: an options object, `process.on('exit')`, Commander.
//!
//! The record functions are plain exported functions: a call from
//! JavaScript is the string conversion plus the library's mutex and map
//! update.

use std::time::Duration;

use napi::{Error, Result, Status as NapiStatus};
use napi_derive::napi;

fn invalid(msg: String) -> Error {
    Error::new(NapiStatus::InvalidArg, msg)
}

/// How to configure telemetry for an application.
#[napi(object)]
#[derive(Default)]
pub struct Options {
    /// The application's version.
    pub version: Option<String>,
    /// The environment-variable prefix (`MYTOOL` → `MYTOOL_TELEMETRY`).
    pub env_prefix: Option<String>,
    /// `"opt-in"` (default) or `"opt-out"`.
    pub policy: Option<String>,
    /// Where batches are posted.
    pub endpoint: Option<String>,
    /// Where users read what is collected.
    pub docs_url: Option<String>,
    /// The system policy file (default `/etc/tally/<name>.toml`).
    pub policy_file: Option<String>,
    /// `--no-telemetry` was given on this run.
    pub no_telemetry: Option<bool>,
    /// Whether the first-run question may be asked on a terminal (default false).
    pub prompt: Option<bool>,
    /// Whether a background send may start (default true).
    pub background_send: Option<bool>,
}

/// What decides telemetry right now and where its data lives.
#[napi(object)]
pub struct Status {
    /// The application's name.
    pub app: String,
    /// Whether telemetry is on.
    pub enabled: bool,
    /// policy, do_not_track, flag, env, config, ci or default.
    pub decided_by: String,
    /// The decision as a sentence.
    pub reason: String,
    /// The file the user's choice is stored in.
    pub config_path: Option<String>,
    /// The directory of the spool and machine id.
    pub state_dir: Option<String>,
    /// The system policy file consulted.
    pub policy_file: Option<String>,
    /// Where batches are posted, if anywhere.
    pub endpoint: Option<String>,
    /// Debug mode: payloads printed to stderr, never sent.
    pub debug: bool,
    /// The CI system detected, if any.
    pub ci: Option<String>,
}

fn path_str(p: Option<&std::path::Path>) -> Option<String> {
    p.map(|p| p.to_string_lossy().into_owned())
}

impl From<tally::Status> for Status {
    fn from(s: tally::Status) -> Self {
        Status {
            config_path: path_str(s.config_path.as_deref()),
            state_dir: path_str(s.state_dir.as_deref()),
            policy_file: path_str(Some(&s.policy_file)),
            decided_by: s.decided_by.as_str().to_owned(),
            app: s.app,
            enabled: s.enabled,
            reason: s.reason,
            endpoint: s.endpoint,
            debug: s.debug,
            ci: s.ci,
        }
    }
}

/// One application's telemetry in this process.
#[napi]
pub struct Handle {
    t: tally::Telemetry,
}

/// Resolves consent once and, when telemetry is on, starts recording.
/// Never prints to stdout; throws only for a bad policy word.
#[napi]
pub fn init(name: String, options: Option<Options>) -> Result<Handle> {
    let o = options.unwrap_or_default();
    let mut b = tally::Telemetry::builder(&name)
        .no_telemetry(o.no_telemetry.unwrap_or(false))
        .prompt(o.prompt.unwrap_or(false))
        .background_send(o.background_send.unwrap_or(true));
    if let Some(v) = &o.version {
        b = b.version(v);
    }
    if let Some(p) = &o.env_prefix {
        b = b.env_prefix(p);
    }
    match o.policy.as_deref() {
        None | Some("opt-in") => {}
        Some("opt-out") => b = b.default_policy(tally::DefaultPolicy::OptOut),
        Some(other) => {
            return Err(invalid(format!(
                "policy must be \"opt-in\" or \"opt-out\", not {other:?}"
            )));
        }
    }
    if let Some(e) = &o.endpoint {
        b = b.endpoint(e);
    }
    if let Some(d) = &o.docs_url {
        b = b.docs_url(d);
    }
    if let Some(f) = &o.policy_file {
        b = b.policy_file(f);
    }
    Ok(Handle { t: b.init() })
}

#[napi]
impl Handle {
    /// Whether telemetry is on for this process.
    #[napi]
    pub fn enabled(&self) -> bool {
        self.t.enabled()
    }

    /// The current status (re-read from the files).
    #[napi]
    pub fn status(&self) -> Status {
        self.t.status().into()
    }

    /// Stores the user's choice as `telemetry on|off` does; the status after.
    #[napi]
    pub fn set_enabled_choice(&self, enabled: bool) -> Result<Status> {
        self.t
            .set_enabled_choice(enabled)
            .map(Status::from)
            .map_err(|e| Error::new(NapiStatus::GenericFailure, e.to_string()))
    }

    /// Ends the running command with the outcome of `exitCode`; returns it.
    #[napi]
    pub fn finish(&self, exit_code: i32) -> i32 {
        self.t.finish(exit_code)
    }

    /// Persists and sends what is due, in the foreground.
    #[napi]
    pub fn shutdown(&self) {
        self.t.shutdown();
    }
}

/// Counts a command path (`"cache clean"`); it runs until finished.
#[napi]
pub fn record_command(path: String) {
    tally::record_command(&path);
}

/// Ends the running command with the outcome of an exit code (no-op when
/// no command is running).
#[napi]
pub fn finish_command_code(exit_code: i32) {
    tally::finish_command(tally::CommandOutcome::from_exit_code(exit_code));
}

/// Ends the running command with an outcome word.
#[napi]
pub fn finish_command(outcome: String) -> Result<()> {
    let o = match outcome.as_str() {
        "success" => tally::CommandOutcome::Success,
        "failure" => tally::CommandOutcome::Failure,
        "usage_error" => tally::CommandOutcome::UsageError,
        "interrupted" => tally::CommandOutcome::Interrupted,
        "unknown" => tally::CommandOutcome::Unknown,
        other => return Err(invalid(format!("unknown command outcome {other:?}"))),
    };
    tally::finish_command(o);
    Ok(())
}

fn call_outcome(word: &str) -> Result<tally::CallOutcome> {
    use tally::ErrorClass as E;
    Ok(match word {
        "ok" => tally::CallOutcome::Ok,
        "tool_error" => tally::CallOutcome::ToolError,
        "cancelled" => tally::CallOutcome::Cancelled,
        "unanswered" => tally::CallOutcome::Unanswered,
        "parse_error" => tally::CallOutcome::ProtocolError(E::Parse),
        "invalid_request" => tally::CallOutcome::ProtocolError(E::InvalidRequest),
        "method_not_found" => tally::CallOutcome::ProtocolError(E::MethodNotFound),
        "invalid_params" => tally::CallOutcome::ProtocolError(E::InvalidParams),
        "internal_error" => tally::CallOutcome::ProtocolError(E::Internal),
        "server_error" => tally::CallOutcome::ProtocolError(E::ServerDefined),
        "protocol_error" => tally::CallOutcome::ProtocolError(E::Other),
        other => return Err(invalid(format!("unknown tool call outcome {other:?}"))),
    })
}

/// Counts one MCP tool call; `""` counts the outcome only.
#[napi]
pub fn record_tool_call(name: String, outcome: String, duration_ms: f64) -> Result<()> {
    let d = Duration::try_from_secs_f64(duration_ms / 1000.0).unwrap_or_default();
    tally::record_tool_call(&name, call_outcome(&outcome)?, d);
    Ok(())
}

/// Counts a connecting MCP client.
#[napi]
pub fn record_client(name: String, version: String) {
    tally::record_client(&name, &version);
}

/// Sets a deployment fact for today; false where the schema refuses it.
#[napi]
pub fn set_fact(name: String, value: String) -> bool {
    tally::set_fact(&name, &value)
}

/// Counts install, uninstall or upgrade.
#[napi]
pub fn record_lifecycle(kind: String) -> Result<()> {
    let k = match kind.as_str() {
        "install" => tally::LifecycleKind::Install,
        "uninstall" => tally::LifecycleKind::Uninstall,
        "upgrade" => tally::LifecycleKind::Upgrade,
        other => return Err(invalid(format!("unknown lifecycle kind {other:?}"))),
    };
    tally::record_lifecycle(k);
    Ok(())
}

/// Appends what was recorded to the spool (the exit hook calls it).
#[napi]
pub fn persist() {
    tally::persist();
}
