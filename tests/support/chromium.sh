#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing and prints its path.
#
#   tests/support/chromium.sh
#
# The browser tests drive it through Playwright's `executable_path`: Playwright's own browser downloads are
# not used. One installer at a time: test jobs run side by side may all ask on a fresh machine, and
# apt/dpkg take their own locks, which a second caller would fail on rather than wait for.
set -euo pipefail
bin=/usr/bin/chromium
cache=${BOTPUB_CACHE:-$HOME/.cache/botpub}
mkdir -p "$cache"
exec 9>"$cache/chromium.lock"
flock -w 900 9 || { echo "chromium.sh: timed out waiting for $cache/chromium.lock" >&2; exit 1; }
if [ ! -x "$bin" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The package lists of a fresh machine may be empty or old: read them once before installing.
  if ! apt-get install -y --no-install-recommends chromium >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends chromium >&2
  fi
fi
[ -x "$bin" ] || { echo "chromium.sh: $bin is still missing after apt-get install chromium" >&2; exit 1; }
echo "$bin"
