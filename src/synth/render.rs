//! The minijinja environment that renders `templates/`, and the parse-back of its output.

use std::sync::LazyLock;

use anyhow::Context;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

/// The templates, compiled into the binary so that botpub runs from a single file (also inside CodeBuild).
const TEMPLATES: [(&str, &str); 8] = [
    ("bot.json.j2", include_str!("../../templates/bot.json.j2")),
    (
        "bot/predict.json.j2",
        include_str!("../../templates/bot/predict.json.j2"),
    ),
    (
        "bot/conversation.json.j2",
        include_str!("../../templates/bot/conversation.json.j2"),
    ),
    (
        "bot/monitoring.json.j2",
        include_str!("../../templates/bot/monitoring.json.j2"),
    ),
    (
        "bot/lambda.json.j2",
        include_str!("../../templates/bot/lambda.json.j2"),
    ),
    (
        "firewall.json.j2",
        include_str!("../../templates/firewall.json.j2"),
    ),
    (
        "domain.json.j2",
        include_str!("../../templates/domain.json.j2"),
    ),
    (
        "toolkit.json.j2",
        include_str!("../../templates/toolkit.json.j2"),
    ),
];

static ENVIRONMENT: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(|| {
        let mut env = Environment::new();
        // Every value printed is a JSON literal even where a template forgets `tojson`.
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        // A misspelt variable is an error, not an empty string in a template.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(env)
    });

/// Renders a template and parses the result as JSON.
pub fn render(name: &str, context: &impl Serialize) -> anyhow::Result<Value> {
    let env = ENVIRONMENT
        .as_ref()
        .map_err(|e| anyhow::anyhow!("internal error: template {name} does not compile: {e:#}"))?;
    let text = env
        .get_template(name)
        .and_then(|template| template.render(minijinja::value::Serde(context)))
        .with_context(|| format!("internal error: rendering {name}"))?;
    serde_json::from_str(&text).map_err(|e| {
        let line = text
            .lines()
            .nth(e.line().saturating_sub(1))
            .unwrap_or_default();
        anyhow::anyhow!(
            "internal error: {name} rendered invalid JSON ({e}) at: {}",
            line.trim()
        )
    })
}
