//! The options of the commands that need no AWS account: `validate`, `synth`, `openapi`, `completions`
//! and `man` (`schema` has none).

use std::path::PathBuf;

use clap::Args;

use super::Format;

/// `botpub validate`: the spec files to check.
#[derive(Args)]
pub struct ValidateArgs {
    /// Spec files (YAML).
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
}

/// `botpub synth`: the spec files, and where and how to write their templates.
#[derive(Args)]
pub struct SynthArgs {
    /// Spec files (YAML).
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Directory for the templates and manifest.json (created if missing).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "botpub.out"
    )]
    pub out: PathBuf,
    /// Template format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// `botpub openapi`: the spec, the bot in it, and the server URL to name.
#[derive(Args)]
pub struct OpenapiArgs {
    /// Spec file (YAML).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// The bot to describe; needed when the spec has more than one.
    #[arg(long, value_name = "BOT_ID")]
    pub bot: Option<String>,
    /// The API's URL, as `botpub status` prints it; by default API Gateway's URL with variables.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// `botpub completions`: the shell.
#[derive(Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `botpub man`: where the pages go.
#[derive(Args)]
pub struct ManArgs {
    /// Write botpub.1 and botpub-COMMAND.1 for every command into this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
