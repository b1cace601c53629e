//! What a host declares about its own telemetry beyond its identity: the
//! exit codes whose outcome it decides (a search tool's "no match" is no
//! failure), the command paths it records under another name (a subcommand
//! named outside the schema would otherwise be dropped at every send), how
//! long its receiver keeps data, and which kinds of events beyond commands
//! it sends. The builder collects these; the exit-time count, `telemetry
//! status` and the host's generated TELEMETRY.md read them.

use crate::record::recorder::Counters;
use crate::schema::CommandOutcome;
use crate::schema::fields::Pattern;

/// The host's declarations, set through [`crate::Builder`].
#[derive(Clone, Debug, Default)]
pub struct Declared {
    /// Exit codes mapped to the outcome the host means by them; codes not
    /// listed follow [`CommandOutcome::from_exit_code`].
    pub exit_outcomes: Vec<(i32, CommandOutcome)>,
    /// `(as the CLI names it, as recorded)`: a command path, or its leading
    /// words, recorded under another name.
    pub renames: Vec<(String, String)>,
    /// How long the receiving end keeps what it gets, in the host's words.
    pub retention: Option<String>,
    /// `(command path as the CLI names it, argument id)`: the arguments
    /// whose closed-set value is recorded with the command's runs (see
    /// [`crate::host::values`]).
    #[cfg_attr(not(feature = "clap"), allow(dead_code))]
    pub values: Vec<(String, String)>,
    /// Whether the host records MCP tool calls and clients.
    pub tool_calls: bool,
    /// Whether the host reports allowlisted deployment facts.
    pub facts: bool,
    /// The host's clap tree, for `status` to find names that would be
    /// dropped.
    #[cfg(feature = "clap")]
    pub tree: Option<fn() -> clap::Command>,
}

impl Declared {
    /// The outcome the exit code `code` means for this host.
    pub fn outcome(&self, code: i32) -> CommandOutcome {
        self.exit_outcomes
            .iter()
            .rev()
            .find(|(c, _)| *c == code)
            .map_or_else(|| CommandOutcome::from_exit_code(code), |(_, o)| *o)
    }

    /// The name `path` is recorded under: the last declared rename whose
    /// source is the whole path or its leading words, else `path` itself.
    pub fn recorded_as(&self, path: &str) -> String {
        for (from, to) in self.renames.iter().rev() {
            if path == from {
                return to.clone();
            }
            if let Some(rest) = path
                .strip_prefix(from.as_str())
                .filter(|r| r.starts_with(' '))
            {
                return format!("{to}{rest}");
            }
        }
        path.to_owned()
    }

    /// Of the command paths `paths` (as the CLI names them), those whose
    /// recorded name the schema refuses, each with that name: every run of
    /// one would be sent only as a `dropped` count.
    #[cfg_attr(not(feature = "clap"), allow(dead_code))]
    pub fn dropped<'a>(&self, paths: &'a [String]) -> Vec<(&'a str, String)> {
        paths
            .iter()
            .map(|p| (p.as_str(), self.recorded_as(p)))
            .filter(|(_, as_)| !Pattern::CommandPath.matches(as_))
            .collect()
    }

    /// Takes out of `c` the kinds of events this host did not declare
    /// (tool calls and clients without [`crate::Builder::tool_calls`],
    /// facts without [`crate::Builder::facts`]), so that what is sent never
    /// goes beyond the TELEMETRY.md generated from the declarations. Says
    /// what was left out, for `telemetry status` and the debug mode.
    pub fn strip_undeclared(&self, c: &mut Counters) -> Option<String> {
        let mut left_out = Vec::new();
        if !self.tool_calls {
            let calls: u64 = c
                .tools
                .values()
                .flat_map(|slots| slots.iter().map(|s| s.count))
                .sum();
            let sessions: u64 = c.clients.values().sum();
            if calls > 0 {
                left_out.push(format!("{calls} MCP tool call(s)"));
            }
            if sessions > 0 {
                left_out.push(format!("{sessions} MCP client session(s)"));
            }
            c.tools.clear();
            c.clients.clear();
        }
        if !self.facts && !c.facts.is_empty() {
            left_out.push(format!("{} fact(s)", c.facts.len()));
            c.facts.clear();
        }
        if left_out.is_empty() {
            return None;
        }
        let mut how = Vec::new();
        if !self.tool_calls {
            how.push("Builder::tool_calls(true)");
        }
        if !self.facts {
            how.push("Builder::facts(true)");
        }
        Some(format!(
            "not recorded: {}; the application did not declare them ({}), so its TELEMETRY.md does not describe them",
            left_out.join(", "),
            how.join(" / ")
        ))
    }

    /// What is wrong with the declared values (see
    /// [`crate::host::values::check`]); builds the tree only when a value
    /// was declared.
    #[cfg(feature = "clap")]
    pub fn value_errors(&self) -> Vec<crate::host::values::ValueError> {
        if self.values.is_empty() {
            return Vec::new();
        }
        let tree = self.tree.map(|t| t());
        crate::host::values::check(tree.as_ref(), &self.values)
    }

    /// The host's command paths whose recorded names the schema refuses
    /// (see [`dropped`](Self::dropped)), from the tree given to
    /// [`crate::Builder::cli`]; empty without one.
    #[cfg(feature = "clap")]
    pub fn dropped_paths(&self, manage: &str) -> Vec<(String, String)> {
        let Some(tree) = self.tree else {
            return Vec::new();
        };
        let paths = crate::host::tree::recordable_paths(&tree(), Some(manage));
        self.dropped(&paths)
            .into_iter()
            .map(|(p, n)| (p.to_owned(), n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Counters {
        let mut c = Counters::default();
        let mut slots = Default::default();
        for s in &mut slots {
            let s: &mut crate::record::recorder::CallStats = s;
            s.count = 1;
        }
        c.tools.insert("search".into(), slots);
        c.clients.insert(("claude-code", Some(1)), 1);
        c.facts.insert("auth_type", "oidc".into());
        c
    }

    #[test]
    fn undeclared_tool_calls_clients_and_facts_are_left_out_and_said() {
        let mut c = recorded();
        let why = Declared::default().strip_undeclared(&mut c).unwrap();
        assert!(c.is_empty(), "{c:?}");
        assert!(
            why.contains("MCP tool call(s), 1 MCP client session(s), 1 fact(s)"),
            "{why}"
        );
        assert!(why.contains("Builder::tool_calls(true)") && why.contains("Builder::facts(true)"));
        let mut c = recorded();
        let d = Declared {
            tool_calls: true,
            ..Default::default()
        };
        let why = d.strip_undeclared(&mut c).unwrap();
        assert_eq!((c.tools.len(), c.clients.len(), c.facts.len()), (1, 1, 0));
        assert!(!why.contains("tool_calls"), "{why}");
        let mut c = recorded();
        let d = Declared {
            tool_calls: true,
            facts: true,
            ..Default::default()
        };
        assert_eq!(d.strip_undeclared(&mut c), None);
        assert_eq!((c.tools.len(), c.clients.len(), c.facts.len()), (1, 1, 1));
    }

    #[test]
    fn a_declared_exit_code_keeps_its_outcome_and_others_follow_the_convention() {
        let d = Declared {
            exit_outcomes: vec![(1, CommandOutcome::Success)],
            ..Declared::default()
        };
        assert_eq!(d.outcome(1), CommandOutcome::Success);
        assert_eq!(d.outcome(0), CommandOutcome::Success);
        assert_eq!(d.outcome(2), CommandOutcome::UsageError);
        assert_eq!(d.outcome(3), CommandOutcome::Failure);
    }

    #[test]
    fn a_rename_applies_to_the_path_and_the_paths_under_it_only() {
        let d = Declared {
            renames: vec![("Sync.Now".into(), "sync-now".into())],
            ..Declared::default()
        };
        assert_eq!(d.recorded_as("Sync.Now"), "sync-now");
        assert_eq!(d.recorded_as("Sync.Now all"), "sync-now all");
        assert_eq!(d.recorded_as("Sync.Nowhere"), "Sync.Nowhere");
        let paths = vec!["Sync.Now".to_owned(), "Other.Thing".to_owned()];
        assert_eq!(
            d.dropped(&paths),
            vec![("Other.Thing", "Other.Thing".to_owned())]
        );
    }
}
