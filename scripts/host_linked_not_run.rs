//! link_floor.sh's addition to the scripts' minimal clap host
//! (host_without_tally.rs, whose `main` the script makes call [`run`]
//! first): dependencies linked without running them. Their calls sit
//! behind a variable no run sets, so the compiler keeps them and the linker
//! brings them in, with their relocations and imported symbols, but none of
//! their code runs on `mytool build`.
//!
//! Feature `ureq`: an HTTP GET through ureq (no TLS). Feature `prescribed`:
//! that, and what tally's library uses of the handbook's other prescribed
//! dependencies (toml with serde, directories, dialoguer, owo-colors).

#[cfg(feature = "prescribed")]
#[derive(serde::Deserialize, Debug)]
struct Settings {
    enabled: Option<bool>,
    endpoint: Option<String>,
}

/// Calls the linked crates when `MYTOOL_NEVER_SET` is set, which no
/// measured run does.
pub fn run() {
    #[cfg(feature = "ureq")]
    if let Some(url) = std::env::var_os("MYTOOL_NEVER_SET") {
        linked_not_run(&url.to_string_lossy());
    }
}

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
