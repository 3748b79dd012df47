//! The engine's outcomes as types: what a plan does to a stack and to each of its resources, how applying
//! a stack ended, and what a stack status means. Callers match on them rather than compare text; their
//! serde names are the words of plan files and `--output json`, which therefore read as they always did.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An enum whose variants each have one name, used by serde, `as_str` and `Display` alike.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named! {
    /// What a plan does to a stack.
    StackAction {
        Create = "create",
        Update = "update",
        /// Nothing would change.
        None = "none",
    }
}

named! {
    /// What a change does to one resource, as CloudFormation predicts it. A modification that replaces
    /// the resource is an action of its own: it is what a reader of a plan must not miss.
    ChangeAction {
        Add = "add",
        Modify = "modify",
        Replace = "replace",
        Remove = "remove",
        Import = "import",
        /// Decided only while the stack deploys (a dynamic reference, a macro).
        Dynamic = "dynamic",
    }
}

named! {
    /// CloudFormation's prediction of whether a modification replaces the resource.
    Replacement {
        True = "True",
        False = "False",
        /// It depends on a value known only during the deployment.
        Conditional = "Conditional",
    }
}

impl Replacement {
    /// Whether the resource is, or may be, replaced.
    pub fn possible(self) -> bool {
        matches!(self, Replacement::True | Replacement::Conditional)
    }
}

named! {
    /// What part of a resource a change touches (CloudFormation's scope).
    ChangeScope {
        Properties = "Properties",
        Metadata = "Metadata",
        CreationPolicy = "CreationPolicy",
        UpdatePolicy = "UpdatePolicy",
        DeletionPolicy = "DeletionPolicy",
        UpdateReplacePolicy = "UpdateReplacePolicy",
        Tags = "Tags",
        /// A scope newer than this botpub: shown, never acted upon.
        #[serde(other)]
        Other = "Other",
    }
}

named! {
    /// How applying one stack's plan ended.
    ApplyResult {
        Created = "created",
        Updated = "updated",
        /// The plan had no changes for it.
        Unchanged = "unchanged",
        /// The deployment ran and was rolled back (or, for a new stack, removed).
        Failed = "failed",
        /// An AWS call failed before or while deploying it.
        Error = "error",
        /// Another deployment of the stack was running.
        Blocked = "blocked",
        /// A shared stack it depends on failed first.
        Skipped = "skipped",
        /// Started, not waited for (`--detach`).
        Deploying = "deploying",
    }
}

impl ApplyResult {
    /// Whether the stack now serves what was planned (so its outputs are worth reading).
    pub fn in_service(self) -> bool {
        matches!(
            self,
            ApplyResult::Created | ApplyResult::Updated | ApplyResult::Unchanged
        )
    }
}

/// What a CloudFormation stack status (of a stack, or of a stack's own event) means to botpub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// An operation is under way (`*_IN_PROGRESS`, including a stack made only for a change set).
    InProgress,
    /// Created (`CREATE_COMPLETE`).
    Created,
    /// Updated or resources imported (`UPDATE_COMPLETE`, `IMPORT_COMPLETE`).
    Updated,
    /// Gone (`DELETE_COMPLETE`).
    Deleted,
    /// An operation failed and was undone (`ROLLBACK_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, …).
    RolledBack,
    /// Stuck after a failure (`*_FAILED`).
    Failed,
}

impl StatusClass {
    /// The class of a status as CloudFormation spells it; an unknown settled status counts as failed,
    /// so that nothing unknown passes for success.
    pub fn of(status: &str) -> StatusClass {
        match status {
            s if s.ends_with("_IN_PROGRESS") => StatusClass::InProgress,
            "CREATE_COMPLETE" => StatusClass::Created,
            "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => StatusClass::Updated,
            "DELETE_COMPLETE" => StatusClass::Deleted,
            s if s.ends_with("ROLLBACK_COMPLETE") => StatusClass::RolledBack,
            _ => StatusClass::Failed,
        }
    }

    /// No operation is under way.
    pub fn is_settled(self) -> bool {
        self != StatusClass::InProgress
    }

    /// The operation it ends did what was asked.
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            StatusClass::Created | StatusClass::Updated | StatusClass::Deleted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_those_of_plan_files_and_json_output() {
        assert_eq!(
            serde_json::to_string(&StackAction::None).unwrap(),
            "\"none\""
        );
        assert_eq!(ChangeAction::Replace.to_string(), "replace");
        assert_eq!(
            serde_json::from_str::<Replacement>("\"Conditional\"").unwrap(),
            Replacement::Conditional
        );
        assert_eq!(
            serde_json::from_str::<ChangeScope>("\"SomethingNew\"").unwrap(),
            ChangeScope::Other
        );
        assert_eq!(
            serde_json::to_value(ApplyResult::Blocked).unwrap(),
            "blocked"
        );
    }

    #[test]
    fn statuses_fall_into_their_class() {
        assert_eq!(
            StatusClass::of("REVIEW_IN_PROGRESS"),
            StatusClass::InProgress
        );
        assert_eq!(
            StatusClass::of("UPDATE_ROLLBACK_COMPLETE"),
            StatusClass::RolledBack
        );
        assert_eq!(StatusClass::of("IMPORT_COMPLETE"), StatusClass::Updated);
        assert_eq!(StatusClass::of("DELETE_FAILED"), StatusClass::Failed);
        assert!(!StatusClass::of("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS").is_settled());
    }
}
