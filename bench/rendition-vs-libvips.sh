#!/usr/bin/env bash
# First-generation cost of a rendition of the 17.9 MP Elephants JPEG on ONE core: `veil render`
# (the same code path the server runs on a first GET, GOMAXPROCS=1) vs libvips' vipsthumbnail
# (VIPS_CONCURRENCY=1), both pinned to CPU 0 with taskset, timed by hyperfine in the same run; peak
# RSS from /usr/bin/time. Process start-up is included for both (measured separately below).
#
#   bash bench/rendition-vs-libvips.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
work=$(mktemp -d /tmp/veil-bench.XXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/veil" ./cmd/veil
src=${VEIL_LARGE_CORPUS:-../shared/corpus/large}/Elephants_5640x3172.jpg
[ -f "$src" ] || { echo "$src not found: the 16 MB Elephants JPEG is not in the repository; set VEIL_LARGE_CORPUS to its folder" >&2; exit 1; }
export GOMAXPROCS=1 VIPS_CONCURRENCY=1
one="taskset -c 0"
hyperfine -N -w 2 -r "$runs" --export-json "$work/h.json" \
  -n "veil width-400 jpeg"            "$one $work/veil render -spec width-400 $src $work/a.jpg" \
  -n "vips width-400 jpeg"            "$one vipsthumbnail $src -s 400x100000 -o $work/b.jpg[Q=76,strip]" \
  -n "veil fill-300x300 webp"         "$one $work/veil render -spec fill-300x300|format-webp $src $work/c.webp" \
  -n "vips fill-300x300 webp"         "$one vipsthumbnail $src -s 300x300 -m centre -o $work/d.webp[Q=80,strip]" \
  -n "veil start-up (bad spec)"       "$one $work/veil render -spec width-0 $src $work/e.jpg" -i \
  -n "vips start-up (vips --version)" "$one vips --version" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = lambda k: r[k]["median"] * 1000
for k in r: print(f"{k:32s} median {med(k):7.1f} ms  (min {r[k]['min']*1000:.1f}, max {r[k]['max']*1000:.1f})")
for a, b in [("veil width-400 jpeg", "vips width-400 jpeg"), ("veil fill-300x300 webp", "vips fill-300x300 webp")]:
    print(f"ratio {a} / {b}: {med(a)/med(b):.2f}")
PY
for c in "veil render -spec width-400 $src $work/a.jpg" "veil render -spec fill-300x300|format-webp $src $work/c.webp"; do
  /usr/bin/time -f "peak RSS %M KiB: $c" taskset -c 0 $work/$c
done 2>&1 | grep "peak RSS"
for c in "vipsthumbnail $src -s 400x100000 -o $work/b.jpg[Q=76,strip]" "vipsthumbnail $src -s 300x300 -m centre -o $work/d.webp[Q=80,strip]"; do
  /usr/bin/time -f "peak RSS %M KiB: $c" taskset -c 0 $c
done 2>&1 | grep "peak RSS"
