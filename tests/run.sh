#!/usr/bin/env bash
# Runs botpub's whole test suite on a fresh machine: formatting, lints, unit and integration tests, and
# the benchmarks' smoke runs.
#
#   tests/run.sh
#
# Everything the tests need is installed by the project's own scripts from pinned versions: the Python
# venvs for LocalStack, moto, cfn-lint, checkov and Playwright (tests/support/venv.sh, cached under
# ~/.cache/botpub), Debian's Chromium for the browser tests (tests/support/chromium.sh, with apt-get),
# and the test servers, which integration tests start on loopback through tests/support/servers.sh.
# Servers started here are stopped on exit. Build artefacts go to a persistent target directory outside
# the clone (CARGO_TARGET_DIR, default ~/.cache/botpub/target) so repeated runs stay incremental.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botpub/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
trap 'tests/support/servers.sh stop all >/dev/null 2>&1 || true' EXIT

# Each part's time is printed as it ends, and again at the end.
parts=()
status=0
part() {
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  if ! "$@"; then status=1; fi
  parts+=("$(printf '%5d s  %s' $((SECONDS - start)) "$name")")
}

part "cargo fmt --check" cargo fmt --all -- --check
part "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
# The tests (each file of tests/ a job) and the benchmarks' smoke runs side by side, longest first, each
# job with its own LocalStack (cargo test would run them one after another); the summary reports the two
# apart.
part "tests and benchmark smoke runs" tests/support/run_tests.py --with-benches

echo "== time per part"
printf '%s\n' "${parts[@]}"
exit $status
