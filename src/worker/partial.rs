//! Answers as they are written. A bot that streams reports its text so far to a [`Partial`]; while it
//! writes, [`keep_up`] stores that text in the request's document — `status: processing`, the text so far,
//! a `sequence` that grows with each write, the `attempt` it belongs to — at most once per flush interval
//! and only when the text changed, so a client polling the API sees the answer grow.
//!
//! A partial document never replaces a final one: each write is conditional on the version this attempt
//! wrote last (or on there being no document, or only an earlier attempt's partial one), so a write that
//! comes late — from an attempt that was given up, or from a worker that died — loses to the answer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::aws::Aws;
use crate::publication::results::{self, Conflict};

/// Where a bot reports the text it has written so far. Cheap to clone, usable from a blocking thread;
/// one that is [`Partial::off`] ignores everything.
#[derive(Debug, Clone, Default)]
pub struct Partial(Option<Arc<watch::Sender<String>>>);

impl Partial {
    /// A partial answer nobody reads (partial results turned off, or a bot that cannot stream).
    pub fn off() -> Partial {
        Partial(None)
    }

    /// A partial answer and the receiver [`keep_up`] reads it from.
    pub fn new() -> (Partial, watch::Receiver<String>) {
        let (sender, receiver) = watch::channel(String::new());
        (Partial(Some(Arc::new(sender))), receiver)
    }

    /// The whole text so far.
    pub fn set(&self, text: &str) {
        if let Some(sender) = &self.0 {
            sender.send_if_modified(|current| {
                let changed = current != text;
                if changed {
                    text.clone_into(current);
                }
                changed
            });
        }
    }

    /// Whether anyone reads it: a bot may skip the work of reporting otherwise.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

/// The partial document for a text and its sequence number.
pub type Document<'a> = Box<dyn Fn(&str, u64) -> Value + Send + Sync + 'a>;

/// Where the partial document goes and what it says.
pub struct Target<'a> {
    pub aws: &'a Aws,
    pub bucket: &'a str,
    pub key: String,
    pub document: Document<'a>,
}

/// Keeps the document at `target` up to date with the text in `text`, at most once per `interval`,
/// until `done` fires (the bot's call ended; a write under way finishes first). Returns how many
/// partial documents it wrote. A failed write is skipped (the next change tries again); a final
/// document found in the way ends it.
pub async fn keep_up(
    target: Target<'_>,
    mut text: watch::Receiver<String>,
    interval: Duration,
    done: oneshot::Receiver<()>,
) -> u64 {
    let mut done = std::pin::pin!(done);
    // The version this attempt wrote last: `None` before its first write.
    let mut version: Option<String> = None;
    let mut written = String::new();
    let mut sequence = 0;
    let mut next = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = &mut done => return sequence,
            changed = text.changed() => if changed.is_err() { return sequence },
        }
        tokio::select! {
            biased;
            _ = &mut done => return sequence,
            _ = tokio::time::sleep_until(next) => {}
        }
        let now = text.borrow_and_update().clone();
        if now == written || now.is_empty() {
            continue;
        }
        let doc = (target.document)(&now, sequence + 1);
        match write(&target, version.as_deref(), &doc).await {
            Ok(Some(etag)) => {
                version = Some(etag);
                sequence += 1;
                written = now;
            }
            // A final answer is there: nothing partial may follow it.
            Ok(None) => return sequence,
            Err(_) => {}
        }
        next = Instant::now() + interval;
    }
}

/// Writes one partial document over this attempt's last (`version`), over nothing, or over an earlier
/// attempt's partial document; the new version, or `None` when a final document is in the way.
async fn write(
    target: &Target<'_>,
    version: Option<&str>,
    doc: &Value,
) -> anyhow::Result<Option<String>> {
    let (aws, bucket, key) = (target.aws, target.bucket, &target.key);
    let mut expected = version.map(str::to_string);
    // Twice at most: over what this attempt expects, then over what is there if it is not final.
    for _ in 0..2 {
        match results::write_json_versioned(aws, bucket, key, expected.as_deref(), doc).await? {
            Ok(etag) => return Ok(Some(etag.unwrap_or_default())),
            Err(Conflict) => match results::read_json(aws, bucket, key).await? {
                Some((found, _)) if results::is_final(&found) => return Ok(None),
                Some((_, etag)) => expected = etag,
                None => expected = None,
            },
        }
    }
    anyhow::bail!("{key} changed at every write")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A bucket that keeps one document and its version, and records each write: its time since the
    /// start, its condition and its text. Once `finalized`, a completed answer stands there and every
    /// conditional write of a partial document loses.
    #[derive(Default)]
    struct Bucket {
        version: u32,
        finalized: bool,
        writes: Vec<(Duration, String, String)>,
    }

    fn scripted(bucket: Arc<Mutex<Bucket>>, started: Instant) -> Aws {
        Aws::scripted(move |request| {
            let mut bucket = bucket.lock().unwrap();
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            if request.method() == "GET" {
                let status = if bucket.finalized {
                    "completed"
                } else {
                    "processing"
                };
                return http::Response::builder()
                    .header("ETag", format!("\"v{}\"", bucket.version))
                    .body(format!("{{\"status\": \"{status}\"}}"))
                    .unwrap();
            }
            let condition = match (header("if-match"), header("if-none-match")) {
                (expected, _) if !expected.is_empty() => expected,
                (_, absent) => absent,
            };
            let current = format!("\"v{}\"", bucket.version);
            let holds = match condition.as_str() {
                "*" => bucket.version == 0,
                expected => !bucket.finalized && expected == current,
            };
            if !holds {
                return http::Response::builder()
                    .status(412)
                    .body("<Error><Code>PreconditionFailed</Code></Error>".to_string())
                    .unwrap();
            }
            let body: Value =
                serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap();
            bucket.version += 1;
            let text = body["response"].as_str().unwrap_or_default().to_string();
            bucket.writes.push((started.elapsed(), condition, text));
            http::Response::builder()
                .header("ETag", format!("\"v{}\"", bucket.version))
                .body(String::new())
                .unwrap()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_text_is_written_at_most_once_per_interval_when_it_changed_and_never_over_a_final_answer()
     {
        let started = Instant::now();
        let bucket = Arc::new(Mutex::new(Bucket::default()));
        let aws = scripted(bucket.clone(), started);
        let (partial, text) = Partial::new();
        let (done, stopped) = oneshot::channel::<()>();
        let target = Target {
            aws: &aws,
            bucket: "b",
            key: "results/r.json".into(),
            document: Box::new(
                |text, sequence| serde_json::json!({"status": "processing", "response": text, "sequence": sequence}),
            ),
        };
        let bot = async {
            let ms = Duration::from_millis;
            partial.set("He");
            tokio::time::sleep(ms(100)).await;
            partial.set("Hel");
            tokio::time::sleep(ms(100)).await;
            partial.set("Hello");
            // Nothing new for a while: nothing is written.
            tokio::time::sleep(ms(2000)).await;
            // The answer was written whole meanwhile (a late write of this attempt must lose).
            bucket.lock().unwrap().finalized = true;
            partial.set("Hello, world");
            tokio::time::sleep(ms(1000)).await;
            partial.set("Hello, world!");
            tokio::time::sleep(ms(1000)).await;
            let _ = done.send(());
        };
        let (_, written) = tokio::join!(
            bot,
            keep_up(target, text, Duration::from_millis(500), stopped)
        );
        let writes = bucket.lock().unwrap().writes.clone();
        let seen: Vec<(u128, &str, &str)> = writes
            .iter()
            .map(|(at, condition, text)| (at.as_millis(), condition.as_str(), text.as_str()))
            .collect();
        // The first text at once, over nothing; the next, 500 ms later, over this attempt's version;
        // none after the final answer.
        assert_eq!(seen, [(0, "*", "He"), (500, "\"v1\"", "Hello")]);
        assert_eq!(written, 2);
    }
}
