#!/usr/bin/env bash
# Resumable (tus) upload of a 1 GiB document in 8 MiB PATCHes, against a GraphQL multipart upload
# of the same file and `cp` of it on the same disk, in the same run; and the server's peak RSS
# (VmHWM) during each upload. Each Veil run uses a fresh process and data dir. The tus client is
# curl: one POST, then one PATCH per 8 MiB chunk read with dd and streamed (-T -, chunked):
# curl's --data-binary @- would first read each chunk into memory, slowly (~0.3 s per 8 MiB here),
# which measured curl rather than Veil.
#
#   bash bench/tus-1gib.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=${BENCH_DIR:-$(mktemp -d /work/veil-bench.XXXX)}
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/veil.built" ./cmd/veil && cp "$work/veil.built" "$work/veil" # copied: see bench/rendition-vs-libvips.sh (RSS)
src="$work/big.pdf"
{ printf '%%PDF-1.7\n'; head -c $((1024*1024*1024 - 9)) /dev/urandom; } > "$src"
size=$(stat -c %s "$src")
chunk=$((8 << 20))
ops='{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize } }","variables":{"f":null}}'
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }

start_veil() {
  rm -rf "$work/data"
  VEIL_DATA_DIR="$work/data" "$work/veil" serve --init --listen 127.0.0.1:18182 --metrics-listen= >"$work/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18182/healthz >/dev/null && break; sleep 0.1; done
  tok=$(awk "/^    veil_/ {print \$1}" "$work/out.log"); auth="Authorization: Bearer $tok"
}
# server_secs sums the durations the access log recorded for requests to /uploads/: the time
# Veil spent, without the client's per-chunk process start-ups.
server_secs() {
  grep 'path=/uploads/' "$work/out.log" | sed -n 's/.*duration=\([0-9.]*\)\([a-zµ]*\).*/\1 \2/p' |
    awk '{m = ($2=="s") ? 1 : ($2=="ms") ? 0.001 : ($2=="µs") ? 0.000001 : ($2=="m") ? 60 : 0; t += $1*m} END {printf "%.2f", t}'
}
stop_veil() { rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status); kill -TERM "$pid"; wait "$pid" || true; pid=; }

tus_t=(); tus_srv=(); tus_rss=(); mp_t=(); mp_rss=(); cp_t=()
for i in $(seq "$runs"); do
  start_veil
  t0=$(now)
  loc=$(curl -sS -D - -o /dev/null -X POST -H "$auth" -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $size" \
    -H "Upload-Metadata: filename $(printf big.pdf | base64)" http://127.0.0.1:18182/uploads/ | tr -d '\r' | sed -n 's/^Location: //Ip')
  off=0; n=0
  while [ "$off" -lt "$size" ]; do
    hdr=$(dd if="$src" bs=$chunk skip=$n count=1 status=none | curl -sS -D - -o /dev/null -X PATCH -H "$auth" -H "Tus-Resumable: 1.0.0" \
      -H "Upload-Offset: $off" -H "Content-Type: application/offset+octet-stream" -H "Expect:" -T - "$loc" | tr -d '\r')
    off=$(echo "$hdr" | sed -n 's/^Upload-Offset: //Ip'); n=$((n + 1))
  done
  t1=$(now)
  echo "$hdr" | grep -qi '^Upload-Result: doc_' || { echo "tus upload failed: $hdr" >&2; exit 1; }
  tus_srv+=("$(server_secs)")
  stop_veil; tus_t+=("$(echo "$t1 - $t0" | bc -l)"); tus_rss+=("$rss")

  start_veil
  t0=$(now)
  resp=$(curl -sS -H "$auth" http://127.0.0.1:18182/graphql -F operations="$ops" -F map='{"0":["variables.f"]}' -F "0=@$src;type=application/pdf")
  t1=$(now)
  echo "$resp" | grep -q "\"fileSize\":$size" || { echo "multipart upload failed: $resp" >&2; exit 1; }
  stop_veil; mp_t+=("$(echo "$t1 - $t0" | bc -l)"); mp_rss+=("$rss")

  sync; t0=$(now); cp "$src" "$work/copy.pdf"; sync; t1=$(now); rm -f "$work/copy.pdf"
  cp_t+=("$(echo "$t1 - $t0" | bc -l)")
done
tv=$(printf '%s\n' "${tus_t[@]}" | median); mv=$(printf '%s\n' "${mp_t[@]}" | median); cv=$(printf '%s\n' "${cp_t[@]}" | median)
printf 'runs: %s (1 GiB document)\n' "$runs"
printf 'tus, 8 MiB PATCHes: %s s (median %.2f s, %.0f MiB/s), ratio to cp %.2f, peak RSS max %s KiB\n' "${tus_t[*]}" "$tv" "$(echo "1024 / $tv" | bc -l)" "$(echo "$tv / $cv" | bc -l)" "$(printf '%s\n' "${tus_rss[@]}" | sort -n | tail -1)"
ts=$(printf '%s\n' "${tus_srv[@]}" | median)
printf 'tus, server time only (sum of /uploads/ request durations): %s s (median %.2f s, %.0f MiB/s), ratio to cp %.2f\n' "${tus_srv[*]}" "$ts" "$(echo "1024 / $ts" | bc -l)" "$(echo "$ts / $cv" | bc -l)"
printf 'multipart:          %s s (median %.2f s, %.0f MiB/s), ratio to cp %.2f, peak RSS max %s KiB\n' "${mp_t[*]}" "$mv" "$(echo "1024 / $mv" | bc -l)" "$(echo "$mv / $cv" | bc -l)" "$(printf '%s\n' "${mp_rss[@]}" | sort -n | tail -1)"
printf 'cp (+sync):         %s s (median %.2f s, %.0f MiB/s)\n' "${cp_t[*]}" "$cv" "$(echo "1024 / $cv" | bc -l)"
