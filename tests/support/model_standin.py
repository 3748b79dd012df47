#!/usr/bin/env python3
"""A stand-in for the model servers `botpub worker` answers from, on loopback, speaking their real wire
protocol so that the worker's real client runs end to end (no model, no account, no network):

  OpenAI-compatible chat completions (vLLM, Ollama, llama.cpp's server, LiteLLM):
    POST /v1/chat/completions  ->  {"choices": [{"message": {...}, "finish_reason"}], "usage": {...}, "model"}
    with "stream": true, text/event-stream (chunked): one chat.completion.chunk per word (--chunk-ms
    apart), then the finish_reason, the usage when stream_options.include_usage, and [DONE]
    errors as OpenAI sends them: {"error": {"message", "type", "code"}} with the HTTP status
  Amazon Bedrock Runtime's Converse (restJson1, as the AWS SDKs call it; the signature is not checked):
    POST /model/{modelId}/converse  ->  {"output": {"message": ...}, "stopReason", "usage": {"inputTokens", ...}}
    POST /model/{modelId}/converse-stream  ->  application/vnd.amazon.eventstream (chunked): messageStart,
      a contentBlockDelta per word (--chunk-ms apart), contentBlockStop, messageStop, metadata
    errors as AWS sends them: the HTTP status, `x-amzn-ErrorType: ThrottlingException`, {"message": ...}
  Amazon Bedrock AgentCore Runtime's InvokeAgentRuntime:
    POST /runtimes/{arn}/invocations?qualifier=Q (session in X-Amzn-Bedrock-AgentCore-Runtime-Session-Id)
    ->  application/json {"response", "usage"}, or text/event-stream chunks when the payload says "stream"

    python3 tests/support/model_standin.py --port 0 [--delay-ms 100]

prints `listening on http://127.0.0.1:PORT` and serves until killed. The answer is made from the request, so
a test can tell what the model was sent: "You said: <last user text>" (with the number of messages and of
turns before it), usage counts words (input: every message's words, output: the answer's).

For the tests:
  GET  /_standin/calls           every request received, in order: {"path", "headers", "body"}
  POST /_standin/fail            {"status": 429, "message": "...", "times": 2}: the next `times` model calls
                                 answer that error instead (throttling, refusals, access denied...);
                                 {"cut_after": 3}: the next stream drops its connection after 3 words
"""
import argparse
import json
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
calls = []
failures = []

AWS_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def words(text):
    return len(str(text).split())


def text_of(content):
    """An OpenAI message's content: a string, or a list of parts."""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def event_message(event_type, payload):
    """One message of the AWS event stream encoding: prelude (lengths and their CRC), headers, JSON
    payload, and the CRC of it all."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        name, value = name.encode(), value.encode()
        headers += bytes([len(name)]) + name + bytes([7]) + struct.pack(">H", len(value)) + value
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0
    chunk_delay = 0.0

    def log_message(self, *args):
        pass

    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_json(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def record(self, protocol, body):
        """Keeps the call for the tests; the scripted failure it must answer, if any."""
        with lock:
            calls.append({"protocol": protocol, "path": self.path, "headers": dict(self.headers), "body": body})
            return failures.pop(0) if failures else None

    def aws_call(self, protocol, body, answer):
        failure = self.record(protocol, body)
        if failure:
            status = int(failure.get("status", 500))
            error = AWS_ERRORS.get(status, "InternalServerException")
            payload = json.dumps({"message": failure.get("message", "the stand-in was told to fail")}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("x-amzn-ErrorType", error)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            return self.wfile.write(payload)
        if body is None:
            return self.reply(400, {"message": "the body is not JSON"})
        time.sleep(self.delay)
        answer(body)

    def converse(self, body):
        answer, stop, prompt = self.converse_answer(body)
        self.reply(200, {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": stop,
            "usage": {"inputTokens": prompt, "outputTokens": words(answer), "totalTokens": prompt + words(answer)},
            "metrics": {"latencyMs": int(self.delay * 1000)},
        })

    def converse_stream(self, body):
        """ConverseStream's answer: AWS event stream messages, a text delta per word."""
        answer, stop, prompt = self.converse_answer(body)
        self.send_response(200)
        self.send_header("content-type", "application/vnd.amazon.eventstream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.write_chunk(event_message("messageStart", {"role": "assistant"}))
        for i, piece in enumerate(answer.split(" ")):
            time.sleep(self.chunk_delay)
            delta = {"contentBlockIndex": 0, "delta": {"text": piece if i == 0 else " " + piece}}
            self.write_chunk(event_message("contentBlockDelta", delta))
        self.write_chunk(event_message("contentBlockStop", {"contentBlockIndex": 0}))
        self.write_chunk(event_message("messageStop", {"stopReason": stop}))
        usage = {"inputTokens": prompt, "outputTokens": words(answer), "totalTokens": prompt + words(answer)}
        self.write_chunk(event_message("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        self.write_chunk(b"")

    def converse_answer(self, body):
        """The answer to a Converse request, why it stopped, and the prompt's size in words."""
        messages = body.get("messages", [])
        texts = [" ".join(c.get("text", "") for c in m.get("content", [])) for m in messages]
        system = " ".join(s.get("text", "") for s in body.get("system", []))
        last = texts[-1] if texts else ""
        count = len(messages) + (1 if system else 0)
        answer = f"You said: {last} ({count} messages, {len(messages) - 1} turns before)"
        limit = body.get("inferenceConfig", {}).get("maxTokens")
        stop = "end_turn"
        if limit is not None and words(answer) > limit:
            answer = " ".join(answer.split()[:limit])
            stop = "max_tokens"
        prompt = sum(words(t) for t in texts) + words(system)
        return answer, stop, prompt

    def invoke_agent(self, body):
        session = self.headers.get("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "")
        answer = f"You said: {body.get('prompt', '')}"
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", session)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for word in answer.split():
                time.sleep(self.chunk_delay)
                self.write_chunk(f"data: {json.dumps(word + ' ')}\n\n".encode())
            return self.write_chunk(b"")
        else:
            payload = json.dumps({"response": answer, "usage": {
                "input_tokens": words(body.get("prompt", "")), "output_tokens": words(answer)}}).encode()
            content_type = "application/json"
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", session)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path == "/_standin/calls":
            with lock:
                return self.reply(200, list(calls))
        self.reply(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})

    def do_POST(self):
        body = self.read_json()
        if self.path == "/_standin/fail":
            with lock:
                failures.extend([body] * int(body.get("times", 1)))
            return self.reply(200, {"queued": len(failures)})
        path = self.path.split("?")[0]
        if path.startswith("/model/") and path.endswith("/converse"):
            return self.aws_call("converse", body, self.converse)
        if path.startswith("/model/") and path.endswith("/converse-stream"):
            return self.aws_call("converse", body, self.converse_stream)
        if path.startswith("/runtimes/") and path.endswith("/invocations"):
            return self.aws_call("agentcore", body, self.invoke_agent)
        if path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self.reply(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})
        failure = self.record("openai", body)
        cut = failure.get("cut_after") if failure else None
        if failure and cut is None:
            status = int(failure.get("status", 500))
            return self.reply(status, {"error": {
                "message": failure.get("message", "the stand-in was told to fail"),
                "type": ERROR_TYPES.get(status, "server_error"),
                "code": failure.get("code"),
            }})
        if body is None or not isinstance(body.get("messages"), list):
            return self.reply(400, {"error": {"message": "messages: field required", "type": "invalid_request_error"}})
        time.sleep(self.delay)
        messages = body["messages"]
        users = [m for m in messages if m.get("role") == "user"]
        last = text_of(users[-1]["content"]) if users else ""
        turns = len([m for m in messages if m.get("role") in ("user", "assistant")]) - 1
        answer = f"You said: {last} ({len(messages)} messages, {turns} turns before)"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if limit is not None and words(answer) > limit:
            answer = " ".join(answer.split()[:limit])
            finish = "length"
        prompt = sum(words(text_of(m.get("content"))) for m in messages)
        if body.get("stream"):
            return self.stream_openai(body, answer, finish, prompt, cut)
        self.reply(200, {
            "id": f"chatcmpl-{len(calls)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stand-in"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": finish,
            }],
            "usage": {"prompt_tokens": prompt, "completion_tokens": words(answer),
                      "total_tokens": prompt + words(answer)},
        })


    def stream_openai(self, body, answer, finish, prompt, cut):
        """The answer as OpenAI streams it, a word per chunk; with `cut`, the connection drops mid-way."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        base = {"id": f"chatcmpl-{len(calls)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "stand-in")}

        def send(choices, **more):
            self.write_chunk(f"data: {json.dumps({**base, 'choices': choices, **more})}\n\n".encode())

        send([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
        pieces = answer.split(" ")
        for i, piece in enumerate(pieces):
            if cut is not None and i >= cut:
                self.close_connection = True
                return
            time.sleep(self.chunk_delay)
            send([{"index": 0, "delta": {"content": piece if i == 0 else " " + piece}}])
        send([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            send([], usage={"prompt_tokens": prompt, "completion_tokens": words(answer),
                            "total_tokens": prompt + words(answer)})
        self.write_chunk(b"data: [DONE]\n\n")
        self.write_chunk(b"")

    def write_chunk(self, data):
        """One chunk of a chunked answer, sent at once; an empty one ends the answer."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # workers connect many at once; the default backlog is 5

    def handle_error(self, request, client_address):
        # A client that went away mid-answer (a worker killed by a test) is expected, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0, help="time the model takes to answer")
    parser.add_argument("--chunk-ms", type=int, default=0, help="time between two streamed words")
    args = parser.parse_args()
    Handler.delay = args.delay_ms / 1000
    Handler.chunk_delay = args.chunk_ms / 1000
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
