//! The worker's loop, tested in process: scripted SQS answers and paused time, so that an SQS out of
//! reach for minutes and an idle limit of five minutes take milliseconds.

use super::*;

use std::sync::atomic::AtomicUsize;

use crate::aws::Aws;

const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/botpub-b";

fn queue() -> BotQueue {
    BotQueue {
        bot_id: "b".into(),
        stack_name: "botpub-b".into(),
        queue_url: QUEUE_URL.into(),
        dead_letter_url: format!("{QUEUE_URL}-dlq"),
        bucket: "results".into(),
        visibility_timeout: 60,
        max_receive_count: 3,
        contract: Contract::Predict,
        token_budget: None,
    }
}

fn options(idle_exit: Duration) -> Options {
    Options {
        concurrency: 4,
        timeout: None,
        grace: Duration::from_secs(30),
        max_requests: None,
        idle_exit: Some(idle_exit),
        flush_interval: Duration::ZERO,
        log: LogFormat::Json,
    }
}

/// SQS's JSON protocol: the answer to the request's action (its `X-Amz-Target`), or a 503 to a receive
/// while `down`. A receive of an empty queue waits, as SQS's long poll does, for its `WaitTimeSeconds`.
fn sqs(
    request: &http::Request<aws_smithy_types::body::SdkBody>,
    down: bool,
) -> (Duration, http::Response<String>) {
    let action = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let asked: serde_json::Value =
        serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
    let long_poll = Duration::from_secs(asked["WaitTimeSeconds"].as_u64().unwrap_or(0));
    let (after, status, body) = match action {
        "AmazonSQS.ReceiveMessage" if down => (
            Duration::ZERO,
            503,
            r#"{"__type":"com.amazonaws.sqs#ServiceUnavailable","message":"try again"}"#,
        ),
        "AmazonSQS.ReceiveMessage" => (long_poll, 200, "{}"),
        _ => (
            Duration::ZERO,
            200,
            r#"{"Attributes":{"ApproximateNumberOfMessages":"0","ApproximateNumberOfMessagesNotVisible":"0"}}"#,
        ),
    };
    let response = http::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(body.to_string())
        .unwrap();
    (after, response)
}

fn is_receive(request: &http::Request<aws_smithy_types::body::SdkBody>) -> bool {
    request
        .headers()
        .get("x-amz-target")
        .is_some_and(|t| t == "AmazonSQS.ReceiveMessage")
}

#[tokio::test(start_paused = true)]
async fn a_worker_outlasts_an_sqs_out_of_reach_and_still_stops_when_idle() {
    // SQS refuses every receive for the first three minutes, then answers with an empty queue.
    let receives = Arc::new(AtomicUsize::new(0));
    let counted = receives.clone();
    let started = Instant::now();
    let aws = Aws::scripted_after(move |request| {
        let down = started.elapsed() < Duration::from_secs(180);
        if is_receive(&request) {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        sqs(&request, down)
    });
    let bot = Bot::Http {
        url: "http://127.0.0.1:9/never-called".into(),
    };
    let summary = work(&aws, queue(), bot, &options(Duration::from_secs(300))).await;
    let took = started.elapsed();
    assert_eq!(summary.stopped_by, "idle");
    assert_eq!((summary.answered, summary.released), (0, 0));
    // It kept receiving through the outage (the SDK's retries, then its own pauses between tries) ...
    let tries = receives.load(Ordering::Relaxed);
    assert!(tries > 20, "{tries} receives");
    // ... and the outage counts as idle time: it stops five minutes after it started, within one long
    // poll, not five minutes after SQS came back.
    assert!(
        took >= Duration::from_secs(300) && took <= Duration::from_secs(300) + LONG_POLL,
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_stops_within_one_long_poll_of_its_limit() {
    let aws = Aws::scripted_after(|request| sqs(&request, false));
    let bot = Bot::Http {
        url: "http://127.0.0.1:9/never-called".into(),
    };
    let started = Instant::now();
    let summary = work(&aws, queue(), bot, &options(Duration::from_secs(45))).await;
    let took = started.elapsed();
    assert_eq!(summary.stopped_by, "idle");
    assert!(
        took >= Duration::from_secs(45) && took <= Duration::from_secs(45) + LONG_POLL,
        "{took:?}"
    );
}
