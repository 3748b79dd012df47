#!/usr/bin/env bash
# botpub end to end with no AWS account: starts LocalStack on 127.0.0.1 (installing it the first time),
# publishes examples/quickstart.yaml, calls the published API with its key, and shows the bot's status.
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

status=$("$botpub" status hello-bot --output json)
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" <<<"$status"; }
# LocalStack serves the API under its own host name scheme: /_aws/execute-api/<api id>/<stage>/...
api_id=$(field endpoint | sed -E 's#^https?://([^.]+)\..*#\1#')
url="$endpoint/_aws/execute-api/$api_id/$(field stage)"
key_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key_ids"][0])' <<<"$status")
# The key's value is read the way a client's owner would fetch it, and never printed.
awscli="$(tests/support/venv.sh localstack tests/support/localstack-requirements.txt --no-deps)/bin/aws"
key=$(AWS_DEFAULT_REGION=$AWS_REGION "$awscli" --endpoint-url "$endpoint" apigateway get-api-key \
  --api-key "$key_id" --include-value --query value --output text)

step "POST $url/predict (with the default key $key_id)"
curl -sS -i -X POST "$url/predict" -H "x-api-key: $key" -H 'Content-Type: application/json' \
  -H 'Origin: https://app.example.com' -d '{"message": "What is the capital of France?"}'
echo

step "botpub status hello-bot"
"$botpub" status hello-bot
