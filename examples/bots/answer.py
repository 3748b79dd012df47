#!/usr/bin/env python3
"""A bot for `botpub worker`, in the standard library only: one process per request.

It reads the request document on stdin ({"bot_id", "request_id", "correlation_id", "attempt",
"received_at", "request": <the client's JSON body>}) and writes its answer on stdout as JSON with a
`response` field; other fields (here `usage`) are kept in the result document. A non-zero exit is a
failed attempt, and the last line on stderr says why.

    botpub worker hello-bot -- python3 examples/bots/answer.py

Put your model call where `reply()` is.
"""
import json
import sys

CAPITALS = {"france": "Paris", "germany": "Berlin", "italy": "Rome", "japan": "Tokyo", "spain": "Madrid"}


def reply(message: str) -> str:
    lowered = message.lower()
    for country, capital in CAPITALS.items():
        if country in lowered and "capital" in lowered:
            return f"The capital of {country.title()} is {capital}."
    return f"You said: {message}"


def main() -> int:
    document = json.load(sys.stdin)
    message = document["request"].get("message", "") if isinstance(document["request"], dict) else ""
    if not message.strip():
        print("the request has no message to answer", file=sys.stderr)
        return 1
    answer = reply(message)
    json.dump(
        {
            "response": answer,
            "usage": {"input_words": len(message.split()), "output_words": len(answer.split())},
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
