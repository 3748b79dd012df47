#!/usr/bin/env python3
"""A long-running bot server for `botpub worker --http`, in the standard library only, on the AgentCore
Runtime contract: POST /invocations with the request document as JSON, the answer as JSON; GET /ping.

    python3 examples/bots/server.py --port 8080 [--delay-ms 100] [--stream [--chunk-ms 200]]
    botpub worker hello-bot --http http://127.0.0.1:8080/invocations

It listens on 127.0.0.1 only. `--delay-ms` makes every answer take that long (for benchmarks). With
`--stream` it answers as a server-sent event stream (`text/event-stream`), a word per event, `--chunk-ms`
apart: the worker stores the text so far while it arrives, so clients read the answer as it is written.
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def question(request):
    """The client's question: a predict request's `message`, or the text items of a conversation's."""
    message = request.get("message", "") if isinstance(request, dict) else ""
    if isinstance(message, dict):
        items = message.get("content") or []
        return " ".join(i.get("body", "") for i in items if i.get("content_type") == "text")
    return message


class Bot(BaseHTTPRequestHandler):
    delay = 0.0
    stream = False
    chunk_delay = 0.2
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
        message = question(document.get("request"))
        if self.stream:
            self.send_events(f"You said: {message}".split(" "))
        else:
            self.send_json(200, {"response": f"You said: {message}", "request_id": document.get("request_id")})

    def send_events(self, words):
        """The words as server-sent events, each a JSON string, in HTTP/1.1 chunks as they are written."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, word in enumerate(words):
            time.sleep(self.chunk_delay)
            event = f"data: {json.dumps(word if i == 0 else ' ' + word)}\n\n".encode()
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--stream", action="store_true", help="answer as a server-sent event stream")
    parser.add_argument("--chunk-ms", type=float, default=200, help="time between two streamed words")
    args = parser.parse_args()
    Bot.delay = args.delay_ms / 1000
    Bot.stream = args.stream
    Bot.chunk_delay = args.chunk_ms / 1000
    # A worker opens a connection per request it runs at once (--concurrency), several workers more:
    # the standard library's backlog of 5 would reset some when they all connect at once.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Bot)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/invocations", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
