//! Command-line arguments. Every command's `--help` carries an example.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "botpub",
    version,
    about = "Publish chatbots as standalone, rate-limited REST APIs on AWS",
    after_help = "Exit codes: 0 success, 1 error or invalid input, 2 plan has changes, 3 deployment failed and \
                  rolled back, 4 blocked (stack busy, stale plan, confirmation needed).\n\
                  Results go to stdout; diagnostics and progress go to stderr."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Output format of the command's result on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check spec files and report every problem with file, line, column and field path.
    #[command(
        after_help = "Example:\n  botpub validate examples/full.yaml\n  botpub validate --output json specs/*.yaml"
    )]
    Validate {
        /// Spec files (YAML).
        #[arg(required = true, value_name = "SPEC")]
        specs: Vec<PathBuf>,
    },

    /// Write the CloudFormation templates of spec files, one file per stack. Needs no AWS account.
    #[command(
        after_help = "Example:\n  botpub synth examples/quickstart.yaml -o out/\n  botpub synth examples/full.yaml --format yaml"
    )]
    Synth {
        /// Spec files (YAML).
        #[arg(required = true, value_name = "SPEC")]
        specs: Vec<PathBuf>,
        /// Directory for the templates and manifest.json (created if missing).
        #[arg(
            short = 'o',
            long = "out",
            value_name = "DIR",
            default_value = "botpub.out"
        )]
        out: PathBuf,
        /// Template format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },

    /// Print the JSON Schema of the spec format, for editor completion and checking.
    #[command(
        after_help = "Example:\n  botpub schema > botpub.schema.json\n  # then, in a spec file: # yaml-language-server: $schema=botpub.schema.json"
    )]
    Schema,
}
