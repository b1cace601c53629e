//! `tally report`: what the store says, for a window of days and optionally
//! one application, with k-anonymity applied before anything is shown, as
//! text for people or JSON for scripts.

pub mod build;
pub mod clickhouse;
pub mod html;
pub mod kanon;
pub mod model;
pub mod sqlite;
pub mod tables;
pub mod text;

pub use build::*;
pub use model::*;
pub use tables::*;
pub use text::render;
