#!/usr/bin/env bash
# Runs one benchmark script of bench/ on an earlier commit and on the working tree, alternating
# rounds in the same run, and prints each round's result line: a before/after with the machine's
# noise spread over both.
#
#   bash bench/before-after.sh <commit> <rounds> <script> [script args]
#   e.g. bash bench/before-after.sh b992a6a 3 bench/images-first50.sh 5 8
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1 rounds=$2 script=$3; shift 3
before=$(mktemp -d /tmp/veil-before.XXXX)
trap 'git worktree remove --force "$before" >/dev/null 2>&1 || rm -rf "$before"' EXIT
git worktree add -q --detach "$before" "$rev"
for round in $(seq "$rounds"); do
  for side in before after; do
    dir=$PWD; [ "$side" = before ] && dir=$before
    line=$(cd "$dir" && bash "$script" "$@" 2>&1 | grep -E 'Requests/sec|ratio' | tr '\n' ' ')
    printf '%s round %d: %s\n' "$side" "$round" "$line"
  done
done
