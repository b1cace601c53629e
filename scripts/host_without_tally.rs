//! The scripts' minimal clap host without tally: the baseline that
//! weight.sh and callgrind.sh compare the README's host against.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the project
    Build,
    /// Deploy it
    Deploy {
        #[arg(long)]
        env: String,
    },
}

fn main() {
    match Cli::parse().command {
        Cmd::Build => println!("built"),
        Cmd::Deploy { env } => println!("deployed to {env}"),
    }
}
