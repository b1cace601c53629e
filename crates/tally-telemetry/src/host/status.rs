//! `telemetry status`: everything that decides whether telemetry is on and
//! where its data lives, each value with its source, plus the problems a
//! host never sees (a broken config, an unusable state directory, the last
//! failed write or send), as text for people or JSON for scripts.

use std::io::Write;

use owo_colors::OwoColorize;
use serde_json::json;

use crate::consent::config::ConfigState;
use crate::consent::settings::Settings;
use crate::deliver::{endpoint, sender};
use crate::host::output::{CommandError, path_text, print_json, use_color};
use crate::os::files;
use crate::record::state;

/// Prints the status of `s` to `out`.
pub(crate) fn status(s: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let state = s.paths.state();
    let machine_id = match (s.instance_id, &state) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(st)) => state::read_machine_id(st),
        _ => None,
    };
    let pending = state.as_ref().map_or(0, |st| files::size_of(&st.spool()));
    let backoff = state
        .as_ref()
        .and_then(state::read_backoff)
        .filter(|b| b.until > s.clock.unix());
    let last_error = state
        .as_ref()
        .and_then(state::last_error)
        .map(|e| endpoint::redact_text(&e));
    let state_problem = s
        .paths
        .state_dir
        .as_deref()
        .and_then(|d| state::probe_dir(&s.app.name, d));
    let dir_warnings: Vec<String> = [s.paths.state_dir.as_deref(), config_dir(s)]
        .into_iter()
        .flatten()
        .filter_map(|d| state::probe_writable(&s.app.name, d))
        .chain(dropped_names(s))
        .chain(refused_values(s))
        .chain(s.paths.ignored_policy_file.as_ref().map(|p| {
            format!(
                "{} is not read: {} exists, and the policy file under the application's own name takes precedence; merge the two into it",
                p.display(),
                s.paths.policy_file.display()
            )
        }))
        .collect();
    let shown_endpoint = s.endpoint.as_ref().map(|e| endpoint::redact(&e.value));
    let endpoint_problem = sender::transport_problem(s);
    let plain_http = s
        .endpoint
        .as_ref()
        .filter(|_| endpoint_problem.is_none())
        .and_then(|e| endpoint::plain_http_warning(&e.value));
    let (config_state, config_error) = match &s.config {
        ConfigState::NoLocation => ("unknown", None),
        ConfigState::Absent => ("absent", None),
        ConfigState::Loaded(_) => ("loaded", None),
        ConfigState::Broken(why) => ("broken", Some(why.clone())),
    };
    let app = &s.app.name;
    let manage = s.app.manage();
    let consent_var = s.app.consent_var();
    let endpoint_var = s.app.var("TELEMETRY_ENDPOINT");
    if json {
        let v = json!({
            "app": app,
            "enabled": s.consent.enabled,
            "decided_by": s.consent.decided_by.as_str(),
            "reason": s.consent.reason,
            "machine_id": machine_id,
            "config_path": s.paths.config_file,
            "config_state": config_state,
            "config_error": config_error,
            "state_dir": s.paths.state_dir,
            "state_dir_source": s.paths.state_dir_origin.to_string(),
            "policy_file": s.paths.policy_file,
            "policy_file_extra": s.paths.extra_policy_file,
            "machine_id_rotation": s.rotation.value.as_str(),
            "machine_id_rotation_source": s.rotation.origin.to_string(),
            "pending_bytes": pending,
            "endpoint": shown_endpoint,
            "endpoint_problem": endpoint_problem,
            "endpoint_source": s.endpoint.as_ref().map(|e| e.origin.to_string()),
            "debug": s.debug,
            "ci": s.ci,
            "notice_shown": crate::consent::notice::already_shown(s),
            "backoff_until": backoff.map(|b| b.until),
            "backoff_until_time": backoff.map(|b| crate::os::clock::format_unix(b.until)),
            "last_error": last_error,
            "state_dir_problem": state_problem,
            "warnings": s.warnings.iter().chain(&dir_warnings).chain(&plain_http).collect::<Vec<_>>(),
            "otlp": crate::host::otlp_status::json(s),
        });
        print_json(out, &v)?;
        return Ok(());
    }
    let color = use_color(s);
    let head = if s.consent.enabled {
        "enabled"
    } else {
        "disabled"
    };
    let head = match (color, s.consent.enabled) {
        (false, _) => head.to_string(),
        (true, true) => head.green().bold().to_string(),
        (true, false) => head.yellow().bold().to_string(),
    };
    writeln!(out, "Telemetry for {app}: {head}")?;
    writeln!(
        out,
        "  why:        {} [{}]",
        s.consent.reason, s.consent.decided_by
    )?;
    writeln!(
        out,
        "  machine id: {}",
        machine_id.as_deref().unwrap_or("none")
    )?;
    let cfg = path_text(s.paths.config_file.as_deref());
    writeln!(out, "  consent:    {cfg} ({config_state})")?;
    writeln!(
        out,
        "  policy:     {}{}",
        s.paths.policy_file.display(),
        s.paths
            .extra_policy_file
            .as_ref()
            .map(|p| format!(", and {} (may only restrict)", p.display()))
            .unwrap_or_default()
    )?;
    if s.rotation.value != crate::consent::rotation::Rotation::Never {
        writeln!(
            out,
            "  id rotates: {} ({}): a new random machine id each period",
            s.rotation.value.as_str(),
            s.rotation.origin
        )?;
    }
    writeln!(
        out,
        "  state dir:  {} ({})",
        path_text(s.paths.state_dir.as_deref()),
        s.paths.state_dir_origin
    )?;
    writeln!(out, "  pending:    {pending} bytes")?;
    match &s.endpoint {
        Some(e) => writeln!(
            out,
            "  endpoint:   {} ({})",
            shown_endpoint.as_deref().unwrap_or_default(),
            e.origin
        )?,
        None => writeln!(
            out,
            "  endpoint:   none, so nothing is sent (set {endpoint_var} or `endpoint` in {cfg})"
        )?,
    }
    crate::host::otlp_status::text(s, out)?;
    if s.debug {
        writeln!(
            out,
            "  debug:      on: payloads are printed to stderr, never sent"
        )?;
    }
    if let Some(b) = backoff {
        writeln!(
            out,
            "  backoff:    after a failed send, the next background send waits until {}",
            crate::os::clock::format_unix(b.until)
        )?;
    }
    if let Some(e) = &last_error {
        writeln!(out, "  last error: {e}")?;
    }
    if let Some(p) = &state_problem {
        writeln!(
            out,
            "  problem:    {p}; nothing can be recorded until that is fixed"
        )?;
    }
    if let Some(why) = config_error {
        writeln!(out, "  problem:    the consent file {cfg} {why}")?;
        writeln!(
            out,
            "              Until it is fixed telemetry stays off. Fix it, or delete it and run `{manage} on` or `{manage} off`."
        )?;
    }
    if let Some(p) = &endpoint_problem {
        writeln!(out, "  problem:    {p}")?;
    }
    for w in s.warnings.iter().chain(&dir_warnings).chain(&plain_http) {
        writeln!(out, "  warning:    {w}")?;
    }
    writeln!(
        out,
        "To change: `{manage} on|off`, or {consent_var}=0|1 for one run; DO_NOT_TRACK=1 turns off every tool that honours it."
    )?;
    Ok(())
}

fn config_dir(s: &Settings) -> Option<&std::path::Path> {
    s.paths
        .config_file
        .as_deref()
        .and_then(std::path::Path::parent)
}

/// One warning per `Builder::record_value` declaration that is never
/// recorded (an argument without a closed set, say), from the author's
/// point of view: the user learns that it records nothing.
fn refused_values(s: &Settings) -> Vec<String> {
    #[cfg(feature = "clap")]
    {
        s.app
            .declared
            .value_errors()
            .into_iter()
            .map(|e| format!("{} records no argument value here: {e}", s.app.name))
            .collect()
    }
    #[cfg(not(feature = "clap"))]
    {
        let _ = s;
        Vec::new()
    }
}

/// One warning per command path of the host whose recorded name the schema
/// refuses: every run of it would reach the receiver only as a `dropped`
/// count. Needs the tree given to `Builder::cli`.
fn dropped_names(s: &Settings) -> Vec<String> {
    #[cfg(feature = "clap")]
    {
        s.app
            .declared
            .dropped_paths(&s.app.command)
            .into_iter()
            .map(|(path, name)| {
                let shown = if path == name {
                    format!("`{path}`")
                } else {
                    format!("`{path}` (recorded as `{name}`)")
                };
                format!(
                    "{} {shown} is never recorded: the schema takes {}, so its runs are sent only as a dropped count. The author of {} can record it under another name with Builder::rename_command",
                    s.app.name,
                    crate::schema::fields::Pattern::CommandPath.describe(),
                    s.app.name
                )
            })
            .collect()
    }
    #[cfg(not(feature = "clap"))]
    {
        let _ = s;
        Vec::new()
    }
}
