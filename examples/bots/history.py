#!/usr/bin/env python3
"""A conversation bot for `botpub worker`, in the standard library only: it answers from its history.

Its request document on stdin carries the conversation so far ({"conversation_id", "message_id",
"history": [{"role", "content": [{"content_type", "body"}], "message_id", "create_time"}, ...] oldest
first, "request": the client's POST /conversation body, ...}). It answers with how many earlier messages
it was given and what the user said first, so a client can see that nothing was forgotten.

    botpub worker chat-bot -- python3 examples/bots/history.py

Set HISTORY_BOT_DELAY_MS to make every answer take that long.
"""
import json
import os
import sys
import time


def text(message: dict) -> str:
    return " ".join(item.get("body", "") for item in message.get("content", []) if item.get("content_type") == "text")


def main() -> int:
    document = json.load(sys.stdin)
    history = document.get("history", [])
    said = text(document["request"]["message"])
    delay = int(os.environ.get("HISTORY_BOT_DELAY_MS", "0"))
    if delay:
        time.sleep(delay / 1000)
    first = next((text(m) for m in history if m["role"] == "user"), said)
    json.dump(
        {
            "response": f"I was given {len(history)} earlier messages. You said: {said}. You first said: {first}.",
            "earlier_messages": len(history),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
