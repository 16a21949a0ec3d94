#!/usr/bin/env bash
# images(first: 50) with every scalar field, tags and collection, measured with wrk from a separate
# process against a fresh `veil serve` on SQLite (or Postgres with VEIL_DATABASE_URL set) holding
# 60 images.
#
#   bash bench/images-first50.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-8}
work=$(mktemp -d /tmp/veil-bench.XXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/veil.built" ./cmd/veil && cp "$work/veil.built" "$work/veil" # copied: see bench/rendition-vs-libvips.sh (RSS)
VEIL_DATA_DIR="$work/data" VEIL_LOG_LEVEL=warn "$work/veil" serve --init --listen 127.0.0.1:18282 --metrics-listen= >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18282/healthz >/dev/null && break; sleep 0.1; done
tok=$(awk "/^    veil_/ {print \$1}" "$work/out.log"); auth="Authorization: Bearer $tok"
ops='{"query":"mutation($f: Upload!, $c: ID) { uploadImage(input: {file: $f, collectionId: $c, tags: [\"a\",\"b\"]}) { id } }","variables":{"f":null,"c":null}}'
# Same bytes into 60 collections (not duplicates: duplicates are per collection).
for i in $(seq 60); do
  c=$(curl -s -H "$auth" http://127.0.0.1:18282/graphql -H 'content-type: application/json' \
    -d "{\"query\":\"mutation { createCollection(input:{name:\\\"c$i\\\"}) { id } }\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  curl -s -H "$auth" http://127.0.0.1:18282/graphql -F operations="${ops/\"c\":null/\"c\":\"$c\"}" -F map='{"0":["variables.f"]}' \
    -F 0=@testdata/corpus/webp/vnc-d.webp >/dev/null
done
q='{ images(first: 50) { nodes { id title alt filename url fileSize contentType sha256 width height privacy createdAt updatedAt focalPoint { x y width height } tags collection { id name } } pageInfo { hasNextPage endCursor } } }'
body=$(printf '{"query":%s}' "$(printf '%s' "$q" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')")
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tok"
LUA
curl -s -H "$auth" http://127.0.0.1:18282/graphql -H 'content-type: application/json' -d "$body" | head -c 200 || true; echo
wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" http://127.0.0.1:18282/graphql
