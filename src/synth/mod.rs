//! Synthesis: the validated spec becomes CloudFormation templates, one per stack.
//!
//! Templates live in `templates/` as minijinja files (compiled into the binary). Every spec value enters
//! them through `tojson`, and the rendered text is parsed back and checked (`check`), so no value can
//! change a template's structure. The output is deterministic: the same spec gives byte-identical templates.

mod callers;
mod check;
pub mod openapi;
pub mod outputs;
mod render;
mod served;
pub mod tokens_metric;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::spec::model::{
    Auth, Bot, BotDomain, Contract, Domain, Firewall, Monitoring, Spec, TokenBudget,
};

/// Stack tags botpub sets itself; `list` and `status` find bot stacks by them.
pub const BOT_ID_TAG: &str = "botpub:bot-id";
pub const SPEC_HASH_TAG: &str = "botpub:spec-hash";
pub const SHARED_TAG: &str = "botpub:shared";
/// The custom domain a domain stack holds.
pub const DOMAIN_TAG: &str = "botpub:domain";

/// One stack to deploy: its name, what it is, and its template.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub kind: StackKind,
    pub region: Option<String>,
    pub template: Value,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackKind {
    /// The web ACL shared by every bot; deployed before the bots, which import its ARN.
    Firewall,
    /// A custom domain name shared by the bots mapped onto it; deployed after the firewall and before the
    /// bots, which import its name for their base path mappings.
    Domain {
        name: String,
    },
    Bot {
        id: String,
    },
    /// The artifacts bucket and remote publisher of one stack prefix (`botpub bootstrap`).
    Toolkit,
}

impl Stack {
    /// The template as CloudFormation receives it: pretty JSON, keys in template order.
    pub fn template_body(&self) -> String {
        let mut body = serde_json::to_string_pretty(&self.template).unwrap_or_default();
        body.push('\n');
        body
    }

    /// The template as YAML (same content), for people who review YAML.
    pub fn template_yaml(&self) -> String {
        serde_yaml::to_string(&self.template).unwrap_or_default()
    }

    /// Whether the stack imports the shared firewall's web ACL (and so can be planned only once it exists).
    pub fn imports_firewall(&self) -> bool {
        self.template["Resources"]
            .get("FirewallAssociation")
            .is_some()
    }

    /// The export a bot stack imports for its base path mapping, when it is mapped onto a custom domain.
    pub fn imported_domain(&self) -> Option<&str> {
        self.template["Resources"]["DomainMapping"]["Properties"]["DomainName"]["Fn::ImportValue"]
            .as_str()
    }

    /// The export a domain stack offers its bots.
    pub fn domain_export(&self) -> Option<&str> {
        self.template["Outputs"]["DomainName"]["Export"]["Name"].as_str()
    }

    /// The URL of a bot on its custom domain, when it has one.
    pub fn domain_endpoint(&self) -> Option<&str> {
        self.template["Outputs"][outputs::DOMAIN_ENDPOINT]["Value"].as_str()
    }

    /// The order stacks deploy in: the firewall, then the domains, then the bots (which import from both).
    pub fn deploy_order(&self) -> u8 {
        match self.kind {
            StackKind::Firewall => 0,
            StackKind::Domain { .. } => 1,
            StackKind::Bot { .. } | StackKind::Toolkit => 2,
        }
    }

    /// SHA-256 of [`Stack::template_body`]: what a plan records to notice a changed template.
    pub fn template_hash(&self) -> String {
        body_hash(&self.template_body())
    }
}

/// The export through which bot stacks find the shared web ACL.
pub fn firewall_export(spec: &Spec) -> String {
    format!("{}-WebAclArn", spec.stack_name("firewall"))
}

/// The export through which bot stacks find a custom domain: `<domain stack>-DomainName`.
pub fn domain_export(spec: &Spec, name: &str) -> String {
    format!("{}-DomainName", spec.domain_stack_name(name))
}

/// All stacks of a spec: the firewall first, then one per custom domain (bots import from both), then one
/// per bot, each in spec order.
pub fn synthesize(spec: &Spec) -> anyhow::Result<Vec<Stack>> {
    each_stack(spec, Ok)
}

/// Makes every stack of the spec and hands each to `each`, on as many threads as there are cores; the
/// results come back in the order of [`synthesize`]. Stacks are independent and making one is CPU work
/// (rendering, then parsing and printing JSON), so a fleet is made about as many times faster as there are
/// cores; a thread holds one template at a time, so memory stays flat however many bots there are.
pub fn each_stack<R: Send>(
    spec: &Spec,
    each: impl Fn(Stack) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    let firewall = spec.firewall.iter().map(StackOf::Firewall);
    let domains = spec.domains.iter().map(StackOf::Domain);
    let bots = spec.bots.iter().map(StackOf::Bot);
    let jobs: Vec<StackOf> = firewall.chain(domains).chain(bots).collect();
    let make = |job: &StackOf| {
        let stack = match job {
            StackOf::Firewall(firewall) => firewall_stack(spec, firewall),
            StackOf::Domain(domain) => domain_stack(spec, domain),
            StackOf::Bot(bot) => bot_stack(spec, bot),
        };
        stack.and_then(&each)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len());
    if threads <= 1 {
        return jobs.iter().map(make).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<anyhow::Result<R>>> = jobs.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut made = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else {
                            return made;
                        };
                        made.push((i, make(job)));
                    }
                })
            })
            .collect();
        for worker in workers {
            let made = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, result) in made {
                results[i] = Some(result);
            }
        }
    });
    results.into_iter().flatten().collect()
}

/// What one stack is made from.
enum StackOf<'a> {
    Firewall(&'a Firewall),
    Domain(&'a Domain),
    Bot(&'a Bot),
}

#[derive(Serialize)]
struct FirewallContext<'a> {
    stack_name: &'a str,
    export_name: String,
    firewall: &'a Firewall,
}

fn firewall_stack(spec: &Spec, firewall: &Firewall) -> anyhow::Result<Stack> {
    let name = spec.stack_name("firewall");
    let context = FirewallContext {
        stack_name: &name,
        export_name: firewall_export(spec),
        firewall,
    };
    let template = render::render("firewall.json.j2", &context)?;
    check::check(&name, &template)?;
    Ok(Stack {
        tags: BTreeMap::from([(SHARED_TAG.to_string(), "firewall".to_string())]),
        name,
        kind: StackKind::Firewall,
        region: spec.region.clone(),
        template,
    })
}

#[derive(Serialize)]
struct DomainContext<'a> {
    stack_name: &'a str,
    export_name: String,
    domain: &'a Domain,
}

/// One stack per domain rather than one for all: a change to one domain (a new certificate) then plans,
/// warns about and risks only the bots on it, and the stack of a domain no bot uses can go on its own.
fn domain_stack(spec: &Spec, domain: &Domain) -> anyhow::Result<Stack> {
    let name = spec.domain_stack_name(&domain.name);
    let context = DomainContext {
        stack_name: &name,
        export_name: domain_export(spec, &domain.name),
        domain,
    };
    let template = render::render("domain.json.j2", &context)?;
    check::check(&name, &template)?;
    Ok(Stack {
        tags: BTreeMap::from([
            (SHARED_TAG.to_string(), "domain".to_string()),
            (DOMAIN_TAG.to_string(), domain.name.clone()),
        ]),
        name,
        kind: StackKind::Domain {
            name: domain.name.clone(),
        },
        region: spec.region.clone(),
        template,
    })
}

#[derive(Serialize)]
struct ToolkitContext<'a> {
    stack_name: &'a str,
    prefix: &'a str,
    bucket_prefix: String,
    project_name: String,
    log_group: String,
    buildspec: &'static str,
}

/// What the publisher project runs: the specs named by the build's `BOTPUB_SPEC_KEYS` (uploaded by
/// `publish --remote`), published by the botpub binary that is the project's source (uploaded by
/// `bootstrap`). Nothing else is downloaded at build time.
const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - mkdir -p specs
      - for key in $BOTPUB_SPEC_KEYS; do aws s3 cp --only-show-errors \"s3://$BOTPUB_BUCKET/$key\" specs/; done
      - chmod +x ./botpub
      - ./botpub publish specs/*.yaml --yes --progress events
";

/// The toolkit stack of a stack prefix: `<prefix>-toolkit`, with the CodeBuild project `<prefix>-publisher`.
pub fn toolkit(prefix: &str) -> anyhow::Result<Stack> {
    let name = format!("{prefix}-{TOOLKIT_SUFFIX}");
    let context = ToolkitContext {
        stack_name: &name,
        prefix,
        // CloudFormation names a bucket after its stack, in lower case.
        bucket_prefix: prefix.to_ascii_lowercase(),
        project_name: publisher_project(prefix),
        log_group: format!("/aws/codebuild/{}", publisher_project(prefix)),
        buildspec: BUILDSPEC,
    };
    let template = render::render("toolkit.json.j2", &context)?;
    check::check(&name, &template)?;
    Ok(Stack {
        tags: BTreeMap::from([(SHARED_TAG.to_string(), TOOLKIT_SUFFIX.to_string())]),
        name,
        kind: StackKind::Toolkit,
        region: None,
        template,
    })
}

/// The toolkit stack is `<prefix>-toolkit` (a bot id can never be `toolkit`: it is reserved).
pub const TOOLKIT_SUFFIX: &str = "toolkit";

/// The remote publisher's CodeBuild project: a fixed name, so commands need no stack output to find it.
pub fn publisher_project(prefix: &str) -> String {
    format!("{prefix}-publisher")
}

#[derive(Serialize)]
struct BotContext<'a> {
    stack_name: &'a str,
    bot: &'a Bot,
    /// The bot's contract, monitoring, auth and token budget, given apart: the serialized bot leaves out their defaults.
    contract: Contract,
    monitoring: &'a Monitoring,
    auth: &'a Auth,
    token_budget: Option<TokenBudget>,
    /// The REST API's resource policy, when callers sign with IAM.
    resource_policy: Option<Value>,
    spec_hash: &'a str,
    firewall_export: Option<String>,
    domain: Option<DomainMapping>,
    cors: Cors,
    tokens_metric: tokens_metric::Names,
}

/// Where a bot's stage is mapped on its custom domain.
#[derive(Serialize)]
struct DomainMapping {
    export: String,
    base_path: Option<String>,
    url: String,
}

impl DomainMapping {
    fn new(spec: &Spec, domain: &BotDomain) -> DomainMapping {
        DomainMapping {
            export: domain_export(spec, &domain.name),
            base_path: domain.base_path.clone(),
            url: domain.url(),
        }
    }
}

/// How the API answers CORS: one fixed origin (or `*`), or the request's origin echoed when listed.
#[derive(Serialize)]
struct Cors {
    mode: &'static str,
    /// A mapping expression: the origin in single quotes. With several origins, the first of them,
    /// for the gateway responses that cannot choose.
    header_value: String,
    origins: Vec<String>,
}

/// The stack of one bot: its API, queues, results bucket and monitoring.
pub fn bot_stack(spec: &Spec, bot: &Bot) -> anyhow::Result<Stack> {
    let name = spec.stack_name(&bot.id);
    let spec_hash = spec_hash(bot);
    let first_origin = bot
        .allowed_origins
        .first()
        .map(String::as_str)
        .unwrap_or("*");
    let context = BotContext {
        stack_name: &name,
        bot,
        contract: bot.contract,
        monitoring: &bot.monitoring,
        auth: &bot.auth,
        token_budget: bot.token_budget,
        resource_policy: callers::resource_policy(&bot.auth),
        spec_hash: &spec_hash,
        firewall_export: spec.firewall.as_ref().map(|_| firewall_export(spec)),
        domain: bot.domain.as_ref().map(|d| DomainMapping::new(spec, d)),
        cors: Cors {
            mode: if bot.allowed_origins.len() > 1 {
                "echo"
            } else {
                "static"
            },
            header_value: format!("'{}'", if bot.any_origin() { "*" } else { first_origin }),
            origins: bot.allowed_origins.clone(),
        },
        tokens_metric: tokens_metric::NAMES,
    };
    let mut template = render::render("bot.json.j2", &context)?;
    served::embed(spec, bot, &mut template)?;
    // The Deployment's logical id carries a hash of the API definition: CloudFormation deploys an API
    // change only by creating a new Deployment, so a changed definition must mean a new logical id. The
    // hash is of the rendered template, so the id is given afterwards rather than by a second render.
    let deployment_id = format!("Deployment{}", &api_definition_hash(&template)[..10]);
    rename_resource(&mut template, DEPLOYMENT, &deployment_id);
    check::check(&name, &template)?;

    let mut tags = bot.tags.clone();
    tags.insert(BOT_ID_TAG.to_string(), bot.id.clone());
    tags.insert(SPEC_HASH_TAG.to_string(), spec_hash);
    Ok(Stack {
        name,
        kind: StackKind::Bot { id: bot.id.clone() },
        region: spec.region.clone(),
        template,
        tags,
    })
}

/// The Deployment's logical id in `bot.json.j2`, before [`bot_stack`] appends the hash of the API definition.
const DEPLOYMENT: &str = "Deployment";

/// Gives resource `from` the logical id `to`, in its place among the resources, and points every `Ref` to it
/// at `to`. A reference of any other kind would be left dangling, which `check` reports.
fn rename_resource(template: &mut Value, from: &str, to: &str) {
    if let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) {
        *resources = std::mem::take(resources)
            .into_iter()
            .map(|(id, resource)| (if id == from { to.to_string() } else { id }, resource))
            .collect();
    }
    retarget_refs(template, from, to);
}

fn retarget_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "Ref" && *inner == from {
                    *inner = Value::from(to);
                } else {
                    retarget_refs(inner, from, to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| retarget_refs(item, from, to)),
        _ => {}
    }
}

/// Resource types whose properties make up what a Deployment snapshots.
const API_DEFINITION_TYPES: [&str; 6] = [
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
];

fn api_definition_hash(template: &Value) -> String {
    let mut hasher = Hashing(Sha256::new());
    if let Some(resources) = template.get("Resources").and_then(Value::as_object) {
        for (id, resource) in resources {
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if API_DEFINITION_TYPES.contains(&kind) {
                hasher.0.update(id.as_bytes());
                write_json(&mut hasher, resource);
            }
        }
    }
    hex::encode(hasher.0.finalize())
}

/// A short hash of a bot's validated settings, tagged on its stack.
fn spec_hash(bot: &Bot) -> String {
    json_sha256_hex(bot)[..16].to_string()
}

/// The hash [`Stack::template_hash`] gives, for a body already serialized.
pub fn body_hash(body: &str) -> String {
    sha256_hex(body.as_bytes())
}

/// Lower-case hex SHA-256: how botpub names content (template hashes, uploaded objects).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// [`sha256_hex`] of `value`'s compact JSON, hashed as it is written rather than kept in a string.
pub fn json_sha256_hex(value: &impl Serialize) -> String {
    let mut hasher = Hashing(Sha256::new());
    write_json(&mut hasher, value);
    hex::encode(hasher.0.finalize())
}

/// A SHA-256 fed by `io::Write`, so that JSON is hashed as it serializes.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_json(hasher: &mut Hashing, value: &impl Serialize) {
    // Writing into a hash never fails, and the values hashed here have string keys only.
    let _ = serde_json::to_writer(hasher, value);
}
