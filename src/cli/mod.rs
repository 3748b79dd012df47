//! The command line: arguments ([`args`]), dispatch, and one file per command family that does the work
//! through the library and renders its result as text or JSON.
//!
//! Output: a command's result goes to stdout (exactly one JSON document with `--output json`); progress,
//! prompts and diagnostics go to stderr. The library never prints results; this layer never calls AWS
//! except through the library.

mod args;
mod deploy;
mod keys;
mod observe;
mod offline;
mod publication;
mod setup;
mod toolkit;
mod worker;

use std::future::Future;
use std::process::ExitCode;

use args::{Cli, Command, Output, OutputFormat};
use botpub::terminal;
use clap::{CommandFactory, Parser};

/// Runs the command given on the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    terminal::set_color(cli.color.into());
    if !matches!(cli.command, Command::Worker(_)) {
        stop_quietly_on_a_closed_pipe();
    }
    let markdown = cli.output == OutputFormat::Markdown;
    if markdown && !matches!(cli.command, Command::Plan(_)) {
        return usage_error(Cli::command().error(
            clap::error::ErrorKind::InvalidValue,
            "--output markdown is for `botpub plan`; other commands write text or json",
        ));
    }
    let out = match cli.output {
        OutputFormat::Json => Output::Json,
        OutputFormat::Text | OutputFormat::Markdown => Output::Text,
    };
    let result = match &cli.command {
        Command::Validate(args) => offline::validate(args, out),
        Command::Synth(args) => offline::synth(args, out),
        Command::Openapi(args) => offline::openapi(args),
        Command::Schema => offline::schema(),
        Command::Completions(args) => offline::completions(args),
        Command::Man(args) => offline::man(args),
        Command::Worker(args) => block_on(worker::worker(args, out)),
        Command::Ask(args) => block_on(worker::ask(args, out)),
        Command::Dlq(args) => block_on(worker::dlq(args, out)),
        Command::Keys(command) => block_on(keys::run(command, out)),
        Command::Plan(args) => block_on(deploy::plan(args, out, markdown)),
        Command::Apply(args) => block_on(deploy::apply(args, out)),
        Command::Publish(args) if args.remote => block_on(toolkit::publish_remote(args, out)),
        Command::Publish(args) => block_on(deploy::publish(args, out)),
        Command::Bootstrap(args) => block_on(toolkit::bootstrap(args, out)),
        Command::Watch(args) => block_on(deploy::watch(args, out)),
        Command::Status(args) => block_on(publication::status(args, out)),
        Command::List(args) => block_on(publication::list(args, out)),
        Command::Metrics(args) => block_on(observe::metrics(args, out)),
        Command::Usage(args) => block_on(observe::usage(args, out)),
        Command::Unpublish(args) => block_on(publication::unpublish(args, out)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let follow = setup::how_to_follow(&error).unwrap_or_default();
            anstream::eprintln!(
                "{}: {error:#}{follow}",
                terminal::paint(terminal::ERROR, "error")
            );
            ExitCode::from(botpub::outcome::exit_code(&error))
        }
    }
}

/// clap's message, unchanged, with exit 1 for a mistake: clap's own code for it, 2, is `plan`'s "there
/// are changes", which a pipeline must never read from a typo. `--help` and `--version` exit 0.
fn usage_error(error: clap::Error) -> ExitCode {
    let _ = error.print();
    match error.use_stderr() {
        true => ExitCode::from(botpub::outcome::ERROR),
        false => ExitCode::SUCCESS,
    }
}

/// `botpub schema | head -1`: when the reader goes away, end as Unix tools do (killed by SIGPIPE, silently)
/// rather than with a panic about a broken pipe. Not for the worker, whose log may be piped: it keeps
/// going and finishes its requests.
fn stop_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE before any thread starts has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// AWS commands run on a single-threaded runtime: their work is waiting, and one thread starts fastest.
fn block_on(future: impl Future<Output = anyhow::Result<u8>>) -> anyhow::Result<u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            botpub::signals::catch_signals();
            future.await
        })
}
