#!/usr/bin/env bash
# images(first: 50) on Veil against the hand-written baseline (main.go beside this script) on the
# same database (SQLite, or Postgres with BENCH_POSTGRES_URL), under wrk from a separate process:
#
#   - seeds a fresh data dir (60 images in 60 collections, two tags each);
#   - starts Veil and the baseline, and compares their answers byte for byte (full and lean query);
#   - alternates Veil and the baseline, rounds times, each run secs seconds with conns connections;
#   - prints per run req/s and server CPU per request (utime+stime of the server process from
#     /proc/PID/stat; on Postgres also the CPU of that server's Postgres backends, found by
#     application_name), then the medians and the Veil/baseline ratio of the medians.
#
#   bash bench/list-vs-handwritten/run.sh [secs] [conns] [rounds]
#
# VEIL_BINS="old=/path/veil new=/path/veil2" times several Veil builds in the same run (each
# against the same baseline, on the same data dir; the first one seeds it); by default the
# working tree is built.
#
# BENCH_PORT (default 18290) is the first of the loopback ports used (seed, then one per server),
# so that two runs on one machine do not answer each other's requests.
#
# BENCH_POSTGRES_URL=postgres://user@host/db?sslmode=disable runs everything on Postgres instead:
# a fresh schema in that database (created with psql, dropped at the end) holds the data.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
secs=${1:-5}; conns=${2:-8}; rounds=${3:-3}
port0=${BENCH_PORT:-18290}
work=$(mktemp -d /tmp/veil-list-bench.XXXX)
pids=()
schema=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$schema" ] && psql -q "$BENCH_POSTGRES_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
dburl="sqlite:$work/data/veil.db"
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  schema=veilbench_$$
  psql -q "$BENCH_POSTGRES_URL" -c "CREATE SCHEMA $schema"
  sep='?'; [[ "$BENCH_POSTGRES_URL" == *\?* ]] && sep='&'
  dburl="$BENCH_POSTGRES_URL${sep}search_path=$schema"
fi
export VEIL_DATABASE_URL=$dburl
export VEIL_SECRET=list-vs-handwritten-bench-secret-0123456789abcdef
if [ -z "${VEIL_BINS:-}" ]; then
  go build -o "$work/veil" ./cmd/veil
  VEIL_BINS="veil=$work/veil"
fi
go build -o "$work/baseline" ./bench/list-vs-handwritten

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

# Seed with the first build.
first=${VEIL_BINS%% *}; first=${first#*=}
VEIL_DATA_DIR="$work/data" VEIL_LOG_LEVEL=warn "$first" serve --init --listen 127.0.0.1:$port0 --metrics-listen= >"$work/seed.log" 2>&1 &
seed=$!; pids+=("$seed")
wait_up http://127.0.0.1:$port0/healthz
tok=$(awk '/^    veil_/ {print $1}' "$work/seed.log"); auth="Authorization: Bearer $tok"
ops='{"query":"mutation($f: Upload!, $c: ID) { uploadImage(input: {file: $f, collectionId: $c, tags: [\"a\",\"b\"]}) { id } }","variables":{"f":null,"c":null}}'
for i in $(seq 60); do
  c=$(curl -s -H "$auth" http://127.0.0.1:$port0/graphql -H 'content-type: application/json' \
    -d "{\"query\":\"mutation { createCollection(input:{name:\\\"c$i\\\"}) { id } }\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  curl -s -H "$auth" http://127.0.0.1:$port0/graphql -F operations="${ops/\"c\":null/\"c\":\"$c\"}" -F map='{"0":["variables.f"]}' \
    -F 0=@testdata/corpus/webp/vnc-d.webp >/dev/null
done
kill "$seed"; wait "$seed" 2>/dev/null || true

full='{ images(first: 50) { nodes { id title alt filename url fileSize contentType sha256 width height privacy createdAt updatedAt focalPoint { x y width height } tags collection { id name } rendition(spec: \"width-400\") { url } } pageInfo { hasNextPage endCursor } } }'
lean='{ images(first: 50) { nodes { id title url } } }'
for q in full lean; do
  printf '{"query":"%s"}' "${!q}" >"$work/$q.json"
  cat >"$work/$q.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$work/$q.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tok"
LUA
done

# Start every server (on Postgres, each one's connections named after it).
appurl() { if [ -n "$schema" ]; then echo "$dburl&application_name=$1"; else echo "$dburl"; fi; }
declare -A url pid
port=$((port0 + 1))
for spec in $VEIL_BINS; do
  name=${spec%%=*}; bin=${spec#*=}
  VEIL_DATABASE_URL=$(appurl "$name") VEIL_DATA_DIR="$work/data" VEIL_LOG_LEVEL=warn GOMAXPROCS=${GOMAXPROCS:-2} "$bin" serve --listen 127.0.0.1:$port --metrics-listen= >"$work/$name.log" 2>&1 &
  pid[$name]=$!; pids+=("$!"); url[$name]=http://127.0.0.1:$port/graphql
  wait_up http://127.0.0.1:$port/healthz
  port=$((port + 1))
done
BASELINE_TOKEN=$tok "$work/baseline" -db "$(appurl baseline)" -listen 127.0.0.1:$port >"$work/baseline.log" 2>&1 &
pid[baseline]=$!; pids+=("$!"); url[baseline]=http://127.0.0.1:$port
wait_up http://127.0.0.1:$port/healthz
cat "$work/baseline.log"
names="${VEIL_BINS// /$'\n'}"; names=$(echo "$names" | sed 's/=.*//' | tr '\n' ' ')

# Same bytes, or no timing.
for q in full lean; do
  curl -s -H "$auth" -H 'content-type: application/json' --data-binary @"$work/$q.json" "${url[baseline]}/$q" >"$work/baseline.$q.out"
  for n in $names; do
    curl -s -H "$auth" -H 'content-type: application/json' --data-binary @"$work/$q.json" "${url[$n]}" >"$work/$n.$q.out"
    if ! cmp -s "$work/$n.$q.out" "$work/baseline.$q.out"; then
      echo "MISMATCH $n vs baseline on the $q query:"; head -c 600 "$work/$n.$q.out"; echo; head -c 600 "$work/baseline.$q.out"; echo
      exit 1
    fi
  done
  echo "$q: byte-identical ($(wc -c <"$work/baseline.$q.out") bytes): $(head -c 160 "$work/baseline.$q.out")…"
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
dbticks() { # CPU ticks of the Postgres backends of server $1 (0 on SQLite)
  [ -z "$schema" ] && { echo 0; return; }
  local t=0 p
  for p in $(psql -Atq "$BENCH_POSTGRES_URL" -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
hz=$(getconf CLK_TCK)
run() { # name query → "req/s cpu_us_per_req"
  local name=$1 q=$2 target=${url[$1]} before after out reqs rps
  [ "$name" = baseline ] && target="$target/$q"
  before=$(ticks "${pid[$name]}"); dbbefore=$(dbticks "$name")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$work/$q.lua" "$target")
  after=$(ticks "${pid[$name]}"); dbafter=$(dbticks "$name")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers from $name" >&2; exit 1; fi
  echo "$rps $(( (after - before) * 1000000 / hz / reqs )) $(( (dbafter - dbbefore) * 1000000 / hz / reqs ))"
}
: >"$work/results"
for r in $(seq "$rounds"); do
  for q in full lean; do
    for n in $names baseline; do
      res=$(run "$n" "$q")
      read -r rps cpu dbcpu <<<"$res"
      echo "round $r $q $n: $rps req/s, $cpu µs CPU/req, $dbcpu µs database CPU/req"
      echo "$q $n $res" >>"$work/results"
    done
  done
done
python3 - "$work/results" $names <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = sys.argv[2:]
print(f"\nmedians of {len(rows) // (2 * (len(names) + 1))} rounds")
print(f"{'query':5} {'server':10} {'req/s':>9} {'CPU µs/req':>11} {'DB CPU µs/req':>14} {'× baseline req/s':>17}")
for q in ("full", "lean"):
    med = {}
    for n in names + ["baseline"]:
        rs = [float(r[2]) for r in rows if r[0] == q and r[1] == n]
        cpu = [float(r[3]) for r in rows if r[0] == q and r[1] == n]
        dbcpu = [float(r[4]) for r in rows if r[0] == q and r[1] == n]
        med[n] = (statistics.median(rs), statistics.median(cpu), statistics.median(dbcpu))
    for n in names + ["baseline"]:
        print(f"{q:5} {n:10} {med[n][0]:9.0f} {med[n][1]:11.0f} {med[n][2]:14.0f} {med[n][0] / med['baseline'][0]:17.2f}")
    # Per-round ratios (same round, adjacent runs), their median.
    for n in names:
        a = [float(r[2]) for r in rows if r[0] == q and r[1] == n]
        b = [float(r[2]) for r in rows if r[0] == q and r[1] == "baseline"]
        rat = [x / y for x, y in zip(a, b)]
        print(f"{q:5} {n:10} per-round ratios {' '.join(f'{x:.2f}' for x in rat)} (median {statistics.median(rat):.2f})")
PY
