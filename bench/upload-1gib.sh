#!/usr/bin/env bash
# Upload throughput of a 1 GiB document through Veil vs `cp` of the same file on the same disk, and
# the server's peak RSS (VmHWM) during the upload. Each Veil run uses a fresh process and data dir.
#
#   bash bench/upload-1gib.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=${BENCH_DIR:-$(mktemp -d /work/veil-bench.XXXX)}
trap 'pkill -f "$work/veil serve" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/veil.built" ./cmd/veil && cp "$work/veil.built" "$work/veil" # copied: see bench/rendition-vs-libvips.sh (RSS)
src="$work/big.pdf"
# A PDF header followed by incompressible bytes: sniffed as application/pdf.
{ printf '%%PDF-1.7\n'; head -c $((1024*1024*1024 - 9)) /dev/urandom; } > "$src"
size=$(stat -c %s "$src")
ops='{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize sha256 } }","variables":{"f":null}}'

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

veil_times=(); rss=(); cp_times=()
for i in $(seq "$runs"); do
  rm -rf "$work/data"
  VEIL_DATA_DIR="$work/data" "$work/veil" serve --init --listen 127.0.0.1:18181 --metrics-listen= >"$work/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18181/healthz >/dev/null && break; sleep 0.1; done
  tok=$(awk "/^    veil_/ {print \$1}" "$work/out.log"); auth="Authorization: Bearer $tok"
  start=$(date +%s.%N)
  resp=$(curl -sS -H "$auth" http://127.0.0.1:18181/graphql -F operations="$ops" -F map='{"0":["variables.f"]}' -F "0=@$src;type=application/pdf")
  end=$(date +%s.%N)
  echo "$resp" | grep -q "\"fileSize\":$size" || { echo "upload failed: $resp" >&2; exit 1; }
  veil_times+=("$(echo "$end - $start" | bc -l)")
  rss+=("$(awk '/VmHWM/ {print $2}' /proc/$pid/status)")
  kill -TERM "$pid"; wait "$pid" || true
  sync
  sync; start=$(date +%s.%N); cp "$src" "$work/copy.pdf"; end=$(date +%s.%N); sync
  cp_times+=("$(echo "$end - $start" | bc -l)"); rm -f "$work/copy.pdf"
done
v=$(printf '%s\n' "${veil_times[@]}" | median); c=$(printf '%s\n' "${cp_times[@]}" | median)
r=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
printf 'runs: %s\nveil upload seconds: %s (median %s, %.0f MiB/s)\ncp seconds:          %s (median %s, %.0f MiB/s)\nratio veil/cp (median): %.2f\nserver peak RSS (VmHWM, max of runs): %s KiB = %.1f MiB\n' \
  "$runs" "${veil_times[*]}" "$v" "$(echo "1024 / $v" | bc -l)" "${cp_times[*]}" "$c" "$(echo "1024 / $c" | bc -l)" "$(echo "$v / $c" | bc -l)" "$r" "$(echo "$r / 1024" | bc -l)"
