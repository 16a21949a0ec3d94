#!/usr/bin/env bash
# Cached rendition serving: requests/s of one stored rendition through `veil serve` vs the same file
# served by http.FileServer (a 10-line Go program), both measured with wrk over loopback in the same
# run, alternating (Veil, FileServer) `rounds` times; prints each round's ratio and their median.
# Target: ratio >= 0.9.
#
#   bash bench/rendition-serving.sh [seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-16}; rounds=${3:-3}
work=$(mktemp -d /tmp/veil-bench.XXXX)
trap 'kill $vpid $fpid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/veil" ./cmd/veil
mkdir -p "$work/fs"
cat > "$work/fs/main.go" <<'GO'
package main

import (
	"net/http"
	"os"
)

func main() { http.ListenAndServe(os.Args[1], http.FileServer(http.Dir(os.Args[2]))) }
GO
(cd "$work/fs" && go mod init fs >/dev/null 2>&1 && go build -o "$work/fileserver" .)
VEIL_DATA_DIR="$work/data" VEIL_LOG_LEVEL=warn "$work/veil" serve --init --listen 127.0.0.1:18383 --metrics-listen= >"$work/out.log" 2>&1 &
vpid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18383/healthz >/dev/null && break; sleep 0.1; done
tok=$(awk "/^    veil_/ {print \$1}" "$work/out.log"); auth="Authorization: Bearer $tok"
resp=$(curl -s -H "$auth" http://127.0.0.1:18383/graphql -F operations='{"query":"mutation($f: Upload!) { uploadImage(input: {file: $f}) { rendition(spec: \"width-400\") { url } } }","variables":{"f":null}}' \
  -F map='{"0":["variables.f"]}' -F 0=@testdata/corpus/photos/Garden.jpg)
url=$(printf '%s' "$resp" | sed 's/.*"url":"\([^"]*\)".*/\1/')
curl -sf -H "$auth" -o /dev/null "http://127.0.0.1:18383$url"          # generate once
file=$(find "$work/data/media/renditions" -type f | head -1)
"$work/fileserver" 127.0.0.1:18384 "$(dirname "$file")" &
fpid=$!
sleep 0.5
echo "rendition: $url ($(stat -c %s "$file") bytes)"
ratios=()
for round in $(seq "$rounds"); do
  wrk -t2 -c"$conns" -d"${secs}s" -H "$auth" "http://127.0.0.1:18383$url" > "$work/veil.txt"
  wrk -t2 -c"$conns" -d"${secs}s" "http://127.0.0.1:18384/$(basename "$file")" > "$work/fs.txt"
  v=$(awk '/Requests\/sec/ {print $2}' "$work/veil.txt"); f=$(awk '/Requests\/sec/ {print $2}' "$work/fs.txt")
  r=$(echo "$v / $f" | bc -l)
  ratios+=("$r")
  printf 'round %d: veil %s req/s, http.FileServer %s req/s, ratio %.2f\n' "$round" "$v" "$f" "$r"
done
printf 'median ratio %.2f\n' "$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
