#!/usr/bin/env bash
# Multipart document upload through several veil binaries and `cp` of the same file, alternated
# round by round in one run (the machine's noise spread over all), with medians, the ratio of each
# binary's median to cp's, the server's peak RSS (VmHWM) and its CPU time for the upload (ticks of
# 10 ms). Each upload uses a fresh process and data dir. Each round also sends the file with the
# same client to bench/upload-sink, the floors: discarded (client and loopback), written to
# a file on the same disk, written and hashed with SHA-256 (no multipart parsing, no database).
#
#   bash bench/upload-alternate.sh <MiB> <rounds> <veil binary>...
#   e.g. git worktree add /tmp/before <commit> && (cd /tmp/before && go build -o /tmp/veil-before ./cmd/veil)
#        go build -o /tmp/veil-after ./cmd/veil
#        bash bench/upload-alternate.sh 400 9 /tmp/veil-before /tmp/veil-after
#   UPLOAD_CLIENT=send bash bench/upload-alternate.sh 1024 3 /tmp/veil   # bench/upload-send, sendfile
set -euo pipefail
mb=$1 runs=$2; shift 2; bins=("$@")
work=${BENCH_DIR:-$(mktemp -d /work/veil-bench.XXXX)}
pid= sink=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/sink" ./bench/upload-sink
go build -o "$work/send" ./bench/upload-send
# post URL [token]: the upload, by curl (default) or, with UPLOAD_CLIENT=send, by bench/upload-send
# (the file's bytes by sendfile: the client's own copy out of the measure).
post() {
  if [ "${UPLOAD_CLIENT:-curl}" = send ]; then
    "$work/send" -url "$1" -token "${2:-}" -operations "$ops" -file "$src" -type application/pdf
  else
    curl -sS ${2:+-H "Authorization: Bearer $2"} "$1" -F operations="$ops" -F map='{"0":["variables.f"]}' -F "0=@$src;type=application/pdf"
  fi
}
"$work/sink" -listen 127.0.0.1:18192 -dir "$work" & sink=$!
floors=(discard file file-sha256)
src=$work/big.pdf
# A PDF header followed by incompressible bytes: sniffed as application/pdf.
{ printf '%%PDF-1.7\n'; head -c $((mb*1024*1024 - 9)) /dev/urandom; } > "$src"
size=$(stat -c %s "$src")
ops='{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize sha256 } }","variables":{"f":null}}'
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A T R C
for i in $(seq "$runs"); do
  for b in "${bins[@]}"; do
    rm -rf "$work/data"
    VEIL_DATA_DIR="$work/data" "$b" serve --init --listen 127.0.0.1:18191 --metrics-listen= >"$work/out.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:18191/healthz >/dev/null && break; sleep 0.1; done
    tok=$(awk '/^    veil_/ {print $1}' "$work/out.log")
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    s=$(date +%s.%N)
    resp=$(post http://127.0.0.1:18191/graphql "$tok")
    e=$(date +%s.%N)
    echo "$resp" | grep -q "\"fileSize\":$size" || { echo "upload failed: $resp" >&2; exit 1; }
    T[$b]+="$(echo "$e - $s" | bc -l) "
    C[$b]+="$(( $(awk '{print $14+$15}' /proc/$pid/stat) - c0 )) "
    R[$b]+="$(awk '/VmHWM/ {print $2}' /proc/$pid/status) "
    kill -TERM "$pid"; wait "$pid" || true; pid=
    sync
  done
  for f in "${floors[@]}"; do
    s=$(date +%s.%N)
    post "http://127.0.0.1:18192/$f" | grep -q '"bytes":' \
      || { echo "floor $f failed" >&2; exit 1; }
    e=$(date +%s.%N); T[sink-$f]+="$(echo "$e - $s" | bc -l) "
    sync
  done
  s=$(date +%s.%N); cp "$src" "$work/copy.pdf"; e=$(date +%s.%N); sync; rm -f "$work/copy.pdf"
  T[cp]+="$(echo "$e - $s" | bc -l) "
done
c=$(printf '%s\n' ${T[cp]} | median)
echo "cp seconds: ${T[cp]}(median $c)"
for f in "${floors[@]}"; do
  k=$(printf '%s\n' ${T[sink-$f]} | median)
  printf 'floor %s seconds: %s(median %s) ratio/cp %.2f\n' "$f" "${T[sink-$f]}" "$k" "$(echo "$k / $c" | bc -l)"
done
for b in "${bins[@]}"; do
  m=$(printf '%s\n' ${T[$b]} | median); cm=$(printf '%s\n' ${C[$b]} | median)
  r=$(printf '%s\n' ${R[$b]} | sort -n | tail -1)
  printf '%s seconds: %s(median %s) ratio/cp %.2f, peak RSS %.1f MiB, CPU ticks %s(median %s)\n' \
    "$b" "${T[$b]}" "$m" "$(echo "$m / $c" | bc -l)" "$(echo "$r / 1024" | bc -l)" "${C[$b]}" "$cm"
done
