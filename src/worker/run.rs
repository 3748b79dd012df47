//! The worker's loop: long polls for as many messages as there are free slots, one task per request, a
//! heartbeat per message, a watch on the dead-letter queue ([`given_up`](super::given_up)), and a shutdown
//! that deletes nothing unanswered and strands nothing in a poll nobody reads.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
// Tokio's clock, so that tests in paused time see idle limits and grace periods pass at once.
use tokio::time::Instant;

use super::answer::{self, Answerer, Outcome};
use super::bot::Bot;
use super::given_up::{self, DeadLetterWatch};
use crate::aws::{Aws, AwsContext, retry_delay};
use crate::cloudformation::events::clock_now;
use crate::publication::queue::{BotQueue, Delivery};
use crate::signals::{signalled, signalled_times};
use crate::spec::model::Contract;

/// How long one receive waits for messages. A stop waits for the receive in progress rather than
/// abandoning it (SQS would still hand that poll messages, and they would wait out their visibility
/// timeout unanswered, each delivery counted), so this is also the longest a stop of an idle worker
/// takes. An idle worker costs six requests a minute.
const LONG_POLL: Duration = Duration::from_secs(10);
/// How long one attempt may take by default, unless the queue's visibility timeout is longer: a model
/// that writes a long answer takes minutes, and the heartbeat keeps its message hidden meanwhile.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
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
    /// How long one attempt may take (default: 15 minutes, or the queue's visibility timeout if longer).
    pub timeout: Option<Duration>,
    /// How long running requests may finish after a stop signal.
    pub grace: Duration,
    /// Stop after taking this many requests (and answering them).
    pub max_requests: Option<u64>,
    /// Stop once the queue has been empty, with nothing running, for this long.
    pub idle_exit: Option<Duration>,
    /// How often, at most, a streaming bot's text so far is stored for clients; zero: never.
    pub flush_interval: Duration,
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
    /// Messages handed back to the queue unanswered (stopped by the shutdown, received after it began, or
    /// AWS could not be reached).
    pub released: u64,
    /// Requests SQS moved to the dead-letter queue without an answer (their deliveries reached workers that
    /// stopped or died) that this worker marked `failed`.
    pub given_up: u64,
    /// `idle`, `max-requests`, `interrupted`, `terminated`.
    pub stopped_by: String,
    /// The exit code: 0 after a clean stop, 130/143 after a second signal cut the grace period short.
    #[serde(skip)]
    pub exit_code: u8,
}

struct Shared {
    answerer: Answerer,
    log: LogFormat,
    live: Option<indicatif::ProgressBar>,
    answered: AtomicU64,
    failed_attempts: AtomicU64,
    failed: AtomicU64,
    duplicates: AtomicU64,
    released: AtomicU64,
    given_up: AtomicU64,
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
    let live = (options.log == LogFormat::Text && crate::terminal::live_stderr()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let shared = Arc::new(Shared {
        answerer: Answerer {
            aws: aws.clone(),
            bot,
            timeout: options.timeout.unwrap_or(visibility.max(ATTEMPT_TIMEOUT)),
            flush_interval: options.flush_interval,
            queue,
            spent: Default::default(),
            meter: Default::default(),
        },
        log: options.log,
        live,
        answered: AtomicU64::new(0),
        failed_attempts: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        released: AtomicU64::new(0),
        given_up: AtomicU64::new(0),
        in_flight: Mutex::new(HashMap::new()),
        waiting: AtomicU64::new(u64::MAX),
    });
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut taken: u64 = 0;
    let mut idle_since = Instant::now();
    let watch = tokio::spawn(watch_dead_letters(shared.clone()));
    let stop_metering = Arc::new(Notify::new());
    let metering = tokio::spawn(publish_tokens(shared.clone(), stop_metering.clone()));
    // A receive under way when a stop began: waited for, and what it brings handed back at once.
    let mut late_receive = None;
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
        // A FIFO queue may hand out several messages of one conversation in a single receive, which
        // would then wait unanswered (and be counted as received) behind the first: take one at a time,
        // so every message received is one the worker can start on (SQS gives each from another group).
        let batch = match shared.answerer.queue.contract {
            Contract::Conversation => 1,
            Contract::Predict => permits.len(),
        };
        let mut receive = Box::pin(
            aws.sqs
                .receive_message()
                .queue_url(&shared.answerer.queue.queue_url)
                .max_number_of_messages(batch as i32)
                .wait_time_seconds(wait.as_secs() as i32)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send(),
        );
        let received = tokio::select! {
            biased;
            (signal, _) = signalled() => {
                late_receive = Some(receive);
                break Stop::Signal(signal);
            }
            received = &mut receive => received,
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
    watch.abort();
    stop_metering.notify_one();
    let (stopped_by, exit_code) = match stop {
        Stop::Idle => ("idle", 0),
        Stop::MaxRequests => ("max-requests", 0),
        Stop::Signal(signal) => {
            while tasks.try_join_next().is_some() {}
            let mut waits = Vec::new();
            if !tasks.is_empty() {
                waits.push(format!(
                    "{} request(s) running get {} to finish",
                    tasks.len(),
                    humantime::format_duration(options.grace)
                ));
            }
            if late_receive.is_some() {
                waits.push(format!(
                    "the receive under way ends within {} (what it brings goes back to the queue at once)",
                    humantime::format_duration(LONG_POLL)
                ));
            }
            if !waits.is_empty() {
                shared.notice(&format!(
                    "{signal}: receiving stopped; {} (a second signal stops at once)",
                    waits.join("; ")
                ));
            }
            (signal, 0)
        }
    };
    let (second, ()) = tokio::join!(
        stop_tasks(&shared, &mut tasks, stopped_by, options.grace),
        hand_back_late(&shared, late_receive)
    );
    let exit_code = second.unwrap_or(exit_code);
    // After the last request: the metering task has finished any publish it had begun, and what the
    // requests counted since goes now.
    let _ = metering.await;
    let answerer = &shared.answerer;
    answerer
        .meter
        .publish(&answerer.aws, &answerer.queue.stack_name)
        .await;
    if let Some(bar) = &shared.live {
        bar.finish_and_clear();
    }
    Summary {
        bot_id: shared.answerer.queue.bot_id.clone(),
        answered: shared.answered.load(Ordering::Relaxed),
        failed_attempts: shared.failed_attempts.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        duplicates: shared.duplicates.load(Ordering::Relaxed),
        released: shared.released.load(Ordering::Relaxed),
        given_up: shared.given_up.load(Ordering::Relaxed),
        stopped_by: stopped_by.to_string(),
        exit_code,
    }
}

/// Waits for the receive that was under way when a stop began and hands back at once (visibility 0)
/// whatever it brings: abandoning it instead would leave SQS handing messages to a poll nobody reads, each
/// hidden for a whole visibility timeout and counted as a delivery. A second signal stops waiting.
async fn hand_back_late<F, E>(shared: &Shared, receive: Option<Pin<Box<F>>>)
where
    F: Future<Output = Result<ReceiveMessageOutput, E>>,
{
    let Some(receive) = receive else { return };
    let received = tokio::select! {
        received = receive => received,
        _ = signalled_times(2) => return,
    };
    let Ok(output) = received else { return };
    for message in output.messages.unwrap_or_default() {
        if let Some(receipt) = &message.receipt_handle {
            shared
                .answerer
                .set_visibility(receipt, Duration::ZERO)
                .await;
            shared.released.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Publishes the tokens counted as metrics every minute until `stop` (the rest when the worker ends).
async fn publish_tokens(shared: Arc<Shared>, stop: Arc<Notify>) {
    let answerer = &shared.answerer;
    answerer
        .meter
        .publish_until(&answerer.aws, &answerer.queue.stack_name, &stop)
        .await;
}

/// Looks at the bot's queues every little while: the counts for the live line, and the dead-letter queue
/// for requests SQS gave up on without an answer, which it marks `failed`. Runs until aborted.
async fn watch_dead_letters(shared: Arc<Shared>) {
    let mut watch = DeadLetterWatch::default();
    let every = given_up::interval(shared.answerer.queue.visibility_timeout);
    let mut complained = false;
    loop {
        match watch.look(&shared.answerer).await {
            Ok((counts, given_up)) => {
                complained = false;
                shared.waiting.store(counts.waiting, Ordering::Relaxed);
                for request in given_up {
                    shared.given_up.fetch_add(1, Ordering::Relaxed);
                    shared.log_request(&RequestLog {
                        request_id: &request.request_id,
                        correlation_id: request.correlation_id.as_deref(),
                        attempt: request.receives,
                        duration_ms: 0,
                        bot_ms: None,
                        outcome: "failed",
                        error: Some(&request.error),
                    });
                }
                shared.show();
            }
            // Said once per outage: the watch goes on, and the requests wait in the dead-letter queue.
            Err(error) if !complained => {
                complained = true;
                shared.notice(&format!("watching the dead-letter queue: {error:#}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
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
        shared
            .answerer
            .set_visibility(&receipt, Duration::ZERO)
            .await;
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
                self.answerer.queue.bot_id,
                self.answered.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed),
            ));
        }
    }

    /// Keeps a message hidden while its request runs: extended well before the visibility timeout ends,
    /// so a long answer is never handed to a second worker. Runs until dropped.
    async fn heartbeat(&self, receipt: &str) {
        let visibility =
            Duration::from_secs(u64::from(self.answerer.queue.visibility_timeout.max(1)));
        loop {
            tokio::time::sleep(visibility / 2).await;
            self.answerer.set_visibility(receipt, visibility).await;
        }
    }
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
        outcome = shared.answerer.answer(&message, &delivery, &mut bot_time) => outcome,
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
    // The bot's share of the time, so that what the worker itself adds is plain to see.
    shared.log_request(&RequestLog {
        request_id,
        correlation_id: correlation_id.as_deref(),
        attempt,
        duration_ms: started.elapsed().as_millis() as u64,
        bot_ms: bot_time.map(|t| t.as_millis() as u64),
        outcome: word,
        error,
    });
}

/// One line of the request log: what became of a request, never what it asked or was answered.
struct RequestLog<'a> {
    request_id: &'a str,
    correlation_id: Option<&'a str>,
    attempt: u32,
    duration_ms: u64,
    bot_ms: Option<u64>,
    outcome: &'a str,
    error: Option<&'a str>,
}

impl Shared {
    fn log_request(&self, entry: &RequestLog) {
        let RequestLog {
            request_id,
            correlation_id,
            attempt,
            duration_ms,
            bot_ms,
            outcome,
            error,
        } = entry;
        let line = match self.log {
            LogFormat::Json => json!({
                "time": answer::now(),
                "bot_id": self.answerer.queue.bot_id,
                "request_id": request_id,
                "correlation_id": correlation_id,
                "attempt": attempt,
                "duration_ms": duration_ms,
                "bot_ms": bot_ms,
                "outcome": outcome,
                "error": error,
            })
            .to_string(),
            LogFormat::Text => format!(
                "{} {request_id} attempt {attempt}: {outcome} in {duration_ms} ms{}{}",
                clock_now(),
                bot_ms
                    .map(|ms| format!(" (bot {ms} ms)"))
                    .unwrap_or_default(),
                error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        };
        self.notice(&line);
    }
}

#[cfg(test)]
mod tests;
