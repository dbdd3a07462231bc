#!/usr/bin/env bash
# archive_bench: vt vac / vt unvac of a 1 GiB random file and of a
# 20,000-file tree (1-16 KiB files) against vtd over loopback TCP (vac also
# over a Unix-domain socket, to a second vtd), beside tar to
# a pipe, borg create / extract (Debian's borgbackup, --encryption none
# -C none) and the SHA-1 ceiling, all in one run. Prints MB/s, files/s and
# ratios.
#
#   bench/archive_bench.sh [build-dir] [MiB] [files]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
mib=${2:-1024}
nfiles=${3:-20000}
if ! command -v borg >/dev/null || ! command -v bc >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq borgbackup bc >/dev/null
fi
work=$(mktemp -d /tmp/archive-bench.XXXXXX)
vtd= vtd_unix=
trap 'kill $vtd $vtd_unix 2>/dev/null; wait $vtd $vtd_unix 2>/dev/null; rm -rf "$work"' EXIT

# Data: page-cached source.
python3 "$top/bench/make_dataset.py" "$work" "$mib" "$nfiles"
tree_bytes=$(du -sb "$work/tree" | cut -f1)
cat "$work/big" > /dev/null; tar cf - -C "$work" tree > /dev/null

secs() { local t0=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $t0" | bc -l; }
# Every vac/create starts from a page-cached source. Every unvac/extract
# starts with its repository out of the page cache (vtd writes its log
# around the cache, borg through it, so leaving that as it falls would
# compare a disk with memory); without root, both are read in instead.
if [ "$(id -u)" = 0 ]; then repo_state=cold; else repo_state=warm; fi
source_warm() { cat "$work/big" > /dev/null; tar cf - -C "$work" tree > /dev/null; }
repo_ready() {
  if [ "$repo_state" = cold ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else tar cf - -C "$1" . > /dev/null; fi
}
rate() { echo "$1 / $2 / 1000000" | bc -l; }

sha1=$(rate $((mib << 20)) "$(secs openssl sha1 "$work/big")")

"$build/tools/vtd" -a 127.0.0.1:0 "$work/store" > "$work/addr" 2>/dev/null &
vtd=$!
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.05; done
export venti=$(head -1 "$work/addr")
vt="$build/tools/vt"

source_warm; t_vac_big=$(secs "$vt" vac -q "$work/big")
big_score=$("$vt" vac -q "$work/big")
repo_ready "$work/store"; mkdir "$work/out1"; t_unvac_big=$(secs "$vt" unvac "$big_score" "$work/out1")
source_warm; t_vac_tree=$(secs "$vt" vac -q "$work/tree")
tree_score=$("$vt" vac -q "$work/tree")
repo_ready "$work/store"; mkdir "$work/out2"; t_unvac_tree=$(secs "$vt" unvac "$tree_score" "$work/out2")
rm -rf "$work/out1" "$work/out2"

# The same vac to a vtd on a Unix-domain socket (its own store: a store
# has one server).
"$build/tools/vtd" -a "unix!$work/vtd.sock" "$work/store-unix" > "$work/addr-unix" 2>/dev/null &
vtd_unix=$!
for _ in $(seq 100); do [ -s "$work/addr-unix" ] && break; sleep 0.05; done
source_warm; t_vac_big_unix=$(venti="unix!$work/vtd.sock" secs "$vt" vac -q "$work/big")
source_warm; t_vac_tree_unix=$(venti="unix!$work/vtd.sock" secs "$vt" vac -q "$work/tree")
kill $vtd_unix; wait $vtd_unix 2>/dev/null || true; vtd_unix=

source_warm; t_tar_big=$(secs sh -c "tar cf - -C '$work' big | cat > /dev/null")
t_tar_tree=$(secs sh -c "tar cf - -C '$work' tree | cat > /dev/null")

export BORG_REPO="$work/borg" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
borg init --encryption none > /dev/null 2>&1
source_warm; t_borg_big=$(secs borg create -C none ::big "$work/big")
source_warm; t_borg_tree=$(secs borg create -C none ::tree "$work/tree")
mkdir "$work/out3" && cd "$work/out3"
repo_ready "$work/borg"; t_borg_x_big=$(secs borg extract ::big)
repo_ready "$work/borg"; t_borg_x_tree=$(secs borg extract ::tree)
cd /

printf '%s MiB file, %s-file tree (%s MB), vtd over loopback, one run; sources page-cached, repositories %s for unvac/extract\n' \
  "$mib" "$nfiles" $((tree_bytes / 1000000)) "$repo_state"
printf '%-26s %10s %10s %12s\n' "" "file MB/s" "files/s" "file/SHA-1"
row() { printf '%-26s %10.0f %10.0f %12.2f\n' "$1" "$(rate $((mib << 20)) "$2")" "$(echo "$nfiles / $3" | bc -l)" "$(echo "$(rate $((mib << 20)) "$2") / $sha1" | bc -l)"; }
printf '%-26s %10.0f %10s %12s\n' "SHA-1 (openssl, 1 core)" "$sha1" "" "1.00"
row "vt vac" "$t_vac_big" "$t_vac_tree"
row "vt vac, Unix socket" "$t_vac_big_unix" "$t_vac_tree_unix"
row "vt unvac" "$t_unvac_big" "$t_unvac_tree"
row "tar to a pipe" "$t_tar_big" "$t_tar_tree"
row "borg create -C none" "$t_borg_big" "$t_borg_tree"
row "borg extract" "$t_borg_x_big" "$t_borg_x_tree"
printf 'vt vac / borg create: file %.2fx, tree %.2fx (Unix socket: %.2fx, %.2fx);  vt unvac / borg extract: file %.2fx, tree %.2fx\n' \
  "$(echo "$t_borg_big / $t_vac_big" | bc -l)" "$(echo "$t_borg_tree / $t_vac_tree" | bc -l)" \
  "$(echo "$t_borg_big / $t_vac_big_unix" | bc -l)" "$(echo "$t_borg_tree / $t_vac_tree_unix" | bc -l)" \
  "$(echo "$t_borg_x_big / $t_unvac_big" | bc -l)" "$(echo "$t_borg_x_tree / $t_unvac_tree" | bc -l)"
