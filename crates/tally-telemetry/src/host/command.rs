//! The `telemetry …` and `config otel …` subcommands, as clap types a host
//! flattens into its own CLI, so every embedding tool offers the same
//! commands with the same words. Output goes to the writer the host passes
//! (its stdout, since the user asked), interactive text to stderr.

use std::io::Write;

use serde_json::json;

use crate::consent::config::{self, ChoiceVia, ConfigState};
use crate::consent::precedence::Source;
use crate::consent::settings::Settings;
use crate::deliver::sender::{self, Mode, Outcome};
pub use crate::host::args::{
    ConfigCommand, OTEL_KEYS, OtelAction, TelemetryArgs, TelemetryCommand,
};
use crate::host::choice;
pub use crate::host::output::CommandError;
use crate::host::output::{outcome_words, path_text, print_json, word};
use crate::host::telemetry::Telemetry;
use crate::os::clock::format_day;
use crate::record::recorder;
use crate::record::spool;
use crate::record::state;

impl TelemetryCommand {
    /// Runs the command for `t`'s application, writing results to `out`.
    /// A reader that went away (`show | head`) is not a failure.
    pub fn run(&self, t: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
        match self.dispatch(t, out) {
            Err(CommandError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }

    fn dispatch(&self, t: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
        let s = t.settings();
        match self {
            TelemetryCommand::Status { json } => crate::host::status::status(s, *json, out),
            TelemetryCommand::On => choice::switch(s, true, ChoiceVia::Command, out),
            TelemetryCommand::Off => choice::switch(s, false, ChoiceVia::Command, out),
            TelemetryCommand::Prompt { force, json } => choice::prompt(s, *force, *json, out),
            TelemetryCommand::Uninstall => choice::uninstall(s, out),
            TelemetryCommand::Reset => reset(s, out),
            TelemetryCommand::Flush { json } => flush(s, *json, out),
            TelemetryCommand::Show { json } => show(s, *json, out),
            TelemetryCommand::Log { json } => log(s, *json, out),
        }
    }
}

impl ConfigCommand {
    /// Runs the command for `t`'s application, writing results to `out`.
    pub fn run(&self, t: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
        let s = t.settings();
        let ConfigCommand::Otel { action } = self;
        let check = |key: &str| {
            if OTEL_KEYS.contains(&key) {
                Ok(())
            } else {
                Err(CommandError::Usage(format!(
                    "unknown key {key:?}; known keys: {}",
                    OTEL_KEYS.join(", ")
                )))
            }
        };
        match action {
            OtelAction::Get { key } => {
                check(key)?;
                match &s.config {
                    ConfigState::Broken(why) => Err(CommandError::Usage(format!(
                        "the config file {} {why}",
                        path_text(s.paths.config_file.as_deref())
                    ))),
                    c => {
                        // One decision: what `status` reports. The stored
                        // value alone is printed only when it is what decides;
                        // a yes stored under an older consent version, or
                        // one that DO_NOT_TRACK or a policy outranks, once
                        // printed `true` while `status` said disabled.
                        match c.user().and_then(|u| u.enabled) {
                            Some(v) if s.consent.decided_by == Source::Config => {
                                writeln!(out, "{v}")?
                            }
                            Some(v) => writeln!(
                                out,
                                "{} (stored {v}, which is not what decides: telemetry is {})",
                                s.consent.enabled, s.consent.reason
                            )?,
                            None => writeln!(
                                out,
                                "unset (telemetry is {}: {})",
                                word(s.consent.enabled),
                                s.consent.reason
                            )?,
                        }
                        Ok(())
                    }
                }
            }
            OtelAction::Set { key, value } => {
                check(key)?;
                let v = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(CommandError::Usage(format!(
                            "{key} takes true or false, not {value:?}"
                        )));
                    }
                };
                choice::switch(s, v, ChoiceVia::OtelConfig, out)
            }
            OtelAction::Unset { key } => {
                check(key)?;
                config::clear_choice(s.paths.config_file.as_deref(), &s.app.consent_var())?;
                let fresh = s.reresolve();
                writeln!(
                    out,
                    "{key} unset; telemetry is {}: {}",
                    word(fresh.consent.enabled),
                    fresh.consent.reason
                )?;
                Ok(())
            }
        }
    }
}

fn reset(s: &Settings, out: &mut dyn Write) -> Result<(), CommandError> {
    recorder::drain();
    let Some(st) = s.paths.state() else {
        writeln!(out, "No state directory is known; nothing to reset.")?;
        return Ok(());
    };
    let removed = state::delete_all(&st)?;
    if s.consent.enabled {
        let id = sender::machine_id(s, &st)?;
        writeln!(
            out,
            "Dropped buffered data ({} files). New machine id: {id}",
            removed.len()
        )?;
    } else {
        writeln!(
            out,
            "Dropped buffered data ({} files). No new id: telemetry is disabled ({}).",
            removed.len(),
            s.consent.reason
        )?;
    }
    Ok(())
}

fn flush(s: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    crate::host::telemetry::persist();
    let (export, outcome) = crate::deliver::deliver_due_reporting(s, Mode::Foreground, None);
    let (word, detail, entries) = outcome_words(s, &outcome);
    if json {
        let otlp = export
            .as_ref()
            .map(|(w, d)| json!({ "result": w, "detail": d }));
        let v = json!({ "result": word, "detail": detail, "batches": entries, "otlp": otlp });
        print_json(out, &v)?;
    } else {
        writeln!(out, "{word}: {detail}")?;
        for e in &entries {
            writeln!(
                out,
                "  {} batch {} ({} events, {} bytes) -> HTTP {}",
                e.result, e.batch_id, e.events, e.bytes, e.status
            )?;
        }
        if let Some((w, d)) = &export {
            writeln!(out, "OpenTelemetry collector: {w}: {d}")?;
        }
    }
    flush_status(s, outcome, export)
}

/// How `telemetry flush` ends after `outcome`: "Exits 1 when the send
/// failed or could not be attempted". The export to the user's own
/// collector has its own switch: where it is on, it was the attempt, even
/// with the product's analytics off or unset.
pub(crate) fn flush_status(
    s: &Settings,
    outcome: Outcome,
    export: Option<crate::deliver::ExportWords>,
) -> Result<(), CommandError> {
    match outcome {
        Outcome::Failed(m, _) | Outcome::Unusable(m) => Err(CommandError::NotSent(m)),
        Outcome::NoStateDir | Outcome::NoticePending => Err(CommandError::NotAttempted),
        Outcome::Disabled | Outcome::NoEndpoint if !s.otlp.enabled => {
            Err(CommandError::NotAttempted)
        }
        // The collector was the only destination, and its export failed.
        Outcome::Disabled | Outcome::NoEndpoint if matches!(&export, Some(("failed", _))) => Err(
            CommandError::NotSent(export.map(|(_, d)| d).unwrap_or_default()),
        ),
        _ => Ok(()),
    }
}

fn show(s: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let today = format_day(s.clock.today());
    let lines = match s.paths.state() {
        Some(st) if st.spool().exists() => {
            let _l = spool::lock(&st)?;
            spool::read(&st)?.lines
        }
        _ => Vec::new(),
    };
    let period = sender::batch_period(s);
    let (claimed, outgoing, later) =
        spool::peek_outgoing(&lines, &today, sender::MAX_LINES, &period);
    // Before a machine id exists (or a batch is claimed) the batch shows
    // that one will be minted, never a made-up all-zero id that looks real.
    // With a rotating id, the batch's own period's id (never minted here).
    let machine = match (s.instance_id, s.paths.state()) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(st)) if st.machine_id_period().exists() => {
            sender::batch_machine_id(s, &st, &outgoing).ok()
        }
        (None, Some(st)) => state::read_machine_id(&st),
        _ => None,
    };
    let nil = crate::os::uuid::Uuid::NIL.to_string();
    let next = (!outgoing.is_empty()).then(|| {
        let batch_id = claimed.clone().unwrap_or_else(|| nil.clone());
        sender::build(s, machine.as_deref().unwrap_or(&nil), &batch_id, &outgoing)
    });
    // The exact bytes, with the ids that do not exist yet said in words.
    let shown = next.as_ref().map(|b| {
        let mut text = String::from_utf8_lossy(&sender::encode(b)).into_owned();
        if machine.is_none() {
            text = text.replace(
                &format!("\"machine_id\":\"{nil}\""),
                "\"machine_id\":\"(none yet: a random id is minted at the first send)\"",
            );
        }
        if claimed.is_none() {
            text = text.replace(
                &format!("\"batch_id\":\"{nil}\""),
                "\"batch_id\":\"(minted when the batch is claimed)\"",
            );
        }
        text
    });
    let today_lines: Vec<_> = lines
        .into_iter()
        .filter(|l| l.b.is_none() && !spool::outgoing(l, &today))
        .collect();
    let today_events = crate::record::rollup::events_from(&spool::merge(today_lines));
    if json {
        let v = json!({
            "endpoint": s.endpoint.as_ref().map(|e| crate::deliver::endpoint::redact(&e.value)),
            "next_batch": next,
            "lines_in_later_batches": later,
            "today": today_events,
        });
        print_json(out, &v)?;
        return Ok(());
    }
    match &shown {
        Some(b) => {
            writeln!(
                out,
                "Next send, to {}, posts exactly these bytes (a new batch's id is minted when it is claimed):",
                s.endpoint.as_ref().map_or("(no endpoint)".into(), |e| {
                    crate::deliver::endpoint::redact(&e.value)
                })
            )?;
            out.write_all(b.as_bytes())?;
            writeln!(out)?;
            if later > 0 {
                writeln!(
                    out,
                    "Then {later} more rows, in further batches of at most {} rows each (one machine-id period per batch).",
                    sender::MAX_LINES
                )?;
            }
        }
        None => writeln!(out, "Nothing is waiting to be sent.")?,
    }
    if today_events.is_empty() {
        writeln!(out, "Nothing recorded today.")?;
    } else {
        writeln!(
            out,
            "Today ({today}), kept on this machine until the day is over:"
        )?;
        print_json(out, &today_events)?;
    }
    Ok(())
}

fn log(s: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let mut entries = match s.paths.state().map(|st| state::ledger_read_checked(&st)) {
        Some(Err(e)) => {
            return Err(CommandError::File(format!(
                "what was sent cannot be shown: {e}"
            )));
        }
        Some(Ok(entries)) => entries,
        None => Vec::new(),
    };
    for e in &mut entries {
        // Entries written by an older version may hold a raw URL.
        e.endpoint = crate::deliver::endpoint::redact(&e.endpoint);
    }
    if json {
        print_json(out, &entries)?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "Nothing has been sent from this machine.")?;
    }
    for e in entries {
        writeln!(
            out,
            "{}  {}  batch {}  {} events  {} bytes  HTTP {}  {}",
            e.at, e.result, e.batch_id, e.events, e.bytes, e.status, e.endpoint
        )?;
    }
    Ok(())
}
