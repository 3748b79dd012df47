//! The commands that talk to AWS: plan, apply, publish, watch, status, list, unpublish.
//!
//! Output: the command's result goes to stdout (the plan, the published endpoints, the status; exactly one
//! JSON document with `--output json`); progress, prompts and diagnostics go to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use botpub::aws::{self, Aws};
use botpub::deploy::{self, Applied, Published, Run, Watched};
use botpub::outcome::{self, Blocked, DeploymentFailed, Interrupted};
use botpub::plan::Plan;
use botpub::progress::{Mode, Progress};
use botpub::spec;
use botpub::synth::{self, Stack};
use botpub::{remote, stack, status, toolkit, unpublish};
use serde_json::json;

use crate::cli::{AwsArgs, FleetArgs, Output, ProgressArg, Target, WaitArgs};

/// Validated specs and their stacks, with the region and prefix they share.
pub struct Loaded {
    pub stacks: Vec<Stack>,
    pub region: Option<String>,
    pub prefix: String,
}

/// Reads and validates specs (printing every diagnostic) and synthesizes their stacks.
pub fn load(paths: &[PathBuf], output: Output, args: &AwsArgs) -> anyhow::Result<Option<Loaded>> {
    let checked = spec::check_files(paths);
    eprint!("{}", checked.render());
    if checked.has_errors() {
        if output == Output::Json {
            println!(
                "{}",
                json!({"valid": false, "diagnostics": checked.diagnostics})
            );
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
    // The shared firewall deploys first: bot stacks import its web ACL.
    stacks.sort_by_key(|s| s.kind != synth::StackKind::Firewall);
    Ok(Some(Loaded {
        region: region.cloned().or_else(|| args.region.clone()),
        prefix: specs[0].stack_prefix.clone(),
        stacks,
    }))
}

async fn connect(args: &AwsArgs, region: Option<String>) -> anyhow::Result<Aws> {
    Aws::connect(&aws::Options {
        region: region.or_else(|| args.region.clone()),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        verbose: args.verbose,
    })
    .await
}

/// A run: the connection, the display for waiting, the timeout and the stack prefix for hints.
pub async fn start(
    args: &AwsArgs,
    region: Option<String>,
    wait: Option<&WaitArgs>,
    output: Output,
    prefix: &str,
) -> anyhow::Result<Run> {
    let aws = connect(args, region).await?;
    Ok(Run::new(
        aws,
        progress(wait, output),
        wait.and_then(|w| w.timeout),
        prefix,
    ))
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
        (signal, code) = botpub::events::signalled() => {
            eprintln!();
            Err(Interrupted { signal, code, message: "not confirmed; nothing was changed".into() }.into())
        }
    }
}

pub async fn plan(
    specs: &[PathBuf],
    out: Option<&PathBuf>,
    fleet: &FleetArgs,
    args: &AwsArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let Some(loaded) = load(specs, output, args)? else {
        return Ok(outcome::ERROR);
    };
    let mut run = start(args, loaded.region, None, output, &loaded.prefix).await?;
    run.concurrency = fleet.concurrency.into();
    run.saved_plan = out.is_some();
    let plan = run.plan(specs, &loaded.stacks).await?;
    match out {
        Some(path) => plan.save(path)?,
        // Without a plan file nobody can apply these change sets: leave nothing behind.
        None => run.discard(&plan).await?,
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"changes": plan.has_changes(), "plan": plan}))?
        ),
        Output::Text => {
            println!("{}", plan.render());
            if let Some(path) = out {
                println!(
                    "Saved to {}; apply it with `botpub apply {}`.",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    Ok(if plan.has_changes() {
        outcome::CHANGES
    } else {
        outcome::OK
    })
}

pub async fn apply(
    path: &Path,
    fleet: &FleetArgs,
    args: &AwsArgs,
    wait: &WaitArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let plan = Plan::load(path)?;
    let Some(loaded) = load(&plan.specs, output, args)? else {
        return Err(Blocked(format!(
            "stale plan: its spec files no longer validate; run `botpub plan` again ({})",
            path.display()
        ))
        .into());
    };
    let plan_region = plan.stacks.first().map(|s| s.region.clone());
    let mut run = start(
        args,
        plan_region.or(loaded.region),
        Some(wait),
        output,
        &loaded.prefix,
    )
    .await?;
    run.concurrency = fleet.concurrency.into();
    run.ensure_current(&plan, &loaded.stacks).await?;
    let applied = run.apply(&plan, &loaded.stacks, false).await?;
    report(&run, &applied, output, plan.has_changes()).await?;
    deploy::failures(&applied)?;
    Ok(outcome::OK)
}

pub async fn publish(
    specs: &[PathBuf],
    yes: bool,
    detach: bool,
    fleet: &FleetArgs,
    args: &AwsArgs,
    wait: &WaitArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let Some(loaded) = load(specs, output, args)? else {
        return Ok(outcome::ERROR);
    };
    let mut run = start(args, loaded.region, Some(wait), output, &loaded.prefix).await?;
    run.concurrency = fleet.concurrency.into();
    let plan = run.plan(specs, &loaded.stacks).await?;
    eprintln!("{}\n", plan.render());
    if !plan.has_changes() {
        report(&run, &[], output, false).await?;
        return Ok(outcome::OK);
    }
    let confirmed = confirm("Publish these changes?", yes).await;
    if !matches!(confirmed, Ok(true)) {
        run.discard(&plan).await?;
        confirmed?;
        return Err(Blocked("not confirmed; nothing was published".into()).into());
    }
    let applied = run.apply(&plan, &loaded.stacks, detach).await?;
    report(&run, &applied, output, true).await?;
    deploy::failures(&applied)?;
    Ok(outcome::OK)
}

/// Prints what each bot offers its clients now; failures are reported (root cause first) by the caller's error.
async fn report(
    run: &Run,
    applied: &[Applied],
    output: Output,
    changes: bool,
) -> anyhow::Result<()> {
    let mut stacks = Vec::new();
    for result in applied {
        // Best effort: the outcome is known already, and an unreadable endpoint must not replace it.
        let published = match &result.bot_id {
            Some(id) if ["created", "updated", "unchanged"].contains(&result.result.as_str()) => {
                deploy::published(&run.aws, &result.stack_name, id)
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        stacks.push((result, published));
    }
    match output {
        Output::Json => {
            let stacks: Vec<_> = stacks
                .iter()
                .map(|(r, p)| {
                    json!({
                        "stack_name": r.stack_name, "bot_id": r.bot_id, "result": r.result, "status": r.status,
                        "failure": r.failure,
                        "endpoint": p.as_ref().and_then(|p| p.endpoint.clone()),
                        "stage": p.as_ref().and_then(|p| p.stage.clone()),
                        "default_key_id": p.as_ref().and_then(|p| p.default_key_id.clone()),
                        "queue_url": p.as_ref().and_then(|p| p.queue_url.clone()),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"changes": changes, "stacks": stacks}))?
            );
        }
        Output::Text => {
            if !changes {
                println!("No changes: everything is published as the specs say.");
            }
            for (result, published) in stacks {
                let status = result.status.as_deref().unwrap_or("");
                println!("{}: {} {status}", result.stack_name, result.result);
                if let Some(p) = published {
                    print_published(&p);
                }
            }
        }
    }
    Ok(())
}

/// What clients of a published bot need, one field per line.
pub fn print_published(p: &Published) {
    let dash = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
    println!("  endpoint:        {}", dash(&p.endpoint));
    println!("  stage:           {}", dash(&p.stage));
    println!("  default key id:  {}", dash(&p.default_key_id));
    println!("  queue:           {}", dash(&p.queue_url));
}

pub async fn watch(
    bot_id: &str,
    target: &Target,
    args: &AwsArgs,
    wait: &WaitArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let run = start(args, None, Some(wait), output, &target.prefix).await?;
    let stack_name = format!("{}-{bot_id}", target.prefix);
    follow_remote_build(&run, bot_id, &stack_name, &target.prefix, output).await?;
    let (status, failure) = match run.watch(&stack_name).await? {
        Watched::NotPublished => {
            return not_published(bot_id, &stack_name, &run.aws.region, output);
        }
        Watched::Idle(status) => {
            eprintln!("{stack_name} is {status}; nothing is in progress");
            (status, None)
        }
        Watched::Finished(finished) => {
            let ok = matches!(
                finished.status.as_str(),
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE"
            );
            let failure = (!ok).then(|| deploy::describe_failure(&stack_name, "update", &finished));
            (finished.status, failure)
        }
    };
    match output {
        Output::Json => println!(
            "{}",
            json!({"stack_name": stack_name, "status": status, "failure": failure})
        ),
        Output::Text => println!("{stack_name}: {status}"),
    }
    match failure {
        Some(failure) => Err(DeploymentFailed(failure).into()),
        None => Ok(outcome::OK),
    }
}

/// The remote half of `watch`: a bot's latest remote build, followed while it runs. A build that failed
/// after the stack last changed is the bot's latest operation, and so is what `watch` reports.
async fn follow_remote_build(
    run: &Run,
    bot_id: &str,
    stack_name: &str,
    prefix: &str,
    output: Output,
) -> anyhow::Result<()> {
    let Some(toolkit) = toolkit::find(&run.aws, prefix).await? else {
        return Ok(());
    };
    let Some((record, Some(mut build))) = remote::latest(&run.aws, &toolkit, bot_id).await? else {
        return Ok(());
    };
    if build.in_progress() {
        let hint = run.watch_hint(stack_name);
        run.progress.say(&format!(
            "{bot_id}: remote build {} in progress; waiting",
            build.id
        ));
        build = remote::follow(run, &record.build_id, &[stack_name.to_string()], &hint).await?;
    }
    let updated = stack::describe(&run.aws, stack_name)
        .await?
        .and_then(|s| s.last_updated);
    let latest = match (build.start_time, updated) {
        (Some(started), Some(updated)) => started > updated,
        _ => true,
    };
    if build.failed() && latest {
        if output == Output::Json {
            println!(
                "{}",
                json!({"stack_name": stack_name, "codebuild_id": build.id, "codebuild_status": build.status, "failure": build.failure_report()})
            );
        }
        return Err(DeploymentFailed(build.failure_report()).into());
    }
    Ok(())
}

fn not_published(
    bot_id: &str,
    stack_name: &str,
    region: &str,
    output: Output,
) -> anyhow::Result<u8> {
    match output {
        Output::Json => println!("{}", json!({"bot_id": bot_id, "published": false})),
        Output::Text => {
            eprintln!("{bot_id} is not published (there is no stack {stack_name} in {region})")
        }
    }
    Ok(outcome::ERROR)
}

pub async fn status(
    bot_id: &str,
    target: &Target,
    args: &AwsArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let aws = connect(args, None).await?;
    let stack_name = format!("{}-{bot_id}", target.prefix);
    let (publication, build) = futures::join!(
        status::publication(&aws, &stack_name, bot_id),
        latest_build(&aws, &target.prefix, bot_id)
    );
    let publication = publication?;
    // The remote build is extra information: a role that cannot read the toolkit still gets the status.
    let build = build.unwrap_or_else(|error| {
        eprintln!("warning: cannot read {bot_id}'s latest remote build: {error:#}");
        None
    });
    let Some(mut p) = publication else {
        if let Some((id, status)) = build {
            let status = status.as_deref().unwrap_or("unknown");
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"bot_id": bot_id, "published": false, "codebuild_id": id, "codebuild_status": status})
                ),
                Output::Text => eprintln!(
                    "{bot_id} is not published (there is no stack {stack_name} in {}); its latest remote build {id} is {status}",
                    aws.region
                ),
            }
            return Ok(outcome::ERROR);
        }
        return not_published(bot_id, &stack_name, &aws.region, output);
    };
    if let Some((id, status)) = build {
        p.codebuild_id = Some(id);
        p.codebuild_status = status;
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&p)?),
        Output::Text => {
            let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
            println!(
                "{}: published ({}, last updated {})",
                p.bot_id,
                p.cfn_status,
                dash(p.last_updated.as_deref())
            );
            println!("  stack:           {}", p.stack_name);
            println!("  endpoint:        {}", dash(p.endpoint.as_deref()));
            println!("  stage:           {}", dash(p.stage.as_deref()));
            if let Some(t) = &p.throttle {
                println!(
                    "  throttle:        {} requests/s, burst {}",
                    t.rate_limit, t.burst_limit
                );
            }
            match &p.quota {
                Some(q) => println!(
                    "  quota:           {} per {} (offset {})",
                    q.limit, q.period, q.offset
                ),
                None => println!("  quota:           none"),
            }
            println!("  allowed origins: {}", p.allowed_origins.join(", "));
            println!("  api key ids:     {}", p.api_key_ids.join(", "));
            println!("  queue:           {}", dash(p.queue_url.as_deref()));
            match (&p.codebuild_id, &p.codebuild_status) {
                (Some(id), status) => println!(
                    "  remote build:    {id} {}",
                    status
                        .as_deref()
                        .unwrap_or("(no longer known to CodeBuild)")
                ),
                (None, _) => println!("  remote build:    -"),
            }
        }
    }
    Ok(outcome::OK)
}

/// The id and status of a bot's latest remote build, when it was ever published remotely.
async fn latest_build(
    aws: &Aws,
    prefix: &str,
    bot_id: &str,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    let Some(toolkit) = toolkit::find(aws, prefix).await? else {
        return Ok(None);
    };
    Ok(remote::latest(aws, &toolkit, bot_id)
        .await?
        .map(|(record, state)| (record.build_id, state.map(|s| s.status))))
}

pub async fn list(args: &AwsArgs, output: Output) -> anyhow::Result<u8> {
    let aws = connect(args, None).await?;
    let listed = status::list(&aws).await?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"region": aws.region, "bots": listed}))?
        ),
        Output::Text if listed.is_empty() => println!("No bots are published in {}.", aws.region),
        Output::Text => {
            println!(
                "{:<28} {:<28} {:<22} STACK",
                "BOT", "STATUS", "LAST UPDATED"
            );
            for bot in listed {
                let updated = bot.last_updated.as_deref().unwrap_or("-");
                println!(
                    "{:<28} {:<28} {:<22} {}",
                    bot.bot_id, bot.cfn_status, updated, bot.stack_name
                );
            }
        }
    }
    Ok(outcome::OK)
}

pub async fn unpublish(
    bot_id: &str,
    yes: bool,
    target: &Target,
    args: &AwsArgs,
    wait: &WaitArgs,
    output: Output,
) -> anyhow::Result<u8> {
    let run = start(args, None, Some(wait), output, &target.prefix).await?;
    let stack_name = format!("{}-{bot_id}", target.prefix);
    let Some(described) = stack::describe(&run.aws, &stack_name).await? else {
        match output {
            Output::Json => println!(
                "{}",
                json!({"bot_id": bot_id, "published": false, "unpublished": false})
            ),
            Output::Text => println!(
                "{bot_id} is not published in {}; nothing to do",
                run.aws.region
            ),
        }
        return Ok(outcome::OK);
    };
    unpublish::ensure_removable(&described, &run.watch_hint(&stack_name))?;
    let endpoint = described.output("Endpoint").unwrap_or("(none)");
    eprintln!(
        "Unpublishing {bot_id} deletes stack {stack_name}, its endpoint {endpoint}, every API key on its usage plan, its queues and its results."
    );
    if !confirm("Unpublish?", yes).await? {
        return Err(Blocked("not confirmed; nothing was removed".into()).into());
    }
    let done = unpublish::unpublish(&run, &described).await?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"bot_id": bot_id, "unpublished": true, "details": done})
            )?
        ),
        Output::Text => println!(
            "{bot_id}: unpublished ({} extra key(s) deleted, {} detached, {} result(s) removed, stack {} deleted)",
            done.deleted_key_ids.len(),
            done.detached_key_ids.len(),
            done.deleted_results,
            done.stack_name
        ),
    }
    Ok(outcome::OK)
}
