//! The `botpub` command: argument parsing and dispatch. The work happens in the library.

mod cli;
mod key_commands;
mod offline;
mod online;
mod toolkit_commands;

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use cli::Command;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let out = cli.output;
    let result = match &cli.command {
        Command::Validate { specs } => offline::validate(specs, out),
        Command::Synth {
            specs,
            out: dir,
            format,
        } => offline::synth(specs, dir, *format, out),
        Command::Schema => offline::schema(),
        Command::Keys(command) => block_on(key_commands::run(command, out)),
        Command::Plan {
            specs,
            out: file,
            fleet,
            aws,
        } => block_on(online::plan(specs, file.as_ref(), fleet, aws, out)),
        Command::Apply {
            plan,
            fleet,
            aws,
            wait,
        } => block_on(online::apply(plan, fleet, aws, wait, out)),
        Command::Publish {
            specs,
            yes,
            detach,
            remote: false,
            fleet,
            aws,
            wait,
        } => block_on(online::publish(specs, *yes, *detach, fleet, aws, wait, out)),
        Command::Publish {
            specs,
            yes,
            detach,
            remote: true,
            aws,
            wait,
            ..
        } => block_on(toolkit_commands::publish_remote(
            specs, *yes, *detach, aws, wait, out,
        )),
        Command::Bootstrap {
            yes,
            binary,
            target,
            aws,
            wait,
        } => block_on(toolkit_commands::bootstrap(
            *yes,
            binary.as_deref(),
            target,
            aws,
            wait,
            out,
        )),
        Command::Watch {
            bot_id,
            target,
            aws,
            wait,
        } => block_on(online::watch(bot_id, target, aws, wait, out)),
        Command::Status {
            bot_id,
            target,
            aws,
        } => block_on(online::status(bot_id, target, aws, out)),
        Command::List { aws } => block_on(online::list(aws, out)),
        Command::Unpublish {
            bot_id,
            yes,
            target,
            aws,
            wait,
        } => block_on(online::unpublish(bot_id, *yes, target, aws, wait, out)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(botpub::outcome::exit_code(&error))
        }
    }
}

/// AWS commands run on a single-threaded runtime: their work is waiting, and one thread starts fastest.
fn block_on(future: impl Future<Output = anyhow::Result<u8>>) -> anyhow::Result<u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            botpub::events::catch_signals();
            future.await
        })
}
