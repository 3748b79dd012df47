#!/usr/bin/env python3
"""A bot that streams its answer, for `botpub worker`: one process per request, writing its answer a
word at a time so that clients read it while it is written.

It opens its stdout with the line `Content-Type: text/event-stream` and a blank line, as a CGI script
would, then writes each piece of text as a server-sent event (`data: <JSON string>` and a blank line),
flushing after each one. The answer is the pieces joined. A bot that prints one JSON document at the end
(examples/bots/answer.py) needs none of this.

    botpub worker hello-bot -- python3 examples/bots/stream.py [--chunk-ms 200]

Put your model's streaming call where `pieces()` is.
"""
import argparse
import json
import sys
import time


def pieces(message):
    words = f"You said: {message}".split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-ms", type=float, default=200, help="time between two pieces")
    args = parser.parse_args()
    document = json.load(sys.stdin)
    request = document.get("request")
    message = request.get("message", "") if isinstance(request, dict) else ""
    sys.stdout.write("Content-Type: text/event-stream\n\n")
    for piece in pieces(message):
        time.sleep(args.chunk_ms / 1000)
        sys.stdout.write(f"data: {json.dumps(piece)}\n\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
