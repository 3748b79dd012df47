//! The description a published API serves at `GET /openapi.json`: the document of [`describe`], written
//! into the bot's template as the response template of a MOCK integration, so that no code runs to
//! answer it and it always describes the deployment that serves it (the Deployment's logical id hashes
//! the method that holds it).
//!
//! Where the served copy says the API is: the custom domain first when the bot has one, then API
//! Gateway's own URL of this very API, resolved by CloudFormation (`Ref Api`, the region, the partition's
//! URL suffix). Code generators and API tools take the first server as the client's base URL, so it must
//! be absolute: a relative URL is resolved against the host alone by some tools (losing the stage) and
//! not at all by others, and `$context` would have to cut the path at run time to tell a custom domain's
//! base path from a stage. `botpub openapi`, which knows no API id, keeps `{api_id}` and `{region}`
//! variables instead; the two copies differ in `servers` alone.
//!
//! The route adds 12–16 KB to the template (the document's JSON, quoted once more as a string): a
//! conversation bot's template, or a predict bot's with several origins, is then over CloudFormation's
//! inline limit and is deployed through the toolkit bucket (`cloudformation::changeset`).

use anyhow::Context;
use serde_json::{Value, json};

use super::openapi::describe;
use crate::spec::model::{Bot, Spec};

/// The method that serves the description, and what its template holds until the document is put there.
const METHOD: &str = "OpenApiMethod";
const PLACEHOLDER: &str = "{}";

/// Velocity reads `$` and `#` (and a `\` before either) as its own, and the document has them (`$ref`,
/// `#/components/...`, and any character of a bot's description). Each is written as a reference to a
/// variable that holds it, which API Gateway's Velocity and LocalStack's both render as the character.
const SIGNS: &str = "#set($d = '$')#set($h = '#')";

/// The parts of the execute-api URL that CloudFormation resolves, each written in the URL as its marker.
const RESOLVED: [(&str, &str); 3] = [
    ("{api_id}", "Api"),
    ("{region}", "AWS::Region"),
    ("{url_suffix}", "AWS::URLSuffix"),
];

/// Puts the description of `bot` into `template`, in place of the placeholder of its MOCK method.
pub fn embed(spec: &Spec, bot: &Bot, template: &mut Value) -> anyhow::Result<()> {
    let mut document = describe(spec, bot, template, None);
    let mut servers: Vec<Value> = document["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|server| server.get("variables").is_none())
        .cloned()
        .collect();
    servers.push(json!({
        "url": format!("https://{{api_id}}.execute-api.{{region}}.{{url_suffix}}/{}", bot.stage),
        "description": "API Gateway's URL of the bot",
    }));
    document["servers"] = Value::Array(servers);
    let slot = &mut template["Resources"][METHOD]["Properties"]["Integration"]["IntegrationResponses"]
        [0]["ResponseTemplates"]["application/json"];
    let opening = slot
        .as_str()
        .and_then(|text| text.strip_suffix(PLACEHOLDER))
        .with_context(|| format!("the template's {METHOD} has no place for the description"))?;
    // Text and CloudFormation references, joined by `Fn::Join`; the text is `document` as compact JSON.
    let mut joined = Vec::new();
    let mut text = format!("{opening}{SIGNS}{{");
    for (i, (key, value)) in document.as_object().into_iter().flatten().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&literal(&serde_json::to_string(key)?));
        text.push(':');
        let mut rest = serde_json::to_string(value)?;
        if key == "servers" {
            // Domain names and stages hold no braces: each marker is in the execute-api URL, once.
            for (marker, resolved) in RESOLVED {
                let (before, after) = rest
                    .split_once(marker)
                    .map(|(b, a)| (b.to_string(), a.to_string()))
                    .with_context(|| format!("the served servers lack {marker}"))?;
                text.push_str(&literal(&before));
                joined.push(Value::from(std::mem::take(&mut text)));
                joined.push(json!({"Ref": resolved}));
                rest = after;
            }
        }
        text.push_str(&literal(&rest));
    }
    text.push('}');
    joined.push(Value::from(text));
    *slot = json!({"Fn::Join": ["", joined]});
    Ok(())
}

/// `json` as mapping-template text that renders as itself. A `$` or `#` right after a backslash (the
/// second of an escaped `\\`) is written as its JSON escape instead, since Velocity would read the
/// backslash as escaping the reference.
fn literal(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut previous = ' ';
    for c in json.chars() {
        match (c, previous) {
            ('$', '\\') => out.push_str("\\u0024"),
            ('#', '\\') => out.push_str("\\u0023"),
            ('$', _) => out.push_str("${d}"),
            ('#', _) => out.push_str("${h}"),
            _ => out.push(c),
        }
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_signs_become_references_and_escaped_backslashes_stay_json() {
        assert_eq!(
            literal(r##"{"$ref":"#/components/schemas/Error"}"##),
            r#"{"${d}ref":"${h}/components/schemas/Error"}"#
        );
        assert_eq!(literal(r#""a\\$b\\#c""#), r#""a\\\u0024b\\\u0023c""#);
        assert_eq!(literal("##"), "${h}${h}");
    }
}
