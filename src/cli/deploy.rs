//! `plan`, `apply`, `publish` and `watch`: changing what is published, and following it.

use botpub::cloudformation::deploy::{self, Applied, Run, Watched};
use botpub::cloudformation::events;
use botpub::cloudformation::outcome::ApplyResult;
use botpub::cloudformation::plan::Plan;
use botpub::cloudformation::stack;
use botpub::outcome::{self, Blocked, DeploymentFailed};
use botpub::publication::localstack;
use botpub::publication::status::{self, Published};
use botpub::toolkit::{self, remote};
use serde_json::json;

use super::args::{ApplyArgs, Output, PlanArgs, PublishArgs, WatchArgs};
use super::publication::not_published;
use super::setup::{confirm, follow_it_with, load, start, watch_command};

pub async fn plan(args: &PlanArgs, output: Output, markdown: bool) -> anyhow::Result<u8> {
    let (specs, out) = (&args.specs, args.out.as_ref());
    let Some(loaded) = load(specs, output, &args.aws)? else {
        return Ok(outcome::ERROR);
    };
    let mut run = start(&args.aws, loaded.region, None, output, &loaded.prefix).await?;
    run.concurrency = args.fleet.concurrency.into();
    run.saved_plan = out.is_some();
    toolkit::attach_for_large_templates(&mut run, &loaded.stacks).await?;
    let mut plan = run.plan(specs, &loaded.stacks).await?;
    localstack::warn_of_redeploys(&run.aws, &mut plan).await;
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
        Output::Text if markdown => {
            print!("{}", plan.render_markdown());
            if let Some(path) = out {
                println!(
                    "\nSaved to `{}`; apply it with `botpub apply {}`.",
                    path.display(),
                    path.display()
                );
            }
        }
        Output::Text => {
            anstream::println!("{}", plan.render());
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

pub async fn apply(args: &ApplyArgs, output: Output) -> anyhow::Result<u8> {
    let path = &args.plan;
    let plan = Plan::load(path)?;
    let Some(loaded) = load(&plan.specs, output, &args.aws)? else {
        return Err(Blocked(format!(
            "stale plan: its spec files no longer validate; run `botpub plan` again ({})",
            path.display()
        ))
        .into());
    };
    let plan_region = plan.stacks.first().map(|s| s.region.clone());
    let mut run = start(
        &args.aws,
        plan_region.or(loaded.region),
        Some(&args.wait),
        output,
        &loaded.prefix,
    )
    .await?;
    run.concurrency = args.fleet.concurrency.into();
    run.ensure_current(&plan, &loaded.stacks).await?;
    let applied = say_how_to_follow(&run, run.apply(&plan, &loaded.stacks, false).await?);
    report(&run, &applied, output, plan.has_changes()).await?;
    localstack::repeat_after_update(&run.aws, &plan, &applied).await;
    deploy::failures(&applied)?;
    Ok(outcome::OK)
}

/// `publish` from this machine; `--remote` is [`super::toolkit::publish_remote`].
pub async fn publish(args: &PublishArgs, output: Output) -> anyhow::Result<u8> {
    let (specs, wait) = (&args.specs, Some(&args.wait));
    let Some(loaded) = load(specs, output, &args.aws)? else {
        return Ok(outcome::ERROR);
    };
    let mut run = start(&args.aws, loaded.region, wait, output, &loaded.prefix).await?;
    run.concurrency = args.fleet.concurrency.into();
    toolkit::attach_for_large_templates(&mut run, &loaded.stacks).await?;
    let mut plan = run.plan(specs, &loaded.stacks).await?;
    localstack::warn_of_redeploys(&run.aws, &mut plan).await;
    anstream::eprintln!("{}\n", plan.render());
    if !plan.has_changes() {
        report(&run, &[], output, false).await?;
        return Ok(outcome::OK);
    }
    let confirmed = confirm("Publish these changes?", args.yes).await;
    if !matches!(confirmed, Ok(true)) {
        run.discard(&plan).await?;
        confirmed?;
        return Err(Blocked("not confirmed; nothing was published".into()).into());
    }
    let applied = say_how_to_follow(&run, run.apply(&plan, &loaded.stacks, args.detach).await?);
    report(&run, &applied, output, true).await?;
    localstack::repeat_after_update(&run.aws, &plan, &applied).await;
    deploy::failures(&applied)?;
    Ok(outcome::OK)
}

/// Adds to each stack that goes on in AWS without this run (deployed in the background, or left deploying
/// when waiting failed) the command that follows it.
pub(super) fn say_how_to_follow(run: &Run, mut applied: Vec<Applied>) -> Vec<Applied> {
    for result in &mut applied {
        if result.result == ApplyResult::Deploying {
            run.progress.say(&format!(
                "{}: deploying in the background{}",
                result.stack_name,
                follow_it_with(&watch_command(run, &result.stack_name))
            ));
        }
        if let (Some(failure), Some(stack)) = (&mut result.failure, &result.follow) {
            failure.push_str(&follow_it_with(&watch_command(run, stack)));
        }
    }
    applied
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
            Some(id) if result.result.in_service() => {
                status::published(&run.aws, &result.stack_name, id)
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
                        "api_endpoint": p.as_ref().and_then(|p| p.api_endpoint.clone()),
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
    if p.api_endpoint != p.endpoint {
        println!("  api endpoint:    {}", dash(&p.api_endpoint));
    }
    println!("  stage:           {}", dash(&p.stage));
    println!("  default key id:  {}", dash(&p.default_key_id));
    println!("  queue:           {}", dash(&p.queue_url));
}

pub async fn watch(args: &WatchArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, prefix) = (args.bot_id.as_str(), &args.target.prefix);
    let run = start(&args.aws, None, Some(&args.wait), output, prefix).await?;
    let stack_name = format!("{prefix}-{bot_id}");
    follow_remote_build(&run, bot_id, &stack_name, prefix, output).await?;
    let (status, failure) = match run.watch(&stack_name).await? {
        Watched::NotPublished => {
            return not_published(bot_id, &stack_name, &run.aws.region, output);
        }
        Watched::Idle(status) => {
            eprintln!("{stack_name} is {status}; nothing is in progress");
            (status, None)
        }
        Watched::Finished(finished) => {
            let failure = (!finished.class().succeeded())
                .then(|| events::describe_failure(&stack_name, None, &finished));
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
        run.progress.say(&format!(
            "{bot_id}: remote build {} in progress; waiting",
            build.id
        ));
        build = remote::follow(run, &record.build_id, &[stack_name.to_string()]).await?;
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
