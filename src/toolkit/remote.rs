//! Remote publishing: `publish --remote` runs the deploy inside the toolkit's CodeBuild project, so a web
//! backend or a restricted CI role can publish with no CloudFormation rights of its own. botpub uploads
//! the specs, starts the build, records it per bot in the toolkit bucket (the record is how `status` and
//! `watch` find a bot's latest build), and follows it: build phases, then the stacks' own events.
//!
//! Every build ends: FAILED, FAULT, TIMED_OUT and STOPPED are failures as final as SUCCEEDED is success,
//! so a bot is never shown "in progress" after its build is gone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_codebuild::types::{
    Build, BuildPhaseType, EnvironmentVariable, EnvironmentVariableType, StatusType,
};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::{Aws, AwsContext};
use crate::cloudformation::deploy::{Run, Watched};
use crate::cloudformation::events::{Backoff, pause};
use crate::cloudformation::stack::{self, timestamp};
use crate::outcome::StillGoing;
use crate::toolkit::{BuildRecord, Toolkit};

/// A build that `publish --remote` started.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub build_id: String,
    pub project: String,
    pub spec_keys: Vec<String>,
    pub bot_ids: Vec<String>,
}

/// Uploads the specs, starts one build of the publisher project that publishes them all, and records
/// the build for each bot. The idempotency token makes a retried start return the same build.
pub async fn start(
    aws: &Aws,
    toolkit: &Toolkit,
    specs: &[PathBuf],
    bots: &[(String, String)],
    token: &str,
) -> anyhow::Result<Started> {
    let mut spec_keys = Vec::with_capacity(specs.len());
    for path in specs {
        let text = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        spec_keys.push(toolkit.upload_spec(aws, &text).await?);
    }
    let bot_ids: Vec<String> = bots.iter().map(|(id, _)| id.clone()).collect();
    let variable = |name: &str, value: String| {
        EnvironmentVariable::builder()
            .name(name)
            .value(value)
            .r#type(EnvironmentVariableType::Plaintext)
            .build()
    };
    let build = aws
        .codebuild
        .start_build()
        .project_name(&toolkit.project)
        .idempotency_token(token)
        .environment_variables_override(variable("BOTPUB_SPEC_KEYS", spec_keys.join(" "))?)
        .environment_variables_override(variable("BOTPUB_BOT_IDS", bot_ids.join(","))?)
        .send()
        .await
        .aws(format!("starting a build of {}", toolkit.project))?;
    let Some(build_id) = build.build_value().and_then(Build::id).map(str::to_string) else {
        anyhow::bail!(
            "CodeBuild started a build of {} but returned no build id",
            toolkit.project
        );
    };
    let started = build
        .build_value()
        .and_then(Build::start_time)
        .map(timestamp)
        .unwrap_or_default();
    for (bot_id, stack_name) in bots {
        let record = BuildRecord {
            bot_id: bot_id.clone(),
            stack_name: stack_name.clone(),
            build_id: build_id.clone(),
            project: toolkit.project.clone(),
            spec_keys: spec_keys.clone(),
            started: started.clone(),
        };
        toolkit.write_record(aws, &record).await.map_err(|e| {
            anyhow::anyhow!("{e:#}; build {build_id} is running, but `status` will not show it")
        })?;
    }
    Ok(Started {
        build_id,
        project: toolkit.project.clone(),
        spec_keys,
        bot_ids,
    })
}

/// A build as CodeBuild reports it.
#[derive(Debug, Clone)]
pub struct BuildState {
    pub id: String,
    /// IN_PROGRESS, SUCCEEDED, FAILED, FAULT, TIMED_OUT or STOPPED.
    pub status: String,
    pub phase: Option<String>,
    /// What CodeBuild said about the first phase that did not succeed.
    pub failure: Option<String>,
    pub logs: Option<String>,
    pub start_time: Option<DateTime>,
}

impl BuildState {
    pub fn in_progress(&self) -> bool {
        self.status == StatusType::InProgress.as_str()
    }

    pub fn failed(&self) -> bool {
        !self.in_progress() && self.status != StatusType::Succeeded.as_str()
    }

    /// Root cause first: which build, how it ended, in which phase, and where its log is.
    pub fn failure_report(&self) -> String {
        let mut report = format!("remote build {} ended {}", self.id, self.status);
        if let Some(phase) = &self.phase {
            report.push_str(&format!(" (phase {phase})"));
        }
        if let Some(failure) = &self.failure {
            report.push_str(&format!(": {failure}"));
        }
        if let Some(logs) = &self.logs {
            report.push_str(&format!("\nbuild log: {logs}"));
        }
        report
    }
}

/// The build's state, or `None` when CodeBuild no longer knows it (builds are kept for a year).
pub async fn state(aws: &Aws, build_id: &str) -> anyhow::Result<Option<BuildState>> {
    let output = aws
        .codebuild
        .batch_get_builds()
        .ids(build_id)
        .send()
        .await
        .aws(format!("reading build {build_id}"))?;
    Ok(output.builds().first().map(|build| {
        let failed_phase = build.phases().iter().find(|p| {
            p.phase_status()
                .is_some_and(|s| s.as_str() != StatusType::Succeeded.as_str())
        });
        BuildState {
            id: build_id.to_string(),
            status: build
                .build_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            phase: failed_phase
                .and_then(|p| p.phase_type())
                .map(|p| p.as_str().to_string())
                .or_else(|| build.current_phase().map(str::to_string)),
            failure: failed_phase.and_then(|p| {
                p.contexts()
                    .iter()
                    .filter_map(|c| c.message())
                    .find(|m| !m.is_empty())
                    .map(str::to_string)
            }),
            logs: build.logs().and_then(|l| l.deep_link()).map(str::to_string),
            start_time: build.start_time().copied(),
        }
    }))
}

/// A bot's latest remote build: its record and what CodeBuild says of it now.
pub async fn latest(
    aws: &Aws,
    toolkit: &Toolkit,
    bot_id: &str,
) -> anyhow::Result<Option<(BuildRecord, Option<BuildState>)>> {
    let Some(record) = toolkit.read_record(aws, bot_id).await? else {
        return Ok(None);
    };
    let state = state(aws, &record.build_id).await?;
    Ok(Some((record, state)))
}

/// Follows a build to its end: each phase as it starts, and the events of each bot stack that the build
/// deploys. The build runs on in AWS if botpub stops waiting (timeout, Ctrl-C); the error then names the
/// first bot stack, whose `watch` finds the build again.
pub async fn follow(
    run: &Run,
    build_id: &str,
    stack_names: &[String],
) -> anyhow::Result<BuildState> {
    let shown_by = stack_names.first().map_or("", String::as_str);
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut phase = String::new();
    let mut followed: Vec<&String> = Vec::new();
    let what = format!("remote build {build_id}");
    loop {
        let Some(now) = state(&run.aws, build_id).await? else {
            anyhow::bail!("CodeBuild has no build {build_id}");
        };
        let current = now.phase.clone().unwrap_or_default();
        if current != phase && now.in_progress() {
            run.progress.say(&format!("{what}: {current}"));
            phase = current;
        }
        if !now.in_progress() {
            run.progress.say(&format!("{what}: {}", now.status));
            return Ok(now);
        }
        if BuildPhaseType::from(phase.as_str()) == BuildPhaseType::Build {
            for name in stack_names {
                if followed.contains(&name) {
                    continue;
                }
                let busy = stack::describe(&run.aws, name)
                    .await?
                    .is_some_and(|s| s.state == stack::State::Busy);
                if busy {
                    followed.push(name);
                    if let Watched::Finished(finished) = run.watch(name).await? {
                        run.progress
                            .say(&format!("{name}: {} (in {what})", finished.status));
                    }
                }
            }
        }
        if let Some(limit) = run.patience.timeout
            && started.elapsed() >= limit
        {
            return Err(StillGoing {
                stack: shown_by.to_string(),
                message: format!(
                    "stopped waiting after {}; {what} goes on in AWS",
                    humantime::format_duration(limit)
                ),
            }
            .into());
        }
        // Builds take minutes: poll at the steady pace at once rather than starting fast.
        let delay = backoff.next_delay().max(Duration::from_millis(500));
        pause(delay, &what, shown_by).await?;
    }
}
