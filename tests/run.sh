#!/usr/bin/env bash
# Runs botpub's whole test suite on a fresh machine: formatting, lints, unit and integration tests.
#
#   tests/run.sh
#
# Everything the tests need is installed by the project's own scripts from pinned versions: the Python
# venvs for LocalStack, moto, cfn-lint and checkov (tests/support/venv.sh, cached under ~/.cache/botpub),
# and the test servers, which integration tests start on loopback through tests/support/servers.sh.
# Servers started here are stopped on exit. Build artefacts go to a persistent target directory outside
# the clone (CARGO_TARGET_DIR, default ~/.cache/botpub/target) so repeated runs stay incremental.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botpub/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
trap 'tests/support/servers.sh stop all >/dev/null 2>&1 || true' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked --no-fail-fast
