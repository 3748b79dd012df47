//! Custom domains end to end against LocalStack: the domain stack deploys before the bots, each bot maps
//! its stage onto the domain, `status` reports the custom URL, and unpublishing takes the mappings away
//! one by one while the domain stays until it is asked to go.
//!
//! LocalStack does not route requests by host name, so nothing here calls an API through its custom
//! domain (tests/support/localstack-notes.md); the mappings are read back through API Gateway instead, and
//! the Route 53 alias record through the AWS CLI of LocalStack's venv (the tests have no Route 53 client).

use crate::common;

use common::{World, http};
use serde_json::Value;

const CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:000000000000:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// A spec with one custom domain (its record in `zone`) and the given bots (YAML list items), monitoring
/// off to deploy faster.
fn spec(
    world: &World,
    file: &str,
    (domain, zone): (&str, &str),
    bots: &[(&str, &str)],
) -> std::path::PathBuf {
    let mut text = format!(
        "version: 1\nregion: {}\nstack_prefix: {}\ndomains:\n  - name: {domain}\n    certificate_arn: {CERTIFICATE}\n    hosted_zone_id: {zone}\nbots:\n",
        common::REGION,
        world.prefix
    );
    for (id, domain_fields) in bots {
        text.push_str(&format!(
            "  - id: {id}\n    allowed_origins: [\"https://app.example.com\"]\n    monitoring: {{enabled: false}}\n    domain: {{name: {domain}{domain_fields}}}\n"
        ));
    }
    let path = world.dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// `botpub publish SPEC` with its JSON result.
fn publish(world: &World, spec: &std::path::Path) -> Value {
    let args = [
        "publish",
        spec.to_str().unwrap(),
        "--yes",
        "--output",
        "json",
        "--progress",
        "none",
    ];
    world.botpub(&args).expect(0).json()
}

/// `botpub unpublish BOT --remove-domain` with its JSON result.
fn unpublish_removing_domain(world: &World, bot_id: &str) -> Value {
    let more = [
        "--yes",
        "--remove-domain",
        "--output",
        "json",
        "--progress",
        "none",
    ];
    world
        .botpub_bot("unpublish", bot_id, &more)
        .expect(0)
        .json()
}

/// The base paths mapped on a domain, each with the API and stage it leads to.
fn mappings(world: &World, domain: &str) -> Vec<(String, String, String)> {
    let sdk = world.sdk();
    let page = sdk
        .block_on(
            sdk.apigateway
                .get_base_path_mappings()
                .domain_name(domain)
                .send(),
        )
        .unwrap();
    let mut found: Vec<(String, String, String)> = page
        .items()
        .iter()
        .map(|m| {
            (
                m.base_path().unwrap_or_default().to_string(),
                m.rest_api_id().unwrap_or_default().to_string(),
                m.stage().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

/// The AWS CLI of LocalStack's venv against this world's LocalStack, its answer as JSON.
fn aws_cli(world: &World, args: &[&str]) -> Value {
    let venv = common::localstack_venv();
    let out = world
        .clean(
            std::process::Command::new(format!("{venv}/bin/aws")),
            &world.endpoint,
        )
        .env("AWS_DEFAULT_REGION", common::REGION)
        .args(["--endpoint-url", &world.endpoint, "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The A records of a hosted zone: name and alias target.
fn alias_records(world: &World, zone: &str) -> Vec<(String, String)> {
    let listed = aws_cli(
        world,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            zone,
        ],
    );
    listed["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Type"] == "A")
        .map(|r| {
            (
                r["Name"].as_str().unwrap_or_default().to_string(),
                r["AliasTarget"]["DNSName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn domain_exists(world: &World, domain: &str) -> bool {
    let sdk = world.sdk();
    sdk.block_on(sdk.apigateway.get_domain_name().domain_name(domain).send())
        .is_ok()
}

fn stack_exists(world: &World, stack: &str) -> bool {
    let sdk = world.sdk();
    sdk.block_on(
        sdk.cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send(),
    )
    .is_ok_and(|d| {
        d.stacks().iter().any(|s| {
            s.stack_status()
                .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
        })
    })
}

#[test]
fn two_bots_share_a_domain_until_the_last_one_goes_and_takes_the_domain_with_it() {
    let world = World::new();
    // A name of its own per run: domain names are unique in the account, across stack prefixes.
    let zone_name = format!("{}.example.com", world.prefix.to_ascii_lowercase());
    let domain = format!("bots.{zone_name}");
    let zone = aws_cli(
        &world,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            &zone_name,
            "--caller-reference",
            &world.prefix,
        ],
    )["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let domain_stack = format!("{}-domain-{}", world.prefix, domain.replace('.', "-"));
    let both = spec(
        &world,
        "both.yaml",
        (&domain, &zone),
        &[("helpdesk-bot", ", base_path: support"), ("shop-bot", "")],
    );

    let published = publish(&world, &both);
    let stacks = published["stacks"].as_array().unwrap();
    let names: Vec<&str> = stacks
        .iter()
        .map(|s| s["stack_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            domain_stack.as_str(),
            &world.stack("helpdesk-bot"),
            &world.stack("shop-bot")
        ],
        "the domain stack deploys before the bots that import it"
    );
    assert!(
        stacks.iter().all(|s| s["result"] == "created"),
        "{published:#}"
    );
    let helpdesk = &stacks[1];
    assert_eq!(helpdesk["endpoint"], format!("https://{domain}/support"));
    assert!(
        helpdesk["api_endpoint"]
            .as_str()
            .is_some_and(|url| url.contains("/_aws/execute-api/")),
        "{helpdesk:#}"
    );

    assert!(domain_exists(&world, &domain));
    let regional = aws_cli(
        &world,
        &["apigateway", "get-domain-name", "--domain-name", &domain],
    );
    assert_eq!(
        alias_records(&world, &zone),
        [(
            format!("{domain}."),
            regional["regionalDomainName"].as_str().unwrap().to_string()
        )],
        "the alias record points the name at API Gateway"
    );
    let sdk = world.sdk();
    let api = |bot: &str| sdk.output(&world.stack(bot), "ApiId");
    assert_eq!(
        mappings(&world, &domain),
        [
            ("shop-bot".to_string(), api("shop-bot"), "api".to_string()),
            (
                "support".to_string(),
                api("helpdesk-bot"),
                "api".to_string()
            ),
        ],
        "the base path defaults to the bot id"
    );

    let status = world
        .botpub_bot("status", "helpdesk-bot", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["endpoint"], format!("https://{domain}/support"));
    // API Gateway's own URL keeps working beside the custom one (here through LocalStack's route).
    let api_endpoint = status["api_endpoint"].as_str().unwrap();
    let health = http("GET", &format!("{api_endpoint}/health"), &[], None);
    assert_eq!(health.status, 200, "{}", health.body);

    // The first bot goes: its mapping with it, the domain stays for the other.
    let first = unpublish_removing_domain(&world, "helpdesk-bot");
    assert_eq!(
        first["details"]["domain"]["base_paths"],
        serde_json::json!(["shop-bot"])
    );
    assert_eq!(first["details"]["domain"]["removed"], false);
    assert_eq!(
        mappings(&world, &domain),
        [("shop-bot".to_string(), api("shop-bot"), "api".to_string())]
    );
    assert!(stack_exists(&world, &domain_stack) && domain_exists(&world, &domain));

    // The last bot goes without --remove-domain: the domain stays, and the user is told how to remove it.
    let last = world
        .botpub_bot("unpublish", "shop-bot", &["--yes", "--progress", "none"])
        .expect(0);
    let told = last.stdout();
    assert!(
        told.contains("no bot is served on it any more")
            && told.contains(&format!(
                "aws cloudformation delete-stack --stack-name {domain_stack}"
            ))
            && told.contains("--remove-domain"),
        "{told}"
    );
    assert!(mappings(&world, &domain).is_empty());
    assert!(stack_exists(&world, &domain_stack));

    // Published again (the domain stack is unchanged) and unpublished with --remove-domain: all gone.
    let one = spec(&world, "one.yaml", (&domain, &zone), &[("shop-bot", "")]);
    let again = publish(&world, &one);
    let results: Vec<(&str, &str)> = again["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stack_name"].as_str().unwrap(),
                s["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (domain_stack.as_str(), "unchanged"),
            (world.stack("shop-bot").as_str(), "created")
        ]
    );
    let gone: Value = unpublish_removing_domain(&world, "shop-bot");
    assert_eq!(gone["details"]["domain"]["removed"], true, "{gone:#}");
    assert!(!stack_exists(&world, &domain_stack));
    assert!(!domain_exists(&world, &domain));
    assert!(alias_records(&world, &zone).is_empty());
    aws_cli(&world, &["route53", "delete-hosted-zone", "--id", &zone]);
}
