//! The first-run question, asked on stderr in dialoguer's look, only when
//! stdin and stderr are both terminals, no CI is detected, nothing has
//! decided yet, and an endpoint exists (without one nothing could leave the
//! machine, so there is nothing to ask). Ctrl-C, Ctrl-D or Esc decides
//! nothing, and the host's command then runs on as if nobody had been asked.
//!
//! The key loop is our own rather than `dialoguer::Confirm`'s: Confirm reads
//! keys in a way that raises SIGINT on Ctrl-C (killing the host with 130 and
//! leaving the cursor hidden) and ignores Ctrl-D (so the question never
//! ends). Here the terminal stays in raw mode for the whole question, so
//! Ctrl-C and Ctrl-D arrive as keys, even when typed the instant the
//! question appears, and the mode is restored on every way out.

use std::io::IsTerminal;
#[cfg(all(feature = "prompt", unix))]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

#[cfg(feature = "prompt")]
use dialoguer::console::{Key, Term};
#[cfg(feature = "prompt")]
use dialoguer::theme::{SimpleTheme, Theme};

use crate::consent::settings::Settings;

/// Why the prompt is not shown, or `None` when it may be.
pub fn blocked(settings: &Settings) -> Option<String> {
    if !cfg!(feature = "prompt") {
        return Some(format!(
            "{} was built without the telemetry library's `prompt` feature, so it cannot ask",
            settings.app.name
        ));
    }
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
/// application's default), `None` on Ctrl-C, Ctrl-D, Esc, end of input or a
/// terminal error.
#[cfg(not(feature = "prompt"))]
pub fn ask(_settings: &Settings) -> Option<bool> {
    None
}

/// Asks the question. `Some(answer)` when the user answered (Enter takes the
/// application's default), `None` on Ctrl-C, Ctrl-D, Esc, end of input or a
/// terminal error.
#[cfg(feature = "prompt")]
pub fn ask(settings: &Settings) -> Option<bool> {
    let app = &settings.app.name;
    let manage = settings.app.manage();
    let default = settings.app.default_policy.enabled();
    let docs = settings
        .app
        .docs_url
        .as_deref()
        .map(|u| format!("\n  What is collected: {u}"))
        .unwrap_or_default();
    let stdin = std::io::stdin();
    // Raw mode before the first byte of the question is written: a key typed
    // as soon as the question shows must already be read as a key, never
    // turned into SIGINT by the terminal.
    #[cfg(unix)]
    let _raw = RawMode::enter(stdin.as_fd())?;
    #[cfg(windows)]
    let _raw = RawMode::enter(&stdin)?;
    let term = Term::stderr();
    term.write_line(&format!(
        "{app} can send anonymous usage counts (which commands run and how they end; never arguments, paths or names) to help its authors.{docs}\n  You can change this at any time with `{manage} on|off`."
    ))
    .ok()?;
    let answer = confirm(&term, QUESTION, default);
    // Leave the question's line showing what was decided, like dialoguer.
    let mut line = String::new();
    let _ = SimpleTheme.format_confirm_prompt_selection(&mut line, QUESTION, answer);
    if answer.is_none() {
        line.push_str(" (not answered; nothing decided)");
    }
    let _ = term.clear_line();
    let _ = term.write_line(&line);
    answer
}

#[cfg(feature = "prompt")]
const QUESTION: &str = "Share anonymous usage statistics?";

/// dialoguer's confirm loop with `wait_for_newline`: y or n change the
/// pending answer, Enter takes it; Ctrl-C, Ctrl-D and Esc give up.
#[cfg(feature = "prompt")]
fn confirm(term: &Term, prompt: &str, default: bool) -> Option<bool> {
    let mut value = default;
    loop {
        let mut shown = String::new();
        let _ = SimpleTheme.format_confirm_prompt(&mut shown, prompt, Some(value));
        term.clear_line().ok()?;
        term.write_str(&shown).ok()?;
        // `read_key_raw` reports Ctrl-C as a key; plain `read_key` would
        // raise SIGINT. An error (the terminal went away) gives up too.
        match term.read_key_raw().ok()? {
            Key::Char('y' | 'Y') => value = true,
            Key::Char('n' | 'N') => value = false,
            Key::Enter => return Some(value),
            Key::CtrlC | Key::Char('\u{4}') | Key::Escape => return None,
            _ => {}
        }
    }
}

/// The terminal in raw mode (no echo, no line editing, no signals from
/// keys), with output processing kept so `\n` still starts a new line; the
/// previous mode comes back on drop.
#[cfg(all(feature = "prompt", unix))]
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

#[cfg(all(feature = "prompt", unix))]
impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        let fd = fd.as_raw_fd();
        let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: `fd` is open for the duration (borrowed from stdin) and
        // `saved` is a valid out-pointer that tcgetattr fills on success.
        if unsafe { libc::tcgetattr(fd, saved.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: tcgetattr succeeded, so `saved` is initialised.
        let saved = unsafe { saved.assume_init() };
        let mut raw = saved;
        // SAFETY: `raw` is a valid termios value.
        unsafe { libc::cfmakeraw(&mut raw) };
        raw.c_oflag = saved.c_oflag;
        // SAFETY: as above; `raw` is a valid termios value.
        if unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &raw) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

#[cfg(all(feature = "prompt", unix))]
impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: `fd` is stdin, still open; `saved` came from tcgetattr.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved);
        }
    }
}

/// Windows: the console's input mode without line input, echo and
/// processed input, so Ctrl+C arrives as a key instead of ending the host;
/// the previous mode comes back on drop.
#[cfg(all(feature = "prompt", windows))]
struct RawMode {
    handle: windows_sys::Win32::Foundation::HANDLE,
    saved: u32,
}

#[cfg(all(feature = "prompt", windows))]
impl RawMode {
    fn enter(stdin: &std::io::Stdin) -> Option<RawMode> {
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::System::Console::{
            ENABLE_ECHO_INPUT, ENABLE_LINE_INPUT, ENABLE_PROCESSED_INPUT, GetConsoleMode,
            SetConsoleMode,
        };
        let handle = stdin.as_raw_handle();
        let mut saved = 0;
        // SAFETY: `handle` is stdin's, open for the duration; `saved` is a
        // valid out-pointer.
        if unsafe { GetConsoleMode(handle, &mut saved) } == 0 {
            return None;
        }
        let raw = saved & !(ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT);
        // SAFETY: as above.
        if unsafe { SetConsoleMode(handle, raw) } == 0 {
            return None;
        }
        Some(RawMode { handle, saved })
    }
}

#[cfg(all(feature = "prompt", windows))]
impl Drop for RawMode {
    fn drop(&mut self) {
        use windows_sys::Win32::System::Console::SetConsoleMode;
        // SAFETY: stdin's handle, still open; `saved` came from
        // GetConsoleMode.
        unsafe { SetConsoleMode(self.handle, self.saved) };
    }
}
