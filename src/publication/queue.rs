//! A published bot's work queue, dead-letter queue and results bucket, found from its stack's outputs
//! (so no command asks for a URL), with the queue settings a worker lives by and the counts `status` shows.

use serde::Serialize;

use super::bot_stack::BotStack;
use crate::aws::{Aws, AwsContext};
use crate::cloudformation::stack;
use crate::spec::model::{Contract, TokenBudget};
use crate::synth::outputs;

/// What botpub reads off a message of a bot's queue: the request it carries and how often it was received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    /// The id the client got: the `request_id` attribute the API sets on a request; for a conversation's
    /// message, the time the API accepted it then SQS's id (or the `message_id` a redrive kept). Else
    /// the message id.
    pub request_id: String,
    pub correlation_id: Option<String>,
    /// The conversation a message belongs to (the conversation contract).
    pub conversation_id: Option<String>,
    /// How many times SQS has handed the message out, this time included.
    pub receives: Option<u32>,
    /// When the API sent it, in milliseconds since the Unix epoch.
    pub sent_ms: Option<i64>,
    /// The caller it belongs to, as the API named it (`owner`: the API key's id, or the IAM principal's);
    /// `None` for a request accepted before answers had owners.
    pub owner: Option<String>,
}

impl Delivery {
    pub fn of(message: &aws_sdk_sqs::types::Message) -> Delivery {
        use aws_sdk_sqs::types::MessageSystemAttributeName as Name;
        let message_id = message.message_id().unwrap_or_default().to_string();
        let attribute = |name: &str| {
            message
                .message_attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.string_value())
                .map(str::to_string)
        };
        let system = |name: Name| message.attributes().and_then(|a| a.get(&name)).cloned();
        let conversation_id = attribute("conversation_id");
        let sent_ms = system(Name::SentTimestamp).and_then(|ms| ms.parse::<i64>().ok());
        let request_id = match conversation_id {
            Some(_) => attribute("message_id")
                .or_else(|| attribute("accepted_at").map(|at| format!("{at}-{message_id}"))),
            None => attribute("request_id"),
        };
        Delivery {
            receipt: message.receipt_handle().unwrap_or_default().to_string(),
            request_id: request_id.unwrap_or_else(|| message_id.clone()),
            correlation_id: attribute("correlation_id"),
            conversation_id,
            receives: system(Name::ApproximateReceiveCount).and_then(|n| n.parse().ok()),
            sent_ms,
            owner: attribute("owner").filter(|owner| !owner.is_empty()),
            message_id,
        }
    }

    /// A document of this request marked as its caller's: the API shows it to that caller alone.
    pub fn owned(&self, mut doc: serde_json::Value) -> serde_json::Value {
        if let (Some(owner), Some(fields)) = (&self.owner, doc.as_object_mut()) {
            fields.insert("owner".into(), owner.as_str().into());
        }
        doc
    }

    /// Whether a document may be continued by this request: it has no owner (stored before answers had
    /// owners), the request has none (accepted before), or they are the same caller.
    pub fn may_continue(&self, doc: &serde_json::Value) -> bool {
        match (doc["owner"].as_str(), &self.owner) {
            (Some(stored), Some(owner)) => stored == owner,
            _ => true,
        }
    }
}

impl Delivery {
    /// When the API sent the message (RFC 3339).
    pub fn sent_at(&self) -> Option<String> {
        self.sent_ms
            .map(|ms| stack::timestamp(&aws_smithy_types::DateTime::from_millis(ms)))
    }
}

/// Where a bot's requests wait and its answers go.
#[derive(Debug, Clone)]
pub struct BotQueue {
    pub bot_id: String,
    pub stack_name: String,
    pub queue_url: String,
    pub dead_letter_url: String,
    pub bucket: String,
    /// How long a received message stays hidden from other workers.
    pub visibility_timeout: u32,
    /// Receives after which SQS moves a message to the dead-letter queue.
    pub max_receive_count: u32,
    /// The API the bot serves; a conversation bot's queue is FIFO, one message group per conversation.
    pub contract: Contract,
    /// The tokens each caller may spend per period, when the bot has a budget.
    pub token_budget: Option<TokenBudget>,
}

/// Messages in a bot's queues, as SQS counts them (approximately, by its own word).
#[derive(Debug, Clone, Serialize)]
pub struct QueueCounts {
    pub waiting: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
}

impl BotQueue {
    /// The queues of `{prefix}-{bot_id}`; an error (exit 4) when the bot is not published or has no queue.
    pub async fn find(aws: &Aws, prefix: &str, bot_id: &str) -> anyhow::Result<BotQueue> {
        let stack = BotStack::find(aws, prefix, bot_id).await?;
        let queue_url = stack.required(outputs::QUEUE_URL)?.to_string();
        let dead_letter_url = stack.required(outputs::DEAD_LETTER_QUEUE_URL)?.to_string();
        let bucket = stack.required(outputs::RESULTS_BUCKET)?.to_string();
        let attributes = aws
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .aws(format!("reading the settings of {bot_id}'s queue"))?;
        let attribute = |name| attributes.attributes().and_then(|a| a.get(&name)).cloned();
        let visibility_timeout =
            attribute(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
                .and_then(|v| v.parse().ok())
                .unwrap_or(30);
        let max_receive_count = attribute(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .and_then(|policy| serde_json::from_str::<serde_json::Value>(&policy).ok())
            .and_then(|policy| match &policy["maxReceiveCount"] {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            })
            .unwrap_or(1) as u32;
        Ok(BotQueue {
            bot_id: bot_id.to_string(),
            stack_name: stack.name().to_string(),
            queue_url,
            dead_letter_url,
            bucket,
            visibility_timeout,
            max_receive_count,
            contract: stack.contract(),
            token_budget: stack.token_budget(),
        })
    }
}

impl BotQueue {
    /// The Lambda function that consumes this queue (the spec's `worker_function_arn`), if there is one:
    /// another worker beside it would take its requests.
    pub async fn lambda_worker(&self, aws: &Aws) -> anyhow::Result<Option<String>> {
        match aws
            .cloudformation
            .describe_stack_resource()
            .stack_name(&self.stack_name)
            .logical_resource_id("WorkerMapping")
            .send()
            .await
        {
            Ok(found) => Ok(found
                .stack_resource_detail()
                .and_then(|r| r.physical_resource_id())
                .map(str::to_string)
                .or_else(|| Some("a Lambda event source mapping".to_string()))),
            Err(error) if crate::aws::fact(&error) == crate::aws::Fact::NotFound => Ok(None),
            Err(error) => Err(error).aws(format!("reading {}'s resources", self.stack_name)),
        }
    }
}

/// The counts of a bot's queues (`None` for a stack without queues).
pub async fn counts(
    aws: &Aws,
    queue_url: &str,
    dead_letter_url: &str,
) -> anyhow::Result<QueueCounts> {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let read = |url: &str| {
        aws.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
    };
    let (queue, dead) = futures::join!(read(queue_url), read(dead_letter_url));
    let queue = queue.aws("reading the queue's counts")?;
    let dead = dead.aws("reading the dead-letter queue's counts")?;
    let count =
        |output: &aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput,
         name: Name| {
            output
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
    Ok(QueueCounts {
        waiting: count(&queue, Name::ApproximateNumberOfMessages),
        in_flight: count(&queue, Name::ApproximateNumberOfMessagesNotVisible),
        dead_letters: count(&dead, Name::ApproximateNumberOfMessages)
            + count(&dead, Name::ApproximateNumberOfMessagesNotVisible),
    })
}
