//! The first-run question, asked with dialoguer on stderr, only when stdin
//! and stderr are both terminals, no CI is detected, nothing has decided yet,
//! and an endpoint exists (without one nothing could leave the machine, so
//! there is nothing to ask). Ctrl-C or end of input decides nothing.

use std::io::IsTerminal;

use dialoguer::Confirm;
use dialoguer::console::Term;

use crate::settings::Settings;

/// Why the prompt is not shown, or `None` when it may be.
pub fn blocked(settings: &Settings) -> Option<String> {
    if !settings.can_send() {
        return Some(format!(
            "no telemetry endpoint is configured for {}, so nothing could be sent; there is nothing to decide",
            settings.app.name
        ));
    }
    if let Some(var) = settings.ci {
        return Some(format!(
            "CI detected ({var} is set); CI runs are never asked"
        ));
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Some("stdin or stderr is not a terminal, so no one can answer".into());
    }
    None
}

/// Whether the first-run prompt should appear now.
pub fn due(settings: &Settings) -> bool {
    settings.undecided() && blocked(settings).is_none()
}

/// Asks the question. `Some(answer)` when the user answered (Enter takes the
/// application's default), `None` on Ctrl-C, end of input or a terminal error.
pub fn ask(settings: &Settings) -> Option<bool> {
    let app = &settings.app.name;
    let default = settings.app.default_policy.enabled();
    let docs = settings
        .app
        .docs_url
        .as_deref()
        .map(|u| format!("\n  What is collected: {u}"))
        .unwrap_or_default();
    let term = Term::stderr();
    let _ = term.write_line(&format!(
        "{app} can send anonymous usage counts (which commands run and how they end; never arguments, paths or names) to help its authors.{docs}\n  You can change this at any time with `{app} telemetry on|off`."
    ));
    let answer = Confirm::new()
        .with_prompt("Share anonymous usage statistics?")
        .default(default)
        .show_default(true)
        .wait_for_newline(true)
        .interact_on_opt(&term);
    answer.unwrap_or_default()
}
