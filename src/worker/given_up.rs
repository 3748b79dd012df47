//! The requests SQS gave up on. A message moves to the dead-letter queue after `max_receive_count`
//! deliveries, and some of those may have reached no worker that could answer: a worker killed while it
//! held the request, or a long poll whose worker was gone, which SQS still hands messages to. No worker then
//! saw the last delivery, so none wrote `failed`, and clients would read "processing" forever.
//!
//! Every worker therefore watches the dead-letter queue: when it holds a request without a final answer,
//! the worker writes `failed` with the reason, only where no answer exists (S3's conditional writes, so a
//! late `completed` is never overwritten). The message stays where `botpub dlq` lists it and `--redrive`
//! answers it. Watching costs one count of the queues per interval and a scan only when the dead-letter
//! queue changed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;

use super::answer::{Answerer, failed_document};
use crate::publication::conversations;
use crate::publication::dead_letters;
use crate::publication::queue::{self, Delivery, QueueCounts};
use crate::publication::results::{self, Written, is_final, read_json};

/// How often a dead-letter queue that has not changed is scanned again all the same (SQS's counts are
/// approximate, and a letter redriven while another arrived leaves the count as it was).
const RESCAN: Duration = Duration::from_secs(60);

/// What a worker remembers of the dead-letter queue between looks.
#[derive(Default)]
pub struct DeadLetterWatch {
    /// Messages already settled (or found answered) by this worker.
    settled: HashSet<String>,
    last_count: Option<u64>,
    last_scan: Option<Instant>,
}

/// A request this worker marked `failed` after SQS gave up on it.
pub struct GivenUp {
    pub request_id: String,
    pub correlation_id: Option<String>,
    pub receives: u32,
    pub error: String,
}

impl DeadLetterWatch {
    /// Counts the bot's queues and, when the dead-letter queue changed, settles every letter in it that
    /// has no final answer. Returns the counts and the requests it marked `failed`.
    pub async fn look(
        &mut self,
        answerer: &Answerer,
    ) -> anyhow::Result<(QueueCounts, Vec<GivenUp>)> {
        let queue = &answerer.queue;
        let counts = queue::counts(&answerer.aws, &queue.queue_url, &queue.dead_letter_url).await?;
        let changed = self.last_count != Some(counts.dead_letters);
        let stale = self.last_scan.is_none_or(|at| at.elapsed() >= RESCAN);
        if counts.dead_letters == 0 || !(changed || stale) {
            self.last_count = Some(counts.dead_letters);
            return Ok((counts, Vec::new()));
        }
        let mut given_up = Vec::new();
        for message in dead_letters::scan(&answerer.aws, queue).await? {
            let id = message.message_id().unwrap_or_default().to_string();
            if self.settled.contains(&id) {
                continue;
            }
            if let Some(request) = settle(answerer, &message).await? {
                given_up.push(request);
            }
            self.settled.insert(id);
        }
        // Only a complete scan counts: a failed one is tried again at the next look.
        self.last_count = Some(counts.dead_letters);
        self.last_scan = Some(Instant::now());
        Ok((counts, given_up))
    }
}

/// Writes `failed` for one dead letter whose request has no final answer; `None` when it has one.
async fn settle(answerer: &Answerer, message: &Message) -> anyhow::Result<Option<GivenUp>> {
    let delivery = Delivery::of(message);
    let (aws, bucket) = (&answerer.aws, &answerer.queue.bucket);
    let receives = answerer.queue.max_receive_count;
    let error = format!(
        "given up after {receives} deliveries without an answer: no worker finished it (a worker stopped or died while it held the request); `botpub dlq --redrive` answers it again"
    );
    let (key, doc) = failed_document(&delivery, &error);
    let found = read_json(aws, bucket, &key).await?;
    if found.as_ref().is_some_and(|(doc, _)| is_final(doc)) {
        return Ok(None);
    }
    // A conversation may hold the answer whose own document was never written: write that instead.
    if let Some(conversation_id) = &delivery.conversation_id
        && answerer
            .record_held_answer(
                conversation_id,
                &conversations::read(aws, bucket, conversation_id).await?,
                &delivery,
            )
            .await?
    {
        return Ok(None);
    }
    let etag = found.and_then(|(_, etag)| etag);
    match results::write_json_unless_changed(aws, bucket, &key, etag.as_deref(), &doc).await? {
        Written::Done => Ok(Some(GivenUp {
            request_id: delivery.request_id,
            correlation_id: delivery.correlation_id,
            receives,
            error,
        })),
        // Someone answered it meanwhile (a worker that finished late): its answer stands.
        Written::Conflict => Ok(None),
    }
}

/// How often a worker looks at the dead-letter queue: within half a visibility timeout of a request
/// landing there (so a client learns of it soon after SQS gave up), at least every 30 s, at most every 2 s.
pub fn interval(visibility_timeout: u32) -> Duration {
    (Duration::from_secs(u64::from(visibility_timeout)) / 2)
        .clamp(Duration::from_secs(2), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_queue_is_watched_within_half_a_visibility_timeout() {
        assert_eq!(interval(8), Duration::from_secs(4));
        assert_eq!(interval(1), Duration::from_secs(2));
        assert_eq!(interval(1800), Duration::from_secs(30));
    }
}
