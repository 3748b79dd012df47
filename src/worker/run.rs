//! The worker's loop: long polls for as many messages as there are free slots, one task per request, a
//! heartbeat per message, and a shutdown that deletes nothing unanswered.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::bot::Bot;
use crate::aws::{Aws, AwsContext, retry_delay};
use crate::cloudformation::events::clock_now;
use crate::cloudformation::stack::timestamp;
use crate::publication::queue::{self, BotQueue, Delivery};
use crate::publication::results;
use crate::signals::{signalled, signalled_times};

/// SQS's longest poll: an idle worker costs three requests a minute.
const LONG_POLL: Duration = Duration::from_secs(20);
/// SQS hands out at most ten messages per receive.
const MAX_BATCH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long one attempt may take (default: the queue's visibility timeout).
    pub timeout: Option<Duration>,
    /// How long running requests may finish after a stop signal.
    pub grace: Duration,
    /// Stop after taking this many requests (and answering them).
    pub max_requests: Option<u64>,
    /// Stop once the queue has been empty, with nothing running, for this long.
    pub idle_exit: Option<Duration>,
    pub log: LogFormat,
}

/// How a worker run ended.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub bot_id: String,
    /// Requests answered (result written, message deleted).
    pub answered: u64,
    /// Attempts that failed (the request is retried, or failed for good after its last attempt).
    pub failed_attempts: u64,
    /// Requests failed for good: their result says `failed` and the message goes to the dead-letter queue.
    pub failed: u64,
    /// Messages delivered again whose result was already complete: deleted without calling the bot.
    pub duplicates: u64,
    /// Messages handed back to the queue unanswered (stopped by the shutdown, or AWS could not be reached).
    pub released: u64,
    /// `idle`, `max-requests`, `interrupted`, `terminated`.
    pub stopped_by: String,
    /// The exit code: 0 after a clean stop, 130/143 after a second signal cut the grace period short.
    #[serde(skip)]
    pub exit_code: u8,
}

struct Shared {
    aws: Aws,
    queue: BotQueue,
    bot: Bot,
    timeout: Duration,
    log: LogFormat,
    live: Option<indicatif::ProgressBar>,
    answered: AtomicU64,
    failed_attempts: AtomicU64,
    failed: AtomicU64,
    duplicates: AtomicU64,
    released: AtomicU64,
    /// Receipt handles of the messages being worked on, by message id: released on a forced stop.
    in_flight: Mutex<HashMap<String, String>>,
    /// Messages waiting in the queue when last counted (for the live line); `u64::MAX` before that.
    waiting: AtomicU64,
}

enum Stop {
    Idle,
    MaxRequests,
    Signal(&'static str),
}

/// Works on the bot's queue until stopped (a signal, `max_requests`, `idle_exit`).
pub async fn work(aws: &Aws, queue: BotQueue, bot: Bot, options: &Options) -> Summary {
    let visibility = Duration::from_secs(u64::from(queue.visibility_timeout.max(1)));
    let live = (options.log == LogFormat::Text && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let shared = Arc::new(Shared {
        aws: aws.clone(),
        bot,
        timeout: options.timeout.unwrap_or(visibility),
        log: options.log,
        live,
        answered: AtomicU64::new(0),
        failed_attempts: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        released: AtomicU64::new(0),
        in_flight: Mutex::new(HashMap::new()),
        waiting: AtomicU64::new(u64::MAX),
        queue,
    });
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut taken: u64 = 0;
    let mut idle_since = Instant::now();
    let mut last_counts: Option<Instant> = None;
    let stop = loop {
        while tasks.try_join_next().is_some() {}
        if !tasks.is_empty() {
            idle_since = Instant::now();
        }
        if let Some(limit) = options.max_requests
            && taken >= limit
        {
            break Stop::MaxRequests;
        }
        if let Some(limit) = options.idle_exit
            && tasks.is_empty()
            && idle_since.elapsed() >= limit
        {
            break Stop::Idle;
        }
        if shared.live.is_some()
            && last_counts.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            last_counts = Some(Instant::now());
            let counts =
                queue::counts(aws, &shared.queue.queue_url, &shared.queue.dead_letter_url).await;
            if let Ok(counts) = counts {
                shared.waiting.store(counts.waiting, Ordering::Relaxed);
            }
        }
        shared.show();
        // Never receive more than there are free slots: a received message waits for nobody.
        let first = tokio::select! {
            biased;
            (signal, _) = signalled() => break Stop::Signal(signal),
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let mut permits = vec![first];
        while permits.len() < MAX_BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        if let Some(limit) = options.max_requests {
            permits.truncate((limit - taken) as usize);
        }
        let wait = match options.idle_exit {
            Some(limit) => limit
                .saturating_sub(idle_since.elapsed())
                .clamp(Duration::from_secs(1), LONG_POLL),
            None => LONG_POLL,
        };
        let receive = aws
            .sqs
            .receive_message()
            .queue_url(&shared.queue.queue_url)
            .max_number_of_messages(permits.len() as i32)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send();
        // A stop abandons the long poll rather than waiting it out.
        let received = tokio::select! {
            biased;
            (signal, _) = signalled() => break Stop::Signal(signal),
            received = receive => received,
        };
        let messages = match received.aws("receiving requests") {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                // AWS out of reach (after the SDK's own retries): keep the work in flight, try again.
                shared.notice(&format!("{error:#}; receiving again shortly"));
                tokio::select! {
                    biased;
                    (signal, _) = signalled() => break Stop::Signal(signal),
                    _ = tokio::time::sleep(retry_delay(4)) => continue,
                }
            }
        };
        if !messages.is_empty() {
            idle_since = Instant::now();
        }
        for (message, permit) in messages.into_iter().zip(permits) {
            taken += 1;
            if let (Some(id), Some(receipt)) = (&message.message_id, &message.receipt_handle) {
                shared
                    .in_flight
                    .lock()
                    .unwrap()
                    .insert(id.clone(), receipt.clone());
            }
            tasks.spawn(handle(shared.clone(), message, permit));
        }
    };
    let (stopped_by, exit_code) = match stop {
        Stop::Idle => ("idle", 0),
        Stop::MaxRequests => ("max-requests", 0),
        Stop::Signal(signal) => {
            while tasks.try_join_next().is_some() {}
            if !tasks.is_empty() {
                shared.notice(&format!(
                    "{signal}: receiving stopped; {} request(s) running get {} to finish (a second signal stops them at once)",
                    tasks.len(),
                    humantime::format_duration(options.grace)
                ));
            }
            (signal, 0)
        }
    };
    let exit_code = match stop_tasks(&shared, &mut tasks, stopped_by, options.grace).await {
        Some(code) => code,
        None => exit_code,
    };
    if let Some(bar) = &shared.live {
        bar.finish_and_clear();
    }
    Summary {
        bot_id: shared.queue.bot_id.clone(),
        answered: shared.answered.load(Ordering::Relaxed),
        failed_attempts: shared.failed_attempts.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        duplicates: shared.duplicates.load(Ordering::Relaxed),
        released: shared.released.load(Ordering::Relaxed),
        stopped_by: stopped_by.to_string(),
        exit_code,
    }
}

/// Lets running requests finish: all of them after a normal stop, within `grace` after a signal. What is
/// still running after that (or after a second signal) is stopped and its message released, so another
/// worker takes it at once. Returns the exit code of a second signal.
async fn stop_tasks(
    shared: &Shared,
    tasks: &mut JoinSet<()>,
    stopped_by: &str,
    grace: Duration,
) -> Option<u8> {
    let signalled_stop = matches!(stopped_by, "interrupted" | "terminated");
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let mut second = None;
    if signalled_stop {
        tokio::select! {
            _ = all_done => return None,
            _ = tokio::time::sleep(grace) => {}
            (_, code) = signalled_times(2) => second = Some(code),
        }
    } else {
        tokio::select! {
            _ = all_done => return None,
            (_, code) = signalled() => second = Some(code),
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let left: Vec<String> = shared
        .in_flight
        .lock()
        .unwrap()
        .drain()
        .map(|(_, r)| r)
        .collect();
    for receipt in left {
        shared.set_visibility(&receipt, Duration::ZERO).await;
        shared.released.fetch_add(1, Ordering::Relaxed);
    }
    second
}

impl Shared {
    fn notice(&self, line: &str) {
        match &self.live {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Refreshes the live line (on a terminal): after every request, and at every receive.
    fn show(&self) {
        if let Some(bar) = &self.live {
            let in_flight = self.in_flight.lock().unwrap().len();
            let waiting = match self.waiting.load(Ordering::Relaxed) {
                u64::MAX => "?".to_string(),
                known => known.to_string(),
            };
            bar.set_message(format!(
                "{}: {} answered, {} failed, {in_flight} in flight, {waiting} waiting",
                self.queue.bot_id,
                self.answered.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed),
            ));
        }
    }

    /// Hides a received message for `hidden` from now on: zero hands it back to the queue at once.
    /// Best effort: a message whose call failed comes back when its visibility timeout ends.
    async fn set_visibility(&self, receipt: &str, hidden: Duration) -> bool {
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

    /// Keeps a message hidden while its request runs: extended well before the visibility timeout ends,
    /// so a long answer is never handed to a second worker. Runs until dropped.
    async fn heartbeat(&self, receipt: &str) {
        let visibility = Duration::from_secs(u64::from(self.queue.visibility_timeout.max(1)));
        loop {
            tokio::time::sleep(visibility / 2).await;
            self.set_visibility(receipt, visibility).await;
        }
    }
}

/// What became of one message.
enum Outcome {
    Answered,
    Duplicate,
    /// The attempt failed; SQS delivers the message again after a pause.
    Retry(String),
    /// The last allowed attempt failed: the result says so, and the message goes to the dead-letter queue.
    Failed(String),
    /// The result could not be written or the message not deleted: released unanswered.
    Released(String),
}

async fn handle(shared: Arc<Shared>, message: Message, _slot: OwnedSemaphorePermit) {
    let started = Instant::now();
    let delivery = Delivery::of(&message);
    let Delivery {
        message_id,
        receipt,
        request_id,
        correlation_id,
        ..
    } = &delivery;
    let attempt = delivery.receives.unwrap_or(1);
    let mut bot_time = None;
    let outcome = tokio::select! {
        outcome = answer(&shared, &message, &delivery, &mut bot_time) => outcome,
        _ = shared.heartbeat(receipt) => unreachable!("the heartbeat never ends"),
    };
    shared.in_flight.lock().unwrap().remove(message_id);
    let (word, error) = match &outcome {
        Outcome::Answered => ("completed", None),
        Outcome::Duplicate => ("duplicate", None),
        Outcome::Retry(e) => ("retry", Some(e.as_str())),
        Outcome::Failed(e) => ("failed", Some(e.as_str())),
        Outcome::Released(e) => ("released", Some(e.as_str())),
    };
    let counter = match outcome {
        Outcome::Answered => &shared.answered,
        Outcome::Duplicate => &shared.duplicates,
        Outcome::Retry(_) => &shared.failed_attempts,
        Outcome::Failed(_) => {
            shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
            &shared.failed
        }
        Outcome::Released(_) => &shared.released,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    shared.show();
    let duration_ms = started.elapsed().as_millis() as u64;
    // The bot's share of the time, so that what the worker itself adds is plain to see.
    let bot_ms = bot_time.map(|t| t.as_millis() as u64);
    let line = match shared.log {
        LogFormat::Json => json!({
            "time": now(),
            "bot_id": shared.queue.bot_id,
            "request_id": request_id,
            "correlation_id": correlation_id,
            "attempt": attempt,
            "duration_ms": duration_ms,
            "bot_ms": bot_ms,
            "outcome": word,
            "error": error,
        })
        .to_string(),
        LogFormat::Text => format!(
            "{} {request_id} attempt {attempt}: {word} in {duration_ms} ms{}{}",
            clock_now(),
            bot_ms
                .map(|ms| format!(" (bot {ms} ms)"))
                .unwrap_or_default(),
            error.map(|e| format!(": {e}")).unwrap_or_default()
        ),
    };
    shared.notice(&line);
}

async fn answer(
    shared: &Shared,
    message: &Message,
    delivery: &Delivery,
    bot_time: &mut Option<Duration>,
) -> Outcome {
    let (request_id, receipt, attempt) = (
        delivery.request_id.as_str(),
        delivery.receipt.as_str(),
        delivery.receives.unwrap_or(1),
    );
    let correlation_id = delivery.correlation_id.as_deref();
    let aws = &shared.aws;
    let bucket = &shared.queue.bucket;
    // A message delivered again after its answer was written: delete it, never answer twice.
    if let Ok(Some(status)) = results::status(aws, bucket, request_id).await
        && status == "completed"
    {
        return match delete(shared, receipt).await {
            Ok(()) => Outcome::Duplicate,
            Err(e) => Outcome::Released(format!("{e:#}")),
        };
    }
    let body = message.body().unwrap_or_default();
    let request: Value = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
    let document = json!({
        "bot_id": shared.queue.bot_id,
        "request_id": request_id,
        "correlation_id": correlation_id,
        "attempt": attempt,
        "received_at": delivery.sent_at.clone().unwrap_or_else(now),
        "request": request,
    });
    let called = Instant::now();
    let answered = shared.bot.call(&document, shared.timeout).await;
    *bot_time = Some(called.elapsed());
    match answered {
        Ok(fields) => {
            let doc = results::completed(request_id, correlation_id, fields, &now());
            if let Err(e) = persist(shared, request_id, &doc).await {
                shared.set_visibility(receipt, Duration::ZERO).await;
                return Outcome::Released(format!("{e:#}"));
            }
            match delete(shared, receipt).await {
                Ok(()) => Outcome::Answered,
                // Answered but not deleted: the next delivery finds the result and deletes it.
                Err(e) => Outcome::Released(format!("{e:#}")),
            }
        }
        Err(error) if attempt >= shared.queue.max_receive_count => {
            let doc = results::failed(request_id, correlation_id, &error, &now());
            if let Err(e) = persist(shared, request_id, &doc).await {
                shared.set_visibility(receipt, Duration::ZERO).await;
                return Outcome::Released(format!("{e:#}"));
            }
            // Visible again at once: the next receive moves it to the dead-letter queue.
            shared.set_visibility(receipt, Duration::ZERO).await;
            Outcome::Failed(error)
        }
        Err(error) => {
            // Retried after a pause that grows with each attempt, within the visibility timeout.
            let pause = Duration::from_secs(1 << attempt.saturating_sub(1).min(6)).min(
                Duration::from_secs(u64::from(shared.queue.visibility_timeout)),
            );
            shared.set_visibility(receipt, pause).await;
            Outcome::Retry(error)
        }
    }
}

/// Writes a result document, trying again while AWS is out of reach (the heartbeat keeps the message).
async fn persist(shared: &Shared, request_id: &str, doc: &Value) -> anyhow::Result<()> {
    resend(|| results::write(&shared.aws, &shared.queue.bucket, request_id, doc)).await
}

async fn delete(shared: &Shared, receipt: &str) -> anyhow::Result<()> {
    resend(|| async {
        shared
            .aws
            .sqs
            .delete_message()
            .queue_url(&shared.queue.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .aws("deleting an answered request from the queue")
            .map(|_| ())
    })
    .await
}

/// Sends a request again, a few times with backoff, after the SDK's own retries gave up: the message's
/// heartbeat goes on meanwhile, so a longer outage costs nothing but time.
async fn resend<F, Fut>(mut send: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Ok(()) => return Ok(()),
            Err(error) if attempt >= 5 => return Err(error),
            Err(_) => {
                tokio::time::sleep(retry_delay(attempt)).await;
                attempt += 1;
            }
        }
    }
}

fn now() -> String {
    timestamp(&aws_smithy_types::DateTime::from(SystemTime::now()))
}
