#!/usr/bin/env bash
# A 1 GiB document by multipart and by presigned upload on the file bucket, against `cp` of the
# same file on the same disk, in one run: the presigned path is timed as its PUT (the bytes
# reaching the staging key, as a browser's fetch would send them) and its completeUpload (the
# staged object read through the upload checks into its final key). The server's peak RSS
# (VmHWM) is read per path from a fresh process and data dir.
#
#   bash bench/presign-1gib.sh [runs] [file|s3]
#
# With s3 the bucket is a new one per path on the S3 server at VEIL_TEST_S3_ENDPOINT (radosgw from
# tools/s3-radosgw, started with MEMSTORE_BYTES of 4 GiB or more: an object and its staging copy;
# credentials AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), emptied with radosgw-admin after each
# path (RGW_BASE: the BASE radosgw was started with). The presigned PUT then goes to radosgw itself.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bucket_kind=${2:-file}
case "$bucket_kind" in
  file) ;;
  s3) : "${VEIL_TEST_S3_ENDPOINT:?set VEIL_TEST_S3_ENDPOINT}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${RGW_BASE:?set RGW_BASE to the BASE of tools/s3-radosgw}" ;;
  *) echo "usage: bench/presign-1gib.sh [runs] [file|s3]" >&2; exit 2 ;;
esac
work=${BENCH_DIR:-$(mktemp -d /work/veil-bench.XXXX)}
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# VEIL_BIN: a veil binary built elsewhere (e.g. of another commit, for a before/after figure).
if [ -n "${VEIL_BIN:-}" ]; then cp "$VEIL_BIN" "$work/veil"; else go build -o "$work/veil.built" ./cmd/veil && cp "$work/veil.built" "$work/veil"; fi # copied: see bench/rendition-vs-libvips.sh (RSS)
src="$work/big.pdf"
# A PDF header followed by incompressible bytes: sniffed as application/pdf.
{ printf '%%PDF-1.7\n'; head -c $((1024*1024*1024 - 9)) /dev/urandom; } > "$src"
size=$(stat -c %s "$src")
ops='{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize sha256 } }","variables":{"f":null}}'

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }

bucket=
start_veil() {
  rm -rf "$work/data"
  storage=()
  if [ "$bucket_kind" = s3 ]; then
    bucket=veil-bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT \
      -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" "${VEIL_TEST_S3_ENDPOINT%/}/$bucket" >/dev/null
    storage=(VEIL_STORAGE_URL="s3://$bucket?endpoint=$(jq -rn --arg e "$VEIL_TEST_S3_ENDPOINT" '$e|@uri')&use_path_style=true&region=us-east-1&disable_https=true")
  fi
  env "${storage[@]}" VEIL_DATA_DIR="$work/data" "$work/veil" serve --init --listen 127.0.0.1:18182 --metrics-listen= >"$work/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18182/healthz >/dev/null && break; sleep 0.1; done
  tok=$(awk "/^    veil_/ {print \$1}" "$work/out.log"); auth="Authorization: Bearer $tok"
}
stop_veil() {
  rss_now=$(awk '/VmHWM/ {print $2}' /proc/$pid/status); kill -TERM "$pid"; wait "$pid" || true; pid=; sync
  if [ "$bucket_kind" = s3 ]; then
    # Deleted objects' data stays until radosgw's garbage collection (2 h by default): run it now,
    # or the in-memory OSD fills up after a few gigabytes.
    radosgw-admin -c "$RGW_BASE/ceph.conf" bucket rm --bucket="$bucket" --purge-objects >/dev/null 2>&1
    radosgw-admin -c "$RGW_BASE/ceph.conf" gc process --include-all >/dev/null 2>&1
  fi
}

mp=(); mp_rss=(); put=(); done_=(); ps_total=(); ps_rss=(); cps=()
for i in $(seq "$runs"); do
  # multipart
  start_veil
  t0=$(now)
  resp=$(curl -sS -H "$auth" http://127.0.0.1:18182/graphql -F operations="$ops" -F map='{"0":["variables.f"]}' -F "0=@$src;type=application/pdf")
  t1=$(now)
  echo "$resp" | grep -q "\"fileSize\":$size" || { echo "multipart upload failed: $resp" >&2; exit 1; }
  mp+=("$(echo "$t1 - $t0" | bc -l)"); stop_veil; mp_rss+=("$rss_now")

  # presigned, file bucket
  start_veil
  create=$(jq -n --argjson s "$size" '{query: "mutation($in: CreateUploadInput!) { createUpload(input: $in) { id url } }", variables: {in: {kind: "DOCUMENT", filename: "big.pdf", size: $s, contentType: "application/pdf"}}}')
  t0=$(now)
  resp=$(curl -sS -H "$auth" -H 'Content-Type: application/json' http://127.0.0.1:18182/graphql -d "$create")
  id=$(echo "$resp" | jq -r .data.createUpload.id); url=$(echo "$resp" | jq -r .data.createUpload.url)
  case "$url" in /*) url="http://127.0.0.1:18182$url";; esac
  curl -sSf -T "$src" -H 'Content-Type: application/pdf' "$url" >/dev/null  # streams, as fetch does
  t1=$(now)
  complete=$(jq -n --arg id "$id" '{query: "mutation($id: ID!) { completeUpload(id: $id) { id fileSize } }", variables: {id: $id}}')
  resp=$(curl -sS -H "$auth" -H 'Content-Type: application/json' http://127.0.0.1:18182/graphql -d "$complete")
  t2=$(now)
  echo "$resp" | grep -q "\"fileSize\":$size" || { echo "presigned upload failed: $resp" >&2; exit 1; }
  put+=("$(echo "$t1 - $t0" | bc -l)"); done_+=("$(echo "$t2 - $t1" | bc -l)"); ps_total+=("$(echo "$t2 - $t0" | bc -l)")
  stop_veil; ps_rss+=("$rss_now")

  sync; t0=$(now); cp "$src" "$work/copy.pdf"; t1=$(now); sync
  cps+=("$(echo "$t1 - $t0" | bc -l)"); rm -f "$work/copy.pdf"
done
m() { printf '%s\n' "$@" | median; }
mx() { printf '%s\n' "$@" | sort -n | tail -1; }
c=$(m "${cps[@]}"); vm=$(m "${mp[@]}"); vp=$(m "${put[@]}"); vd=$(m "${done_[@]}"); vt=$(m "${ps_total[@]}")
printf 'runs: %s (1 GiB document, %s bucket)\n' "$runs" "$bucket_kind"
printf '%-34s %-28s median %6.2f s  %5.0f MiB/s  ratio to cp %.2f\n' \
  "cp" "${cps[*]}" "$c" "$(echo "1024 / $c" | bc -l)" 1 \
  "multipart uploadDocument" "${mp[*]}" "$vm" "$(echo "1024 / $vm" | bc -l)" "$(echo "$vm / $c" | bc -l)" \
  "presigned PUT (to staging)" "${put[*]}" "$vp" "$(echo "1024 / $vp" | bc -l)" "$(echo "$vp / $c" | bc -l)" \
  "presigned completeUpload" "${done_[*]}" "$vd" "$(echo "1024 / $vd" | bc -l)" "$(echo "$vd / $c" | bc -l)" \
  "presigned total (create+PUT+complete)" "${ps_total[*]}" "$vt" "$(echo "1024 / $vt" | bc -l)" "$(echo "$vt / $c" | bc -l)"
printf 'server peak RSS (VmHWM, max of runs): multipart %s KiB, presigned %s KiB\n' "$(mx "${mp_rss[@]}")" "$(mx "${ps_rss[@]}")"
