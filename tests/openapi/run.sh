#!/usr/bin/env bash
# The HTTP API against its OpenAPI document: starts the all-in-one stack
# (SQLite, demo offices) and runs schemathesis over every operation of
# /api/v1/openapi.json. Fails on any server error (5xx) and on any answer
# whose status, content type, headers or body the document does not allow.
#
# Rate limits are off so every generated request reaches the handlers; the
# staff operations run with a staff API token (schemathesis.toml). AMTSTERMIN_OPENAPI_PORT
# (default 28180) moves the stack; AMTSTERMIN_OPENAPI_EXAMPLES sets the
# cases per operation (default 100).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${TMPDIR:-/tmp}/amtstermin-schemathesis"
# Pinned, so a new release cannot turn CI red on its own.
version=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

token="openapi-run-$(date +%s%N)"
export AMTSTERMIN_STAFF_API_TOKEN="$token"
export AMTSTERMIN_SLOT_READS_PER_MINUTE=0 AMTSTERMIN_BOOKINGS_PER_HOUR=0 AMTSTERMIN_LOOKUPS_PER_MINUTE=0
port=${AMTSTERMIN_OPENAPI_PORT:-28180}
source tests/stack.sh

report=$(mktemp -d)
trap 'kill "$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true; rm -rf "$data" "$report"' EXIT
schemathesis() {
  local config=$1
  shift
  "$venv/bin/schemathesis" --no-color --config-file "$config" \
    run "${base}/api/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${AMTSTERMIN_OPENAPI_EXAMPLES:-100}" \
    --seed 1 \
    --workers 1 \
    --report-dir "$report" \
    "$@"
}

status=0
echo "--- every operation"
schemathesis tests/openapi/schemathesis.toml || status=$?

# A real booking on the first free time and a walk-in, for the operations on
# one booking,
# from an address of its own: the first pass has used up the loopback
# client's free attempts before the proof of work.
booking=$(python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
slots = json.load(urllib.request.urlopen(f"{base}/api/v1/offices/bergkamen/slots?concerns=personalausweis"))
start = slots["days"][0]["slots"][0]["start"]
body = json.dumps({"office": "bergkamen", "concerns": ["personalausweis"], "start": start,
                   "name": "Erika Mustermann", "email": "erika@example.org"}).encode()
request = urllib.request.Request(f"{base}/api/v1/bookings", data=body,
                                 headers={"Content-Type": "application/json",
                                          "X-Forwarded-For": "203.0.113.7"})
booking = json.load(urllib.request.urlopen(request))
walk_in = urllib.request.Request(
    f"{base}/api/v1/staff/offices/bergkamen/walk-ins",
    data=json.dumps({"concerns": ["allgemeine-beratung"], "name": "Laufkunde"}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[2]})
print(booking["code"], booking["token"], json.load(urllib.request.urlopen(walk_in))["code"])
PY
)
read -r AMTSTERMIN_OPENAPI_CODE AMTSTERMIN_OPENAPI_TOKEN AMTSTERMIN_OPENAPI_WALK_IN <<<"$booking"
export AMTSTERMIN_OPENAPI_CODE AMTSTERMIN_OPENAPI_TOKEN AMTSTERMIN_OPENAPI_WALK_IN
echo "--- the operations on one booking and one walk-in"
schemathesis tests/openapi/booked.toml --include-path-regex '^/api/v1/(bookings/|staff/)' || status=$?

if [ "$status" -ne 0 ]; then
  echo "--- stack log (last 50 lines)"
  tail -50 "${data}/stack.log"
fi
exit "$status"
