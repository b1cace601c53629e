//! What a host embeds: the builder and handle that resolve consent once at
//! start, and the `telemetry …` subcommands (status, on, off, …) a host
//! flattens into its own CLI.

pub mod args;
pub(crate) mod choice;
pub mod command;
#[cfg(feature = "clap")]
pub mod contract;
pub(crate) mod declare;
pub(crate) mod declared;
pub(crate) mod exit;
pub(crate) mod identity;
pub(crate) mod init;
pub(crate) mod otlp_status;
pub(crate) mod output;
#[cfg(feature = "clap")]
pub(crate) mod page;
#[cfg(feature = "rmcp")]
pub mod rmcp;
pub(crate) mod status;
pub mod status_api;
pub mod telemetry;
#[cfg(feature = "clap")]
pub(crate) mod telemetry_clap;
#[cfg(feature = "clap")]
pub mod tree;
#[cfg(feature = "clap")]
pub(crate) mod values;

#[cfg(test)]
mod builder_property;
