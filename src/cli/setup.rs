//! What every AWS command does first: read and check the specs, connect, make the run that carries the
//! connection and the display, and ask for confirmation when a command changes something.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use botpub::aws::{self, Aws};
use botpub::cloudformation::deploy::Run;
use botpub::cloudformation::events::Patience;
use botpub::cloudformation::progress::{Mode, Progress};
use botpub::outcome::{Blocked, Interrupted};
use botpub::spec;
use botpub::synth::{self, Stack};

use super::args::{AwsArgs, Output, ProgressArg, WaitArgs};

/// Validated specs and their stacks, with the region and prefix they share.
pub struct Loaded {
    pub stacks: Vec<Stack>,
    pub region: Option<String>,
    pub prefix: String,
}

/// Reads and validates specs (printing every diagnostic) and synthesizes their stacks.
pub fn load(paths: &[PathBuf], output: Output, args: &AwsArgs) -> anyhow::Result<Option<Loaded>> {
    let checked = spec::check_files(paths);
    anstream::eprint!("{}", checked.render());
    if checked.has_errors() {
        if output == Output::Json {
            println!("{}", super::offline::diagnostics_json(&checked));
        }
        return Ok(None);
    }
    let specs = checked.specs;
    let regions: Vec<Option<&String>> = specs.iter().map(|s| s.region.as_ref()).collect();
    let region = regions.first().copied().flatten();
    if regions.iter().any(|r| *r != regions[0])
        || specs
            .iter()
            .any(|s| s.stack_prefix != specs[0].stack_prefix)
    {
        anyhow::bail!(
            "the specs of one run must share `region` and `stack_prefix`; publish them in separate runs"
        );
    }
    if let (Some(spec_region), Some(flag)) = (region, &args.region)
        && spec_region != flag
    {
        anyhow::bail!(
            "the spec says region {spec_region} but --region says {flag}; remove one of them"
        );
    }
    let mut stacks = Vec::new();
    for spec in &specs {
        stacks.extend(synth::synthesize(spec)?);
    }
    // The shared stacks deploy first: bot stacks import the firewall's web ACL and their domain's name.
    stacks.sort_by_key(Stack::deploy_order);
    Ok(Some(Loaded {
        region: region.cloned().or_else(|| args.region.clone()),
        prefix: specs[0].stack_prefix.clone(),
        stacks,
    }))
}

pub async fn connect(args: &AwsArgs, region: Option<String>) -> anyhow::Result<Aws> {
    Aws::connect(&aws::Options {
        region: region.or_else(|| args.region.clone()),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        verbose: args.verbose,
    })
    .await
}

/// A run: the connection, the display for waiting, the timeout and the stack prefix. Its prefix and region
/// are also where [`how_to_follow`] looks: a command has one run.
pub async fn start(
    args: &AwsArgs,
    region: Option<String>,
    wait: Option<&WaitArgs>,
    output: Output,
    prefix: &str,
) -> anyhow::Result<Run> {
    let aws = connect(args, region).await?;
    let _ = RUN_PLACE.set((prefix.to_string(), aws.region.clone()));
    Ok(Run::new(
        aws,
        progress(wait, output),
        wait.map_or_else(Patience::default, |w| Patience {
            timeout: w.timeout,
            lost_contact: w.lost_contact,
        }),
        prefix,
    ))
}

/// The prefix and region of this command's run, once it has one.
static RUN_PLACE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// `botpub watch` for a stack of `run`'s prefix and region: the command that re-attaches to its operation
/// (the default prefix is spelled out only when it is not implied).
pub fn watch_command(run: &Run, stack_name: &str) -> String {
    watch(&run.prefix, &run.aws.region, stack_name)
}

fn watch(prefix: &str, region: &str, stack_name: &str) -> String {
    let id = stack_name
        .strip_prefix(&format!("{prefix}-"))
        .unwrap_or(stack_name);
    let prefix_flag = if prefix == botpub::spec::model::DEFAULT_PREFIX {
        String::new()
    } else {
        format!(" --prefix {prefix}")
    };
    format!("botpub watch {id}{prefix_flag} --region {region}")
}

/// How to follow the stack an error names as going on in AWS (see [`botpub::outcome::stack_to_follow`]),
/// as the end of its message.
pub fn how_to_follow(error: &anyhow::Error) -> Option<String> {
    let stack = botpub::outcome::stack_to_follow(error)?;
    let (prefix, region) = RUN_PLACE.get()?;
    Some(follow_it_with(&watch(prefix, region, stack)))
}

/// The end of a message about something that goes on in AWS.
pub fn follow_it_with(command: &str) -> String {
    format!("; follow it with `{command}`")
}

fn progress(wait: Option<&WaitArgs>, output: Output) -> Progress {
    Progress::new(match wait.map(|w| w.progress) {
        Some(ProgressArg::Bar) => Mode::Bar,
        Some(ProgressArg::Events) => Mode::Events,
        Some(ProgressArg::None) => Mode::None,
        Some(ProgressArg::Auto) | None if output == Output::Json => Mode::Events,
        Some(ProgressArg::Auto) | None => Mode::auto(),
    })
}

/// Asks on the terminal; without one, refuses and says to pass `--yes`. Ctrl-C (or SIGTERM) at the
/// question is a "no" that ends the command: the caller removes what it prepared, and exits 130 (143).
pub async fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Blocked(
            "confirmation needed, and there is no terminal to ask on: pass --yes to proceed".into(),
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    // The read blocks, so it runs on a thread of its own, which the process leaves behind on a signal.
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = sender.send(std::io::stdin().lock().read_line(&mut line).map(|_| line));
    });
    tokio::select! {
        answer = answer => {
            let answer = answer.map_err(|_| anyhow::anyhow!("reading the answer failed"))??;
            Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
        }
        (signal, code) = botpub::signals::signalled() => {
            eprintln!();
            Err(Interrupted { signal, code, message: "not confirmed; nothing was changed".into() , follow: None }.into())
        }
    }
}
