//! The integration tests: one test binary that runs the built `tally`
//! binary and the example host in isolated HOME/XDG sandboxes.

mod support;

mod consent;
mod delivery;
mod generated;
mod hostile;
mod off;
mod privacy;
mod prompt;
mod receiver;
mod stress;
