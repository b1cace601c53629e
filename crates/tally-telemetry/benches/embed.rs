//! What `Builder::cli::<Cli>()` adds to a host's start: building the clap
//! tree once more (`Cli::command()`) and re-deriving this run's subcommand
//! path from the arguments, for a host that parses with `Cli::parse()`;
//! beside it, clap's own `Cli::parse_from` of the same arguments.
//! Run: `cargo bench --bench embed`.

use std::ffi::OsString;

use clap::{CommandFactory, Parser, Subcommand};
use criterion::{Criterion, criterion_group, criterion_main};

#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(flatten)]
    telemetry: tally_telemetry::TelemetryArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Build {
        #[arg(long)]
        release: bool,
    },
    Deploy {
        #[arg(long)]
        env: String,
    },
    Cache {
        #[command(subcommand)]
        command: CacheCmd,
    },
    Telemetry {
        #[command(subcommand)]
        command: tally_telemetry::TelemetryCommand,
    },
}

#[derive(Subcommand)]
enum CacheCmd {
    Clean,
}

fn embed(c: &mut Criterion) {
    let args: Vec<OsString> = ["mytool", "deploy", "--env", "prod"]
        .iter()
        .map(OsString::from)
        .collect();
    let mut g = c.benchmark_group("embed");
    g.bench_function(
        "command() + get_matches_from (what a second parse costs)",
        |b| {
            b.iter(|| {
                let m = Cli::command().get_matches_from(std::hint::black_box(args.clone()));
                tally_telemetry::command_path(&m)
            })
        },
    );
    g.bench_function("clap parse_from (the host's own parse)", |b| {
        b.iter(|| Cli::parse_from(std::hint::black_box(args.clone())))
    });
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
