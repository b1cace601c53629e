//! The native half of the `tally` npm package: napi-rs functions over the
//! tally crate's root API. Consent, files, spool and sending are the Rust
//! library's, so a Node CLI and a Rust CLI of the same application name
//! share one consent and one spool. The JavaScript half (`index.js`) adds
//! the idioms: an options object, `process.on('exit')`, Commander.
//!
//! The record functions are plain exported functions: a call from
//! JavaScript is the string conversion plus the library's mutex and map
//! update.
//!
//! Every word (policy, outcomes, lifecycle kinds, the `telemetry …`
//! subcommands) is parsed by the library, so this package accepts exactly
//! what a Rust host and the Python package accept. No panic crosses into
//! Node: each export catches one and turns it into a thrown error (or, for
//! `runCommand`, exit code 1), since unwinding out of the addon would abort
//! the host process.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use napi::{Error, Result, Status as NapiStatus};
use napi_derive::napi;

fn invalid(msg: String) -> Error {
    Error::new(NapiStatus::InvalidArg, msg)
}

/// What a panic said, for the error that replaces it.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Runs `f`, turning a panic into a thrown error instead of an abort.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(Error::new(
            NapiStatus::GenericFailure,
            format!("tally: internal error: {}", panic_text(&*p)),
        ))
    })
}

/// How to configure telemetry for an application.
#[napi(object)]
#[derive(Default)]
pub struct Options {
    /// The application's version.
    pub version: Option<String>,
    /// The environment-variable prefix (`MYTOOL` → `MYTOOL_TELEMETRY`).
    pub env_prefix: Option<String>,
    /// `"opt-in"` (default) or `"opt-out"` (also `opt_in`, `optin`, …: the
    /// words `DefaultPolicy::from_word` accepts).
    pub policy: Option<String>,
    /// Where batches are posted.
    pub endpoint: Option<String>,
    /// Where users read what is collected.
    pub docs_url: Option<String>,
    /// The system policy file (default `/etc/<name>/telemetry.toml`, else `/etc/tally/<name>.toml`).
    pub policy_file: Option<String>,
    /// `--no-telemetry` was given on this run.
    pub no_telemetry: Option<bool>,
    /// Whether the first-run question may be asked on a terminal (default false).
    pub prompt: Option<bool>,
    /// Whether a background send may start (default true).
    pub background_send: Option<bool>,
    /// This process records MCP tool calls and clients (default false:
    /// without it they are not sent; `Builder::tool_calls`).
    pub tool_calls: Option<bool>,
    /// This process sets deployment facts (default false; `Builder::facts`).
    pub facts: Option<bool>,
    /// How long the receiving end keeps data, in words (`Builder::retention`).
    pub retention: Option<String>,
    /// `[from, to]` pairs: a command path (or its leading words) recorded
    /// under another name (`Builder::rename_command`); the last match wins.
    pub rename_commands: Option<Vec<Vec<String>>>,
    /// Exit code (as a string key) → outcome word: the outcome a run that
    /// exits with that code counts as (`Builder::outcome_for_exit`).
    pub outcome_for_exit: Option<std::collections::HashMap<String, String>>,
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

/// What `telemetry <words…>` printed and the code it exits with, as the
/// same command of a Rust host prints and exits.
#[napi(object)]
pub struct CommandResult {
    /// 0 success, 1 a file could not be changed or a send failed, 2 a
    /// usage error, 3 or 4 when `prompt` decided nothing.
    pub code: u32,
    /// What the command printed for the user (its result).
    pub stdout: String,
    /// What it printed as an error, `<app>: <message>`.
    pub stderr: String,
}

fn policy(word: &str) -> Result<tally::DefaultPolicy> {
    tally::DefaultPolicy::from_word(word).ok_or_else(|| {
        invalid(format!(
            "policy must be \"opt-in\" or \"opt-out\", not {word:?}"
        ))
    })
}

/// Resolves consent once and, when telemetry is on, starts recording.
/// Never prints to stdout; throws only for a bad policy word.
#[napi]
pub fn init(name: String, options: Option<Options>) -> Result<Handle> {
    guard(|| init_inner(&name, options))
}

fn init_inner(name: &str, options: Option<Options>) -> Result<Handle> {
    let o = options.unwrap_or_default();
    let mut b = tally::Telemetry::builder(name)
        .no_telemetry(o.no_telemetry.unwrap_or(false))
        .prompt(o.prompt.unwrap_or(false))
        .background_send(o.background_send.unwrap_or(true));
    if let Some(v) = &o.version {
        b = b.version(v);
    }
    if let Some(p) = &o.env_prefix {
        b = b.env_prefix(p);
    }
    if let Some(p) = &o.policy {
        b = b.default_policy(policy(p)?);
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
    b = b
        .tool_calls(o.tool_calls.unwrap_or(false))
        .facts(o.facts.unwrap_or(false));
    if let Some(r) = &o.retention {
        b = b.retention(r);
    }
    for pair in o.rename_commands.iter().flatten() {
        let [from, to] = pair.as_slice() else {
            return Err(invalid(format!(
                "renameCommands takes [from, to] pairs, not {pair:?}"
            )));
        };
        b = b.rename_command(from, to);
    }
    for (code, word) in o.outcome_for_exit.iter().flatten() {
        let c: i32 = code.parse().map_err(|_| {
            invalid(format!(
                "outcomeForExit keys are exit codes, not {code:?}"
            ))
        })?;
        let outcome = tally::CommandOutcome::from_word(word).ok_or_else(|| {
            invalid(format!(
                "outcomeForExit[{code}]: unknown outcome {word:?}; expected one of {}",
                tally::schema::COMMAND_OUTCOMES.join(", ")
            ))
        })?;
        b = b.outcome_for_exit(c, outcome);
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
    pub fn status(&self) -> Result<Status> {
        guard(|| Ok(self.t.status().into()))
    }

    /// The very steps of `telemetry on|off` (off deletes buffered data and
    /// the machine id first, then stores the choice); the status after.
    /// Throws when the choice could not be stored.
    #[napi]
    pub fn set_enabled_choice(&self, enabled: bool) -> Result<Status> {
        guard(|| {
            self.t
                .set_enabled_choice(enabled)
                .map(Status::from)
                .map_err(|e| Error::new(NapiStatus::GenericFailure, e.to_string()))
        })
    }

    /// Runs `telemetry <words…>` (`["status", "--json"]`) as a Rust host
    /// runs it: parsed by `TelemetryCommand::from_words`, run by
    /// `Telemetry::run_command_to` into buffers. A parse error is exit code
    /// 2 with `<app>: <message>` on stderr. Never throws.
    #[napi]
    pub fn run_command(&self, words: Vec<String>) -> CommandResult {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = catch_unwind(AssertUnwindSafe(
            || match tally::TelemetryCommand::from_words(&words) {
                Ok(c) => self.t.run_command_to(&c, &mut out, &mut err),
                Err(m) => {
                    err.extend_from_slice(format!("{}: {m}\n", self.t.status().app).as_bytes());
                    2
                }
            },
        ))
        .unwrap_or_else(|p| {
            err.extend_from_slice(
                format!("tally: internal error: {}\n", panic_text(&*p)).as_bytes(),
            );
            1
        });
        CommandResult {
            code: u32::from(code),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        }
    }

    /// Ends the running command with the outcome of `exitCode`; returns it.
    /// Counts a command path under its declared name (`renameCommands`);
    /// the host's `telemetry …` commands are not counted.
    #[napi]
    pub fn record_path(&self, path: String) -> Result<()> {
        guard(|| {
            self.t.record_path(&path);
            Ok(())
        })
    }

    #[napi]
    pub fn finish(&self, exit_code: i32) -> Result<i32> {
        guard(|| Ok(self.t.finish(exit_code)))
    }

    /// Persists and sends what is due, in the foreground.
    #[napi]
    pub fn shutdown(&self) -> Result<()> {
        guard(|| {
            self.t.shutdown();
            Ok(())
        })
    }
}

/// Whether this build honours the test hooks (`<APP>_TELEMETRY_NOW`, the
/// fixed clock): true for a debug build (`npm run build`), false for a
/// release build, which ignores them.
#[napi]
pub fn test_hooks() -> bool {
    cfg!(debug_assertions)
}

/// Counts a command path (`"cache clean"`); it runs until finished.
#[napi]
pub fn record_command(path: String) -> Result<()> {
    guard(|| {
        tally::record_command(&path);
        Ok(())
    })
}

/// Ends the running command with the outcome of an exit code (no-op when
/// no command is running).
#[napi]
pub fn finish_command_code(exit_code: i32) -> Result<()> {
    guard(|| {
        tally::finish_command(tally::CommandOutcome::from_exit_code(exit_code));
        Ok(())
    })
}

/// Ends the running command with an outcome word (`CommandOutcome::from_word`).
#[napi]
pub fn finish_command(outcome: String) -> Result<()> {
    let o = tally::CommandOutcome::from_word(&outcome).ok_or_else(|| {
        invalid(format!(
            "unknown command outcome {outcome:?}; expected one of {}",
            tally::schema::COMMAND_OUTCOMES.join(", ")
        ))
    })?;
    guard(|| {
        tally::finish_command(o);
        Ok(())
    })
}

/// Counts one MCP tool call; `""` counts the outcome only. The outcome is a
/// word of `CallOutcome::from_word`.
#[napi]
pub fn record_tool_call(name: String, outcome: String, duration_ms: f64) -> Result<()> {
    let o = tally::CallOutcome::from_word(&outcome).ok_or_else(|| {
        invalid(format!(
            "unknown tool call outcome {outcome:?}; expected one of {}",
            tally::CallOutcome::words().join(", ")
        ))
    })?;
    let d = Duration::try_from_secs_f64(duration_ms / 1000.0).unwrap_or_default();
    guard(|| {
        tally::record_tool_call(&name, o, d);
        Ok(())
    })
}

/// Counts a connecting MCP client.
#[napi]
pub fn record_client(name: String, version: String) -> Result<()> {
    guard(|| {
        tally::record_client(&name, &version);
        Ok(())
    })
}

/// Sets a deployment fact for today; false where the schema refuses it.
#[napi]
pub fn set_fact(name: String, value: String) -> Result<bool> {
    guard(|| Ok(tally::set_fact(&name, &value)))
}

/// Counts install, uninstall or upgrade (`LifecycleKind::from_word`).
#[napi]
pub fn record_lifecycle(kind: String) -> Result<()> {
    let k = tally::LifecycleKind::from_word(&kind).ok_or_else(|| {
        invalid(format!(
            "unknown lifecycle kind {kind:?}; expected one of {}",
            tally::schema::LIFECYCLE_KINDS.join(", ")
        ))
    })?;
    guard(|| {
        tally::record_lifecycle(k);
        Ok(())
    })
}

/// Appends what was recorded to the spool (the exit hook calls it).
#[napi]
pub fn persist() -> Result<()> {
    guard(|| {
        tally::persist();
        Ok(())
    })
}

// The schema's rules, as the library applies them (`tally_telemetry::schema`):
// a Node host or collector gets the same answers as a Rust one, and the
// conformance vectors run through them.

/// Validates a batch body as `tally serve` does on the UTC day `today`
/// (`YYYY-MM-DD`): JSON of `{valid, reason}` or `{valid, events, dropped}`.
#[napi]
pub fn schema_validate_batch(body: String, today: String) -> Result<String> {
    let day = tally::schema::parse_day(&today)
        .ok_or_else(|| invalid(format!("{today:?} is not a day (YYYY-MM-DD)")))?;
    guard(|| {
        let v = match tally::schema::validate::validate(body.as_bytes(), day) {
            Ok(v) => format!(
                r#"{{"valid":true,"events":{},"dropped":{{"unknown_events":{},"unknown_fields":{},"invalid_values":{},"out_of_window":{}}}}}"#,
                v.batch.events.len(),
                v.drops.unknown_events,
                v.drops.unknown_fields,
                v.drops.invalid_values,
                v.drops.out_of_window
            ),
            Err(r) => format!(r#"{{"valid":false,"reason":{}}}"#, json_string(&r.0)),
        };
        Ok(v)
    })
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The command outcome an exit code means (`success`, `usage_error`, …).
#[napi]
pub fn schema_outcome_from_exit_code(code: i32) -> String {
    tally::CommandOutcome::from_exit_code(code)
        .as_str()
        .to_owned()
}

/// `ms` milliseconds, exact for whole ones (50 ms is not 49.99…: the
/// bucket bounds are whole milliseconds).
fn millis(ms: f64) -> Duration {
    Duration::from_nanos((ms.max(0.0) * 1_000_000.0) as u64)
}

/// The command duration bucket (0-6) of `ms` milliseconds.
#[napi]
pub fn schema_duration_bucket(ms: f64) -> u32 {
    tally::schema::duration_bucket(millis(ms)) as u32
}

/// The tool-call latency bucket (0-6) of `ms` milliseconds.
#[napi]
pub fn schema_latency_bucket(ms: f64) -> u32 {
    tally::schema::latency_bucket(millis(ms)) as u32
}

/// The bucket word of a count (`0`, `1`, `2-5`, …, `51+`).
#[napi]
pub fn schema_count_bucket(n: f64) -> String {
    tally::schema::count_bucket(n.max(0.0) as u64).to_owned()
}

/// The bucket word of an uptime in seconds (`<1h`, `1-24h`, `1-7d`, `7d+`).
#[napi]
pub fn schema_uptime_bucket(secs: f64) -> String {
    tally::schema::uptime_bucket(secs.max(0.0) as u64).to_owned()
}

/// The client a raw MCP `clientInfo.name` counts as (`other` if unknown).
#[napi]
pub fn schema_client_name(raw: String) -> String {
    tally::schema::client_name(&raw).to_owned()
}

/// The major number of a raw version, or null.
#[napi]
pub fn schema_major_version(raw: String) -> Option<u32> {
    tally::schema::major_version(&raw).map(|n| n as u32)
}

/// Whether `value` has the schema's shape `pattern`, a word of
/// `Pattern::WORDS` (`command_path`, `tool_name`, `app_name`, …).
#[napi]
pub fn schema_matches(pattern: String, value: String) -> Result<bool> {
    use tally::schema::Pattern;
    let p = Pattern::from_word(&pattern).ok_or_else(|| {
        let words: Vec<&str> = Pattern::WORDS.iter().map(|(w, _)| *w).collect();
        invalid(format!(
            "unknown pattern {pattern:?}; expected one of {}",
            words.join(", ")
        ))
    })?;
    Ok(p.matches(&value))
}
