#!/usr/bin/env bash
# Runs the filecopy demo (what `bazel run //:filecopy` does) and checks it.
set -euo pipefail
out="$(./filecopy)"
echo "$out"
grep -q ' 0 mismatches$' <<<"$out"
grep -q '^lock-or-read: read "ping" first, then got the lock$' <<<"$out"
