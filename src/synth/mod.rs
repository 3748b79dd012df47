//! Synthesis: the validated spec becomes CloudFormation templates.
