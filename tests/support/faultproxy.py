#!/usr/bin/env python3
"""A fault-injecting reverse proxy between botpub and LocalStack, for the fault-tolerance tests.

    faultproxy.py --upstream http://127.0.0.1:4566 [--port 0] [--seed 1]
                  [--throttle P] [--burst N] [--error5xx P] [--drop P] [--drop-after P]
                  [--delay P] [--delay-seconds S] [--services cloudformation,apigateway]
                  [--always throttle,error503] [--stop-on-eof] [--verbose] [--hide-localstack]

It listens on 127.0.0.1 only and prints its URL (http://127.0.0.1:PORT) as the first and only line of
stdout.
Every request is forwarded to the upstream unless a fault is chosen for it. Faults go only to the services
named in --services (by the SigV4 credential scope of the request); everything else passes untouched.

Faults, chosen per request from a seeded RNG:
  throttle     the service's own throttling error, exactly as AWS sends it, so that the AWS SDK classifies
               it as throttling: CloudFormation (query/XML) HTTP 400 `Throttling`; API Gateway (REST-JSON)
               HTTP 429 `TooManyRequestsException`; S3 HTTP 503 `SlowDown`; SQS (JSON) HTTP 400
               `ThrottlingException`. A throttle starts a burst: the
               next --burst - 1 requests to the same service are throttled too, as a saturated API would.
  error500/503 an internal error / service unavailable, in the service's error format.
  drop_before  the connection is closed without an answer and the request never reaches the upstream.
  drop_after   the request is forwarded, then the connection is closed without an answer: the client
               cannot know the request took effect, which is what idempotency tokens are for.
  delay        the answer is held back --delay-seconds, then forwarded normally.

With --hide-localstack, LocalStack's own paths (/_localstack/...) answer 404: botpub then sees an endpoint
that does not say it is LocalStack.

Control endpoint (on the proxy itself, never forwarded):
  GET  /__faults   the configuration and what was injected so far, as JSON:
                   {"config": {...}, "requests": {"cloudformation:CreateChangeSet": 3, ...},
                    "injected": {"throttle": 4, ...}, "by_operation": {"cloudformation:...": {"throttle": 2}}}
  POST /__faults   a JSON object merged into the configuration; the same keys as the flags (with `_` for
                   `-`), plus "seed" (reseeds the RNG), "reset": true (zeroes the counters) and "rules":
                   a list of scripted faults checked before the random ones, each
                   {"match": "cloudformation:ExecuteChangeSet", "fault": "drop_after", "skip": 0, "count": 1}
                   where match is a shell pattern over "service:operation", skip lets that many matching
                   requests through first, count is how many to hit (-1: all of them), and fault is a kind
                   or a list of kinds used in turn; with "after": PATTERN the rule applies only once a
                   request matching PATTERN has been seen (e.g. everything after ExecuteChangeSet).
                   "always" (a kind or list of kinds, used in turn) hits every request of the services.
                   "no_drop_after" lists patterns of operations whose drops happen before forwarding.

Operations are named "cloudformation:<Action>" for the query protocol and "apigateway:<METHOD> <path>"
with ids replaced by {id}, e.g. "apigateway:POST /apikeys" or "apigateway:GET /usageplans/{id}/keys".
"""

import argparse
import fnmatch
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("throttle", "error500", "error503", "drop_before", "drop_after", "delay")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")


class State:
    """The configuration and the counters, shared by every handler thread under one lock."""

    def __init__(self, config, seed):
        self.lock = threading.Lock()
        self.config = config
        self.rng = random.Random(seed)
        self.burst_left = {}
        self.rule_seen = []
        self.reset()

    def reset(self):
        self.requests = {}
        self.injected = {kind: 0 for kind in KINDS}
        self.by_operation = {}
        self.burst_left = {}
        self.rule_seen = [0] * len(self.config.get("rules", []))

    def update(self, changes):
        with self.lock:
            if "seed" in changes:
                self.rng = random.Random(changes["seed"])
            for key, value in changes.items():
                if key not in ("seed", "reset"):
                    self.config[key] = value
            if "rules" in changes:
                self.rule_seen = [0] * len(self.config["rules"])
            if "burst" in changes or "throttle" in changes:
                self.burst_left = {}
            if changes.get("reset"):
                self.reset()

    def snapshot(self):
        with self.lock:
            return {
                "config": self.config,
                "requests": self.requests,
                "injected": self.injected,
                "by_operation": self.by_operation,
            }

    def choose(self, service, operation):
        """The fault for one request (None: forward it as it is), counted."""
        key = f"{service}:{operation}"
        with self.lock:
            earlier = list(self.requests)
            self.requests[key] = self.requests.get(key, 0) + 1
            if service not in self.config["services"]:
                return None
            fault = self._scripted(key, earlier) or self._random(service)
            if fault == "drop_after" and any(
                fnmatch.fnmatchcase(key, p) for p in self.config.get("no_drop_after", [])
            ):
                fault = "drop_before"
            if fault:
                self.injected[fault] += 1
                counts = self.by_operation.setdefault(key, {})
                counts[fault] = counts.get(fault, 0) + 1
            return fault

    def _scripted(self, key, earlier):
        always = self.config.get("always")
        if always:
            kinds = always if isinstance(always, list) else [always]
            return kinds[sum(self.injected.values()) % len(kinds)]
        for i, rule in enumerate(self.config.get("rules", [])):
            if not fnmatch.fnmatchcase(key, rule.get("match", "*")):
                continue
            after = rule.get("after")
            if after and not any(fnmatch.fnmatchcase(k, after) for k in earlier):
                continue
            seen = self.rule_seen[i]
            self.rule_seen[i] += 1
            skip, count = rule.get("skip", 0), rule.get("count", 1)
            if seen < skip or (count >= 0 and seen >= skip + count):
                continue
            kinds = rule["fault"] if isinstance(rule["fault"], list) else [rule["fault"]]
            return kinds[(seen - skip) % len(kinds)]
        return None

    def _random(self, service):
        c = self.config
        if self.burst_left.get(service, 0) > 0:
            self.burst_left[service] -= 1
            return "throttle"
        roll = self.rng.random()
        for kind, share in (
            ("throttle", c["throttle"]),
            ("error5xx", c["error5xx"]),
            ("drop", c["drop"]),
            ("delay", c["delay"]),
        ):
            if roll < share:
                if kind == "throttle":
                    self.burst_left[service] = max(0, int(c["burst"]) - 1)
                    return "throttle"
                if kind == "error5xx":
                    return self.rng.choice(("error500", "error503"))
                if kind == "drop":
                    return "drop_after" if self.rng.random() < c["drop_after"] else "drop_before"
                return "delay"
            roll -= share
        return None


def service_of(headers, path, body):
    """The AWS service a request is for: its SigV4 credential scope says so; the shape is a fallback."""
    match = CREDENTIAL_SCOPE.search(headers.get("Authorization", ""))
    if match:
        return match.group(1)
    target = headers.get("X-Amz-Target", "")
    if target.startswith("AmazonSQS"):
        return "sqs"
    if body.startswith(b"Action=") or b"&Action=" in body:
        return "cloudformation"
    first = path.split("?")[0].strip("/").split("/")[0]
    if first in ("restapis", "apikeys", "usageplans", "account", "domainnames", "vpclinks"):
        return "apigateway"
    return "other"


def operation_of(service, method, path, headers, body):
    """The request's operation, with resource ids taken out so that repeated calls share one name."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    if "Action" in form:
        return form["Action"][0]
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    segments = [s for s in urllib.parse.urlsplit(path).path.split("/") if s]
    if service == "s3":
        shape = ["{bucket}", "{key}"][: min(len(segments), 2)]
        return f"{method} /" + "/".join(shape)
    # REST paths alternate collection and id: /restapis/{id}/stages/{id}, /usageplans/{id}/keys/{id}.
    shape = [s if i % 2 == 0 else "{id}" for i, s in enumerate(segments)]
    return f"{method} /" + "/".join(shape)


def request_id():
    return str(uuid.uuid4())


def fault_response(service, kind):
    """(status, headers, body) of an error exactly as the service would send it."""
    rid = request_id()
    if service == "sqs":
        # SQS speaks the AWS JSON protocol (X-Amz-Target: AmazonSQS.*), with the query-era code in a header.
        status, code, query_code = {
            "throttle": (400, "ThrottlingException", "RequestThrottled;Sender"),
            "error500": (500, "InternalError", "InternalError;Receiver"),
            "error503": (503, "ServiceUnavailable", "ServiceUnavailable;Receiver"),
        }[kind]
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": rid,
            "x-amzn-query-error": query_code,
        }
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": code})
        return status, headers, body.encode()
    if service in ("cloudformation", "sts", "iam"):
        status, typ, code, message = {
            "throttle": (400, "Sender", "Throttling", "Rate exceeded"),
            "error500": (500, "Receiver", "InternalFailure", "An internal error occurred"),
            "error503": (503, "Receiver", "ServiceUnavailable", "Service is unable to handle request"),
        }[kind]
        ns = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
        body = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{typ}</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>\n"
        )
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode()
    if service == "s3":
        status, code, message = {
            "throttle": (503, "SlowDown", "Please reduce your request rate."),
            "error500": (500, "InternalError", "We encountered an internal error. Please try again."),
            "error503": (503, "ServiceUnavailable", "Please reduce your request rate."),
        }[kind]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{rid}</RequestId></Error>"
        )
        return status, {"Content-Type": "application/xml", "x-amz-request-id": rid}, body.encode()
    status, code, message = {
        "throttle": (429, "TooManyRequestsException", "Too Many Requests"),
        "error500": (500, "InternalFailure", "Internal Failure"),
        "error503": (503, "ServiceUnavailableException", "Service Unavailable"),
    }[kind]
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": rid,
    }
    return status, headers, json.dumps({"message": message}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("faultproxy: " + (fmt % args) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        body = self.read_body()
        if self.path.split("?")[0] == "/__faults":
            return self.control(body)
        if self.path.startswith("/_localstack/") and self.server.state.config.get("hide_localstack"):
            # An endpoint that does not say it is LocalStack, as AWS or any other engine would answer.
            return self.answer(404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}')
        state = self.server.state
        service = service_of(self.headers, self.path, body)
        operation = operation_of(service, self.command, self.path, self.headers, body)
        fault = state.choose(service, operation)
        if fault and self.server.verbose:
            sys.stderr.write(f"faultproxy: {fault} {service}:{operation}\n")
        if fault in ("throttle", "error500", "error503"):
            return self.answer(*fault_response(service, fault))
        if fault == "drop_before":
            return self.drop()
        if fault == "delay":
            time.sleep(float(state.config["delay_seconds"]))
        try:
            status, reason, headers, payload = self.forward(body)
        except OSError as error:
            message = json.dumps({"message": f"faultproxy: upstream unreachable: {error}"}).encode()
            return self.answer(502, {"Content-Type": "application/json"}, message)
        if fault == "drop_after":
            return self.drop()
        self.answer(status, headers, payload, reason)

    def forward(self, body):
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, response.reason, kept, payload
        finally:
            conn.close()

    def answer(self, status, headers, payload, reason=None):
        self.send_response_only(status, reason)
        items = headers.items() if isinstance(headers, dict) else headers
        for key, value in items:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def drop(self):
        """Closes the connection without a byte of answer, as a network that lost the response would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control(self, body):
        state = self.server.state
        if self.command == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as error:
                message = json.dumps({"message": str(error)}).encode()
                return self.answer(400, {"Content-Type": "application/json"}, message)
            state.update(changes)
        payload = json.dumps(state.snapshot(), sort_keys=True).encode()
        self.answer(200, {"Content-Type": "application/json"}, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The SDK opens a few connections at once; a small backlog would refuse some under load.
    request_queue_size = 64


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of LocalStack")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throttle", type=float, default=0.0)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--error5xx", type=float, default=0.0)
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--drop-after", type=float, default=0.5, help="share of drops after forwarding")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--delay-seconds", type=float, default=3.0)
    parser.add_argument("--services", default="cloudformation,apigateway")
    parser.add_argument("--always", default="", help="kinds that hit every request, in turn")
    parser.add_argument("--verbose", action="store_true", help="log faults to stderr")
    parser.add_argument(
        "--hide-localstack", action="store_true", help="answer 404 to LocalStack's own /_localstack/ paths"
    )
    parser.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="exit when stdin reaches end of file, i.e. when the process that started it is gone",
    )
    args = parser.parse_args()

    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme != "http" or upstream.hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--upstream must be a plain-http loopback URL")
    always = [k for k in args.always.split(",") if k]
    unknown = [k for k in always if k not in KINDS]
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
    config = {
        "throttle": args.throttle,
        "burst": args.burst,
        "error5xx": args.error5xx,
        "drop": args.drop,
        "drop_after": args.drop_after,
        "delay": args.delay,
        "delay_seconds": args.delay_seconds,
        "services": [s for s in args.services.split(",") if s],
        "always": always,
        "rules": [],
        "no_drop_after": [],
        "hide_localstack": args.hide_localstack,
    }
    server = Server(("127.0.0.1", args.port), Handler)
    server.upstream = upstream
    server.state = State(config, args.seed)
    server.verbose = args.verbose
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    if args.stop_on_eof:
        # A test killed before it could stop the proxy must not leave it running for good.
        def watch_stdin():
            sys.stdin.buffer.read()
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
