//! The commands that need no AWS account: `validate`, `synth`, `openapi`, `schema`, `completions`, `man`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use botpub::outcome;
use botpub::spec::{self, Checked};
use botpub::synth::{self, StackKind};
use serde_json::json;

use super::args::{CompletionsArgs, Format, ManArgs, OpenapiArgs, Output, SynthArgs, ValidateArgs};

/// Checks the spec files and, for people, prints every diagnostic with its source line.
fn checked(specs: &[PathBuf], output: Output) -> Checked {
    let checked = spec::check_files(specs);
    if output == Output::Text {
        anstream::eprint!("{}", checked.render());
    }
    checked
}

/// What `--output json` says about the specs: valid or not, the kept diagnostics, exact counts, and how
/// many of each kind were not kept.
pub fn diagnostics_json(checked: &Checked) -> serde_json::Value {
    let diagnostics = &checked.diagnostics;
    json!({
        "valid": !checked.has_errors(),
        "errors": diagnostics.errors,
        "warnings": diagnostics.warnings,
        "diagnostics": diagnostics.shown,
        "omitted": diagnostics.omitted,
    })
}

pub fn validate(args: &ValidateArgs, output: Output) -> anyhow::Result<u8> {
    let checked = checked(&args.specs, output);
    let errors = checked.diagnostics.errors;
    let warnings = checked.diagnostics.warnings;
    match output {
        Output::Json => {
            let document = diagnostics_json(&checked);
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Output::Text if errors > 0 => {
            eprintln!("{errors} error(s), {warnings} warning(s): nothing was created");
        }
        Output::Text => {
            for spec in &checked.specs {
                let firewall = if spec.firewall.is_some() {
                    " and the shared firewall"
                } else {
                    ""
                };
                let domains = match spec.domains.len() {
                    0 => String::new(),
                    n => format!(", {n} custom domain(s)"),
                };
                println!(
                    "{}: valid, {} bot(s){domains}{firewall}",
                    spec.source,
                    spec.bots.len()
                );
            }
            if warnings > 0 {
                eprintln!("{warnings} warning(s)");
            }
        }
    }
    Ok(if errors == 0 {
        outcome::OK
    } else {
        outcome::ERROR
    })
}

pub fn synth(args: &SynthArgs, output: Output) -> anyhow::Result<u8> {
    let out = &args.out;
    let checked = checked(&args.specs, output);
    if checked.has_errors() {
        if output == Output::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&diagnostics_json(&checked))?
            );
        }
        return Ok(outcome::ERROR);
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut manifest = Vec::new();
    for spec in &checked.specs {
        // Each stack written as soon as it is made, then dropped, so memory stays flat however many bots
        // there are; the listing keeps the stacks' order.
        let written = synth::each_stack(spec, |stack| {
            let json = stack.template_body();
            let template_sha256 = synth::body_hash(&json);
            let (body, extension) = match args.format {
                Format::Json => (json, "json"),
                Format::Yaml => (stack.template_yaml(), "yaml"),
            };
            let file = format!("{}.template.{extension}", stack.name);
            let path = out.join(&file);
            replace(&path, &body)?;
            let bot_id = match &stack.kind {
                StackKind::Bot { id } => Some(id.clone()),
                StackKind::Firewall | StackKind::Domain { .. } | StackKind::Toolkit => None,
            };
            let entry = json!({
                "stack_name": stack.name,
                "bot_id": bot_id,
                "spec": spec.source,
                "region": stack.region,
                "template": file,
                "template_sha256": template_sha256,
                "tags": stack.tags,
            });
            Ok((path, body.len(), entry))
        })?;
        for (path, bytes, entry) in written {
            if output == Output::Text {
                println!("{} ({bytes} bytes)", path.display());
            }
            manifest.push(entry);
        }
    }
    let document = json!({"stacks": manifest});
    let manifest_path = out.join("manifest.json");
    replace(
        &manifest_path,
        &(serde_json::to_string_pretty(&document)? + "\n"),
    )?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&document)?);
    }
    Ok(outcome::OK)
}

/// Writes `body` to `path`, removing an earlier file there first rather than truncating it: on ext4 (and
/// XFS) truncating a file that holds data makes its close wait for the data to reach the disk, which made
/// a second `synth` into the same directory half as fast again as the first.
fn replace(path: &Path, body: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot replace {}", path.display()));
        }
        _ => {}
    }
    std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))
}

pub fn openapi(args: &OpenapiArgs) -> anyhow::Result<u8> {
    let bot_id = args.bot.as_deref();
    let checked = checked(std::slice::from_ref(&args.spec), Output::Text);
    let Some(spec) = checked.specs.first() else {
        return Ok(outcome::ERROR);
    };
    let ids: Vec<&str> = spec.bots.iter().map(|b| b.id.as_str()).collect();
    let bot = match bot_id {
        Some(id) => spec.bots.iter().find(|b| b.id.eq_ignore_ascii_case(id)),
        None if ids.len() == 1 => spec.bots.first(),
        None => {
            eprintln!(
                "error: {} publishes {} bots; name one with --bot ({})",
                spec.source,
                ids.len(),
                ids.join(", ")
            );
            return Ok(outcome::ERROR);
        }
    };
    let Some(bot) = bot else {
        eprintln!(
            "error: {} has no bot `{}`; its bots: {}",
            spec.source,
            bot_id.unwrap_or_default(),
            ids.join(", ")
        );
        return Ok(outcome::ERROR);
    };
    let stack = synth::bot_stack(spec, bot)?;
    let document = synth::openapi::describe(spec, bot, &stack.template, args.server.as_deref());
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&document)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&document)?),
    }
    Ok(outcome::OK)
}

pub fn schema() -> anyhow::Result<u8> {
    println!(
        "{}",
        serde_json::to_string_pretty(&spec::file::json_schema())?
    );
    Ok(outcome::OK)
}

/// The completion script for `shell`, generated from the same definitions that parse the arguments.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = <super::args::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "botpub", &mut script);
    write_stdout(&script)
}

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<u8> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(outcome::OK),
    }
}

/// The man page on stdout, or a page per command (`botpub-publish.1`, `botpub-keys-create.1`, …) in `dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let command = <super::args::Cli as clap::CommandFactory>::command();
    match &args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages to {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(outcome::OK)
}
