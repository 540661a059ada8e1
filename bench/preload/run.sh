#!/usr/bin/env bash
# `./bazelw run //bench:preload -- [OPTIONS] -- PROGRAM ARGS...`: runs
# bench/preload/run.py from the runfiles with Debian's python3.
set -euo pipefail
py=/usr/bin/python3
[[ -x "$py" ]] || py=python3
for d in "${RUNFILES_DIR:-}" "$0.runfiles" "$PWD/.."; do
  if [[ -n "$d" && -f "$d/ringlock/bench/preload/run.py" ]]; then
    export RUNFILES_DIR="$d"
    exec "$py" "$d/ringlock/bench/preload/run.py" "$@"
  fi
done
echo "run: bench/preload/run.py not found in the runfiles; use ./bazelw run //bench:preload" >&2
exit 1
