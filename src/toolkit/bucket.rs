//! The toolkit's private bucket, for what botpub uploads (templates too large to pass inline, specs to
//! publish remotely, the binary the remote publisher runs) and one build record per bot, so that `status`
//! and `watch` find a bot's latest remote build without any local state.

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use futures::future::BoxFuture;

use crate::aws::{Aws, AwsContext};
use crate::cloudformation::changeset::{self, TemplateStore};
use crate::cloudformation::deploy::Run;
use crate::cloudformation::stack;
use crate::outcome::Blocked;
use crate::synth::{TOOLKIT_SUFFIX, body_hash, publisher_project, sha256_hex};

/// Where the publisher project finds the binary: its source is the `bin/` folder of the bucket.
pub const BINARY_KEY: &str = "bin/botpub";
/// Object metadata that records an upload's SHA-256, so the same content is never uploaded twice.
const SHA256_METADATA: &str = "sha256";
/// The binary is uploaded in parts of this size (S3's minimum is 5 MiB), so that each part's request fits
/// well within one attempt's timeout even on a slow link.
const PART_SIZE: u64 = 16 * 1024 * 1024;
/// Parts in flight at once: enough to fill a link, few enough that each gets its share of it.
const PARTS_AT_ONCE: usize = 4;

/// A deployed toolkit.
#[derive(Debug, Clone)]
pub struct Toolkit {
    pub stack_name: String,
    pub bucket: String,
    pub project: String,
}

/// The toolkit stack's name for a stack prefix.
pub fn stack_name(prefix: &str) -> String {
    format!("{prefix}-{TOOLKIT_SUFFIX}")
}

/// The toolkit of a prefix, when it has been deployed (and not only planned).
pub async fn find(aws: &Aws, prefix: &str) -> anyhow::Result<Option<Toolkit>> {
    let name = stack_name(prefix);
    let Some(described) = stack::describe(aws, &name).await? else {
        return Ok(None);
    };
    Ok(described.output("ArtifactsBucket").map(|bucket| Toolkit {
        stack_name: name,
        bucket: bucket.to_string(),
        project: publisher_project(prefix),
    }))
}

/// The toolkit, or an error (exit 4) that says to run `botpub bootstrap` first.
pub async fn require(aws: &Aws, prefix: &str, needed_for: &str) -> anyhow::Result<Toolkit> {
    if let Some(toolkit) = find(aws, prefix).await? {
        return Ok(toolkit);
    }
    let flag = if prefix == crate::spec::model::DEFAULT_PREFIX {
        String::new()
    } else {
        format!(" --prefix {prefix}")
    };
    Err(Blocked(format!(
        "{needed_for} needs the toolkit stack {}, which is not deployed in {}: run `botpub bootstrap{flag} --region {}` once, then run this command again",
        stack_name(prefix),
        aws.region,
        aws.region
    ))
    .into())
}

/// Gives a run the toolkit bucket when one of its templates is too large to pass inline (after refusing,
/// before any AWS call, one that CloudFormation would refuse even from S3); without a toolkit, the error
/// says to bootstrap.
pub async fn attach_for_large_templates(
    run: &mut Run,
    stacks: &[crate::synth::Stack],
) -> anyhow::Result<()> {
    for stack in stacks {
        changeset::check_size(stack)?;
    }
    if run.templates.is_none() && stacks.iter().any(changeset::needs_upload) {
        let toolkit = require(
            &run.aws,
            &run.prefix,
            "a template over 51,200 bytes (CloudFormation's inline limit)",
        )
        .await?;
        run.templates = Some(Box::new(toolkit));
    }
    Ok(())
}

impl TemplateStore for Toolkit {
    fn upload<'a>(&'a self, aws: &'a Aws, body: &'a str) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(self.upload_template(aws, body))
    }
}

/// A bot's latest remote build, written to the toolkit bucket when the build starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildRecord {
    pub bot_id: String,
    pub stack_name: String,
    pub build_id: String,
    pub project: String,
    /// The uploaded specs the build publishes (keys in the toolkit bucket).
    pub spec_keys: Vec<String>,
    pub started: String,
}

fn record_key(bot_id: &str) -> String {
    format!("builds/{bot_id}.json")
}

impl Toolkit {
    /// Uploads a template under a key named by its content (the same template is uploaded once) and
    /// returns the URL CloudFormation reads it from.
    pub async fn upload_template(&self, aws: &Aws, body: &str) -> anyhow::Result<String> {
        let key = format!("uploads/templates/{}.json", body_hash(body));
        self.put_once(aws, &key, body.as_bytes().to_vec(), "application/json")
            .await?;
        Ok(self.url(aws, &key))
    }

    /// Uploads a spec for a remote build, under a key named by its content; returns the key.
    pub async fn upload_spec(&self, aws: &Aws, text: &[u8]) -> anyhow::Result<String> {
        let key = format!("uploads/specs/{}.yaml", sha256_hex(text));
        self.put_once(aws, &key, text.to_vec(), "application/yaml")
            .await?;
        Ok(key)
    }

    /// The HTTPS URL of an object (path style on a custom endpoint such as LocalStack).
    fn url(&self, aws: &Aws, key: &str) -> String {
        match &aws.s3_endpoint {
            Some(endpoint) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, aws.region
            ),
        }
    }

    async fn put_once(
        &self,
        aws: &Aws,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<()> {
        if self.stored_sha256(aws, key).await?.is_some() {
            return Ok(());
        }
        aws.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(SHA256_METADATA, sha256_hex(&bytes))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .aws(format!("uploading {key} to {}", self.bucket))?;
        Ok(())
    }

    /// The SHA-256 an object was uploaded with, or `None` when there is no such object.
    async fn stored_sha256(&self, aws: &Aws, key: &str) -> anyhow::Result<Option<String>> {
        match aws
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(
                head.metadata()
                    .and_then(|m| m.get(SHA256_METADATA))
                    .cloned()
                    .unwrap_or_default(),
            )),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(error).aws(format!("reading {key} in {}", self.bucket)),
        }
    }

    /// Whether the bucket holds exactly this binary.
    pub async fn has_binary(&self, aws: &Aws, sha256: &str) -> anyhow::Result<bool> {
        Ok(self.stored_sha256(aws, BINARY_KEY).await?.as_deref() == Some(sha256))
    }

    /// Uploads the botpub binary the publisher project runs, in parts: one request for tens or hundreds of
    /// megabytes would have to finish within a single attempt's timeout on a slow link, while a part that
    /// fails is retried alone. A failed upload is aborted, so no half-written parts are left to pay for.
    pub async fn upload_binary(&self, aws: &Aws, path: &Path, sha256: &str) -> anyhow::Result<()> {
        let context = || format!("uploading the botpub binary to {}", self.bucket);
        let size = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
            .len();
        let upload = aws
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(BINARY_KEY)
            .content_type("application/octet-stream")
            .metadata(SHA256_METADATA, sha256)
            .send()
            .await
            .aws(context())?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let parts = self.upload_parts(aws, path, size, &upload_id).await;
        let completed = match parts {
            Ok(parts) => aws
                .s3
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(BINARY_KEY)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .aws(context())
                .map(drop),
            Err(error) => Err(error),
        };
        if completed.is_err() {
            // Best effort: the original error is what the user needs to see.
            let _ = aws
                .s3
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(BINARY_KEY)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        completed
    }

    /// Sends the file's parts, a few at a time, each streamed from its offset in the file.
    async fn upload_parts(
        &self,
        aws: &Aws,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> anyhow::Result<Vec<CompletedPart>> {
        let count = size.div_ceil(PART_SIZE).max(1);
        let sends = (0..count).map(|index| async move {
            let offset = index * PART_SIZE;
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(PART_SIZE.min(size - offset)))
                .build()
                .await
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            let number = i32::try_from(index + 1)?;
            let part = aws
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(BINARY_KEY)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .aws(format!(
                    "uploading part {number} of {count} of the botpub binary to {}",
                    self.bucket
                ))?;
            Ok::<_, anyhow::Error>(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            )
        });
        futures::stream::iter(sends)
            .buffered(PARTS_AT_ONCE)
            .try_collect()
            .await
    }

    pub async fn write_record(&self, aws: &Aws, record: &BuildRecord) -> anyhow::Result<()> {
        aws.s3
            .put_object()
            .bucket(&self.bucket)
            .key(record_key(&record.bot_id))
            .content_type("application/json")
            .body(ByteStream::from(serde_json::to_vec_pretty(record)?))
            .send()
            .await
            .aws(format!(
                "recording the build of {} in {}",
                record.bot_id, self.bucket
            ))?;
        Ok(())
    }

    /// The record of a bot's latest remote build, if it was ever published remotely.
    pub async fn read_record(
        &self,
        aws: &Aws,
        bot_id: &str,
    ) -> anyhow::Result<Option<BuildRecord>> {
        let key = record_key(bot_id);
        let object = match aws
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(error).aws(format!("reading {key} in {}", self.bucket)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading {key} in {}: {e}", self.bucket))?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key} in {} is not a build record: {e}", self.bucket))
    }
}

/// The botpub binary to upload: it must run in CodeBuild's Linux x86-64 image. Returns its SHA-256.
pub fn check_binary(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read the botpub binary {}: {e}", path.display()))?;
    let mut header = [0u8; 20];
    let elf_x86_64 = file.read_exact(&mut header).is_ok()
        && header[..4] == *b"\x7fELF"
        && header[4] == 2
        && u16::from_le_bytes([header[18], header[19]]) == 0x3e;
    if !elf_x86_64 {
        anyhow::bail!(
            "{} is not a Linux x86-64 executable, and the remote publisher runs on Linux x86-64: pass --binary PATH to a Linux x86-64 build of botpub {}",
            path.display(),
            env!("CARGO_PKG_VERSION")
        );
    }
    // Hashed in chunks: a debug build is hundreds of megabytes.
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
