#!/usr/bin/env bash
# fuse_bench: one dataset (a random file and a tree of 1-16 KiB files);
# copy in + fsync, cold sequential read, ls -lR, find, tar out - for vtfs
# (embedded store), the local disk, and restic and borg (backup, then read
# back through their FUSE mounts), all in one run, with ratios; and the
# copy-in into null_fuse, which stores nothing: the floor FUSE itself sets;
# and the disk's time to write the big file durably (dd, O_DIRECT): with
# null_fuse's tree, the floor for a FUSE filesystem that keeps its data.
# Everything is measured in rounds (3 by default), the systems taking turns
# within each, and reported as medians: on a shared machine one copy can
# take 30% longer than the next. The copy-in ratio is given per round too.
# A FUSE filesystem's copy-in is two timed steps, each ending in an fsync:
# the big file, where the hashing and the store do the work, and the
# tree, where the FUSE round trips of each small file do. borg creates
# one archive of both, as a user would; it also archives each alone, for
# the table by step.
#
#   bench/fuse_bench.sh [build-dir] [MiB] [files] [rounds]  (as root: drops caches)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
mib=${2:-1024}
nfiles=${3:-20000}
rounds=${4:-3}
need=()
command -v borg >/dev/null || need+=(borgbackup)
command -v restic >/dev/null || need+=(restic)
python3 -c 'import llfuse' 2>/dev/null || python3 -c 'import pyfuse3' 2>/dev/null || need+=(python3-llfuse)
command -v bc >/dev/null || need+=(bc)
if ((${#need[@]})); then apt-get install -y -qq "${need[@]}" >/dev/null; fi

work=$(mktemp -d /tmp/fuse-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt" "$work/data"
pid=""
cleanup() {
  fusermount3 -uz "$mnt" 2>/dev/null || true; fusermount3 -uz "$work/null" 2>/dev/null || true
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT

python3 "$top/bench/make_dataset.py" "$work/data" "$mib" "$nfiles"

secs() { local t0=$(date +%s.%N); "$@" > /dev/null 2>&1; echo "$(date +%s.%N) - $t0" | bc -l; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# Every copy starts from the same state: the dataset page-cached, as the
# read measures before it leave it out of the cache.
source_warm() { drop; cat "$work/data/big" > /dev/null; tar cf - -C "$work/data" tree | cat > /dev/null; }
mounted() { for _ in $(seq 200); do mountpoint -q "$mnt" && return 0; sleep 0.05; done; return 1; }
# The read-side measures on a mounted tree at $1.
reads() {
  drop
  r=$(secs cat "$1/big")
  l=$(secs ls -lR "$1/tree")
  drop
  f=$(secs find "$1/tree")
  t=$(secs sh -c "tar cf - -C '$1' tree | cat > /dev/null")
  echo "$r $l $f $t"
}
# Each measure's values, one per round, space-separated.
declare -A res
add() { res[$1]+="$2 "; }
add_reads() { local r l f t; read -r r l f t <<< "$2"; add "$1_read" "$r"; add "$1_ls" "$l"; add "$1_find" "$f"; add "$1_tar" "$t"; }
median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() { median "${res[$1]}"; }
# Copies the big file, then the tree, into $1, each step timed with its
# fsync; records $2_big, $2_tree and their sum, $2_copy.
copy_in() {
  local b t
  source_warm
  b=$(secs sh -c "cp -a '$work/data/big' '$1/' && sync '$1/big'")
  source_warm
  t=$(secs sh -c "cp -a '$work/data/tree' '$1/' && sync '$1/tree'")
  add "$2_big" "$b"; add "$2_tree" "$t"; add "$2_copy" "$(echo "$b + $t" | bc -l)"
}

round() {
  rm -rf "$work/localcopy" "$work/store" "$work/borg" "$work/borg-steps" "$work/restic"

  # Local disk.
  source_warm
  add local_copy "$(secs sh -c "cp -a '$work/data' '$work/localcopy' && sync -f '$work/localcopy'")"
  add_reads local "$(reads "$work/localcopy")"

  # The floor: a FUSE filesystem that stores nothing and answers at once.
  mkdir -p "$work/null"
  "$build/bench/null_fuse" -f "$work/null" &
  pid=$!
  for _ in $(seq 200); do mountpoint -q "$work/null" && break; sleep 0.05; done
  copy_in "$work/null" null
  fusermount3 -u "$work/null"; wait "$pid"; pid=""

  # The disk's own time to take the big file durably (direct writes, then
  # fdatasync), with no FUSE and no hashing: a floor under any store's
  # big-file step here.
  source_warm
  add disk_big "$(secs dd if="$work/data/big" of="$work/disk-big" bs=16M oflag=direct conv=fdatasync)"
  rm -f "$work/disk-big"

  # vtfs on its embedded store.
  "$build/fuse/vtfs" -f --store "$work/store" --listen none new "$mnt" > "$work/scores" &
  pid=$!
  mounted
  copy_in "$mnt" vtfs
  fusermount3 -u "$mnt"; wait "$pid"
  score=$(tail -1 "$work/scores")
  "$build/fuse/vtfs" -f -r --store "$work/store" --listen none "$score" "$mnt" > /dev/null &
  pid=$!
  mounted
  add_reads vtfs "$(reads "$mnt")"
  fusermount3 -u "$mnt"; wait "$pid"; pid=""

  # borg: create, then read through borg mount.
  export BORG_REPO="$work/borg" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
  borg init --encryption none > /dev/null 2>&1
  source_warm
  add borg_copy "$(secs sh -c "cd '$work/data' && borg create -C none ::a big tree")"
  borg mount ::a "$mnt"
  mounted
  add_reads borg "$(reads "$mnt")"
  fusermount3 -u "$mnt"
  # The two steps, for the table by step only, into a repository of their
  # own: borg would skip files already in the first one. Each create pays
  # borg's start and commit, which the one create above pays once.
  export BORG_REPO="$work/borg-steps"
  borg init --encryption none > /dev/null 2>&1
  source_warm
  add borg_big "$(secs sh -c "cd '$work/data' && borg create -C none ::big big")"
  source_warm
  add borg_tree "$(secs sh -c "cd '$work/data' && borg create -C none ::tree tree")"

  # restic: backup, then read through restic mount.
  export RESTIC_REPOSITORY="$work/restic" RESTIC_PASSWORD=bench
  restic init > /dev/null 2>&1
  source_warm
  add restic_copy "$(secs sh -c "cd '$work/data' && restic backup -q big tree")"
  restic mount "$mnt" > /dev/null 2>&1 &
  pid=$!
  mounted
  snap=$(ls "$mnt/snapshots" | grep -v latest | head -1)
  add_reads restic "$(reads "$mnt/snapshots/$snap")"
  fusermount3 -u "$mnt"; wait "$pid" || true; pid=""
}
for _ in $(seq "$rounds"); do round; done

ratio() { echo "$1 / $2" | bc -l; }
ratio_of() { ratio "$(med "$1")" "$(med "$2")"; }
# The copy-in ratio of each round, borg's time over vtfs's (or null_fuse's).
per_round() {
  local -a b=(${res[borg_copy]}) x=(${res[$1_copy]}); local out="" i
  for i in "${!b[@]}"; do out+="$(printf '%.2f ' "$(ratio "${b[$i]}" "${x[$i]}")")"; done
  echo "$out"
}

printf '%s MiB file + %s-file tree, medians of %s rounds (seconds; MB/s for the cold read; every copy from a page-cached source)\n' "$mib" "$nfiles" "$rounds"
printf '%-10s %12s %12s %10s %10s %10s\n' "" "copy+fsync" "cold read" "ls -lR" "find" "tar out"
for k in local vtfs borg restic; do
  printf '%-10s %12.2f %9.0f MB/s %8.2f %10.2f %10.2f\n' "$k" "$(med ${k}_copy)" "$(echo "$mib * 1.048576 / $(med ${k}_read)" | bc -l)" \
    "$(med ${k}_ls)" "$(med ${k}_find)" "$(med ${k}_tar)"
done
printf '\ncopy-in by step (seconds, each with its fsync; borg: an archive each):\n%-10s %12s %12s %12s\n' "" "big file" "tree" "both"
for k in null vtfs borg; do
  printf '%-10s %12.2f %12.2f %12.2f\n' "$k" "$(med ${k}_big)" "$(med ${k}_tree)" "$(echo "$(med ${k}_big) + $(med ${k}_tree)" | bc -l)"
done
printf 'vtfs vs borg create: big file %.2fx, tree %.2fx; null_fuse vs borg create: tree %.2fx\n' \
  "$(ratio_of borg_big vtfs_big)" "$(ratio_of borg_tree vtfs_tree)" "$(ratio_of borg_tree null_tree)"
nr=$(per_round null) vr=$(per_round vtfs)
printf 'null_fuse (stores nothing, answers at once): copy-in %.2f s, %.2fx borg create (rounds: %s): the most any FUSE filesystem gets here\n' \
  "$(med null_copy)" "$(median "$nr")" "${nr% }"
# Neither floor waits for the other here: a real filesystem pays both.
floor=$(echo "$(med null_tree) + $(med disk_big)" | bc -l)
printf "a FUSE filesystem keeping its data on this disk takes at least null_fuse's tree (%.2f s) + the disk's big file (%.2f s) = %.2f s: %.2fx borg create\n" \
  "$(med null_tree)" "$(med disk_big)" "$floor" "$(ratio "$(med borg_copy)" "$floor")"
printf 'vtfs vs borg mount: cold read %.2fx faster, ls -lR %.2fx faster; copy-in+fsync vs borg create: %.2fx (rounds: %s)\n' \
  "$(ratio "$(med borg_read)" "$(med vtfs_read)")" "$(ratio "$(med borg_ls)" "$(med vtfs_ls)")" "$(median "$vr")" "${vr% }"
