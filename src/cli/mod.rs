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
    if !matches!(cli.command, Command::Worker { .. }) {
        stop_quietly_on_a_closed_pipe();
    }
    let markdown = cli.output == OutputFormat::Markdown;
    if markdown && !matches!(cli.command, Command::Plan { .. }) {
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
        Command::Validate { specs } => offline::validate(specs, out),
        Command::Synth {
            specs,
            out: dir,
            format,
        } => offline::synth(specs, dir, *format, out),
        Command::Openapi {
            spec,
            bot,
            server,
            format,
        } => offline::openapi(spec, bot.as_deref(), server.as_deref(), *format),
        Command::Schema => offline::schema(),
        Command::Completions { shell } => offline::completions(*shell),
        Command::Man { dir } => offline::man(dir.as_deref()),
        Command::Worker {
            bot_id,
            http,
            model,
            concurrency,
            timeout,
            grace,
            max_requests,
            idle_exit,
            flush_interval,
            log_format,
            target,
            aws,
            command,
        } => block_on(worker::worker(
            worker::WorkerArgs {
                bot_id,
                http: http.as_deref(),
                bedrock: model.bedrock.as_deref(),
                agentcore: model
                    .agentcore
                    .as_deref()
                    .map(|arn| (arn, model.qualifier.as_deref())),
                openai: model.openai.as_deref().map(|base_url| worker::OpenAiArgs {
                    base_url,
                    model: model.model.as_deref().unwrap_or_default(),
                    api_key_env: model.api_key_env.as_deref(),
                }),
                model_options: worker::ModelArgs {
                    system: model.system.as_deref(),
                    system_file: model.system_file.as_deref(),
                    max_tokens: model.max_tokens,
                    max_history_tokens: model.max_history_tokens,
                },
                command,
                concurrency: *concurrency,
                timeout: *timeout,
                grace: *grace,
                max_requests: *max_requests,
                idle_exit: *idle_exit,
                flush_interval: *flush_interval,
                log_format: *log_format,
            },
            target,
            aws,
            out,
        )),
        Command::Ask {
            bot_id,
            message,
            key_env,
            key,
            timeout,
            conversation,
            no_stream,
            target,
            aws,
        } => block_on(worker::ask(
            worker::AskArgs {
                bot_id,
                message,
                key_env,
                key: key.as_deref(),
                timeout: *timeout,
                conversation: conversation.as_deref(),
                stream: !*no_stream,
            },
            target,
            aws,
            out,
        )),
        Command::Dlq {
            bot_id,
            redrive,
            yes,
            target,
            aws,
        } => block_on(worker::dlq(bot_id, *redrive, *yes, target, aws, out)),
        Command::Keys(command) => block_on(keys::run(command, out)),
        Command::Plan {
            specs,
            out: file,
            fleet,
            aws,
        } => block_on(deploy::plan(
            specs,
            file.as_ref(),
            fleet,
            aws,
            out,
            markdown,
        )),
        Command::Apply {
            plan,
            fleet,
            aws,
            wait,
        } => block_on(deploy::apply(plan, fleet, aws, wait, out)),
        Command::Publish {
            specs,
            yes,
            detach,
            remote: false,
            fleet,
            aws,
            wait,
        } => block_on(deploy::publish(specs, *yes, *detach, fleet, aws, wait, out)),
        Command::Publish {
            specs,
            yes,
            detach,
            remote: true,
            aws,
            wait,
            ..
        } => block_on(toolkit::publish_remote(
            specs, *yes, *detach, aws, wait, out,
        )),
        Command::Bootstrap {
            yes,
            binary,
            target,
            aws,
            wait,
        } => block_on(toolkit::bootstrap(
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
        } => block_on(deploy::watch(bot_id, target, aws, wait, out)),
        Command::Status {
            bot_id,
            target,
            aws,
        } => block_on(publication::status(bot_id, target, aws, out)),
        Command::List { aws } => block_on(publication::list(aws, out)),
        Command::Metrics {
            bot_id,
            since,
            period,
            target,
            aws,
        } => block_on(observe::metrics(bot_id, *since, *period, target, aws, out)),
        Command::Usage {
            bot_id,
            from,
            to,
            key,
            target,
            aws,
        } => block_on(observe::usage(
            bot_id,
            from.as_deref(),
            to.as_deref(),
            key.as_deref(),
            target,
            aws,
            out,
        )),
        Command::Unpublish {
            bot_id,
            yes,
            remove_domain,
            target,
            aws,
            wait,
        } => block_on(publication::unpublish(
            bot_id,
            *yes,
            *remove_domain,
            target,
            aws,
            wait,
            out,
        )),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            anstream::eprintln!("{}: {error:#}", terminal::paint(terminal::ERROR, "error"));
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
