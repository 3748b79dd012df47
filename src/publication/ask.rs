//! The client side of the published API (Bedrock Chat's async contract) in one call: `POST /predict`, then
//! `GET /result/{request_id}` with a backoff that starts near 100 ms and settles near 2 s, until the result
//! says `completed` or `failed`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How an asked question ended.
#[derive(Debug)]
pub enum Answer {
    /// The result document, `status: completed`.
    Completed(Value),
    /// The result document, `status: failed`, after the bot's last attempt.
    Failed(Value),
}

/// One HTTP exchange's status and body.
struct Reply {
    status: u16,
    body: String,
}

/// Asks `message` at the API under `base_url` with `key`, waiting at most `timeout` for the answer.
pub async fn ask(
    base_url: &str,
    key: &str,
    message: &str,
    timeout: Duration,
) -> anyhow::Result<Answer> {
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let base = base_url.trim_end_matches('/');
    let body = json!({ "message": message }).to_string();
    let posted = call(&agent, "POST", &format!("{base}/predict"), key, Some(body)).await?;
    let accepted: Value = serde_json::from_str(&posted.body).unwrap_or(Value::Null);
    let request_id = match (posted.status, accepted["request_id"].as_str()) {
        (200..=299, Some(id)) => id.to_string(),
        _ => anyhow::bail!(
            "POST {base}/predict answered {}: {}",
            posted.status,
            posted.body.trim()
        ),
    };
    let url = format!("{base}/result/{request_id}");
    let mut delay = Duration::from_millis(100);
    loop {
        let reply = call(&agent, "GET", &url, key, None).await?;
        let doc: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        match (reply.status, doc["status"].as_str()) {
            (200, Some("completed")) => return Ok(Answer::Completed(doc)),
            (200, Some("failed")) => return Ok(Answer::Failed(doc)),
            (200..=299, _) => {}
            (status, _) => anyhow::bail!("GET {url} answered {status}: {}", reply.body.trim()),
        }
        if started.elapsed() + delay > timeout {
            anyhow::bail!(
                "no answer to request {request_id} after {}: the bot's worker may not be running (`botpub worker`); ask for it later at GET {url}",
                humantime::format_duration(Duration::from_secs(timeout.as_secs()))
            );
        }
        tokio::time::sleep(delay).await;
        delay = delay.mul_f64(1.5).min(Duration::from_secs(2));
    }
}

/// One request, on a thread of its own (the HTTP client blocks).
async fn call(
    agent: &ureq::Agent,
    method: &'static str,
    url: &str,
    key: &str,
    body: Option<String>,
) -> anyhow::Result<Reply> {
    let (agent, url, key) = (agent.clone(), url.to_string(), key.to_string());
    tokio::task::spawn_blocking(move || {
        let reply = match body {
            Some(body) => agent
                .post(&url)
                .header("x-api-key", &key)
                .header("content-type", "application/json")
                .send(body.as_bytes()),
            None => agent.get(&url).header("x-api-key", &key).call(),
        };
        let mut reply = reply.map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
        let status = reply.status().as_u16();
        let body = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow::anyhow!("{method} {url}: reading the answer: {e}"))?;
        Ok(Reply { status, body })
    })
    .await?
}
