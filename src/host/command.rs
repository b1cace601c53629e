//! The `telemetry …` and `config otel …` subcommands, as clap types a host
//! flattens into its own CLI, so every embedding tool offers the same
//! commands with the same words. Output goes to the writer the host passes
//! (its stdout, since the user asked), interactive text to stderr.

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::consent::config::{self, ChoiceVia, ConfigState};
use crate::consent::settings::Settings;
use crate::deliver::sender::{self, Mode, Outcome};
pub use crate::host::output::CommandError;
use crate::host::output::{path_text, print_json, word};
use crate::host::telemetry::{Telemetry, store_choice};
use crate::os::clock::format_day;
use crate::record::recorder;
use crate::record::spool;
use crate::record::state;

/// The global flag a host flattens into its top-level arguments.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct TelemetryArgs {
    /// Disable telemetry for this run (nothing is recorded or sent)
    #[arg(long, global = true)]
    pub no_telemetry: bool,
}

/// `telemetry …`: see and change what this tool collects.
#[derive(Subcommand, Clone, Debug)]
#[non_exhaustive]
pub enum TelemetryCommand {
    /// Show whether telemetry is on, what decided it, and where its data lives
    Status {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
    /// Turn telemetry on (stores your choice in the config file)
    On,
    /// Turn telemetry off: stores your choice, deletes buffered data and the machine id
    Off,
    /// Ask whether to share usage statistics and store the answer (for installers)
    ///
    /// Asks only when nothing has decided yet (or with --force), stdin and
    /// stderr are terminals, no CI is detected and an endpoint is configured;
    /// otherwise says why on stderr, decides nothing and exits 0. Enter takes
    /// the default; Ctrl-C, Ctrl-D or Esc decide nothing.
    Prompt {
        /// Ask even if a choice was already made (the new answer replaces it)
        #[arg(long)]
        force: bool,
    },
    /// Drop buffered data and replace the machine id with a new random one
    ///
    /// A new id is minted only while telemetry is on.
    Reset,
    /// Send completed days now, in the foreground, and report what happened
    ///
    /// Today's counts stay on this machine until the UTC day is over.
    Flush {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
    /// Print exactly what the next send would post, and today's local counts
    Show {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
    /// List the batches sent from this machine, oldest first (at least the newest 100 are kept)
    Log {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
}

/// `config …`: the stored choice under the key names ToolHive users know.
#[derive(Subcommand, Clone, Debug)]
#[non_exhaustive]
pub enum ConfigCommand {
    /// Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`
    Otel {
        #[command(subcommand)]
        action: OtelAction,
    },
}

/// `config otel get|set|unset KEY`.
#[derive(Subcommand, Clone, Debug)]
pub enum OtelAction {
    /// Print a key's stored value, or `unset` and what decides instead
    Get {
        /// The key (usage-analytics-enabled)
        key: String,
    },
    /// Store a key's value (`set usage-analytics-enabled false` is `telemetry off`)
    Set {
        /// The key (usage-analytics-enabled)
        key: String,
        /// true or false
        value: String,
    },
    /// Forget a key's stored value, so the default decides again
    Unset {
        /// The key (usage-analytics-enabled)
        key: String,
    },
}

/// The keys `config otel` knows.
pub const OTEL_KEYS: &[&str] = &["usage-analytics-enabled"];

impl TelemetryCommand {
    /// Runs the command for `t`'s application, writing results to `out`.
    pub fn run(&self, t: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
        let s = t.settings();
        match self {
            TelemetryCommand::Status { json } => crate::host::status::status(s, *json, out),
            TelemetryCommand::On => switch(s, true, ChoiceVia::Command, out),
            TelemetryCommand::Off => switch(s, false, ChoiceVia::Command, out),
            TelemetryCommand::Prompt { force } => prompt(s, *force),
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
                        match c.user().and_then(|u| u.enabled) {
                            Some(v) => writeln!(out, "{v}")?,
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
                switch(s, v, ChoiceVia::OtelConfig, out)
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

fn switch(
    s: &Settings,
    enabled: bool,
    via: ChoiceVia,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let app = &s.app.name;
    store_choice(s, enabled, via)?;
    let fresh = s.reresolve();
    if !enabled {
        recorder::set_enabled(false);
        recorder::drain();
        let mut removed = Vec::new();
        if let Some(st) = s.paths.state() {
            removed = state::delete_all(&st)?;
        }
        writeln!(
            out,
            "Telemetry off: your choice is stored in {}.",
            path_text(s.paths.config_file.as_deref())
        )?;
        if removed.is_empty() {
            writeln!(out, "Nothing was buffered on this machine.")?;
        } else {
            writeln!(
                out,
                "Deleted buffered data and the machine id ({} files).",
                removed.len()
            )?;
        }
    } else {
        writeln!(
            out,
            "Telemetry on: your choice is stored in {}.",
            path_text(s.paths.config_file.as_deref())
        )?;
        if fresh.consent.enabled
            && let Some(st) = fresh.paths.state()
        {
            let id = sender::machine_id(&fresh, &st)?;
            writeln!(
                out,
                "Machine id: {id} (random; `{app} telemetry reset` replaces it)."
            )?;
            if fresh.endpoint.is_none() {
                writeln!(
                    out,
                    "No endpoint is configured, so counts stay on this machine (set {}).",
                    s.app.var("TELEMETRY_ENDPOINT")
                )?;
            } else if let Some(p) = sender::transport_problem(&fresh) {
                writeln!(out, "Warning: {p}.")?;
            } else if let Some(w) = fresh
                .endpoint
                .as_ref()
                .and_then(|e| crate::deliver::endpoint::plain_http_warning(&e.value))
            {
                writeln!(out, "Warning: {w} (allowed by the system policy file).")?;
            }
        }
    }
    if fresh.consent.enabled != enabled {
        writeln!(
            out,
            "Note: the choice is stored, but telemetry is {} for now: {}.",
            word(fresh.consent.enabled),
            fresh.consent.reason
        )?;
    }
    Ok(())
}

fn prompt(s: &Settings, force: bool) -> Result<(), CommandError> {
    let app = &s.app.name;
    if !force && !s.undecided() {
        eprintln!(
            "{app}: nothing to ask: telemetry is {} ({}). Use --force to ask anyway.",
            word(s.consent.enabled),
            s.consent.reason
        );
        return Ok(());
    }
    if s.consent.decided_by < crate::consent::precedence::Source::Config {
        // An answer would be stored but not take effect; asking would mislead.
        eprintln!(
            "{app}: not asking: {}, which outranks any stored answer. Nothing was decided.",
            s.consent.reason
        );
        return Ok(());
    }
    if let Some(why) = crate::consent::prompt::blocked(s) {
        eprintln!("{app}: not asking: {why}. Nothing was decided; use `{app} telemetry on|off`.");
        return Ok(());
    }
    match crate::consent::prompt::ask(s) {
        Some(answer) => {
            store_choice(s, answer, ChoiceVia::Prompt)?;
            let fresh = s.reresolve();
            if !answer && let Some(st) = s.paths.state() {
                state::delete_all(&st)?;
            }
            eprintln!(
                "{app}: telemetry {}: {}",
                word(fresh.consent.enabled),
                fresh.consent.reason
            );
        }
        None => eprintln!("{app}: no answer; nothing was decided."),
    }
    Ok(())
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
    let outcome = crate::deliver::deliver_due(s, Mode::Foreground, None);
    let (word, detail, entries) = match &outcome {
        Outcome::Disabled => ("disabled", s.consent.reason.clone(), vec![]),
        Outcome::NoEndpoint => (
            "no_endpoint",
            format!(
                "no endpoint is configured (set {})",
                s.app.var("TELEMETRY_ENDPOINT")
            ),
            vec![],
        ),
        Outcome::Unusable(why) => ("not_sent", why.clone(), vec![]),
        Outcome::NoStateDir => ("no_state_dir", "no state directory is known".into(), vec![]),
        Outcome::NoticePending => (
            "notice_pending",
            "the usage notice has not been shown in an earlier run yet, so nothing may be sent"
                .into(),
            vec![],
        ),
        Outcome::BackedOff(u) => (
            "backed_off",
            format!("backing off until unix time {u}"),
            vec![],
        ),
        Outcome::Busy => (
            "busy",
            "another process is sending right now".into(),
            vec![],
        ),
        Outcome::NothingDue => (
            "nothing_due",
            "no completed day is waiting (today's counts stay local until the day is over)".into(),
            vec![],
        ),
        Outcome::Printed => (
            "printed",
            "debug mode: the payload was printed to stderr and not sent".into(),
            vec![],
        ),
        Outcome::Done(e) => (
            "sent",
            format!(
                "{} batch(es) delivered",
                e.iter().filter(|x| x.result == "sent").count()
            ),
            e.clone(),
        ),
        Outcome::Failed(m, e) => ("failed", m.clone(), e.clone()),
    };
    if json {
        let v = json!({ "result": word, "detail": detail, "batches": entries });
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
    }
    match outcome {
        Outcome::Failed(m, _) | Outcome::Unusable(m) => Err(CommandError::NotSent(m)),
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
    let (claimed, outgoing) = spool::peek_outgoing(&lines, &today);
    let machine = match (s.instance_id, s.paths.state()) {
        (Some(id), _) => id.hyphenated().to_string(),
        (None, Some(st)) => {
            state::read_machine_id(&st).unwrap_or_else(|| uuid::Uuid::nil().to_string())
        }
        _ => uuid::Uuid::nil().to_string(),
    };
    let next = (!outgoing.is_empty()).then(|| {
        let id = claimed.unwrap_or_else(|| uuid::Uuid::nil().to_string());
        sender::build(s, &machine, &id, &outgoing)
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
            "today": today_events,
        });
        print_json(out, &v)?;
        return Ok(());
    }
    match &next {
        Some(b) => {
            writeln!(
                out,
                "Next send, to {}, posts exactly these bytes (a new batch's id is minted when it is claimed):",
                s.endpoint.as_ref().map_or("(no endpoint)".into(), |e| {
                    crate::deliver::endpoint::redact(&e.value)
                })
            )?;
            out.write_all(&sender::encode(b))?;
            writeln!(out)?;
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
    let mut entries = s
        .paths
        .state()
        .map(|st| state::ledger_read(&st))
        .unwrap_or_default();
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
