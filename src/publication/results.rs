//! A published bot's result documents, `results/{request_id}.json` in its bucket: what clients read from
//! `GET /result/{request_id}`, so a request is never left "processing" once it has an answer or has failed
//! for good.

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::aws::{Aws, AwsContext};

pub fn key(request_id: &str) -> String {
    format!("results/{request_id}.json")
}

/// Where a request stands, as its result document (or a conversation message's answer document) says in
/// its `status` field: what clients poll for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, or its answer still being written.
    Processing,
    Completed,
    /// Its last allowed attempt failed.
    Failed,
}

impl Status {
    /// The status `doc` states, when it states one of these.
    pub fn of(doc: &Value) -> Option<Status> {
        Status::deserialize(&doc["status"]).ok()
    }
}

/// The `status` of a request's result document, or `None` before there is one.
pub async fn status(aws: &Aws, bucket: &str, request_id: &str) -> anyhow::Result<Option<Status>> {
    Ok(read(aws, bucket, request_id)
        .await?
        .as_ref()
        .and_then(Status::of))
}

/// A request's result document, or `None` before there is one.
pub async fn read(aws: &Aws, bucket: &str, request_id: &str) -> anyhow::Result<Option<Value>> {
    Ok(read_json(aws, bucket, &key(request_id))
        .await?
        .map(|(doc, _)| doc))
}

/// A JSON document in a bot's bucket and its ETag, or `None` when there is no such key.
pub async fn read_json(
    aws: &Aws,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<(Value, Option<String>)>> {
    let object = match aws.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            return Ok(None);
        }
        Err(error) => return Err(error).aws(format!("reading {key} in {bucket}")),
    };
    let etag = object.e_tag().map(str::to_string);
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading {key} in {bucket}: {e}"))?
        .into_bytes();
    let doc = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{key} in {bucket} is not JSON: {e}"))?;
    Ok(Some((doc, etag)))
}

/// The document of an answered request: the bot's fields (`response`, and any others such as `usage`)
/// under botpub's own.
pub fn completed(
    request_id: &str,
    correlation_id: Option<&str>,
    answer: Map<String, Value>,
    now: &str,
) -> Value {
    let mut doc = Map::new();
    doc.insert("request_id".into(), json!(request_id));
    doc.insert("status".into(), json!(Status::Completed));
    for (field, value) in answer {
        if !matches!(field.as_str(), "request_id" | "status" | "completed_at") {
            doc.insert(field, value);
        }
    }
    doc.insert("correlation_id".into(), json!(correlation_id));
    doc.insert("completed_at".into(), json!(now));
    Value::Object(doc)
}

/// The document of a request whose last allowed attempt failed: clients stop polling.
pub fn failed(request_id: &str, correlation_id: Option<&str>, error: &str, now: &str) -> Value {
    json!({
        "request_id": request_id,
        "status": Status::Failed,
        "error": error,
        "correlation_id": correlation_id,
        "failed_at": now,
    })
}

/// An answer still being written: its text so far, the write's `sequence` (it grows with each write of
/// one attempt) and the `attempt` it belongs to (a retry starts its text afresh).
pub struct SoFar<'a> {
    pub text: &'a str,
    pub sequence: u64,
    pub attempt: u32,
}

/// The document of a request whose answer is still being written.
pub fn partial(request_id: &str, correlation_id: Option<&str>, so_far: SoFar) -> Value {
    json!({
        "request_id": request_id,
        "status": Status::Processing,
        "response": so_far.text,
        "sequence": so_far.sequence,
        "attempt": so_far.attempt,
        "correlation_id": correlation_id,
    })
}

/// Whether a document is a final answer (`completed` or `failed`): clients stop polling at one, and
/// nothing but a new answer after a redrive ever replaces it.
pub fn is_final(doc: &Value) -> bool {
    matches!(Status::of(doc), Some(Status::Completed | Status::Failed))
}

/// Writes a JSON document to a bot's bucket.
pub async fn write_json(aws: &Aws, bucket: &str, key: &str, doc: &Value) -> anyhow::Result<()> {
    put(aws, bucket, key, doc)?
        .send()
        .await
        .aws(format!("writing {key} to {bucket}"))?;
    Ok(())
}

/// What a conditional write came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done,
    /// Someone else wrote the document since it was read: nothing was written.
    Conflict,
}

/// Writes a JSON document only if it is still the version read (`etag`), or still absent (`None`): a
/// writer that lost a race leaves the winner's document alone.
pub async fn write_json_unless_changed(
    aws: &Aws,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    doc: &Value,
) -> anyhow::Result<Written> {
    Ok(
        match write_json_versioned(aws, bucket, key, etag, doc).await? {
            Ok(_) => Written::Done,
            Err(Conflict) => Written::Conflict,
        },
    )
}

/// Someone else wrote the document since it was read.
#[derive(Debug, PartialEq, Eq)]
pub struct Conflict;

/// [`write_json_unless_changed`], with the ETag of the version written, for the writer's next write.
pub async fn write_json_versioned(
    aws: &Aws,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    doc: &Value,
) -> anyhow::Result<Result<Option<String>, Conflict>> {
    let put = put(aws, bucket, key, doc)?;
    let put = match etag {
        Some(etag) => put.if_match(etag),
        None => put.if_none_match("*"),
    };
    send_conditional(put, || format!("writing {key} to {bucket}")).await
}

/// Sends a conditional PUT (If-Match or If-None-Match): the ETag written, or [`Conflict`] when S3 refused
/// it because the object is no longer as expected.
pub async fn send_conditional(
    put: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    what: impl FnOnce() -> String,
) -> anyhow::Result<Result<Option<String>, Conflict>> {
    match put.send().await {
        Ok(written) => Ok(Ok(written.e_tag().map(str::to_string))),
        Err(error)
            if error
                .raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            Ok(Err(Conflict))
        }
        Err(error) => Err(error).aws(what()),
    }
}

fn put(
    aws: &Aws,
    bucket: &str,
    key: &str,
    doc: &Value,
) -> anyhow::Result<aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder> {
    Ok(aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(serde_json::to_vec(doc)?)))
}
