#!/usr/bin/env python3
"""An HTTP proxy on loopback (plain or CONNECT) that checks AWS Signature Version 4 as API Gateway does for `AWS_IAM` routes,
then forwards the request. LocalStack does not check signatures on API Gateway; this stands in for that
check, so that `botpub ask --sigv4` is shown to sign in a way AWS accepts.

Each request whose signature names the `execute-api` service is recomputed with the AWS SDK for Python
(botocore's SigV4Auth), from the credentials given on the command line, over exactly the headers the
request says it signed. A match is forwarded to the URL of the request line; a mismatch, an unknown access
key or an unsigned request is refused with 403, as API Gateway refuses it. Other requests (the SDK's own
calls to LocalStack) are forwarded unchecked. `GET /verdicts` (not proxied) answers what was decided:
{"verified": [...], "refused": [...]}, each "METHOD PATH" or "METHOD PATH: why". With
--require-signature, a request to a LocalStack API (`/_aws/execute-api/...`) that is not signed is refused.

    python sigv4_verifier.py --port 0 --access-key test --secret-key test
"""
import argparse
import json
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class Verifier(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    verdicts = {"verified": [], "refused": []}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def record(self, kind, what):
        with self.lock:
            self.verdicts[kind].append(what)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/verdicts":
            with self.lock:
                return self.answer(200, json.dumps(self.verdicts).encode(), "application/json")
        url = self.path if self.path.startswith("http") else f"http://{self.headers['Host']}{self.path}"
        route = f"{self.command} {urlsplit(url).path}"
        authorization = self.headers.get("Authorization", "")
        match = AUTHORIZATION.match(authorization)
        if match and match["service"] == "execute-api":
            why = self.mismatch(match, url, body)
            if why:
                self.record("refused", f"{route}: {why}")
                return self.answer(403, json.dumps({"message": why}).encode(), "application/json")
            self.record("verified", route)
        elif self.server.require_signature and "/_aws/execute-api/" in url:
            self.record("refused", f"{route}: not signed")
            return self.answer(403, b'{"message": "Missing Authentication Token"}', "application/json")
        self.forward(url, body)

    def mismatch(self, match, url, body):
        """Why the signature is not what these credentials give, or None when it is."""
        if match["key"] != self.server.access_key:
            return "The security token included in the request is invalid."
        signed = match["signed"].split(";")
        headers = {name: self.headers[name] for name in signed if self.headers[name] is not None}
        if len(headers) != len(signed):
            return "Signed headers are missing from the request."
        request = AWSRequest(method=self.command, url=url, data=body, headers=headers)
        request.context["timestamp"] = self.headers["X-Amz-Date"]
        auth = SigV4Auth(
            Credentials(self.server.access_key, self.server.secret_key, self.headers.get("X-Amz-Security-Token")),
            "execute-api",
            match["region"],
        )
        canonical = auth.canonical_request(request)
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
        if expected != match["signature"]:
            return (
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
        return None

    def forward(self, url, body):
        request = urllib.request.Request(url, data=body or None, method=self.command)
        for name, value in self.headers.items():
            if name.lower() not in ("host", "connection", "proxy-connection", "content-length"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, data, kind = reply.status, reply.read(), reply.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, data, kind = error.code, error.read(), error.headers.get("Content-Type")
        self.answer(status, data, kind or "application/json")

    def answer(self, status, data, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_CONNECT(self):
        # A tunnel to a plain-HTTP target: the client's requests then come on this connection, in origin form
        # with their Host header, and are checked like any other.
        self.send_response(200, "Connection established")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument(
        "--require-signature", action="store_true", help="refuse requests to a LocalStack API that are not signed"
    )
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Verifier)
    server.access_key, server.secret_key = args.access_key, args.secret_key
    server.require_signature = args.require_signature
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
