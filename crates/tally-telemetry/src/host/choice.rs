//! The `telemetry …` commands that change or ask for the stored choice:
//! `on`, `off`, `prompt` (the installer's entry point, with `--json` and
//! exit codes an installer can act on) and `uninstall` (what an uninstaller
//! calls last). `off` always works: a broken consent file is backed up and
//! replaced, and buffered data and the machine id are deleted before the
//! choice is even stored.

use std::io::Write;

use serde_json::json;

use crate::consent::config::ChoiceVia;
use crate::consent::precedence::Source;
use crate::consent::settings::Settings;
use crate::deliver::sender::{self, Mode, Outcome};
use crate::host::output::{CommandError, path_text, print_json, word};
use crate::host::telemetry::store_choice;
use crate::record::{lifecycle, recorder, state};
use crate::schema::LifecycleKind;

/// `telemetry on|off` and `config otel set`.
pub(crate) fn switch(
    s: &Settings,
    enabled: bool,
    via: ChoiceVia,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let manage = s.app.manage();
    let mut removed = Vec::new();
    let mut delete_error = None;
    if !enabled {
        // First what "off" is for: nothing recorded or kept, whatever
        // happens to the consent file after. A failure here still lets the
        // choice be stored; it is reported after.
        recorder::set_enabled(false);
        recorder::drain();
        if let Some(st) = s.paths.state() {
            match state::delete_all(&st) {
                Ok(r) => removed = r,
                Err(e) => delete_error = Some(e),
            }
        }
    }
    let stored = store_choice(s, enabled, via).map_err(|e| {
        CommandError::File(format!(
            "{e}\nYour choice could not be stored; until it is, set {}={} in your environment.{}",
            s.app.consent_var(),
            u8::from(enabled),
            if enabled {
                ""
            } else {
                " Buffered data and the machine id were deleted."
            }
        ))
    })?;
    let fresh = s.reresolve();
    let cfg = path_text(s.paths.config_file.as_deref());
    if let Some(b) = &stored.backup {
        writeln!(
            out,
            "The consent file could not be read; it was kept as {} and replaced.",
            b.display()
        )?;
    }
    if !enabled {
        writeln!(out, "Telemetry off: your choice is stored in {cfg}.")?;
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
        writeln!(out, "Telemetry on: your choice is stored in {cfg}.")?;
        if let Some(st) = fresh.paths.state().filter(|_| fresh.consent.enabled) {
            let id = sender::machine_id(&fresh, &st)?;
            writeln!(
                out,
                "Machine id: {id} (random; `{manage} reset` replaces it)."
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
    if let Some(e) = delete_error {
        return Err(CommandError::File(format!(
            "your choice is stored, but buffered data could not all be deleted: {e}"
        )));
    }
    Ok(())
}

/// Exit code of `telemetry prompt` when nobody could be asked (no
/// terminal, CI, no endpoint): nothing was decided.
pub const PROMPT_NOT_ASKED: u8 = 3;
/// Exit code of `telemetry prompt` when the question went unanswered
/// (Ctrl-C, Ctrl-D, Esc): nothing was decided.
pub const PROMPT_NO_ANSWER: u8 = 4;

/// `telemetry prompt`: exit 0 when a choice is in force afterwards (just
/// answered, or made before), [`PROMPT_NOT_ASKED`] or [`PROMPT_NO_ANSWER`]
/// when nothing was decided. With `json`, one object on stdout says which
/// (`result`: `answered`, `already_decided`, `not_asked`, `no_answer`).
pub(crate) fn prompt(
    s: &Settings,
    force: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let app = &s.app.name;
    let manage = s.app.manage();
    let (result, fresh, why) = if !force && !s.undecided() {
        (
            "already_decided",
            s.clone(),
            format!(
                "nothing to ask: telemetry is {} ({}). Use --force to ask anyway.",
                word(s.consent.enabled),
                s.consent.reason
            ),
        )
    } else if s.consent.decided_by < Source::Config {
        // An answer would be stored but not take effect; asking would mislead.
        (
            "already_decided",
            s.clone(),
            format!(
                "not asking: {}, which outranks any stored answer. Nothing was decided.",
                s.consent.reason
            ),
        )
    } else if let Some(why) = crate::consent::prompt::blocked(s) {
        (
            "not_asked",
            s.clone(),
            format!("not asking: {why}. Nothing was decided; use `{manage} on|off`."),
        )
    } else {
        match crate::consent::prompt::ask(s) {
            Some(answer) => {
                store_choice(s, answer, ChoiceVia::Prompt)?;
                if !answer {
                    crate::host::telemetry::forget_everything(s);
                }
                let fresh = s.reresolve();
                if fresh.consent.enabled {
                    // The installer's entry point: the one place an install
                    // is known to happen.
                    let _ = lifecycle::record_now(&fresh, LifecycleKind::Install);
                }
                let why = format!(
                    "telemetry {}: {}",
                    word(fresh.consent.enabled),
                    fresh.consent.reason
                );
                ("answered", fresh, why)
            }
            None => (
                "no_answer",
                s.clone(),
                "no answer; nothing was decided.".to_owned(),
            ),
        }
    };
    if json {
        print_json(
            out,
            &json!({
                "result": result,
                "enabled": fresh.consent.enabled,
                "decided_by": fresh.consent.decided_by.as_str(),
                "reason": fresh.consent.reason,
                "message": why,
            }),
        )?;
    } else {
        eprintln!("{app}: {why}");
    }
    match result {
        "not_asked" => Err(CommandError::Undecided(PROMPT_NOT_ASKED)),
        "no_answer" => Err(CommandError::Undecided(PROMPT_NO_ANSWER)),
        _ => Ok(()),
    }
}

/// `telemetry uninstall`: records the uninstall, sends everything left
/// (today included: no later run will exist to send it), then deletes the
/// state directory. The stored choice is kept, so a reinstall remembers a
/// "no". Always succeeds: an uninstaller must not stop here.
pub(crate) fn uninstall(s: &Settings, out: &mut dyn Write) -> Result<(), CommandError> {
    crate::host::telemetry::persist();
    let Some(st) = s.paths.state() else {
        writeln!(
            out,
            "No state directory is known; nothing to send or delete."
        )?;
        return Ok(());
    };
    if s.consent.enabled {
        let _ = lifecycle::record_now(s, LifecycleKind::Uninstall);
        // Today counts as complete: this is the last run there will be.
        let mut last = s.clone();
        last.clock = crate::os::clock::Clock::Fixed(s.clock.now().plus_secs(86_400));
        match sender::send_pending(&last, Mode::Foreground) {
            Outcome::Done(entries) => writeln!(
                out,
                "Sent the last counts and the uninstall ({} batches).",
                entries.len()
            )?,
            other => {
                let (_, detail, _) = crate::host::output::outcome_words(&last, &other);
                writeln!(out, "Nothing sent: {detail}.")?
            }
        }
    } else {
        writeln!(out, "Telemetry is {}: nothing sent.", word(false))?;
    }
    let removed = state::delete_all(&st).unwrap_or_default();
    writeln!(
        out,
        "Deleted {} files of local telemetry data; your choice stays in {}.",
        removed.len(),
        path_text(s.paths.config_file.as_deref())
    )?;
    Ok(())
}
