//! The outputs of a bot's stack, by name: `templates/bot.json.j2` declares them (a test holds the two
//! together) and `publication::bot_stack` reads them. Nothing else names a bot's output.

/// API Gateway's URL of the stage.
pub const ENDPOINT: &str = "Endpoint";
/// The custom domain's URL of the bot, when it has one.
pub const DOMAIN_ENDPOINT: &str = "DomainEndpoint";
pub const API_ID: &str = "ApiId";
pub const STAGE: &str = "Stage";
pub const USAGE_PLAN_ID: &str = "UsagePlanId";
/// The key the stack itself made; unpublishing leaves its deletion to CloudFormation.
pub const DEFAULT_API_KEY_ID: &str = "DefaultApiKeyId";
pub const RESULTS_BUCKET: &str = "ResultsBucket";
/// `predict` or `conversation`; absent on stacks published before contracts existed.
pub const CONTRACT: &str = "Contract";
pub const QUEUE_URL: &str = "QueueUrl";
pub const QUEUE_ARN: &str = "QueueArn";
pub const DEAD_LETTER_QUEUE_URL: &str = "DeadLetterQueueUrl";
/// `LIMIT PERIOD` (e.g. `1000000 MONTH`), when the bot has a token budget.
pub const TOKEN_BUDGET: &str = "TokenBudget";
/// Where below the endpoint the API serves its OpenAPI description; absent on stacks published before it did.
pub const OPENAPI_PATH: &str = "OpenApiPath";

/// Every output a bot's template may declare.
pub const ALL: [&str; 13] = [
    ENDPOINT,
    DOMAIN_ENDPOINT,
    API_ID,
    STAGE,
    USAGE_PLAN_ID,
    DEFAULT_API_KEY_ID,
    RESULTS_BUCKET,
    CONTRACT,
    QUEUE_URL,
    QUEUE_ARN,
    DEAD_LETTER_QUEUE_URL,
    TOKEN_BUDGET,
    OPENAPI_PATH,
];
