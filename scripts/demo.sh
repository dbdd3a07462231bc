#!/usr/bin/env bash
# Sets everything up and runs the main job. For now: start vtd on a durable
# store, store a block with `vt write`, sync, and read it back.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
bin=$top/build/tools
store=${VTFS_DEMO_STORE:-$top/build/demo-store}
addr=127.0.0.1:17034
"$bin/vtd" -a "$addr" "$store" &
vtd=$!
trap 'kill $vtd 2>/dev/null; wait $vtd 2>/dev/null' EXIT
for _ in $(seq 50); do "$bin/vt" -h "$addr" ping 2>/dev/null && break; sleep 0.1; done
score=$(echo "hello, venti" | "$bin/vt" -h "$addr" write)
"$bin/vt" -h "$addr" sync
echo "stored block $score in $store"
echo -n "read back: "
"$bin/vt" -h "$addr" read "$score"
