# Sourced by the browser and OpenAPI runs: builds the all-in-one binary and
# starts it on spare ports with fresh SQLite files and the demo offices.
# In: $port (HTTP; gRPC on the next two). Out: $base, $data (removed on
# exit), $binary. Extra settings come from the caller's AMTSTERMIN_…
# variables; AMTSTERMIN_DATABASE_URL and AMTSTERMIN_AVAILABILITY_DATABASE_URL
# replace the SQLite files (e.g. with PostgreSQL databases).
cargo build --bin amtstermin
binary="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/amtstermin"
data=$(mktemp -d)
base="http://127.0.0.1:${port}"
AMTSTERMIN_DATABASE_URL="${AMTSTERMIN_DATABASE_URL:-sqlite:${data}/bookings.db}" \
AMTSTERMIN_AVAILABILITY_DATABASE_URL="${AMTSTERMIN_AVAILABILITY_DATABASE_URL:-sqlite:${data}/availability.db}" \
AMTSTERMIN_MAIL_TRANSPORT="file:${data}/mails" \
AMTSTERMIN_PUBLIC_URL="$base" \
NO_COLOR=1 \
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
