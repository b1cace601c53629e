//! `tally report`: reads the store `tally serve` writes and prints tables
//! (or JSON with `--json`) to stdout, or writes one self-contained HTML page
//! with `--html FILE`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tally_telemetry::Env;
use tally_telemetry::schema::Timestamp;

use crate::report::{self, Query};
use crate::server::store::AnyStore;

/// `tally report` options.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Show only this application
    #[arg(long, value_name = "NAME", value_parser = super::run::app_name)]
    pub app: Option<String>,
    /// The SQLite store [default: <data dir>/tally/store.sqlite3]
    #[arg(long, value_name = "PATH", conflicts_with = "store")]
    pub db: Option<PathBuf>,
    /// The store as a URL: clickhouse://HOST:PORT/DATABASE (the aggregation runs inside
    /// ClickHouse) or sqlite:PATH; also read from TALLY_STORE
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Start of the window: a number of days back (`30d`) or a date (`2026-11-01`)
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// Rows backed by fewer distinct machines are folded into `other` (k-anonymity)
    #[arg(long, value_name = "K", default_value_t = report::DEFAULT_MIN_MACHINES)]
    pub min_machines: usize,
    /// Print machine-readable JSON
    #[arg(long)]
    pub json: bool,
    /// Write one self-contained HTML page (charts, changes against the previous period of
    /// the same length) to FILE, or to stdout with `-`
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub html: Option<PathBuf>,
}

/// Builds and prints the report; `app` (the global `--app NAME`) limits it
/// to one application.
pub fn run(
    args: &ReportArgs,
    app: Option<String>,
    env: &Env,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let at = super::serve::store_location(args.store.as_deref(), args.db.as_ref(), env)?;
    let today = Timestamp::now().date();
    let since = report::parse_since(&args.since, today)?;
    let store = AnyStore::open_read_only(&at)?;
    let q = Query {
        since,
        until: today,
        app,
        min_machines: args.min_machines.max(1),
    };
    let r = report::build(&store, &q)?;
    if let Some(path) = &args.html {
        // The same query over the window just before, for the changes.
        let prev = report::build(&store, &q.previous())?;
        let mut page = Vec::new();
        report::html::render(&r, Some(&prev), &mut page).context("rendering the HTML report")?;
        if path.as_os_str() == "-" {
            out.write_all(&page).context("writing the report")?;
        } else {
            std::fs::write(path, &page).with_context(|| {
                format!(
                    "writing the HTML report to {}: check that its directory exists and is writable",
                    path.display()
                )
            })?;
        }
    } else if args.json {
        let text = serde_json::to_string_pretty(&r).context("encoding the report")?;
        writeln!(out, "{text}").context("writing the report")?;
    } else {
        // Colour only for a person: not into a pipe, not under NO_COLOR.
        let color = env.non_empty("NO_COLOR").is_none()
            && std::io::IsTerminal::is_terminal(&std::io::stdout());
        report::render(&r, color, out).context("writing the report")?;
    }
    Ok(())
}
