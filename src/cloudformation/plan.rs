//! A plan: the change sets of every stack a command touches, how they are shown, and the plan file that
//! `plan --out` writes and `apply` executes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cloudformation::changeset::StackPlan;

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
            if stack.after_firewall {
                let _ = writeln!(
                    out,
                    "{} ({}): planned once the shared firewall exists, because it imports the firewall's web ACL",
                    stack.stack_name, stack.action
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
                let symbol = match change.action.as_str() {
                    "add" => "+",
                    "remove" => "-",
                    "replace" => "-/+",
                    _ => "~",
                };
                let properties = if change.properties.is_empty() {
                    String::new()
                } else {
                    format!(": {}", change.properties.join(", "))
                };
                let conditional = if change.replacement.as_deref() == Some("Conditional") {
                    " (may replace)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {symbol:>3} {} ({}) {}{conditional}{properties}",
                    change.logical_id, change.resource_type, change.action
                );
            }
            if tags_only > 0 {
                let _ = writeln!(out, "      and {tags_only} resource(s) whose tags change");
            }
            for warning in &stack.warnings {
                let _ = writeln!(out, "  warning: {warning}");
            }
        }
        let changing = self.stacks.iter().filter(|s| s.has_changes()).count();
        let changes = || self.stacks.iter().flat_map(|s| &s.changes);
        let count = |action: &str| {
            changes()
                .filter(|c| c.action == action && !c.tags_only())
                .count()
        };
        let tags_only = changes().filter(|c| c.tags_only()).count();
        let _ = write!(
            out,
            "\nPlan: {changing} of {} stack(s) change; {} to add, {} to modify, {} to replace, {} to remove",
            self.stacks.len(),
            count("add"),
            count("modify"),
            count("replace"),
            count("remove")
        );
        let _ = write!(
            out,
            "{}.",
            if tags_only > 0 {
                format!(" (and {tags_only} with new tags only)")
            } else {
                String::new()
            }
        );
        out
    }
}
