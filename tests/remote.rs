//! The toolkit stack, large templates through its bucket, and remote publishing through CodeBuild.
//!
//! LocalStack provides CloudFormation, S3 and the rest; moto provides the CodeBuild API
//! (`AWS_ENDPOINT_URL_CODEBUILD`). LocalStack's community CloudFormation does not create CodeBuild
//! projects, so after `botpub bootstrap` the test registers the toolkit's project in moto, exactly as the
//! deployed template defines it. moto runs no builds either: the test plays the CodeBuild worker, running
//! the project's buildspec commands with the build's environment, against LocalStack.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{REGION, Run, World, localstack, moto};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Runs botpub with CodeBuild on moto and everything else on LocalStack.
fn botpub(world: &World, args: &[&str]) -> Run {
    let output = world
        .command(&world.endpoint)
        .env("AWS_ENDPOINT_URL_CODEBUILD", moto())
        .args(args)
        .output()
        .unwrap();
    Run { output }
}

fn codebuild(world: &World) -> aws_sdk_codebuild::Client {
    let sdk = world.sdk();
    let config = sdk.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(moto())
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load(),
    );
    aws_sdk_codebuild::Client::new(&config)
}

/// One toolkit for the whole file: bootstrapping uploads the (large, debug) botpub binary.
struct Bootstrapped {
    world: World,
    bucket: String,
    first: Value,
}

fn bootstrapped() -> &'static Bootstrapped {
    static TOOLKIT: OnceLock<Bootstrapped> = OnceLock::new();
    TOOLKIT.get_or_init(|| {
        let world = World::new();
        let first = botpub(
            &world,
            &[
                "bootstrap",
                "--prefix",
                &world.prefix,
                "--yes",
                "--output",
                "json",
            ],
        )
        .expect(0)
        .json();
        let bucket = first["bucket"].as_str().unwrap().to_string();
        register_project(&world, &bucket);
        Bootstrapped {
            world,
            bucket,
            first,
        }
    })
}

/// Creates in moto the CodeBuild project that the deployed toolkit template defines.
fn register_project(world: &World, bucket: &str) {
    let sdk = world.sdk();
    let stack = format!("{}-toolkit", world.prefix);
    let template = sdk
        .block_on(sdk.cloudformation.get_template().stack_name(&stack).send())
        .unwrap();
    let template: Value = serde_json::from_str(template.template_body().unwrap()).unwrap();
    let project = &template["Resources"]["Publisher"]["Properties"];
    let role = sdk
        .block_on(
            sdk.cloudformation
                .describe_stack_resource()
                .stack_name(&stack)
                .logical_resource_id("PublisherRole")
                .send(),
        )
        .unwrap();
    let role = role
        .stack_resource_detail()
        .and_then(|r| r.physical_resource_id())
        .unwrap()
        .to_string();
    use aws_sdk_codebuild::types::*;
    assert_eq!(
        project["Source"]["Location"]["Fn::Sub"],
        "${ArtifactsBucket}/bin/"
    );
    let variables = project["Environment"]["EnvironmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let value = match &v["Value"] {
                Value::String(s) => s.clone(),
                other => {
                    assert_eq!(other["Ref"], "ArtifactsBucket");
                    bucket.to_string()
                }
            };
            EnvironmentVariable::builder()
                .name(v["Name"].as_str().unwrap())
                .value(value)
                .build()
                .unwrap()
        })
        .collect();
    let client = codebuild(world);
    sdk.block_on(
        client
            .create_project()
            .name(project["Name"].as_str().unwrap())
            .service_role(format!("arn:aws:iam::123456789012:role/{role}"))
            .source(
                ProjectSource::builder()
                    .r#type(SourceType::S3)
                    .location(format!("{bucket}/bin/"))
                    .buildspec(project["Source"]["BuildSpec"].as_str().unwrap())
                    .build()
                    .unwrap(),
            )
            .artifacts(
                ProjectArtifacts::builder()
                    .r#type(ArtifactsType::NoArtifacts)
                    .build()
                    .unwrap(),
            )
            .environment(
                ProjectEnvironment::builder()
                    .r#type(EnvironmentType::LinuxContainer)
                    .compute_type(ComputeType::BuildGeneral1Small)
                    .image(project["Environment"]["Image"].as_str().unwrap())
                    .set_environment_variables(Some(variables))
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .unwrap();
}

fn object(world: &World, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let sdk = world.sdk();
    let got = sdk.block_on(sdk.s3.get_object().bucket(bucket).key(key).send());
    got.ok().map(|o| {
        sdk.block_on(o.body.collect())
            .unwrap()
            .into_bytes()
            .to_vec()
    })
}

#[test]
fn bootstrap_makes_a_private_bucket_and_the_publisher_and_a_rerun_changes_nothing() {
    let toolkit = bootstrapped();
    let world = &toolkit.world;
    let first = &toolkit.first;
    assert_eq!(first["result"], "created");
    assert_eq!(first["project"], format!("{}-publisher", world.prefix));
    assert_eq!(first["binary_uploaded"], true);

    let sdk = world.sdk();
    let bucket = toolkit.bucket.as_str();
    let encryption = sdk
        .block_on(sdk.s3.get_bucket_encryption().bucket(bucket).send())
        .unwrap();
    assert!(encryption.server_side_encryption_configuration().is_some());
    let block = sdk
        .block_on(sdk.s3.get_public_access_block().bucket(bucket).send())
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
    // LocalStack's CloudFormation does not apply a bucket's lifecycle rules: read them from the template.
    let template = sdk
        .block_on(
            sdk.cloudformation
                .get_template()
                .stack_name(format!("{}-toolkit", world.prefix))
                .send(),
        )
        .unwrap();
    let template: Value = serde_json::from_str(template.template_body().unwrap()).unwrap();
    let rules =
        &template["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"];
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Prefix"] == "uploads/" && r["ExpirationInDays"] == 30),
        "{rules}"
    );
    let policy = sdk
        .block_on(sdk.s3.get_bucket_policy().bucket(bucket).send())
        .unwrap();
    assert!(policy.policy().unwrap().contains("aws:SecureTransport"));

    // The binary the project runs is this botpub, byte for byte.
    let binary = std::fs::read(env!("CARGO_BIN_EXE_botpub")).unwrap();
    let uploaded = object(world, bucket, "bin/botpub").expect("bin/botpub in the bucket");
    assert!(
        uploaded == binary,
        "the uploaded binary differs from botpub"
    );
    assert_eq!(first["binary_sha256"], hex::encode(Sha256::digest(&binary)));

    // A rerun makes no change set at all (the template is compared with the deployed one first).
    let change_sets = || {
        sdk.block_on(
            sdk.cloudformation
                .list_change_sets()
                .stack_name(format!("{}-toolkit", world.prefix))
                .send(),
        )
        .unwrap()
        .summaries()
        .len()
    };
    let before = change_sets();
    let again = botpub(world, &["bootstrap", "--prefix", &world.prefix, "--yes"]).expect(0);
    assert!(again.stdout().contains("No changes"), "{}", again.stdout());
    assert!(again.stdout().contains("up to date"), "{}", again.stdout());
    assert_eq!(change_sets(), before);
}

/// A spec with one bot behind a firewall of `ranges` IPv4 ranges (distinct /32s).
fn firewall_spec(world: &World, prefix: &str, ranges: usize) -> std::path::PathBuf {
    let list: Vec<String> = (0..ranges)
        .map(|i| format!("\"10.{}.{}.{}/32\"", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let text = format!(
        "version: 1\nregion: {REGION}\nstack_prefix: {prefix}\nfirewall:\n  allowed_ipv4: [{}]\nbots:\n  - id: walled\n    description: behind a large firewall\n    allowed_origins: [\"https://app.example.com\"]\n",
        list.join(", ")
    );
    let path = world.dir.path().join(format!("{prefix}-firewall.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_firewall_of_5000_ranges_is_deployed_from_the_toolkit_bucket() {
    let toolkit = bootstrapped();
    let world = &toolkit.world;
    let spec = firewall_spec(world, &world.prefix, 5000);
    let spec = spec.to_str().unwrap();
    let published = botpub(world, &["publish", spec, "--yes", "--output", "json"]).expect(0);
    let result = published.json();
    let firewall = format!("{}-firewall", world.prefix);
    let stacks = result["stacks"].as_array().unwrap();
    assert!(
        stacks
            .iter()
            .any(|s| s["stack_name"] == firewall.as_str() && s["result"] == "created"),
        "{result}"
    );

    // The template went through the bucket, under the hash of its content.
    let sdk = world.sdk();
    let listed = sdk
        .block_on(
            sdk.s3
                .list_objects_v2()
                .bucket(&toolkit.bucket)
                .prefix("uploads/templates/")
                .send(),
        )
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let body = object(world, &toolkit.bucket, keys[0]).unwrap();
    assert!(body.len() > 51_200, "{} bytes", body.len());
    assert_eq!(
        keys[0],
        format!(
            "uploads/templates/{}.json",
            hex::encode(Sha256::digest(&body))
        )
    );
    let deployed = sdk
        .block_on(
            sdk.cloudformation
                .get_template()
                .stack_name(&firewall)
                .send(),
        )
        .unwrap();
    let deployed: Value = serde_json::from_str(deployed.template_body().unwrap()).unwrap();
    let addresses = deployed["Resources"]["AllowedIpv4"]["Properties"]["Addresses"]
        .as_array()
        .unwrap();
    assert_eq!(addresses.len(), 5000);

    // Publishing the same spec again is a no-op.
    let again = botpub(world, &["publish", spec, "--yes"]).expect(0);
    assert!(again.stdout().contains("No changes"), "{}", again.stdout());
}

#[test]
fn without_a_toolkit_large_templates_and_remote_publishing_say_to_bootstrap() {
    let world = World::new();
    let spec = firewall_spec(&world, &world.prefix, 5000);
    let spec = spec.to_str().unwrap();
    let plan = botpub(&world, &["plan", spec]).expect(4);
    let hint = format!(
        "run `botpub bootstrap --prefix {} --region {REGION}`",
        world.prefix
    );
    assert!(plan.stderr().contains(&hint), "{}", plan.stderr());
    let remote = botpub(&world, &["publish", spec, "--remote", "--yes"]).expect(4);
    assert!(remote.stderr().contains(&hint), "{}", remote.stderr());
    // Nothing was created: no stack of this prefix exists, not even one under review.
    let sdk = world.sdk();
    let stacks = sdk
        .block_on(sdk.cloudformation.describe_stacks().send())
        .unwrap();
    assert!(
        !stacks
            .stacks()
            .iter()
            .any(|s| s.stack_name().unwrap_or("").starts_with(&world.prefix)),
        "a stack was created"
    );
}

/// Plays the CodeBuild worker: runs the project's buildspec commands, in a directory holding the source
/// (the bucket's `bin/` folder), with the project's variables and the build's overrides from its record.
fn run_build(world: &World, bucket: &str, bot_id: &str) {
    let record: Value =
        serde_json::from_slice(&object(world, bucket, &format!("builds/{bot_id}.json")).unwrap())
            .unwrap();
    let project = format!("{}-publisher", world.prefix);
    let client = codebuild(world);
    let sdk = world.sdk();
    let projects = sdk
        .block_on(client.batch_get_projects().names(&project).send())
        .unwrap();
    let project = &projects.projects()[0];
    let buildspec: serde_yaml::Value =
        serde_yaml::from_str(project.source().unwrap().buildspec().unwrap()).unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::write(
        source.path().join("botpub"),
        object(world, bucket, "bin/botpub").unwrap(),
    )
    .unwrap();
    let awscli = std::fs::read_dir(
        std::env::var("BOTPUB_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| Path::new(&std::env::var("HOME").unwrap()).join(".cache/botpub"))
            .join("venvs"),
    )
    .unwrap()
    .map(|e| e.unwrap().path())
    .find(|p| p.join("bin/aws").exists())
    .expect("the LocalStack venv provides the aws CLI");
    let path = format!(
        "{}:{}",
        awscli.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let spec_keys: Vec<&str> = record["spec_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for command in buildspec["phases"]["build"]["commands"]
        .as_sequence()
        .unwrap()
    {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(command.as_str().unwrap())
            .current_dir(source.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", world.dir.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ENDPOINT_URL", localstack())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("BOTPUB_SPEC_KEYS", spec_keys.join(" "))
            .env("BOTPUB_BOT_IDS", bot_id);
        for variable in project.environment().unwrap().environment_variables() {
            shell.env(variable.name(), variable.value());
        }
        let out = shell.output().unwrap();
        assert!(
            out.status.success(),
            "build command {command:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `publish --remote --detach` of a spec: what it printed.
fn start_remote(world: &World, spec: &Path) -> Value {
    botpub(
        world,
        &[
            "publish",
            spec.to_str().unwrap(),
            "--remote",
            "--yes",
            "--detach",
            "--output",
            "json",
        ],
    )
    .expect(0)
    .json()
}

#[test]
fn publish_remote_uploads_the_spec_starts_the_publisher_and_status_shows_the_build() {
    let toolkit = bootstrapped();
    let world = &toolkit.world;
    let spec = world.spec(
        "remote.yaml",
        "  - id: remote-bot\n    description: published from CodeBuild\n    allowed_origins: [\"https://app.example.com\"]\n",
    );
    let started = start_remote(world, &spec);
    let build = &started["build"];
    let build_id = build["build_id"].as_str().unwrap();
    assert_eq!(build["project"], format!("{}-publisher", world.prefix));
    assert!(build_id.starts_with(&format!("{}-publisher:", world.prefix)));

    // The spec in the bucket is the user's file, byte for byte; the record names the build.
    let key = build["spec_keys"][0].as_str().unwrap();
    assert_eq!(
        object(world, &toolkit.bucket, key).unwrap(),
        std::fs::read(&spec).unwrap()
    );
    let record: Value =
        serde_json::from_slice(&object(world, &toolkit.bucket, "builds/remote-bot.json").unwrap())
            .unwrap();
    assert_eq!(record["build_id"], build_id);
    assert_eq!(record["spec_keys"][0], key);
    let client = codebuild(world);
    let sdk = world.sdk();
    let builds = sdk
        .block_on(
            client
                .list_builds_for_project()
                .project_name(format!("{}-publisher", world.prefix))
                .send(),
        )
        .unwrap();
    assert!(builds.ids().iter().any(|id| id == build_id));

    run_build(world, &toolkit.bucket, "remote-bot");

    botpub(world, &["watch", "remote-bot", "--prefix", &world.prefix]).expect(0);
    let status = botpub(
        world,
        &[
            "status",
            "remote-bot",
            "--prefix",
            &world.prefix,
            "--output",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(status["published"], true);
    assert_eq!(status["cfn_status"], "CREATE_COMPLETE");
    assert_eq!(status["codebuild_id"], build_id);
    assert_eq!(status["codebuild_status"], "SUCCEEDED");
    assert!(status["endpoint"].as_str().is_some());
    let text = botpub(world, &["status", "remote-bot", "--prefix", &world.prefix]).expect(0);
    assert!(text.stdout().contains(build_id), "{}", text.stdout());
}

#[test]
fn a_stopped_remote_build_is_reported_as_failed_never_in_progress() {
    let toolkit = bootstrapped();
    let world = &toolkit.world;
    let spec = world.spec(
        "stopped.yaml",
        "  - id: stopped-bot\n    description: its build is stopped\n    allowed_origins: [\"https://app.example.com\"]\n",
    );
    let started = start_remote(world, &spec);
    let build_id = started["build"]["build_id"].as_str().unwrap();
    let client = codebuild(world);
    let sdk = world.sdk();
    sdk.block_on(client.stop_build().id(build_id).send())
        .unwrap();

    let status = botpub(
        world,
        &[
            "status",
            "stopped-bot",
            "--prefix",
            &world.prefix,
            "--output",
            "json",
        ],
    )
    .expect(1)
    .json();
    assert_eq!(status["published"], false);
    assert_eq!(status["codebuild_id"], build_id);
    assert_eq!(status["codebuild_status"], "STOPPED");

    let watched = botpub(world, &["watch", "stopped-bot", "--prefix", &world.prefix]).expect(3);
    assert!(
        watched
            .stderr()
            .contains(&format!("remote build {build_id} ended STOPPED")),
        "{}",
        watched.stderr()
    );
}
