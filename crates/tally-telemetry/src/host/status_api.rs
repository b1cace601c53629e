//! Status and the on/off switch as plain values, for hosts that are not clap
//! CLIs: the Node.js and Python packages (`bindings/`) and any host with its
//! own command parser. [`Telemetry::status`] reads the same files and
//! precedence as `telemetry status`; [`Telemetry::set_enabled_choice`] takes
//! the same steps as `telemetry on|off` (the same `store_choice`), without
//! their text. Neither writes to stdout.

use std::path::PathBuf;

use crate::consent::config::ChoiceVia;
use crate::consent::precedence::Source;
use crate::host::output::CommandError;
use crate::host::telemetry::Telemetry;

/// What decides telemetry for the application right now, with where its
/// data lives: the fields of `telemetry status --json` a host needs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The application's name.
    pub app: String,
    /// Whether telemetry is on.
    pub enabled: bool,
    /// Which rule decided.
    pub decided_by: Source,
    /// The same decision as a sentence for people.
    pub reason: String,
    /// The file the user's choice is stored in (`None` where no config
    /// directory is known).
    pub config_path: Option<PathBuf>,
    /// The directory of the spool and machine id (`None` where unknown).
    pub state_dir: Option<PathBuf>,
    /// The system policy file that is consulted (it may not exist).
    pub policy_file: PathBuf,
    /// Where batches are posted, if anywhere.
    pub endpoint: Option<String>,
    /// Debug mode: payloads are printed to stderr, never sent.
    pub debug: bool,
    /// The CI system detected, if any.
    pub ci: Option<String>,
}

impl Telemetry {
    /// The current status, resolved again from the files, so a choice
    /// stored since [`init`](crate::Builder::init) (by this process or
    /// another) shows. Reads files only; creates nothing.
    pub fn status(&self) -> Status {
        let s = self.settings().reresolve();
        Status {
            app: s.app.name.clone(),
            enabled: s.consent.enabled,
            decided_by: s.consent.decided_by,
            reason: s.consent.reason.clone(),
            config_path: s.paths.config_file.clone(),
            state_dir: s.paths.state_dir.clone(),
            policy_file: s.paths.policy_file.clone(),
            endpoint: s.endpoint.as_ref().map(|e| e.value.clone()),
            debug: s.debug,
            ci: s.ci.map(str::to_owned),
        }
    }

    /// Stores the user's choice exactly as `telemetry on` (`true`) or
    /// `telemetry off` (`false`) does: off also stops recording in this
    /// process and deletes buffered data and the machine id. Returns the
    /// status afterwards, which may still differ from the choice where a
    /// higher rule (policy, `DO_NOT_TRACK`, the env var) decides.
    pub fn set_enabled_choice(&self, enabled: bool) -> Result<Status, CommandError> {
        // The steps of `telemetry on|off` without their text, and without
        // the clap types, so a host built without clap has them too.
        // The very steps of `telemetry on|off`, text discarded: off deletes
        // buffered data and the machine id first, then stores the choice.
        crate::host::choice::switch(
            self.settings(),
            enabled,
            ChoiceVia::Command,
            &mut std::io::sink(),
        )?;
        Ok(self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::paths::Paths;
    use crate::os::env::Env;

    fn handle(dir: &std::path::Path, env: Env) -> Telemetry {
        Telemetry::builder("statusapi")
            .env(env)
            .paths(Paths::explicit(
                dir.join("config/telemetry.toml"),
                dir.join("state"),
                dir.join("policy.toml"),
            ))
            .prompt(false)
            .background_send(false)
            .init()
    }

    // `off` stops the process-wide recorder, which the recorder's own unit
    // test drives; the off path is tested from the bindings' and the CLI's
    // tests, in processes of their own.
    #[test]
    fn status_reads_the_choice_stored_since_init() {
        let dir = tempfile::tempdir().unwrap();
        let t = handle(dir.path(), Env::from_pairs([("DO_NOT_TRACK", "0")]));
        let st = t.status();
        assert_eq!(st.app, "statusapi");
        assert_eq!(st.policy_file, dir.path().join("policy.toml"));
        let stored = crate::host::telemetry::store_choice(
            &t.settings().reresolve(),
            false,
            crate::consent::config::ChoiceVia::Command,
        );
        assert!(stored.is_ok());
        let st = t.status();
        assert!(!st.enabled);
        assert_eq!(st.decided_by, Source::Config);
        assert_eq!(
            st.config_path,
            Some(dir.path().join("config/telemetry.toml"))
        );
    }

    #[test]
    fn a_stored_on_does_not_outrank_do_not_track() {
        let dir = tempfile::tempdir().unwrap();
        let t = handle(dir.path(), Env::from_pairs([("DO_NOT_TRACK", "1")]));
        let st = t.set_enabled_choice(true).unwrap();
        assert!(!st.enabled);
        assert_eq!(st.decided_by, Source::DoNotTrack);
    }
}
