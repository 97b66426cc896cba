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

cargo build --bin amtstermin
binary="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/amtstermin"
data=$(mktemp -d)
# Below the ephemeral range (32768+), where test clients' sockets could sit.
port=${AMTSTERMIN_BROWSER_PORT:-28080}
base="http://127.0.0.1:${port}"
AMTSTERMIN_DATABASE_URL="sqlite:${data}/bookings.db" \
AMTSTERMIN_AVAILABILITY_DATABASE_URL="sqlite:${data}/availability.db" \
AMTSTERMIN_MAIL_TRANSPORT="file:${data}/mails" \
AMTSTERMIN_PUBLIC_URL="$base" \
  "$binary" \
    --http-listen "127.0.0.1:${port}" \
    --availability-listen "127.0.0.1:$((port + 1))" \
    --booking-listen "127.0.0.1:$((port + 2))" \
    >"${data}/stack.log" 2>&1 &
stack=$!
trap 'kill "$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true; rm -rf "$data"' EXIT

for _ in $(seq 1 100); do
  if curl -sf "${base}/api/v1/offices/bergkamen/slots?concerns=personalausweis" >/dev/null; then
    break
  fi
  sleep 0.2
done
curl -sf "${base}/api/v1/offices/bergkamen/slots?concerns=personalausweis" >/dev/null \
  || { echo "the stack did not come up:"; cat "${data}/stack.log"; exit 1; }

cd tests/browser
AMTSTERMIN_BASE_URL="$base" AMTSTERMIN_MAIL_DIR="${data}/mails" node --test --test-concurrency=1
