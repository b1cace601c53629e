//! The native half of the `tally` Python package: a thin layer of PyO3
//! functions over the tally crate's root API. Consent, files, spool and
//! sending are the Rust library's, so a Python CLI and a Rust CLI of the same
//! application name share one consent and one spool. The Python half
//! (`python/tally/__init__.py`) adds the idioms: keyword arguments, a
//! `Status` dataclass, a context manager for commands, `atexit`, argparse.
//!
//! The record functions are module-level functions taking `&str`: a call
//! from Python is argument conversion plus the library's mutex and map
//! update, no allocation once a name has been seen.
//!
//! Every word (policy, outcomes, lifecycle kinds, the `telemetry …`
//! subcommands) is parsed by the library, so this package accepts exactly
//! what a Rust host and the Node.js package accept. A panic is caught here
//! and raised as `RuntimeError` (`run_command` returns exit code 1), never
//! as PyO3's `PanicException`, which `except Exception` does not catch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The handle of one application's telemetry in this process.
#[pyclass(frozen, module = "tally._native")]
struct Handle {
    t: tally::Telemetry,
}

/// What a panic said, for the error that replaces it.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Runs `f`, turning a panic into `RuntimeError`.
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(PyRuntimeError::new_err(format!(
            "tally: internal error: {}",
            panic_text(&*p)
        )))
    })
}

fn policy(word: &str) -> PyResult<tally::DefaultPolicy> {
    tally::DefaultPolicy::from_word(word).ok_or_else(|| {
        PyValueError::new_err(format!(
            "policy must be \"opt-in\" or \"opt-out\", not {word:?}"
        ))
    })
}

/// Resolves consent once and, when telemetry is on, starts recording.
/// Never prints to stdout; never raises for anything but bad arguments.
#[pyfunction]
#[pyo3(signature = (name, version=None, env_prefix=None, policy_word=None, endpoint=None,
    docs_url=None, policy_file=None, no_telemetry=false, prompt=false, background_send=true,
    tool_calls=false, facts=false, retention=None, rename_commands=Vec::new(),
    outcome_for_exit=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn init(
    name: &str,
    version: Option<&str>,
    env_prefix: Option<&str>,
    policy_word: Option<&str>,
    endpoint: Option<&str>,
    docs_url: Option<&str>,
    policy_file: Option<&str>,
    no_telemetry: bool,
    prompt: bool,
    background_send: bool,
    tool_calls: bool,
    facts: bool,
    retention: Option<&str>,
    rename_commands: Vec<(String, String)>,
    outcome_for_exit: Vec<(i32, String)>,
) -> PyResult<Handle> {
    let default_policy = policy_word.map(policy).transpose()?;
    let mut b = tally::Telemetry::builder(name)
        .no_telemetry(no_telemetry)
        .prompt(prompt)
        .background_send(background_send);
    if let Some(v) = version {
        b = b.version(v);
    }
    if let Some(p) = env_prefix {
        b = b.env_prefix(p);
    }
    if let Some(p) = default_policy {
        b = b.default_policy(p);
    }
    if let Some(e) = endpoint {
        b = b.endpoint(e);
    }
    if let Some(d) = docs_url {
        b = b.docs_url(d);
    }
    if let Some(f) = policy_file {
        b = b.policy_file(f);
    }
    b = b.tool_calls(tool_calls).facts(facts);
    if let Some(r) = retention {
        b = b.retention(r);
    }
    for (from, to) in &rename_commands {
        b = b.rename_command(from, to);
    }
    for (code, word) in &outcome_for_exit {
        let outcome = tally::CommandOutcome::from_word(word).ok_or_else(|| {
            PyValueError::new_err(format!(
                "outcome_for_exit[{code}]: unknown outcome {word:?}; expected one of {}",
                tally::schema::COMMAND_OUTCOMES.join(", ")
            ))
        })?;
        b = b.outcome_for_exit(*code, outcome);
    }
    guard(|| Ok(Handle { t: b.init() }))
}

fn path_str(p: Option<&std::path::Path>) -> Option<String> {
    p.map(|p| p.to_string_lossy().into_owned())
}

fn status_dict<'py>(py: Python<'py>, s: &tally::Status) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("app", &s.app)?;
    d.set_item("enabled", s.enabled)?;
    d.set_item("decided_by", s.decided_by.as_str())?;
    d.set_item("reason", &s.reason)?;
    d.set_item("config_path", path_str(s.config_path.as_deref()))?;
    d.set_item("state_dir", path_str(s.state_dir.as_deref()))?;
    d.set_item("policy_file", path_str(Some(&s.policy_file)))?;
    d.set_item("endpoint", &s.endpoint)?;
    d.set_item("debug", s.debug)?;
    d.set_item("ci", &s.ci)?;
    Ok(d)
}

#[pymethods]
impl Handle {
    /// Whether telemetry is on for this process.
    fn enabled(&self) -> bool {
        self.t.enabled()
    }

    /// The current status as a dict (re-read from the files).
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = guard(|| Ok(self.t.status()))?;
        status_dict(py, &s)
    }

    /// The very steps of `telemetry on|off` (off deletes buffered data and
    /// the machine id first, then stores the choice); returns the status
    /// afterwards. Raises OSError when the choice cannot be stored.
    fn set_enabled_choice<'py>(
        &self,
        py: Python<'py>,
        enabled: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let s = guard(|| {
            self.t
                .set_enabled_choice(enabled)
                .map_err(|e| PyOSError::new_err(e.to_string()))
        })?;
        status_dict(py, &s)
    }

    /// Runs `telemetry <words…>` (`["status", "--json"]`) as a Rust host
    /// runs it: parsed by `TelemetryCommand::from_words`, run by
    /// `Telemetry::run_command_to` into buffers. Returns `(code, stdout,
    /// stderr)`; a parse error is code 2 with `<app>: <message>` on stderr.
    /// Never raises for what the user typed.
    fn run_command(&self, py: Python<'_>, words: Vec<String>) -> (u8, String, String) {
        let t = &self.t;
        py.detach(move || {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let code = catch_unwind(AssertUnwindSafe(
                || match tally::TelemetryCommand::from_words(&words) {
                    Ok(c) => t.run_command_to(&c, &mut out, &mut err),
                    Err(m) => {
                        err.extend_from_slice(format!("{}: {m}\n", t.status().app).as_bytes());
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
            (
                code,
                String::from_utf8_lossy(&out).into_owned(),
                String::from_utf8_lossy(&err).into_owned(),
            )
        })
    }

    /// Counts a command path under its declared name (`rename_commands`).
    fn record_path(&self, path: &str) -> PyResult<()> {
        guard(|| {
            self.t.record_path(path);
            Ok(())
        })
    }

    /// Ends the running command with the outcome of `exit_code`, as the
    /// declared outcomes (`outcome_for_exit`) say; returns it.
    fn finish(&self, exit_code: i32) -> PyResult<i32> {
        guard(|| Ok(self.t.finish(exit_code)))
    }

    /// Persists and sends what is due, in the foreground (long-running hosts).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            guard(|| {
                self.t.shutdown();
                Ok(())
            })
        })
    }
}

/// Whether this build honours the test hooks (`<APP>_TELEMETRY_NOW`, the
/// fixed clock): True for a debug build (`MATURIN_PEP517_ARGS="--profile
/// dev"`), False for a release build (a plain `pip install`), which
/// ignores them.
#[pyfunction]
fn test_hooks() -> bool {
    cfg!(debug_assertions)
}

/// Counts a command path (`"cache clean"`); it runs until `finish_command`.
#[pyfunction]
fn record_command(path: &str) -> PyResult<()> {
    guard(|| {
        tally::record_command(path);
        Ok(())
    })
}

/// Ends the running command with an outcome word (`CommandOutcome::from_word`).
#[pyfunction]
fn finish_command(outcome: &str) -> PyResult<()> {
    let o = tally::CommandOutcome::from_word(outcome).ok_or_else(|| {
        PyValueError::new_err(format!(
            "outcome must be one of {}, not {outcome:?}",
            tally::schema::COMMAND_OUTCOMES.join(", ")
        ))
    })?;
    guard(|| {
        tally::finish_command(o);
        Ok(())
    })
}

/// Counts one MCP tool call; `""` as the name counts the outcome only. The
/// outcome is a word of `CallOutcome::from_word`.
#[pyfunction]
#[pyo3(signature = (name, outcome="ok", duration_s=0.0))]
fn record_tool_call(name: &str, outcome: &str, duration_s: f64) -> PyResult<()> {
    let o = tally::CallOutcome::from_word(outcome).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown tool call outcome {outcome:?}; expected one of {}",
            tally::CallOutcome::words().join(", ")
        ))
    })?;
    let d = Duration::try_from_secs_f64(duration_s).unwrap_or_default();
    guard(|| {
        tally::record_tool_call(name, o, d);
        Ok(())
    })
}

/// Counts a connecting MCP client (name and version, normalised).
#[pyfunction]
fn record_client(name: &str, version: &str) -> PyResult<()> {
    guard(|| {
        tally::record_client(name, version);
        Ok(())
    })
}

/// Sets a deployment fact for today; False where the schema refuses it.
#[pyfunction]
fn set_fact(name: &str, value: &str) -> PyResult<bool> {
    guard(|| Ok(tally::set_fact(name, value)))
}

/// Counts a lifecycle event: install, uninstall or upgrade
/// (`LifecycleKind::from_word`).
#[pyfunction]
fn record_lifecycle(kind: &str) -> PyResult<()> {
    let k = tally::LifecycleKind::from_word(kind).ok_or_else(|| {
        PyValueError::new_err(format!(
            "lifecycle kind must be one of {}, not {kind:?}",
            tally::schema::LIFECYCLE_KINDS.join(", ")
        ))
    })?;
    guard(|| {
        tally::record_lifecycle(k);
        Ok(())
    })
}

/// Appends what was recorded to the spool (the exit hook calls it).
#[pyfunction]
fn persist(py: Python<'_>) -> PyResult<()> {
    py.detach(|| {
        guard(|| {
            tally::persist();
            Ok(())
        })
    })
}

// The schema's rules, as the library applies them (`tally_telemetry::schema`):
// a Python host or collector gets the same answers as a Rust one, and the
// conformance vectors run through them (`tally.schema`).

/// Validates a batch body as `tally serve` does on the UTC day `today`.
#[pyfunction]
fn schema_validate_batch<'py>(
    py: Python<'py>,
    body: &str,
    today: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let day = tally::schema::parse_day(today)
        .ok_or_else(|| PyValueError::new_err(format!("{today:?} is not a day (YYYY-MM-DD)")))?;
    let d = PyDict::new(py);
    match guard(|| Ok(tally::schema::validate::validate(body.as_bytes(), day)))? {
        Ok(v) => {
            d.set_item("valid", true)?;
            d.set_item("events", v.batch.events.len())?;
            let dropped = PyDict::new(py);
            dropped.set_item("unknown_events", v.drops.unknown_events)?;
            dropped.set_item("unknown_fields", v.drops.unknown_fields)?;
            dropped.set_item("invalid_values", v.drops.invalid_values)?;
            dropped.set_item("out_of_window", v.drops.out_of_window)?;
            d.set_item("dropped", dropped)?;
        }
        Err(r) => {
            d.set_item("valid", false)?;
            d.set_item("reason", r.0)?;
        }
    }
    Ok(d)
}

/// The command outcome an exit code means (`success`, `usage_error`, …).
#[pyfunction]
fn schema_outcome_from_exit_code(code: i32) -> &'static str {
    tally::CommandOutcome::from_exit_code(code).as_str()
}

/// The command duration bucket (0-6) of `ms` milliseconds.
#[pyfunction]
fn schema_duration_bucket(ms: u64) -> usize {
    tally::schema::duration_bucket(Duration::from_millis(ms))
}

/// The tool-call latency bucket (0-6) of `ms` milliseconds.
#[pyfunction]
fn schema_latency_bucket(ms: u64) -> usize {
    tally::schema::latency_bucket(Duration::from_millis(ms))
}

/// The bucket word of a count.
#[pyfunction]
fn schema_count_bucket(n: u64) -> &'static str {
    tally::schema::count_bucket(n)
}

/// The bucket word of an uptime in seconds.
#[pyfunction]
fn schema_uptime_bucket(secs: u64) -> &'static str {
    tally::schema::uptime_bucket(secs)
}

/// The client a raw MCP `clientInfo.name` counts as.
#[pyfunction]
fn schema_client_name(raw: &str) -> &'static str {
    tally::schema::client_name(raw)
}

/// The major number of a raw version, or None.
#[pyfunction]
fn schema_major_version(raw: &str) -> Option<u64> {
    tally::schema::major_version(raw)
}

/// Whether `value` has the schema's shape `pattern`, a word of
/// `Pattern::WORDS` (`command_path`, `tool_name`, `app_name`, …).
#[pyfunction]
fn schema_matches(pattern: &str, value: &str) -> PyResult<bool> {
    use tally::schema::Pattern;
    let p = Pattern::from_word(pattern).ok_or_else(|| {
        let words: Vec<&str> = Pattern::WORDS.iter().map(|(w, _)| *w).collect();
        PyValueError::new_err(format!(
            "unknown pattern {pattern:?}; expected one of {}",
            words.join(", ")
        ))
    })?;
    Ok(p.matches(value))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(schema_validate_batch, m)?,
        wrap_pyfunction!(schema_outcome_from_exit_code, m)?,
        wrap_pyfunction!(schema_duration_bucket, m)?,
        wrap_pyfunction!(schema_latency_bucket, m)?,
        wrap_pyfunction!(schema_count_bucket, m)?,
        wrap_pyfunction!(schema_uptime_bucket, m)?,
        wrap_pyfunction!(schema_client_name, m)?,
        wrap_pyfunction!(schema_major_version, m)?,
        wrap_pyfunction!(schema_matches, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add_class::<Handle>()?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_function(wrap_pyfunction!(record_command, m)?)?;
    m.add_function(wrap_pyfunction!(finish_command, m)?)?;
    m.add_function(wrap_pyfunction!(record_tool_call, m)?)?;
    m.add_function(wrap_pyfunction!(record_client, m)?)?;
    m.add_function(wrap_pyfunction!(set_fact, m)?)?;
    m.add_function(wrap_pyfunction!(record_lifecycle, m)?)?;
    m.add_function(wrap_pyfunction!(persist, m)?)?;
    m.add_function(wrap_pyfunction!(test_hooks, m)?)?;
    Ok(())
}
