#!/usr/bin/env python3
"""examples/web/chat.html in headless Chromium against bots published on LocalStack (tests/browser.rs).

    chat_page.py SCENARIO < CONFIG

CONFIG, JSON on stdin so that no file holds the keys (tests/browser.rs writes it): {"chromium": path, "web": the examples/web folder, "ports": [A, B, C]
(the page origins http://127.0.0.1:PORT: A is listed by every bot, B by "many" and "any", C by "any"
alone), "bots": {id: {"url", "key", "contract"}}, "gateway": {"responses": {type: {responseParameters,
responseTemplates}}, "stage_variables": {...}} of bot "one", "screenshot": path}.

Each scenario serves the real chat page from loopback HTTP servers on those ports, drives it (or a fetch
from it) in Chromium and asserts what a user would see; an assertion error ends it with exit 1. The
browser is Debian's Chromium (tests/support/chromium.sh) with a fresh profile; Playwright downloads nothing.
"""
import functools
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import sync_playwright

# Without the background-networking flags Chromium reaches out to Google's services, which this closed
# network refuses; --no-sandbox because the tests run as root.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# What README's CORS section promises browsers may read.
EXPOSED = ["X-Correlation-ID", "X-RateLimit-Limit"]
ANSWER_WAIT_MS = 60_000


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(handler, port):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Gateway(BaseHTTPRequestHandler):
    """Forwards to LocalStack and gives API Gateway's own answers (403, 400, ...) the headers and body of the
    bot's deployed gateway responses, as AWS does and LocalStack does not (tests/support/localstack-notes.md).
    Everything else, preflights included, passes through untouched: a proxy rather than Playwright's
    request interception, which answers Chromium's preflights itself."""

    protocol_version = "HTTP/1.1"
    upstream = ""       # LocalStack's base URL
    responses = {}      # ResponseType -> the deployed gateway response
    stage_variables = {}
    applied = []        # the response types applied, for the scenario to check

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        skip = {"host", "content-length", "connection"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        request = urllib.request.Request(self.upstream + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, answer_headers, data = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, data = error.code, error.headers, error.read()
        out = {k: v for k, v in answer_headers.items() if k.lower() not in {"content-length", "connection", "transfer-encoding"}}
        kind = answer_headers.get("x-amzn-ErrorType", "")
        if kind and not answer_headers.get("Access-Control-Allow-Origin"):
            out, data = self.as_aws(kind, status, out, data)
        self.send_response(status)
        for k, v in out.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def as_aws(self, kind, status, headers, data):
        """The deployed gateway response of this error, its parameters and template evaluated as AWS does."""
        kind = {"ForbiddenException": "INVALID_API_KEY", "BadRequestException": "BAD_REQUEST_BODY"}.get(
            kind.split(":")[0], "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX")
        deployed = self.responses[kind]
        Gateway.applied.append(kind)
        for name, value in deployed.get("responseParameters", {}).items():
            header = name.removeprefix("gatewayresponse.header.")
            if value.startswith("'"):
                headers[header] = value.strip("'")
            elif value.startswith("method.request.header."):
                sent = self.headers.get(value.removeprefix("method.request.header."))
                if sent is not None:
                    headers[header] = sent
            elif value.startswith("stageVariables."):
                headers[header] = self.stage_variables[value.removeprefix("stageVariables.")]
        template = deployed.get("responseTemplates", {}).get("application/json")
        if template:
            message = json.loads(data or b"{}").get("message", "")
            data = (template.replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.requestId", headers.get("x-amzn-RequestId", ""))).encode()
        return headers, data

    do_GET = do_POST = do_OPTIONS = forward


class Run:
    def __init__(self, config, playwright):
        self.config = config
        self.bots = config["bots"]
        self.origins = [f"http://127.0.0.1:{port}" for port in config["ports"]]
        web = functools.partial(Quiet, directory=config["web"])
        self.servers = [serve(web, port) for port in config["ports"]]
        self.browser = playwright.chromium.launch(executable_path=config["chromium"], args=CHROMIUM_ARGS)
        self.console = []   # every console line of every page: the key must never be in one

    def close(self):
        self.browser.close()
        for server in self.servers:
            server.shutdown()

    def page(self, origin):
        """The chat page from `origin`, in a context of its own (a fresh profile: nothing cached)."""
        context = self.browser.new_context(viewport={"width": 860, "height": 900})
        page = context.new_page()
        page.on("console", lambda line: self.console.append(line.text))
        page.goto(f"{origin}/chat.html")
        return page

    def connect(self, page, url, key, contract):
        page.get_by_label("Endpoint").fill(url)
        page.get_by_label("API key").fill(key)
        page.get_by_label("Contract").select_option(contract)
        page.get_by_role("button", name="Use this API").click()
        stored = page.evaluate("() => ({session: {...sessionStorage}, local: {...localStorage}, cookies: document.cookie})")
        assert stored["session"].get("botpub.key") == key, "the key is kept in sessionStorage"
        assert key not in json.dumps(stored["local"]) + stored["cookies"], "the key is only in sessionStorage"
        assert key not in page.url, "the key is never in the URL"

    def send(self, page, text):
        """Sends a message. The texts its answer showed while it was written (the first while the page
        showed it thinking, with its style's "Thinking…"), and the answer's bubble once final."""
        before = page.locator("#log .bot").count()
        page.get_by_label("Message").fill(text)
        page.get_by_role("button", name="Send").click()
        answer = page.locator("#log .bot").nth(before)
        answer.wait_for()
        thinking = answer.locator(".text").evaluate("t => getComputedStyle(t, '::after').content")
        seen = []
        deadline = time.monotonic() + ANSWER_WAIT_MS / 1000
        while answer.get_attribute("aria-busy") == "true":
            text_now = answer.locator(".text").inner_text()
            if not seen or seen[-1] != text_now:
                seen.append(text_now)
            assert time.monotonic() < deadline, f"no answer within {ANSWER_WAIT_MS} ms; showing {seen[-1]!r}"
            time.sleep(0.05)
        return thinking, seen, answer

    def key_never_leaked(self):
        for line in self.console:
            for bot in self.bots.values():
                assert bot["key"] not in line, "an API key appeared in the console"


def grew(thinking, seen, final):
    """While it polled, the page showed it thinking, then more and more of the final text."""
    assert thinking == '"Thinking…"', f"a waiting answer shows Thinking…, not {thinking}"
    partial = [text for text in seen if text and text != final]
    assert len(partial) >= 2, f"the answer grew while it was written: {seen}"
    for shorter, longer in zip(partial, partial[1:] + [final]):
        assert longer.startswith(shorter), f"each text the start of the next: {shorter!r}, {longer!r}"


def streamed(run, page, bot_id, question):
    """Asks `bot_id`, whose bot streams, from `page`: the page thinks, then shows the answer growing."""
    bot = run.bots[bot_id]
    run.connect(page, bot["url"], bot["key"], bot["contract"])
    thinking, seen, answer = run.send(page, question)
    final = answer.locator(".text").inner_text()
    assert final == f"You said: {question}", final
    grew(thinking, seen, final)
    return answer


def answers(run):
    """From listed origins the page answers through both contracts, each answer shown as it is written."""
    a, _, c = run.origins
    page = run.page(a)
    posts = []
    page.on("response", lambda r: posts.append(r) if r.request.method == "POST" else None)
    answer = streamed(run, page, "many", "Tell me how a published bot answers its callers while it writes the answer")
    # The correlation id and rate limit the page shows are headers it could read only because they are exposed.
    meta = answer.locator(".meta").inner_text()
    expected = f"Correlation id: {posts[-1].headers['x-correlation-id']} · rate limit: 50 requests/s"
    assert meta == expected, f"{meta!r} != {expected!r}"
    conversation = posts[-1].json()["conversation_id"]
    _, _, second = run.send(page, "And what comes next?")
    assert second.locator(".text").inner_text() == "You said: And what comes next?"
    assert posts[-1].request.post_data_json.get("conversation_id") == conversation, "the conversation goes on"
    page.get_by_label("Message").fill("What does the queue do?")
    page.screenshot(path=run.config["screenshot"], full_page=True)

    page.get_by_role("button", name="New conversation").click()
    one = run.bots["one"]
    run.connect(page, one["url"], one["key"], "predict")
    _, _, answer = run.send(page, "What is the capital of France?")
    assert answer.locator(".text").inner_text() == "The capital of France is Paris."
    assert "error" not in answer.get_attribute("class")

    # Origin C is listed by no bot but "any" (`*`), whose bot writes its answer a word at a time.
    streamed(run, run.page(c), "any", "Every origin may ask this bot, listed or not, and watch the answer grow")


def refused(run):
    """From an origin that "one" (a single origin) and "many" (several, echoed) do not list, the browser
    withholds their answers, and the page says why."""
    a, _, c = run.origins
    for bot_id, told in (("one", a), ("many", None)):
        bot = run.bots[bot_id]
        page = run.page(c)
        run.connect(page, bot["url"], bot["key"], bot["contract"])
        _, _, answer = run.send(page, "Can this page read you?")
        text = answer.locator(".text").inner_text()
        assert f"does not allow this page's origin ({c})" in text, text
        assert answer.get_attribute("role") == "alert"
        # What the API told the browser: its preflight names another origin (one) or none (many), and
        # even a request that needs no preflight is answered without this origin.
        path = "/predict" if bot["contract"] == "predict" else "/conversation"
        for method, path, status in (("OPTIONS", path, 204), ("GET", "/health", 200)):
            asked = urllib.request.Request(bot["url"] + path, method=method,
                                           headers={"Origin": c, "Access-Control-Request-Method": "POST"})
            with urllib.request.urlopen(asked, timeout=30) as told_browser:
                assert told_browser.status == status, (bot_id, method, told_browser.status)
                assert told_browser.headers.get("Access-Control-Allow-Origin") == told, (bot_id, method)
        outcome = page.evaluate("url => fetch(url + '/health').then(r => r.status, e => e.name)", bot["url"])
        assert outcome == "TypeError", f"{bot_id}: the page read /health from an origin not listed: {outcome}"
    blocked = [line for line in run.console if "blocked by CORS policy" in line]
    assert len(blocked) >= 4, run.console


def waiting(run):
    """With no worker running, the page shows the bot thinking and polls less and less often."""
    page = run.page(run.origins[0])
    many = run.bots["many"]
    asked, answered = [], []
    is_poll = lambda r: r.method == "GET" and "/conversation/" in r.url  # noqa: E731
    page.on("request", lambda r: asked.append(time.monotonic()) if is_poll(r) else None)
    page.on("requestfinished", lambda r: answered.append(time.monotonic()) if is_poll(r) else None)
    run.connect(page, many["url"], many["key"], "conversation")
    page.get_by_label("Message").fill("Is anyone there?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_timeout(5000)
    answer = page.locator("#log .bot").last
    assert answer.get_attribute("aria-busy") == "true" and answer.locator(".text").inner_text() == ""
    assert answer.locator(".text").evaluate("t => getComputedStyle(t, '::after').content") == '"Thinking…"'
    assert page.get_by_role("status").inner_text() == "Waiting for the answer…"
    assert page.get_by_role("button", name="Send").is_disabled(), "one message at a time"
    # The page's own pauses, from one poll's answer to the next poll: the time the API takes to answer
    # (longer when the machine is busy) is not the page's and would blur the growth.
    pauses = [then - answer for answer, then in zip(answered, asked[1:])]
    assert len(pauses) >= 3, f"the page kept polling: {pauses}"
    assert min(pauses) >= 0.2 and pauses[-1] > 1.5 * pauses[0], f"the pauses between polls grew: {pauses}"


READ = """async ([url, key, path, body, correlation, names]) => {
  const headers = {"x-api-key": key, "X-Correlation-ID": correlation};
  if (body) headers["Content-Type"] = "application/json";
  const r = await fetch(url + path, {method: body ? "POST" : "GET", headers, body: body ? JSON.stringify(body) : undefined});
  const read = {};
  for (const name of names) read[name] = r.headers.get(name);
  return {status: r.status, body: await r.json(), headers: read};
}"""


def listed(run):
    """Every listed origin reads every answer (the API names that origin, or `*`), and reads the headers
    README promises (Access-Control-Expose-Headers) and no other."""
    a, b, c = run.origins
    cases = [("one", a, a), ("many", a, a), ("many", b, b), ("any", a, "*"), ("any", b, "*"), ("any", c, "*")]
    pages = {origin: run.page(origin) for origin in run.origins}
    for n, (bot_id, origin, allowed) in enumerate(cases):
        bot = run.bots[bot_id]
        page = pages[origin]
        conversation = bot["contract"] == "conversation"
        body = {"message": {"content": [{"content_type": "text", "body": "hello"}]}} if conversation else {"message": "hello"}
        path = "/conversation" if conversation else "/predict"
        for step in ("ask", "read"):
            correlation = f"browser-{n}-{step}"
            with page.expect_response(lambda r: r.request.method != "OPTIONS" and path in r.url) as network:
                read = page.evaluate(READ, [bot["url"], bot["key"], path, body if step == "ask" else None,
                                            correlation, EXPOSED + ["x-amzn-RequestId"]])
            where = f"{bot_id} from {origin}, {step}"
            assert read["status"] in (200, 202), f"{where}: {read}"
            assert read["headers"]["X-Correlation-ID"] == correlation, f"{where}: {read['headers']}"
            assert read["headers"]["X-RateLimit-Limit"] == "50", f"{where}: {read['headers']}"
            assert read["headers"]["x-amzn-RequestId"] is None, f"{where}: a header not exposed stays hidden"
            assert network.value.headers.get("access-control-allow-origin") == allowed, where
            assert network.value.headers.get("access-control-expose-headers") == ",".join(EXPOSED), where
            if bot_id == "many":
                assert "Origin" in network.value.headers.get("vary", ""), where
            if step == "ask":
                ids = read["body"]
                path = (f"/conversation/{ids['conversation_id']}/{ids['message_id']}" if conversation
                        else f"/result/{ids['request_id']}")


def refusals(run):
    """A refused key, a message too large and an answer that failed each get a message that says so."""
    a = run.origins[0]
    one, many = run.bots["one"], run.bots["many"]
    page = run.page(a)

    # LocalStack sends API Gateway's own 403 without the CORS headers of the bot's gateway responses, so
    # the browser withholds it and the page can only say it read no answer...
    run.connect(page, one["url"], "not-a-key-of-this-bot", "predict")
    _, _, answer = run.send(page, "Hello?")
    assert "No answer this page may read" in answer.locator(".text").inner_text()
    # ...while AWS sends it with them: through a proxy that applies the deployed gateway response.
    proxy = serve(Gateway, 0)
    upstream, api_path = one["url"].split("/_aws/", 1)
    Gateway.upstream = upstream
    Gateway.responses = run.config["gateway"]["responses"]
    Gateway.stage_variables = run.config["gateway"]["stage_variables"]
    run.connect(page, f"http://127.0.0.1:{proxy.server_address[1]}/_aws/{api_path}", "not-a-key-of-this-bot", "predict")
    _, _, answer = run.send(page, "Hello?")
    text = answer.locator(".text").inner_text()
    assert text.startswith("The API key was refused (Forbidden)"), text
    assert Gateway.applied == ["INVALID_API_KEY"], Gateway.applied
    proxy.shutdown()

    # A message over SQS's 256 KiB: the API's own 400, with its CORS headers, read by the page.
    run.connect(page, many["url"], many["key"], "conversation")
    _, _, answer = run.send(page, "x" * 300_000)
    text = answer.locator(".text").inner_text()
    assert text.startswith("The API refused this message as invalid (The message was not accepted: it must be under 256 KiB"), text
    assert answer.get_attribute("role") == "alert"

    # A message of spaces: examples/bots/answer.py fails it, and the bot's one delivery makes it final.
    run.connect(page, one["url"], one["key"], "predict")
    _, _, answer = run.send(page, "   ")
    text = answer.locator(".text").inner_text()
    assert text.startswith("The bot could not answer:") and "no message to answer" in text, text
    assert answer.locator(".meta").inner_text().startswith("Correlation id: ")


SCENARIOS = {"answers": answers, "waiting": waiting, "refused": refused, "listed": listed, "refusals": refusals}


def main():
    started = time.monotonic()
    config = json.load(sys.stdin)
    scenario = sys.argv[1]
    with sync_playwright() as playwright:
        run = Run(config, playwright)
        try:
            SCENARIOS[scenario](run)
            run.key_never_leaked()
        finally:
            run.close()
    print(f"{scenario}: passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
