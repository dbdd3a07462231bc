#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test:
# the whole suite, then the concurrency suites again under ThreadSanitizer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
(cd "$top/build" && ctest --output-on-failure --no-tests=error --parallel 2 --timeout 900)
"$top/scripts/build.sh" "$top/build-tsan" -DVT_SANITIZE=thread
(cd "$top/build-tsan" && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --no-tests=error --timeout 900 -L concurrency)
