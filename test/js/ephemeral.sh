#!/usr/bin/env bash
# The README's CI example, run as written: a frontend's test job starts an ephemeral Veil with a
# token it chose, runs its client tests against it (here ephemeral.mjs: plain fetch, no
# dependencies), and stops it; nothing is left on disk.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
(cd ../.. && go build -o "$work/veil" ./cmd/veil)
cd "$work"

export VEIL_BOOTSTRAP_TOKEN="ci-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
./veil serve --ephemeral --listen 127.0.0.1:8089 --metrics-listen '' > veil.log 2>&1 &
veil=$!
trap 'kill $veil 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "Veil is running" veil.log && break; sleep 0.1; done
VEIL_URL=http://127.0.0.1:8089 node "$OLDPWD/ephemeral.mjs"

kill -TERM $veil && wait $veil
left=$(ls -A "$work" | grep -v -x -e veil -e veil.log || true)
rm -rf "$work"
[ -z "$left" ] || { echo "FAIL the ephemeral instance left files: $left" >&2; exit 1; }
echo "ok ephemeral: nothing left on disk"
