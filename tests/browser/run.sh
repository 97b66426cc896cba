#!/usr/bin/env bash
# Browser tests of the public website: starts the all-in-one stack on spare
# ports with fresh SQLite files, drives Debian's Chromium with playwright-core
# and checks every page with axe-core. Screenshots land in
# tests/browser/screenshots/. Installs Chromium (apt) and the npm packages
# when they are missing.
#
# AMTSTERMIN_BROWSER_PORT (default 28080) moves the stack: HTTP on it, gRPC
# on the next two ports. CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! [ -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

# The tests drive the staff API too (the call display).
export AMTSTERMIN_STAFF_API_TOKEN="browser-run-$(date +%s%N)"
# Below the ephemeral range (32768+), where test clients' sockets could sit.
port=${AMTSTERMIN_BROWSER_PORT:-28080}
source tests/stack.sh

cd tests/browser
AMTSTERMIN_BASE_URL="$base" AMTSTERMIN_MAIL_DIR="${data}/mails" node --test --test-concurrency=1
