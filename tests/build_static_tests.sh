#!/usr/bin/env bash
# Builds a set of ringlock's test binaries statically linked (for a bare
# kernel under qemu: kernel_patches/test-in-qemu.sh) and prints their paths,
# one per line, on stdout.
#
#   tests/build_static_tests.sh [bazel target ...]
#
# Debian's abseil ships one static archive per component; linking them as
# one group at the end resolves their mutual dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(
    //tests:mutex_test //tests:semaphore_test //tests:event_test //tests:wait_any_test
    //tests:async_test //tests:ring_blocking_test //tests:wake_batch_test
    //tests/uring:futex_sqe_test //tests/uring:event_loop_test
  )
fi

flags=(--config=opt --dynamic_mode=off --linkopt=-static --linkopt=-pthread --linkopt=-Wl,--start-group)
for a in /usr/lib/x86_64-linux-gnu/libabsl_*.a; do flags+=("--linkopt=$a"); done
flags+=(--linkopt=-Wl,--end-group)

./bazelw build "${flags[@]}" "${targets[@]}" >&2
bin="$(./bazelw info "${flags[@]}" bazel-bin 2>/dev/null)"
for t in "${targets[@]}"; do
  path="${t#//}"; path="${path/://}"
  echo "$bin/$path"
done
