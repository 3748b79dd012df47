#!/usr/bin/env bash
# botpub end to end with no AWS account: starts LocalStack on 127.0.0.1 (installing it the first time),
# publishes examples/quickstart.yaml, creates an API key, runs the example bot behind the queue with
# `botpub worker`, asks it a question with `botpub ask` and through the API, and shows the bot's status.
# The same commands work against a real account: drop AWS_ENDPOINT_URL and use your own credentials.
#
#   examples/demo.sh                  # builds botpub first
#   BOTPUB=/path/to/botpub examples/demo.sh
#
# LocalStack keeps running afterwards, so you can try more commands with the printed environment;
# stop it with `tests/support/servers.sh stop localstack`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botpub/target}

step() { printf '\n== %s\n' "$*"; }

if [ -n "${BOTPUB:-}" ]; then
  botpub=$BOTPUB   # an installed or already built botpub
else
  step "building botpub (the first build takes a few minutes)"
  cargo build --quiet --locked
  botpub=$CARGO_TARGET_DIR/debug/botpub
fi

step "starting LocalStack on 127.0.0.1 (the first start installs it: about a minute)"
endpoint=$(tests/support/servers.sh start localstack)
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$endpoint
echo "AWS_ENDPOINT_URL=$endpoint AWS_REGION=$AWS_REGION (any access key works)"

step "botpub publish examples/quickstart.yaml --yes"
"$botpub" publish examples/quickstart.yaml --yes --progress events

step "botpub keys create hello-bot (the value is printed only by this command; kept here in BOTPUB_API_KEY)"
created=$("$botpub" keys create hello-bot --description "demo client" --output json)
export BOTPUB_API_KEY=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])' <<<"$created")
echo "key $(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$created") created"

step "botpub worker hello-bot -- python3 examples/bots/answer.py   (in the background)"
"$botpub" worker hello-bot --log-format text -- python3 examples/bots/answer.py &
worker=$!
trap 'kill -TERM $worker 2>/dev/null || true' EXIT

step 'botpub ask hello-bot "What is the capital of France?"'
"$botpub" ask hello-bot "What is the capital of France?" --timeout 60s

step "the same through the API, as any client calls it (POST /predict, then GET /result/{request_id})"
url=$("$botpub" status hello-bot --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)["endpoint"])')
echo "POST $url/predict"
accepted=$(curl -sS -X POST "$url/predict" -H "x-api-key: $BOTPUB_API_KEY" -H 'Content-Type: application/json' \
  -d '{"message": "And the capital of Japan?"}')
echo "$accepted"
request_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["request_id"])' <<<"$accepted")
for _ in $(seq 50); do
  result=$(curl -sS "$url/result/$request_id" -H "x-api-key: $BOTPUB_API_KEY")
  case "$result" in *'"completed"'*|*'"failed"'*) break ;; esac
  sleep 0.2
done
echo "GET $url/result/$request_id"
echo "$result"

step "stopping the worker (SIGTERM: it finishes what it is doing, then exits)"
kill -TERM $worker
wait $worker
trap - EXIT

step "botpub status hello-bot"
"$botpub" status hello-bot
