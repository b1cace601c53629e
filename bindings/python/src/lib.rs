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

use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The handle of one application's telemetry in this process.
#[pyclass(frozen, module = "tally._native")]
struct Handle {
    t: tally::Telemetry,
}

fn policy(word: &str) -> PyResult<tally::DefaultPolicy> {
    match word {
        "opt-in" | "opt_in" | "optin" => Ok(tally::DefaultPolicy::OptIn),
        "opt-out" | "opt_out" | "optout" => Ok(tally::DefaultPolicy::OptOut),
        other => Err(PyValueError::new_err(format!(
            "policy must be \"opt-in\" or \"opt-out\", not {other:?}"
        ))),
    }
}

/// Resolves consent once and, when telemetry is on, starts recording.
/// Never prints to stdout; never raises for anything but bad arguments.
#[pyfunction]
#[pyo3(signature = (name, version=None, env_prefix=None, policy_word=None, endpoint=None,
    docs_url=None, policy_file=None, no_telemetry=false, prompt=false, background_send=true))]
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
) -> PyResult<Handle> {
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
    if let Some(p) = policy_word {
        b = b.default_policy(policy(p)?);
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
    Ok(Handle { t: b.init() })
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
        status_dict(py, &self.t.status())
    }

    /// Stores the user's choice as `telemetry on|off` does; returns the
    /// status afterwards. Raises OSError when the choice cannot be stored.
    fn set_enabled_choice<'py>(
        &self,
        py: Python<'py>,
        enabled: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        match self.t.set_enabled_choice(enabled) {
            Ok(s) => status_dict(py, &s),
            Err(e) => Err(PyOSError::new_err(e.to_string())),
        }
    }

    /// Ends the running command with the outcome of `exit_code`; returns it.
    fn finish(&self, exit_code: i32) -> i32 {
        self.t.finish(exit_code)
    }

    /// Persists and sends what is due, in the foreground (long-running hosts).
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| self.t.shutdown());
    }
}

/// Counts a command path (`"cache clean"`); it runs until `finish_command`.
#[pyfunction]
fn record_command(path: &str) {
    tally::record_command(path);
}

fn command_outcome(word: &str) -> PyResult<tally::CommandOutcome> {
    Ok(match word {
        "success" => tally::CommandOutcome::Success,
        "failure" => tally::CommandOutcome::Failure,
        "usage_error" => tally::CommandOutcome::UsageError,
        "interrupted" => tally::CommandOutcome::Interrupted,
        "unknown" => tally::CommandOutcome::Unknown,
        other => {
            return Err(PyValueError::new_err(format!(
                "outcome must be success, failure, usage_error, interrupted or unknown, not {other:?}"
            )));
        }
    })
}

/// Ends the running command with an outcome word.
#[pyfunction]
fn finish_command(outcome: &str) -> PyResult<()> {
    tally::finish_command(command_outcome(outcome)?);
    Ok(())
}

fn call_outcome(word: &str) -> PyResult<tally::CallOutcome> {
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
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown tool call outcome {other:?}"
            )));
        }
    })
}

/// Counts one MCP tool call; `""` as the name counts the outcome only.
#[pyfunction]
#[pyo3(signature = (name, outcome="ok", duration_s=0.0))]
fn record_tool_call(name: &str, outcome: &str, duration_s: f64) -> PyResult<()> {
    let d = Duration::try_from_secs_f64(duration_s).unwrap_or_default();
    tally::record_tool_call(name, call_outcome(outcome)?, d);
    Ok(())
}

/// Counts a connecting MCP client (name and version, normalised).
#[pyfunction]
fn record_client(name: &str, version: &str) {
    tally::record_client(name, version);
}

/// Sets a deployment fact for today; False where the schema refuses it.
#[pyfunction]
fn set_fact(name: &str, value: &str) -> bool {
    tally::set_fact(name, value)
}

/// Counts a lifecycle event: install, uninstall or upgrade.
#[pyfunction]
fn record_lifecycle(kind: &str) -> PyResult<()> {
    let k = match kind {
        "install" => tally::LifecycleKind::Install,
        "uninstall" => tally::LifecycleKind::Uninstall,
        "upgrade" => tally::LifecycleKind::Upgrade,
        other => {
            return Err(PyValueError::new_err(format!(
                "lifecycle kind must be install, uninstall or upgrade, not {other:?}"
            )));
        }
    };
    tally::record_lifecycle(k);
    Ok(())
}

/// Appends what was recorded to the spool (the exit hook calls it).
#[pyfunction]
fn persist(py: Python<'_>) {
    py.detach(tally::persist);
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Handle>()?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_function(wrap_pyfunction!(record_command, m)?)?;
    m.add_function(wrap_pyfunction!(finish_command, m)?)?;
    m.add_function(wrap_pyfunction!(record_tool_call, m)?)?;
    m.add_function(wrap_pyfunction!(record_client, m)?)?;
    m.add_function(wrap_pyfunction!(set_fact, m)?)?;
    m.add_function(wrap_pyfunction!(record_lifecycle, m)?)?;
    m.add_function(wrap_pyfunction!(persist, m)?)?;
    Ok(())
}
