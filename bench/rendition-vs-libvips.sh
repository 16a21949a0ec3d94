#!/usr/bin/env bash
# First-generation cost of a rendition of the 17.9 MP Elephants JPEG on ONE core: `veil render`
# (the same code path the server runs on a first GET, GOMAXPROCS=1) vs libvips' vipsthumbnail
# (VIPS_CONCURRENCY=1), both pinned to CPU 0 with taskset, timed by hyperfine in the same run; peak
# RSS from /usr/bin/time. Process start-up is included for both (measured separately below).
#
#   bash bench/rendition-vs-libvips.sh [runs]
#
# With "memory" first, it makes instead the per-source table of issue 10 (time and peak memory,
# whole process, one core): width-400 → JPEG of the progressive Elephants and of three sources
# derived from it in a temporary folder (a baseline copy made losslessly by jpegtran, a 24 MP
# PNG and a 16 MP lossy WebP, both made by vips), each command run under /usr/bin/time,
# Veil and vipsthumbnail interleaved, medians of wall time, CPU (user+sys) and peak RSS:
#
#   bash bench/rendition-vs-libvips.sh memory [runs]
#
# VEIL_BIN names a veil binary to measure instead of building this checkout (e.g. one built
# from main, for a before/after table).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=time
if [ "${1:-}" = memory ]; then mode=memory; shift; fi
runs=${1:-15}
work=$(mktemp -d /tmp/veil-bench.XXXX)
trap 'rm -rf "$work"' EXIT
# The binary is always copied into place: one written by the Go linker itself has its page-cache
# pages in large folios, and every page a process touches then brings its whole folio into the
# process's RSS (seen: `veil version` peaks at 70 MiB run from the linker's output, 42 MiB from a
# cp of it), which would count against Veil in the memory table.
if [ -n "${VEIL_BIN:-}" ]; then cp "$VEIL_BIN" "$work/veil"; else go build -o "$work/veil.built" ./cmd/veil && cp "$work/veil.built" "$work/veil"; fi
src=${VEIL_LARGE_CORPUS:-../shared/corpus/large}/Elephants_5640x3172.jpg
[ -f "$src" ] || { echo "$src not found: the 16 MB Elephants JPEG is not in the repository; set VEIL_LARGE_CORPUS to its folder" >&2; exit 1; }
export GOMAXPROCS=1 VIPS_CONCURRENCY=1
if [ "$mode" = memory ]; then
  command -v jpegtran >/dev/null || { echo "jpegtran not found (Debian: libjpeg-turbo-progs)" >&2; exit 1; }
  jpegtran -copy all -optimize "$src" >"$work/baseline.jpg" # same coefficients, one scan per component
  vips resize "$src" "$work/big.v" 1.2611 --kernel lanczos3
  vips extract_area "$work/big.v" "$work/png24.png" 0 0 6000 4000 && rm "$work/big.v"
  vips resize "$src" "$work/webp16.webp[Q=80,strip]" 0.945745 --kernel lanczos3 # 5334x3000
  one="taskset -c 0"
  for i in $(seq 0 "$runs"); do # run 0 is a warm-up, not counted
    for f in "$src" "$work/baseline.jpg" "$work/png24.png" "$work/webp16.webp"; do
      n=$(basename "$f")
      /usr/bin/time -f "$i $n veil %e %U %S %M" $one "$work/veil" render -spec width-400 "$f" "$work/o.jpg" >/dev/null 2>>"$work/times"
      /usr/bin/time -f "$i $n vips %e %U %S %M" $one vipsthumbnail "$f" -s 400x100000 -o "$work/p.jpg[Q=76,strip]" 2>>"$work/times"
    done
  done
  python3 - "$work/times" <<'PY'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 7 or not f[0].isdigit() or f[0] == "0":
        continue
    rows.setdefault((f[1], f[2]), []).append((float(f[3]) * 1000, (float(f[4]) + float(f[5])) * 1000, int(f[6]) / 1024))
print("| source (width-400 → JPEG) | Veil wall ms | vips wall ms | Veil CPU ms | vips CPU ms | CPU ratio | Veil peak RSS MiB | vips peak RSS MiB | RSS ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for n in dict.fromkeys(k[0] for k in rows):
    v, b = rows[(n, "veil")], rows[(n, "vips")]
    m = lambda r, i: st.median(x[i] for x in r)
    print(f"| {n} | {m(v,0):.0f} | {m(b,0):.0f} | {m(v,1):.0f} | {m(b,1):.0f} | {m(v,1)/m(b,1):.2f} | {m(v,2):.0f} | {m(b,2):.0f} | {m(v,2)/m(b,2):.2f} |")
print(f"(medians of {len(v)} interleaved runs each after one warm-up, GOMAXPROCS=1 VIPS_CONCURRENCY=1 taskset -c 0; CPU = user+sys)")
PY
  exit 0
fi
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
