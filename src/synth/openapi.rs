//! An OpenAPI 3 description of a published bot's API, read off the bot's synthesized template.
//!
//! Paths, methods, path parameters, whether a key is needed, request schemas (the API's own models) and
//! status codes all come from the template's API Gateway resources, so the description cannot drift from
//! what is deployed. Only what the template keeps in mapping-template code is written here: the shape of
//! each response body and the headers the integrations read.

use serde_json::{Map, Value, json};

use crate::spec::model::{Bot, Spec};

/// The OpenAPI document of `bot`, whose stack's template is `template`. `server` is the API's URL when it
/// is known (`botpub status` prints it); otherwise the document names API Gateway's URL with variables.
pub fn describe(spec: &Spec, bot: &Bot, template: &Value, server: Option<&str>) -> Value {
    let no_resources = Map::new();
    let resources = template["Resources"].as_object().unwrap_or(&no_resources);
    let required = requirement(bot.auth.signed(), bot.auth.key_required());
    let mut paths = Map::new();
    let mut methods: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::ApiGateway::Method")
        .filter(|(_, r)| r["Properties"]["HttpMethod"] != "OPTIONS")
        .collect();
    methods.sort_by_key(|(id, _)| id.as_str());
    for (logical_id, method) in methods {
        let properties = &method["Properties"];
        let path = resource_path(resources, &properties["ResourceId"]);
        let verbs: Vec<String> = match properties["HttpMethod"].as_str().unwrap_or_default() {
            // A proxy takes every method; OpenAPI names each.
            "ANY" => ["get", "post", "put", "patch", "delete"]
                .map(String::from)
                .to_vec(),
            verb => vec![verb.to_ascii_lowercase()],
        };
        for verb in verbs {
            let operation = operation(resources, logical_id, &verb, &path, properties, &required);
            let entry = paths
                .entry(path.replace("{proxy+}", "{proxy}"))
                .or_insert_with(|| json!({}));
            entry[verb.as_str()] = operation;
        }
    }
    let servers = match server {
        Some(url) => json!([{"url": url.trim_end_matches('/')}]),
        None => {
            let mut servers = Vec::new();
            if let Some(domain) = &bot.domain {
                let base = domain
                    .base_path
                    .as_deref()
                    .map_or(String::new(), |b| format!("/{b}"));
                servers.push(json!({"url": format!("https://{}{base}", domain.name), "description": "the bot's custom domain"}));
            }
            servers.push(json!({
                "url": format!("https://{{api_id}}.execute-api.{{region}}.amazonaws.com/{}", bot.stage),
                "description": "API Gateway's URL of the bot (`botpub status` prints it)",
                "variables": {
                    "api_id": {"default": "API_ID", "description": "the REST API's id"},
                    "region": {"default": spec.region.as_deref().unwrap_or("us-east-1")},
                },
            }));
            Value::Array(servers)
        }
    };
    let mut schemes = Map::new();
    if bot.auth.key_required() {
        schemes.insert("api_key".into(), json!({"type": "apiKey", "in": "header", "name": "x-api-key", "description": "a key from `botpub keys create`"}));
    }
    if bot.auth.signed() {
        schemes.insert("sigv4".into(), json!({"type": "apiKey", "in": "header", "name": "Authorization", "x-amazon-apigateway-authtype": "awsSigv4", "description": "an AWS Signature Version 4 (service `execute-api`) of an IAM principal the bot's resource policy allows"}));
    }
    // An empty description is no description, as for the REST API's.
    let description = bot
        .description
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("The API of bot `{}`, published by botpub.", bot.id));
    let components = json!({
        "securitySchemes": schemes,
        "headers": {
            "X-Correlation-ID": {"description": "the request's X-Correlation-ID as sent (1 to 128 printable characters), else the API Gateway request id", "schema": {"type": "string"}},
            "X-RateLimit-Limit": {"description": "the bot's sustained rate limit, in requests per second", "schema": {"type": "string"}},
        },
        "schemas": {"Error": error_schema()},
    });
    // The version names what is described, not where it is: the copy the API serves (whose template
    // holds the document) and `botpub openapi` agree on it.
    let version = super::json_sha256_hex(&(&required, &paths, &components))[..12].to_string();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": bot.id,
            "description": description,
            "version": version,
        },
        "servers": servers,
        "security": required,
        "paths": paths,
        "components": components,
    })
}

/// `/a/{b}` for an API Gateway resource, from its path part and its parent's.
fn resource_path(resources: &Map<String, Value>, id: &Value) -> String {
    let mut parts = Vec::new();
    let mut current = id.clone();
    while let Some(name) = current["Ref"].as_str() {
        let properties = &resources[name]["Properties"];
        parts.push(
            properties["PathPart"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        current = properties["ParentId"].clone();
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

fn operation(
    resources: &Map<String, Value>,
    logical_id: &str,
    verb: &str,
    path: &str,
    properties: &Value,
    required: &Value,
) -> Value {
    let key = format!("{} {path}", verb.to_ascii_uppercase());
    let mut parameters: Vec<Value> = properties["RequestParameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, _)| name.strip_prefix("method.request.path."))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if path.contains("{proxy+}") {
        parameters.push(json!({"name": "proxy", "in": "path", "required": true, "description": "any path: the function answers every one", "schema": {"type": "string"}}));
    }
    // Any value is accepted: one that is not 1 to 128 printable characters is replaced, not refused.
    parameters.push(json!({"name": "X-Correlation-ID", "in": "header", "required": false, "description": "echoed back, and given to the bot as `correlation_id`; a value that is not 1 to 128 printable ASCII characters is replaced by the API Gateway request id", "schema": {"type": "string"}}));
    if key == "POST /conversation" {
        // Not refused by its length alone: an empty key counts as none, and SQS takes a longer one as
        // long as the deduplication id it makes stays within 128 characters.
        parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "description": "a retry within 5 minutes with the same key makes no second message and gets the first one's ids; keys of 1 to 48 printable characters without spaces always work, other values may be answered 400", "schema": {"type": "string"}}));
    }
    let security = requirement(
        properties["AuthorizationType"] == "AWS_IAM",
        properties["ApiKeyRequired"] == true,
    );
    let mut responses = Map::new();
    for response in properties["MethodResponses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let status = response["StatusCode"].as_str().unwrap_or("default");
        let headers: Map<String, Value> = response["ResponseParameters"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, _)| name.strip_prefix("method.response.header."))
            .filter(|name| name.starts_with("X-"))
            .map(|name| {
                (
                    name.to_string(),
                    json!({"$ref": format!("#/components/headers/{name}")}),
                )
            })
            .collect();
        let (description, schema) = body(&key, status);
        responses.insert(
            status.to_string(),
            json!({"description": description, "headers": headers, "content": {"application/json": {"schema": schema}}}),
        );
    }
    if responses.is_empty() {
        let (description, schema) = body(&key, "default");
        responses.insert(
            "default".into(),
            json!({"description": description, "content": {"application/json": {"schema": schema}}}),
        );
    }
    // Answers of API Gateway itself, before any integration runs.
    let gateway = |description: &str| {
        json!({
            "description": description,
            "x-answered-by": "API Gateway",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
    };
    let request_body = properties["RequestModels"]["application/json"]["Ref"]
        .as_str()
        .map(|model| {
            let mut schema = resources[model]["Properties"]["Schema"].clone();
            if let Some(schema) = schema.as_object_mut() {
                schema.remove("$schema");
            }
            json!({"required": true, "content": {"application/json": {"schema": schema}}})
        });
    if request_body.is_some() {
        responses
            .entry("400")
            .or_insert_with(|| gateway("the body does not match the request schema"));
    }
    // A Content-Type with no mapping template is refused before the integration runs, body or not.
    let integration = &properties["Integration"];
    if integration["RequestTemplates"].is_object()
        && matches!(
            integration["PassthroughBehavior"].as_str(),
            Some("NEVER" | "WHEN_NO_TEMPLATES")
        )
    {
        responses.insert(
            "415".into(),
            gateway("a Content-Type other than application/json: send that, or none"),
        );
    }
    if security != json!([]) {
        let refused = match properties["AuthorizationType"] == "AWS_IAM" {
            true => {
                "no signature or a wrong one, a caller the bot's resource policy does not allow, a missing or revoked API key where one is needed, or an address the firewall blocks"
            }
            false => "no API key, an unknown or revoked one, or an address the firewall blocks",
        };
        responses.insert("403".into(), gateway(refused));
        responses.insert(
            "429".into(),
            gateway("over the rate limit or the quota: retry later"),
        );
    }
    let mut operation = json!({
        "operationId": operation_id(logical_id, verb),
        "summary": summary(&key),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(request_body) = request_body {
        operation["requestBody"] = request_body;
    }
    // Stated where it differs from the bot's own: the health check needs neither key nor signature.
    if security != *required {
        operation["security"] = security;
    }
    operation
}

/// OpenAPI's security requirement of a route: signed, with a key, both, or neither (`[]`).
fn requirement(signed: bool, key: bool) -> Value {
    let mut schemes = Map::new();
    if signed {
        schemes.insert("sigv4".into(), json!([]));
    }
    if key {
        schemes.insert("api_key".into(), json!([]));
    }
    match schemes.is_empty() {
        true => json!([]),
        false => json!([schemes]),
    }
}

/// `PredictMethod` → `predict`; a proxy's methods each get their verb.
fn operation_id(logical_id: &str, verb: &str) -> String {
    let name = logical_id.strip_suffix("Method").unwrap_or(logical_id);
    let mut id: String = name[..1].to_ascii_lowercase() + &name[1..];
    if matches!(name, "Root" | "Proxy") {
        id.push('_');
        id.push_str(verb);
    }
    id
}

fn summary(key: &str) -> &'static str {
    match key {
        "GET /health" => "Whether the API answers (needs no key)",
        "POST /predict" => {
            "Queue a request for the bot; poll GET /result/{request_id} for the answer"
        }
        "GET /result/{request_id}" => "The answer to a request, once the bot has given it",
        "POST /conversation" => "Send a message, in a new conversation or an existing one",
        "GET /conversation/{conversation_id}" => "A conversation: its messages in order",
        "GET /conversation/{conversation_id}/{message_id}" => "The bot's answer to a message",
        "GET /openapi.json" => "This description of the API (needs no key)",
        _ => "Answered by the bot's Lambda function",
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["message", "request_id"],
        "properties": {
            "message": {"type": "string"},
            "request_id": {"type": "string", "description": "API Gateway's request id, for support"},
        },
    })
}

/// The description and schema of a response body: what the integration's mapping template writes.
fn body(key: &str, status: &str) -> (&'static str, Value) {
    let text = json!({"type": "string"});
    let content = json!({"type": "array", "items": {
        "type": "object",
        "required": ["content_type", "body"],
        "properties": {"content_type": text, "body": text},
    }});
    let message = json!({
        "type": "object",
        "required": ["message_id", "role", "content", "create_time"],
        "properties": {
            "message_id": text,
            "parent_message_id": text,
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": content,
            "model": text,
            "create_time": {"type": "number", "description": "seconds since 1970"},
        },
    });
    let error = json!({"$ref": "#/components/schemas/Error"});
    match (key, status) {
        ("GET /openapi.json", _) => (
            "the API's OpenAPI 3 description: this document",
            json!({"type": "object", "required": ["openapi", "info", "paths"], "properties": {
                "openapi": text, "info": {"type": "object"}, "paths": {"type": "object"}}}),
        ),
        ("GET /health", _) => (
            "the API answers",
            json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["healthy"]}, "bot_id": text}}),
        ),
        ("POST /predict", "202") => (
            "accepted and queued",
            json!({"type": "object", "required": ["request_id", "status"], "properties": {
                "request_id": text, "status": {"type": "string", "enum": ["processing"]}, "message": text}}),
        ),
        ("POST /predict", _) => (
            "the request could not be queued",
            json!({"type": "object", "properties": {
                "request_id": text, "status": {"type": "string", "enum": ["failed"]}, "message": text}}),
        ),
        ("GET /result/{request_id}", "200") => (
            "the answer (`completed`, with the bot's fields), or `failed` after the last attempt",
            json!({"type": "object", "required": ["request_id", "status"], "additionalProperties": true, "properties": {
                "request_id": text,
                "status": {"type": "string", "enum": ["completed", "failed"]},
                "response": {"description": "the bot's answer"},
                "usage": {"type": "object", "description": "what the answer cost, in the model's tokens (a model backend), or as the bot reports it", "additionalProperties": true, "properties": {
                    "input_tokens": {"type": "integer", "nullable": true},
                    "output_tokens": {"type": "integer", "nullable": true}}},
                "model": {"type": "string", "description": "the model that answered (a model backend)"},
                "stop_reason": {"type": "string", "nullable": true, "description": "why the model stopped: end_turn, max_tokens, ..."},
                "error": text,
                "correlation_id": {"type": "string", "nullable": true},
                "completed_at": text,
                "failed_at": text}}),
        ),
        ("GET /result/{request_id}", "202") => (
            "not answered yet: poll again. While the bot writes, `response` holds its text so far, `sequence` grows with each update and `attempt` names the attempt it belongs to (another attempt starts its text afresh)",
            json!({"type": "object", "required": ["request_id", "status"], "properties": {
                "request_id": text, "status": {"type": "string", "enum": ["processing"]},
                "response": text, "sequence": {"type": "integer"}, "attempt": {"type": "integer"},
                "correlation_id": {"type": "string", "nullable": true}}}),
        ),
        ("GET /result/{request_id}", "404") => (
            "no answer will come: the id was never accepted (it is not of the form the API gives, or not from the last retention period of the queue), or its result has expired",
            json!({"type": "object", "required": ["request_id", "status"], "properties": {
                "request_id": text, "status": {"type": "string", "enum": ["not_found"]}, "message": text}}),
        ),
        ("GET /result/{request_id}", _) => (
            "the result could not be read",
            json!({"type": "object", "properties": {
                "request_id": text, "status": {"type": "string", "enum": ["unknown"]}, "message": text}}),
        ),
        ("POST /conversation", "200") => (
            "accepted and queued: poll GET /conversation/{conversation_id}/{message_id}",
            json!({"type": "object", "required": ["conversation_id", "message_id"], "properties": {
                "conversation_id": text, "message_id": text}}),
        ),
        ("GET /conversation/{conversation_id}", "200") => (
            "the conversation",
            json!({"type": "object", "required": ["conversation_id", "messages"], "properties": {
                "id": text, "conversation_id": text, "create_time": {"type": "number"},
                "last_message_id": text, "messages": {"type": "array", "items": message}}}),
        ),
        ("GET /conversation/{conversation_id}", "404") => (
            "no such conversation",
            json!({"type": "object", "properties": {"message": text, "conversation_id": text, "request_id": text}}),
        ),
        ("GET /conversation/{conversation_id}/{message_id}", "200") => (
            "the answer (`completed`), or `failed` after the last attempt",
            json!({"type": "object", "required": ["conversation_id", "message_id", "status"], "properties": {
                "conversation_id": text, "message_id": text,
                "status": {"type": "string", "enum": ["completed", "failed"]},
                "message": {"type": "object", "properties": {
                    "role": {"type": "string", "enum": ["assistant"]}, "content": content, "model": text}},
                "error": text,
                "create_time": {"type": "number"},
                "correlation_id": {"type": "string", "nullable": true}}}),
        ),
        ("GET /conversation/{conversation_id}/{message_id}", "404") => (
            "no answer will come: the message id was never given (it is not of the form the API gives, or not from the last retention period of the queue), or its answer has expired",
            json!({"type": "object", "required": ["conversation_id", "message_id", "status"], "properties": {
                "conversation_id": text, "message_id": text,
                "status": {"type": "string", "enum": ["not_found"]}, "message": text}}),
        ),
        ("GET /conversation/{conversation_id}/{message_id}", "202") => (
            "not answered yet: poll again. While the bot writes, `message` holds its text so far, `sequence` grows with each update and `attempt` names the attempt it belongs to (another attempt starts its text afresh)",
            json!({"type": "object", "properties": {
                "conversation_id": text, "message_id": text, "status": {"type": "string", "enum": ["processing"]},
                "message": {"type": "object", "properties": {
                    "role": {"type": "string", "enum": ["assistant"]}, "content": content}},
                "sequence": {"type": "integer"}, "attempt": {"type": "integer"},
                "correlation_id": {"type": "string", "nullable": true}}}),
        ),
        (_, "400") => ("the message was not accepted", error),
        (_, "500") => ("the request could not be handled: retry later", error),
        _ => ("the function's answer", json!({})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_the_methods() {
        assert_eq!(operation_id("PredictMethod", "post"), "predict");
        assert_eq!(
            operation_id("ConversationPostMethod", "post"),
            "conversationPost"
        );
        assert_eq!(operation_id("ProxyMethod", "get"), "proxy_get");
    }
}
