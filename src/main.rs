//! The `botpub` command: argument parsing and dispatch. The work happens in the library.

mod cli;
mod offline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Validate { specs } => offline::validate(specs, cli.output),
        cli::Command::Synth { specs, out, format } => {
            offline::synth(specs, out, *format, cli.output)
        }
        cli::Command::Schema => offline::schema(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
