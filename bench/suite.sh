#!/usr/bin/env bash
# `./bazelw run //bench:suite`: runs bench/suite.py from the runfiles with
# Debian's python3 (where python3-matplotlib is installed), passing all
# arguments through.
set -euo pipefail
py=/usr/bin/python3
[[ -x "$py" ]] || py=python3
for d in "${RUNFILES_DIR:-}" "$0.runfiles" "$PWD/.."; do
  if [[ -n "$d" && -f "$d/ringlock/bench/suite.py" ]]; then
    exec "$py" "$d/ringlock/bench/suite.py" "$@"
  fi
done
echo "suite: bench/suite.py not found in the runfiles; run it as ./bazelw run //bench:suite" >&2
exit 1
