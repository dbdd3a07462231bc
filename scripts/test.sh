#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test:
# the whole suite, then again under AddressSanitizer+UBSan, then the
# concurrency suites under ThreadSanitizer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
(cd "$top/build" && ctest --output-on-failure --no-tests=error --parallel 2 --timeout 900)
# Peak-RSS checks mean nothing with sanitizer shadow memory: those two are
# checked by the plain run above.
"$top/scripts/build.sh" "$top/build-asan" -DVT_SANITIZE=address
(cd "$top/build-asan" && ctest --output-on-failure --no-tests=error --parallel 2 --timeout 900 -E "BigFileThroughASmallCache|MemoryIsBounded")
"$top/scripts/build.sh" "$top/build-tsan" -DVT_SANITIZE=thread
(cd "$top/build-tsan" && TSAN_OPTIONS="halt_on_error=1 suppressions=$top/tests/tsan.supp" ctest --output-on-failure --no-tests=error --timeout 900 -L concurrency)
