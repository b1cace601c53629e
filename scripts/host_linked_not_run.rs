//! link_floor.sh's host: the scripts' minimal clap host (as
//! host_without_tally.rs) that also links dependencies without running
//! them. Their calls sit behind a variable no run sets, so the compiler
//! keeps them and the linker brings them in, with their relocations and
//! imported symbols, but none of their code runs on `mytool build`.
//!
//! Feature `ureq`: an HTTP GET through ureq (no TLS). Feature `prescribed`:
//! that, and what tally's library uses of the handbook's other prescribed
//! dependencies (toml with serde, directories, dialoguer, owo-colors).

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the project
    Build,
    /// Deploy it
    Deploy {
        #[arg(long)]
        env: String,
    },
}

#[cfg(feature = "prescribed")]
#[derive(serde::Deserialize, Debug)]
struct Settings {
    enabled: Option<bool>,
    endpoint: Option<String>,
}

/// Never runs: no measured run sets the variable.
#[cfg(feature = "ureq")]
fn linked_not_run(url: &str) {
    let body = ureq::get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    #[cfg(feature = "prescribed")]
    {
        use owo_colors::OwoColorize;
        let settings: Option<Settings> = toml::from_str(&body).ok();
        let text = settings
            .and_then(|s| s.endpoint.filter(|_| s.enabled == Some(true)))
            .unwrap_or_default();
        let dirs = directories::ProjectDirs::from("", "", &body).map(|d| d.config_dir().to_owned());
        let yes = dialoguer::Confirm::new().with_prompt(&text).interact().unwrap_or(false);
        eprintln!("{} {dirs:?} {yes}", text.red());
    }
    eprintln!("{}", body.len());
}

fn main() {
    #[cfg(feature = "ureq")]
    if let Some(url) = std::env::var_os("MYTOOL_NEVER_SET") {
        linked_not_run(&url.to_string_lossy());
    }
    match Cli::parse().command {
        Cmd::Build => println!("built"),
        Cmd::Deploy { env } => println!("deployed to {env}"),
    }
}
