#!/usr/bin/env bash
# Creates (once) a Python virtual environment from a pinned requirements file and prints its path.
#
#   tests/support/venv.sh NAME REQUIREMENTS_FILE [--no-deps]
#
# The venv lives under ${BOTPUB_CACHE:-$HOME/.cache/botpub}/venvs/NAME-<hash of the file>, so a changed pin
# builds a fresh one and an unchanged pin costs nothing. A venv is marked complete only after pip succeeds,
# so an interrupted install is redone rather than half-used; concurrent callers wait for one another.
# The mark records where the venv was built: its scripts' `#!` lines name that path, so a venv copied or
# moved from elsewhere (another cache, another machine's home) would fail to start them, and is rebuilt.
set -euo pipefail
name=$1 req=$2 nodeps=${3:-}
cache=${BOTPUB_CACHE:-$HOME/.cache/botpub}
hash=$(sha256sum "$req" | cut -c1-12)
mkdir -p "$cache/venvs"
# The real path, so a cache whose venvs folder links to another's shares its venvs rather than rebuilding.
dir="$(realpath "$cache/venvs")/$name-$hash"
# One creator at a time: tests running side by side may all ask for the same venv on a fresh machine.
exec 9>"$cache/venvs/$name-$hash.lock"
flock 9
if [ "$(cat "$dir/.complete" 2>/dev/null)" != "$dir" ]; then
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check $nodeps -r "$req" >&2
  echo "$dir" >"$dir/.complete"
fi
echo "$dir"
