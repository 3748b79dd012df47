#!/usr/bin/env python3
"""A long-running bot server for `botpub worker --http`, in the standard library only, on the AgentCore
Runtime contract: POST /invocations with the request document as JSON, the answer as JSON; GET /ping.

    python3 examples/bots/server.py --port 8080 [--delay-ms 100]
    botpub worker hello-bot --http http://127.0.0.1:8080/invocations

It listens on 127.0.0.1 only. `--delay-ms` makes every answer take that long (for benchmarks).
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Bot(BaseHTTPRequestHandler):
    delay = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # request bodies and lines stay out of the log
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ping":
            self.send_json(200, {"status": "Healthy"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/invocations":
            self.send_json(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        document = json.loads(self.rfile.read(length) or b"{}")
        time.sleep(self.delay)
        request = document.get("request") or {}
        message = request.get("message", "") if isinstance(request, dict) else ""
        self.send_json(200, {"response": f"You said: {message}", "request_id": document.get("request_id")})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay-ms", type=float, default=0)
    args = parser.parse_args()
    Bot.delay = args.delay_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Bot)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/invocations", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
