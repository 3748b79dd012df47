//! A bot's dead-letter queue: the requests that failed for good, listed without being removed, and moved
//! back to the work queue (redriven) once the bot is fixed, so they are answered after all.

use std::collections::HashSet;

use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use serde::Serialize;

use super::queue::{BotQueue, Delivery};
use super::results;
use crate::aws::{Aws, AwsContext};
use crate::spec::model::Contract;

/// One request in the dead-letter queue.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub request_id: String,
    /// How often it was received, its last attempts included.
    pub receives: u64,
    pub first_sent: Option<String>,
    /// The error of its `failed` result, when the worker wrote one.
    pub error: Option<String>,
}

/// Every request in the dead-letter queue, with the error of its `failed` result.
pub async fn list(aws: &Aws, queue: &BotQueue) -> anyhow::Result<Vec<DeadLetter>> {
    let mut letters = Vec::new();
    for message in scan(aws, queue).await? {
        let delivery = Delivery::of(&message);
        letters.push(DeadLetter {
            first_sent: delivery.sent_at(),
            receives: delivery.receives.map_or(0, u64::from),
            error: results::read(aws, &queue.bucket, &delivery.request_id)
                .await?
                .and_then(|doc| doc["error"].as_str().map(str::to_string)),
            request_id: delivery.request_id,
        });
    }
    Ok(letters)
}

/// Every message in the dead-letter queue, each once. Each is received with a visibility timeout of
/// zero, so it stays where it is, visible to the next reader.
pub async fn scan(aws: &Aws, queue: &BotQueue) -> anyhow::Result<Vec<Message>> {
    let mut seen = HashSet::new();
    let mut messages = Vec::new();
    // SQS samples servers: a few empty or repeated answers in a row mean everything has been seen.
    let mut quiet = 0;
    while quiet < 3 {
        let output = aws
            .sqs
            .receive_message()
            .queue_url(&queue.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .aws(format!("reading {}'s dead-letter queue", queue.bot_id))?;
        let mut fresh = false;
        for message in output.messages.unwrap_or_default() {
            if seen.insert(message.message_id.clone()) {
                fresh = true;
                messages.push(message);
            }
        }
        quiet = if fresh { 0 } else { quiet + 1 };
    }
    Ok(messages)
}

/// Moves every dead letter back to the work queue with SQS's own message move task, and waits for it to
/// finish; an engine without move tasks gets [`redrive_by_hand`], and so does a conversation bot, whose
/// clients poll an id made of SQS's (a move task is not documented to keep it; by hand it goes along).
/// Returns how many were moved.
pub async fn redrive(aws: &Aws, queue: &BotQueue) -> anyhow::Result<u64> {
    if queue.contract == Contract::Conversation {
        return redrive_by_hand(aws, queue).await;
    }
    let arn = |url: &str| {
        let url = url.to_string();
        async move {
            let attributes = aws
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .aws("reading a queue's ARN")?;
            attributes
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{url} has no ARN"))
        }
    };
    let (source, destination) = (
        arn(&queue.dead_letter_url).await?,
        arn(&queue.queue_url).await?,
    );
    let started = aws
        .sqs
        .start_message_move_task()
        .source_arn(&source)
        .destination_arn(&destination)
        .send()
        .await;
    let handle = match started {
        Ok(started) => started.task_handle().unwrap_or_default().to_string(),
        // An engine without move tasks (LocalStack) gets the messages moved one by one.
        Err(error) if crate::aws::fact(&error) == crate::aws::Fact::Unsupported => {
            return redrive_by_hand(aws, queue).await;
        }
        Err(error) => {
            return Err(error).aws(format!("starting the redrive of {}", queue.bot_id));
        }
    };
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        let tasks = aws
            .sqs
            .list_message_move_tasks()
            .source_arn(&source)
            .send()
            .await
            .aws(format!("following the redrive of {}", queue.bot_id))?;
        // The newest task is listed first; ours is the one with our handle (or the only one running).
        let task = tasks
            .results()
            .iter()
            .find(|t| t.task_handle() == Some(handle.as_str()))
            .or_else(|| tasks.results().first());
        if let Some(task) = task {
            match task.status() {
                Some("COMPLETED") => return Ok(task.approximate_number_of_messages_moved() as u64),
                Some(status @ ("FAILED" | "CANCELLED" | "CANCELLING")) => anyhow::bail!(
                    "the redrive of {} ended {status}: {}",
                    queue.bot_id,
                    task.failure_reason().unwrap_or("no reason given")
                ),
                _ => {}
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(2));
    }
}

/// Sends a copy of a received message (body and attributes unchanged) to one of the bot's queues. On a
/// conversation bot's FIFO queues it keeps its message group (its conversation), with its own id as the
/// deduplication id, so that a send repeated after a lost answer does not queue it twice, and the id its
/// client polls (the `message_id` attribute), since SQS gives the copy a new one.
pub async fn copy(
    aws: &Aws,
    queue: &BotQueue,
    message: &Message,
    to_url: &str,
) -> anyhow::Result<()> {
    let mut attributes: std::collections::HashMap<String, MessageAttributeValue> =
        message.message_attributes().cloned().unwrap_or_default();
    if queue.contract == Contract::Conversation {
        // The copy gets an id of its own from SQS: the id the client polls goes with it.
        if !attributes.contains_key("message_id") {
            let client_id = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(Delivery::of(message).request_id)
                .build()?;
            attributes.insert("message_id".into(), client_id);
        }
    }
    let mut send = aws
        .sqs
        .send_message()
        .queue_url(to_url)
        .message_body(message.body().unwrap_or_default())
        .set_message_attributes(Some(attributes));
    if queue.contract == Contract::Conversation {
        let group = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .or(message.message_id.as_ref());
        send = send
            .set_message_group_id(group.cloned())
            .set_message_deduplication_id(message.message_id.clone());
    }
    send.send().await.aws(format!(
        "moving a message of {} between its queues",
        queue.bot_id
    ))?;
    Ok(())
}

/// Moves every dead letter back by receiving it, sending it to the work queue (body and attributes
/// unchanged) and deleting it: sent first, deleted after, so none is lost. On a conversation bot's FIFO
/// queue it goes back to its own message group (its conversation), with the dead letter's id as the
/// deduplication id, so that a send repeated after a lost answer does not queue it twice.
pub async fn redrive_by_hand(aws: &Aws, queue: &BotQueue) -> anyhow::Result<u64> {
    let mut moved = 0;
    let mut quiet = 0;
    while quiet < 3 {
        let output = aws
            .sqs
            .receive_message()
            .queue_url(&queue.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .aws(format!("reading {}'s dead-letter queue", queue.bot_id))?;
        if output.messages().is_empty() {
            quiet += 1;
            continue;
        }
        quiet = 0;
        for message in output.messages() {
            copy(aws, queue, message, &queue.queue_url).await?;
            aws.sqs
                .delete_message()
                .queue_url(&queue.dead_letter_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .aws(format!("removing a moved dead letter of {}", queue.bot_id))?;
            moved += 1;
        }
    }
    Ok(moved)
}
