//! `botpub bootstrap` and `botpub publish --remote`: the toolkit stack, and publishing through its
//! CodeBuild project (the work is in `botpub::toolkit` and `botpub::toolkit::remote`).

use botpub::cloudformation::deploy;
use botpub::cloudformation::outcome::ApplyResult;
use botpub::outcome::{self, Blocked, DeploymentFailed};
use botpub::publication::status;
use botpub::synth::{self, StackKind};
use botpub::toolkit::{self, remote};
use serde_json::json;

use super::args::{BootstrapArgs, Output, PublishArgs};
use super::deploy::{print_published, say_how_to_follow};
use super::setup::{confirm, follow_it_with, load, start, watch_command};

pub async fn bootstrap(args: &BootstrapArgs, output: Output) -> anyhow::Result<u8> {
    let prefix = &args.target.prefix;
    let stack = synth::toolkit(prefix)?;
    let binary = match &args.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    // Checked before any AWS call: a binary CodeBuild cannot run is not worth a deployment.
    let sha256 = toolkit::bucket::check_binary(&binary)?;
    let size = std::fs::metadata(&binary)?.len();
    let run = start(&args.aws, None, Some(&args.wait), output, prefix).await?;
    let binary_current = match toolkit::find(&run.aws, prefix).await? {
        Some(existing) => existing.has_binary(&run.aws, &sha256).await?,
        None => false,
    };
    let stacks = [stack];
    let plan = run.plan(&[], &stacks).await?;
    anstream::eprintln!("{}", plan.render());
    let binary_line = if binary_current {
        format!("botpub binary: up to date (sha256 {})", &sha256[..12])
    } else {
        format!(
            "botpub binary: upload {} ({:.1} MiB, sha256 {}) as {}",
            binary.display(),
            size as f64 / 1_048_576.0,
            &sha256[..12],
            toolkit::bucket::BINARY_KEY
        )
    };
    eprintln!("{binary_line}\n");
    let mut uploaded = false;
    let mut applied = Vec::new();
    if plan.has_changes() || !binary_current {
        let confirmed = confirm("Bootstrap the toolkit?", args.yes).await;
        if !matches!(confirmed, Ok(true)) {
            run.discard(&plan).await?;
            confirmed?;
            return Err(Blocked("not confirmed; nothing was changed".into()).into());
        }
        applied = say_how_to_follow(&run, run.apply(&plan, &stacks, false).await?);
        deploy::failures(&applied)?;
    }
    let toolkit = toolkit::require(&run.aws, prefix, "bootstrap").await?;
    if !binary_current {
        run.progress.say(&format!(
            "uploading the botpub binary to {}",
            toolkit.bucket
        ));
        toolkit.upload_binary(&run.aws, &binary, &sha256).await?;
        uploaded = true;
    }
    let result = applied.first().map_or(ApplyResult::Unchanged, |a| a.result);
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "stack_name": toolkit.stack_name, "result": result, "bucket": toolkit.bucket,
                "project": toolkit.project, "binary_sha256": sha256, "binary_uploaded": uploaded,
            }))?
        ),
        Output::Text => {
            if result == ApplyResult::Unchanged && !uploaded {
                println!("No changes: the toolkit is up to date.");
            }
            println!("{}: {result}", toolkit.stack_name);
            println!("  bucket:          {}", toolkit.bucket);
            println!("  project:         {}", toolkit.project);
            println!(
                "  botpub binary:   {} ({})",
                &sha256[..12],
                if uploaded { "uploaded" } else { "up to date" }
            );
        }
    }
    Ok(outcome::OK)
}

/// `publish --remote`: the toolkit's CodeBuild project publishes (`--concurrency` is not used here).
pub async fn publish_remote(args: &PublishArgs, output: Output) -> anyhow::Result<u8> {
    let (specs, wait) = (&args.specs, Some(&args.wait));
    let Some(loaded) = load(specs, output, &args.aws)? else {
        return Ok(outcome::ERROR);
    };
    let run = start(&args.aws, loaded.region, wait, output, &loaded.prefix).await?;
    let toolkit = toolkit::require(&run.aws, &loaded.prefix, "publish --remote").await?;
    let bots: Vec<(String, String)> = loaded
        .stacks
        .iter()
        .filter_map(|s| match &s.kind {
            StackKind::Bot { id } => Some((id.clone(), s.name.clone())),
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = bots.iter().map(|(id, _)| id.as_str()).collect();
    eprintln!(
        "Publishing {} remotely: a build of {} in {} runs `botpub publish` on {} uploaded spec file(s).",
        ids.join(", "),
        toolkit.project,
        run.aws.region,
        specs.len()
    );
    if !confirm("Start the remote build?", args.yes).await? {
        return Err(Blocked("not confirmed; no build was started".into()).into());
    }
    let started = remote::start(&run.aws, &toolkit, specs, &bots, &run.token("remote")).await?;
    let hint = watch_command(&run, bots.first().map_or("", |(_, stack)| stack.as_str()));
    run.progress.say(&format!(
        "started remote build {} of {}",
        started.build_id, started.project
    ));
    if args.detach {
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"remote": true, "detached": true, "build": started})
                )?
            ),
            Output::Text => println!(
                "remote build {} started{}",
                started.build_id,
                follow_it_with(&hint)
            ),
        }
        return Ok(outcome::OK);
    }
    let stack_names: Vec<String> = bots.iter().map(|(_, stack)| stack.clone()).collect();
    let state = remote::follow(&run, &started.build_id, &stack_names).await?;
    let mut published = Vec::new();
    if !state.failed() {
        for (id, stack) in &bots {
            let Some(found) = status::published(&run.aws, stack, id).await? else {
                anyhow::bail!(
                    "remote build {} succeeded, but there is no stack {stack}: read the build log",
                    state.id
                );
            };
            published.push(found);
        }
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "remote": true, "build": started, "codebuild_status": state.status,
                "failure": state.failed().then(|| state.failure_report()), "bots": published,
            }))?
        ),
        Output::Text => {
            println!("remote build {}: {}", state.id, state.status);
            for p in &published {
                println!("{}: {}", p.stack_name, p.status);
                print_published(p);
            }
        }
    }
    if state.failed() {
        return Err(DeploymentFailed(state.failure_report()).into());
    }
    Ok(outcome::OK)
}
