//! One message, from its delivery to its answer: skip it if it was answered before, give the bot the
//! request document (for a conversation, with its history), record the answer or the failure where clients
//! read it, and only then delete the message.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::Message;
use serde_json::{Map, Value, json};

use super::bot::{Bot, Failure};
use super::budget;
use super::partial::{self, Partial};
use crate::aws::{Aws, AwsContext, retry_delay};
use crate::cloudformation::stack::timestamp;
use crate::publication::conversations::{self, Conversation, Written};
use crate::publication::dead_letters;
use crate::publication::queue::{BotQueue, Delivery};
use crate::publication::results::{self, SoFar, Status};
use crate::publication::tokens::Tokens;

/// Why a message that names another caller's conversation fails: what the API says of a conversation it
/// does not know.
const NO_SUCH_CONVERSATION: &str = "No such conversation";

/// What answering needs: the bot, its queue and bucket, and how long one attempt may take.
pub struct Answerer {
    pub aws: Aws,
    pub queue: BotQueue,
    pub bot: Bot,
    pub timeout: Duration,
    /// How often, at most, a streaming bot's text so far is stored for clients; zero: never.
    pub flush_interval: Duration,
    /// What each caller has spent of the bot's token budget.
    pub spent: budget::Spent,
    /// Tokens counted and not yet published as metrics.
    pub meter: budget::Meter,
}

/// What became of one message.
pub enum Outcome {
    Answered,
    Duplicate,
    /// The attempt failed; SQS delivers the message again after a pause.
    Retry(String),
    /// The last allowed attempt failed: the result says so, and the message goes to the dead-letter queue.
    Failed(String),
    /// The result could not be written or the message not deleted: released unanswered.
    Released(String),
}

impl Answerer {
    /// Answers one delivered message; `bot_time` gets the bot's share of the time.
    pub async fn answer(
        &self,
        message: &Message,
        delivery: &Delivery,
        bot_time: &mut Option<Duration>,
    ) -> Outcome {
        let body = message.body().unwrap_or_default();
        let request: Value = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
        let mut document = json!({
            "bot_id": self.queue.bot_id,
            "request_id": delivery.request_id,
            "correlation_id": delivery.correlation_id,
            "attempt": delivery.receives.unwrap_or(1),
            "received_at": delivery.sent_at().unwrap_or_else(now),
        });
        let conversation = match &delivery.conversation_id {
            None => {
                // A message delivered again after its answer was written: delete it, never answer twice.
                if let Ok(Some(status)) =
                    results::status(&self.aws, &self.queue.bucket, &delivery.request_id).await
                    && status == Status::Completed
                {
                    return self.delete_duplicate(delivery).await;
                }
                None
            }
            Some(id) => match self.load_conversation(id, delivery).await {
                // Another caller's conversation: this caller cannot see it, let alone continue it.
                Ok(Some(conversation)) if !delivery.may_continue(&conversation.doc) => {
                    return self
                        .refuse(
                            delivery,
                            NO_SUCH_CONVERSATION,
                            json!({"error_code": "not_found"}),
                        )
                        .await;
                }
                Ok(Some(conversation)) => {
                    document["conversation_id"] = json!(id);
                    document["message_id"] = json!(delivery.request_id);
                    document["history"] = history(&conversation);
                    Some((id.as_str(), conversation))
                }
                Ok(None) => return self.delete_duplicate(delivery).await,
                Err(e) => return self.release(delivery, e).await,
            },
        };
        document["request"] = request;
        if let Some(budget) = self.queue.token_budget {
            let owner = delivery.owner.as_deref();
            match self
                .spent
                .exceeded(&self.aws, &self.queue.bucket, owner, budget)
                .await
            {
                Ok(Some(exceeded)) => {
                    return self
                        .refuse(delivery, &exceeded.message(), exceeded.details())
                        .await;
                }
                Ok(None) => {}
                Err(e) => return self.release(delivery, e).await,
            }
        }
        let called = Instant::now();
        let conversation_id = conversation.as_ref().map(|(id, _)| *id);
        let answered = self.call(&document, delivery, conversation_id).await;
        *bot_time = Some(called.elapsed());
        let attempt = delivery.receives.unwrap_or(1);
        // What the model billed counts for the caller before anything else is recorded, whether the
        // attempt answered or failed after its model call.
        let used = match &answered {
            Ok(fields) => fields.get("usage").and_then(Tokens::of),
            Err(failure) => failure.usage,
        };
        if let Some(used) = used {
            let (bucket, owner) = (&self.queue.bucket, delivery.owner.as_deref());
            let id = &delivery.request_id;
            let counted = resend(|| budget::record(&self.aws, bucket, owner, id, attempt, used));
            if let Err(e) = counted.await {
                return self.release(delivery, e).await;
            }
            if let Some(budget) = self.queue.token_budget {
                self.spent.add(owner, budget, used);
            }
            self.meter.add(used);
        }
        match answered {
            Ok(fields) => {
                let recorded = match &conversation {
                    None => {
                        let doc = delivery.owned(results::completed(
                            &delivery.request_id,
                            delivery.correlation_id.as_deref(),
                            fields,
                            &now(),
                        ));
                        self.persist(&results::key(&delivery.request_id), &doc)
                            .await
                    }
                    Some((id, read)) => {
                        match self
                            .record_exchange(id, read, delivery, &document["request"], fields)
                            .await
                        {
                            Ok(Written::Done) => Ok(()),
                            Ok(Written::Conflict) => {
                                let why = "the conversation changed while this message was answered; it is answered again with the new history";
                                return self.retry_later(delivery, attempt, why.into()).await;
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                if let Err(e) = recorded {
                    return self.release(delivery, e).await;
                }
                match self.delete(&delivery.receipt).await {
                    Ok(()) => Outcome::Answered,
                    // Answered but not deleted: the next delivery finds the answer and deletes it.
                    Err(e) => Outcome::Released(format!("{e:#}")),
                }
            }
            Err(Failure { error, retry, .. })
                if !retry || attempt >= self.queue.max_receive_count =>
            {
                let (key, doc) = failed_document(delivery, &error);
                if let Err(e) = self.persist(&key, &doc).await {
                    return self.release(delivery, e).await;
                }
                if retry {
                    // Visible again at once: the next receive moves it to the dead-letter queue.
                    self.set_visibility(&delivery.receipt, Duration::ZERO).await;
                } else if let Err(e) = self.dead_letter_now(message, delivery).await {
                    // Refused for good, yet not moved: the next attempt is refused again, until the last.
                    return self
                        .retry_later(delivery, attempt, format!("{error}; {e:#}"))
                        .await;
                }
                Outcome::Failed(error)
            }
            Err(Failure { error, .. }) => self.retry_later(delivery, attempt, error).await,
        }
    }

    /// Moves a message the bot refused for good to the dead-letter queue at once (a copy sent there, then
    /// the original deleted), so that no further attempt calls the model, and `dlq --redrive` answers it
    /// once the cause is fixed.
    async fn dead_letter_now(&self, message: &Message, delivery: &Delivery) -> anyhow::Result<()> {
        resend(|| dead_letters::copy(&self.aws, &self.queue, message, &self.queue.dead_letter_url))
            .await?;
        self.delete(&delivery.receipt).await
    }

    /// Hides the message for the pause before its next attempt, when SQS delivers it again.
    async fn retry_later(&self, delivery: &Delivery, attempt: u32, why: String) -> Outcome {
        self.set_visibility(&delivery.receipt, self.pause(attempt))
            .await;
        Outcome::Retry(why)
    }

    /// Calls the bot once; while it writes, its text so far is kept in the request's document for clients
    /// ([`partial`]), and that stops before the call's outcome is recorded.
    async fn call(
        &self,
        document: &Value,
        delivery: &Delivery,
        conversation_id: Option<&str>,
    ) -> Result<Map<String, Value>, Failure> {
        if self.flush_interval.is_zero() {
            return self.bot.call(document, self.timeout, Partial::off()).await;
        }
        let (partial, text) = Partial::new();
        let (done, stopped) = tokio::sync::oneshot::channel();
        let attempt = delivery.receives.unwrap_or(1);
        let (id, correlation_id) = (&delivery.request_id, delivery.correlation_id.as_deref());
        // The partial document goes where the final one will: the result, or the message's answer.
        let (key, partial_document): (String, partial::Document) = match conversation_id {
            None => (
                results::key(id),
                Box::new(move |text, sequence| {
                    let so_far = SoFar {
                        text,
                        sequence,
                        attempt,
                    };
                    delivery.owned(results::partial(id, correlation_id, so_far))
                }),
            ),
            Some(conversation_id) => (
                conversations::message_key(conversation_id, id),
                Box::new(move |text, sequence| {
                    let so_far = SoFar {
                        text,
                        sequence,
                        attempt,
                    };
                    delivery.owned(conversations::partial(
                        conversation_id,
                        id,
                        correlation_id,
                        so_far,
                    ))
                }),
            ),
        };
        let target = partial::Target {
            aws: &self.aws,
            bucket: &self.queue.bucket,
            key,
            document: partial_document,
        };
        let call = async {
            let answered = self.bot.call(document, self.timeout, partial).await;
            let _ = done.send(());
            answered
        };
        let (answered, _) = tokio::join!(
            call,
            partial::keep_up(target, text, self.flush_interval, stopped)
        );
        answered
    }

    /// The conversation a message continues, or `None` when the message is already answered (its answer
    /// document exists, or the conversation holds its answer and only the document is missing).
    async fn load_conversation(
        &self,
        conversation_id: &str,
        delivery: &Delivery,
    ) -> anyhow::Result<Option<Conversation>> {
        let (aws, bucket) = (&self.aws, &self.queue.bucket);
        let message_id = &delivery.request_id;
        if let Some(doc) =
            conversations::read_message(aws, bucket, conversation_id, message_id).await?
            && Status::of(&doc) == Some(Status::Completed)
        {
            return Ok(None);
        }
        let conversation = conversations::read(aws, bucket, conversation_id).await?;
        if self
            .record_held_answer(conversation_id, &conversation, delivery)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(conversation))
    }

    /// Writes a message's answer document when the conversation already holds its answer (an attempt
    /// that stopped between the two writes); whether it did.
    pub async fn record_held_answer(
        &self,
        conversation_id: &str,
        conversation: &Conversation,
        delivery: &Delivery,
    ) -> anyhow::Result<bool> {
        let message_id = &delivery.request_id;
        let Some(answer) = conversation.answer_to(message_id) else {
            return Ok(false);
        };
        let doc = delivery.owned(conversations::answered(
            conversation_id,
            message_id,
            delivery.correlation_id.as_deref(),
            answer,
        ));
        self.persist(
            &conversations::message_key(conversation_id, message_id),
            &doc,
        )
        .await?;
        Ok(true)
    }

    /// Appends the user's message and the bot's answer to the conversation, then writes the answer's
    /// document; a conversation changed by someone else is left alone.
    async fn record_exchange(
        &self,
        conversation_id: &str,
        read: &Conversation,
        delivery: &Delivery,
        request: &Value,
        fields: Map<String, Value>,
    ) -> anyhow::Result<Written> {
        let message_id = &delivery.request_id;
        let sent = delivery
            .sent_ms
            .map(|ms| ms as f64 / 1000.0)
            .unwrap_or_else(unix_now);
        let user = json!({
            "message_id": message_id,
            "role": "user",
            "content": request["message"]["content"],
            "model": request["message"].get("model"),
            "create_time": sent,
        });
        let assistant = json!({
            "message_id": format!("{message_id}-answer"),
            "parent_message_id": message_id,
            "role": "assistant",
            "content": content(fields.get("response").unwrap_or(&Value::Null)),
            "model": fields.get("model"),
            "usage": fields.get("usage"),
            "create_time": unix_now(),
        });
        let (user, assistant) = (without_nulls(user), without_nulls(assistant));
        // The first message with an owner claims a conversation begun before answers had owners.
        let doc = delivery.owned(read.with_exchange(conversation_id, user, assistant.clone()));
        let written = resend(|| async {
            conversations::write(&self.aws, &self.queue.bucket, conversation_id, read, &doc).await
        })
        .await?;
        if written == Written::Done {
            let answer = delivery.owned(conversations::answered(
                conversation_id,
                message_id,
                delivery.correlation_id.as_deref(),
                &assistant,
            ));
            self.persist(
                &conversations::message_key(conversation_id, message_id),
                &answer,
            )
            .await?;
        }
        Ok(written)
    }

    /// Ends a request the bot must not see, for good and without a retry: its `failed` document says why,
    /// and the message is deleted rather than dead-lettered, since nothing can fix it.
    async fn refuse(&self, delivery: &Delivery, why: &str, details: Value) -> Outcome {
        let (key, mut doc) = failed_document(delivery, why);
        if let (Some(doc), Value::Object(details)) = (doc.as_object_mut(), details) {
            doc.extend(details);
        }
        if let Err(e) = self.persist(&key, &doc).await {
            return self.release(delivery, e).await;
        }
        match self.delete(&delivery.receipt).await {
            Ok(()) => Outcome::Failed(why.to_string()),
            Err(e) => Outcome::Released(format!("{e:#}")),
        }
    }

    async fn delete_duplicate(&self, delivery: &Delivery) -> Outcome {
        match self.delete(&delivery.receipt).await {
            Ok(()) => Outcome::Duplicate,
            Err(e) => Outcome::Released(format!("{e:#}")),
        }
    }

    /// Hands a message back unanswered, at once.
    async fn release(&self, delivery: &Delivery, error: anyhow::Error) -> Outcome {
        self.set_visibility(&delivery.receipt, Duration::ZERO).await;
        Outcome::Released(format!("{error:#}"))
    }

    /// The pause before the next attempt: it grows with each attempt, within the visibility timeout.
    fn pause(&self, attempt: u32) -> Duration {
        Duration::from_secs(1 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(
            u64::from(self.queue.visibility_timeout),
        ))
    }

    /// Hides a received message for `hidden` from now on: zero hands it back to the queue at once.
    /// Best effort: a message whose call failed comes back when its visibility timeout ends.
    pub async fn set_visibility(&self, receipt: &str, hidden: Duration) -> bool {
        self.aws
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(hidden.as_secs() as i32)
            .send()
            .await
            .is_ok()
    }

    /// Writes a document to the bucket, trying again while AWS is out of reach (the heartbeat keeps
    /// the message).
    async fn persist(&self, key: &str, doc: &Value) -> anyhow::Result<()> {
        resend(|| results::write_json(&self.aws, &self.queue.bucket, key, doc)).await
    }

    async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
        resend(|| async {
            self.aws
                .sqs
                .delete_message()
                .queue_url(&self.queue.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .aws("deleting an answered request from the queue")
                .map(|_| ())
        })
        .await
    }
}

/// Where a request's `failed` document goes and what it says: the result of a predict request, or the
/// answer document of a conversation's message.
pub fn failed_document(delivery: &Delivery, error: &str) -> (String, Value) {
    let (key, doc) = match &delivery.conversation_id {
        None => (
            results::key(&delivery.request_id),
            results::failed(
                &delivery.request_id,
                delivery.correlation_id.as_deref(),
                error,
                &now(),
            ),
        ),
        Some(conversation_id) => (
            conversations::message_key(conversation_id, &delivery.request_id),
            conversations::failed(
                conversation_id,
                &delivery.request_id,
                delivery.correlation_id.as_deref(),
                error,
                unix_now(),
            ),
        ),
    };
    (key, delivery.owned(doc))
}

/// The conversation so far as the bot gets it: role, content, message id and time, oldest first.
fn history(conversation: &Conversation) -> Value {
    conversation
        .messages()
        .iter()
        .map(|m| {
            json!({
                "role": m["role"],
                "content": m["content"],
                "message_id": m["message_id"],
                "create_time": m["create_time"],
            })
        })
        .collect()
}

/// A message without `"model": null` or `"usage": null`: the fields are optional, and left out when
/// there is nothing to say.
fn without_nulls(mut message: Value) -> Value {
    if let Some(fields) = message.as_object_mut() {
        fields
            .retain(|name, value| !(matches!(name.as_str(), "model" | "usage") && value.is_null()));
    }
    message
}

/// The bot's `response` as seed 003's message content: a text item, or the items it gave.
fn content(response: &Value) -> Value {
    match response {
        Value::String(text) => json!([{"content_type": "text", "body": text}]),
        Value::Array(items) if items.iter().all(|i| i.get("content_type").is_some()) => {
            response.clone()
        }
        other => json!([{"content_type": "text", "body": other.to_string()}]),
    }
}

/// Sends a request again, a few times with backoff, after the SDK's own retries gave up: the message's
/// heartbeat goes on meanwhile, so a longer outage costs nothing but time.
async fn resend<T, F, Fut>(mut send: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Ok(done) => return Ok(done),
            Err(error) if attempt >= 5 => return Err(error),
            Err(_) => {
                tokio::time::sleep(retry_delay(attempt)).await;
                attempt += 1;
            }
        }
    }
}

pub fn now() -> String {
    timestamp(&aws_smithy_types::DateTime::from(SystemTime::now()))
}

/// Seconds since the Unix epoch: seed 003's `create_time`.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bot_response_becomes_message_content() {
        assert_eq!(
            content(&json!("hi")),
            json!([{"content_type": "text", "body": "hi"}])
        );
        let items = json!([{"content_type": "text", "body": "a"}, {"content_type": "image", "body": "b64"}]);
        assert_eq!(content(&items), items);
        assert_eq!(
            content(&json!({"x": 1})),
            json!([{"content_type": "text", "body": "{\"x\":1}"}])
        );
    }
}
