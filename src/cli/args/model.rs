//! `botpub worker`'s options for answering from a model: the backend, and what every backend shares.

use clap::Args;

/// How the worker reaches a model with no code of the user's: the backend, and the options every backend
/// shares (system prompt, token limits).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Answer from a model on Amazon Bedrock (Converse API): a model id, inference profile id or ARN.
    #[arg(long, value_name = "MODEL_ID", group = "bot")]
    pub bedrock: Option<String>,
    /// Answer from an agent on Amazon Bedrock AgentCore Runtime (InvokeAgentRuntime).
    #[arg(long, value_name = "RUNTIME_ARN", group = "bot")]
    pub agentcore: Option<String>,
    /// The --agentcore runtime's endpoint (qualifier), e.g. DEFAULT.
    #[arg(long, value_name = "Q", conflicts_with_all = ["http", "command", "bedrock", "openai"])]
    pub qualifier: Option<String>,
    /// Answer from a model behind an OpenAI-compatible API (vLLM, Ollama, llama.cpp's server,
    /// LiteLLM), e.g. http://127.0.0.1:11434/v1; needs --model.
    #[arg(long, value_name = "BASE_URL", group = "bot", requires = "model")]
    pub openai: Option<String>,
    /// The model the --openai server answers with.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["http", "command", "bedrock", "agentcore"])]
    pub model: Option<String>,
    /// The environment variable holding the --openai server's API key (local servers need none).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["http", "command", "bedrock", "agentcore"])]
    pub api_key_env: Option<String>,
    /// The system prompt sent to the model with every request.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["system_file", "http", "command"])]
    pub system: Option<String>,
    /// The system prompt, read from a file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["http", "command"])]
    pub system_file: Option<std::path::PathBuf>,
    /// The most output tokens a client may ask of the model (its `max_tokens`), and what is asked
    /// when it says nothing.
    #[arg(long, value_name = "N", conflicts_with_all = ["http", "command"], value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// The most tokens (estimated) of system prompt, conversation history and question sent to the
    /// model; the oldest turns are left out first.
    #[arg(long, value_name = "N", conflicts_with_all = ["http", "command"], default_value_t = botpub::worker::model::DEFAULT_MAX_HISTORY_TOKENS, value_parser = clap::value_parser!(u32).range(100..))]
    pub max_history_tokens: u32,
}
