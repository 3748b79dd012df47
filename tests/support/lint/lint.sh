#!/usr/bin/env bash
# Lints every CloudFormation template (*.json, *.yaml, *.yml) directly inside a directory with cfn-lint and checkov.
#
#   tests/support/lint/lint.sh TEMPLATE_DIR
#
# Exit status: 0 when both tools pass and every suppression carries a reason; 1 when either tool finds anything
# (a cfn-lint error or warning, a failed checkov check), when checkov skipped a template (it does so silently
# for one it can't parse or doesn't take for CloudFormation) or when a suppression has no reason; 2 on usage
# errors. cfn-lint's informational findings (I....) are printed but don't fail the run.
#
# The tools come from the pinned venv (tests/support/lint-requirements.txt, built once by tests/support/venv.sh,
# ~50 s the first time). Both run offline and deterministically:
#   - cfn-lint ships its schemas and never downloads them unless given --update-specs; regions are pinned
#     (CFN_LINT_REGIONS, default us-east-1) instead of following AWS_REGION / AWS_DEFAULT_REGION.
#   - checkov gets --skip-download plus BC_SKIP_MAPPING=TRUE (no platform policy metadata / mapping download) and
#     CKV_SKIP_PACKAGE_UPDATE_CHECK=true (no PyPI "update available" query at start-up).
#   - both run with a clean environment (so BC_API_KEY, CKV_CHECK, CKV_SKIP_CHECK, CKV_FRAMEWORK, AWS_* ... from
#     the caller's shell change nothing) from an empty working and home directory (so no stray .cfnlintrc or
#     .checkov.yaml is picked up).
#
# Suppressions live in each resource's Metadata, each with a written reason (see audit.py):
#   "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_120", "comment": "why"}]},
#                "cfn-lint": {"config": {"ignore_checks": ["W3005"]}, "reasons": {"W3005": "why"}}}
set -uo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 TEMPLATE_DIR" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
support=$(dirname "$here")
dir=$(cd "$1" && pwd)

venv=$("$support/venv.sh" lint "$support/lint-requirements.txt" --no-deps) || {
  echo "lint.sh: could not build the lint venv" >&2
  exit 1
}

templates=()
while IFS= read -r -d '' f; do templates+=("$f"); done < <(
  find "$dir" -maxdepth 1 -type f \( -name '*.json' -o -name '*.yaml' -o -name '*.yml' \) -print0 | LC_ALL=C sort -z)
if [ ${#templates[@]} -eq 0 ]; then
  echo "lint.sh: no *.json/*.yaml templates in $dir" >&2
  exit 2
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/home" "$scratch/cwd"
# The tools run on copies in an otherwise empty directory, so findings name files relative to TEMPLATE_DIR
# and no config file in or above it is read.
names=()
for t in "${templates[@]}"; do cp "$t" "$scratch/cwd/"; names+=("$(basename "$t")"); done
clean_env=(env -i "PATH=$venv/bin:/usr/bin:/bin" "HOME=$scratch/home" "LANG=C.UTF-8" "LC_ALL=C.UTF-8"
  "PYTHONDONTWRITEBYTECODE=1" "NO_COLOR=1")

status=0

echo "== linting ${#templates[@]} templates in $dir: ${names[*]}"
version() { "$venv/bin/python" -c 'import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))' "$1"; }
echo "== cfn-lint $(version cfn-lint)"
# -c I: also report informational rules; --non-zero-exit-code warning: errors and warnings fail, informational don't.
(cd "$scratch/cwd" && "${clean_env[@]}" "$venv/bin/cfn-lint" --format parseable --include-checks I \
  --non-zero-exit-code warning --regions ${CFN_LINT_REGIONS:-us-east-1} -- "${names[@]}")
rc=$?
if [ $rc -ne 0 ]; then echo "cfn-lint: FAILED (exit $rc)"; status=1; else echo "cfn-lint: ok"; fi

echo "== checkov $(version checkov)"
files=()
for n in "${names[@]}"; do files+=(-f "$n"); done
(cd "$scratch/cwd" && "${clean_env[@]}" BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true CKV_PARSE_ERROR_FAIL=true \
  "$venv/bin/checkov" --framework cloudformation --skip-download --quiet --compact "${files[@]}" \
  -o cli -o json --output-file-path "console,$scratch/checkov.json")
rc=$?
if [ $rc -ne 0 ]; then echo "checkov: FAILED (exit $rc)"; status=1; else echo "checkov: ok"; fi

echo "== suppressions and coverage"
(cd "$scratch/cwd" && "${clean_env[@]}" "$venv/bin/python" "$here/audit.py" --checkov-report "$scratch/checkov.json" "${names[@]}")
rc=$?
if [ $rc -ne 0 ]; then echo "audit: FAILED (exit $rc)"; status=1; else echo "audit: ok"; fi

exit $status
