//! `botpub openapi`: the description of each example bot is valid OpenAPI 3 (checked by
//! openapi-spec-validator, pinned in LocalStack's venv) and names exactly the operations and status codes
//! of the template the bot is published with.

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

fn botpub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_botpub"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap()
}

/// Every non-preflight method of the bot's template, as `VERB /path STATUS,STATUS`.
fn template_operations(template: &Value) -> BTreeSet<String> {
    let resources = template["Resources"].as_object().unwrap();
    fn path<'a>(resources: &'a serde_json::Map<String, Value>, mut id: &'a Value) -> String {
        let mut parts = Vec::new();
        while let Some(name) = id["Ref"].as_str() {
            parts.push(resources[name]["Properties"]["PathPart"].as_str().unwrap());
            id = &resources[name]["Properties"]["ParentId"];
        }
        parts.reverse();
        format!("/{}", parts.join("/")).replace("{proxy+}", "{proxy}")
    }
    let mut operations = BTreeSet::new();
    for resource in resources.values() {
        let p = &resource["Properties"];
        if resource["Type"] != "AWS::ApiGateway::Method" || p["HttpMethod"] == "OPTIONS" {
            continue;
        }
        let verbs: Vec<String> = match p["HttpMethod"].as_str().unwrap() {
            "ANY" => ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            verb => vec![verb.to_string()],
        };
        let mut codes: Vec<&str> = p["MethodResponses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["StatusCode"].as_str().unwrap())
            .collect();
        codes.sort();
        for verb in verbs {
            operations.insert(format!(
                "{verb} {} {}",
                path(resources, &p["ResourceId"]),
                codes.join(",")
            ));
        }
    }
    operations
}

/// The same of the OpenAPI document, leaving out what API Gateway answers itself (marked so).
fn document_operations(document: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (verb, operation) in item.as_object().unwrap() {
            let mut codes: Vec<&str> = operation["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(code, response)| {
                    *code != "default" && response["x-answered-by"] != "API Gateway"
                })
                .map(|(code, _)| code.as_str())
                .collect();
            codes.sort();
            operations.insert(format!(
                "{} {path} {}",
                verb.to_uppercase(),
                codes.join(",")
            ));
        }
    }
    operations
}

fn validator() -> String {
    format!("{}/bin/openapi-spec-validator", common::localstack_venv())
}

#[test]
fn every_example_bot_is_described_by_valid_openapi_matching_its_template() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    let examples = [
        ("examples/quickstart.yaml", "hello-bot", "/predict"),
        (
            "examples/conversation.yaml",
            "chat-bot",
            "/conversation/{conversation_id}/{message_id}",
        ),
        ("examples/lambda.yaml", "webhook-bot", "/{proxy}"),
        ("examples/domains.yaml", "shop-bot", "/result/{request_id}"),
    ];
    for (spec, bot, path) in examples {
        let out = botpub(&["openapi", spec, "--bot", bot]);
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let document: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(document["paths"][path].is_object(), "{spec}: {path}");
        assert_eq!(
            document["components"]["securitySchemes"]["api_key"]["name"],
            "x-api-key"
        );
        let file = dir.path().join(format!("{bot}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        let checked = Command::new(&validator).arg(&file).output().unwrap();
        assert!(
            checked.status.success(),
            "{spec}: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );

        let synth_dir = dir.path().join(bot);
        let out = botpub(&["synth", spec, "-o", synth_dir.to_str().unwrap()]);
        assert!(out.status.success());
        let template: Value = serde_json::from_str(
            &std::fs::read_to_string(synth_dir.join(format!("BotPub-{bot}.template.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            document_operations(&document),
            template_operations(&template),
            "{spec}: the description names the template's operations and codes"
        );
    }
}

#[test]
fn the_request_schema_is_the_api_s_own_model_and_health_needs_no_key() {
    let out = botpub(&[
        "openapi",
        "examples/conversation.yaml",
        "--server",
        "https://x.example/api/",
    ]);
    let document: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        document["servers"],
        serde_json::json!([{"url": "https://x.example/api"}])
    );
    let post = &document["paths"]["/conversation"]["post"];
    let schema = &post["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["title"], "ConversationMessage");
    assert_eq!(
        schema["properties"]["message"]["properties"]["content"]["minItems"],
        1
    );
    let headers: Vec<&str> = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(headers, ["X-Correlation-ID", "Idempotency-Key"]);
    assert_eq!(
        document["paths"]["/health"]["get"]["security"],
        serde_json::json!([])
    );
    assert!(
        post["security"].is_null(),
        "the document's key requirement applies"
    );
}

/// The copy of the description in the template (what `GET /openapi.json` answers) names the custom domain
/// first, then API Gateway's URL of this API as CloudFormation resolves it.
#[test]
fn the_served_description_names_the_custom_domain_then_the_api_s_own_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = botpub(&[
        "synth",
        "examples/domains.yaml",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("BotPub-shop-bot.template.json")).unwrap(),
    )
    .unwrap();
    let joined = &template["Resources"]["OpenApiMethod"]["Properties"]["Integration"]["IntegrationResponses"]
        [0]["ResponseTemplates"]["application/json"]["Fn::Join"][1];
    let parts = joined.as_array().unwrap();
    assert!(
        parts[0]
            .as_str()
            .unwrap()
            .ends_with(r#""servers":[{"url":"https://bots.example.com/shop-bot","description":"the bot's custom domain"},{"url":"https://"#),
        "{}",
        parts[0]
    );
    assert_eq!(
        parts[1..6],
        serde_json::json!([{"Ref": "Api"}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}])
            .as_array()
            .unwrap()[..]
    );
    assert!(
        parts[6].as_str().unwrap().starts_with(r#"/api","#),
        "the stage: {}",
        parts[6]
    );
}

#[test]
fn a_spec_of_several_bots_needs_bot_and_an_unknown_bot_is_named() {
    let out = botpub(&["openapi", "examples/full.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("name one with --bot") && err.contains("support-bot"),
        "{err}"
    );
    let out = botpub(&["openapi", "examples/full.yaml", "--bot", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no bot `nobody`"));
    let out = botpub(&[
        "openapi",
        "examples/full.yaml",
        "--bot",
        "support-bot",
        "--format",
        "yaml",
    ]);
    assert!(out.status.success());
    let document: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(document["openapi"], "3.0.3");
}

/// `schema` with `#/components/...` references replaced by what they name.
fn resolve(schema: &Value, document: &Value) -> Value {
    match schema {
        Value::Object(map) => match map.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .trim_start_matches("#/")
                    .split('/')
                    .fold(document, |node, part| &node[part]);
                resolve(target, document)
            }
            None => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, document)))
                    .collect(),
            ),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, document)).collect()),
        other => other.clone(),
    }
}

/// A published bot on LocalStack answers every request with a status its description lists, a body its
/// schema for that status accepts (checked by openapi-schema-validator as OpenAPI 3.0), and the headers it
/// names.
#[test]
fn a_published_bot_answers_as_its_description_says() {
    let world = common::World::new();
    let spec = world.spec(
        "described.yaml",
        "  - id: described\n    allowed_origins: [\"https://app.example.com\"]\n    monitoring: {enabled: false}\n",
    );
    world.publish(&spec).expect(0);
    let status = world
        .botpub_bot("status", "described", &["--output", "json"])
        .expect(0)
        .json();
    let url = world.api_url(&status);
    // `status` says where clients read the description, in JSON and in text.
    let endpoint = status["endpoint"].as_str().unwrap();
    let described_at = format!("{endpoint}/openapi.json");
    assert_eq!(status["openapi_url"], described_at.as_str());
    let text = world
        .botpub_bot("status", "described", &[])
        .expect(0)
        .stdout();
    assert!(
        text.contains(&format!(
            "  description:     {described_at} (OpenAPI, no key needed)"
        )),
        "{text}"
    );
    let sdk = world.sdk();
    let key = sdk.key_value(&sdk.output(&world.stack("described"), "DefaultApiKeyId"));
    let out = botpub(&["openapi", spec.to_str().unwrap(), "--server", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let document: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(document["servers"][0]["url"], url.as_str());

    let with_key = [
        ("x-api-key", key.as_str()),
        ("X-Correlation-ID", "described-1"),
    ];
    let send = |method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>| {
        common::http(method, &format!("{url}{path}"), headers, body)
    };
    // (operation path, method, reply)
    let mut replies = vec![("/health", "get", send("GET", "/health", &[], None))];
    let accepted = send(
        "POST",
        "/predict",
        &with_key,
        Some(r#"{"message": "What is the capital of France?"}"#),
    );
    let request_id = accepted.json()["request_id"].as_str().unwrap().to_string();
    replies.push(("/predict", "post", accepted));
    let result = format!("/result/{request_id}");
    replies.push((
        "/result/{request_id}",
        "get",
        send("GET", &result, &with_key, None),
    ));
    let worker = world.worker(
        "described",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let (code, _, log) = common::finish(worker, std::time::Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    let answered = send("GET", &result, &with_key, None);
    assert_eq!(answered.status, 200, "{}", answered.body);
    replies.push(("/result/{request_id}", "get", answered));
    let never_accepted = send("GET", "/result/no-such-request", &with_key, None);
    assert_eq!(never_accepted.status, 404, "{}", never_accepted.body);
    replies.push(("/result/{request_id}", "get", never_accepted));
    replies.push((
        "/predict",
        "post",
        send("POST", "/predict", &[], Some(r#"{"message": "hi"}"#)),
    ));

    let mut checks = Vec::new();
    for (path, method, reply) in &replies {
        let operation = &document["paths"][path][method];
        let code = reply.status.to_string();
        let response = &operation["responses"][&code];
        assert!(
            response.is_object(),
            "{method} {path}: {code} is not described: {}",
            reply.body
        );
        // LocalStack answers with its own body where API Gateway would use the gateway responses (see
        // tests/support/localstack-notes.md): those are checked for their status alone.
        if response["x-answered-by"] == "API Gateway" {
            continue;
        }
        for header in response["headers"].as_object().unwrap().keys() {
            assert!(
                reply.headers.contains_key(header.as_str()),
                "{method} {path} {code}: no {header} header"
            );
        }
        checks.push(serde_json::json!({
            "where": format!("{method} {path} {code}"),
            "schema": resolve(&response["content"]["application/json"]["schema"], &document),
            "body": reply.json(),
        }));
    }
    let statuses: Vec<u16> = replies.iter().map(|(_, _, r)| r.status).collect();
    assert_eq!(statuses, [200, 202, 202, 200, 404, 403]);

    const CHECK: &str = "import json, sys\n\
        from openapi_schema_validator import OAS30Validator, validate\n\
        failed = 0\n\
        for check in json.load(sys.stdin):\n    \
            try:\n        validate(check['body'], check['schema'], cls=OAS30Validator)\n    \
            except Exception as e:\n        failed += 1\n        print(check['where'], str(e).splitlines()[0])\n\
        sys.exit(1 if failed else 0)\n";
    let python = format!("{}/bin/python", common::localstack_venv());
    let mut child = Command::new(python)
        .args(["-c", CHECK])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&checks).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    world
        .botpub_bot("unpublish", "described", &["--yes"])
        .expect(0);
}
