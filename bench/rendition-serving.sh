#!/usr/bin/env bash
# Cached rendition serving: requests/s of stored renditions through `veil serve` (SQLite, folder
# bucket) vs the same file served by http.FileServer (a 10-line Go program), both measured with wrk
# over loopback in the same run, alternating `rounds` times; prints each run's req/s and server CPU
# per request (utime+stime from /proc/PID/stat), each round's ratio and their median.
# Target: ratio >= 0.9.
#
# Three paths, each against http.FileServer on the very file it serves:
#   auth    a private image's rendition with an API token (200, private, no-store; FileServer
#           gets the same Authorization header);
#   public  a published image's rendition, anonymous, proxy-only (200, public, immutable);
#   direct  the same public rendition with VEIL_PUBLIC_STORAGE_URL pointing at the FileServer
#           (which serves the bucket folder, as a front web server would): Veil answers 302 to the
#           direct URL, so its row counts redirects and the FileServer row is the direct fetch.
#
#   bash bench/rendition-serving.sh [seconds] [connections] [rounds]
#
# VEIL_BINS="main=/path/veil branch=/path/veil2" times several Veil builds in the same run (each
# with its own processes on the same data dir; the first one seeds it); by default the working
# tree is built. BENCH_PORT (default 18383) is the first of the loopback ports used.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
secs=${1:-10}; conns=${2:-16}; rounds=${3:-3}
port=${BENCH_PORT:-18383}
work=$(mktemp -d /tmp/veil-bench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export VEIL_SECRET=rendition-serving-bench-secret-0123456789abcdef VEIL_LOG_LEVEL=warn GOMAXPROCS=${GOMAXPROCS:-2}
if [ -z "${VEIL_BINS:-}" ]; then
  go build -o "$work/veil" ./cmd/veil
  VEIL_BINS="veil=$work/veil"
fi
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
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

# Seed with the first build: a private image and a published one, a width-400 rendition of each
# generated once (the published one after publishing, so its file is born public).
first=${VEIL_BINS%% *}; first=${first#*=}
VEIL_DATA_DIR="$work/data" "$first" serve --init --listen 127.0.0.1:$port --metrics-listen= >"$work/seed.log" 2>&1 &
seed=$!; pids+=("$seed")
base=http://127.0.0.1:$port
wait_up $base/healthz
tok=$(awk "/^    veil_/ {print \$1}" "$work/seed.log"); auth="Authorization: Bearer $tok"
gql() { curl -s -H "$auth" -H 'content-type: application/json' $base/graphql -d "$1"; }
upload() { # the same photo in collection $1 ("null": the default one), so both renditions are the same bytes
  curl -s -H "$auth" $base/graphql -F operations='{"query":"mutation($f: Upload!, $c: ID) { uploadImage(input: {file: $f, collectionId: $c}) { id rendition(spec: \"width-400\") { url } } }","variables":{"f":null,"c":'"$1"'}}' \
    -F map='{"0":["variables.f"]}' -F 0=@testdata/corpus/photos/Garden.jpg
}
field() { sed "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/"; }
private_url=$(upload null | field url)
coll=$(gql '{"query":"mutation { createCollection(input: {name: \"published\"}) { id } }"}' | field id)
resp=$(upload "\"$coll\""); public_id=$(printf '%s' "$resp" | field id); public_url=$(printf '%s' "$resp" | field url)
content=$(gql "{\"query\":\"mutation { upsertContent(input: {kind: \\\"page\\\", key: \\\"bench\\\", references: [{mediaId: \\\"$public_id\\\", field: \\\"hero\\\"}]}) { id } }\"}" | field id)
gql "{\"query\":\"mutation { publishContent(id: \\\"$content\\\") { madePublic } }\"}" >/dev/null
curl -sf -H "$auth" -o /dev/null "$base$private_url"
curl -sf -o /dev/null "$base$public_url"
kill "$seed"; wait "$seed" 2>/dev/null || true
key() { # the storage key of a rendition URL's file, found by the URL's image id
  local id; id=$(echo "$1" | cut -d/ -f4)
  (cd "$work/data/media" && find . -path "*$id*" -path '*renditions*' -type f | sed 's|^\./||' | head -1)
}
private_key=$(key "$private_url"); public_key=$(key "$public_url")
echo "private rendition: $private_url → $private_key ($(stat -c '%s bytes, mode %a' "$work/data/media/$private_key"))"
echo "public rendition:  $public_url → $public_key ($(stat -c '%s bytes, mode %a' "$work/data/media/$public_key"))"

declare -A url pid hdr
"$work/fileserver" 127.0.0.1:$((port + 1)) "$work/data/media" &
pid[fs]=$!; pids+=("$!")
fsbase=http://127.0.0.1:$((port + 1))
wait_up "$fsbase/$public_key"
url[fs-auth]=$fsbase/$private_key; url[fs-public]=$fsbase/$public_key; url[fs-direct]=$fsbase/$public_key
hdr[fs-auth]=$auth # the same request as Veil gets (FileServer ignores the header, but reads it)
p=$((port + 2))
names=""
for spec in $VEIL_BINS; do
  name=${spec%%=*}; bin=${spec#*=}
  VEIL_DATA_DIR="$work/data" "$bin" serve --listen 127.0.0.1:$p --metrics-listen= >"$work/$name.log" 2>&1 &
  pid[$name]=$!; pids+=("$!"); wait_up http://127.0.0.1:$p/healthz
  url[$name-auth]=http://127.0.0.1:$p$private_url; hdr[$name-auth]=$auth
  url[$name-public]=http://127.0.0.1:$p$public_url; hdr[$name-public]=
  VEIL_PUBLIC_STORAGE_URL=$fsbase/ VEIL_DATA_DIR="$work/data" "$bin" serve --listen 127.0.0.1:$((p + 1)) --metrics-listen= >"$work/$name-direct.log" 2>&1 &
  pid[$name-direct]=$!; pids+=("$!"); wait_up http://127.0.0.1:$((p + 1))/healthz
  url[$name-direct]=http://127.0.0.1:$((p + 1))$public_url; hdr[$name-direct]=
  p=$((p + 2)); names="$names $name"
done

# Each path answers as it should before it is timed.
for n in $names; do
  for m in auth public direct; do
    out=$(curl -s -o /dev/null -D - ${hdr[$n-$m]:+-H "${hdr[$n-$m]}"} "${url[$n-$m]}" | tr -d '\r')
    status=$(echo "$out" | awk 'NR==1 {print $2}')
    want=200; [ $m = direct ] && want=302
    [ "$status" = $want ] || { echo "$n $m: status $status, want $want"; echo "$out"; exit 1; }
  done
  loc=$(curl -s -o /dev/null -w '%{redirect_url}' "${url[$n-direct]}")
  [ "$loc" = "${url[fs-direct]}" ] || { echo "$n direct: redirects to $loc, want ${url[fs-direct]}"; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() { # name mode → "req/s cpu_us_per_req"
  local n=$1 m=$2 p before after out reqs rps
  p=${pid[$n]}; [ $m = direct ] && [ $n != fs ] && p=${pid[$n-direct]}
  before=$(ticks "$p")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" ${hdr[$n-$m]:+-H "${hdr[$n-$m]}"} "${url[$n-$m]}")
  after=$(ticks "$p")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  if [ $m != direct ] || [ $n = fs ]; then
    if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers from $n $m" >&2; exit 1; fi
  fi
  echo "$rps $(( (after - before) * 1000000 / hz / reqs ))"
}
: >"$work/results"
for r in $(seq "$rounds"); do
  for m in auth public direct; do
    for n in fs $names; do
      res=$(run "$n" "$m")
      read -r rps cpu <<<"$res"
      echo "round $r $m $n: $rps req/s, $cpu µs CPU/req"
      echo "$r $m $n $res" >>"$work/results"
    done
  done
done
python3 - "$work/results" $names <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = sys.argv[2:]
def get(m, n, i):
    return [float(r[i]) for r in rows if r[1] == m and r[2] == n]
print(f"\n{'path':6} {'server':10} {'req/s median':>13} {'CPU µs/req':>11}  per-round ratio to http.FileServer (median)")
for m in ("auth", "public", "direct"):
    for n in ["fs"] + names:
        line = f"{m:6} {n:10} {statistics.median(get(m, n, 3)):13.0f} {statistics.median(get(m, n, 4)):11.0f}"
        if n != "fs":
            rat = [x / y for x, y in zip(get(m, n, 3), get(m, "fs", 3))]
            line += f"  {' '.join(f'{x:.2f}' for x in rat)} (median {statistics.median(rat):.2f})"
        print(line)
PY
