//! The chat page (examples/web/chat.html) in a real browser: headless Chromium from Debian
//! (tests/support/chromium.sh, installed when missing) driven by Playwright for Python
//! (tests/support/browser/chat_page.py), against three bots published once on LocalStack, each listing
//! other page origins: `one` (predict, one origin), `many` (conversation, two origins, echoed) and `any`
//! (predict, `*`). The page is served from loopback origins on three ports: A is listed by all three
//! bots, B by `many` and `any`, C by `any` alone. From a listed origin the page shows answers of both
//! contracts as they are written, and while no answer comes it shows the bot thinking and polls less
//! and less often; from an origin not listed the browser withholds every answer; every
//! listed origin reads every answer and the headers README promises; refused keys, invalid messages and
//! failed answers each get a message. The page's picture goes to the target's tmp folder, or with
//! `BOTPUB_UPDATE_SCREENSHOT=1` to examples/web/chat.png, which README shows.

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::{LoopbackServer, World, finish, root, unsafe_kill};
use serde_json::{Value, json};

struct Fleet {
    world: World,
    /// The page origins' ports: A, B, C.
    ports: [u16; 3],
    apis: HashMap<String, (String, String)>,
    chromium: String,
    python: String,
    gateway: Value,
}

/// Bot, contract, allowed origins (indexes into the page ports; none: `*`).
const BOTS: [(&str, &str, &[usize]); 3] = [
    ("one", "predict", &[0]),
    ("many", "conversation", &[1, 0]),
    ("any", "predict", &[]),
];

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        // A conversation bot's template is over the inline limit: it goes through the toolkit's bucket.
        let world = World::with_toolkit();
        let ports = free_ports();
        let bots: String = BOTS
            .iter()
            .map(|(id, contract, listed)| {
                let origins = if listed.is_empty() {
                    "\"*\"".to_string()
                } else {
                    let origin = |i: &usize| format!("\"http://127.0.0.1:{}\"", ports[*i]);
                    listed.iter().map(origin).collect::<Vec<_>>().join(", ")
                };
                format!(
                    "  - id: {id}\n    contract: {contract}\n    allowed_origins: [{origins}]\n    queue: {{ visibility_timeout_seconds: 30, max_receive_count: 2 }}\n    monitoring: {{ enabled: false }}\n"
                )
            })
            .collect();
        world.publish(&world.spec("browser.yaml", &bots)).expect(0);
        let ids: Vec<&str> = BOTS.iter().map(|(id, _, _)| *id).collect();
        let apis = world.apis(&ids);
        let gateway = deployed_gateway_responses(&world, &apis["one"].0);
        Fleet {
            ports,
            apis,
            // Debian's, installed when missing.
            chromium: common::installed("chromium.sh", &[]),
            python: format!(
                "{}/bin/python",
                common::venv("browser", "tests/support/browser-requirements.txt")
            ),
            gateway,
            world,
        }
    })
}

/// Three loopback ports free at once (bound together, so all differ), for the page origins.
fn free_ports() -> [u16; 3] {
    let bound: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let port = |i: usize| bound[i].local_addr().unwrap().port();
    [port(0), port(1), port(2)]
}

/// The gateway responses (403, 400, ...) deployed for the API at `url`, and its stage variables: what AWS
/// answers API Gateway's own errors with, and LocalStack stores without applying.
fn deployed_gateway_responses(world: &World, url: &str) -> Value {
    let (_, api_and_stage) = url.split_once("/_aws/execute-api/").unwrap();
    let (api, stage) = api_and_stage.split_once('/').unwrap();
    let sdk = world.sdk();
    let listed = sdk
        .block_on(
            sdk.apigateway
                .get_gateway_responses()
                .rest_api_id(api)
                .send(),
        )
        .unwrap();
    let responses: serde_json::Map<String, Value> = listed
        .items()
        .iter()
        .map(|item| {
            let kind = item.response_type().unwrap().as_str().to_string();
            let deployed = json!({
                "responseParameters": item.response_parameters(),
                "responseTemplates": item.response_templates(),
            });
            (kind, deployed)
        })
        .collect();
    let stage = sdk
        .block_on(
            sdk.apigateway
                .get_stage()
                .rest_api_id(api)
                .stage_name(stage)
                .send(),
        )
        .unwrap();
    json!({"responses": responses, "stage_variables": stage.variables()})
}

/// Runs one scenario of chat_page.py with the workers `workers` starts. One at a time: they serve pages
/// on the same ports, one Chromium at a time is what two cores bear, and a scenario's workers answer
/// only while it runs (the "waiting" scenario counts on no worker answering).
fn scenario(name: &str, workers: impl FnOnce() -> Vec<std::process::Child>) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let f = fleet();
    let screenshot = if std::env::var_os("BOTPUB_UPDATE_SCREENSHOT").is_some() {
        root().join("examples/web/chat.png")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat.png")
    };
    let bots: serde_json::Map<String, Value> = BOTS
        .iter()
        .map(|(id, contract, _)| {
            let (url, key) = &f.apis[*id];
            let bot = json!({"url": url, "key": key, "contract": contract});
            (id.to_string(), bot)
        })
        .collect();
    let config = json!({
        "chromium": f.chromium,
        "web": root().join("examples/web"),
        "ports": f.ports,
        "bots": bots,
        "gateway": f.gateway,
        "screenshot": screenshot,
    });
    let (out, workers) = {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let workers = workers();
        let mut python = Command::new(&f.python)
            .arg(root().join("tests/support/browser/chat_page.py"))
            .arg(name)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // On stdin, so that no file holds the keys.
        let mut stdin = python.stdin.take().unwrap();
        stdin.write_all(config.to_string().as_bytes()).unwrap();
        drop(stdin);
        let out = python.wait_with_output().unwrap();
        // A stopped worker receives nothing more and hands back what it holds, so no request of the
        // next scenario is answered or hidden by it.
        for worker in &workers {
            unsafe_kill(worker.id(), "TERM");
        }
        (out, workers)
    };
    let logs: Vec<String> = workers
        .into_iter()
        .map(|worker| finish(worker, Duration::from_secs(30)).2)
        .collect();
    assert!(
        out.status.success(),
        "{name}:\n{}\n{}\nworkers:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        logs.join("\n")
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if name == "answers" {
        let picture = std::fs::read(&screenshot).unwrap();
        assert!(picture.starts_with(b"\x89PNG"), "{}", screenshot.display());
    }
}

/// `botpub worker BOT -- COMMAND...` for the length of a scenario.
fn worker(bot_id: &str, more: &[&str], bot: &[&str]) -> std::process::Child {
    let mut args = vec!["--idle-exit", "120s"];
    args.extend_from_slice(more);
    fleet().world.worker(bot_id, &args, bot)
}

#[test]
fn the_page_shows_answers_of_both_contracts_as_they_are_written() {
    // `many` streams through a bot server, `any` through an exec bot; `one` answers whole.
    let server = LoopbackServer::start_with(
        "examples/bots/server.py",
        &["--stream", "--chunk-ms", "250"],
    );
    let flush = ["--flush-interval", "200ms"];
    scenario("answers", || {
        vec![
            worker(
                "many",
                &[&flush[..], &["--http", &server.url]].concat(),
                &[],
            ),
            worker("one", &[], &["python3", "examples/bots/answer.py"]),
            worker(
                "any",
                &flush,
                &["python3", "examples/bots/stream.py", "--chunk-ms", "300"],
            ),
        ]
    });
}

#[test]
fn the_page_thinks_and_polls_less_often_while_no_answer_comes() {
    scenario("waiting", Vec::new);
}

#[test]
fn the_browser_withholds_answers_from_origins_not_listed() {
    scenario("refused", Vec::new);
}

#[test]
fn every_listed_origin_reads_answers_and_the_promised_headers() {
    scenario("listed", Vec::new);
}

#[test]
fn the_page_explains_refused_keys_invalid_messages_and_failed_answers() {
    scenario("refusals", || {
        vec![worker("one", &[], &["python3", "examples/bots/answer.py"])]
    });
}
