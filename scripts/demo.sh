#!/usr/bin/env bash
# Sets everything up and runs the main job: mount a new archive on the
# embedded store, copy files in, snapshot with fsync, unmount, and mount the
# printed score again read-only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
bin=$top/build
store=${VTFS_DEMO_STORE:-$top/build/demo-store}
mnt=$top/build/demo-mnt
mkdir -p "$mnt"
fusermount3 -uz "$mnt" 2>/dev/null || true

wait_mounted() { for _ in $(seq 100); do mountpoint -q "$mnt" && return 0; sleep 0.05; done; echo "mount failed" >&2; exit 1; }

echo "== vtfs new $mnt (embedded store in $store)"
"$bin/fuse/vtfs" -f --store "$store" new "$mnt" > "$top/build/demo-scores" &
vtfs=$!
wait_mounted
cp "$top/README.md" "$mnt/"
mkdir "$mnt/man" && cp "$top"/man/* "$mnt/man/"
echo "hello, venti" > "$mnt/hello.txt"
sync "$mnt/hello.txt"   # fsync: a snapshot
echo "snapshot: $(tail -n 1 "$top/build/demo-scores")"
ls -l "$mnt"
fusermount3 -u "$mnt"
wait $vtfs
score=$(tail -n 1 "$top/build/demo-scores")
echo "== unmounted; the archive is $score"

echo "== vtfs -r $score $mnt"
"$bin/fuse/vtfs" -f -r --store "$store" "$score" "$mnt" > /dev/null &
vtfs=$!
wait_mounted
ls -lR "$mnt" | head -20
cat "$mnt/hello.txt"
fusermount3 -u "$mnt"
wait $vtfs
