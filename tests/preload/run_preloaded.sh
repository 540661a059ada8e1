#!/usr/bin/env bash
# Runs a test program with libringlock_preload.so preloaded:
#   run_preloaded.sh LIBRARY PROGRAM [ARGS...]
# The programs themselves fail when the library is not loaded.
set -euo pipefail
lib="$(readlink -f "$1")"; shift
prog="$1"; shift
# GCC's sanitizers load their runtime as a shared library, which must come
# first in the list; a preloaded library would be ahead of it.
if [[ "$(ldd "$prog")" =~ lib[at]san\.so ]]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
fi
LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" exec "$prog" "$@"
