//! The `tally` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match tally_cli::cli::run() {
        Ok(code) => code,
        Err(e) => {
            if let Some(clap_err) = e.downcast_ref::<clap::Error>() {
                clap_err.exit();
            }
            eprintln!("tally: {}", tally_cli::cli::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
