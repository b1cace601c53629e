//! The builder methods by which a host declares what its telemetry means
//! beyond its identity (see [`crate::host::declared`]): exit codes and
//! their outcomes, renamed command paths, retention, the kinds of events
//! it sends, and the TELEMETRY.md section written from all of it for the
//! host's users. Kept apart from `telemetry`, which resolves and runs.

#[cfg(feature = "clap")]
use crate::consent::app::AppInfo;
use crate::host::telemetry::Builder;
use crate::schema::CommandOutcome;

impl Builder {
    /// Counts runs that exit with `code` as `outcome`, instead of what the
    /// code means by convention (0 success, 2 usage error, 129/130/143
    /// interrupted, anything else failure): a search tool whose "no match"
    /// exits 1 declares `.outcome_for_exit(1, CommandOutcome::Success)`.
    /// Used by [`Telemetry::finish`](crate::Telemetry::finish); listed in the host's TELEMETRY.md.
    pub fn outcome_for_exit(mut self, code: i32, outcome: CommandOutcome) -> Self {
        self.app.declared.exit_outcomes.push((code, outcome));
        self
    }

    /// Records the command path `from` (as the CLI names it, or its
    /// leading words) as `to`: for a subcommand whose name the schema
    /// refuses (upper case, a dot, longer than 32 characters…), whose runs
    /// would otherwise reach the receiver only as a `dropped` count.
    /// `.rename_command("Sync.Now", "sync-now")` records `Sync.Now all` as
    /// `sync-now all`. `telemetry status` warns about names still refused;
    /// [`check_contract`](Self::check_contract) fails on them.
    pub fn rename_command(mut self, from: &str, to: &str) -> Self {
        self.app
            .declared
            .renames
            .push((from.to_owned(), to.to_owned()));
        self
    }

    /// Records, with each run of the command path `command` (as the CLI
    /// names it: `"init"`, `"cache clean"`), the value its argument `arg`
    /// (the argument's id: a derived field's name) was given, split per
    /// value: `.record_value("init", "shell")` counts `init bash` and
    /// `init zsh` apart. Only for an argument with a closed set of values
    /// in the tree given to [`cli`](Self::cli) (a `ValueEnum`, or explicit
    /// possible values), of at most 32 values, each a lower-case word; and
    /// one argument per command. What is recorded is the name of the
    /// possible value, never the user's text. A declaration that breaks
    /// these rules records nothing: [`check_values`](Self::check_values)
    /// and [`check_contract`](Self::check_contract) fail on it, and
    /// `telemetry status` warns. The host's TELEMETRY.md lists each
    /// declared argument with its values.
    #[cfg(feature = "clap")]
    pub fn record_value(mut self, command: &str, arg: &str) -> Self {
        self.app
            .declared
            .values
            .push((command.trim().to_owned(), arg.to_owned()));
        self
    }

    /// Checks every [`record_value`](Self::record_value) declaration
    /// against the tree given to [`cli`](Self::cli): the first one that
    /// would never be recorded, with why. Call it from the host's own test
    /// ([`check_contract`](Self::check_contract) checks it too).
    #[cfg(feature = "clap")]
    pub fn check_values(&self) -> Result<(), crate::ValueError> {
        match self.app.declared.value_errors().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// How long the receiving end keeps what it gets, in words for the
    /// host's users (`"13 months, then deleted"`); the host's generated
    /// TELEMETRY.md states it (and, without it, says that the author has
    /// not).
    pub fn retention(mut self, words: &str) -> Self {
        self.app.declared.retention = Some(words.to_owned());
        self
    }

    /// Declares that this host records MCP tool calls and clients
    /// ([`record_tool_call`](crate::record_tool_call),
    /// [`record_client`](crate::record_client)), so its generated
    /// TELEMETRY.md describes them; a plain CLI leaves this off. Off, tool
    /// calls and clients recorded in the process are not sent: they are
    /// left out when the counts are appended, and `telemetry status` (its
    /// last error) and the debug mode say how many.
    pub fn tool_calls(mut self, sends: bool) -> Self {
        self.app.declared.tool_calls = sends;
        self
    }

    /// Declares that this host reports deployment facts
    /// ([`set_fact`](crate::set_fact)), so its generated TELEMETRY.md
    /// describes them. Off, facts set in the process are not sent.
    pub fn facts(mut self, sends: bool) -> Self {
        self.app.declared.facts = sends;
        self
    }

    /// The section of the host's TELEMETRY.md written for its users, from
    /// what was declared here and the tree given to [`cli`](Self::cli):
    /// whether telemetry is on by default and how to turn it off (the
    /// command, the environment variable, `DO_NOT_TRACK`, the
    /// administrator's file), where data goes and how long it is kept
    /// ([`retention`](Self::retention)), the commands it records and how
    /// exit codes become outcomes, and only the kinds of events this host
    /// sends ([`tool_calls`](Self::tool_calls), [`facts`](Self::facts)),
    /// each field in words. Between marker comments, like
    /// [`contract`](crate::contract). Fails without [`cli`](Self::cli).
    #[cfg(feature = "clap")]
    pub fn contract(&self) -> Result<String, crate::ContractError> {
        let (cli, app) = self.contract_parts()?;
        Ok(crate::host::contract::host_contract(&cli, &app))
    }

    /// Checks that `file` holds the current [`contract`](Self::contract)
    /// between its markers, and that every command path is recorded under
    /// a name the schema takes (see [`rename_command`](Self::rename_command)).
    /// Call it from the host's own test.
    #[cfg(feature = "clap")]
    pub fn check_contract(&self, file: &std::path::Path) -> Result<(), crate::ContractError> {
        self.check_values()
            .map_err(|e| crate::ContractError::new(e.to_string()))?;
        let (cli, app) = self.contract_parts()?;
        crate::host::contract::check_host(&cli, &app, file)
    }

    /// Writes the current [`contract`](Self::contract) into `file`:
    /// between the markers when they are there, appended otherwise.
    #[cfg(feature = "clap")]
    pub fn write_contract(&self, file: &std::path::Path) -> Result<(), crate::ContractError> {
        let (cli, app) = self.contract_parts()?;
        crate::host::contract::write_host(&cli, &app, file)
    }

    /// The tree and the application as a run would see them.
    #[cfg(feature = "clap")]
    fn contract_parts(&self) -> Result<(clap::Command, AppInfo), crate::ContractError> {
        let tree = self.tree.ok_or_else(|| {
            crate::ContractError::new(format!(
                "the builder of {} has no clap tree; call Builder::cli::<Cli>() before asking for its contract",
                self.app.name
            ))
        })?;
        let cli = tree();
        let mut app = self.app.clone();
        if let Some(c) = self
            .command
            .clone()
            .or_else(|| crate::host::tree::manage_name(&cli))
        {
            app.command = c;
        }
        let _ = crate::host::identity::normalize(&mut app);
        Ok((cli, app))
    }
}
