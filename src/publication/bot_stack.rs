//! A bot's deployed stack, read through the outputs its template declares (`synth::outputs`): the one
//! reader of them, so that status, keys, queues, unpublishing and the command line agree on what a
//! published bot offers.

use crate::aws::Aws;
use crate::cloudformation::stack::{self, Described, State};
use crate::outcome::blocked;
use crate::spec::model::{Contract, TokenBudget};
use crate::synth::outputs;

/// A bot's stack as CloudFormation describes it.
#[derive(Debug, Clone)]
pub struct BotStack(pub Described);

impl BotStack {
    /// The stack of `{prefix}-{bot_id}`; an error (exit 4) when the bot is not published. A stack only
    /// under review (a plan nobody applied) holds nothing: the bot is not published.
    pub async fn find(aws: &Aws, prefix: &str, bot_id: &str) -> anyhow::Result<BotStack> {
        let stack_name = format!("{prefix}-{bot_id}");
        match BotStack::describe(aws, &stack_name).await? {
            Some(stack) => Ok(stack),
            None => blocked(format!(
                "{bot_id} is not published (there is no stack {stack_name} in {}); publish it first, or pass --prefix",
                aws.region
            )),
        }
    }

    /// The stack named `stack_name`, unless there is none or it is only under review.
    pub async fn describe(aws: &Aws, stack_name: &str) -> anyhow::Result<Option<BotStack>> {
        Ok(stack::describe(aws, stack_name)
            .await?
            .filter(|s| s.state != State::Review)
            .map(BotStack))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// API Gateway's URL of the stage (as reachable through a custom AWS endpoint such as LocalStack's).
    pub fn api_endpoint(&self, aws: &Aws) -> Option<String> {
        self.0.output(outputs::ENDPOINT).map(|e| aws.api_url(e))
    }

    /// The URL the bot's clients call: its custom domain's when it has one, else API Gateway's.
    pub fn client_endpoint(&self, aws: &Aws) -> Option<String> {
        self.domain_endpoint()
            .map(str::to_string)
            .or_else(|| self.api_endpoint(aws))
    }

    pub fn domain_endpoint(&self) -> Option<&str> {
        self.0.output(outputs::DOMAIN_ENDPOINT)
    }

    /// Where clients read the API's OpenAPI description: below the URL they call. A stack published
    /// before the API served it has none.
    pub fn description_url(&self, aws: &Aws) -> Option<String> {
        let path = self.0.output(outputs::OPENAPI_PATH)?;
        Some(format!("{}{path}", self.client_endpoint(aws)?))
    }

    /// The custom domain the stack is mapped onto.
    pub fn domain_name(&self) -> Option<&str> {
        let url = self.domain_endpoint()?.strip_prefix("https://")?;
        Some(url.split('/').next().unwrap_or(url))
    }

    pub fn stage(&self) -> Option<&str> {
        self.0.output(outputs::STAGE)
    }

    pub fn usage_plan_id(&self) -> Option<&str> {
        self.0.output(outputs::USAGE_PLAN_ID)
    }

    pub fn default_key_id(&self) -> Option<&str> {
        self.0.output(outputs::DEFAULT_API_KEY_ID)
    }

    pub fn results_bucket(&self) -> Option<&str> {
        self.0.output(outputs::RESULTS_BUCKET)
    }

    pub fn queue_url(&self) -> Option<&str> {
        self.0.output(outputs::QUEUE_URL)
    }

    pub fn dead_letter_queue_url(&self) -> Option<&str> {
        self.0.output(outputs::DEAD_LETTER_QUEUE_URL)
    }

    /// The API the bot serves; stacks published before contracts existed serve `predict`.
    pub fn contract(&self) -> Contract {
        Contract::from_output(self.0.output(outputs::CONTRACT))
    }

    /// The tokens each caller may spend per period, when the bot has a budget.
    pub fn token_budget(&self) -> Option<TokenBudget> {
        let (limit, period) = self.0.output(outputs::TOKEN_BUDGET)?.split_once(' ')?;
        let period = serde_json::from_value(serde_json::Value::String(period.to_string())).ok()?;
        Some(TokenBudget {
            limit: limit.parse().ok()?,
            period,
        })
    }

    /// An output (named by `synth::outputs`) the caller cannot do without, or an error saying that the
    /// stack predates it.
    pub fn required(&self, output: &str) -> anyhow::Result<&str> {
        self.0.output(output).ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no {output} output ({}): republish the bot with this version of botpub",
                self.0.name,
                self.0.status
            )
        })
    }
}
