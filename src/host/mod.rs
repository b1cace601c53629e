//! What a host embeds: the builder and handle that resolve consent once at
//! start, and the `telemetry …` subcommands (status, on, off, …) a host
//! flattens into its own CLI.

pub mod command;
pub(crate) mod output;
pub(crate) mod status;
pub mod status_api;
pub mod telemetry;
