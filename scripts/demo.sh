#!/usr/bin/env bash
# Sets everything up and runs the main job. For now: start a venti server
# on an in-memory store, store a block with `vt write` and read it back.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
bin=$top/build/tools
addr=127.0.0.1:17034
"$bin/vtd" -m -a "$addr" &
vtd=$!
trap 'kill $vtd 2>/dev/null; wait $vtd 2>/dev/null' EXIT
for _ in $(seq 50); do "$bin/vt" -h "$addr" ping 2>/dev/null && break; sleep 0.1; done
score=$(echo "hello, venti" | "$bin/vt" -h "$addr" write)
echo "stored block $score"
echo -n "read back: "
"$bin/vt" -h "$addr" read "$score"
