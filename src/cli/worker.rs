//! `worker`, `ask` and `dlq`: running a published bot, asking it, and its requests that failed for good.

use botpub::aws::Aws;
use botpub::outcome::{self, Blocked, Interrupted};
use botpub::publication::ask::{self, Answer, Caller, Question, Refused, Signer};
use botpub::publication::bot_stack::BotStack;
use botpub::publication::dead_letters;
use botpub::publication::queue::BotQueue;
use botpub::spec::model::Contract;
use botpub::worker::model::{Backend, Model};
use botpub::worker::{self, Bot};
use serde_json::json;

use super::args::{AskArgs, DlqArgs, LogFormat, Output, WorkerArgs};
use super::setup::{confirm, connect};

impl WorkerArgs {
    /// The bot the options name: a command, a bot server, or a model with the options every model
    /// shares. The system prompt file and the `--api-key-env` variable are read here, so that a mistake
    /// stops the worker before it takes a request.
    fn bot(&self, aws: &Aws) -> anyhow::Result<Bot> {
        if let Some(url) = &self.http {
            return Ok(Bot::Http { url: url.clone() });
        }
        if let Some((program, rest)) = self.command.split_first() {
            return Ok(Bot::Exec {
                program: program.clone(),
                args: rest.to_vec(),
            });
        }
        let model = &self.model;
        let backend = if let Some(model_id) = &model.bedrock {
            Backend::Bedrock {
                client: aws.bedrock_runtime(),
                model_id: model_id.clone(),
            }
        } else if let Some(runtime_arn) = &model.agentcore {
            Backend::AgentCore {
                client: aws.agentcore(),
                runtime_arn: runtime_arn.clone(),
                qualifier: model.qualifier.clone(),
            }
        } else if let Some(base_url) = &model.openai {
            let api_key = match &model.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("--api-key-env {var}: the environment has no {var}")
                })?),
                None => None,
            };
            Backend::OpenAi {
                base_url: base_url.clone(),
                model: model.model.clone().unwrap_or_default(),
                api_key,
            }
        } else {
            anyhow::bail!(
                "give the bot: `-- COMMAND ARGS...`, `--http URL`, `--bedrock MODEL_ID`, `--agentcore RUNTIME_ARN` or `--openai BASE_URL`"
            )
        };
        let system = match (&model.system, &model.system_file) {
            (Some(text), _) => Some(text.clone()),
            (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the system prompt {}: {e}", path.display())
            })?),
            (None, None) => None,
        };
        Ok(Bot::Model(Model {
            backend,
            system,
            max_tokens: model.max_tokens,
            max_history_tokens: model.max_history_tokens,
        }))
    }
}

pub async fn worker(args: &WorkerArgs, output: Output) -> anyhow::Result<u8> {
    let aws = connect(&args.aws, None).await?;
    let bot = args.bot(&aws)?;
    let queue = BotQueue::find(&aws, &args.target.prefix, &args.bot_id).await?;
    if let Some(mapping) = queue.lambda_worker(&aws).await? {
        return Err(Blocked(format!(
            "{}'s queue is consumed by its Lambda worker (worker_function_arn, event source mapping {mapping}); a botpub worker beside it would take some of its requests. Remove worker_function_arn from the spec and publish, then run botpub worker",
            args.bot_id
        ))
        .into());
    }
    eprintln!(
        "{}: answering requests from {} with {} at a time (visibility timeout {} s, {} attempt(s) before the dead-letter queue); Ctrl-C stops",
        args.bot_id,
        queue.queue_url,
        args.concurrency,
        queue.visibility_timeout,
        queue.max_receive_count
    );
    let options = worker::Options {
        concurrency: args.concurrency.into(),
        timeout: args.timeout,
        grace: args.grace,
        max_requests: args.max_requests,
        idle_exit: args.idle_exit,
        flush_interval: args.flush_interval,
        log: match args.log_format {
            LogFormat::Text => worker::LogFormat::Text,
            LogFormat::Json => worker::LogFormat::Json,
        },
    };
    let summary = worker::work(&aws, queue, bot, &options).await;
    match output {
        Output::Json => println!("{}", serde_json::to_string(&summary)?),
        Output::Text => println!(
            "{}: stopped ({}): {} answered, {} failed for good, {} failed attempt(s), {} duplicate(s) deleted, {} released to the queue, {} given up by SQS marked failed",
            summary.bot_id,
            summary.stopped_by,
            summary.answered,
            summary.failed,
            summary.failed_attempts,
            summary.duplicates,
            summary.released,
            summary.given_up
        ),
    }
    Ok(summary.exit_code)
}

impl AskArgs {
    /// How the requests say who calls: the API key (`--key`, or the variable `--key-env` names; needed
    /// unless `--sigv4`, then sent when there is one), and with `--sigv4` a signature of the AWS credentials.
    async fn caller(&self, aws: &Aws) -> anyhow::Result<Caller> {
        let key = self
            .key
            .clone()
            .or_else(|| std::env::var(&self.key_env).ok());
        if key.is_none() && !self.sigv4 {
            anyhow::bail!(
                "no API key: set {} (for example to the value `botpub keys create {}` printed) or pass --key-env VAR; a bot with `auth: iam` takes --sigv4 instead",
                self.key_env,
                self.bot_id
            );
        }
        let signer = match self.sigv4 {
            true => Some(Signer::from_config(aws.config(), &aws.region).await?),
            false => None,
        };
        Ok(Caller { key, signer })
    }
}

pub async fn ask(args: &AskArgs, output: Output) -> anyhow::Result<u8> {
    let aws = connect(&args.aws, None).await?;
    let caller = args.caller(&aws).await?;
    let (base, contract) = endpoint(&aws, &args.target.prefix, &args.bot_id).await?;
    if args.conversation.is_some() && contract != Contract::Conversation {
        return Err(Blocked(format!(
            "{} serves the predict contract, which has no conversations: leave out --conversation",
            args.bot_id
        ))
        .into());
    }
    let question = Question {
        message: &args.message,
        contract,
        conversation_id: args.conversation.as_deref(),
    };
    let mut shown = Shown::default();
    // The text as the bot writes it is for people: JSON is the final document alone.
    let stream = !args.no_stream && output == Output::Text;
    let written = |text: &str| {
        if stream {
            shown.update(text);
        }
    };
    let answer = tokio::select! {
        answer = ask::ask(&base, &caller, question, args.timeout, written) => match answer {
            Err(refused) if !args.sigv4 && matches!(refused.downcast_ref(), Some(Refused { status: 403, .. })) => {
                return Err(refused.context("a bot with `auth: iam` or `both` takes signed requests: add --sigv4"));
            }
            answer => answer?,
        },
        (signal, code) = botpub::signals::signalled() => {
            return Err(Interrupted { signal, code, message: "stopped waiting for the answer".into() , follow: None }.into());
        }
    };
    let (doc, code) = match answer {
        Answer::Completed(doc) => (doc, outcome::OK),
        Answer::Failed(doc) => (doc, outcome::FAILED),
    };
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        Output::Text if code == outcome::OK => {
            shown.finish(&Answer::text(&doc));
            if let Some(id) = doc["conversation_id"].as_str() {
                eprintln!("(conversation {id}: continue it with --conversation {id})");
            }
        }
        Output::Text => {
            shown.abandon();
            eprintln!(
                "request {} failed: {}",
                doc["request_id"]
                    .as_str()
                    .or(doc["message_id"].as_str())
                    .unwrap_or("?"),
                doc["error"].as_str().unwrap_or("no error given")
            )
        }
    }
    Ok(code)
}

/// The answer's text as printed so far: each update prints only what is new, at once (a pipe gets the
/// bytes as they come); an attempt that starts over starts a new line.
#[derive(Default)]
struct Shown {
    printed: String,
}

impl Shown {
    fn update(&mut self, text: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = match text.strip_prefix(self.printed.as_str()) {
            Some(new) => write!(out, "{new}"),
            None => {
                let _ = writeln!(out);
                eprintln!("(the bot started its answer again)");
                write!(out, "{text}")
            }
        };
        let _ = out.flush();
        self.printed = text.to_string();
    }

    /// Prints the final answer: what is still missing of it, or all of it when the printed text was not
    /// its start.
    fn finish(&mut self, text: &str) {
        if !self.printed.is_empty() && !text.starts_with(self.printed.as_str()) {
            println!();
            eprintln!("(the final answer differs from the text so far; here it is whole)");
            println!("{text}");
            return;
        }
        println!("{}", &text[self.printed.len()..]);
    }

    /// Ends a line of text an answer that failed left unfinished.
    fn abandon(&mut self) {
        if !self.printed.is_empty() {
            println!();
        }
    }
}

/// The URL a published bot answers at, and the contract it serves there.
async fn endpoint(aws: &Aws, prefix: &str, bot_id: &str) -> anyhow::Result<(String, Contract)> {
    let stack_name = format!("{prefix}-{bot_id}");
    let described = BotStack::describe(aws, &stack_name).await?;
    match described.as_ref().and_then(|s| Some((s.api_endpoint(aws)?, s.contract()))) {
        Some(found) => Ok(found),
        None => Err(Blocked(format!(
            "{bot_id} is not published (there is no stack {stack_name} with an endpoint in {}); publish it first, or pass --prefix",
            aws.region
        ))
        .into()),
    }
}

pub async fn dlq(args: &DlqArgs, output: Output) -> anyhow::Result<u8> {
    let bot_id = args.bot_id.as_str();
    let aws = connect(&args.aws, None).await?;
    let queue = BotQueue::find(&aws, &args.target.prefix, bot_id).await?;
    let letters = dead_letters::list(&aws, &queue).await?;
    if !args.redrive {
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&json!({"bot_id": bot_id, "dead_letters": letters}))?
            ),
            Output::Text if letters.is_empty() => {
                println!("{bot_id}: the dead-letter queue is empty")
            }
            Output::Text => {
                println!(
                    "{:<38} {:>8} {:<22} ERROR",
                    "REQUEST", "RECEIVES", "FIRST SENT"
                );
                for letter in &letters {
                    println!(
                        "{:<38} {:>8} {:<22} {}",
                        letter.request_id,
                        letter.receives,
                        letter.first_sent.as_deref().unwrap_or("-"),
                        letter.error.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        return Ok(outcome::OK);
    }
    if !letters.is_empty() {
        eprintln!(
            "Moving {} request(s) back to {bot_id}'s queue, to be answered again by its worker.",
            letters.len()
        );
        if !confirm("Redrive?", args.yes).await? {
            return Err(Blocked("not confirmed; nothing was moved".into()).into());
        }
    }
    let moved = dead_letters::redrive(&aws, &queue).await?;
    match output {
        Output::Json => println!("{}", json!({"bot_id": bot_id, "redriven": moved})),
        Output::Text => println!("{bot_id}: {moved} request(s) moved back to the queue"),
    }
    Ok(outcome::OK)
}
