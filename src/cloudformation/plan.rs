//! A plan: the change sets of every stack a command touches, how they are shown, and the plan file that
//! `plan --out` writes and `apply` executes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cloudformation::changeset::StackPlan;
use crate::cloudformation::outcome::{ChangeAction, Replacement};
use crate::terminal;

pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// The spec files the plan was made from; `apply` re-synthesizes them to notice a change.
    pub specs: Vec<PathBuf>,
    /// Stacks in deployment order: the shared firewall first.
    pub stacks: Vec<StackPlan>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.stacks.iter().any(StackPlan::has_changes)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the plan file {}", path.display()))
    }

    pub fn load(path: &Path) -> anyhow::Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the plan file {}", path.display()))?;
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a botpub plan file", path.display()))?;
        if plan.format != PLAN_FORMAT {
            anyhow::bail!(
                "{} is a plan of format {}; this botpub reads format {PLAN_FORMAT}",
                path.display(),
                plan.format
            );
        }
        Ok(plan)
    }

    /// The plan for people: per stack, each change with its symbol, then warnings, then a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for stack in &self.stacks {
            if !stack.has_changes() {
                let _ = writeln!(out, "{}: no changes", stack.stack_name);
                continue;
            }
            if stack.planned_late() {
                let _ = writeln!(
                    out,
                    "{} ({}): planned once {}",
                    stack.stack_name,
                    stack.action,
                    stack.planned_late_reason()
                );
                continue;
            }
            let _ = writeln!(out, "{} ({}):", stack.stack_name, stack.action);
            let mut tags_only = 0;
            for change in &stack.changes {
                if change.tags_only() {
                    tags_only += 1;
                    continue;
                }
                let (symbol, style) = match change.action {
                    ChangeAction::Add => ("+", terminal::ADD),
                    ChangeAction::Remove => ("-", terminal::REMOVE),
                    ChangeAction::Replace => ("-/+", terminal::REPLACE),
                    _ => ("~", terminal::MODIFY),
                };
                let properties = if change.properties.is_empty() {
                    String::new()
                } else {
                    format!(": {}", change.properties.join(", "))
                };
                let conditional = if change.replacement == Some(Replacement::Conditional) {
                    " (may replace)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {} {} ({}) {}{conditional}{properties}",
                    terminal::paint(style, &format!("{symbol:>3}")),
                    change.logical_id,
                    change.resource_type,
                    change.action
                );
            }
            if tags_only > 0 {
                let _ = writeln!(out, "      and {tags_only} resource(s) whose tags change");
            }
            for warning in &stack.warnings {
                let _ = writeln!(
                    out,
                    "  {}: {warning}",
                    terminal::paint(terminal::WARNING, "warning")
                );
            }
        }
        let _ = write!(out, "\n{}", self.summary_line());
        out
    }

    /// The plan as GitHub/GitLab-flavoured Markdown, for a pull request comment or a CI job summary:
    /// the warnings first, then one section per changing stack with a table of its changes (long
    /// property lists folded away), the stacks without changes on one folded line, and the totals.
    pub fn render_markdown(&self) -> String {
        let mut out = String::from("## botpub plan\n\n");
        let warnings: Vec<(&str, &String)> = self
            .stacks
            .iter()
            .flat_map(|s| s.warnings.iter().map(move |w| (s.stack_name.as_str(), w)))
            .collect();
        if !warnings.is_empty() {
            out.push_str("> [!WARNING]\n");
            for (stack, warning) in &warnings {
                let _ = writeln!(out, "> - **{}**: {}", cell(stack), cell(warning));
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{}\n", self.summary_line());
        for stack in self.stacks.iter().filter(|s| s.has_changes()) {
            let _ = writeln!(out, "### `{}` ({})\n", stack.stack_name, stack.action);
            if stack.planned_late() {
                let _ = writeln!(out, "Planned once {}.\n", stack.planned_late_reason());
                continue;
            }
            out.push_str(
                "| | Resource | Type | Action | Changed |\n| --- | --- | --- | --- | --- |\n",
            );
            let mut folded = Vec::new();
            let mut tags_only = 0;
            for change in &stack.changes {
                if change.tags_only() {
                    tags_only += 1;
                    continue;
                }
                let symbol = match change.action {
                    ChangeAction::Add => "➕",
                    ChangeAction::Remove => "➖",
                    ChangeAction::Replace => "⚠️ replace",
                    _ if change.replacement == Some(Replacement::Conditional) => "⚠️ may replace",
                    _ => "✏️",
                };
                let changed = match change.properties.len() {
                    0 => String::new(),
                    1..=3 => change.properties.join(", "),
                    n => {
                        folded.push(change);
                        format!("{n} properties (below)")
                    }
                };
                let _ = writeln!(
                    out,
                    "| {symbol} | `{}` | {} | {} | {} |",
                    change.logical_id,
                    cell(&change.resource_type),
                    change.action,
                    cell(&changed)
                );
            }
            out.push('\n');
            if tags_only > 0 {
                let _ = writeln!(out, "And {tags_only} resource(s) whose tags change.\n");
            }
            if !folded.is_empty() {
                out.push_str("<details><summary>Changed properties</summary>\n\n");
                for change in folded {
                    let _ = writeln!(
                        out,
                        "- `{}`: {}",
                        change.logical_id,
                        cell(&change.properties.join(", "))
                    );
                }
                out.push_str("\n</details>\n\n");
            }
        }
        let unchanged: Vec<&str> = self
            .stacks
            .iter()
            .filter(|s| !s.has_changes())
            .map(|s| s.stack_name.as_str())
            .collect();
        if !unchanged.is_empty() {
            let _ = writeln!(
                out,
                "<details><summary>{} stack(s) without changes</summary>\n\n{}\n\n</details>",
                unchanged.len(),
                unchanged
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        out
    }

    /// One line with the counts: stacks changing, resources added, modified, replaced, removed.
    fn summary_line(&self) -> String {
        let changing = self.stacks.iter().filter(|s| s.has_changes()).count();
        let changes = || self.stacks.iter().flat_map(|s| &s.changes);
        let count = |action: ChangeAction| {
            changes()
                .filter(|c| c.action == action && !c.tags_only())
                .count()
        };
        let tags_only = changes().filter(|c| c.tags_only()).count();
        format!(
            "Plan: {changing} of {} stack(s) change; {} to add, {} to modify, {} to replace, {} to remove{}.",
            self.stacks.len(),
            count(ChangeAction::Add),
            count(ChangeAction::Modify),
            count(ChangeAction::Replace),
            count(ChangeAction::Remove),
            if tags_only > 0 {
                format!(" (and {tags_only} with new tags only)")
            } else {
                String::new()
            }
        )
    }
}

/// Text made safe for a Markdown table cell: pipes escaped, no line breaks, no HTML.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan file as `plan --out` has written it since format 1, with every kind of outcome in it.
    const SAVED: &str = r#"{
  "format": 1,
  "specs": [
    "specs/bots.yaml"
  ],
  "stacks": [
    {
      "stack_name": "BotPub-firewall",
      "bot_id": null,
      "region": "us-east-1",
      "action": "none",
      "change_set_id": null,
      "template_sha256": "00",
      "changes": [],
      "warnings": [],
      "after_firewall": false
    },
    {
      "stack_name": "BotPub-hello",
      "bot_id": "hello",
      "region": "us-east-1",
      "action": "update",
      "change_set_id": "arn:aws:cloudformation:us-east-1:123456789012:changeSet/p/1",
      "template_sha256": "11",
      "changes": [
        {
          "action": "replace",
          "logical_id": "Stage",
          "resource_type": "AWS::ApiGateway::Stage",
          "replacement": "True",
          "properties": [
            "StageName"
          ],
          "scope": [
            "Properties"
          ]
        },
        {
          "action": "modify",
          "logical_id": "Queue",
          "resource_type": "AWS::SQS::Queue",
          "replacement": "Conditional",
          "properties": [],
          "scope": [
            "Tags"
          ]
        },
        {
          "action": "add",
          "logical_id": "Alarm",
          "resource_type": "AWS::CloudWatch::Alarm",
          "replacement": null,
          "properties": [],
          "scope": []
        }
      ],
      "warnings": [
        "Stage replaces the stage"
      ],
      "after_firewall": false,
      "after_domain": true
    }
  ]
}
"#;

    #[test]
    fn a_saved_plan_of_format_one_reads_and_writes_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, SAVED).unwrap();
        let plan = Plan::load(&path).unwrap();
        let changes = &plan.stacks[1].changes;
        assert_eq!(changes[0].action, ChangeAction::Replace);
        assert_eq!(changes[1].replacement, Some(Replacement::Conditional));
        assert!(changes[1].tags_only());
        plan.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SAVED);
    }
}
