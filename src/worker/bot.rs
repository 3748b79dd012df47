//! Reaching the user's bot: one process per request (`exec`), or a POST to a long-running bot server
//! (`http`, such as an agent container on the AgentCore Runtime contract). Either way the bot gets the
//! request document as JSON and its answer becomes the result's `response` (and any other fields it gives).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::model::Model;
use super::partial::Partial;
pub use super::reply::Failure;
use super::reply::{EventText, answer_of, response};

/// How the worker reaches the bot.
#[derive(Debug, Clone)]
pub enum Bot {
    /// `COMMAND ARGS...`: stdin gets the request document, stdout is the answer, exit 0 is success.
    Exec { program: String, args: Vec<String> },
    /// POST the request document to this URL; a 2xx answer is the answer.
    Http { url: String },
    /// A model answers, with no code of the user's ([`super::model`]).
    Model(Model),
}

impl Bot {
    /// Calls the bot once; the answer's fields (at least `response`), or why the attempt failed. A bot
    /// that streams its answer reports the text so far to `partial` as it writes.
    pub async fn call(
        &self,
        document: &Value,
        timeout: Duration,
        partial: Partial,
    ) -> Result<Map<String, Value>, Failure> {
        let input = || serde_json::to_vec(document).map_err(|e| Failure::retry(e.to_string()));
        match self {
            Bot::Exec { program, args } => exec(program, args, input()?, timeout, &partial).await,
            Bot::Http { url } => {
                let (url, input) = (url.clone(), input()?);
                // ureq blocks; its own timeout ends the call, so the thread never outlives it for long.
                tokio::task::spawn_blocking(move || http(&url, &input, timeout, &partial))
                    .await
                    .map_err(|e| Failure::retry(format!("the bot call stopped: {e}")))?
            }
            Bot::Model(model) => model.call(document, timeout, &partial).await,
        }
    }
}

async fn exec(
    program: &str,
    args: &[String],
    input: Vec<u8>,
    timeout: Duration,
    partial: &Partial,
) -> Result<Map<String, Value>, Failure> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A handler that is given up on (timeout, shutdown) must not live on.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let run = async {
        // A bot that never reads its stdin must not block the worker: write and read side by side.
        let write = async {
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        };
        let (_, out, err, status) = tokio::join!(
            write,
            read_answer(&mut stdout, partial),
            tail(&mut stderr),
            child.wait()
        );
        (status, out, err)
    };
    let (status, out, err) = match tokio::time::timeout(timeout, run).await {
        Ok(done) => done,
        Err(_) => return Err(format!("timed out after {}", seconds(timeout)).into()),
    };
    let status = status.map_err(|e| format!("{program}: {e}"))?;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let last = err.lines().rev().find(|l| !l.trim().is_empty());
        let why = match (last, status.code()) {
            (Some(line), _) => line.trim().to_string(),
            (None, Some(code)) => format!("{program} exited with status {code}"),
            (None, None) => format!("{program} was killed by a signal"),
        };
        let printed = match &out {
            Stdout::Whole(bytes) => bytes.as_slice(),
            Stdout::Events(_) => &[],
        };
        return Err(Failure::retry(why).billed(printed));
    }
    let text = match out {
        Stdout::Events(events) => return Ok(response(json!(events.finish()))),
        Stdout::Whole(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Ok(match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(fields)) if fields.contains_key("response") => fields,
        _ => response(json!(text.trim_end_matches(['\n', '\r']))),
    })
}

/// What an exec bot printed: one answer at the end, or a stream of events.
enum Stdout {
    Whole(Vec<u8>),
    Events(EventText),
}

/// The first line by which an exec bot says it streams, as a CGI script would: its stdout is then a
/// server-sent event stream, whose text so far clients read while it runs.
const STREAM_HEADER: &str = "content-type: text/event-stream";

/// Reads an exec bot's stdout to its end (at most [`MAX_ANSWER`]); when it opens with
/// [`STREAM_HEADER`], the text of its events goes to `partial` as it arrives.
async fn read_answer(
    stdout: &mut (impl tokio::io::AsyncRead + Unpin),
    partial: &Partial,
) -> Stdout {
    let mut stdout = stdout.take(MAX_ANSWER);
    let mut out = Stdout::Whole(Vec::new());
    let mut decided = false;
    let mut chunk = vec![0u8; 8192];
    while let Ok(read) = stdout.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        match &mut out {
            Stdout::Events(events) => {
                if events.feed(&chunk[..read]) {
                    partial.set(events.text());
                }
            }
            Stdout::Whole(bytes) => {
                bytes.extend_from_slice(&chunk[..read]);
                if decided {
                    continue;
                }
                let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                    // The first line is not complete: decide once it is, or once it cannot be the header.
                    decided = bytes.len() > STREAM_HEADER.len() + 2;
                    continue;
                };
                decided = true;
                let first = String::from_utf8_lossy(&bytes[..end]);
                if first.trim_end().eq_ignore_ascii_case(STREAM_HEADER) {
                    let mut events = EventText::default();
                    events.feed(&bytes[end + 1..]);
                    partial.set(events.text());
                    out = Stdout::Events(events);
                }
            }
        }
    }
    out
}

/// The largest answer taken from a bot (S3 takes far more, but no chat answer comes near it).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

/// The end of a stream, read to its end but kept to its last 64 KiB: a chatty bot's stderr costs no
/// memory, and its last line is what the error shows.
async fn tail(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    const KEEP: usize = 64 * 1024;
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 8192];
    while let Ok(read) = stream.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..read]);
        if kept.len() > 2 * KEEP {
            kept.drain(..kept.len() - KEEP);
        }
    }
    kept
}

fn http(
    url: &str,
    input: &[u8],
    timeout: Duration,
    partial: &Partial,
) -> Result<Map<String, Value>, Failure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut reply = agent
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .send(input)
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => format!("timed out after {}", seconds(timeout)),
            other => format!("calling {url}: {other}"),
        })?;
    let status = reply.status();
    let content_type = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let reading = |e: std::io::Error| format!("reading the answer of {url}: {e}");
    let body = reply.body_mut().with_config().limit(MAX_ANSWER);
    if status.is_success() && content_type.starts_with("text/event-stream") {
        // Events as they arrive: the text so far goes to the clients while the bot writes.
        let mut reader = body.reader();
        let mut events = EventText::default();
        let mut chunk = vec![0u8; 8192];
        loop {
            let read = std::io::Read::read(&mut reader, &mut chunk).map_err(reading)?;
            if read == 0 {
                return Ok(response(json!(events.finish())));
            }
            if events.feed(&chunk[..read]) {
                partial.set(events.text());
            }
        }
    }
    let body = body
        .read_to_string()
        .map_err(|e| format!("reading the answer of {url}: {e}"))?;
    if !status.is_success() {
        let first = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let why = format!("{url} answered {status}: {}", clip(first, 300));
        return Err(Failure::retry(why).billed(body.as_bytes()));
    }
    Ok(answer_of(&content_type, &body))
}

fn seconds(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exec_takes_json_with_a_response_or_plain_text() {
        let bot = |script: &str| Bot::Exec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
        };
        let doc = json!({"request": {"message": "hi"}});
        let second = Duration::from_secs(5);
        let fields = bot(r#"cat >/dev/null; echo '{"response": "yes", "usage": {"n": 1}}'"#)
            .call(&doc, second, Partial::off())
            .await
            .unwrap();
        assert_eq!(fields["response"], "yes");
        assert_eq!(fields["usage"]["n"], 1);
        let fields = bot("cat").call(&doc, second, Partial::off()).await.unwrap();
        assert_eq!(fields["response"], doc.to_string());
        let failure = bot("echo starting >&2; echo 'no model' >&2; exit 3")
            .call(&doc, second, Partial::off())
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::retry("no model"));
        let failure = bot(
            "cat >/dev/null; yes noise | head -c 3000000 >&2; echo 'the real reason' >&2; exit 1",
        )
        .call(&doc, second, Partial::off())
        .await
        .unwrap_err();
        assert_eq!(
            failure.error, "the real reason",
            "a chatty stderr keeps its last line"
        );
        // A bot whose model answered before something else failed says what the model billed.
        let failure = bot(
            r#"cat >/dev/null; echo '{"usage": {"input_tokens": 7, "output_tokens": 3}}'; echo 'no disk' >&2; exit 1"#,
        )
        .call(&doc, second, Partial::off())
        .await
        .unwrap_err();
        assert_eq!(
            (failure.error.as_str(), failure.usage.map(|u| u.total())),
            ("no disk", Some(10))
        );
        let failure = bot("sleep 5")
            .call(&doc, Duration::from_millis(200), Partial::off())
            .await
            .unwrap_err();
        assert!(
            failure.error.starts_with("timed out after 200ms"),
            "{failure:?}"
        );
    }
}
