#!/usr/bin/env bash
# Starts a fresh `veil serve`, uploads corpus images to it with apollo-upload-client, checks
# subscriptions with the graphql-ws client, and the GraphiQL page offline in Chromium; then the
# media library page in Chromium against a second veil whose file permissions go to the mem
# driver, with faults injected from a file (VEIL_TEST_MEM_ACL_FAULTS). Screenshots of the library
# test go to test/browser/screenshots/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
pid=
libpid=
s3pid=
# On any failure, show what the server logged (its token line aside) before it is stopped and its
# data removed.
finish() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for log in "$work/out.log" "$work/lib.log" "$work/s3.log"; do
      [ -s "$log" ] && { echo "--- veil log $(basename "$log") (last 40 lines)"; grep -v '^    veil_' "$log" | tail -n 40; } >&2
    done
  fi
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "$libpid" ] || kill "$libpid" 2>/dev/null || true
  [ -z "$s3pid" ] || kill "$s3pid" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
npm ci --no-audit --no-fund --loglevel=error >/dev/null
(cd ../.. && go build -o "$work/veil" ./cmd/veil)
VEIL_DATA_DIR="$work/data" "$work/veil" serve --init --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "Veil is running at" "$work/out.log" && break; sleep 0.1; done
url=$(sed -n 's/^Veil is running at \(http:[^ ]*\).*/\1/p' "$work/out.log")
metrics=$(sed -n 's/^Metrics at \(http:[^ ]*\).*/\1/p' "$work/out.log")
tok=$(awk '/^    veil_/ {print $1}' "$work/out.log")
[ -n "$url" ] && [ -n "$tok" ] && [ -n "$metrics" ] || { echo "FAIL veil did not start within 10 s" >&2; exit 1; }
node audit.mjs "$url" "$tok"
node upload.mjs "$url" "$tok" ../../testdata/corpus/photos/LadyBird.jpg ../../testdata/corpus/orientation/upright.jpg
node subscriptions.mjs "$url" "$tok" ../../testdata/corpus/photos/Garden.jpg "$metrics"
node wsprotocol.mjs "$url" "$tok" ../../testdata/corpus/photos/Wood.jpg "$metrics"
node presign.mjs "$url" "$tok" ../../testdata/corpus/orientation/orientation-6.jpg
mkdir -p "$work/tus" && node tus.mjs "$work/veil" "$work/tus" 200
if [ -n "${VEIL_TEST_S3_ENDPOINT:-}" ] && [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
  # A new bucket (as veiltest.S3Bucket makes them), then a veil storing to it.
  bucket=veil-js-presign-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  # (radosgw checks the payload hash of a SigV4 request: the empty body's.)
  curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT \
    -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" "${VEIL_TEST_S3_ENDPOINT%/}/$bucket" >/dev/null
  endpoint=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$VEIL_TEST_S3_ENDPOINT")
  VEIL_DATA_DIR="$work/s3data" VEIL_STORAGE_URL="s3://$bucket?endpoint=$endpoint&use_path_style=true&region=us-east-1&disable_https=true" \
    "$work/veil" serve --init --listen 127.0.0.1:0 --metrics-listen "" >"$work/s3.log" 2>&1 &
  s3pid=$!
  for _ in $(seq 300); do grep -q "Veil is running at" "$work/s3.log" && break; sleep 0.1; done
  s3url=$(sed -n 's/^Veil is running at \(http:[^ ]*\).*/\1/p' "$work/s3.log")
  s3tok=$(awk '/^    veil_/ {print $1}' "$work/s3.log")
  [ -n "$s3url" ] && [ -n "$s3tok" ] || { echo "FAIL the S3 bucket's veil did not start within 30 s" >&2; exit 1; }
  node presign.mjs "$s3url" "$s3tok" ../../testdata/corpus/orientation/orientation-6.jpg
else
  echo "SKIP presign against S3: VEIL_TEST_S3_ENDPOINT is not set (.ci/run starts radosgw)"
fi
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  node graphiql.mjs "$url" "$tok" ../../testdata/corpus/photos/FreshFlower.jpg
  VEIL_DATA_DIR="$work/libdata" VEIL_STORAGE_ACL=mem VEIL_TEST_MEM_ACL_FAULTS="$work/faults" VEIL_PERMISSION_RETRY_INTERVAL=1h \
    "$work/veil" serve --init --listen 127.0.0.1:0 --metrics-listen "" >"$work/lib.log" 2>&1 &
  libpid=$!
  for _ in $(seq 100); do grep -q "Veil is running at" "$work/lib.log" && break; sleep 0.1; done
  liburl=$(sed -n 's/^Veil is running at \(http:[^ ]*\).*/\1/p' "$work/lib.log")
  libtok=$(awk '/^    veil_/ {print $1}' "$work/lib.log")
  [ -n "$liburl" ] && [ -n "$libtok" ] || { echo "FAIL the library's veil did not start within 10 s" >&2; exit 1; }
  node library.mjs "$liburl" "$libtok" "$work/faults" ../../testdata/corpus ../browser/screenshots
else
  echo "SKIP graphiql and library: no Chromium at ${CHROMIUM:-/usr/bin/chromium} (.ci/run installs Debian's chromium)"
fi
